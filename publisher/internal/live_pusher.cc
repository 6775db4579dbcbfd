#include "publisher/internal/live_pusher.h"

#include <algorithm>
#include <chrono>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "base/log.h"
#include "segmenter/codec.h"

namespace roomcast::publisher::internal {
namespace {

constexpr char kLivePath[] = "/v1/live";
// A timer is looked at again at least this often, at most this rarely (a
// fake clock in tests does not move while the thread waits).
constexpr int64_t kMinWaitMs = 5;
constexpr int64_t kMaxWaitMs = 1000;

double SecondsSince(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace

LivePusher::LivePusher(Options options, const base::Clock* clock, Uploader* uploader,
                       RoomTable* rooms, http::Metrics* metrics)
    : options_(options),
      clock_(clock),
      uploader_(uploader),
      rooms_(rooms),
      records_pushed_(metrics->AddCounter("roomcast_publisher_live_records_pushed_total",
                                          "Records sent in live pushes the origin answered, not refused")),
      batches_(metrics->AddCounter("roomcast_publisher_live_batches_total",
                                   "Live push batches sent (POST /v1/live)")),
      errors_(metrics->AddCounter("roomcast_publisher_live_push_errors_total",
                                  "Live push batches without a usable answer")),
      refused_(metrics->AddCounter("roomcast_publisher_live_refused_total",
                                   "Open buckets the origin refused to stream")),
      wakeups_(metrics->AddCounter("roomcast_publisher_live_rounds_total",
                                   "Live push rounds (wake-ups with work)")),
      rooms_visited_(metrics->AddCounter("roomcast_publisher_live_rooms_visited_total",
                                         "Rooms the live pusher visited, over all rounds")),
      latency_(metrics->AddHistogram("roomcast_publisher_live_push_latency_seconds",
                                     "Time of one live push batch", {},
                                     http::FastLatencyBuckets())) {}

LivePusher::~LivePusher() { Stop(); }

void LivePusher::Start() {
  rooms_->SetLiveWake([this] { Wake(); });
  thread_ = std::thread([this] { Loop(); });
}

void LivePusher::Stop() {
  {
    absl::MutexLock l(&mu_);
    stop_ = true;
    cv_.SignalAll();
  }
  if (thread_.joinable()) thread_.join();
}

void LivePusher::Wake() {
  absl::MutexLock l(&mu_);
  woken_ = true;
  cv_.SignalAll();
}

void LivePusher::WakeIfDue() {
  absl::MutexLock l(&mu_);
  if (!timers_.empty() && timers_.begin()->first <= clock_->NowMs()) {
    woken_ = true;
    cv_.SignalAll();
  }
}

void LivePusher::Sync() {
  absl::MutexLock l(&mu_);
  if (!thread_.joinable()) return;
  const uint64_t target = rounds_started_ + 1;
  woken_ = true;
  cv_.SignalAll();
  while (!stop_ && rounds_done_ < target) cv_.Wait(&mu_);
}

void LivePusher::Loop() {
  for (;;) {
    {
      absl::MutexLock l(&mu_);
      if (backoff_ms_ > 0) {
        // After a failed push: wait it out (only Stop cuts it short).
        const absl::Time until = absl::Now() + absl::Milliseconds(backoff_ms_);
        while (!stop_ && absl::Now() < until) cv_.WaitWithDeadline(&mu_, until);
      }
      while (!stop_ && !woken_) {
        int64_t wait_ms = kMaxWaitMs;
        if (!timers_.empty()) {
          wait_ms = std::clamp(timers_.begin()->first - clock_->NowMs(), kMinWaitMs, kMaxWaitMs);
        }
        cv_.WaitWithTimeout(&mu_, absl::Milliseconds(wait_ms));
        if (!timers_.empty() && timers_.begin()->first <= clock_->NowMs()) woken_ = true;
      }
      if (stop_) return;
      woken_ = false;
      ++rounds_started_;
    }
    const bool again = RunOnce();
    absl::MutexLock l(&mu_);
    ++rounds_done_;
    if (again) woken_ = true;
    cv_.SignalAll();
  }
}

bool LivePusher::RunOnce() {
  bool unsupported = false;
  {
    absl::MutexLock l(&mu_);
    unsupported = unsupported_;
  }
  if (unsupported) {
    absl::MutexLock rooms(&rooms_->mu());
    rooms_->TakeLiveDirty();  // nothing will ever be pushed
    return false;
  }
  Round r = Collect(clock_->NowMs());
  AddTimers(r.due);
  if (r.batch.appends_size() == 0) {
    absl::MutexLock l(&mu_);
    backoff_ms_ = 0;  // nothing failed is waiting to go again
    return r.more;
  }
  wakeups_.Add();
  v1::LiveReply reply;
  const Outcome outcome = Send(r, &reply);
  const bool again = Apply(r, outcome, reply);
  const bool answered = outcome == Outcome::kAnswered;
  absl::MutexLock l(&mu_);
  backoff_ms_ = answered       ? 0
                : no_endpoint_ ? options_.no_endpoint_backoff_ms
                               : std::clamp(backoff_ms_ * 2, options_.backoff_min_ms,
                                            options_.backoff_max_ms);
  return again || r.more || !answered;
}

std::vector<std::string> LivePusher::TakeDue(int64_t now_ms) {
  absl::MutexLock l(&mu_);
  std::vector<std::string> due;
  while (!timers_.empty() && timers_.begin()->first <= now_ms) {
    due.push_back(timers_.begin()->second);
    timer_of_.erase(timers_.begin()->second);
    timers_.erase(timers_.begin());
  }
  return due;
}

void LivePusher::AddTimers(const absl::flat_hash_map<std::string, int64_t>& due) {
  if (due.empty()) return;
  absl::MutexLock l(&mu_);
  for (const auto& [room, at] : due) {
    auto [it, added] = timer_of_.try_emplace(room, at);
    if (!added) {
      if (it->second <= at) continue;  // an earlier one visits it anyway
      timers_.erase({it->second, room});
      it->second = at;
    }
    timers_.insert({at, room});
  }
}

LivePusher::Round LivePusher::Collect(int64_t now_ms) {
  Round r;
  const std::vector<std::string> due = TakeDue(now_ms);
  absl::MutexLock l(&rooms_->mu());
  absl::flat_hash_set<std::string> visit = rooms_->TakeLiveDirty();
  visit.insert(due.begin(), due.end());
  size_t budget = options_.max_batch_bytes;
  for (const std::string& name : visit) {
    if (budget == 0 || static_cast<size_t>(r.batch.appends_size()) >= options_.max_appends) {
      rooms_->MarkLiveDirty(name);  // the next batch takes it
      r.more = true;
      continue;
    }
    Room* room = rooms_->Find(name);
    if (room == nullptr) continue;
    rooms_visited_.Add();
    bool more = false;
    std::vector<LiveSent> sent;
    const int64_t at = room->CollectLive(now_ms, &budget, &more, &r.batch, &sent);
    for (const LiveSent& s : sent) r.sent.emplace_back(name, s);
    if (more) {
      rooms_->MarkLiveDirty(name);
      r.more = true;
    }
    if (at != 0) r.due[name] = at;
  }
  return r;
}

LivePusher::Outcome LivePusher::Send(const Round& r, v1::LiveReply* reply) {
  const std::string body = segmenter::SerializeDeterministic(r.batch);
  const auto t0 = std::chrono::steady_clock::now();
  absl::StatusOr<OriginReply> got = uploader_->Post(kLivePath, body, "application/x-protobuf");
  latency_.Observe(SecondsSince(t0));
  batches_.Add();
  absl::Status s = got.status();
  // Only a 200 LiveReply takes records: any other answer, and a push that
  // never went out, took none.
  if (absl::IsUnimplemented(s)) {
    absl::MutexLock l(&mu_);
    unsupported_ = true;
  }
  Outcome failed = absl::IsUnimplemented(s) || absl::IsInvalidArgument(s) ? Outcome::kNotTaken
                                                                          : Outcome::kLost;
  no_endpoint_ = s.ok() && (got->status == 404 || got->status == 405 || got->status == 501);
  if (s.ok() && got->status != 200) {
    s = absl::UnavailableError(absl::StrCat("HTTP ", got->status, " ",
                                            absl::string_view(got->body).substr(0, 200)));
    failed = Outcome::kNotTaken;
  } else if (s.ok() && (!reply->ParseFromString(got->body) ||
                        reply->acks_size() != r.batch.appends_size())) {
    s = absl::DataLossError("a LiveReply that does not answer the batch");
  }
  if (!s.ok()) {
    errors_.Add();
    ROOMCAST_LOG(kWarning, "publisher", "live_push_failed")
        .Kv("appends", r.batch.appends_size())
        .Kv("status", s);
    return failed;
  }
  return Outcome::kAnswered;
}

bool LivePusher::Apply(const Round& r, Outcome outcome, const v1::LiveReply& reply) {
  absl::MutexLock l(&rooms_->mu());
  bool again = false;
  for (size_t i = 0; i < r.sent.size(); ++i) {
    const auto& [name, sent] = r.sent[i];
    Room* room = rooms_->Find(name);
    const v1::LiveAppend& a = r.batch.appends(static_cast<int>(i));
    // Forgotten or opened again since: what was pushed belongs to no one.
    if (room == nullptr || room->epoch() != a.epoch()) continue;
    if (outcome != Outcome::kAnswered) {
      if (outcome == Outcome::kNotTaken) room->LiveNotTaken(sent);
      rooms_->MarkLiveDirty(name);  // after the backoff, from `have`
      continue;
    }
    const v1::LiveAck& ack = reply.acks(static_cast<int>(i));
    if (!ack.refused()) records_pushed_.Add(a.records_size());
    if (ack.refused()) {
      refused_.Add();
      ROOMCAST_LOG(kInfo, "publisher", "live_bucket_refused")
          .Kv("room", name)
          .Kv("bucket", a.index())
          .Kv("reason", absl::string_view(ack.reason()).substr(0, 200));
    }
    // The origin lacks records before this append (it restarted): at once
    // from what it has. Anything else waits for the room's next record.
    if (room->LiveAcked(sent, ack) && ack.have() < a.first()) {
      rooms_->MarkLiveDirty(name);
      again = true;
    }
  }
  return again;
}

}  // namespace roomcast::publisher::internal
