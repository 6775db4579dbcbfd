// The one path of every write through the durable log (DESIGN §6: a 2xx
// means the message is durable): "submit the records, then apply them".
//
// On the log's writer thread, in submission order and with the rooms locked,
// a write's `prepare` checks it against the rooms as they are and drafts its
// records: this is where seqs and receive times are assigned, so log order
// is seq order. Once the batch holding them is synced, the records are
// applied to their rooms and `done` learns the outcome. A failed sync is
// answered kUnavailable (503, never an ack) and takes back what sequencing
// did (seqs, replies, a room it opened); writes are refused until the log
// has recovered from it (a full disk with space back).
//
//   sequencer.Submit({
//       .prepare = [&](Sequencer::Draft& d) -> absl::Status {
//         ROOMCAST_ASSIGN_OR_RETURN(Room* room, d.Live("lobby"));
//         log::Record r = ...;   // seq from room->NextSeq(), ts from d.Stamp
//         d.Add(std::move(r));
//         return absl::OkStatus();
//       },
//       .done = [](absl::Status s) { /* OK: durable and applied */ }});
#ifndef ROOMCAST_PUBLISHER_INTERNAL_SEQUENCER_H_
#define ROOMCAST_PUBLISHER_INTERNAL_SEQUENCER_H_

#include <atomic>
#include <cstddef>
#include <string>
#include <vector>

#include "absl/functional/any_invocable.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "publisher/internal/durable_log.h"  // the default LogStore, for users
#include "publisher/internal/log_store.h"
#include "publisher/internal/room.h"
#include "publisher/internal/room_table.h"
#include "publisher/log.pb.h"

namespace roomcast::publisher::internal {

class Sequencer {
 public:
  // The records one write adds. It exists only inside `prepare`, while the
  // Sequencer holds the rooms' lock, so its room calls need no lock of
  // their own.
  class Draft {
   public:
    Room* Find(const std::string& room);
    absl::StatusOr<Room*> Live(const std::string& room);
    // A receive time for the record of `room` about to be added.
    int64_t Stamp(Room* room);
    // See RoomTable::HoldOpen.
    void HoldOpen(int64_t ts_ms);
    // See RoomTable.
    int64_t OpeningTimeMs();
    int64_t NowMs() const { return rooms_->NowMs(); }
    // Applies a record at once, before it is durable, so that later writes
    // of the same log batch see it (a room being opened).
    absl::Status ApplyNow(const log::Record& record);
    void Add(log::Record record) { records_.push_back(std::move(record)); }

   private:
    friend class Sequencer;
    explicit Draft(RoomTable* rooms) : rooms_(rooms) {}
    RoomTable* const rooms_;
    std::vector<log::Record> records_;
    size_t stamped_ = 0;
  };

  struct Write {
    // Refusing (a non-OK status) writes nothing; refuse before stamping.
    absl::AnyInvocable<absl::Status(Draft&)> prepare;
    // Once: OK when the records are durable and applied; else why not
    // (the refusal, or kUnavailable if the log write failed).
    absl::AnyInvocable<void(absl::Status)> done;
    // Receives the component a state record set, before `done`.
    v1::StateComponent* state_out = nullptr;
  };

  // More pending log jobs than this: 503, the disk is not keeping up.
  static constexpr size_t kMaxLogQueue = 20000;

  Sequencer(LogStore* log, RoomTable* rooms) : log_(log), rooms_(rooms) {}

  void Submit(Write write);
  // kUnavailable while the log cannot write, or while it is far behind.
  absl::Status Writable() const;
  bool healthy() const { return log_->writable(); }

 private:
  struct Job;
  void Prepare(Job& job, std::vector<log::Record>* out);
  void Finish(Job& job, absl::Status synced);

  LogStore* const log_;
  RoomTable* const rooms_;
};

}  // namespace roomcast::publisher::internal

#endif  // ROOMCAST_PUBLISHER_INTERNAL_SEQUENCER_H_
