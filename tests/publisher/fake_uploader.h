// An in-memory origin for publisher tests: keeps the last bytes of every
// path, refuses (409) a PUT that would change an immutable object, and can
// be taken down (kUnavailable) as a whole or for chosen paths, or keep what
// it is sent while answering kUnavailable (acks lost).
//
// Its live side (POST /v1/live, contract §C) keeps each open bucket's
// records and answers as the origin does: `have`, an overlap compared byte
// for byte, `refused` for a bucket whose segment is stored; it records every
// batch, counts pushes in flight at once, and can be taken down, made to
// refuse, or made to forget (an origin restart).
#ifndef ROOMCAST_TESTS_PUBLISHER_FAKE_UPLOADER_H_
#define ROOMCAST_TESTS_PUBLISHER_FAKE_UPLOADER_H_

#include <algorithm>
#include <map>
#include <set>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include "absl/strings/match.h"
#include "absl/synchronization/mutex.h"
#include "publisher/uploader.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "roomcast/v1/ingest.pb.h"
#include "roomcast/v1/live.pb.h"
#include "segmenter/naming.h"

namespace roomcast::publisher::testing {

class FakeUploader : public Uploader {
 public:
  absl::Status Put(absl::string_view path, absl::string_view body,
                   absl::string_view content_type) override {
    absl::MutexLock l(&mu_);
    std::string p(path);
    if (down_ || failing_.contains(p)) return absl::UnavailableError("origin down");
    puts_.push_back(p);
    const bool is_mutable =
        absl::EndsWith(p, "/manifest.pb") || absl::EndsWith(p, "/watermark");
    auto it = objects_.find(p);
    if (!is_mutable && it != objects_.end() && it->second != body) {
      ++conflicts_;
      return absl::AlreadyExistsError("409: other bytes stored at " + p);
    }
    objects_[p] = std::string(body);
    if (absl::EndsWith(p, "/watermark")) {
      v1::Watermark w;
      w.ParseFromArray(body.data(), static_cast<int>(body.size()));
      watermarks_.push_back(w.watermark_ms());
    }
    // Stored, but the answer is lost on the way back (a crash right after
    // the origin took it): the publisher must upload it again, the same.
    if (lose_acks_) return absl::UnavailableError("answer lost");
    return absl::OkStatus();
  }

  absl::StatusOr<OriginReply> Post(absl::string_view path, absl::string_view body,
                                   absl::string_view content_type) override {
    absl::MutexLock l(&mu_);
    ++posts_started_;
    ++posts_in_flight_;
    max_posts_in_flight_ = std::max(max_posts_in_flight_, posts_in_flight_);
    post_threads_.insert(std::this_thread::get_id());
    // A blocked origin holds the push here until the test lets it go.
    mu_.AwaitWithTimeout(absl::Condition(&live_open_), absl::Seconds(60));
    --posts_in_flight_;
    if (path != "/v1/live" || content_type != "application/x-protobuf") {
      return OriginReply{.status = 404, .body = "{}"};
    }
    v1::LiveBatch batch;
    if (!batch.ParseFromArray(body.data(), static_cast<int>(body.size()))) {
      return OriginReply{.status = 400, .body = "{}"};
    }
    batches_.push_back(batch);
    if (live_down_) return absl::UnavailableError("origin down");
    if (live_status_ != 200) return OriginReply{.status = live_status_, .body = "{}"};
    v1::LiveReply reply;
    for (const v1::LiveAppend& a : batch.appends()) *reply.add_acks() = Append(a);
    return OriginReply{.status = 200, .body = reply.SerializeAsString()};
  }

  // The records the fake origin holds for an open bucket.
  std::vector<std::string> LiveRecords(const std::string& room, int64_t d, int64_t k) {
    absl::MutexLock l(&mu_);
    for (const auto& [key, records] : live_) {
      if (std::get<0>(key) == room && std::get<2>(key) == d && std::get<3>(key) == k) {
        return records;
      }
    }
    return {};
  }
  std::vector<v1::LiveBatch> batches() {
    absl::MutexLock l(&mu_);
    return batches_;
  }
  int max_posts_in_flight() {
    absl::MutexLock l(&mu_);
    return max_posts_in_flight_;
  }
  // Holds every push until BlockLive(false) (at most a minute).
  void BlockLive(bool block) {
    absl::MutexLock l(&mu_);
    live_open_ = !block;
  }
  // Waits (10 s at most) until `n` pushes have arrived; false if not.
  bool WaitLiveStarted(int n) {
    absl::MutexLock l(&mu_);
    auto started = [this, n]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return posts_started_ >= n; };
    return mu_.AwaitWithTimeout(absl::Condition(&started), absl::Seconds(10));
  }
  size_t post_threads() {
    absl::MutexLock l(&mu_);
    return post_threads_.size();
  }
  void SetLiveDown(bool down) {
    absl::MutexLock l(&mu_);
    live_down_ = down;
  }
  // Answers every push with this status (and takes nothing) unless 200.
  void SetLiveStatus(int status) {
    absl::MutexLock l(&mu_);
    live_status_ = status;
  }
  void SetRefuseLive(bool refuse) {
    absl::MutexLock l(&mu_);
    refuse_live_ = refuse;
  }
  // An origin restart: every open bucket's records are gone.
  void ForgetLive() {
    absl::MutexLock l(&mu_);
    live_.clear();
  }

  void SetLoseAcks(bool lose) {
    absl::MutexLock l(&mu_);
    lose_acks_ = lose;
  }

  void SetDown(bool down) {
    absl::MutexLock l(&mu_);
    down_ = down;
  }
  void FailPath(const std::string& p, bool fail) {
    absl::MutexLock l(&mu_);
    if (fail) failing_.insert(p); else failing_.erase(p);
  }
  bool Has(const std::string& p) {
    absl::MutexLock l(&mu_);
    return objects_.contains(p);
  }
  std::string Get(const std::string& p) {
    absl::MutexLock l(&mu_);
    auto it = objects_.find(p);
    return it == objects_.end() ? "" : it->second;
  }
  template <typename M>
  M GetProto(const std::string& p) {
    M m;
    m.ParseFromString(Get(p));
    return m;
  }
  std::vector<std::string> puts() {
    absl::MutexLock l(&mu_);
    return puts_;
  }
  // Position of the first PUT of `p`, or -1.
  int IndexOf(const std::string& p) {
    absl::MutexLock l(&mu_);
    for (size_t i = 0; i < puts_.size(); ++i) {
      if (puts_[i] == p) return static_cast<int>(i);
    }
    return -1;
  }
  int LastIndexOf(const std::string& p) {
    absl::MutexLock l(&mu_);
    for (size_t i = puts_.size(); i-- > 0;) {
      if (puts_[i] == p) return static_cast<int>(i);
    }
    return -1;
  }
  int conflicts() {
    absl::MutexLock l(&mu_);
    return conflicts_;
  }
  int64_t watermark() {
    absl::MutexLock l(&mu_);
    return watermarks_.empty() ? 0 : watermarks_.back();
  }
  std::vector<int64_t> watermarks() {
    absl::MutexLock l(&mu_);
    return watermarks_;
  }
  std::map<std::string, std::string> objects() {
    absl::MutexLock l(&mu_);
    return objects_;
  }

 private:
  using LiveKey = std::tuple<std::string, uint64_t, int64_t, int64_t>;
  v1::LiveAck Append(const v1::LiveAppend& a) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    v1::LiveAck ack;
    const std::string stored = segmenter::SegmentPath(a.room(), a.bucket_ms(), a.index());
    const LiveKey key{a.room(), a.epoch(), a.bucket_ms(), a.index()};
    if (refuse_live_ || objects_.contains(stored) || refused_.contains(key)) {
      refused_.insert(key);
      ack.set_refused(true);
      ack.set_reason("closed");
      return ack;
    }
    std::vector<std::string>& held = live_[key];
    if (a.first() > held.size()) {  // lacks earlier ones: send from have
      ack.set_have(static_cast<uint32_t>(held.size()));
      return ack;
    }
    for (int i = 0; i < a.records_size(); ++i) {
      const size_t at = a.first() + static_cast<size_t>(i);
      if (at < held.size()) {
        if (held[at] != a.records(i)) {
          ++live_conflicts_;
          live_.erase(key);
          refused_.insert(key);
          ack.set_refused(true);
          ack.set_reason("record differs from one already streamed");
          return ack;
        }
      } else {
        held.push_back(a.records(i));
      }
    }
    ack.set_have(static_cast<uint32_t>(held.size()));
    return ack;
  }

 public:
  int live_conflicts() {
    absl::MutexLock l(&mu_);
    return live_conflicts_;
  }

 private:
  absl::Mutex mu_;
  std::map<LiveKey, std::vector<std::string>> live_ ABSL_GUARDED_BY(mu_);
  std::set<LiveKey> refused_ ABSL_GUARDED_BY(mu_);
  std::vector<v1::LiveBatch> batches_ ABSL_GUARDED_BY(mu_);
  int posts_in_flight_ ABSL_GUARDED_BY(mu_) = 0;
  int posts_started_ ABSL_GUARDED_BY(mu_) = 0;
  bool live_open_ ABSL_GUARDED_BY(mu_) = true;
  std::set<std::thread::id> post_threads_ ABSL_GUARDED_BY(mu_);
  int max_posts_in_flight_ ABSL_GUARDED_BY(mu_) = 0;
  int live_conflicts_ ABSL_GUARDED_BY(mu_) = 0;
  bool live_down_ ABSL_GUARDED_BY(mu_) = false;
  bool refuse_live_ ABSL_GUARDED_BY(mu_) = false;
  int live_status_ ABSL_GUARDED_BY(mu_) = 200;
  bool down_ ABSL_GUARDED_BY(mu_) = false;
  bool lose_acks_ ABSL_GUARDED_BY(mu_) = false;
  std::set<std::string> failing_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, std::string> objects_ ABSL_GUARDED_BY(mu_);
  std::vector<std::string> puts_ ABSL_GUARDED_BY(mu_);
  std::vector<int64_t> watermarks_ ABSL_GUARDED_BY(mu_);
  int conflicts_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace roomcast::publisher::testing

#endif  // ROOMCAST_TESTS_PUBLISHER_FAKE_UPLOADER_H_
