// A publisher on a temp dir with a fake clock and a fake origin, plus
// blocking wrappers of its asynchronous calls.
#ifndef ROOMCAST_TESTS_PUBLISHER_PUBLISHER_HARNESS_H_
#define ROOMCAST_TESTS_PUBLISHER_PUBLISHER_HARNESS_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/notification.h"
#include "gtest/gtest.h"
#include "publisher/publisher.h"
#include "tests/publisher/fake_uploader.h"
#include "tests/publisher/temp_dir.h"

namespace roomcast::publisher::testing {

// Bucket-aligned: bucket k = kT0 / 1000 starts here.
inline constexpr int64_t kT0 = 1764290000000;

inline auth::Claims Service() {
  return {.sub = "svc", .role = v1::ROLE_SERVICE, .room = "*", .exp = 0};
}
inline auth::Claims Viewer(std::string sub = "viewer", std::string room = "lobby") {
  return {.sub = std::move(sub), .role = v1::ROLE_AUDIENCE,
          .room = std::move(room)};
}
inline auth::Claims Anchor(std::string sub = "anchor") {
  return {.sub = std::move(sub), .role = v1::ROLE_ANCHOR, .room = "lobby"};
}

inline v1::MessageInput Comment(std::string text, std::string id = "") {
  v1::MessageInput in;
  in.set_type("comment");
  in.set_text(std::move(text));
  in.set_client_msg_id(std::move(id));
  return in;
}

// The value of an unlabelled series in /metrics text; -1 if absent.
inline double MetricValue(const std::string& text, const std::string& name) {
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    std::pair<absl::string_view, absl::string_view> kv =
        absl::StrSplit(line, absl::MaxSplits(' ', 1));
    double v = 0;
    if (kv.first == name && absl::SimpleAtod(kv.second, &v)) return v;
  }
  return -1;
}

// Waits for one callback of a Publisher call.
template <typename T>
class Waiter {
 public:
  Publisher::Callback<T> callback() {
    return [this](absl::StatusOr<T> r) {
      result_ = std::move(r);
      done_.Notify();
    };
  }
  absl::StatusOr<T> Wait() {
    done_.WaitForNotification();
    return result_;
  }

 private:
  absl::Notification done_;
  absl::StatusOr<T> result_ = absl::UnknownError("no reply");
};

class Harness {
 public:
  explicit Harness(PublisherOptions options = {}) : options_(std::move(options)) {
    options_.id = "pub-1";
    options_.data_dir = dir_.path();
    options_.hint_master_secret = "master";
    options_.sync = false;  // the tests do not crash the machine
    Start();
  }

  void Start() {
    auto p = Publisher::Open(options_, &clock, &origin);
    ASSERT_TRUE(p.ok()) << p.status();
    pub = *std::move(p);
  }
  // Drops the publisher without flushing: everything not yet uploaded is
  // only in the log, as after a crash.
  void Restart() {
    pub.reset();
    Start();
  }

  absl::StatusOr<v1::RoomConfig> Open(const std::string& room,
                                      v1::OpenRoomRequest req = {},
                                      auth::Claims who = Service()) {
    Waiter<v1::RoomConfig> w;
    pub->OpenRoom(who, room, req, w.callback());
    return w.Wait();
  }
  absl::StatusOr<v1::RoomConfig> End(const std::string& room,
                                     auth::Claims who = Service()) {
    Waiter<v1::RoomConfig> w;
    pub->EndRoom(who, room, w.callback());
    return w.Wait();
  }
  absl::StatusOr<v1::PostMessagesResponse> Post(
      const std::string& room, std::vector<v1::MessageInput> in,
      auth::Claims who = Viewer()) {
    Waiter<v1::PostMessagesResponse> w;
    pub->Post(who, room, std::move(in), w.callback());
    return w.Wait();
  }
  absl::StatusOr<v1::PostResult> PostOne(const std::string& room,
                                         v1::MessageInput in,
                                         auth::Claims who = Viewer()) {
    absl::StatusOr<v1::PostMessagesResponse> r = Post(room, {std::move(in)}, who);
    if (!r.ok()) return r.status();
    return r->results(0);
  }
  absl::StatusOr<StateReply> Set(const std::string& room, const std::string& c,
                                 google::protobuf::Value v,
                                 auth::Claims who = Anchor()) {
    Waiter<StateReply> w;
    pub->SetState(who, room, c, std::move(v), w.callback());
    return w.Wait();
  }
  absl::StatusOr<v1::PostResult> Peer(const std::string& room,
                                      const std::string& user,
                                      v1::MessageInput in,
                                      auth::Claims who = Anchor()) {
    Waiter<v1::PostResult> w;
    pub->PostPeer(who, room, user, in, w.callback());
    return w.Wait();
  }
  double Metric(const std::string& name) {
    return MetricValue(pub->metrics().Render(), name);
  }
  // Moves the clock to `t` and runs one publication round.
  absl::Status TickAt(int64_t t) {
    clock.Set(t);
    return pub->Tick();
  }

  TempDir dir_;
  PublisherOptions options_;
  base::FakeClock clock{kT0};
  FakeUploader origin;
  std::unique_ptr<Publisher> pub;
};

}  // namespace roomcast::publisher::testing

#endif  // ROOMCAST_TESTS_PUBLISHER_PUBLISHER_HARNESS_H_
