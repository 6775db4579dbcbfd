#include "cluster/jetstream.h"

#include <nats/nats.h>

#include <algorithm>
#include <optional>
#include <thread>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "cluster/nats_msg.h"
#include "cluster/nats_status.h"

namespace roomcast::cluster {
namespace {

struct MsgDeleter {
  void operator()(natsMsg* m) const { natsMsg_Destroy(m); }
};
using MsgPtr = std::unique_ptr<natsMsg, MsgDeleter>;

StoredMessage FromMsg(natsMsg* m) {
  return {.seq = natsMsg_GetSequence(m), .subject = natsMsg_GetSubject(m), .data = DataOf(m),
          .headers = HeadersOf(m)};
}

}  // namespace

absl::StatusOr<std::unique_ptr<JetStream>> JetStream::Connect(const NatsOptions& options) {
  if (options.urls.empty()) return absl::InvalidArgumentError("no NATS URL");
  natsOptions* opts = nullptr;
  natsStatus s = natsOptions_Create(&opts);
  std::vector<const char*> urls;
  for (const std::string& u : options.urls) urls.push_back(u.c_str());
  if (s == NATS_OK) s = natsOptions_SetServers(opts, urls.data(), static_cast<int>(urls.size()));
  if (s == NATS_OK) s = natsOptions_SetName(opts, options.name.c_str());
  if (s == NATS_OK) s = natsOptions_SetTimeout(opts, options.timeout.count());
  if (s == NATS_OK) s = natsOptions_SetMaxReconnect(opts, -1);  // never give up
  if (s == NATS_OK) s = natsOptions_SetReconnectWait(opts, options.reconnect_wait.count());
  // A server that stops answering (paused, cut off) is given up on after
  // two missed pings a second apart, and another is tried: libnats' default
  // of two minutes would hold every request that long.
  if (s == NATS_OK) s = natsOptions_SetPingInterval(opts, 1000);
  if (s == NATS_OK) s = natsOptions_SetMaxPingsOut(opts, 2);
  natsConnection* nc = nullptr;
  if (s == NATS_OK) s = natsConnection_Connect(&nc, opts);
  natsOptions_Destroy(opts);
  if (s != NATS_OK) return ToStatus(s, static_cast<jsErrCode>(0), "connect");
  jsOptions jo;
  jsOptions_Init(&jo);
  jo.Wait = options.timeout.count();
  jsCtx* js = nullptr;
  s = natsConnection_JetStream(&js, nc, &jo);
  if (s != NATS_OK) {
    natsConnection_Destroy(nc);
    return ToStatus(s, static_cast<jsErrCode>(0), "JetStream context");
  }
  return std::unique_ptr<JetStream>(new JetStream(nc, js, options.timeout));
}

bool JetStream::connected() const {
  return natsConnection_Status(nc_) == NATS_CONN_STATUS_CONNECTED;
}

JetStream::~JetStream() {
  jsCtx_Destroy(js_);
  natsConnection_Destroy(nc_);  // closes it first
}

absl::Status JetStream::EnsureStream(const StreamConfig& c) {
  // There already: done. Asked first because creating an existing stream
  // while a node is down is refused for placement ("no suitable peers")
  // before its name is looked at, which would stop every open of it.
  absl::StatusOr<StreamState> there = State(c.name);
  if (there.ok()) return absl::OkStatus();
  if (!absl::IsNotFound(there.status())) return there.status();
  jsStreamConfig cfg;
  jsStreamConfig_Init(&cfg);
  std::vector<const char*> subjects;
  for (const std::string& s : c.subjects) subjects.push_back(s.c_str());
  cfg.Name = c.name.c_str();
  cfg.Subjects = subjects.data();
  cfg.SubjectsLen = static_cast<int>(subjects.size());
  cfg.Storage = c.file_storage ? js_FileStorage : js_MemoryStorage;
  cfg.Replicas = c.replicas;
  cfg.Duplicates = std::chrono::nanoseconds(c.duplicate_window).count();
  cfg.MaxMsgsPerSubject = c.max_msgs_per_subject;
  jsRePublish rp;
  if (!c.republish_src.empty()) {
    jsRePublish_Init(&rp);
    rp.Source = c.republish_src.c_str();
    rp.Destination = c.republish_dest.c_str();
    rp.HeadersOnly = c.republish_headers_only;
    cfg.RePublish = &rp;
  }
  jsStreamInfo* si = nullptr;
  jsErrCode jerr = static_cast<jsErrCode>(0);
  natsStatus s = js_AddStream(&si, js_, &cfg, nullptr, &jerr);
  jsStreamInfo_Destroy(si);
  if (s != NATS_OK && jerr == JSStreamNameExistErr) return absl::OkStatus();
  return ToStatus(s, jerr, absl::StrCat("create stream ", c.name));
}

absl::Status JetStream::DeleteStream(absl::string_view name) {
  jsErrCode jerr = static_cast<jsErrCode>(0);
  const std::string n(name);
  return ToStatus(js_DeleteStream(js_, n.c_str(), nullptr, &jerr), jerr,
                  absl::StrCat("delete stream ", name));
}

absl::StatusOr<Acked> JetStream::Publish(absl::string_view subject, absl::string_view data,
                                         const Fence& fence) {
  // libnats sends no Expected-Last-Subject-Sequence for 0: set by hand.
  if (fence.expected_last_subject_seq.has_value()) {
    return PublishWithHeaders(subject, data, {}, fence);
  }
  jsPubOptions po;
  jsPubOptions_Init(&po);
  po.MaxWait = timeout_.count();
  if (!fence.msg_id.empty()) po.MsgId = fence.msg_id.c_str();
  if (!fence.expected_last_msg_id.empty()) po.ExpectLastMsgId = fence.expected_last_msg_id.c_str();
  if (fence.expected_last_seq.has_value()) {
    // JetStream reads 0 as "no expectation": an empty stream is fenced by
    // the id of its first message instead.
    po.ExpectLastSeq = *fence.expected_last_seq;
  }
  const std::string subj(subject);
  jsPubAck* ack = nullptr;
  jsErrCode jerr = static_cast<jsErrCode>(0);
  natsStatus s = js_Publish(&ack, js_, subj.c_str(), data.data(), static_cast<int>(data.size()),
                            &po, &jerr);
  if (s != NATS_OK) {
    jsPubAck_Destroy(ack);
    return ToStatus(s, jerr, absl::StrCat("publish to ", subject));
  }
  Acked out{.seq = ack->Sequence, .duplicate = ack->Duplicate};
  jsPubAck_Destroy(ack);
  return out;
}

absl::StatusOr<StoredMessage> JetStream::Get(absl::string_view stream, uint64_t seq) {
  natsMsg* m = nullptr;
  jsErrCode jerr = static_cast<jsErrCode>(0);
  const std::string st(stream);
  natsStatus s = js_GetMsg(&m, js_, st.c_str(), seq, nullptr, &jerr);
  MsgPtr owned(m);
  if (s != NATS_OK) return ToStatus(s, jerr, absl::StrCat("get ", stream, " #", seq));
  return FromMsg(m);
}

absl::StatusOr<StoredMessage> JetStream::GetLast(absl::string_view stream,
                                                 absl::string_view subject) {
  natsMsg* m = nullptr;
  jsErrCode jerr = static_cast<jsErrCode>(0);
  const std::string st(stream), subj(subject);
  natsStatus s = js_GetLastMsg(&m, js_, st.c_str(), subj.c_str(), nullptr, &jerr);
  MsgPtr owned(m);
  if (s != NATS_OK) return ToStatus(s, jerr, absl::StrCat("get last of ", subject));
  return FromMsg(m);
}

absl::StatusOr<StreamState> JetStream::State(absl::string_view stream) {
  jsStreamInfo* si = nullptr;
  jsErrCode jerr = static_cast<jsErrCode>(0);
  const std::string st(stream);
  natsStatus s = js_GetStreamInfo(&si, js_, st.c_str(), nullptr, &jerr);
  if (s != NATS_OK) {
    jsStreamInfo_Destroy(si);
    return ToStatus(s, jerr, absl::StrCat("info of ", stream));
  }
  StreamState out{.messages = si->State.Msgs,
                  .first_seq = si->State.FirstSeq,
                  .last_seq = si->State.LastSeq};
  if (si->Cluster != nullptr && si->Cluster->Leader != nullptr) out.leader = si->Cluster->Leader;
  jsStreamInfo_Destroy(si);
  return out;
}

namespace {

// The fence as JetStream's headers, set on `m`.
natsStatus SetFence(natsMsg* m, const Fence& f) {
  natsStatus s = NATS_OK;
  if (!f.msg_id.empty()) s = natsMsgHeader_Set(m, "Nats-Msg-Id", f.msg_id.c_str());
  if (s == NATS_OK && !f.expected_last_msg_id.empty()) {
    s = natsMsgHeader_Set(m, "Nats-Expected-Last-Msg-Id", f.expected_last_msg_id.c_str());
  }
  if (s == NATS_OK && f.expected_last_seq.has_value()) {
    s = natsMsgHeader_Set(m, "Nats-Expected-Last-Sequence",
                          std::to_string(*f.expected_last_seq).c_str());
  }
  if (s == NATS_OK && f.expected_last_subject_seq.has_value()) {
    s = natsMsgHeader_Set(m, "Nats-Expected-Last-Subject-Sequence",
                          std::to_string(*f.expected_last_subject_seq).c_str());
  }
  return s;
}

}  // namespace

absl::StatusOr<Acked> JetStream::PublishWithHeaders(
    absl::string_view subject, absl::string_view data,
    const std::map<std::string, std::string>& headers, const Fence& fence) {
  const std::string subj(subject);
  natsMsg* raw = nullptr;
  natsStatus s = natsMsg_Create(&raw, subj.c_str(), nullptr, data.data(),
                                static_cast<int>(data.size()));
  MsgPtr m(raw);
  for (auto it = headers.begin(); s == NATS_OK && it != headers.end(); ++it) {
    if (it->first.rfind("Nats-", 0) == 0) {
      return absl::InvalidArgumentError(absl::StrCat("header ", it->first, " is JetStream's"));
    }
    s = natsMsgHeader_Set(raw, it->first.c_str(), it->second.c_str());
  }
  if (s == NATS_OK) s = SetFence(raw, fence);
  if (s != NATS_OK) return ToStatus(s, absl::StrCat("message for ", subject));
  jsPubOptions po;
  jsPubOptions_Init(&po);
  po.MaxWait = timeout_.count();
  jsPubAck* ack = nullptr;
  jsErrCode jerr = static_cast<jsErrCode>(0);
  s = js_PublishMsg(&ack, js_, raw, &po, &jerr);
  if (s != NATS_OK) {
    jsPubAck_Destroy(ack);
    return ToStatus(s, jerr, absl::StrCat("publish to ", subject));
  }
  Acked out{.seq = ack->Sequence, .duplicate = ack->Duplicate};
  jsPubAck_Destroy(ack);
  return out;
}

absl::StatusOr<std::vector<std::string>> JetStream::Subjects(absl::string_view stream,
                                                             absl::string_view filter) {
  const std::string st(stream), f(filter);
  jsOptions o;
  jsOptions_Init(&o);
  o.Wait = timeout_.count();
  o.Stream.Info.SubjectsFilter = f.c_str();
  jsStreamInfo* si = nullptr;
  jsErrCode jerr = static_cast<jsErrCode>(0);
  natsStatus s = js_GetStreamInfo(&si, js_, st.c_str(), &o, &jerr);
  if (s != NATS_OK) {
    jsStreamInfo_Destroy(si);
    return ToStatus(s, jerr, absl::StrCat("subjects of ", stream));
  }
  std::vector<std::string> out;
  if (const jsStreamStateSubjects* subs = si->State.Subjects; subs != nullptr) {
    for (int i = 0; i < subs->Count; ++i) {
      if (subs->List[i].Msgs > 0) out.emplace_back(subs->List[i].Subject);
    }
  }
  jsStreamInfo_Destroy(si);
  return out;
}

int64_t JetStream::MaxPayload() const { return natsConnection_GetMaxPayload(nc_); }

}  // namespace roomcast::cluster

// ---- Additions for the replicated log (publisher/internal/jetstream_log.h).
namespace roomcast::cluster {
namespace {

struct SubDeleter {
  void operator()(natsSubscription* s) const {
    // Deletes the ephemeral consumer the library created for it.
    natsSubscription_Unsubscribe(s);
    natsSubscription_Destroy(s);
  }
};
using SubPtr = std::unique_ptr<natsSubscription, SubDeleter>;

// NATS subject matching: '*' one token, '>' the rest.
bool SubjectMatches(absl::string_view filter, absl::string_view subject) {
  std::vector<absl::string_view> f = absl::StrSplit(filter, '.');
  std::vector<absl::string_view> t = absl::StrSplit(subject, '.');
  for (size_t i = 0; i < f.size(); ++i) {
    if (f[i] == ">") return t.size() > i;
    if (i >= t.size() || (f[i] != "*" && f[i] != t[i])) return false;
  }
  return f.size() == t.size();
}

// The stream sequence of a fetched message and how many matching messages
// came after it when it was delivered; nullopt without JetStream metadata.
std::optional<std::pair<uint64_t, uint64_t>> SeqAndPending(natsMsg* m) {
  jsMsgMetaData* meta = nullptr;
  if (natsMsg_GetMetaData(&meta, m) != NATS_OK) return std::nullopt;
  std::pair<uint64_t, uint64_t> out{meta->Sequence.Stream, meta->NumPending};
  jsMsgMetaData_Destroy(meta);
  return out;
}

}  // namespace

absl::Status JetStream::Scan(absl::string_view stream, absl::string_view filter_subject,
                             uint64_t from_seq,
                             const std::function<absl::Status(const StoredMessage&)>& fn) {
  absl::StatusOr<StreamState> st = State(stream);
  if (!st.ok()) return st.status();
  const uint64_t start = std::max<uint64_t>({from_seq, st->first_seq, 1});
  if (st->messages == 0 || st->last_seq < start) return absl::OkStatus();
  const uint64_t stop = st->last_seq;
  // Measured on 2.9.10: a new consumer's first fetch may come back empty,
  // its info may then count nothing pending (after a filtered purge too),
  // and a consumer on a replica that is catching up delivers only what
  // that replica has. So the scan ends at the last sequence; only when the
  // last message does not match the filter may the consumer's "nothing
  // left" end it.
  absl::StatusOr<StoredMessage> last = Get(stream, stop);
  const bool last_matches = !last.ok() || SubjectMatches(filter_subject, last->subject);
  const std::string st_name(stream), filter(filter_subject);
  jsSubOptions so;
  jsSubOptions_Init(&so);
  so.Stream = st_name.c_str();
  so.Config.DeliverPolicy = js_DeliverByStartSequence;
  so.Config.OptStartSeq = start;
  so.Config.AckPolicy = js_AckAll;  // a pull consumer must ack: one per batch
  so.Config.InactiveThreshold = std::chrono::nanoseconds(std::chrono::seconds(30)).count();
  natsSubscription* raw = nullptr;
  jsErrCode jerr = static_cast<jsErrCode>(0);
  natsStatus s = js_PullSubscribe(&raw, js_, filter.c_str(), nullptr, nullptr, &so, &jerr);
  if (s != NATS_OK) return ToStatus(s, jerr, absl::StrCat("scan ", stream));
  SubPtr sub(raw);
  const auto quiet_end = std::chrono::seconds(1);
  // Bounded: an open that falls back to reading from the leader
  // (JetStreamLog::ReadMissed) should not wait long first.
  const auto idle_bound = 3 * timeout_;
  auto last_progress = std::chrono::steady_clock::now();
  for (;;) {
    natsMsgList list{};
    s = natsSubscription_Fetch(&list, raw, 256, 250, &jerr);
    if (s != NATS_OK && s != NATS_TIMEOUT && s != NATS_NOT_FOUND) {
      natsMsgList_Destroy(&list);
      return ToStatus(s, jerr, absl::StrCat("scan ", stream));
    }
    bool done = false;
    absl::Status result;
    for (int i = 0; i < list.Count && !done; ++i) {
      natsMsg* m = list.Msgs[i];
      std::optional<std::pair<uint64_t, uint64_t>> sp = SeqAndPending(m);
      if (!sp) continue;
      StoredMessage out = FromMsg(m);
      out.seq = sp->first;
      if (out.seq > stop) {
        done = true;
        break;
      }
      result = fn(out);
      // "Nothing pending" is the consumer's view: one placed on a replica
      // still catching up (a leader just back from a pause) says so early.
      // Trusted only when the last message does not match anyway.
      done = !result.ok() || out.seq >= stop || (!last_matches && sp->second == 0);
    }
    const int fetched = list.Count;
    if (fetched > 0) {
      natsMsg_Ack(list.Msgs[fetched - 1], nullptr);
      last_progress = std::chrono::steady_clock::now();
    }
    natsMsgList_Destroy(&list);
    if (done) return result;
    if (fetched > 0) continue;
    const auto idle = std::chrono::steady_clock::now() - last_progress;
    if (!last_matches && idle > quiet_end) {
      jsConsumerInfo* ci = nullptr;
      s = natsSubscription_GetConsumerInfo(&ci, raw, nullptr, &jerr);
      const bool none_left = s == NATS_OK && ci->NumPending == 0;
      jsConsumerInfo_Destroy(ci);
      if (none_left) return absl::OkStatus();
    }
    if (idle > idle_bound) {
      return absl::UnavailableError(absl::StrCat("scan ", stream, ": no progress"));
    }
  }
}

absl::Status JetStream::DeleteMsg(absl::string_view stream, uint64_t seq) {
  const std::string st(stream);
  jsOptions o;
  jsOptions_Init(&o);
  o.Wait = timeout_.count();
  jsErrCode jerr = static_cast<jsErrCode>(0);
  return ToStatus(js_DeleteMsg(js_, st.c_str(), seq, &o, &jerr), jerr,
                  absl::StrCat("delete #", seq, " of ", stream));
}

}  // namespace roomcast::cluster
