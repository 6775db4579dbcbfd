// DESIGN §11's takedown at the origin: the one way an immutable object's
// bytes change. The publisher PUTs the re-rendered object with the
// Roomcast-Takedown-* headers; the origin checks that the new bytes are the
// stored ones with exactly the listed messages stubbed, stores them with a
// TakedownRecord and the cache purges they owe in one write, and answers
// before the caches are purged (origin/internal/purger.h sends those).
#include <optional>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "base/crypto.h"
#include "base/log.h"
#include "origin/internal/purger.h"
#include "origin/internal/respond.h"
#include "origin/internal/takedown.h"
#include "origin/origin.h"
#include "segmenter/codec.h"

namespace roomcast::origin {
namespace bh = boost::beast::http;
using segmenter::ObjectClass;

namespace {

// Records listed at most by GET .../takedowns (the newest).
constexpr size_t kMaxListedRecords = 10000;

http::Response BadTakedown(const http::Request& req, absl::string_view detail) {
  return http::Error(req, bh::status::bad_request, "bad_takedown", detail);
}

http::Response Mismatch(const http::Request& req, absl::string_view stored) {
  return http::Error(req, bh::status::conflict, "takedown_mismatch",
                     absl::StrCat("the stored object's digest is ", stored,
                                  ": neither Roomcast-Takedown-Old nor the new body's"));
}

http::Response RecordAnswer(const http::Request& req, bh::status status,
                            const TakedownRecord& record) {
  auto json = segmenter::ToJson(record);
  if (!json.ok()) return StoreUnavailable(req, json.status());
  http::Response res = http::Text(req, status, *json + "\n", "application/json");
  res.set(bh::field::cache_control, kNoStore);
  return res;
}

TakedownRecord RecordOf(const segmenter::ObjectRef& ref, const TakedownHeaders& h,
                        const std::string& new_digest, int64_t now_ms) {
  TakedownRecord r;
  r.set_path(segmenter::ObjectPath(ref));
  r.set_old_digest(h.old_digest);
  r.set_new_digest(new_digest);
  r.set_at_ms(h.at_ms);
  r.set_reason(h.reason);
  for (uint64_t seq : h.seqs) r.add_seqs(seq);
  r.set_stored_ms(now_ms);
  return r;
}

}  // namespace

boost::asio::awaitable<http::Response> Origin::PutTakedown(Call call,
                                                           std::optional<Encodings> encodings) {
  const http::Request& req = call.req;
  if (call.ref.cls != ObjectClass::kActions) {
    co_return BadTakedown(req, "only action segments and rollups are taken down");
  }
  auto h = ParseTakedownHeaders(req);
  if (!h.ok()) co_return BadTakedown(req, h.status().message());
  const std::string key = segmenter::StorageKey(call.ref);
  auto stored = store_->Get(key);
  if (!stored.ok()) co_return StoreUnavailable(req, stored.status());
  if (!stored->has_value()) {
    co_return http::Error(req, bh::status::not_found, "not_found",
                          "no object is stored here: nothing to take down");
  }
  const std::string body(req.body());
  const std::string new_digest = base::Sha256Hex(body);
  if (new_digest == h->old_digest) co_return BadTakedown(req, "the new body is the old one");
  if ((*stored)->digest() != h->old_digest) {
    if ((*stored)->digest() != new_digest) co_return Mismatch(req, (*stored)->digest());
    co_return AnswerRetriedTakedown(req, key, *h, new_digest);
  }
  if (absl::Status s = CheckStubbed((*stored)->body(), body, h->seqs); !s.ok()) {
    co_return BadTakedown(req, s.message());
  }
  co_return StoreTakedown(call, key, *h, new_digest, std::move(encodings));
}

// The stored bytes already are the new ones: 200 if this takedown made
// them so (a retry), else 409.
http::Response Origin::AnswerRetriedTakedown(const http::Request& req, const std::string& key,
                                             const TakedownHeaders& h,
                                             const std::string& new_digest) {
  auto record = store_->GetTakedown(key, new_digest);
  if (!record.ok()) return StoreUnavailable(req, record.status());
  if (!record->has_value() || (*record)->old_digest() != h.old_digest) {
    return Mismatch(req, new_digest);
  }
  return RecordAnswer(req, bh::status::ok, **record);
}

http::Response Origin::StoreTakedown(const Call& call, const std::string& key,
                                     const TakedownHeaders& h, const std::string& new_digest,
                                     std::optional<Encodings> encodings) {
  const http::Request& req = call.req;
  const int64_t now = NowMs();
  std::vector<ObjectStore::QueuedPurge> owed;
  if (purger_) {
    owed = purger_->Plan(new_digest, call.ref, now);
    if (!purger_->HasRoomFor(owed.size() / options_.purge_bases.size())) {
      return http::Overloaded(req, "too many cache purges owed; retry the takedown later", 5);
    }
  }
  const TakedownRecord record = RecordOf(call.ref, h, new_digest, now);
  absl::Status s = store_->ReplaceForTakedown(key, h.old_digest, std::string(req.body()),
                                              record, owed, std::move(encodings));
  if (absl::IsAborted(s)) return AnswerRetriedTakedown(req, key, h, new_digest);
  if (absl::IsNotFound(s)) {
    return http::Error(req, bh::status::not_found, "not_found", s.message());
  }
  if (!s.ok()) return StoreUnavailable(req, s);
  takedowns_.Add();
  ROOMCAST_LOG(kWarning, "origin", "takedown")
      .Kv("path", record.path()).Kv("old_digest", h.old_digest)
      .Kv("new_digest", new_digest).Kv("reason", h.reason)
      .Kv("seqs", absl::StrJoin(h.seqs, ",")).Kv("purges", owed.size());
  if (purger_) purger_->Enqueue(std::move(owed));
  return RecordAnswer(req, bh::status::created, record);
}

http::Response Origin::GetTakedowns(const http::Request& req, const std::string& room,
                                    segmenter::Scope scope) {
  http::Response res = ListTakedowns(req, room, scope);
  res.set(bh::field::cache_control, kNoStore);
  return res;
}

http::Response Origin::ListTakedowns(const http::Request& req, const std::string& room,
                                     segmenter::Scope scope) {
  if (req.method() != bh::verb::get && req.method() != bh::verb::head) {
    http::Response res = http::Error(req, bh::status::method_not_allowed,
                                     "method_not_allowed", "takedown records take GET");
    res.set(bh::field::allow, "GET, HEAD");
    return res;
  }
  std::optional<std::string> writer = WriterOf(req);
  if (!writer) {
    http::Response res = http::Error(req, bh::status::unauthorized, "unauthorized",
                                     "takedown records need the publisher's secret");
    res.set(bh::field::www_authenticate, "Bearer");
    return res;
  }
  std::optional<RoomMeta> meta = FindRoom(room);
  if (!writer->empty() && meta && meta->publisher() != *writer) {
    return http::Error(req, bh::status::forbidden, "forbidden",
                       "this room is published by another publisher");
  }
  auto records = store_->ListTakedowns(segmenter::RoomKeyPrefix(room, scope), kMaxListedRecords);
  if (!records.ok()) return StoreUnavailable(req, records.status());
  std::vector<std::string> json;
  for (const TakedownRecord& r : *records) {
    auto one = segmenter::ToJson(r);
    if (!one.ok()) return StoreUnavailable(req, one.status());
    json.push_back(*std::move(one));
  }
  return http::Text(req, bh::status::ok,
                    absl::StrCat("{\"records\":[", absl::StrJoin(json, ","), "]}\n"),
                    "application/json");
}

}  // namespace roomcast::origin
