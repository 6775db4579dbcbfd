
#include "publisher/publisher.h"

#include <chrono>
#include <iostream>
#include <optional>
#include <random>

#include "absl/strings/cord.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "base/crypto.h"
#include "base/status_macros.h"
#include "segmenter/messages.h"
#include "segmenter/naming.h"
#include "segmenter/peer_hint.h"

namespace roomcast::publisher {
namespace {

constexpr char kRetryAfterPayload[] = "roomcast/retry-after-s";
// More pending log jobs than this: 503, the disk is not keeping up.
constexpr size_t kMaxLogQueue = 20000;

std::string RoomSecret(absl::string_view master, absl::string_view room,
                       uint64_t epoch) {
  return base::HmacSha256(
      master, absl::StrCat("roomcast-room-secret-v1:", room, ":", epoch));
}

bool HasRole(const Claims& who, std::initializer_list<v1::Role> roles) {
  for (v1::Role r : roles) {
    if (who.role == r) return true;
  }
  return false;
}

absl::Status CheckRoomAccess(const Claims& who, const std::string& room) {
  if (!segmenter::IsValidId(room)) {
    return absl::InvalidArgumentError("room ids are [A-Za-z0-9_-]{1,64}");
  }
  if (!AllowsRoom(who, room)) {
    return absl::PermissionDeniedError("the token is for another room");
  }
  return absl::OkStatus();
}

absl::Status NeedRole(const Claims& who, std::initializer_list<v1::Role> roles) {
  if (HasRole(who, roles)) return absl::OkStatus();
  return absl::PermissionDeniedError(absl::StrCat(
      "role '", RoleName(who.role), "' may not do this"));
}

}  // namespace

int64_t RetryAfterSeconds(const absl::Status& s) {
  if (!absl::IsResourceExhausted(s)) return 0;
  auto p = s.GetPayload(kRetryAfterPayload);
  int64_t v = 1;
  if (p.has_value() && absl::SimpleAtoi(std::string(*p), &v) && v >= 1) return v;
  return 1;
}

std::string DeriveHintMaster(absl::string_view jwt_secret) {
  return base::HmacSha256(jwt_secret, "roomcast-hint-master-v1");
}

absl::StatusOr<std::unique_ptr<Publisher>> Publisher::Open(
    PublisherOptions options, const base::Clock* clock, Uploader* uploader) {
  if (!segmenter::IsValidId(options.id)) {
    return absl::InvalidArgumentError("publisher id must be [A-Za-z0-9_-]{1,64}");
  }
  ROOMCAST_ASSIGN_OR_RETURN(
      std::unique_ptr<DurableLog> log,
      DurableLog::Open({.dir = options.data_dir, .sync = options.sync}));
  std::unique_ptr<Publisher> p(
      new Publisher(std::move(options), clock, uploader, std::move(log)));
  ROOMCAST_RETURN_IF_ERROR(p->Recover());
  return p;
}

Publisher::Publisher(PublisherOptions options, const base::Clock* clock,
                     Uploader* uploader, std::unique_ptr<DurableLog> log)
    : options_(std::move(options)),
      clock_(clock),
      uploader_(uploader),
      log_(std::move(log)),
      limiter_(options_.rates) {}

Publisher::~Publisher() {
  StopTicker();
  log_.reset();  // completes every pending job before the rooms go
}

absl::Status Publisher::Recover() {
  ROOMCAST_ASSIGN_OR_RETURN(log::Progress progress, log_->ReadProgress());
  ROOMCAST_ASSIGN_OR_RETURN(auto room_progress, log_->ReadRoomProgress());
  const int64_t w = progress.uploaded_through_ms();
  absl::MutexLock t(&tick_mu_);
  absl::MutexLock l(&mu_);
  ROOMCAST_RETURN_IF_ERROR(
      log_->Replay([&](const log::Record& r) ABSL_NO_THREAD_SAFETY_ANALYSIS {
        absl::Status s = ApplyRecord(r);
        if (!s.ok()) {
          return absl::DataLossError(absl::StrCat(
              "replaying the log of room '", r.room(), "': ", s.message()));
        }
        return absl::OkStatus();
      }));
  closed_through_ = w;
  published_w_ = w;
  for (auto& [name, room] : rooms_) {
    room->Recover(w);
    auto it = room_progress.find(name);
    const log::RoomProgress p =
        it == room_progress.end() ? log::RoomProgress() : it->second;
    room->RestoreManifestProgress(p);
    outbox_[name].progress = p;
    active_.insert(name);  // the first round re-publishes what needs it
  }
  return absl::OkStatus();
}

absl::Status Publisher::ApplyRecord(const log::Record& r,
                                    v1::StateComponent* state_out) {
  if (r.has_opened()) {
    const log::RoomOpened& o = r.opened();
    RoomIdentity id{.room = r.room(), .publisher = options_.id,
                    .config = o.config(), .epoch = o.epoch(),
                    .opened_ms = o.opened_ms(),
                    .hint_secret = RoomSecret(options_.hint_master_secret,
                                              r.room(), o.epoch())};
    rooms_[r.room()] =
        std::make_unique<Room>(std::move(id), options_.idempotency_window_ms);
    ++live_bucket_ms_[o.config().bucket_ms()];
    return absl::OkStatus();
  }
  Room* room = FindRoom(r.room());
  if (room == nullptr) return absl::NotFoundError("record for an unknown room");
  if (r.has_ended() && !room->ended()) {
    if (--live_bucket_ms_[room->id().config.bucket_ms()] <= 0) {
      live_bucket_ms_.erase(room->id().config.bucket_ms());
    }
  }
  return room->Apply(r, state_out);
}

Room* Publisher::FindRoom(const std::string& room) {
  auto it = rooms_.find(room);
  return it == rooms_.end() ? nullptr : it->second.get();
}

absl::StatusOr<Room*> Publisher::LiveRoom(const std::string& room) {
  Room* r = FindRoom(room);
  if (r == nullptr) {
    return absl::NotFoundError(absl::StrCat("room '", room, "' is not open"));
  }
  if (!r->accepting()) {
    return absl::NotFoundError(absl::StrCat("room '", room, "' has ended"));
  }
  return r;
}

int64_t Publisher::StampFor(Room* room) {
  const int64_t ts = room->Stamp(clock_->NowMs(), closed_through_);
  inflight_floor_ = inflight_ == 0 ? ts : std::min(inflight_floor_, ts);
  ++inflight_;
  return ts;
}

void Publisher::Submit(
    absl::AnyInvocable<void(std::vector<log::Record>*)> prepare,
    absl::AnyInvocable<void(absl::Status)> done) {
  log_->Submit({.prepare = std::move(prepare), .done = std::move(done)});
}

void Publisher::ApplyDurable(const std::vector<log::Record>& records,
                             size_t stamped, v1::StateComponent* state_out) {
  absl::MutexLock l(&mu_);
  for (const log::Record& r : records) {
    if (!r.has_opened()) {
      absl::Status s = ApplyRecord(r, state_out);
      if (!s.ok()) {
        std::cerr << "roomcast-publisher: error: applying a durable record of "
                  << r.room() << ": " << s << std::endl;
      }
    }
    active_.insert(r.room());
  }
  inflight_ -= stamped;
}

absl::Status Publisher::Writable() {
  if (!healthy_) {
    return absl::UnavailableError("the durable log failed; not accepting writes");
  }
  if (log_->queue_depth() > kMaxLogQueue) {
    return absl::UnavailableError("overloaded: the durable log is behind");
  }
  return absl::OkStatus();
}

absl::Status Publisher::Admit(const Claims& who, const std::string& room,
                              size_t n) {
  ROOMCAST_RETURN_IF_ERROR(CheckRoomAccess(who, room));
  if (n == 0) return absl::InvalidArgumentError("no messages");
  if (n > options_.limits.max_batch) {
    return absl::OutOfRangeError(absl::StrCat(
        "a batch holds at most ", options_.limits.max_batch, " messages"));
  }
  ROOMCAST_RETURN_IF_ERROR(Writable());
  if (who.role != v1::ROLE_AUDIENCE) return absl::OkStatus();
  const int64_t wait_ms = limiter_.Acquire(room, who.sub, static_cast<double>(n),
                                           clock_->NowMs());
  if (wait_ms == 0) return absl::OkStatus();
  metrics_.rate_limited.fetch_add(1);
  absl::Status s = absl::ResourceExhaustedError(
      absl::StrCat("rate limited; retry in ", wait_ms, " ms"));
  s.SetPayload(kRetryAfterPayload, absl::Cord(absl::StrCat((wait_ms + 999) / 1000)));
  return s;
}

void Publisher::OpenRoom(const Claims& who, const std::string& room,
                         const v1::OpenRoomRequest& request,
                         Callback<v1::RoomConfig> done) {
  absl::Status s = CheckRoomAccess(who, room);
  if (s.ok()) s = NeedRole(who, {v1::ROLE_SERVICE});
  if (s.ok()) s = Writable();
  absl::StatusOr<v1::RoomConfig> config =
      ConfigFromRequest(request, options_.rollup_ms);
  if (s.ok()) s = config.status();
  if (!s.ok()) return done(s);
  struct Job {
    v1::RoomConfig config;
    absl::Status error;
    std::vector<log::Record> records;
  };
  auto job = std::make_shared<Job>(Job{.config = *config});
  Submit(
      [this, job, room](std::vector<log::Record>* out) {
        absl::MutexLock l(&mu_);
        if (Room* r = FindRoom(room); r != nullptr) {
          if (!r->accepting()) {
            job->error = absl::FailedPreconditionError("the room has ended");
          } else if (r->id().config.SerializeAsString() !=
                     job->config.SerializeAsString()) {
            job->error = absl::FailedPreconditionError(
                "the room is open with another config");
          }
          return;  // already open as asked: nothing to write
        }
        const int64_t now = std::max(clock_->NowMs(), closed_through_);
        log::Record rec;
        rec.set_room(room);
        *rec.mutable_opened()->mutable_config() = job->config;
        rec.mutable_opened()->set_opened_ms(now);
        // The epoch must differ if the room is ever re-created (history
        // lost): time plus randomness.
        rec.mutable_opened()->set_epoch(static_cast<uint64_t>(now) * 1000 +
                                        std::random_device{}() % 1000);
        ApplyRecord(rec).IgnoreError();  // visible to the rest of the batch
        job->records.push_back(rec);
        out->push_back(std::move(rec));
      },
      [this, job, done = std::move(done)](absl::Status s) mutable {
        if (!job->error.ok()) return done(job->error);
        if (!s.ok()) {
          healthy_ = false;
          return done(absl::UnavailableError(s.message()));
        }
        ApplyDurable(job->records, 0);
        done(job->config);
      });
}

void Publisher::EndRoom(const Claims& who, const std::string& room,
                        Callback<v1::RoomConfig> done) {
  absl::Status s = CheckRoomAccess(who, room);
  if (s.ok()) s = NeedRole(who, {v1::ROLE_SERVICE, v1::ROLE_ANCHOR});
  if (s.ok()) s = Writable();
  if (!s.ok()) return done(s);
  struct Job {
    absl::StatusOr<v1::RoomConfig> reply;
    std::vector<log::Record> records;
  };
  auto job = std::make_shared<Job>();
  Submit(
      [this, job, room](std::vector<log::Record>* out) {
        absl::MutexLock l(&mu_);
        absl::StatusOr<Room*> r = LiveRoom(room);
        if (!r.ok()) {
          job->reply = r.status();
          return;
        }
        (*r)->MarkEnding();
        job->reply = (*r)->id().config;
        log::Record rec;
        rec.set_room(room);
        rec.mutable_ended()->set_ts_ms(clock_->NowMs());
        job->records.push_back(rec);
        out->push_back(std::move(rec));
      },
      [this, job, done = std::move(done)](absl::Status s) mutable {
        if (!job->reply.ok()) return done(job->reply.status());
        if (!s.ok()) {
          healthy_ = false;
          return done(absl::UnavailableError(s.message()));
        }
        ApplyDurable(job->records, 0);
        done(job->reply);
      });
}

std::string Publisher::RenderMetrics() {
  std::string out;
  auto counter = [&](absl::string_view name, absl::string_view help,
                     uint64_t v) {
    absl::StrAppend(&out, "# HELP ", name, " ", help, "\n# TYPE ", name,
                    " counter\n", name, " ", v, "\n");
  };
  auto gauge = [&](absl::string_view name, absl::string_view help, int64_t v) {
    absl::StrAppend(&out, "# HELP ", name, " ", help, "\n# TYPE ", name,
                    " gauge\n", name, " ", v, "\n");
  };
  const PublisherMetrics& m = metrics_;
  counter("roomcast_publisher_messages_accepted_total",
          "Actions acknowledged (durable)", m.messages_accepted.load());
  counter("roomcast_publisher_messages_deduplicated_total",
          "Retries answered from the idempotency window",
          m.messages_deduplicated.load());
  counter("roomcast_publisher_requests_rejected_total",
          "Writes refused before the log", m.requests_rejected.load());
  counter("roomcast_publisher_rate_limited_total", "429 answers",
          m.rate_limited.load());
  counter("roomcast_publisher_log_records_total", "Records synced to the log",
          log_->records_written());
  counter("roomcast_publisher_log_batches_total",
          "Synced log writes (group commits)", log_->batches_written());
  counter("roomcast_publisher_uploads_total", "PUTs to the origin",
          m.uploads.load());
  counter("roomcast_publisher_upload_errors_total", "Failed PUTs",
          m.upload_errors.load());
  counter("roomcast_publisher_upload_conflicts_total",
          "409 from the origin: changed immutable bytes (a bug alarm)",
          m.upload_conflicts.load());
  counter("roomcast_publisher_watermark_puts_total", "Watermark advances",
          m.watermark_puts.load());
  gauge("roomcast_publisher_log_queue_depth", "Writes waiting for the log",
        static_cast<int64_t>(log_->queue_depth()));
  gauge("roomcast_publisher_outbox_objects", "Objects waiting for the origin",
        static_cast<int64_t>(outbox_size()));
  gauge("roomcast_publisher_watermark_lag_ms",
        "Clock minus the published watermark", m.watermark_lag_ms.load());
  gauge("roomcast_publisher_healthy", "1 while the log accepts writes",
        healthy_ ? 1 : 0);
  {
    absl::MutexLock l(&mu_);
    gauge("roomcast_publisher_rooms", "Rooms known", static_cast<int64_t>(rooms_.size()));
  }
  m.ack_latency.Render("roomcast_publisher_ack_latency_seconds",
                       "POST to durable acknowledgement", &out);
  m.upload_latency.Render("roomcast_publisher_upload_latency_seconds",
                          "One PUT to the origin, retries included", &out);
  return out;
}

}  // namespace roomcast::publisher
