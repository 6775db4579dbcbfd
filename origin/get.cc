// GET and HEAD: serving stored objects, synthesizing empty closed buckets,
// and holding requests for objects about to exist.
#include "origin/origin.h"

#include <boost/asio/this_coro.hpp>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "base/crypto.h"
#include "base/log.h"
#include "origin/internal/bucket_get.h"
#include "origin/internal/respond.h"
#include "roomcast/v1/segment.pb.h"
#include "segmenter/bucketer.h"
#include "segmenter/codec.h"
#include "segmenter/segment.h"

namespace roomcast::origin {
namespace bh = boost::beast::http;
using segmenter::ObjectClass;
using segmenter::ObjectRef;

namespace {

constexpr BucketCaching kPublicBucket{kImmutable, kNotYet, kNeverWillBe};
constexpr BucketCaching kPeerBucket{kPrivate, kPrivate, kPrivate};

// The query parameter `name`, if present.
std::optional<absl::string_view> QueryParam(absl::string_view query,
                                            absl::string_view name) {
  for (absl::string_view kv : absl::StrSplit(query, '&')) {
    std::pair<absl::string_view, absl::string_view> p = absl::StrSplit(kv, '=');
    if (p.first == name) return p.second;
  }
  return std::nullopt;
}

http::Response DenyPeer(const http::Request& req, bh::status status,
                        absl::string_view error, absl::string_view detail) {
  http::Response res = http::Error(req, status, error, detail);
  res.set(bh::field::cache_control, kPrivate);
  if (status == bh::status::unauthorized) res.set(bh::field::www_authenticate, "Bearer");
  return res;
}

// nullopt if the request's token speaks for the peer object's user; else
// the 401/403 answer.
std::optional<http::Response> CheckPeerToken(const http::Request& req,
                                             const ObjectRef& ref,
                                             const ViewerVerifier& verify) {
  absl::string_view token = Header(req, bh::field::authorization);
  if (!absl::ConsumePrefix(&token, "Bearer ") || token.empty()) {
    return DenyPeer(req, bh::status::unauthorized, "unauthorized",
                    "peer objects need the user's token");
  }
  if (!verify) {
    return DenyPeer(req, bh::status::unauthorized, "unauthorized",
                    "this origin has no JWT secret; peer objects cannot be read");
  }
  auto user = verify(token, ref.room);
  if (!user.ok()) {
    return absl::IsPermissionDenied(user.status())
               ? DenyPeer(req, bh::status::forbidden, "forbidden", user.status().message())
               : DenyPeer(req, bh::status::unauthorized, "unauthorized",
                          user.status().message());
  }
  if (*user != ref.name) {
    return DenyPeer(req, bh::status::forbidden, "forbidden",
                    "a token reads only its own user's peer objects");
  }
  return std::nullopt;
}

// The 404 for a bucket this room never has: another duration, or before
// the room was opened. nullopt if the bucket may exist.
std::optional<http::Response> NeverInRoom(const http::Request& req, const ObjectRef& ref,
                                          const RoomMeta& meta, const BucketCaching& caching) {
  const int64_t d = ref.bucket_ms;
  const bool peer = ref.cls == ObjectClass::kPeer;
  if (d != meta.bucket_ms() && (peer || d != meta.rollup_ms())) {
    return NotFound(req, caching.never,
                    absl::StrCat("this room's buckets are ", meta.bucket_ms(), " ms"));
  }
  if (segmenter::BucketEnd(ref.number, d) <= meta.opened_ms()) {
    return NotFound(req, caching.never, "before the room existed");
  }
  return std::nullopt;
}

// Closed and empty: the same bytes the segmenter makes of no messages,
// synthesized here rather than stored.
StoredObject EmptyBucket(const ObjectRef& ref, const RoomMeta& meta) {
  StoredObject empty;
  if (ref.cls == ObjectClass::kPeer) {
    empty.set_body(segmenter::SerializeDeterministic(segmenter::EmptyPeerBatch(
        ref.room, meta.epoch(), ref.name, ref.bucket_ms, ref.number)));
  } else {
    empty.set_body(segmenter::SerializeDeterministic(
        segmenter::EmptySegment(ref.room, meta.epoch(), ref.bucket_ms, ref.number)));
    // Its gzip forms as a stream of it went out (DESIGN §10: a viewer of
    // the open bucket got those bytes, and a cache may have kept them).
    if (std::optional<Encodings> enc = StreamedEncodings(ref, empty.body())) {
      empty.set_gzip(std::move(enc->gzip));
      empty.set_json_gzip(std::move(enc->json_gzip));
    }
  }
  empty.set_digest(base::Sha256Hex(empty.body()));
  return empty;
}

}  // namespace

http::Response Origin::StoreFailure(const http::Request& req,
                                    const absl::Status& status) {
  if (absl::IsDataLoss(status)) {
    // Never served under its ETag, and loud: the store's disk lied.
    corrupt_.Add();
    ROOMCAST_LOG(kError, "origin", "corrupt_object")
        .Kv("path", absl::string_view(req.target().data(), req.target().size()))
        .Kv("status", status);
    return http::Error(req, bh::status::internal_server_error, "corrupt",
                       status.message());
  }
  return StoreUnavailable(req, status);
}

namespace {

// Beyond the caps on held requests (DESIGN §15): 503 with Retry-After. A
// CDN holds about one request per URL, so only a client holding thousands
// directly meets this.
http::Response TooManyHeld(const http::Request& req) {
  return http::Overloaded(req, "too many requests held; ask again shortly");
}

}  // namespace

boost::asio::awaitable<bool> Origin::Hold(HoldRegistry::Ticket ticket,
                                          const std::string& remote) {
  std::optional<http::AddressLimits::Slot> slot = held_limits_.Acquire(remote);
  if (!slot) {
    holds_.Cancel(ticket);
    co_return false;
  }
  held_now_.Add(1);
  auto woke = co_await holds_.Wait(std::move(ticket),
                                   std::chrono::steady_clock::now() + options_.max_hold);
  held_now_.Add(-1);
  if (woke) wake_delay_.Observe(std::chrono::duration<double>(*woke).count());
  co_return true;
}

boost::asio::awaitable<http::Response> Origin::GetVersion(Call call) {
  auto obj = store_->GetImmutable(segmenter::StorageKey(call.ref));
  if (!obj.ok()) co_return StoreFailure(call.req, obj.status());
  if (*obj == nullptr) co_return NotFound(call.req, kNotYet, "no such version (yet)");
  co_return ServeObject(call.req, call.ref, **obj, kImmutable);
}

boost::asio::awaitable<http::Response> Origin::GetWatermark(Call call) {
  http::Response res = http::Text(
      call.req, bh::status::ok,
      absl::StrCat("{\"publisher\":\"", call.ref.name, "\",\"watermark_ms\":",
                   WatermarkOf(call.ref.name), "}\n"),
      "application/json");
  res.set(bh::field::cache_control, kNoStore);
  co_return res;
}

boost::asio::awaitable<http::Response> Origin::GetManifest(Call call) {
  if (auto v = QueryParam(call.query, "after")) {
    uint64_t after = 0;
    if (!absl::SimpleAtoi(*v, &after)) {
      co_return http::Error(call.req, bh::status::bad_request, "bad_query",
                            "after= takes a manifest version");
    }
    if (!co_await HoldForManifest(call.ref.room, after, call.req.remote_address)) {
      co_return TooManyHeld(call.req);
    }
  }
  auto obj = store_->Get(segmenter::StorageKey(call.ref));
  if (!obj.ok()) co_return StoreUnavailable(call.req, obj.status());
  if (!obj->has_value()) {
    co_return NotFound(call.req, kNotYet, "no manifest for this room (yet)");
  }
  const std::string cache = absl::StrCat("public, max-age=", options_.manifest_max_age_s);
  co_return ServeObject(call.req, call.ref, **obj, cache.c_str());
}

// Until the room's manifest is newer than `after`, or the hold limit.
boost::asio::awaitable<bool> Origin::HoldForManifest(const std::string& room,
                                                     uint64_t after,
                                                     const std::string& remote) {
  auto version = [&] {
    std::optional<RoomMeta> m = FindRoom(room);
    return m ? m->manifest_version() : 0;
  };
  if (version() > after) co_return true;
  auto ticket = holds_.RegisterManifest(co_await boost::asio::this_coro::executor,
                                        room, after);
  if (version() > after) {  // written between the first look and Register
    holds_.Cancel(ticket);
    co_return true;
  }
  co_return co_await Hold(std::move(ticket), remote);
}

boost::asio::awaitable<http::Response> Origin::GetBucket(Call call) {
  const bool peer = call.ref.cls == ObjectClass::kPeer;
  const BucketCaching& caching = peer ? kPeerBucket : kPublicBucket;
  if (peer) {
    auto denied = CheckPeerToken(call.req, call.ref, options_.verify_viewer);
    if (denied) co_return *std::move(denied);
  }
  std::optional<RoomMeta> meta = FindRoom(call.ref.room);
  if (!meta) co_return NotFound(call.req, caching.not_yet, "no such room (yet)");
  if (meta->private_room() != (call.ref.scope == segmenter::Scope::kPrivate)) {
    co_return NotFound(call.req, caching.never,
                       meta->private_room() ? "no such room" : "this room is not private");
  }
  if (auto never = NeverInRoom(call.req, call.ref, *meta, caching)) co_return *std::move(never);
  const BucketGet get{
      .call = call,
      .caching = caching,
      .meta = *std::move(meta),
      .key = segmenter::StorageKey(call.ref),
      .end_ms = segmenter::BucketEnd(call.ref.number, call.ref.bucket_ms),
      .now_ms = NowMs()};
  if (auto res = ServeIfClosed(get)) co_return *std::move(res);
  if (Streamable(get)) co_return co_await StreamBucket(get);
  if (get.end_ms > get.now_ms + options_.max_hold.count()) {
    co_return NotFound(call.req, caching.not_yet,
                       "this bucket is further ahead than the hold limit");
  }
  if (get.meta.stalled_from_ms() > 0 && get.end_ms > get.meta.stalled_from_ms()) {
    // Holding would only wait out the hold limit: the room is stalled.
    http::Response res = NotFound(call.req, caching.not_yet,
                                  "the room is stalled; its publisher cannot publish it now");
    res.set(bh::field::retry_after, "1");
    co_return res;
  }
  co_return co_await HoldForBucket(get);
}

// Until the bucket is stored or closed, or the hold limit.
boost::asio::awaitable<http::Response> Origin::HoldForBucket(const BucketGet& get) {
  auto ticket = holds_.RegisterObject(co_await boost::asio::this_coro::executor,
                                      get.key, get.meta.publisher(),
                                      get.end_ms + int64_t{get.meta.review_delay_ms()});
  if (auto res = ServeIfClosed(get)) {  // written between the first look and Register
    holds_.Cancel(ticket);
    co_return *std::move(res);
  }
  if (!co_await Hold(std::move(ticket), get.call.req.remote_address)) {
    co_return TooManyHeld(get.call.req);
  }
  if (auto res = ServeIfClosed(get)) co_return *std::move(res);
  // The publisher stalled. A short positive TTL, not an uncacheable answer:
  // a CDN caches this for a second and keeps collapsing requests for the URL,
  // where no-store would release every queued request onto the origin and
  // make Varnish mark the URL hit-for-miss for two minutes.
  http::Response res = NotFound(get.call.req, get.caching.not_yet,
                                "the publisher has not closed this bucket yet");
  res.set("Retry-After", "1");
  co_return res;
}

// Serves the bucket if it is stored or closed; nullopt if still open.
std::optional<http::Response> Origin::ServeIfClosed(const BucketGet& get) {
  const http::Request& req = get.call.req;
  // Watermark first: the publisher stores a bucket's object before it moves
  // the watermark past it, so if the watermark says closed, a store read
  // after it sees the object if there is one.
  const int64_t watermark = ClosedThrough(get.meta);
  auto obj = store_->GetImmutable(get.key);
  if (!obj.ok()) return StoreFailure(req, obj.status());
  if (*obj != nullptr) return ServeObject(req, get.call.ref, **obj, get.caching.found);
  if (get.end_ms > watermark) return std::nullopt;
  const int64_t retention_ms = static_cast<int64_t>(get.meta.retention_s()) * 1000;
  if (get.end_ms < get.now_ms - retention_ms) {
    return NotFound(req, get.caching.never, "past the room's retention");
  }
  return ServeObject(req, get.call.ref, EmptyBucket(get.call.ref, get.meta),
                     get.caching.found);
}

}  // namespace roomcast::origin
