// One shard's publisher log on a replicated JetStream stream (DESIGN §13,
// §14): the LogStore (log_store.h) a cluster-mode Publisher engine runs on,
// one engine per owned shard, opened with the shard lease's term.
//
// Stream RCLOG_<shard>, subjects rclog.<shard>.>, R3 file storage, one
// message per subject (so a subject holds the newest version of a value),
// duplicate window 2 min. Subjects, after "rclog.<shard>.":
//   b.<first_lsn>     a log::RecordBatch (one group commit, or a part of
//                     one over ~512 KiB)
//   c.<room>          log::RoomCheckpoint
//   p                 log::Progress
//   rp.<room>         log::RoomProgress
//   y.<room>.<lsn>    log::ReplyChunk (lsn: the checkpoint's that wrote it)
//   t                 the trim point, 8 bytes big-endian
//   g                 genesis: the first message of a new stream, so that
//                     even a term's first write has a sequence to fence on
//   x.<id>.<k>        part k (1..n-1) of a value over one message (below)
// A batch or value of 1 KiB or more is stored zstd-compressed (level 1)
// when that saves an eighth of it, with header "Rc-Encoding: zstd": chat
// records and the segments a checkpoint carries are text, and every byte
// is stored and replicated three times. A message without the header is
// the bytes themselves (what this log wrote before). Reads are bounded:
// the frame must say its size, at most kMaxValueBytes, and decompress to
// exactly that; one that does not, or an encoding not known, reads as a
// value that does not parse (quarantined).
// A deletion is an empty message with header "Rc-Deleted: 1" on the same
// subject (fenced and in order, as every write), itself deleted by
// sequence in a later checkpoint round: a tombstone is read as absence,
// and gone it leaves no subject behind (rooms' reply chunks and ended
// rooms' checkpoints would otherwise pile up in the stream for ever).
//
// A value over one JetStream message (a busy room's checkpoint holds its
// rollup window's segments: up to 4 MiB, against NATS' 1 MiB) is stored as
// n parts: parts 1..n-1 first, each at x.<id>.<k> with an id of its own
// (<term>_<n>, never reused), then the value's own subject with part 0 and
// headers Rc-Parts (n), Rc-Parts-Id, Rc-Size and Rc-Crc32 of the whole.
// The value is its head: a write cut short before it leaves the old value
// and its parts whole. Once the head is stored, the old value's parts are
// deleted by sequence; parts no head names (a write cut short) are
// deleted after the next open. A head whose parts are missing or whose
// size or CRC differ reads as a value that does not parse (quarantined).
//
// Fencing: every message is published by one writer thread, one at a time,
// with msg_id "<shard>.<term>.<n>" and the stream sequence of this writer's
// previous message as Nats-Expected-Last-Sequence; a term's first message
// (subject "e", written by Open before it reads anything) expects the
// sequence Open read just before, so the open reads a log no older owner
// can still change. Not the previous id (Nats-Expected-Last-Msg-Id): on
// nats-server 2.9.10 each replica checks it again against what it
// remembers, and one restarted after a quiet duplicate window has
// forgotten it and silently drops what the others stored (see Append). A
// failed fence whose cause is a newer writer makes
// the log permanently unwritable: fenced(), and every job fails kUnavailable
// saying the shard moved. A publish without an answer (an election: 5-6 s)
// is in doubt: it is re-published, same id and fence, until stored (a
// duplicate counts) or fenced, before anything else is written; meanwhile
// writable() is false, so new writes get 503 at once.
//
// A fenced (or otherwise stopped) log never writes again: its engine is
// dropped and the shard, if still owned, opened anew (a new JetStreamLog,
// which reads what the other writer appended).
//
//   auto log = JetStreamLog::Open({.js = js, .shard = "s07", .term = 12});
//   auto pub = Publisher::Open(options, &clock, &uploader, *std::move(log));
#ifndef ROOMCAST_PUBLISHER_INTERNAL_JETSTREAM_LOG_H_
#define ROOMCAST_PUBLISHER_INTERNAL_JETSTREAM_LOG_H_

#include <atomic>
#include <chrono>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/functional/any_invocable.h"
#include "absl/synchronization/mutex.h"
#include "cluster/jetstream.h"
#include "publisher/internal/log_store.h"

struct ZSTD_CCtx_s;

namespace roomcast::publisher::internal {

class JetStreamLog : public LogStore {
 public:
  struct Options {
    cluster::JetStream* js = nullptr;  // outlives the log
    std::string shard;                 // [A-Za-z0-9_-]{1,64}, e.g. "s07"
    uint64_t term = 0;                 // the shard lease's term, > 0
    int replicas = 3;
    size_t max_batch_bytes = 512 << 10;  // JetStream's max payload is 1 MiB
    size_t max_batch_jobs = 4096;
    // Between attempts of an in-doubt publish.
    std::chrono::milliseconds retry_interval{250};
    // The stream's duplicate window (a retried publish within it is
    // answered as a duplicate), set when the stream is made.
    std::chrono::milliseconds duplicate_window{std::chrono::minutes(2)};
    // Past this, an in-doubt publish is resolved by reading the stream's
    // last message, not by a duplicate; below duplicate_window.
    std::chrono::milliseconds resolve_by_reading_after{std::chrono::seconds(90)};
    // At shutdown, how long an in-doubt publish is still retried.
    std::chrono::milliseconds stop_bound{std::chrono::seconds(10)};
  };

  static std::string StreamName(const std::string& shard) { return "RCLOG_" + shard; }

  // Creates the stream if needed and reads it whole (start-up state).
  static absl::StatusOr<std::unique_ptr<JetStreamLog>> Open(Options options);
  // Finishes every submitted job (an in-doubt one within stop_bound).
  ~JetStreamLog() override;
  JetStreamLog(const JetStreamLog&) = delete;
  JetStreamLog& operator=(const JetStreamLog&) = delete;

  void Submit(Job job) override;
  absl::StatusOr<std::vector<log::RoomCheckpoint>> ReadCheckpoints(
      QuarantineFn quarantined,
      absl::FunctionRef<absl::Status(const log::RoomCheckpoint&)> check =
          [](const log::RoomCheckpoint&) { return absl::OkStatus(); }) override;
  absl::StatusOr<absl::flat_hash_map<std::string, std::vector<log::Reply>>>
  ReadReplies(QuarantineFn quarantined) override;
  absl::Status Replay(absl::FunctionRef<absl::Status(uint64_t, const log::Record&)> fn,
                      QuarantineFn quarantined) override;
  absl::StatusOr<log::Progress> ReadProgress() override;
  absl::StatusOr<absl::flat_hash_map<std::string, log::RoomProgress>>
  ReadRoomProgress(std::vector<std::string>* unreadable = nullptr) override;
  absl::Status WriteProgress(
      const log::Progress* progress,
      const std::vector<std::pair<std::string, log::RoomProgress>>& rooms) override;
  absl::Status WriteCheckpoint(const CheckpointWrite& w) override;

  uint64_t next_lsn() const override { return next_lsn_.load(); }
  uint64_t trim_point() const override { return trim_point_.load(); }
  bool writable() const override { return !dead_.load() && !in_doubt_.load(); }
  // A newer owner appended: this log never writes again.
  bool fenced() const override { return fenced_.load(); }

  uint64_t records_written() const override { return records_.load(); }
  uint64_t batches_written() const override { return batches_written_.load(); }
  uint64_t failed_writes() const override { return failed_writes_.load(); }
  uint64_t recoveries() const override { return recoveries_.load(); }
  uint64_t quarantined() const override { return quarantined_.load(); }
  uint64_t compactions() const override { return purges_.load(); }
  size_t queue_depth() override;

 private:
  struct Loaded;  // what the open read, until start-up consumed it
  struct BatchInfo {
    uint64_t seq = 0;  // its stream sequence; 0 if not known
    uint64_t records = 0;
  };
  // One value to publish: data, or a tombstone.
  struct Out {
    std::string subject;
    std::string data;
    bool deleted = false;
    std::map<std::string, std::string> headers;  // not with `deleted`
  };
  // A queued job, or a write run on the writer thread (`run` set).
  struct Item {
    Job job;
    absl::AnyInvocable<void()> run;
  };
  // The stream's last message: its sequence and Nats-Msg-Id.
  struct Tip {
    uint64_t seq = 0;
    std::string id;
  };

  JetStreamLog(Options options, std::unique_ptr<Loaded> loaded, uint64_t open_last_seq);
  // Every subject's one message, from the stream's leader, up to the
  // open's fence at `last_seq`.
  absl::Status Load(uint64_t last_seq);
  // What the subject listing should have held and did not (Load's check).
  absl::Status ReadUnlisted(const std::vector<std::string>& listed_subjects,
                            const std::set<std::string>& rooms, uint64_t last_seq);
  // GetLast of each subject, indexed.
  absl::Status ReadSubjects(const std::vector<std::string>& subjects, uint64_t last_seq);
  void Index(const cluster::StoredMessage& m);
  std::string Subject(absl::string_view rest) const;

  void WriterLoop();
  bool TakeItems(std::vector<Item>* items);
  void CommitJobs(std::vector<Job>& jobs);
  // Commits the jobs queued ahead of any other direct write (a direct
  // write's own messages let them through between them).
  void CommitQueuedJobs();
  absl::Status PublishBatches(std::vector<log::Record>& records);
  // Runs fn on the writer thread, in order with the jobs; its status.
  absl::Status OnWriter(absl::AnyInvocable<absl::Status()> fn);
  absl::Status CheckpointOnWriter(const CheckpointWrite& w);
  // A value at `subject` (in parts if over one message; see the top), and
  // its deletion; either drops the parts of the value it replaces.
  absl::Status PutValue(const std::string& subject, std::string data);
  absl::Status DeleteValue(const std::string& subject);
  // The parts of `subject`'s value become stray; DeleteUnread deletes stray
  // parts and tombstones (what fails, the next round).
  void DropParts(const std::string& subject);
  void DeleteUnread();
  // The whole value of a head read at open (its parts read and checked);
  // m->data cleared if they do not make it whole.
  absl::Status JoinParts(cluster::StoredMessage* m, uint64_t last_seq);
  // JetStream's default max payload is 1 MiB; headers and framing need a
  // little of it. A part of a value is at most this.
  static constexpr size_t kMaxPayload = (1 << 20) - 4096;
  // A value in parts, at most (a room's checkpoint is bounded by its
  // rollup window's 4 MiB and its state's own limits).
  static constexpr size_t kMaxValueBytes = 64 << 20;
  // Smaller batches and values are stored as they are.
  static constexpr size_t kCompressFrom = 1024;
  // Rc-Crc32 of a value in parts (zlib's CRC-32).
  static uint64_t Crc32(absl::string_view bytes);
  // `data` as it is stored: compressed, with "Rc-Encoding" in `headers`,
  // when that pays (see the overview). Writer thread only.
  std::string Encode(std::string data, std::map<std::string, std::string>* headers);
  // A message read at open back to its bytes (joined first, if in parts);
  // m->data made unparseable, and logged, if it cannot be.
  void Decode(cluster::StoredMessage* m);
  absl::Status PurgeBelow(uint64_t trim_to);
  // Publishes one message fenced on the chain, resolving doubt; its
  // stream sequence (0 if not known).
  absl::StatusOr<uint64_t> Append(const Out& out);
  absl::StatusOr<uint64_t> Stored(const cluster::Acked& a, const std::string& id,
                                  const std::string& subject);
  absl::StatusOr<Tip> ReadTip();
  enum class TipSays { kStored, kHead, kOther };
  std::optional<TipSays> Classify(const std::string& id, Tip* tip);
  bool WaitToRetry(std::optional<std::chrono::steady_clock::time_point>* stop_since);
  absl::StatusOr<uint64_t> Resolved(const std::string& id, uint64_t seq, bool doubt);
  absl::Status Refused(bool doubt, const absl::Status& s);
  // Marks the log dead (fenced or broken) and returns why jobs fail.
  absl::Status Die(bool fenced, absl::string_view why);
  absl::Status DeadStatus() const;
  bool Stopping();

  const Options options_;
  const std::string stream_;
  std::unique_ptr<Loaded> loaded_;
  struct FreeCctx {
    void operator()(ZSTD_CCtx_s* c) const;
  };
  std::unique_ptr<ZSTD_CCtx_s, FreeCctx> cctx_;  // Encode's, writer thread only
  // Writer thread only (after start-up).
  uint64_t msg_n_ = 0;
  // The stream sequence of this writer's last message; at first the one
  // Open read.
  uint64_t last_seq_;
  std::map<uint64_t, BatchInfo> batch_index_;  // by first_lsn
  absl::flat_hash_map<std::string, std::map<uint64_t, int64_t>> replies_;  // lsn -> max ts
  absl::flat_hash_set<std::string> room_progress_;
  // Each value's parts (stream sequences), and the messages nothing reads
  // any more, to delete by sequence: parts no head names, and tombstones.
  absl::flat_hash_map<std::string, std::vector<uint64_t>> parts_;
  std::vector<uint64_t> unread_;
  uint64_t parts_n_ = 0;
  // Open only: the parts the listing named, and those a value read named.
  std::vector<std::string> listed_parts_;
  std::set<std::string> named_parts_;
  std::atomic<uint64_t> next_lsn_{1};
  std::atomic<uint64_t> trim_point_{1};
  std::atomic<bool> dead_{false};
  std::atomic<bool> fenced_{false};
  std::atomic<bool> in_doubt_{false};
  std::string dead_why_ ABSL_GUARDED_BY(mu_);
  std::atomic<uint64_t> records_{0}, batches_written_{0};
  std::atomic<uint64_t> failed_writes_{0}, recoveries_{0}, quarantined_{0}, purges_{0};

  mutable absl::Mutex mu_;
  std::deque<Item> queue_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::thread writer_;
};

}  // namespace roomcast::publisher::internal

#endif  // ROOMCAST_PUBLISHER_INTERNAL_JETSTREAM_LOG_H_
