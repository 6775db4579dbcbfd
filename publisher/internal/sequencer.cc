#include "publisher/internal/sequencer.h"

#include <memory>
#include <utility>

namespace roomcast::publisher::internal {

// Draft's calls run inside Sequencer::Prepare, which holds rooms_->mu().
Room* Sequencer::Draft::Find(const std::string& room)
    ABSL_NO_THREAD_SAFETY_ANALYSIS {
  return rooms_->Find(room);
}

absl::StatusOr<Room*> Sequencer::Draft::Live(const std::string& room)
    ABSL_NO_THREAD_SAFETY_ANALYSIS {
  return rooms_->Live(room);
}

int64_t Sequencer::Draft::Stamp(Room* room) ABSL_NO_THREAD_SAFETY_ANALYSIS {
  ++stamped_;
  return rooms_->Stamp(room);
}

void Sequencer::Draft::HoldOpen(int64_t ts_ms) ABSL_NO_THREAD_SAFETY_ANALYSIS {
  ++stamped_;
  rooms_->HoldOpen(ts_ms);
}

int64_t Sequencer::Draft::OpeningTimeMs() ABSL_NO_THREAD_SAFETY_ANALYSIS {
  return rooms_->OpeningTimeMs();
}

absl::Status Sequencer::Draft::ApplyNow(const log::Record& record)
    ABSL_NO_THREAD_SAFETY_ANALYSIS {
  return rooms_->Apply(record);
}

struct Sequencer::Job {
  Write write;
  absl::Status refused;
  std::vector<log::Record> records;
  uint64_t first_lsn = 0;
  size_t stamped = 0;
};

void Sequencer::Submit(Write write) {
  auto job = std::make_shared<Job>(Job{.write = std::move(write)});
  log_->Submit(
      {.prepare = [this,
                   job](std::vector<log::Record>* out) { Prepare(*job, out); },
       .done = [this, job](absl::Status s) { Finish(*job, s); }});
}

void Sequencer::Prepare(Job& job, std::vector<log::Record>* out) {
  absl::MutexLock l(&rooms_->mu());
  Draft draft(rooms_);
  job.refused = job.write.prepare(draft);
  if (!job.refused.ok()) {
    rooms_->Unstamp(draft.stamped_);
    return;
  }
  job.records = std::move(draft.records_);
  job.stamped = draft.stamped_;
  job.first_lsn = log_->next_lsn() + out->size();
  out->insert(out->end(), job.records.begin(), job.records.end());
}

void Sequencer::Finish(Job& job, absl::Status synced) {
  if (!job.refused.ok()) return job.write.done(job.refused);
  if (!synced.ok()) {
    // Never durable, never acknowledged: its seqs and replies are free
    // again, and the log recovers on its own (DurableLog).
    rooms_->RollBack(job.records, job.stamped);
    return job.write.done(absl::UnavailableError(synced.message()));
  }
  rooms_->ApplyDurable(job.records, job.first_lsn, job.stamped,
                       job.write.state_out);
  job.write.done(absl::OkStatus());
}

absl::Status Sequencer::Writable() const {
  if (!log_->writable()) {
    return absl::UnavailableError(
        "the durable log cannot write (disk full or failing, a JetStream "
        "election, or the shard moved); retry later");
  }
  if (log_->queue_depth() > kMaxLogQueue) {
    return absl::UnavailableError("overloaded: the durable log is behind");
  }
  return absl::OkStatus();
}

}  // namespace roomcast::publisher::internal
