// JetStreamLog's start: the stream made or found, read whole once (one
// bounded scan), and what the start-up reads (checkpoints, replies,
// records, progress) served from that. The write path is jetstream_log.cc.
#include <zstd.h>

#include <algorithm>
#include <optional>
#include <set>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "base/ids.h"
#include "base/log.h"
#include "base/status_macros.h"
#include "publisher/internal/jetstream_log.h"
#include "publisher/internal/log_keys.h"

namespace roomcast::publisher::internal {

// Every subject's newest value as the open read it.
struct JetStreamLog::Loaded {
  std::map<uint64_t, std::string> batches;  // first_lsn -> RecordBatch bytes
  std::map<std::string, std::string> checkpoints;  // room -> bytes
  std::map<std::string, std::string> room_progress;
  std::map<std::pair<std::string, uint64_t>, std::string> replies;
  std::optional<std::string> progress;
  uint64_t trim = 1;
};

namespace {

// LSNs read back are input: far below where adding a batch's count could
// wrap, and far above any log's (2^62 records at a million a second is
// 146,000 years).
constexpr uint64_t kMaxLsn = uint64_t{1} << 62;
// Tip read + the term's first message, while an old owner may still be
// appending: each attempt takes a round trip or two.
constexpr int kOpenAttempts = 20;

bool IsTombstone(const cluster::StoredMessage& m) {
  auto it = m.headers.find("Rc-Deleted");
  return it != m.headers.end() && it->second == "1";
}

std::string HeaderOf(const cluster::StoredMessage& m, const char* name) {
  auto it = m.headers.find(name);
  return it == m.headers.end() ? std::string() : it->second;
}

// What a value in parts that cannot be made whole reads as: no message
// parses from it (field number 0), so it is quarantined like any value
// that does not parse.
constexpr absl::string_view kUnjoinable = "\x07";

}  // namespace

absl::StatusOr<std::unique_ptr<JetStreamLog>> JetStreamLog::Open(Options o) {
  if (o.js == nullptr) return absl::InvalidArgumentError("no JetStream");
  if (!base::IsValidId(o.shard)) {
    return absl::InvalidArgumentError("shard must be [A-Za-z0-9_-]{1,64}");
  }
  if (o.term == 0) return absl::InvalidArgumentError("term must be > 0");
  if (o.resolve_by_reading_after >= o.duplicate_window) {
    return absl::InvalidArgumentError("resolve_by_reading_after must be below duplicate_window");
  }
  const std::string stream = StreamName(o.shard);
  absl::Status made = o.js->EnsureStream({.name = stream,
                                          .subjects = {absl::StrCat("rclog.", o.shard, ".>")},
                                          .replicas = o.replicas,
                                          .duplicate_window = o.duplicate_window,
                                          .max_msgs_per_subject = 1});
  // JetStream error 10005: fewer servers than replicas are known now (a
  // cluster still forming, a node down): retryable, not a bad config.
  if (absl::IsFailedPrecondition(made) && absl::StrContains(made.message(), "no suitable peers")) {
    return absl::UnavailableError(made.message());
  }
  ROOMCAST_RETURN_IF_ERROR(made);
  // The term's first message (subject "e") is written before anything is
  // read: once it is stored no older owner can append (their fences name
  // an earlier tip), so the read below sees the whole log as it stays.
  // Read first, and an old owner still appending (its lease thread late)
  // would overwrite subjects between the tip read and theirs (one message
  // per subject): the new owner opened without a room's records or
  // progress. The old owner may append between the tip read and the
  // marker: then the marker's fence fails, and it is tried again.
  absl::Status last_error;
  for (int attempt = 0; attempt < kOpenAttempts; ++attempt) {
    ROOMCAST_ASSIGN_OR_RETURN(cluster::StreamState st, o.js->State(stream));
    uint64_t last = st.last_seq;
    if (last == 0) {
      // A new stream: its first message, the same id from any would-be
      // owner (one is stored), is what a term's first write fences on.
      ROOMCAST_ASSIGN_OR_RETURN(
          cluster::Acked g,
          o.js->Publish(absl::StrCat("rclog.", o.shard, ".g"), "",
                        {.msg_id = absl::StrCat(o.shard, ".genesis")}));
      if (g.seq != 1) {
        last_error = absl::UnavailableError(
            absl::StrCat("stream ", stream, " changed while it was made"));
        continue;
      }
      last = 1;
    }
    std::unique_ptr<JetStreamLog> log(new JetStreamLog(o, std::make_unique<Loaded>(), last));
    absl::StatusOr<uint64_t> marker = log->Append(
        {.subject = log->Subject("e"), .data = absl::StrCat(o.term)});
    if (!marker.ok()) {
      if (!log->fenced()) return marker.status();
      last_error = marker.status();  // another writer appended since the tip read
      continue;
    }
    ROOMCAST_RETURN_IF_ERROR(log->Load(*marker));
    log->writer_ = std::thread([p = log.get()] { p->WriterLoop(); });
    return log;
  }
  return absl::UnavailableError(absl::StrCat("stream ", stream, " kept moving while opened (",
                                             last_error.message(), "); open again"));
}

JetStreamLog::JetStreamLog(Options options, std::unique_ptr<Loaded> loaded,
                           uint64_t open_last_seq)
    : options_(std::move(options)),
      stream_(StreamName(options_.shard)),
      loaded_(std::move(loaded)),
      last_seq_(open_last_seq) {}

// Here, where Loaded is complete.
JetStreamLog::~JetStreamLog() {
  {
    absl::MutexLock l(&mu_);
    stopping_ = true;
  }
  if (writer_.joinable()) writer_.join();
}

std::string JetStreamLog::Subject(absl::string_view rest) const {
  return absl::StrCat("rclog.", options_.shard, ".", rest);
}

// Every subject's message, read from the stream's leader: the subjects it
// lists, then the one message of each (one per subject). Not through a
// consumer: one may sit on a replica that is behind and deliver an older
// version of a subject, or none, while saying it is done (measured in the
// mixed-kill test: a new owner opened with a room's stale checkpoint and
// handed its seqs out again). One request per subject is slower (about
// 0.3 ms each); the trim keeps their number to what is unpublished.
absl::Status JetStreamLog::Load(uint64_t last_seq) {
  ROOMCAST_ASSIGN_OR_RETURN(std::vector<std::string> subjects,
                            options_.js->Subjects(stream_, Subject(">")));
  ROOMCAST_RETURN_IF_ERROR(ReadSubjects(subjects, last_seq));
  Loaded& l = *loaded_;
  uint64_t next = 1;
  std::set<std::string> rooms;  // those the batches name
  for (const auto& [first, bytes] : l.batches) {
    log::RecordBatch b;
    uint64_t n = 1;  // unreadable: at least its first LSN is used
    if (ParseStored(bytes, &b) && b.first_lsn() == first) {
      n = static_cast<uint64_t>(b.records_size());
      for (const log::Record& r : b.records()) {
        if (base::IsValidId(r.room())) rooms.insert(r.room());
      }
    }
    batch_index_[first].records = n;
    next = std::max(next, first + n);
  }
  ROOMCAST_RETURN_IF_ERROR(ReadUnlisted(subjects, rooms, last_seq));
  // Parts no value names (a write cut short), known only once every value
  // was read (the listing can miss one): deleted after the first value
  // this owner writes.
  for (const std::string& subject : listed_parts_) {
    if (named_parts_.contains(subject)) continue;
    absl::StatusOr<cluster::StoredMessage> m = options_.js->GetLast(stream_, subject);
    if (absl::IsNotFound(m.status())) continue;
    ROOMCAST_RETURN_IF_ERROR(m.status());
    if (m->seq <= last_seq) unread_.push_back(m->seq);
  }
  listed_parts_.clear();
  named_parts_.clear();
  next = std::max(next, l.trim);
  for (const auto& [key, bytes] : l.replies) next = std::max(next, key.second + 1);
  next_lsn_ = next;
  trim_point_ = l.trim;
  ROOMCAST_LOG(kInfo, "publisher", "jetstream_log_opened")
      .Kv("shard", options_.shard)
      .Kv("term", static_cast<int64_t>(options_.term))
      .Kv("last_seq", static_cast<int64_t>(last_seq))
      .Kv("batches", static_cast<int64_t>(l.batches.size()))
      .Kv("next_lsn", static_cast<int64_t>(next))
      .Kv("trim", static_cast<int64_t>(l.trim));
  return absl::OkStatus();
}

// The listing is checked against direct reads of what must be there: the
// singletons, and the checkpoint and progress of every room a batch names.
// nats-server 2.9's per-subject index has been seen to miss subjects after
// filtered purges and restarts (the mixed-kill test: a new owner opened
// without its rooms' checkpoints and the trim point).
absl::Status JetStreamLog::ReadUnlisted(const std::vector<std::string>& listed_subjects,
                                        const std::set<std::string>& rooms, uint64_t last_seq) {
  const std::set<std::string> listed(listed_subjects.begin(), listed_subjects.end());
  std::vector<std::string> missed;
  auto check = [&](std::string subject) {
    if (!listed.contains(subject)) missed.push_back(std::move(subject));
  };
  check(Subject("p"));
  check(Subject("t"));
  for (const std::string& room : rooms) {
    check(Subject(absl::StrCat("c.", room)));
    check(Subject(absl::StrCat("rp.", room)));
  }
  std::vector<std::string> found;
  for (const std::string& subject : missed) {
    absl::StatusOr<cluster::StoredMessage> m = options_.js->GetLast(stream_, subject);
    if (absl::IsNotFound(m.status())) continue;
    ROOMCAST_RETURN_IF_ERROR(m.status());
    found.push_back(subject);
  }
  if (found.empty()) return absl::OkStatus();
  ROOMCAST_LOG(kWarning, "publisher", "jetstream_listing_incomplete")
      .Kv("shard", options_.shard)
      .Kv("found_unlisted", static_cast<int64_t>(found.size()))
      .Kv("first", found.front());
  return ReadSubjects(found, last_seq);
}

absl::Status JetStreamLog::ReadSubjects(const std::vector<std::string>& subjects,
                                        uint64_t last_seq) {
  const std::string parts = Subject("x.");
  for (const std::string& subject : subjects) {
    if (absl::StartsWith(subject, parts)) {  // read with its value
      listed_parts_.push_back(subject);
      continue;
    }
    absl::StatusOr<cluster::StoredMessage> m = options_.js->GetLast(stream_, subject);
    if (absl::IsNotFound(m.status())) continue;  // purged since it was listed
    ROOMCAST_RETURN_IF_ERROR(m.status());
    // Nothing lands after the term's first message but this owner's own
    // writes, and none was made yet.
    if (m->seq > last_seq) {
      return absl::UnavailableError(absl::StrCat(subject, " changed after the open's fence (#",
                                                 m->seq, " > #", last_seq, "); open again"));
    }
    if (!HeaderOf(*m, "Rc-Parts").empty()) ROOMCAST_RETURN_IF_ERROR(JoinParts(&*m, last_seq));
    Decode(&*m);
    Index(*m);
  }
  return absl::OkStatus();
}

absl::Status JetStreamLog::JoinParts(cluster::StoredMessage* m, uint64_t last_seq) {
  auto broken = [&](absl::string_view why) {
    ROOMCAST_LOG(kError, "publisher", "log_value_parts_broken")
        .Kv("shard", options_.shard)
        .Kv("subject", m->subject)
        .Kv("why", why);
    m->data = std::string(kUnjoinable);
    return absl::OkStatus();
  };
  uint64_t n = 0, size = 0, crc = 0;
  const std::string id = HeaderOf(*m, "Rc-Parts-Id");
  if (!absl::SimpleAtoi(HeaderOf(*m, "Rc-Parts"), &n) || n < 2 ||
      n > kMaxValueBytes / kMaxPayload + 1 || !absl::SimpleAtoi(HeaderOf(*m, "Rc-Size"), &size) ||
      size > kMaxValueBytes || !absl::SimpleAtoi(HeaderOf(*m, "Rc-Crc32"), &crc) ||
      !base::IsValidId(id)) {
    return broken("its parts headers do not parse");
  }
  std::string whole = std::move(m->data);
  std::vector<uint64_t>& seqs = parts_[m->subject];  // dropped with the value
  for (uint64_t k = 1; k < n; ++k) {
    const std::string subject = Subject(absl::StrCat("x.", id, ".", k));
    absl::StatusOr<cluster::StoredMessage> p = options_.js->GetLast(stream_, subject);
    if (absl::IsNotFound(p.status())) return broken(absl::StrCat("part ", k, " is missing"));
    ROOMCAST_RETURN_IF_ERROR(p.status());
    if (p->seq > last_seq) {
      return absl::UnavailableError(absl::StrCat(subject, " changed after the open's fence (#",
                                                 p->seq, " > #", last_seq, "); open again"));
    }
    seqs.push_back(p->seq);
    named_parts_.insert(subject);
    if (whole.size() + p->data.size() > size) return broken("its parts are over its size");
    whole += p->data;
  }
  if (whole.size() != size || Crc32(whole) != crc) return broken("its size or CRC differ");
  m->data = std::move(whole);
  return absl::OkStatus();
}

void JetStreamLog::Decode(cluster::StoredMessage* m) {
  const std::string encoding = HeaderOf(*m, "Rc-Encoding");
  if (encoding.empty() || m->data == kUnjoinable) return;
  auto broken = [&](absl::string_view why) {
    ROOMCAST_LOG(kError, "publisher", "log_value_undecodable")
        .Kv("shard", options_.shard)
        .Kv("subject", m->subject)
        .Kv("encoding", encoding)
        .Kv("why", why);
    m->data = std::string(kUnjoinable);
  };
  if (encoding != "zstd") return broken("the encoding is not known");
  // Bounded before anything is allocated: the frame says its size.
  const unsigned long long size = ZSTD_getFrameContentSize(m->data.data(), m->data.size());
  if (size == ZSTD_CONTENTSIZE_UNKNOWN || size == ZSTD_CONTENTSIZE_ERROR) {
    return broken("the frame does not say its size");
  }
  if (size > kMaxValueBytes) return broken("its size is over the log's limit");
  std::string out(static_cast<size_t>(size), '\0');
  const size_t n = ZSTD_decompress(out.data(), out.size(), m->data.data(), m->data.size());
  if (ZSTD_isError(n)) return broken(ZSTD_getErrorName(n));
  if (n != out.size()) return broken("it is shorter than its frame says");
  m->data = std::move(out);
}

// One stored message into the start-up state. Subjects not of this
// layout, and values of the wrong shape, are skipped (and logged).
void JetStreamLog::Index(const cluster::StoredMessage& m) {
  const std::string prefix = Subject("");
  std::vector<std::string> t;
  if (m.subject.rfind(prefix, 0) == 0) {
    t = absl::StrSplit(m.subject.substr(prefix.size()), '.');
  }
  const bool del = IsTombstone(m);
  if (del) unread_.push_back(m.seq);  // an older owner's, not yet deleted
  Loaded& l = *loaded_;
  uint64_t n = 0;
  if (t.size() == 2 && t[0] == "b" && absl::SimpleAtoi(t[1], &n) && n > 0 && n < kMaxLsn) {
    if (del) {
      l.batches.erase(n);
      batch_index_.erase(n);
    } else {
      l.batches[n] = m.data;
      batch_index_[n].seq = m.seq;
    }
  } else if (t.size() == 2 && (t[0] == "c" || t[0] == "rp") && base::IsValidId(t[1])) {
    auto& map = t[0] == "c" ? l.checkpoints : l.room_progress;
    if (del) map.erase(t[1]); else map[t[1]] = m.data;
    if (t[0] == "rp" && !del) room_progress_.insert(t[1]);
    if (t[0] == "rp" && del) room_progress_.erase(t[1]);
  } else if (t.size() == 3 && t[0] == "y" && base::IsValidId(t[1]) &&
             absl::SimpleAtoi(t[2], &n) && n < kMaxLsn) {
    if (del) {
      l.replies.erase({t[1], n});
      replies_[t[1]].erase(n);
      return;
    }
    l.replies[{t[1], n}] = m.data;
    log::ReplyChunk chunk;
    int64_t max_ts = 0;
    if (ParseStored(m.data, &chunk)) {
      for (const log::Reply& r : chunk.replies()) max_ts = std::max(max_ts, r.ts_ms());
    }
    replies_[t[1]][n] = max_ts;
  } else if (t.size() == 1 && t[0] == "p") {
    if (del) l.progress.reset(); else l.progress = m.data;
  } else if (t.size() == 1 && t[0] == "t" && m.data.size() == 8 &&
             DecodeBigEndian(m.data) < kMaxLsn) {
    l.trim = std::max<uint64_t>(1, DecodeBigEndian(m.data));
  } else if (!(t.size() == 1 && (t[0] == "g" || t[0] == "e"))) {
    ROOMCAST_LOG(kWarning, "publisher", "jetstream_log_unknown_subject")
        .Kv("subject", m.subject)
        .Kv("seq", static_cast<int64_t>(m.seq));
  }
}

absl::StatusOr<std::vector<log::RoomCheckpoint>> JetStreamLog::ReadCheckpoints(
    QuarantineFn quarantined,
    absl::FunctionRef<absl::Status(const log::RoomCheckpoint&)> check) {
  std::vector<log::RoomCheckpoint> out;
  if (loaded_ == nullptr) return out;
  for (const auto& [room, bytes] : loaded_->checkpoints) {
    log::RoomCheckpoint c;
    absl::Status ok = ParseStored(bytes, &c) && c.room() == room
                          ? check(c)
                          : absl::DataLossError("the checkpoint does not parse");
    if (!ok.ok()) {
      quarantined_.fetch_add(1);
      ROOMCAST_LOG(kError, "publisher", "log_value_quarantined")
          .Kv("room", room)
          .Kv("subject", Subject(absl::StrCat("c.", room)))
          .Kv("reason", ok.message());
      quarantined(room, CheckpointKey(room), std::string(ok.message()));
      continue;
    }
    next_lsn_ = std::max(next_lsn_.load(), std::min(c.lsn(), kMaxLsn) + 1);
    out.push_back(std::move(c));
  }
  return out;
}

absl::StatusOr<absl::flat_hash_map<std::string, std::vector<log::Reply>>>
JetStreamLog::ReadReplies(QuarantineFn quarantined) {
  absl::flat_hash_map<std::string, std::vector<log::Reply>> out;
  if (loaded_ == nullptr) return out;
  // By (room, lsn): each room's chunks oldest first.
  for (const auto& [key, bytes] : loaded_->replies) {
    log::ReplyChunk chunk;
    if (!ParseStored(bytes, &chunk)) {
      quarantined_.fetch_add(1);
      ROOMCAST_LOG(kError, "publisher", "log_value_quarantined")
          .Kv("room", key.first)
          .Kv("reason", "reply chunk does not parse");
      quarantined(key.first, RepliesKey(key.first, 0, key.second),
                  "reply chunk does not parse");
      continue;
    }
    std::vector<log::Reply>& r = out[key.first];
    for (log::Reply& reply : *chunk.mutable_replies()) r.push_back(std::move(reply));
  }
  return out;
}

absl::Status JetStreamLog::Replay(
    absl::FunctionRef<absl::Status(uint64_t, const log::Record&)> fn,
    QuarantineFn quarantined) {
  if (loaded_ == nullptr) return absl::OkStatus();
  const uint64_t trim = trim_point_.load();
  auto quarantine = [&](uint64_t lsn, const std::string& room, absl::string_view why) {
    quarantined_.fetch_add(1);
    ROOMCAST_LOG(kError, "publisher", "log_value_quarantined")
        .Kv("room", room)
        .Kv("lsn", static_cast<int64_t>(lsn))
        .Kv("reason", why);
    quarantined(room, LogKey(lsn), std::string(why));
  };
  uint64_t replayed_end = 0;  // past the last batch replayed
  for (const auto& [first, bytes] : loaded_->batches) {
    log::RecordBatch b;
    if (!ParseStored(bytes, &b) || b.first_lsn() != first) {
      quarantine(first, "", "the record batch does not parse");
      continue;
    }
    if (first < replayed_end) {
      // Overlaps the batch before it (not a layout this log writes).
      quarantine(first, "", "the record batch overlaps the one before it");
      continue;
    }
    replayed_end = first + static_cast<uint64_t>(b.records_size());
    for (int i = 0; i < b.records_size(); ++i) {
      const uint64_t lsn = first + static_cast<uint64_t>(i);
      if (lsn < trim) continue;
      absl::Status applied = fn(lsn, b.records(i));
      if (!applied.ok()) quarantine(lsn, b.records(i).room(), applied.message());
    }
  }
  loaded_->batches.clear();  // replayed once; their memory goes
  return absl::OkStatus();
}

absl::StatusOr<log::Progress> JetStreamLog::ReadProgress() {
  log::Progress p;
  if (loaded_ == nullptr || !loaded_->progress) return p;
  if (!ParseStored(*loaded_->progress, &p)) {
    // As DurableLog: "nothing acknowledged", everything re-published.
    ROOMCAST_LOG(kError, "publisher", "progress_unreadable");
    return log::Progress();
  }
  return p;
}

absl::StatusOr<absl::flat_hash_map<std::string, log::RoomProgress>>
JetStreamLog::ReadRoomProgress(std::vector<std::string>* unreadable) {
  absl::flat_hash_map<std::string, log::RoomProgress> out;
  if (loaded_ == nullptr) return out;
  for (const auto& [room, bytes] : loaded_->room_progress) {
    log::RoomProgress p;
    if (ParseStored(bytes, &p)) {
      out[room] = p;
    } else if (unreadable != nullptr) {
      unreadable->push_back(room);
    }
  }
  return out;
}

}  // namespace roomcast::publisher::internal
