// Cluster mode end to end (DESIGN §13, issue 15's acceptance): a real 3-node
// JetStream cluster, two real roomcast-origin --nats and two real
// roomcast-publisher --nats processes on loopback, a sender posting to
// several rooms through both publishers while processes are killed with
// kill -9 (or paused with SIGSTOP). Whatever was acknowledged must be
// published exactly once, in order, with seqs contiguous; a re-publication
// by a new owner must be byte-identical (the origins refuse any other bytes
// for an immutable object with 409, which would stall the room: none may);
// and a paused old owner's log may hold nothing after the new owner's
// first write.
#include <signal.h>

#include <atomic>
#include <fstream>
#include <sstream>
#include <chrono>
#include <map>
#include <memory>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/mutex.h"
#include "cluster/jetstream.h"
#include "cluster/kv.h"
#include "cluster/shards.h"
#include "google/protobuf/util/json_util.h"
#include "gtest/gtest.h"
#include "roomcast/v1/manifest.pb.h"
#include "segmenter/bucketer.h"
#include "segmenter/naming.h"
#include "tests/origin/origin_fixture.h"
#include "tests/publisher/e2e_fixture.h"
#include "tests/support/http_client.h"
#include "tests/support/nats_cluster.h"
#include "tests/support/process.h"

namespace roomcast::testing {
namespace {

using namespace std::chrono_literals;

constexpr int kShards = 4;
constexpr int64_t kBucketMs = 250;
constexpr int kLeaseTtlMs = 2000;

bool Eventually(const std::function<bool()>& done, std::chrono::milliseconds bound) {
  const auto deadline = std::chrono::steady_clock::now() + bound;
  while (!done()) {
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(50ms);
  }
  return true;
}

// One roomcast process of the cluster, restartable (a new PID and port).
class Member {
 public:
  Member(std::vector<std::string> argv, std::string log) : argv_(std::move(argv)), log_(log) {}
  // Starts it; again after a Kill, on the port it had (the others know it
  // by its URL).
  bool Start() {
    if (!port_.empty()) {
      for (std::string& a : argv_) {
        if (a == "127.0.0.1:0") a = "127.0.0.1:" + port_;
      }
    }
    proc_ = std::make_unique<Process>(
        argv_,
        std::map<std::string, std::string>{{"ROOMCAST_WRITE_SECRET", kWriteSecret},
                                           {"ROOMCAST_JWT_SECRET", kJwtSecret}},
        log_);
    url_ = proc_->WaitForListening(40s);
    if (port_.empty() && !url_.empty()) port_ = url_.substr(url_.rfind(':') + 1);
    return !url_.empty();
  }
  void Kill() {
    if (proc_) proc_->Stop(SIGKILL);
    proc_.reset();
    url_.clear();
  }
  void Signal(int sig) { ::kill(proc_->pid(), sig); }
  bool up() const { return proc_ != nullptr; }
  std::string url() const { return url_; }

 private:
  std::vector<std::string> argv_;
  std::string log_;
  std::unique_ptr<Process> proc_;
  std::string url_;
  std::string port_;
};

struct Sent {
  uint64_t seq = 0;
  std::string text;
};

class ClusterFailoverTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(nats_.ready());
    const std::string urls = absl::StrJoin(nats_.urls(), ",");
    for (int i = 0; i < 2; ++i) {
      origins_.push_back(std::make_unique<Member>(
          std::vector<std::string>{BinaryPath("roomcast-origin"), "--listen", "127.0.0.1:0",
                                   "--nats", urls, "--origin-id", absl::StrCat("origin-", i)},
          absl::StrCat(dir_.path(), "/origin-", i, ".log")));
      ASSERT_TRUE(origins_.back()->Start()) << "origin " << i;
    }
    for (int i = 0; i < 2; ++i) {
      publishers_.push_back(std::make_unique<Member>(
          std::vector<std::string>{BinaryPath("roomcast-publisher"), "--listen", "127.0.0.1:0",
                                   "--nats", urls, "--id", absl::StrCat("pub-", i), "--origin",
                                   origins_[i]->url(), "--shards", absl::StrCat(kShards),
                                   "--lease-ttl-ms", absl::StrCat(kLeaseTtlMs)},
          absl::StrCat(dir_.path(), "/publisher-", i, ".log")));
      ASSERT_TRUE(publishers_.back()->Start()) << "publisher " << i;
    }
    auto js = cluster::WhileUnavailable([&] { return cluster::JetStream::Connect({.urls = nats_.urls()}); });
    ASSERT_TRUE(js.ok()) << js.status();
    js_ = *std::move(js);
    auto leases = cluster::WhileUnavailable(
        [&] { return cluster::Kv::Open(*js_, {.bucket = "rc_shards", .ttl = std::chrono::milliseconds(kLeaseTtlMs)}); });
    ASSERT_TRUE(leases.ok()) << leases.status();
    leases_ = *std::move(leases);
    // Rooms on every shard.
    for (int i = 0; rooms_.size() < 2 * kShards; ++i) {
      std::string room = absl::StrCat("room-", i);
      int n = 0;
      for (const std::string& r : rooms_) n += cluster::ShardOf(r, kShards) == cluster::ShardOf(room, kShards);
      if (n < 2) rooms_.push_back(room);
    }
    service_ = Token("backend", v1::ROLE_SERVICE, "*");
    for (const std::string& room : rooms_) {
      ASSERT_TRUE(Retry("/v1/rooms/" + room, R"({"bucket_ms": 250})", service_, 0))
          << "opening " << room;
      first_k_[room] = segmenter::BucketIndex(absl::ToUnixMillis(absl::Now()), kBucketMs);
    }
  }

  void TearDown() override {
    StopLoad();
    if (HasFailure()) {
      for (int sh = 0; sh < kShards; ++sh) {
        std::cerr << "shard " << sh << " lease: pub-" << OwnerOfShard(sh) << "\n";
      }
      if (const char* keep = std::getenv("ROOMCAST_KEEP_LOGS"); keep != nullptr) {
        testing::Run({"/bin/sh", "-c", std::string("cp ") + dir_.path() + "/*.log " + keep});
      }
      for (int i = 0; i < 2; ++i) {
        std::cerr << "--- publisher-" << i << " log tail:\n"
                  << Tail(absl::StrCat(dir_.path(), "/publisher-", i, ".log")) << "\n";
      }
    }
  }
  static std::string Tail(const std::string& path) {
    std::ifstream in(path);
    std::stringstream ss;
    ss << in.rdbuf();
    const std::string all = ss.str();
    return all.size() > 3000 ? all.substr(all.size() - 3000) : all;
  }

  // POSTs through the publishers in turn (whichever are up) until one
  // answers 200 or the bound passes; the body of the 200.
  std::optional<std::string> Retry(const std::string& path, const std::string& body,
                                   const std::string& token, int first,
                                   std::chrono::milliseconds bound = 60s) {
    const auto deadline = std::chrono::steady_clock::now() + bound;
    for (int i = first;; ++i) {
      std::string url;
      const int which = i % 2;
      {
        absl::MutexLock l(&members_mu_);
        Member& p = *publishers_[which];
        // One that did not answer (paused, dying) is left alone a while.
        if (p.up() && absl::Now() >= avoid_until_[which]) url = p.url();
      }
      if (!url.empty()) {
        HttpResponse r = Fetch("POST", url + path, body, JsonHeaders(token), 2s);
        if (r.status == 0) {
          absl::MutexLock l(&members_mu_);
          avoid_until_[which] = absl::Now() + absl::Seconds(3);
        }
        if (r.status == 200) return r.body;
        // 503 (failover, election) and a dead connection are retried with
        // the same client_msg_id; anything else is a failure.
        if (r.status != 503 && r.status != 0) {
          ADD_FAILURE() << path << ": " << r.status << " " << r.body;
          return std::nullopt;
        }
      }
      if (std::chrono::steady_clock::now() >= deadline) return std::nullopt;
      std::this_thread::sleep_for(50ms);
    }
  }

  // A sender posting comments to every room in turn, each with a
  // client_msg_id of its own, until StopLoad.
  void StartLoad() {
    load_ = std::thread([this] {
      for (int n = 0; !stop_; ++n) {
        const std::string& room = rooms_[n % rooms_.size()];
        const std::string text = absl::StrCat("m-", room, "-", n);
        const std::string token = Token(absl::StrCat("u", n % 7), v1::ROLE_ANCHOR, room);
        std::optional<std::string> body = Retry(
            "/v1/rooms/" + room + "/messages",
            absl::StrCat(R"({"type":"comment","text":")", text, R"(","client_msg_id":")", text,
                         R"("})"),
            token, n);
        if (!body) {
          ADD_FAILURE() << "no publisher took " << text;
          continue;
        }
        std::vector<Ack> acks = ParseAcks(*body);
        ASSERT_EQ(acks.size(), 1u) << *body;
        absl::MutexLock l(&sent_mu_);
        sent_[room].push_back({acks[0].seq, text});
        last_ack_ms_ = std::max(last_ack_ms_, acks[0].ts_ms);
      }
    });
  }
  void StopLoad() {
    stop_ = true;
    if (load_.joinable()) load_.join();
  }
  size_t SentCount() {
    absl::MutexLock l(&sent_mu_);
    size_t n = 0;
    for (const auto& [room, v] : sent_) n += v.size();
    return n;
  }
  // Waits until the sender got `more` further acks.
  bool AcksGrowBy(size_t more, std::chrono::milliseconds bound = 60s) {
    const size_t target = SentCount() + more;
    return Eventually([&] { return SentCount() >= target; }, bound);
  }

  // The holder of `room`'s shard lease, as its publisher index; -1 if none.
  // Read from the lease bucket's stream leader: a KV read may come from a
  // follower a moment (or more) behind.
  int OwnerOf(const std::string& room) { return OwnerOfShard(cluster::ShardOf(room, kShards)); }
  int OwnerOfShard(int shard) {
    auto m = js_->GetLast("KV_rc_shards", absl::StrCat("$KV.rc_shards.shard.", cluster::ShardName(shard)));
    if (!m.ok() || m->headers.contains("KV-Operation")) return -1;  // none, or deleted
    return m->data == "pub-0" ? 0 : m->data == "pub-1" ? 1 : -1;
  }
  int LiveOrigin() { return origins_[0]->up() ? 0 : 1; }

  int64_t WatermarkMs(const std::string& shard) {
    HttpResponse r = Get(origins_[LiveOrigin()]->url() + segmenter::WatermarkPath(shard));
    v1::Watermark w;
    google::protobuf::util::JsonParseOptions lenient;
    lenient.ignore_unknown_fields = true;
    if (r.status != 200 || !google::protobuf::util::JsonStringToMessage(r.body, &w, lenient).ok()) {
      return -1;
    }
    return w.watermark_ms();
  }

  // Every acknowledged message of every room published once, in order, with
  // contiguous seqs; nothing published that was not acknowledged except
  // what a 503 left in doubt (allowed: the sender retried it, so it must
  // carry the same text as its acknowledged twin — never a second copy).
  void VerifyDelivered() {
    StopLoad();
    int64_t last_ms = 0;
    {
      absl::MutexLock l(&sent_mu_);
      last_ms = last_ack_ms_;
    }
    const int64_t last_k = segmenter::BucketIndex(last_ms, kBucketMs);
    for (int s = 0; s < kShards; ++s) {
      ASSERT_TRUE(Eventually(
          [&] { return WatermarkMs(cluster::ShardName(s)) >= segmenter::BucketEnd(last_k, kBucketMs); },
          60s))
          << "shard " << s << " watermark stays at " << WatermarkMs(cluster::ShardName(s));
    }
    // No owner's object was refused for differing from what another owner
    // had published, and no stream was cut for it: an older term's uploads
    // never overtake a newer one's (Uploader::SetValidUntil), and what a new
    // owner re-publishes is byte-identical. (Counted since each process
    // started.)
    for (int i = 0; i < 2; ++i) {
      if (origins_[i]->up()) {
        EXPECT_EQ(Metric(origins_[i]->url(), "roomcast_origin_immutable_conflicts_total"), 0)
            << "origin " << i;
        EXPECT_EQ(Metric(origins_[i]->url(), "roomcast_origin_live_conflicts_total"), 0)
            << "origin " << i;
      }
      if (publishers_[i]->up()) {
        EXPECT_EQ(Metric(publishers_[i]->url(), "roomcast_publisher_upload_conflicts_total"), 0)
            << "publisher " << i;
      }
    }
    absl::MutexLock l(&sent_mu_);
    for (const std::string& room : rooms_) {
      RoomSegments segs;
      for (int64_t k = first_k_[room]; k <= last_k; ++k) {
        HttpResponse r = Get(origins_[LiveOrigin()]->url() +
                             segmenter::SegmentPath(room, kBucketMs, k));
        v1::ActionSegment seg;
        ASSERT_EQ(r.status, 200) << room << " bucket " << k;
        ASSERT_TRUE(seg.ParseFromString(r.body));
        segs.segments[k] = std::move(seg);
      }
      EXPECT_TRUE(SeqContinuous(segs)) << room;
      std::map<uint64_t, std::string> published;
      std::set<std::string> texts;
      for (const v1::Message& m : Actions(segs)) {
        published[m.seq()] = m.comment().text();
        EXPECT_TRUE(texts.insert(m.comment().text()).second)
            << room << ": " << m.comment().text() << " twice";
      }
      for (const Sent& s : sent_[room]) {
        auto it = published.find(s.seq);
        ASSERT_NE(it, published.end()) << room << ": acked seq " << s.seq << " (" << s.text
                                       << ") is not published";
        EXPECT_EQ(it->second, s.text) << room << " seq " << s.seq;
      }
    }
  }

  // Stream order of a shard log's writers: the term of every message's id
  // ("<shard>.<term>.<n>") never goes down.
  void VerifyTermsNeverGoBack(int shard) {
    const std::string stream = absl::StrCat("RCLOG_", cluster::ShardName(shard));
    auto state = js_->State(stream);
    ASSERT_TRUE(state.ok()) << state.status();
    uint64_t last_term = 0;
    for (uint64_t seq = state->first_seq; seq <= state->last_seq; ++seq) {
      auto m = js_->Get(stream, seq);
      if (absl::IsNotFound(m.status())) continue;  // trimmed or replaced
      ASSERT_TRUE(m.ok()) << m.status();
      auto id = m->headers.find("Nats-Msg-Id");
      if (id == m->headers.end()) continue;
      std::vector<std::string> parts = absl::StrSplit(id->second, '.');
      if (parts.size() == 2 && parts[1] == "genesis") continue;  // the stream's first
      uint64_t term = 0;
      ASSERT_EQ(parts.size(), 3u) << id->second;
      ASSERT_TRUE(absl::SimpleAtoi(parts[1], &term)) << id->second;
      EXPECT_GE(term, last_term) << "an older owner appended after a newer one, at seq " << seq;
      last_term = std::max(last_term, term);
    }
  }

  NatsCluster nats_;
  TempDir dir_;
  absl::Mutex members_mu_;
  std::vector<std::unique_ptr<Member>> origins_, publishers_;
  absl::Time avoid_until_[2] ABSL_GUARDED_BY(members_mu_) = {absl::InfinitePast(),
                                                             absl::InfinitePast()};
  std::unique_ptr<cluster::JetStream> js_;
  std::unique_ptr<cluster::Kv> leases_;
  std::vector<std::string> rooms_;
  std::map<std::string, int64_t> first_k_;
  std::string service_;
  std::atomic<bool> stop_{false};
  std::thread load_;
  absl::Mutex sent_mu_;
  std::map<std::string, std::vector<Sent>> sent_;
  int64_t last_ack_ms_ = 0;
};

TEST_F(ClusterFailoverTest, AKilledShardOwnersRoomsAreWrittenAgainThroughTheOther) {
  StartLoad();
  ASSERT_TRUE(AcksGrowBy(40));
  const int victim = OwnerOf(rooms_[0]);
  ASSERT_GE(victim, 0);
  {
    absl::MutexLock l(&members_mu_);
    publishers_[victim]->Kill();
  }
  // Its rooms take writes again through the survivor (the sender retries
  // every 503 there), and everything acked on either side is published.
  ASSERT_TRUE(Eventually([&] { return OwnerOf(rooms_[0]) == 1 - victim; }, 30s));
  ASSERT_TRUE(AcksGrowBy(40));
  VerifyDelivered();
}

TEST_F(ClusterFailoverTest, AKilledNatsNodeLosesNothingAcked) {
  StartLoad();
  ASSERT_TRUE(AcksGrowBy(40));
  auto state = js_->State(absl::StrCat("RCLOG_", cluster::ShardName(cluster::ShardOf(rooms_[0], kShards))));
  ASSERT_TRUE(state.ok()) << state.status();
  const int leader = nats_.IndexOf(state->leader);
  ASSERT_GE(leader, 0) << "leader " << state->leader;
  nats_.Kill(leader);
  ASSERT_TRUE(AcksGrowBy(40));
  ASSERT_TRUE(nats_.Restart(leader));
  ASSERT_TRUE(AcksGrowBy(20));
  VerifyDelivered();
}

TEST_F(ClusterFailoverTest, APausedOldOwnerCannotAppendAfterItsLeaseMoved) {
  StartLoad();
  ASSERT_TRUE(AcksGrowBy(40));
  const int old_owner = OwnerOf(rooms_[0]);
  ASSERT_GE(old_owner, 0);
  publishers_[old_owner]->Signal(SIGSTOP);
  ASSERT_TRUE(Eventually([&] { return OwnerOf(rooms_[0]) == 1 - old_owner; }, 30s));
  ASSERT_TRUE(AcksGrowBy(40));
  // Back, believing it still owns its shards, with writes queued while it
  // was stopped: its log's fence refuses every one of them.
  publishers_[old_owner]->Signal(SIGCONT);
  ASSERT_TRUE(AcksGrowBy(40));
  for (int s = 0; s < kShards; ++s) VerifyTermsNeverGoBack(s);
  VerifyDelivered();
}

TEST_F(ClusterFailoverTest, TenMixedKillsLoseDuplicateAndReorderNothing) {
  StartLoad();
  ASSERT_TRUE(AcksGrowBy(20));
  std::mt19937 rng(20261202);
  for (int round = 0; round < 10; ++round) {
    const int what = static_cast<int>(rng() % 3);
    if (what == 0) {  // a publisher
      const int i = static_cast<int>(rng() % 2);
      {
        absl::MutexLock l(&members_mu_);
        publishers_[i]->Kill();
      }
      ASSERT_TRUE(AcksGrowBy(10)) << "round " << round << ": publisher " << i << " killed";
      absl::MutexLock l(&members_mu_);
      ASSERT_TRUE(publishers_[i]->Start()) << "round " << round;
    } else if (what == 1) {  // a NATS node (one at a time: a quorum stays)
      const int i = static_cast<int>(rng() % 3);
      nats_.Kill(i);
      ASSERT_TRUE(AcksGrowBy(10)) << "round " << round << ": nats node " << i << " killed";
      ASSERT_TRUE(nats_.Restart(i)) << "round " << round;
    } else {  // an origin: its publisher's uploads stall until it is back
      const int i = static_cast<int>(rng() % 2);
      origins_[i]->Kill();
      ASSERT_TRUE(AcksGrowBy(10)) << "round " << round << ": origin " << i << " killed";
      ASSERT_TRUE(origins_[i]->Start()) << "round " << round;
    }
  }
  ASSERT_TRUE(AcksGrowBy(20));
  VerifyDelivered();
}

}  // namespace
}  // namespace roomcast::testing
