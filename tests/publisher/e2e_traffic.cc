#include "tests/publisher/e2e_traffic.h"

#include <algorithm>
#include <random>

#include "absl/strings/str_cat.h"
#include "segmenter/naming.h"

namespace roomcast::testing {
namespace {

std::string CommentJson(const std::string& id) {
  return absl::StrCat(R"({"type":"comment","text":")", id, R"(","client_msg_id":")", id,
                      R"("})");
}

}  // namespace

Traffic::Traffic(TrafficOptions options, const SharedUrl* publisher)
    : options_(std::move(options)), publisher_(publisher) {
  for (int t = 0; t < options_.threads; ++t) threads_.emplace_back([this, t] { Run(t); });
}

Traffic::~Traffic() { Stop(std::chrono::milliseconds(0)); }

void Traffic::Stop(std::chrono::milliseconds drain) {
  stop_ = true;
  // Threads end by themselves once their pending request is acked.
  const auto deadline = std::chrono::steady_clock::now() + drain;
  while (done_threads_.load() < static_cast<int>(threads_.size()) &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  give_up_ = true;
  for (std::thread& t : threads_) {
    if (t.joinable()) t.join();
  }
}

void Traffic::Run(int thread) {
  std::mt19937 rng(options_.seed * 7919 + static_cast<uint32_t>(thread));
  const Headers headers = JsonHeaders(options_.token);
  const std::string path = "/v1/rooms/" + options_.room + "/messages";
  for (int n = 0; !stop_; ++n) {
    // Two requests in five are single messages, the rest batches.
    const int size = rng() % 5 < 2 ? 1 : 2 + static_cast<int>(rng() % (options_.max_batch - 1));
    std::vector<std::string> ids;
    std::string body;
    for (int i = 0; i < size; ++i) {
      ids.push_back(absl::StrCat("t", thread, "-", n, "-", i));
    }
    if (size == 1) {
      body = CommentJson(ids[0]);
    } else {
      body = R"({"messages":[)";
      for (int i = 0; i < size; ++i) absl::StrAppend(&body, i ? "," : "", CommentJson(ids[i]));
      body += "]}";
    }
    bool acked = false;
    for (int attempt = 0; !acked && !give_up_; ++attempt) {
      if (attempt > 0) {
        retries_.fetch_add(1);
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
      }
      requests_.fetch_add(1);
      HttpResponse r = Fetch("POST", publisher_->Get() + path, body, headers,
                             std::chrono::seconds(5));
      if (r.status == 0 || r.status == 503) continue;  // down or restarting
      std::vector<Ack> got = r.status == 200 ? ParseAcks(r.body) : std::vector<Ack>{};
      std::lock_guard<std::mutex> l(mu_);
      if (got.size() != ids.size()) {
        problems_.push_back(absl::StrCat("status ", r.status, " for ", ids[0], ": ", r.body));
        if (problems_.size() > 20) give_up_ = true;
        continue;
      }
      for (size_t i = 0; i < ids.size(); ++i) acks_[ids[i]] = got[i];
      acked_.fetch_add(static_cast<int64_t>(ids.size()));
      acked = true;
    }
    if (!acked) {
      std::lock_guard<std::mutex> l(mu_);
      unacked_.insert(ids.begin(), ids.end());
      break;
    }
  }
  done_threads_.fetch_add(1);
}

Follower::Follower(std::string origin_url, std::string room, int64_t bucket_ms,
                   int64_t first_k)
    : origin_url_(std::move(origin_url)),
      room_(std::move(room)),
      bucket_ms_(bucket_ms),
      next_k_(first_k),
      thread_([this] { Run(); }) {}

Follower::~Follower() { Stop(); }

void Follower::Stop() {
  stop_ = true;
  if (thread_.joinable()) thread_.join();
}

void Follower::Run() {
  while (!stop_) {
    HttpResponse r = Fetch("GET", origin_url_ + segmenter::SegmentPath(room_, bucket_ms_, next_k_),
                           "", {}, std::chrono::seconds(5));
    if (r.status == 200) {
      seen_[next_k_++] = r.body;
    } else {
      // 404: not yet (or the origin restarted without it yet); 0: origin down.
      std::this_thread::sleep_for(std::chrono::milliseconds(r.status == 0 ? 100 : 30));
    }
  }
}

void ExpectAllAckedExactlyOnce(const RoomSegments& final_segments, const Traffic& traffic,
                               const Follower& follower) {
  EXPECT_TRUE(final_segments.problems.empty()) << final_segments.problems.front();
  EXPECT_TRUE(SeqContinuous(final_segments));
  EXPECT_TRUE(traffic.problems().empty()) << traffic.problems().front();
  std::map<std::string, int> found;
  uint64_t kept = 0, last_seq = 0;
  for (const auto& [k, seg] : final_segments.segments) {
    EXPECT_TRUE(seg.dropped().empty()) << "bucket " << k << " dropped messages";
    for (const v1::Message& m : seg.messages()) {
      ++kept;
      last_seq = m.seq();
      const std::string& id = m.comment().text();
      ++found[id];
      auto a = traffic.acks().find(id);
      if (a == traffic.acks().end()) {
        EXPECT_TRUE(traffic.unacked().contains(id)) << "unknown message " << id;
        continue;
      }
      EXPECT_EQ(a->second.seq, m.seq()) << id;
      EXPECT_EQ(a->second.ts_ms, m.ts_ms()) << id;
      EXPECT_EQ(a->second.bucket, k) << id;
    }
  }
  int missing = 0, duplicated = 0;
  for (const auto& [id, ack] : traffic.acks()) {
    const int n = found.contains(id) ? found[id] : 0;
    if (n == 0 && ++missing <= 5) ADD_FAILURE() << "acked " << id << " (seq " << ack.seq
                                                << ", bucket " << ack.bucket << ") is lost";
    if (n > 1 && ++duplicated <= 5) ADD_FAILURE() << id << " appears " << n << " times";
  }
  EXPECT_EQ(missing, 0);
  EXPECT_EQ(duplicated, 0);
  EXPECT_EQ(kept, last_seq) << "the room's seq must count its messages";
  EXPECT_GE(kept, traffic.acks().size());
  int changed = 0;
  for (const auto& [k, bytes] : follower.seen()) {
    auto it = final_segments.bytes.find(k);
    if (it != final_segments.bytes.end() && it->second != bytes && ++changed <= 5) {
      ADD_FAILURE() << "segment " << k << " was served with other bytes before";
    }
  }
  EXPECT_EQ(changed, 0);
}

}  // namespace roomcast::testing
