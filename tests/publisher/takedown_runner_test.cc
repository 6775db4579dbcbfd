// The takedown job (publisher/internal/takedown_runner.h) against an
// in-memory origin that keeps the takedown contract: the plan logged before
// the PUT is what lets a publisher that lost the PUT's answer (and stopped
// before logging its record) finish after a restart without a second PUT,
// and record the digest the object had before.
#include <chrono>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "absl/synchronization/mutex.h"
#include "base/crypto.h"
#include "gtest/gtest.h"
#include "publisher/publisher.h"
#include "roomcast/v1/live.pb.h"
#include "roomcast/v1/segment.pb.h"
#include "roomcast/v1/state.pb.h"
#include "segmenter/naming.h"
#include "tests/publisher/publisher_harness.h"
#include "tests/publisher/temp_dir.h"

namespace roomcast::publisher::testing {
namespace {

using namespace std::chrono_literals;

// Stores objects; a takedown PUT replaces one whose digest is the Old
// header's. With `down_after_takedown`, it stores the first takedown PUT
// and then answers nothing (the answer lost, the origin gone) until Up().
class TakedownOrigin : public Uploader {
 public:
  absl::Status Put(absl::string_view path, absl::string_view body, absl::string_view) override {
    absl::MutexLock l(&mu_);
    if (down_) return absl::UnavailableError("down");
    auto [it, fresh] = objects_.try_emplace(std::string(path), body);
    const bool is_mutable = absl::EndsWith(path, "/manifest.pb") || absl::EndsWith(path, "/watermark");
    if (!fresh && it->second != body && !is_mutable) return absl::AlreadyExistsError("409");
    it->second = std::string(body);
    return absl::OkStatus();
  }
  absl::StatusOr<OriginReply> Get(absl::string_view path) override {
    absl::MutexLock l(&mu_);
    if (down_) return absl::UnavailableError("down");
    auto it = objects_.find(std::string(path));
    if (it == objects_.end()) return OriginReply{.status = 404};
    return OriginReply{.status = 200, .body = it->second};
  }
  absl::StatusOr<OriginReply> PutWithHeaders(absl::string_view path, absl::string_view body,
                                             absl::string_view,
                                             const std::vector<std::string>& headers) override {
    absl::MutexLock l(&mu_);
    if (down_) return absl::UnavailableError("down");
    ++takedown_puts_;
    std::string old;
    std::string at;
    for (absl::string_view h : headers) {
      if (absl::ConsumePrefix(&h, "Roomcast-Takedown-Old: ")) old = std::string(h);
      if (absl::ConsumePrefix(&h, "Roomcast-Takedown-At: ")) at = std::string(h);
    }
    // As the origin's admission: malformed headers are 400 before any lookup.
    if (at.empty() || at == "0") return OriginReply{.status = 400, .body = "bad_takedown"};
    if (refuse_ > 0) {
      --refuse_;
      return OriginReply{.status = 403, .body = "forbidden"};
    }
    auto it = objects_.find(std::string(path));
    if (it == objects_.end()) return OriginReply{.status = 404};
    if (it->second == body) return OriginReply{.status = 200};
    if (base::Sha256Hex(it->second) != old) return OriginReply{.status = 409};
    it->second = std::string(body);
    if (down_after_takedown_) {
      down_ = true;
      return absl::UnavailableError("the answer was lost");
    }
    return OriginReply{.status = 201};
  }
  // The live side, minimal: every append is taken whole (the records kept,
  // as the origin would stream them).
  absl::StatusOr<OriginReply> Post(absl::string_view path, absl::string_view body,
                                   absl::string_view) override {
    absl::MutexLock l(&mu_);
    v1::LiveBatch batch;
    if (path != "/v1/live" || !batch.ParseFromArray(body.data(), static_cast<int>(body.size()))) {
      return OriginReply{.status = 400};
    }
    v1::LiveReply reply;
    for (const v1::LiveAppend& a : batch.appends()) {
      streamed_.insert(streamed_.end(), a.records().begin(), a.records().end());
      reply.add_acks()->set_have(a.first() + static_cast<uint32_t>(a.records_size()));
    }
    return OriginReply{.status = 200, .body = reply.SerializeAsString()};
  }
  // Every record pushed, in order.
  std::vector<std::string> streamed() {
    absl::MutexLock l(&mu_);
    return streamed_;
  }
  void DownAfterTakedown() {
    absl::MutexLock l(&mu_);
    down_after_takedown_ = true;
  }
  // The object is gone (swept by retention, or never stored).
  void Erase(const std::string& path) {
    absl::MutexLock l(&mu_);
    objects_.erase(path);
  }
  // The next `n` takedown PUTs are refused 403 (a secret rotated).
  void Refuse(int n) {
    absl::MutexLock l(&mu_);
    refuse_ = n;
  }
  int refusing() {
    absl::MutexLock l(&mu_);
    return refuse_;
  }
  void Up() {
    absl::MutexLock l(&mu_);
    down_ = down_after_takedown_ = false;
  }
  bool down() {
    absl::MutexLock l(&mu_);
    return down_;
  }
  int takedown_puts() {
    absl::MutexLock l(&mu_);
    return takedown_puts_;
  }
  std::map<std::string, std::string> objects() {
    absl::MutexLock l(&mu_);
    return objects_;
  }

 private:
  absl::Mutex mu_;
  std::map<std::string, std::string> objects_ ABSL_GUARDED_BY(mu_);
  bool down_ ABSL_GUARDED_BY(mu_) = false;
  bool down_after_takedown_ ABSL_GUARDED_BY(mu_) = false;
  int takedown_puts_ ABSL_GUARDED_BY(mu_) = 0;
  int refuse_ ABSL_GUARDED_BY(mu_) = 0;
  std::vector<std::string> streamed_ ABSL_GUARDED_BY(mu_);
};

class TakedownRunnerTest : public ::testing::Test {
 protected:
  void Start(int64_t rollup_ms = 1000, bool live = false) {
    PublisherOptions o;
    o.id = "pub-1";
    o.data_dir = dir_.path();
    o.hint_master_secret = "master";
    o.sync = false;
    o.rollup_ms = rollup_ms;  // 1000 = D: no rollups, one object per bucket
    // Live pushing is off unless a test says: a takedown that lands while a
    // push of its message is in flight must treat the message as pushed and
    // stub it rather than remove it. That is right, but which branch a test
    // took would then depend on the thread schedule (a rollup held 1
    // message, or 9, one run in five). The test that wants the pushed
    // branch syncs the push first.
    o.live = live;
    auto p = Publisher::Open(o, &clock_, &origin_);
    ASSERT_TRUE(p.ok()) << p.status();
    pub_ = *std::move(p);
  }
  absl::StatusOr<v1::TakedownReply> Takedown(uint64_t seq) {
    v1::TakedownRequest req;
    req.add_seqs(seq);
    req.set_reason("court order");
    Waiter<v1::TakedownReply> w;
    pub_->Takedown(Service(), "lobby", req, w.callback());
    return w.Wait();
  }
  void OpenLobby(uint32_t retention_s = 86400) {
    v1::OpenRoomRequest open;
    open.set_bucket_ms(1000);
    open.set_retention_s(retention_s);
    Waiter<v1::RoomConfig> opened;
    pub_->OpenRoom(Service(), "lobby", open, opened.callback());
    ASSERT_TRUE(opened.Wait().ok());
  }
  // Posts `in` in the current bucket (as the service: no rate limit) and
  // publishes it; the first seq, 0 if refused.
  uint64_t PostAndPublish(std::vector<v1::MessageInput> in) {
    Waiter<v1::PostMessagesResponse> posted;
    pub_->Post(Service(), "lobby", std::move(in), posted.callback());
    absl::StatusOr<v1::PostMessagesResponse> acks = posted.Wait();
    EXPECT_TRUE(acks.ok()) << acks.status();
    clock_.Set(clock_.NowMs() + 1000);
    EXPECT_TRUE(pub_->Tick().ok());
    return acks.ok() ? acks->results(0).seq() : 0;
  }
  // Bounded poll of `done`.
  template <typename F>
  static bool Eventually(F done) {
    const auto deadline = std::chrono::steady_clock::now() + 20s;
    while (!done()) {
      if (std::chrono::steady_clock::now() > deadline) return false;
      std::this_thread::sleep_for(5ms);
    }
    return true;
  }
  // The takedowns component's records at the origin (its latest version).
  google::protobuf::ListValue Records() { return Latest("takedowns", "records"); }
  // Field `field` of component `name`'s latest version at the origin.
  google::protobuf::ListValue Latest(const std::string& name, const std::string& field) {
    v1::StateComponent latest;
    for (const auto& [path, bytes] : origin_.objects()) {
      v1::StateComponent c;
      if (absl::StrContains(path, absl::StrCat("/state/", name, "/")) &&
          c.ParseFromString(bytes) && c.version() > latest.version()) {
        latest = c;
      }
    }
    auto& f = latest.value().struct_value().fields();
    auto it = f.find(field);
    return it == f.end() ? google::protobuf::ListValue() : it->second.list_value();
  }

  TempDir dir_;
  base::FakeClock clock_{kT0};
  TakedownOrigin origin_;
  std::unique_ptr<Publisher> pub_;
};

TEST_F(TakedownRunnerTest, ALostAnswerAndARestartFinishFromThePlan) {
  Start();
  OpenLobby();
  const uint64_t seq = PostAndPublish({Comment("unlawful"), Comment("fine")});
  ASSERT_GT(seq, 0u);
  const std::string path = segmenter::SegmentPath("lobby", 1000, kT0 / 1000);
  const std::string before = origin_.objects()[path];
  ASSERT_FALSE(before.empty());

  origin_.DownAfterTakedown();
  absl::StatusOr<v1::TakedownReply> r = Takedown(seq);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_FALSE(r->done());
  ASSERT_TRUE(Eventually([&] { return origin_.down(); }));  // PUT stored, answer lost
  pub_.reset();  // stopped before the record: only the plan is in the log
  const std::string after = origin_.objects()[path];
  v1::ActionSegment seg;
  ASSERT_TRUE(seg.ParseFromString(after));
  ASSERT_EQ(seg.messages_size(), 2);
  EXPECT_TRUE(seg.messages(0).has_redacted());

  origin_.Up();
  Start();
  ASSERT_TRUE(Eventually([&] {
    clock_.Set(clock_.NowMs() + 100);
    (void)pub_->Tick();
    return Records().values_size() == 1;
  }));
  const google::protobuf::ListValue records = Records();
  const auto& rec = records.values(0).struct_value().fields();
  EXPECT_EQ(rec.at("path").string_value(), path);
  EXPECT_EQ(rec.at("old_digest").string_value(), base::Sha256Hex(before));
  EXPECT_EQ(rec.at("new_digest").string_value(), base::Sha256Hex(after));
  EXPECT_EQ(rec.at("reason").string_value(), "court order");
  EXPECT_EQ(origin_.takedown_puts(), 1);  // the plan said it was done
  // Finished: a repeat is done at once.
  ASSERT_TRUE(Eventually([&] {
    absl::StatusOr<v1::TakedownReply> again = Takedown(seq);
    return again.ok() && again->done();
  }));
}

TEST_F(TakedownRunnerTest, FindsASeqTheRoomForgotAtTheOriginByBinarySearch) {
  Start();
  OpenLobby();
  // 20 buckets of 60: seq 5 is neither among the room's 1024 recent
  // actions nor in the manifest's 16 recent segments.
  const int64_t first_k = clock_.NowMs() / 1000;
  for (int b = 0; b < 20; ++b) {
    std::vector<v1::MessageInput> in;
    for (int i = 0; i < 60; ++i) in.push_back(Comment(absl::StrCat("m", b * 60 + i)));
    ASSERT_GT(PostAndPublish(std::move(in)), 0u);
    clock_.Set(clock_.NowMs() + 3000);  // empty buckets between, as in life
  }
  ASSERT_TRUE(pub_->Tick().ok());
  ASSERT_TRUE(Takedown(5).ok());
  const std::string path = segmenter::SegmentPath("lobby", 1000, first_k);
  ASSERT_TRUE(Eventually([&] {
    v1::ActionSegment seg;
    return seg.ParseFromString(origin_.objects()[path]) && seg.messages_size() == 60 &&
           seg.messages(4).has_redacted();
  }));
  v1::ActionSegment seg;
  ASSERT_TRUE(seg.ParseFromString(origin_.objects()[path]));
  for (int i = 0; i < 60; ++i) EXPECT_EQ(seg.messages(i).has_redacted(), i == 4) << i;
  EXPECT_EQ(origin_.takedown_puts(), 1);
}

// A published seq's rollup, built after the takedown, is rendered with its
// stub; if 32 later takedowns pushed that request out of the room's
// memory, the rollup's PUT must still carry a time the origin accepts
// (it refuses At 0, and the room would stall on it).
TEST_F(TakedownRunnerTest, ARollupWhoseTakedownWasForgottenStillGoesUp) {
  Start(/*rollup_ms=*/10'000);
  OpenLobby();
  const uint64_t seq = PostAndPublish({Comment("unlawful")});
  ASSERT_GT(seq, 0u);
  ASSERT_TRUE(Takedown(seq).ok());
  // 32 later takedowns, of messages in a bucket still open.
  std::vector<v1::MessageInput> later;
  for (int i = 0; i < 32; ++i) later.push_back(Comment(absl::StrCat("later ", i)));
  Waiter<v1::PostMessagesResponse> posted;
  pub_->Post(Service(), "lobby", std::move(later), posted.callback());
  absl::StatusOr<v1::PostMessagesResponse> acks = posted.Wait();
  ASSERT_TRUE(acks.ok()) << acks.status();
  for (const auto& r : acks->results()) ASSERT_TRUE(Takedown(r.seq()).ok()) << r.seq();
  const std::string rollup = segmenter::SegmentPath("lobby", 10'000, kT0 / 10'000);
  ASSERT_TRUE(Eventually([&] {
    clock_.Set(clock_.NowMs() + 500);
    (void)pub_->Tick();
    v1::ActionSegment seg;
    return seg.ParseFromString(origin_.objects()[rollup]) && seg.messages_size() == 1 &&
           seg.messages(0).has_redacted();
  }));
}

// A takedown of a message already pushed into the open bucket: the stream
// carried it and cannot take it back, so the stored segment is what
// changes: it goes up rendered with the stub (the origin, whose stream had
// the text, then ends that bucket's open streams without their last chunk,
// so caches keep no partial object). Nothing pushed after the takedown
// carries the text.
TEST_F(TakedownRunnerTest, AMessageAlreadyPushedIsStubbedInTheStoredSegment) {
  Start(/*rollup_ms=*/1000, /*live=*/true);
  OpenLobby();
  Waiter<v1::PostMessagesResponse> posted;
  pub_->Post(Service(), "lobby", {Comment("unlawful")}, posted.callback());
  absl::StatusOr<v1::PostMessagesResponse> acks = posted.Wait();
  ASSERT_TRUE(acks.ok()) << acks.status();
  const uint64_t seq = acks->results(0).seq();
  pub_->SyncLive();
  auto has_text = [](const std::vector<std::string>& records) {
    for (const std::string& r : records) {
      if (absl::StrContains(r, "unlawful")) return true;
    }
    return false;
  };
  ASSERT_TRUE(has_text(origin_.streamed()));
  const size_t pushed_before = origin_.streamed().size();

  ASSERT_TRUE(Takedown(seq).ok());
  Waiter<v1::PostMessagesResponse> after;
  pub_->Post(Service(), "lobby", {Comment("after")}, after.callback());
  ASSERT_TRUE(after.Wait().ok());
  pub_->SyncLive();
  const std::string path = segmenter::SegmentPath("lobby", 1000, kT0 / 1000);
  ASSERT_TRUE(Eventually([&] {
    clock_.Set(clock_.NowMs() + 500);
    (void)pub_->Tick();
    v1::ActionSegment seg;
    return seg.ParseFromString(origin_.objects()[path]) && seg.messages_size() == 3;
  }));
  const std::string stored = origin_.objects()[path];
  EXPECT_FALSE(absl::StrContains(stored, "unlawful"));
  v1::ActionSegment seg;
  ASSERT_TRUE(seg.ParseFromString(stored));
  EXPECT_EQ(seg.messages(0).seq(), seq);
  EXPECT_TRUE(seg.messages(0).has_redacted());
  EXPECT_EQ(seg.messages(1).notice().state().name(), "redactions");  // the takedown's
  EXPECT_EQ(seg.messages(2).comment().text(), "after");
  const std::vector<std::string> pushed = origin_.streamed();
  EXPECT_GT(pushed.size(), pushed_before);  // "after" was pushed
  EXPECT_FALSE(has_text({pushed.begin() + static_cast<ptrdiff_t>(pushed_before), pushed.end()}));
}

// A refused takedown PUT (403 after a secret rotation) is not the end of
// the job: it waits, and once the origin takes the PUT the object is
// stubbed and recorded.
TEST_F(TakedownRunnerTest, ARefusedPutKeepsTheJobWaiting) {
  Start();
  OpenLobby();
  const uint64_t seq = PostAndPublish({Comment("unlawful")});
  ASSERT_GT(seq, 0u);
  const std::string path = segmenter::SegmentPath("lobby", 1000, kT0 / 1000);
  origin_.Refuse(2);
  ASSERT_TRUE(Takedown(seq).ok());
  ASSERT_TRUE(Eventually([&] { return origin_.refusing() == 0; }));
  ASSERT_TRUE(Eventually([&] {
    v1::ActionSegment seg;
    return seg.ParseFromString(origin_.objects()[path]) && seg.messages_size() == 1 &&
           seg.messages(0).has_redacted();
  }));
  ASSERT_TRUE(Eventually([&] {
    clock_.Set(clock_.NowMs() + 100);
    (void)pub_->Tick();
    return Records().values_size() == 1;
  }));
  EXPECT_EQ(Records().values(0).struct_value().fields().at("path").string_value(), path);
  EXPECT_EQ(origin_.takedown_puts(), 3);
}

// A job waiting on an object the origin does not hold (yet) does not hold
// back the room's later jobs; once that object's bucket is past the room's
// retention it cannot come back, and the job ends with nothing to do.
TEST_F(TakedownRunnerTest, AMissingObjectHoldsBackOnlyItsJobUntilItExpires) {
  Start();
  OpenLobby(/*retention_s=*/5);
  const uint64_t gone = PostAndPublish({Comment("unlawful, swept")});
  const uint64_t kept = PostAndPublish({Comment("unlawful, kept")});
  ASSERT_GT(gone, 0u);
  ASSERT_GT(kept, 0u);
  const std::string gone_path = segmenter::SegmentPath("lobby", 1000, kT0 / 1000);
  const std::string kept_path = segmenter::SegmentPath("lobby", 1000, kT0 / 1000 + 1);
  origin_.Erase(gone_path);
  ASSERT_TRUE(Takedown(gone).ok());
  ASSERT_TRUE(Takedown(kept).ok());
  ASSERT_TRUE(Eventually([&] {
    v1::ActionSegment seg;
    return seg.ParseFromString(origin_.objects()[kept_path]) && seg.messages_size() == 1 &&
           seg.messages(0).has_redacted();
  }));
  absl::StatusOr<v1::TakedownReply> waiting = Takedown(gone);
  ASSERT_TRUE(waiting.ok()) << waiting.status();
  EXPECT_FALSE(waiting->done());  // young: it may still be uploaded
  clock_.Set(kT0 + 10'000);  // both buckets past the 5 s retention
  ASSERT_TRUE(pub_->Tick().ok());
  ASSERT_TRUE(Eventually([&] {
    absl::StatusOr<v1::TakedownReply> again = Takedown(gone);
    return again.ok() && again->done();
  }));
  EXPECT_FALSE(origin_.objects().contains(gone_path));
}

// The search for a seq the room forgot covers only the buckets that can
// still exist: 600 s of buckets the origin does not hold (past the room's
// 120 s retention) before it must not use up the probes, or the seq is
// never found and the message stays published.
TEST_F(TakedownRunnerTest, TheSearchSkipsBucketsPastRetention) {
  Start();
  OpenLobby(/*retention_s=*/120);
  clock_.Set(kT0 + 600'000);
  ASSERT_TRUE(pub_->Tick().ok());
  const int64_t first_k = clock_.NowMs() / 1000;
  // 20 buckets of 60: the first seq is neither among the room's 1024
  // recent actions nor in the manifest's 16 recent segments.
  uint64_t first = 0;
  for (int b = 0; b < 20; ++b) {
    std::vector<v1::MessageInput> in;
    for (int i = 0; i < 60; ++i) in.push_back(Comment(absl::StrCat("m", b * 60 + i)));
    const uint64_t s = PostAndPublish(std::move(in));
    ASSERT_GT(s, 0u);
    if (b == 0) first = s;
    clock_.Set(clock_.NowMs() + 3000);
  }
  ASSERT_TRUE(pub_->Tick().ok());
  ASSERT_TRUE(Takedown(first).ok());
  const std::string path = segmenter::SegmentPath("lobby", 1000, first_k);
  ASSERT_TRUE(Eventually([&] {
    v1::ActionSegment seg;
    return seg.ParseFromString(origin_.objects()[path]) && seg.messages_size() == 60 &&
           seg.messages(0).has_redacted();
  }));
  ASSERT_TRUE(Eventually([&] {
    absl::StatusOr<v1::TakedownReply> again = Takedown(first);
    return again.ok() && again->done();
  }));
}

// A taken-down seq is added to `redactions`, so a viewer that already
// showed it (live, or from a cached segment) hides it; a restart replays
// the same component (the origin would refuse other bytes at its path).
TEST_F(TakedownRunnerTest, ATakedownIsRedacted) {
  Start();
  OpenLobby();
  const uint64_t seq = PostAndPublish({Comment("unlawful"), Comment("fine")});
  ASSERT_GT(seq, 0u);
  auto redacted = [&] {
    const google::protobuf::ListValue seqs = Latest("redactions", "seqs");
    return seqs.values_size() == 1 && seqs.values(0).number_value() == static_cast<double>(seq);
  };
  ASSERT_TRUE(Takedown(seq).ok());
  ASSERT_TRUE(Eventually([&] {
    clock_.Set(clock_.NowMs() + 100);
    (void)pub_->Tick();
    return redacted() && Records().values_size() == 1;
  }));
  const std::map<std::string, std::string> before = origin_.objects();
  pub_.reset();
  Start();
  const std::string next = segmenter::SegmentPath("lobby", 1000, clock_.NowMs() / 1000);
  const uint64_t after = PostAndPublish({Comment("after the restart")});
  ASSERT_GT(after, seq + 1);
  ASSERT_TRUE(Eventually([&] {
    clock_.Set(clock_.NowMs() + 100);
    (void)pub_->Tick();
    return origin_.objects().contains(next);
  }));
  EXPECT_TRUE(redacted());
  for (const auto& [path, bytes] : origin_.objects()) {
    auto it = before.find(path);
    if (it != before.end() && absl::StrContains(path, "/state/redactions/")) {
      EXPECT_EQ(it->second, bytes) << path;
    }
  }
}

}  // namespace
}  // namespace roomcast::publisher::testing
