#include "origin/jetstream_store.h"

#include <algorithm>
#include <thread>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "base/crypto.h"
#include "base/log.h"
#include "base/status_macros.h"
#include "segmenter/naming.h"

namespace roomcast::origin {
namespace {

using cluster::Fence;

constexpr char kKindHeader[] = "Rc-Kind";
constexpr char kOriginHeader[] = "Rc-Origin";
constexpr char kMetaHeader[] = "Rc-Meta";
constexpr char kWatermarkHeader[] = "Rc-Watermark";
constexpr char kReplaced[] = "replaced";
// Headers and JetStream's own beside a message's bytes, at most.
constexpr int64_t kHeaderAllowance = 4096;
// A RoomMeta in a notice header, at most (it is ~100 bytes).
constexpr size_t kMaxMetaHeader = 2048;
constexpr int kWatermarkAttempts = 8;
// Parts of one object at most (64 MiB at NATS' default 1 MiB messages).
constexpr uint32_t kMaxParts = 64;

// Where the parts of an object at `key` go: under its room, so the room's
// sweep removes them too.
std::string PartKey(absl::string_view key, const std::string& parts_digest, uint32_t i) {
  std::vector<absl::string_view> t = absl::StrSplit(key, '/');
  const std::string room = t.size() >= 2 ? absl::StrCat(t[0], "/", t[1], "/") : "";
  return absl::StrCat(room, "x/", parts_digest, "/", i);
}

bool IsKeyToken(absl::string_view t) {
  return !t.empty() && std::all_of(t.begin(), t.end(), [](char c) {
    return absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-';
  });
}

bool IsKey(absl::string_view key) {
  for (absl::string_view t : absl::StrSplit(key, '/')) {
    if (!IsKeyToken(t)) return false;
  }
  return true;
}

template <typename Msg>
absl::StatusOr<Msg> ParseStored(const std::string& data, const std::string& key) {
  Msg m;
  if (!m.ParseFromString(data)) {
    return absl::DataLossError(absl::StrCat("corrupt record at ", key));
  }
  return m;
}

}  // namespace

absl::StatusOr<std::string> ObjectSubject(absl::string_view key, absl::string_view prefix) {
  if (!IsKey(key)) return absl::InvalidArgumentError(absl::StrCat("not a store key: ", key));
  return absl::StrCat(prefix, ".", absl::StrReplaceAll(key, {{"/", "."}}));
}

absl::StatusOr<std::string> KeyOfSubject(absl::string_view subject, absl::string_view prefix) {
  const std::string head = absl::StrCat(prefix, ".");
  if (!absl::ConsumePrefix(&subject, head)) {
    return absl::InvalidArgumentError(absl::StrCat("not a ", prefix, " subject"));
  }
  std::string key = absl::StrReplaceAll(subject, {{".", "/"}});
  if (!IsKey(key)) return absl::InvalidArgumentError("not a store key's subject");
  return key;
}

JetStreamStore::JetStreamStore(JetStreamStoreOptions options,
                               std::unique_ptr<cluster::JetStream> js)
    : options_(std::move(options)), js_(std::move(js)), bus_(*js_) {}

JetStreamStore::~JetStreamStore() { Watch(nullptr).IgnoreError(); }

absl::StatusOr<std::unique_ptr<JetStreamStore>> JetStreamStore::Open(
    JetStreamStoreOptions options) {
  const auto deadline = std::chrono::steady_clock::now() + options.startup_timeout;
  absl::StatusOr<std::unique_ptr<cluster::JetStream>> js;
  for (;;) {
    js = cluster::JetStream::Connect({.urls = options.urls,
                                      .name = absl::StrCat("roomcast-origin ", options.origin_id),
                                      .timeout = options.request_timeout});
    if (js.ok() || !absl::IsUnavailable(js.status()) ||
        std::chrono::steady_clock::now() >= deadline) {
      break;
    }
    ROOMCAST_LOG(kWarning, "origin", "nats_connect_retry").Kv("status", js.status());
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
  }
  if (!js.ok()) return js.status();
  std::unique_ptr<JetStreamStore> store(new JetStreamStore(options, *std::move(js)));
  ROOMCAST_RETURN_IF_ERROR(store->WaitForStream());
  return store;
}

// A cold cluster answers /healthz seconds before it places a stream or
// takes writes: wait for both, bounded, saying why.
absl::Status JetStreamStore::WaitForStream() {
  const auto deadline = std::chrono::steady_clock::now() + options_.startup_timeout;
  const cluster::StreamConfig config{.name = kObjectStream,
                                     .subjects = {"rcobj.>"},
                                     .replicas = options_.replicas,
                                     .max_msgs_per_subject = 1,
                                     .republish_src = "rcobj.>",
                                     .republish_dest = "rcnote.>",
                                     .republish_headers_only = true};
  absl::Status st;
  for (int attempt = 1;; ++attempt) {
    st = js_->EnsureStream(config);
    if (st.ok()) st = js_->State(kObjectStream).status();
    if (st.ok() || !absl::IsUnavailable(st) || std::chrono::steady_clock::now() >= deadline) {
      break;
    }
    if (attempt % 10 == 1) {
      ROOMCAST_LOG(kWarning, "origin", "nats_stream_wait").Kv("status", st);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  if (!st.ok()) return absl::Status(st.code(), absl::StrCat("stream RCOBJ: ", st.message()));
  ROOMCAST_LOG(kInfo, "origin", "nats_ready").Kv("stream", kObjectStream);
  return absl::OkStatus();
}

absl::StatusOr<std::optional<JetStreamStore::Last>> JetStreamStore::ReadLast(
    const std::string& key) const {
  ROOMCAST_ASSIGN_OR_RETURN(std::string subject, ObjectSubject(key));
  auto m = js_->GetLast(kObjectStream, subject);
  if (absl::IsNotFound(m.status())) return std::nullopt;
  if (!m.ok()) return m.status();
  return Last{.seq = m->seq, .data = std::move(m->data)};
}

absl::StatusOr<std::vector<std::pair<std::string, JetStreamStore::Last>>>
JetStreamStore::ReadAll(const std::string& key_prefix) const {
  ROOMCAST_ASSIGN_OR_RETURN(std::string filter,
                            ObjectSubject(absl::StrCat(key_prefix, "x")));
  filter.back() = '>';
  ROOMCAST_ASSIGN_OR_RETURN(auto subjects, js_->Subjects(kObjectStream, filter));
  std::vector<std::pair<std::string, Last>> out;
  for (const std::string& subject : subjects) {
    auto key = KeyOfSubject(subject);
    if (!key.ok()) continue;  // not ours: never written by a store
    ROOMCAST_ASSIGN_OR_RETURN(std::optional<Last> last, ReadLast(*key));
    if (last) out.emplace_back(*std::move(key), *std::move(last));
  }
  return out;
}

absl::StatusOr<cluster::Acked> JetStreamStore::Write(const std::string& key,
                                                     const std::string& data,
                                                     std::map<std::string, std::string> headers,
                                                     const Fence& fence) {
  if (static_cast<int64_t>(data.size()) + kHeaderAllowance > js_->MaxPayload()) {
    return absl::ResourceExhaustedError(
        absl::StrCat("the object at ", key, " is ", data.size(),
                     " bytes stored; NATS takes messages up to ", js_->MaxPayload()));
  }
  ROOMCAST_ASSIGN_OR_RETURN(std::string subject, ObjectSubject(key));
  headers[kOriginHeader] = options_.origin_id;
  return js_->PublishWithHeaders(subject, data, headers, fence);
}

absl::StatusOr<std::string> JetStreamStore::Split(const std::string& key,
                                                  const StoredObject& obj) {
  std::string data = obj.SerializeAsString();
  const int64_t part = js_->MaxPayload() - kHeaderAllowance;
  if (static_cast<int64_t>(data.size()) <= part) return data;
  const uint64_t n = (data.size() + part - 1) / part;
  if (n > kMaxParts) {
    return absl::ResourceExhaustedError(absl::StrCat(
        "the object at ", key, " is ", data.size(), " bytes stored; at most ", kMaxParts,
        " NATS messages of ", part));
  }
  StoredObject head;
  head.set_digest(obj.digest());
  head.set_created_ms(obj.created_ms());
  head.set_expires_ms(obj.expires_ms());
  head.set_parts(static_cast<uint32_t>(n));
  head.set_parts_digest(base::Sha256Hex(data));
  for (uint32_t i = 0; i < n; ++i) {
    const std::string bytes = data.substr(i * part, part);
    ROOMCAST_RETURN_IF_ERROR(Write(PartKey(key, head.parts_digest(), i), bytes, {}).status());
  }
  return head.SerializeAsString();
}

absl::StatusOr<StoredObject> JetStreamStore::Join(const std::string& key,
                                                  const std::string& data) const {
  ROOMCAST_ASSIGN_OR_RETURN(StoredObject head, ParseStored<StoredObject>(data, key));
  if (head.parts() == 0) return head;
  if (head.parts() > kMaxParts) return absl::DataLossError(absl::StrCat("bad head at ", key));
  std::string joined;
  for (uint32_t i = 0; i < head.parts(); ++i) {
    ROOMCAST_ASSIGN_OR_RETURN(std::optional<Last> p,
                              ReadLast(PartKey(key, head.parts_digest(), i)));
    if (!p) return absl::DataLossError(absl::StrCat("part ", i, " of ", key, " is missing"));
    joined += p->data;
  }
  if (base::Sha256Hex(joined) != head.parts_digest()) {
    return absl::DataLossError(absl::StrCat("the parts of ", key, " do not match their digest"));
  }
  ROOMCAST_ASSIGN_OR_RETURN(StoredObject obj, ParseStored<StoredObject>(joined, key));
  if (obj.parts() != 0 || obj.digest() != head.digest()) {
    return absl::DataLossError(absl::StrCat("the parts of ", key, " are another object"));
  }
  return obj;
}

absl::StatusOr<std::optional<StoredObject>> JetStreamStore::Get(const std::string& key) const {
  ROOMCAST_ASSIGN_OR_RETURN(std::optional<Last> last, ReadLast(key));
  if (!last) return std::nullopt;
  ROOMCAST_ASSIGN_OR_RETURN(StoredObject obj, Join(key, last->data));
  return obj;
}

absl::StatusOr<std::shared_ptr<const StoredObject>> JetStreamStore::GetImmutable(
    const std::string& key) const {
  ObjectCache::Lookup found = cache_.Find(key);
  if (found.hit) return found.hit;
  ROOMCAST_ASSIGN_OR_RETURN(std::optional<StoredObject> obj, Get(key));
  if (!obj) return nullptr;
  ROOMCAST_RETURN_IF_ERROR(CheckDigests(key, *obj));
  return cache_.Insert(key, *std::move(obj), found.generation);
}

absl::StatusOr<PutOutcome> JetStreamStore::Resolve(const std::string& key,
                                                   const std::string& digest) const {
  ROOMCAST_ASSIGN_OR_RETURN(std::optional<StoredObject> stored, Get(key));
  if (!stored) {
    return absl::UnavailableError(absl::StrCat("the write of ", key, " is in doubt; retry"));
  }
  if (stored->digest() == digest) return PutOutcome::kUnchanged;
  return absl::AlreadyExistsError(absl::StrCat("immutable object ", key,
                                               " exists with other bytes (digest ",
                                               stored->digest(), ")"));
}

absl::StatusOr<PutOutcome> JetStreamStore::PutImmutable(const std::string& key,
                                                        std::string body, int64_t now_ms,
                                                        int64_t retention_s,
                                                        std::optional<Encodings> enc) {
  const StoredObject obj = NewStoredObject(std::move(body), now_ms, retention_s, std::move(enc));
  ROOMCAST_ASSIGN_OR_RETURN(const std::string data, Split(key, obj));
  // The same id for a retry of these bytes: a publish stored but unacked is
  // then a duplicate, not a fence failure.
  const Fence fence{.msg_id = absl::StrCat(key, "@", obj.digest()),
                    .expected_last_subject_seq = 0};
  absl::StatusOr<cluster::Acked> acked = Write(key, data, {}, fence);
  if (absl::IsUnavailable(acked.status())) acked = Write(key, data, {}, fence);  // in doubt
  if (absl::IsFailedPrecondition(acked.status())) return Resolve(key, obj.digest());
  if (!acked.ok()) return acked.status();
  // A duplicate says "seen this id", not "stored now": read it back.
  if (acked->duplicate) return Resolve(key, obj.digest());
  return PutOutcome::kCreated;
}

absl::StatusOr<PutOutcome> JetStreamStore::PutMutable(const std::string& key, std::string body,
                                                      int64_t now_ms, int64_t retention_s) {
  const StoredObject obj = NewStoredObject(std::move(body), now_ms, retention_s, std::nullopt);
  ROOMCAST_ASSIGN_OR_RETURN(const std::string data, Split(key, obj));
  ROOMCAST_RETURN_IF_ERROR(Write(key, data, {}).status());
  return PutOutcome::kCreated;
}

absl::Status JetStreamStore::PutRoomMeta(const RoomMeta& meta) {
  const std::string data = meta.SerializeAsString();
  return Write(absl::StrCat("c/", meta.room()), data, {{kMetaHeader, absl::Base64Escape(data)}})
      .status();
}

absl::StatusOr<std::vector<RoomMeta>> JetStreamStore::LoadRoomMetas() const {
  ROOMCAST_ASSIGN_OR_RETURN(auto all, ReadAll("c/"));
  std::vector<RoomMeta> out;
  for (auto& [key, last] : all) {
    ROOMCAST_ASSIGN_OR_RETURN(RoomMeta m, ParseStored<RoomMeta>(last.data, key));
    if (absl::StrCat("c/", m.room()) == key) out.push_back(std::move(m));
  }
  return out;
}

absl::Status JetStreamStore::PutWatermark(const v1::Watermark& wm) {
  const std::string key = absl::StrCat("w/", wm.publisher());
  for (int attempt = 0; attempt < kWatermarkAttempts; ++attempt) {
    ROOMCAST_ASSIGN_OR_RETURN(std::optional<Last> last, ReadLast(key));
    if (last) {
      ROOMCAST_ASSIGN_OR_RETURN(auto stored, ParseStored<v1::Watermark>(last->data, key));
      if (stored.watermark_ms() >= wm.watermark_ms()) return absl::OkStatus();
    }
    // Compare-and-set: fails if another origin moved it since the read.
    auto acked = Write(key, wm.SerializeAsString(),
                       {{kWatermarkHeader, absl::StrCat(wm.watermark_ms())}},
                       {.expected_last_subject_seq = last ? last->seq : 0});
    if (!absl::IsFailedPrecondition(acked.status())) return acked.status();
  }
  return absl::UnavailableError(absl::StrCat("the watermark of ", wm.publisher(),
                                             " is contended; retry"));
}

absl::StatusOr<std::vector<v1::Watermark>> JetStreamStore::LoadWatermarks() const {
  ROOMCAST_ASSIGN_OR_RETURN(auto all, ReadAll("w/"));
  std::vector<v1::Watermark> out;
  for (auto& [key, last] : all) {
    ROOMCAST_ASSIGN_OR_RETURN(auto w, ParseStored<v1::Watermark>(last.data, key));
    if (absl::StrCat("w/", w.publisher()) == key) out.push_back(std::move(w));
  }
  return out;
}

namespace {

std::string TakedownKey(const std::string& key, const std::string& new_digest) {
  return absl::StrCat("t/", key, "/", new_digest);
}

}  // namespace

absl::Status JetStreamStore::ReplaceForTakedown(const std::string& key,
                                                const std::string& old_digest, std::string body,
                                                const TakedownRecord& record,
                                                const std::vector<QueuedPurge>& purges,
                                                std::optional<Encodings> enc) {
  ROOMCAST_ASSIGN_OR_RETURN(std::optional<Last> last, ReadLast(key));
  if (!last) return absl::NotFoundError(absl::StrCat("no object at ", key));
  ROOMCAST_ASSIGN_OR_RETURN(StoredObject obj, Join(key, last->data));
  if (obj.digest() != old_digest) {
    return absl::AbortedError(absl::StrCat("the object at ", key, " is now ", obj.digest()));
  }
  SetBody(obj, std::move(body), std::move(enc));
  ROOMCAST_RETURN_IF_ERROR(
      Write(TakedownKey(key, obj.digest()), record.SerializeAsString(), {}).status());
  for (const QueuedPurge& q : purges) {
    ROOMCAST_RETURN_IF_ERROR(Write(q.key, q.purge.SerializeAsString(), {}).status());
  }
  ROOMCAST_ASSIGN_OR_RETURN(const std::string data, Split(key, obj));
  auto acked = Write(key, data, {{kKindHeader, kReplaced}},
                     {.expected_last_subject_seq = last->seq});
  cache_.Forget(key);
  if (absl::IsFailedPrecondition(acked.status())) {
    return absl::AbortedError(absl::StrCat("the object at ", key, " changed meanwhile"));
  }
  return acked.status();
}

absl::StatusOr<std::optional<TakedownRecord>> JetStreamStore::GetTakedown(
    const std::string& key, const std::string& new_digest) const {
  const std::string record_key = TakedownKey(key, new_digest);
  ROOMCAST_ASSIGN_OR_RETURN(std::optional<Last> last, ReadLast(record_key));
  if (!last) return std::nullopt;
  ROOMCAST_ASSIGN_OR_RETURN(auto r, ParseStored<TakedownRecord>(last->data, record_key));
  return r;
}

absl::StatusOr<std::vector<TakedownRecord>> JetStreamStore::ListTakedowns(
    const std::string& key_prefix, size_t max) const {
  ROOMCAST_ASSIGN_OR_RETURN(auto all, ReadAll(absl::StrCat("t/", key_prefix)));
  std::vector<TakedownRecord> out;
  for (auto& [key, last] : all) {
    ROOMCAST_ASSIGN_OR_RETURN(auto r, ParseStored<TakedownRecord>(last.data, key));
    out.push_back(std::move(r));
  }
  std::stable_sort(out.begin(), out.end(), [](const auto& a, const auto& b) {
    return a.at_ms() != b.at_ms() ? a.at_ms() < b.at_ms() : a.stored_ms() < b.stored_ms();
  });
  if (out.size() > max) out.erase(out.begin(), out.end() - static_cast<ptrdiff_t>(max));
  return out;
}

absl::StatusOr<std::vector<ObjectStore::QueuedPurge>> JetStreamStore::LoadPurges() const {
  ROOMCAST_ASSIGN_OR_RETURN(auto all, ReadAll("p/"));
  std::vector<QueuedPurge> out;
  for (auto& [key, last] : all) {
    ROOMCAST_ASSIGN_OR_RETURN(auto p, ParseStored<PendingPurge>(last.data, key));
    out.push_back({.key = key, .purge = std::move(p)});
  }
  return out;
}

absl::Status JetStreamStore::DeletePurge(const std::string& key) {
  ROOMCAST_ASSIGN_OR_RETURN(std::string subject, ObjectSubject(key));
  return DeleteMatching(subject, "");
}

// Not a purge: nats-server 2.9.10 can replay a purge onto a restarted
// replica as "everything below its sequence", other subjects' messages
// included (measured on the publisher's log; see JetStream::DeleteMsg). Each
// message goes by its own sequence; one written after the scan stays (it is
// newer than what the caller meant to remove). The messages on `last`, if
// any, go only once the leader lists nothing else under `filter`: a scan
// read from a replica that is behind can miss messages, and what marks the
// room as sweepable (its manifest) must outlive them, or they would stay
// for good.
absl::Status JetStreamStore::DeleteMatching(const std::string& filter, const std::string& last) {
  std::vector<uint64_t> seqs, last_seqs;
  ROOMCAST_RETURN_IF_ERROR(
      js_->Scan(kObjectStream, filter, 0, [&](const cluster::StoredMessage& m) {
        (m.subject == last ? last_seqs : seqs).push_back(m.seq);
        return absl::OkStatus();
      }));
  auto remove = [&](const std::vector<uint64_t>& which) -> absl::Status {
    for (uint64_t seq : which) {
      absl::Status s = js_->DeleteMsg(kObjectStream, seq);
      if (!s.ok() && !absl::IsNotFound(s)) return s;  // the rest at the next sweep
    }
    return absl::OkStatus();
  };
  ROOMCAST_RETURN_IF_ERROR(remove(seqs));
  if (last.empty()) return absl::OkStatus();
  ROOMCAST_ASSIGN_OR_RETURN(std::vector<std::string> left, js_->Subjects(kObjectStream, filter));
  for (const std::string& subject : left) {
    if (subject != last) {
      return absl::UnavailableError(
          absl::StrCat(subject, " outlived its sweep; ", last, " stays for the next"));
    }
  }
  return remove(last_seqs);
}

// A room whose manifest expired: its takedown records and objects go, the
// manifest last.
absl::StatusOr<bool> JetStreamStore::SweepRoom(const RoomMeta& meta, int64_t now_ms) {
  const segmenter::Scope scope =
      meta.private_room() ? segmenter::Scope::kPrivate : segmenter::Scope::kPublic;
  const std::string prefix = segmenter::RoomKeyPrefix(meta.room(), scope);
  const std::string manifest_key = absl::StrCat(prefix, "m");
  ROOMCAST_ASSIGN_OR_RETURN(std::optional<StoredObject> manifest, Get(manifest_key));
  if (!manifest) {
    // Swept already, maybe by another origin: what this one keeps in
    // memory of the room goes all the same.
    cache_.ForgetPrefix(prefix);
    return false;
  }
  if (manifest->expires_ms() > now_ms) return false;
  ROOMCAST_ASSIGN_OR_RETURN(std::string manifest_subject, ObjectSubject(manifest_key));
  for (const std::string& p : {absl::StrCat("t/", prefix), prefix}) {
    ROOMCAST_ASSIGN_OR_RETURN(std::string filter, ObjectSubject(absl::StrCat(p, "x")));
    filter.back() = '>';
    ROOMCAST_RETURN_IF_ERROR(DeleteMatching(filter, p == prefix ? manifest_subject : ""));
  }
  cache_.ForgetPrefix(prefix);
  return true;
}

// One room that cannot be swept now (its stream busy, a scan short) is
// logged and tried again at the next sweep; the others go on.
absl::StatusOr<size_t> JetStreamStore::SweepExpired(int64_t now_ms, size_t /*max*/) {
  ROOMCAST_ASSIGN_OR_RETURN(std::vector<RoomMeta> metas, LoadRoomMetas());
  size_t swept = 0;
  for (const RoomMeta& meta : metas) {
    absl::StatusOr<bool> gone = SweepRoom(meta, now_ms);
    if (!gone.ok()) {
      ROOMCAST_LOG(kWarning, "origin", "sweep_room_deferred")
          .Kv("room", meta.room())
          .Kv("status", gone.status());
      continue;
    }
    swept += *gone ? 1 : 0;
  }
  return swept;
}

uint64_t JetStreamStore::EstimatedKeys() const {
  auto state = js_->State(kObjectStream);
  return state.ok() ? state->messages : 0;
}

absl::Status JetStreamStore::Watch(std::function<void(const StoreEvent&)> on_event) {
  absl::MutexLock lock(&watch_mu_);
  sub_.reset();  // no callback runs past this
  on_event_ = std::move(on_event);
  if (!on_event_) return absl::OkStatus();
  ROOMCAST_ASSIGN_OR_RETURN(
      sub_, bus_.Subscribe("rcnote.>", [this](const cluster::BusMessage& m) { OnNotice(m); }));
  return absl::OkStatus();
}

namespace {

absl::string_view HeaderOf(const cluster::BusMessage& m, const char* name) {
  auto it = m.headers.find(name);
  return it == m.headers.end() ? absl::string_view() : absl::string_view(it->second);
}

// A notice decoded into what it tells; nullopt for one to ignore (a record,
// a purge, or anything malformed: notices are input like any other).
std::optional<StoreEvent> EventOf(const cluster::BusMessage& m) {
  auto key = KeyOfSubject(m.subject, "rcnote");
  if (!key.ok()) return std::nullopt;
  StoreEvent e{.key = *key};
  if (absl::StartsWith(*key, "w/")) {
    int64_t ms = 0;
    if (!absl::SimpleAtoi(HeaderOf(m, kWatermarkHeader), &ms) || ms <= 0) return std::nullopt;
    e.kind = StoreEvent::Kind::kWatermark;
    e.watermark.set_publisher(key->substr(2));
    e.watermark.set_watermark_ms(ms);
    return e;
  }
  if (absl::StartsWith(*key, "c/")) {
    std::string bytes;
    const absl::string_view b64 = HeaderOf(m, kMetaHeader);
    if (b64.size() > kMaxMetaHeader || !absl::Base64Unescape(b64, &bytes) ||
        !e.meta.ParseFromString(bytes) || e.meta.room() != key->substr(2)) {
      return std::nullopt;
    }
    e.kind = StoreEvent::Kind::kRoomMeta;
    return e;
  }
  if (!absl::StartsWith(*key, "r/") && !absl::StartsWith(*key, "q/")) return std::nullopt;
  e.kind = HeaderOf(m, kKindHeader) == kReplaced ? StoreEvent::Kind::kReplaced
                                                 : StoreEvent::Kind::kObject;
  return e;
}

}  // namespace

void JetStreamStore::OnNotice(const cluster::BusMessage& m) {
  std::optional<StoreEvent> e = EventOf(m);
  if (!e) {
    ROOMCAST_LOG(kDebug, "origin", "notice_ignored").Kv("subject", m.subject);
    return;
  }
  if (e->kind == StoreEvent::Kind::kReplaced) cache_.Forget(e->key);
  on_event_(*e);
}

}  // namespace roomcast::origin
