#include "tools/demo_traffic.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <map>
#include <random>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "auth/jwt.h"
#include "base/log.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"
#include "http/curl.h"

namespace roomcast::tools {
namespace {

const std::vector<std::string>& Names() {
  static const std::vector<std::string> names = {
      "mia", "leo", "ana", "kai", "zoe", "ivan", "lena", "omar", "yuki", "noah",
      "sofia", "ravi", "ella", "tomas", "nina", "hugo", "aiko", "sam", "maya", "finn"};
  return names;
}

const std::vector<std::string>& Lines() {
  static const std::vector<std::string> lines = {
      "hello from Lisbon!", "this song 🔥🔥", "first time here", "gg", "lol",
      "can you play it again?", "love the lights", "what camera is this?",
      "hi everyone 👋", "that was amazing", "who else is watching at night?",
      "🎉🎉🎉", "nice", "best stream today", "greetings from São Paulo",
      "how long have you been playing?", "wow", "so relaxing", "encore!",
      "sending love ❤️"};
  return lines;
}

const std::vector<std::string>& Pins() {
  static const std::vector<std::string> pins = {
      "Welcome! Be kind, have fun.", "Giveaway at the top of the hour 🎁",
      "New song drops Friday", "Follow for the next stream"};
  return pins;
}

// A small blocking HTTP client on one keep-alive connection.
class Poster {
 public:
  // The HTTP status, or 0 if no answer came.
  int Send(const char* method, const std::string& url, const std::string& token,
           const std::string& body) {
    return SendForReply(method, url, token, body).status;
  }
  // The status (0 if no answer came) and the reply's body.
  http::ClientReply SendForReply(const char* method, const std::string& url,
                                 const std::string& token, const std::string& body) {
    absl::StatusOr<http::ClientReply> r =
        http::Transfer(easy_.get(),
                       {.method = method,
                        .url = url,
                        .headers = {"Authorization: Bearer " + token,
                                    "Content-Type: application/json"},
                        .body = body,
                        .timeout = std::chrono::milliseconds(5000)})
            .Perform();
    if (!r.ok()) return http::ClientReply{};
    return *std::move(r);
  }

 private:
  http::CurlEasy easy_ = http::NewCurlEasy();
};

std::string JsonString(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out + "\"";
}

// The seq of an ingest reply {"seq": 17, ...}; 0 if it has none.
uint64_t AckedSeq(const http::ClientReply& r) {
  google::protobuf::Struct reply;
  if (r.status != 200 || r.body.size() > 4096 ||
      !google::protobuf::util::JsonStringToMessage(r.body, &reply).ok()) {
    return 0;
  }
  auto it = reply.fields().find("seq");
  if (it == reply.fields().end() || it->second.number_value() < 1) return 0;
  return static_cast<uint64_t>(it->second.number_value());
}

// One run of the demo: the room, the crowd and what it sends, a tick
// (100 ms) at a time.
class Demo {
 public:
  Demo(const DemoOptions& o, std::atomic<uint64_t>* acked,
       DemoTraffic::ModerationCounts* moderation)
      : o_(o),
        room_url_(absl::StrCat(o.publisher_url, "/v1/rooms/", o.room)),
        acked_(acked),
        moderation_(moderation),
        rng_(std::random_device{}()),
        crowd_(o.viewers) {}

  // Opens the room (or finds it open after a restart: 409 is fine) and
  // sets its first state.
  void Open() {
    const std::string& service = Token("demo-service", v1::ROLE_SERVICE);
    poster_.Send("POST", room_url_, service,
                 absl::StrCat(R"({"bucket_ms": )", o_.bucket_ms,
                              o_.private_room ? R"(, "private": true)" : "", "}"));
    poster_.Send("PUT", room_url_ + "/state/title", Anchor(), JsonString(o_.title));
    poster_.Send("PUT", room_url_ + "/state/pinned", Anchor(), JsonString(Pins()[0]));
  }

  void Tick(int64_t n, const std::atomic<bool>& stop) {
    Comments(n, stop);
    if (Chance(0.3)) {  // likes arrive in batches from the client
      Post(RandomViewer(), absl::StrCat(R"({"type":"like","count":)", 1 + rng_() % 5, "}"));
    }
    if (Chance(0.03)) Gift();
    if (Chance(0.08)) Post(RandomViewer(), R"({"type":"enter"})");
    Presence(n, stop);
    if (o_.spam_every_ticks > 0 && n % o_.spam_every_ticks == 30) Spam();
    if (n % 50 == 25 && !gifted_.empty()) Leaderboard();  // every 5 s
    if (n % 600 == 599) {  // a new pinned comment every minute
      poster_.Send("PUT", room_url_ + "/state/pinned", Anchor(),
                   JsonString(Pins()[(n / 600 + 1) % Pins().size()]));
    }
  }

 private:
  const std::string& Token(const std::string& user, v1::Role role) {
    std::string& t = tokens_[user];
    if (t.empty()) {
      t = auth::MintJwt({.sub = user, .role = role, .room = o_.room,
                         .exp = absl::ToUnixSeconds(absl::Now()) + 7 * 86400},
                        o_.jwt_secret);
    }
    return t;
  }
  const std::string& Anchor() { return Token("anchor", v1::ROLE_ANCHOR); }
  const std::string& Moderator() { return Token("demo-moderator", v1::ROLE_MODERATOR); }
  bool Chance(double p) { return std::uniform_real_distribution<>(0, 1)(rng_) < p; }
  std::string Viewer(int i) const {
    return absl::StrCat(Names()[i % Names().size()], i / 20 + 1);
  }
  std::string RandomViewer() { return Viewer(static_cast<int>(rng_() % crowd_)); }
  // A message from `user`, as an audience member; its HTTP status.
  int Post(const std::string& user, const std::string& body) {
    return PostForReply(user, body).status;
  }
  http::ClientReply PostForReply(const std::string& user, const std::string& body) {
    return poster_.SendForReply("POST", room_url_ + "/messages",
                                Token(user, v1::ROLE_AUDIENCE), body);
  }

  // Bursty chat: the rate itself wanders between half and double.
  void Comments(int64_t n, const std::atomic<bool>& stop) {
    const double rate = o_.comments_per_s * (1.0 + 0.5 * std::sin(n / 150.0));
    std::poisson_distribution<int> comments(rate / 10);
    for (int i = comments(rng_); i > 0 && !stop; --i) {
      const std::string& line = Lines()[rng_() % Lines().size()];
      const uint64_t seq = AckedSeq(PostForReply(
          RandomViewer(), absl::StrCat(R"({"type":"comment","text":)", JsonString(line), "}")));
      if (seq == 0) continue;
      ++*acked_;
      if (o_.retract_every > 0 && ++comments_ % o_.retract_every == 0) Retract(seq, line);
    }
  }

  // The demo moderator takes back a comment, as if it were off-topic.
  void Retract(uint64_t seq, const std::string& line) {
    const int status = poster_.Send("DELETE", absl::StrCat(room_url_, "/messages/", seq),
                                    Moderator(), R"({"reason":"demo: off-topic"})");
    ROOMCAST_LOG(kInfo, "demo", "moderator_retracted")
        .Kv("room", o_.room).Kv("seq", seq).Kv("text", line).Kv("status", status);
    if (status == 200) ++moderation_->retracted;
  }

  // A burst from the spammer; the moderator bans it for 60 s, retracting
  // what it sent in the last 30 s. While banned its posts are refused.
  void Spam() {
    int acked = 0;
    for (int i = 0; i < 4; ++i) {
      const int status =
          Post(o_.spammer, R"({"type":"comment","text":"BUY FOLLOWERS cheap!!! 💰 spam.example"})");
      acked += status == 200;
      if (status == 403) {
        ROOMCAST_LOG(kInfo, "demo", "spammer_refused").Kv("room", o_.room).Kv("user", o_.spammer);
        return;  // still banned
      }
    }
    if (acked < 3) return;
    const int status = poster_.Send(
        "POST", room_url_ + "/bans", Moderator(),
        absl::StrCat(R"({"user":)", JsonString(o_.spammer),
                     R"(,"duration_s":60,"retract_recent_s":30,"reason":"demo: spam"})"));
    ROOMCAST_LOG(kInfo, "demo", "moderator_banned")
        .Kv("room", o_.room).Kv("user", o_.spammer).Kv("duration_s", 60)
        .Kv("retract_recent_s", 30).Kv("status", status);
    if (status == 200) ++moderation_->bans;
  }

  void Gift() {
    const std::string user = RandomViewer();
    const int count = 1 + static_cast<int>(rng_() % 10);
    if (Post(user, absl::StrCat(R"({"type":"gift","gift_id":"rose","count":)", count,
                                "}")) == 200) {
      gifted_[user] += count;
    }
  }

  // Each viewer beats about every 10 s; the crowd drifts.
  void Presence(int64_t n, const std::atomic<bool>& stop) {
    if (n % 50 == 0) {
      crowd_ = std::clamp(crowd_ + static_cast<int>(rng_() % 41) - 20, 20, 3 * o_.viewers);
    }
    for (int i = static_cast<int>(n % 100); i < crowd_ && !stop; i += 100) {
      poster_.Send("POST", room_url_ + "/presence", Token(Viewer(i), v1::ROLE_AUDIENCE), "");
    }
  }

  // The top five gifters.
  void Leaderboard() {
    std::vector<std::pair<int64_t, std::string>> top;
    for (const auto& [u, c] : gifted_) top.push_back({c, u});
    std::sort(top.rbegin(), top.rend());
    std::vector<std::string> rows;
    for (size_t i = 0; i < std::min<size_t>(5, top.size()); ++i) {
      rows.push_back(absl::StrCat(R"({"user":)", JsonString(top[i].second),
                                  R"(,"score":)", top[i].first, "}"));
    }
    poster_.Send("PUT", room_url_ + "/state/leaderboard",
                 Token("demo-service", v1::ROLE_SERVICE),
                 absl::StrCat("[", absl::StrJoin(rows, ","), "]"));
  }

  const DemoOptions& o_;
  const std::string room_url_;
  std::atomic<uint64_t>* acked_;
  DemoTraffic::ModerationCounts* moderation_;
  uint64_t comments_ = 0;  // acknowledged comments, for the moderator
  std::map<std::string, std::string> tokens_;
  Poster poster_;
  std::mt19937 rng_;
  std::map<std::string, int64_t> gifted_;
  int crowd_;
};

}  // namespace

void DemoTraffic::Start() {
  stop_ = false;
  thread_ = std::thread([this] { Run(); });
}

void DemoTraffic::Stop() {
  stop_ = true;
  if (thread_.joinable()) thread_.join();
}

void DemoTraffic::Run() {
  Demo demo(options_, &acked_, &moderation_);
  demo.Open();
  const auto tick = std::chrono::milliseconds(100);
  for (int64_t n = 0; !stop_; ++n) {
    const auto t0 = std::chrono::steady_clock::now();
    demo.Tick(n, stop_);
    std::this_thread::sleep_until(t0 + tick);
  }
}

}  // namespace roomcast::tools
