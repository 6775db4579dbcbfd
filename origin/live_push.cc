// POST /v1/live (live.proto): the publisher's records of open buckets, and
// the closes that end their streams (the stored segment's PUT, or the
// watermark passing a bucket with nothing stored).
#include <vector>

#include "absl/strings/str_cat.h"
#include "base/log.h"
#include "base/status_macros.h"
#include "origin/internal/respond.h"
#include "origin/origin.h"
#include "segmenter/bucketer.h"
#include "segmenter/codec.h"
#include "segmenter/live.h"
#include "segmenter/segment.h"

namespace roomcast::origin {
namespace bh = boost::beast::http;
using segmenter::ObjectClass;
using segmenter::ObjectRef;

namespace {

constexpr int kMaxAppends = 4096;
constexpr size_t kMaxRecordBytes = 1 << 20;
constexpr size_t kMaxBucketBytes = 4 << 20;
// How far ahead of the origin's clock a bucket may start and be pushed.
constexpr int64_t kPushSkewMs = 2000;

v1::LiveAck Refused(absl::string_view reason, uint32_t have = 0) {
  v1::LiveAck ack;
  ack.set_have(have);
  ack.set_refused(true);
  ack.set_reason(std::string(reason));
  return ack;
}

// Each record must be one whole `messages` field, renderable as .json.
absl::Status CheckRecords(const v1::LiveAppend& a) {
  auto not_one = [](int i) {
    return absl::InvalidArgumentError(
        absl::StrCat("record ", i, " is not one complete messages field"));
  };
  std::vector<absl::string_view> records;
  records.reserve(a.records_size());
  for (int i = 0; i < a.records_size(); ++i) {
    const std::string& r = a.records(i);
    if (r.size() > kMaxRecordBytes) {
      return absl::InvalidArgumentError(absl::StrCat("record ", i, " exceeds 1 MiB"));
    }
    auto parts = segmenter::SplitSegment(r);
    if (!parts.ok() || parts->records.size() != 1 || !parts->summary.empty()) return not_one(i);
    records.push_back(r);
  }
  // One print for the whole append; only a refusal looks for its record.
  if (segmenter::JsonRecordLines(records, 1).ok()) return absl::OkStatus();
  for (int i = 0; i < a.records_size(); ++i) {
    if (!segmenter::JsonRecordFromBytes(a.records(i), false).ok()) return not_one(i);
  }
  return absl::OkStatus();
}

// The bucket an append names, if its numbers are sane for the room.
absl::StatusOr<ObjectRef> BucketOf(const v1::LiveAppend& a, const RoomMeta& meta) {
  if (a.epoch() != meta.epoch()) return absl::InvalidArgumentError("not the room's epoch");
  if (a.bucket_ms() != meta.bucket_ms()) {
    return absl::InvalidArgumentError("not the room's bucket duration");
  }
  const int64_t d = a.bucket_ms();
  if (a.index() < 0 || a.index() >= INT64_MAX / d - 1) {
    return absl::InvalidArgumentError("bucket index out of range");
  }
  return ObjectRef{.cls = ObjectClass::kActions,
                   .room = a.room(),
                   .bucket_ms = d,
                   .number = a.index(),
                   .scope = meta.private_room() ? segmenter::Scope::kPrivate
                                                : segmenter::Scope::kPublic};
}

}  // namespace

boost::asio::awaitable<http::Response> Origin::PostLive(http::Request& req) {
  if (req.method() != bh::verb::post) {
    http::Response res = http::Error(req, bh::status::method_not_allowed, "method_not_allowed",
                                     "/v1/live takes POST");
    res.set(bh::field::allow, "POST");
    co_return res;
  }
  const std::optional<std::string> writer = WriterOf(req);  // Admit checked it
  if (!writer) {
    co_return http::Error(req, bh::status::unauthorized, "unauthorized",
                          "pushes need the publisher's secret");
  }
  v1::LiveBatch batch;
  if (!batch.ParseFromArray(req.body().data(), static_cast<int>(req.body().size()))) {
    co_return http::Error(req, bh::status::bad_request, "bad_body",
                          "the body is not a valid roomcast.v1.LiveBatch");
  }
  if (batch.appends_size() > kMaxAppends) {
    co_return http::Error(req, bh::status::bad_request, "too_many_appends",
                          absl::StrCat("a batch holds at most ", kMaxAppends, " appends"));
  }
  live_.AbortExpired(NowMs());
  v1::LiveReply reply;
  for (const v1::LiveAppend& a : batch.appends()) {
    v1::LiveAck ack = TakeAppend(*writer, a);
    if (cluster_store_ != nullptr && !ack.refused() && ack.have() > 0) RelayAppend(*writer, a);
    *reply.add_acks() = std::move(ack);
  }
  http::Response res = http::Text(req, bh::status::ok, segmenter::SerializeDeterministic(reply),
                                  "application/x-protobuf");
  res.set(bh::field::cache_control, kNoStore);
  co_return res;
}

v1::LiveAck Origin::TakeAppend(const std::string& writer, const v1::LiveAppend& a) {
  std::string key;
  auto bucket = LiveBucketFor(writer, a, &key);
  // Not yet (the room's manifest is on its way: a room's first record is
  // often pushed before it) or the store failed: nothing is taken, but the
  // bucket is not refused for good; the publisher sends again from 0 with
  // the room's next record, and the close completes the stream anyway.
  if (absl::IsNotFound(bucket.status()) || absl::IsUnavailable(bucket.status())) {
    v1::LiveAck ack;
    ack.set_have(0);
    ack.set_reason(std::string(bucket.status().message()));
    return ack;
  }
  if (!bucket.ok()) return Refused(bucket.status().message());
  std::vector<std::string> records(a.records().begin(), a.records().end());
  auto have = (*bucket)->Append(a.first(), records, kMaxBucketBytes);
  if (absl::IsAlreadyExists(have.status())) {
    live_.Abort(key);
    live_conflicts_.Add();
    ROOMCAST_LOG(kError, "origin", "live_conflict")
        .Kv("room", a.room()).Kv("bucket", a.index()).Kv("detail", have.status().message());
    return Refused("record differs from one already streamed");
  }
  // Over the byte budget: no more pushes, but its streams still complete
  // at close, from the stored segment.
  if (!have.ok()) return Refused(have.status().message(), (*bucket)->records());
  v1::LiveAck ack;
  ack.set_have(*have);
  return ack;
}

absl::StatusOr<std::shared_ptr<LiveBucket>> Origin::LiveBucketFor(const std::string& writer,
                                                                  const v1::LiveAppend& a,
                                                                  std::string* key) {
  if (!segmenter::IsValidId(a.room())) return absl::InvalidArgumentError("bad room id");
  std::optional<RoomMeta> meta = FindRoom(a.room());
  if (!meta) return absl::NotFoundError("no such room (no manifest yet)");
  if (!writer.empty() && meta->publisher() != writer) {
    return absl::PermissionDeniedError("this room is published by another publisher");
  }
  ROOMCAST_ASSIGN_OR_RETURN(ObjectRef ref, BucketOf(a, *meta));
  const int64_t now = NowMs();
  const int64_t end = segmenter::BucketEnd(ref.number, ref.bucket_ms);
  const int64_t expires = end + meta->review_delay_ms() + options_.max_hold.count();
  if (segmenter::BucketStart(ref.number, ref.bucket_ms) > now + kPushSkewMs) {
    return absl::OutOfRangeError("the bucket starts too far from the origin's now");
  }
  if (expires <= now) return absl::OutOfRangeError("the bucket's hold limit has passed");
  if (end <= ClosedThrough(*meta)) return absl::FailedPreconditionError("the bucket is closed");
  *key = segmenter::StorageKey(ref);
  ROOMCAST_RETURN_IF_ERROR(CheckRecords(a));
  // Open already: not stored as far as this origin knows (a stored object
  // closes it), so the store is not asked again. In cluster mode that
  // question is a JetStream read, and it used to be asked for every
  // append, on the serving thread: under load the pushes timed out.
  if (std::shared_ptr<LiveBucket> open = live_.Find(*key); open != nullptr) return open;
  auto stored = store_->GetImmutable(*key);
  if (!stored.ok()) return absl::UnavailableError("the origin's store failed");
  if (*stored != nullptr) return absl::FailedPreconditionError("the bucket is stored already");
  bool created = false;
  std::shared_ptr<LiveBucket> bucket = live_.FindOrCreate(*key, end, expires, &created);
  if (bucket == nullptr) {
    live_full_.Add();
    // The first refusal and every 1000th: a full origin refuses many.
    if (const uint64_t n = live_full_.value(); n == 1 || n % 1000 == 0) {
      ROOMCAST_LOG(kWarning, "origin", "live_full")
          .Kv("room", a.room()).Kv("bucket", a.index())
          .Kv("max_live_buckets", options_.max_live_buckets).Kv("refused_total", n);
    }
    return absl::ResourceExhaustedError("origin full");
  }
  if (created) SettleIfClosed(*key, ref, *meta);
  return bucket;
}

void Origin::SettleIfClosed(const std::string& key, const ObjectRef& ref,
                            const RoomMeta& meta) {
  const int64_t watermark = ClosedThrough(meta);
  auto stored = store_->GetImmutable(key);
  if (stored.ok() && *stored != nullptr) return CloseLive(key, (*stored)->body());
  if (segmenter::BucketEnd(ref.number, ref.bucket_ms) > watermark) return;
  CloseLive(key, segmenter::SerializeDeterministic(segmenter::EmptySegment(
                     ref.room, meta.epoch(), ref.bucket_ms, ref.number)));
}

void Origin::CloseLive(const std::string& key, absl::string_view pb) {
  absl::Status st = live_.Close(key, pb);
  if (st.ok()) return;
  live_conflicts_.Add();
  ROOMCAST_LOG(kError, "origin", "live_close_mismatch").Kv("key", key).Kv("status", st);
}

void Origin::SettleLiveBefore(int64_t watermark_ms) {
  for (const std::string& key : live_.EndingBy(watermark_ms)) {
    auto ref = segmenter::ParseStorageKey(key);
    if (!ref.ok()) continue;
    if (std::optional<RoomMeta> meta = FindRoom(ref->room)) SettleIfClosed(key, *ref, *meta);
  }
}

}  // namespace roomcast::origin
