// JetStreamLog's write path: one writer thread, group commit, the fence
// chain, in-doubt publishes resolved before anything else is written, and
// the trim's purge. The open and the start-up reads are in
// jetstream_log_open.cc.
#include "publisher/internal/jetstream_log.h"

#include <zlib.h>
#include <zstd.h>

#include <algorithm>
#include <iterator>
#include <optional>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "base/log.h"
#include "base/status_macros.h"
#include "publisher/internal/log_keys.h"

namespace roomcast::publisher::internal {
uint64_t JetStreamLog::Crc32(absl::string_view bytes) {
  return crc32(0L, reinterpret_cast<const Bytef*>(bytes.data()), static_cast<uInt>(bytes.size()));
}

void JetStreamLog::FreeCctx::operator()(ZSTD_CCtx_s* c) const { ZSTD_freeCCtx(c); }

std::string JetStreamLog::Encode(std::string data, std::map<std::string, std::string>* headers) {
  if (data.size() < kCompressFrom) return data;
  if (cctx_ == nullptr) cctx_.reset(ZSTD_createCCtx());
  if (cctx_ == nullptr) return data;  // no memory for it: stored as it is
  std::string out(ZSTD_compressBound(data.size()), '\0');
  const size_t n = ZSTD_compressCCtx(cctx_.get(), out.data(), out.size(), data.data(),
                                     data.size(), 1);
  if (ZSTD_isError(n) || n > data.size() - data.size() / 8) return data;
  out.resize(n);
  (*headers)["Rc-Encoding"] = "zstd";
  return out;
}

void JetStreamLog::Submit(Job job) {
  absl::MutexLock l(&mu_);
  queue_.push_back(Item{.job = std::move(job)});
}

size_t JetStreamLog::queue_depth() {
  absl::MutexLock l(&mu_);
  return queue_.size();
}

bool JetStreamLog::Stopping() {
  absl::MutexLock l(&mu_);
  return stopping_;
}

void JetStreamLog::WriterLoop() {
  std::vector<Item> items;
  std::vector<Job> jobs;
  while (TakeItems(&items)) {
    // Jobs between two direct writes are one group commit.
    for (size_t i = 0; i < items.size(); ++i) {
      if (items[i].run) {
        if (!jobs.empty()) CommitJobs(jobs);
        jobs.clear();
        items[i].run();
      } else {
        jobs.push_back(std::move(items[i].job));
      }
    }
    if (!jobs.empty()) CommitJobs(jobs);
    jobs.clear();
    items.clear();
  }
}

bool JetStreamLog::TakeItems(std::vector<Item>* items) {
  absl::MutexLock l(&mu_);
  auto ready = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return stopping_ || !queue_.empty();
  };
  mu_.Await(absl::Condition(&ready));
  if (queue_.empty()) return false;  // stopping, and nothing left
  // Up to a direct write, which goes last: the jobs behind it stay queued,
  // for it to commit between its messages (CommitQueuedJobs).
  while (!queue_.empty() && items->size() < options_.max_batch_jobs) {
    const bool run = static_cast<bool>(queue_.front().run);
    items->push_back(std::move(queue_.front()));
    queue_.pop_front();
    if (run) break;
  }
  return true;
}

// A checkpoint round of busy rooms is many messages (a room's checkpoint
// alone up to 4 MiB, in parts): acks queued behind it would wait for all of
// them (p99 of single comments 3 s in bench/cluster.sh). Group commits go
// between its messages instead, as they go beside a checkpoint in
// DurableLog (whose checkpoint writes do not wait for its writer): a record
// appended meanwhile has an LSN past every checkpoint of the round, and
// the round's replies are only those it snapshotted (Room::SavedReplies).
void JetStreamLog::CommitQueuedJobs() {
  std::vector<Job> jobs;
  {
    absl::MutexLock l(&mu_);
    while (!queue_.empty() && !queue_.front().run && jobs.size() < options_.max_batch_jobs) {
      jobs.push_back(std::move(queue_.front().job));
      queue_.pop_front();
    }
  }
  if (!jobs.empty()) CommitJobs(jobs);
}

void JetStreamLog::CommitJobs(std::vector<Job>& jobs) {
  // A dead log runs no prepare (as DurableLog while it cannot write).
  absl::Status s = DeadStatus();
  if (s.ok()) {
    std::vector<log::Record> records;
    for (Job& j : jobs) j.prepare(&records);
    s = records.empty() ? absl::OkStatus() : PublishBatches(records);
  }
  for (Job& j : jobs) j.done(s);
}

absl::Status JetStreamLog::PublishBatches(std::vector<log::Record>& records) {
  // Cut into parts of at most max_batch_bytes, each checked against
  // JetStream's limit before any is published.
  std::vector<log::RecordBatch> parts;
  size_t bytes = 0;
  uint64_t lsn = next_lsn_.load();
  for (log::Record& r : records) {
    const size_t size = r.ByteSizeLong() + 8;
    if (parts.empty() || bytes + size > options_.max_batch_bytes) {
      parts.emplace_back().set_first_lsn(lsn);
      bytes = 0;
    }
    bytes += size;
    *parts.back().add_records() = std::move(r);
    ++lsn;
  }
  for (const log::RecordBatch& b : parts) {
    if (b.ByteSizeLong() > kMaxPayload) {
      return absl::UnavailableError("a log record is over JetStream's max payload");
    }
  }
  for (size_t i = 0; i < parts.size(); ++i) {
    const log::RecordBatch& b = parts[i];
    Out out{.subject = Subject(absl::StrCat("b.", b.first_lsn()))};
    out.data = Encode(b.SerializeAsString(), &out.headers);
    absl::StatusOr<uint64_t> seq = Append(out);
    if (!seq.ok()) {
      // A part already stored would hold LSNs the next write reuses: stop
      // writing (the shard is reopened) rather than leave that behind.
      if (i > 0 && !dead_) return Die(false, "a group commit was stored only in part");
      return absl::UnavailableError(seq.status().message());
    }
    batch_index_[b.first_lsn()] = {.seq = *seq, .records = static_cast<uint64_t>(b.records_size())};
    batches_written_.fetch_add(1);
  }
  next_lsn_ = lsn;
  records_.fetch_add(records.size());
  return absl::OkStatus();
}

absl::Status JetStreamLog::OnWriter(absl::AnyInvocable<absl::Status()> fn) {
  absl::Notification done;
  absl::Status result;
  {
    absl::MutexLock l(&mu_);
    queue_.push_back(Item{.run = [&] {
      result = DeadStatus();
      if (result.ok()) result = fn();
      done.Notify();
    }});
  }
  done.WaitForNotification();
  return result;
}

absl::Status JetStreamLog::WriteProgress(
    const log::Progress* progress,
    const std::vector<std::pair<std::string, log::RoomProgress>>& rooms) {
  std::vector<Out> outs;
  if (progress != nullptr) outs.push_back({.subject = Subject("p"), .data = progress->SerializeAsString()});
  for (const auto& [room, p] : rooms) {
    outs.push_back({.subject = Subject(absl::StrCat("rp.", room)), .data = p.SerializeAsString()});
  }
  if (outs.empty()) return absl::OkStatus();
  std::vector<std::string> names;
  for (const auto& [room, p] : rooms) names.push_back(room);
  return OnWriter([this, &outs, &names]() -> absl::Status {
    for (const Out& o : outs) ROOMCAST_RETURN_IF_ERROR(Append(o).status());
    for (const std::string& room : names) room_progress_.insert(room);
    return absl::OkStatus();
  });
}

absl::Status JetStreamLog::WriteCheckpoint(const CheckpointWrite& w) {
  return OnWriter([this, &w] { return CheckpointOnWriter(w); });
}

// Replies first, then checkpoints, then deletions, then the trim point,
// then the purge: a write cut short anywhere leaves a log that replays to
// the same rooms (a checkpoint without its trim only means replay skips
// the records it covers).
absl::Status JetStreamLog::CheckpointOnWriter(const CheckpointWrite& w) {
  auto put = [this](const std::string& subject, std::string data) {
    absl::Status s = PutValue(subject, std::move(data));
    CommitQueuedJobs();
    return s;
  };
  auto del = [this](const std::string& subject) {
    absl::Status s = DeleteValue(subject);
    CommitQueuedJobs();
    return s;
  };
  for (const CheckpointWrite::Replies& r : w.replies) {
    ROOMCAST_RETURN_IF_ERROR(put(Subject(absl::StrCat("y.", r.room, ".", r.lsn)),
                                 r.chunk.SerializeAsString()));
    replies_[r.room][r.lsn] = r.max_ts_ms;
  }
  for (const log::RoomCheckpoint& c : w.checkpoints) {
    ROOMCAST_RETURN_IF_ERROR(put(Subject(absl::StrCat("c.", c.room())), c.SerializeAsString()));
  }
  for (const auto& [room, before_ms] : w.expire_replies) {
    std::map<uint64_t, int64_t>& chunks = replies_[room];
    for (auto it = chunks.begin(); it != chunks.end();) {
      if (it->second >= before_ms) { ++it; continue; }
      ROOMCAST_RETURN_IF_ERROR(del(Subject(absl::StrCat("y.", room, ".", it->first))));
      it = chunks.erase(it);
    }
  }
  for (const std::string& room : w.forget) {
    for (const auto& [lsn, ts] : replies_[room]) {
      ROOMCAST_RETURN_IF_ERROR(del(Subject(absl::StrCat("y.", room, ".", lsn))));
    }
    replies_.erase(room);
    if (room_progress_.erase(room) > 0) ROOMCAST_RETURN_IF_ERROR(del(Subject(absl::StrCat("rp.", room))));
  }
  for (const std::string& room : w.erase_checkpoints) {
    ROOMCAST_RETURN_IF_ERROR(del(Subject(absl::StrCat("c.", room))));
  }
  if (w.trim_to > trim_point_.load()) {
    ROOMCAST_RETURN_IF_ERROR(put(Subject("t"), EncodeBigEndian(w.trim_to)));
    trim_point_ = w.trim_to;
  }
  DeleteUnread();
  // A purge that fails is tried again after the next checkpoint.
  if (absl::Status s = PurgeBelow(trim_point_.load()); !s.ok()) {
    ROOMCAST_LOG(kWarning, "publisher", "log_purge_failed").Kv("status", s);
  }
  return absl::OkStatus();
}

absl::Status JetStreamLog::PutValue(const std::string& subject, std::string value) {
  if (value.size() > kMaxValueBytes) {
    return absl::OutOfRangeError(absl::StrCat(subject, ": a value of ", value.size(),
                                              " bytes is over the log's ", kMaxValueBytes));
  }
  std::map<std::string, std::string> encoding;
  std::string data = Encode(std::move(value), &encoding);
  if (data.size() <= kMaxPayload) {
    ROOMCAST_RETURN_IF_ERROR(
        Append({.subject = subject, .data = std::move(data), .headers = std::move(encoding)})
            .status());
    DropParts(subject);
    return absl::OkStatus();
  }
  const std::string id = absl::StrCat(options_.term, "_", ++parts_n_);
  const size_t n = (data.size() + kMaxPayload - 1) / kMaxPayload;
  std::vector<uint64_t> seqs;
  auto cut_short = [&](const absl::Status& s) {
    unread_.insert(unread_.end(), seqs.begin(), seqs.end());
    return s;
  };
  for (size_t k = 1; k < n; ++k) {
    absl::StatusOr<uint64_t> seq =
        Append({.subject = Subject(absl::StrCat("x.", id, ".", k)),
                .data = data.substr(k * kMaxPayload, kMaxPayload)});
    if (!seq.ok()) return cut_short(seq.status());
    if (*seq != 0) seqs.push_back(*seq);
    CommitQueuedJobs();
  }
  Out head{.subject = subject,
           .data = data.substr(0, kMaxPayload),
           .headers = {{"Rc-Parts", absl::StrCat(n)},
                       {"Rc-Parts-Id", id},
                       {"Rc-Size", absl::StrCat(data.size())},
                       {"Rc-Crc32", absl::StrCat(Crc32(data))}}};
  head.headers.insert(encoding.begin(), encoding.end());
  if (absl::Status s = Append(head).status(); !s.ok()) return cut_short(s);
  DropParts(subject);
  parts_[subject] = std::move(seqs);
  return absl::OkStatus();
}

absl::Status JetStreamLog::DeleteValue(const std::string& subject) {
  ROOMCAST_ASSIGN_OR_RETURN(const uint64_t seq, Append({.subject = subject, .deleted = true}));
  if (seq != 0) unread_.push_back(seq);
  DropParts(subject);
  return absl::OkStatus();
}

void JetStreamLog::DropParts(const std::string& subject) {
  if (auto it = parts_.find(subject); it != parts_.end()) {
    unread_.insert(unread_.end(), it->second.begin(), it->second.end());
    parts_.erase(it);
  }
}

// Deletes by sequence, as PurgeBelow does (and safe for the same reason:
// a message this writer stored, or one it read at its open, so never a
// newer owner's; and a tombstone means what its absence means). Never the
// stream's last message: Classify reads it to resolve a publish in doubt
// (it goes in a later round). Once per checkpoint round: a delete that
// fails is tried again in the next.
void JetStreamLog::DeleteUnread() {
  std::vector<uint64_t> later;
  for (size_t i = 0; i < unread_.size(); ++i) {
    const uint64_t seq = unread_[i];
    if (seq >= last_seq_) {
      later.push_back(seq);
      continue;
    }
    absl::Status s = options_.js->DeleteMsg(stream_, seq);
    if (!s.ok() && !absl::IsNotFound(s)) {
      ROOMCAST_LOG(kWarning, "publisher", "log_delete_failed")
          .Kv("shard", options_.shard)
          .Kv("seq", static_cast<int64_t>(seq))
          .Kv("status", s);
      later.insert(later.end(), unread_.begin() + static_cast<ptrdiff_t>(i), unread_.end());
      break;
    }
  }
  unread_ = std::move(later);
}

// JetStream does not fence a purge, and a paused old owner may purge after
// a newer one took over. It still cannot remove what the newer owner
// needs: it purges only batch subjects (b.>), only below the stream
// sequence of a batch it stored itself, so never a message appended after
// its own (every newer owner's message is); and only batches wholly below
// a trim point whose "t" message it stored first, with the checkpoints
// covering them before it. A newer owner either read that "t" and those
// checkpoints at its open (it needs nothing below them), or opened before
// they were stored, and then its first write is fenced (it reopens).
absl::Status JetStreamLog::PurgeBelow(uint64_t trim_to) {
  auto it = batch_index_.begin();  // to the first batch that must stay
  for (; it != batch_index_.end(); ++it) {
    if (it->first + it->second.records > trim_to) break;
    if (it->second.seq == 0) break;  // its sequence is not known: no further
  }
  if (it == batch_index_.begin()) return absl::OkStatus();
  // One delete per batch, by its sequence: a purge (filtered, with a
  // sequence or by exact subject) is replayed by nats-server 2.9.10 onto a
  // restarted replica so that other subjects' older messages go too
  // (measured: rooms' checkpoints lost after a purge, a follower's restart
  // and a leader kill); a delete names its one message.
  for (auto b = batch_index_.begin(); b != it;) {
    absl::Status s = options_.js->DeleteMsg(stream_, b->second.seq);
    if (!s.ok() && !absl::IsNotFound(s)) return s;  // the rest next time
    b = batch_index_.erase(b);
  }
  purges_.fetch_add(1);
  return absl::OkStatus();
}

absl::Status JetStreamLog::DeadStatus() const {
  if (!dead_.load()) return absl::OkStatus();
  absl::MutexLock l(&mu_);
  return absl::UnavailableError(dead_why_);
}

absl::Status JetStreamLog::Die(bool fenced, absl::string_view why) {
  const std::string msg =
      fenced ? absl::StrCat("shard ", options_.shard, " moved to a newer owner (this one's term ",
                            options_.term, "); retry: ", why)
             : absl::StrCat("the log of shard ", options_.shard, " stopped writing (", why,
                            "); retry");
  {
    absl::MutexLock l(&mu_);
    if (!dead_.load()) dead_why_ = msg;
  }
  if (fenced) fenced_ = true;
  if (!dead_.exchange(true)) {
    ROOMCAST_LOG(kError, "publisher", fenced ? "log_fenced" : "log_stopped")
        .Kv("shard", options_.shard)
        .Kv("term", static_cast<int64_t>(options_.term))
        .Kv("why", why);
  }
  return absl::UnavailableError(msg);
}

absl::StatusOr<JetStreamLog::Tip> JetStreamLog::ReadTip() {
  ROOMCAST_ASSIGN_OR_RETURN(cluster::StreamState st, options_.js->State(stream_));
  Tip t{.seq = st.last_seq};
  if (t.seq == 0) return t;
  absl::StatusOr<cluster::StoredMessage> m = options_.js->Get(stream_, t.seq);
  if (m.ok()) {
    auto h = m->headers.find("Nats-Msg-Id");
    if (h != m->headers.end()) t.id = h->second;
  } else if (!absl::IsNotFound(m.status())) {
    return m.status();
  }
  return t;
}

absl::StatusOr<uint64_t> JetStreamLog::Stored(const cluster::Acked& a, const std::string& id,
                                              const std::string& subject) {
  if (a.seq != 0) return a.seq;
  // A duplicate of a publish still in flight has no sequence yet: the
  // purge needs it, so read it back (0 if not found: purged no further).
  absl::StatusOr<cluster::StoredMessage> m = options_.js->GetLast(stream_, subject);
  if (m.ok() && m->headers["Nats-Msg-Id"] == id) return m->seq;
  return 0;
}

// What the stream's last message says about a publish of `id`: stored
// (it is ours), not stored (it is the chain's head, our previous one), or
// another writer's; nullopt if it cannot be read now.
std::optional<JetStreamLog::TipSays> JetStreamLog::Classify(const std::string& id, Tip* tip) {
  absl::StatusOr<Tip> t = ReadTip();
  if (!t.ok()) return std::nullopt;
  *tip = *t;
  if (t->id == id) return TipSays::kStored;
  return t->seq == last_seq_ ? TipSays::kHead : TipSays::kOther;
}

// Before another attempt of an in-doubt publish; false once it has been
// retried for stop_bound after shutdown began.
bool JetStreamLog::WaitToRetry(std::optional<std::chrono::steady_clock::time_point>* stop_since) {
  if (Stopping()) {
    const auto now = std::chrono::steady_clock::now();
    if (!*stop_since) *stop_since = now;
    if (now - **stop_since > options_.stop_bound) return false;
  }
  std::this_thread::sleep_for(options_.retry_interval);
  return true;
}

absl::StatusOr<uint64_t> JetStreamLog::Resolved(const std::string& id, uint64_t seq, bool doubt) {
  last_seq_ = seq;
  if (doubt) {
    recoveries_.fetch_add(1);
    in_doubt_ = false;
    ROOMCAST_LOG(kWarning, "publisher", "log_doubt_resolved")
        .Kv("shard", options_.shard)
        .Kv("msg_id", id);
  }
  return seq;
}

// One message on the fence chain: it expects the stream's last sequence to
// be that of this writer's previous message (for a term's first, the one
// Open read). Not the previous message's id (Nats-Expected-Last-Msg-Id):
// nats-server 2.9.10 checks a publish's expectations again on each replica
// as it applies it, and a replica restarted after the stream was quiet for
// longer than the duplicate window no longer knows the last id; it refuses
// what the leader stored and acked, and silently holds less (measured:
// JetStreamLogNodeTest). Every replica knows its last sequence from its
// store; one that disagrees is reset by the server from the leader. This
// writer has one message in flight at a time, so the sequence is a fence.
//
// An answer that does not come (kUnavailable) leaves the message in doubt:
// the same message, same id, same fence, is published again until
// JetStream answers (a duplicate means stored; past the duplicate window's
// margin, the stream's last message decides). A failed fence is checked
// against the last message: ours (stored after all) or another writer's
// (fenced for good); if it is still our previous one, the refusal was not
// the fence's (a limit).
absl::StatusOr<uint64_t> JetStreamLog::Append(const Out& out) {
  const std::string id = absl::StrCat(options_.shard, ".", options_.term, ".", ++msg_n_);
  const cluster::Fence fence{.msg_id = id, .expected_last_seq = last_seq_};
  static const std::map<std::string, std::string> kTombstone = {{"Rc-Deleted", "1"}};
  const std::map<std::string, std::string>& headers = out.deleted ? kTombstone : out.headers;
  const auto start = std::chrono::steady_clock::now();
  std::optional<std::chrono::steady_clock::time_point> stop_since;
  bool doubt = false;
  Tip tip;
  for (;;) {
    if (doubt) {
      if (!WaitToRetry(&stop_since)) return Die(false, "a publish still in doubt at shutdown");
      if (std::chrono::steady_clock::now() - start > options_.resolve_by_reading_after) {
        std::optional<TipSays> says = Classify(id, &tip);
        if (!says) continue;
        if (*says == TipSays::kStored) return Resolved(id, tip.seq, doubt);
        if (*says == TipSays::kOther) return Die(true, "another writer appended while in doubt");
      }
    }
    absl::StatusOr<cluster::Acked> a =
        options_.js->PublishWithHeaders(out.subject, out.data, headers, fence);
    if (a.ok()) {
      ROOMCAST_ASSIGN_OR_RETURN(uint64_t seq, Stored(*a, id, out.subject));
      if (seq == 0) {  // a duplicate whose sequence did not come back: the tip's
        std::optional<TipSays> says = Classify(id, &tip);
        if (says == TipSays::kStored) {
          seq = tip.seq;
        } else {
          return Die(says == TipSays::kOther, "a stored message's sequence is not known");
        }
      }
      return Resolved(id, seq, doubt);
    }
    failed_writes_.fetch_add(1);
    if (absl::IsFailedPrecondition(a.status())) {
      std::optional<TipSays> says = Classify(id, &tip);
      if (says == TipSays::kStored) return Resolved(id, tip.seq, doubt);
      if (says == TipSays::kOther) return Die(true, a.status().message());
      // Refused, and not by a fence (a limit): not stored, unless unread.
      if (says == TipSays::kHead) return Refused(doubt, a.status());
    } else if (!absl::IsUnavailable(a.status())) {
      return Refused(doubt, a.status());
    }
    if (!doubt) {
      ROOMCAST_LOG(kWarning, "publisher", "log_publish_in_doubt")
          .Kv("shard", options_.shard)
          .Kv("msg_id", id)
          .Kv("status", a.status());
    }
    doubt = in_doubt_ = true;
  }
}

// A publish JetStream refused: not stored, so its jobs fail and the chain
// goes on; but after a doubt a refusal proves nothing, and the log stops.
absl::Status JetStreamLog::Refused(bool doubt, const absl::Status& s) {
  if (doubt) return Die(false, s.message());
  return absl::UnavailableError(s.message());
}

}  // namespace roomcast::publisher::internal
