// GET and HEAD: serving stored objects, synthesizing empty closed buckets,
// and holding requests for objects about to exist.
#include <boost/asio/this_coro.hpp>

#include <iostream>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "base/crypto.h"
#include "origin/origin.h"
#include "roomcast/v1/segment.pb.h"
#include "segmenter/bucketer.h"
#include "segmenter/codec.h"
#include "segmenter/segment.h"

namespace roomcast::origin {
namespace bh = boost::beast::http;
using segmenter::Format;
using segmenter::ObjectClass;
using segmenter::ObjectRef;

namespace {

absl::string_view Header(const http::Request& req, bh::field f) {
  auto it = req.find(f);
  if (it == req.end()) return {};
  return absl::string_view(it->value().data(), it->value().size());
}

// True if Accept-Encoding allows gzip (a "gzip" coding without q=0). Splits
// without allocating: this runs on every GET.
bool AcceptsGzip(const http::Request& req) {
  for (absl::string_view part : absl::StrSplit(Header(req, bh::field::accept_encoding), ',')) {
    const size_t semi = part.find(';');
    if (absl::StripAsciiWhitespace(part.substr(0, semi)) != "gzip") continue;
    if (semi == absl::string_view::npos) return true;
    absl::string_view param = part.substr(semi + 1);
    return absl::StripAsciiWhitespace(param.substr(0, param.find(';'))) != "q=0";
  }
  return false;
}

// If-None-Match holds `etag` (or "*"); weak comparison as RFC 9110 asks.
bool Matches(const http::Request& req, const std::string& etag) {
  for (absl::string_view tag : absl::StrSplit(Header(req, bh::field::if_none_match), ',')) {
    tag = absl::StripAsciiWhitespace(tag);
    absl::ConsumePrefix(&tag, "W/");
    if (tag == "*" || tag == etag) return true;
  }
  return false;
}

// The query parameter `name`, if present.
std::optional<absl::string_view> QueryParam(absl::string_view query,
                                            absl::string_view name) {
  for (absl::string_view kv : absl::StrSplit(query, '&')) {
    std::pair<absl::string_view, absl::string_view> p = absl::StrSplit(kv, '=');
    if (p.first == name) return p.second;
  }
  return std::nullopt;
}

}  // namespace

http::Response Origin::NotFound(const http::Request& req,
                                const char* cache_control,
                                absl::string_view detail) {
  http::Response res = http::Error(req, bh::status::not_found, "not_found", detail);
  res.set(bh::field::cache_control, cache_control);
  return res;
}

http::Response Origin::StoreFailure(const http::Request& req,
                                    const absl::Status& status) {
  if (absl::IsDataLoss(status)) {
    // Never served under its ETag, and loud: the store's disk lied.
    corrupt_.Add();
    std::cerr << "roomcast-origin: " << status.message() << std::endl;
    return http::Error(req, bh::status::internal_server_error, "corrupt",
                       status.message());
  }
  return http::Error(req, bh::status::service_unavailable, "store", status.message());
}

http::Response Origin::Serve(const http::Request& req, const ObjectRef& ref,
                             const StoredObject& obj, const char* cache_control) {
  const bool gzip = AcceptsGzip(req);
  std::string body;
  std::string etag;
  bool gzipped = false;
  if (ref.format == Format::kJson) {
    auto json = segmenter::RenderJson(ref.cls, obj.body());
    if (!json.ok()) {
      return http::Error(req, bh::status::internal_server_error, "corrupt",
                         json.status().message());
    }
    body = *std::move(json);
    etag = absl::StrCat("\"", obj.digest(), ".json");
    if (gzip && body.size() > 256) {
      if (std::string gz = Gzip(body); !gz.empty()) {
        body = std::move(gz);
        gzipped = true;
      }
    }
  } else {
    etag = absl::StrCat("\"", obj.digest());
    gzipped = gzip && !obj.gzip().empty();
    body = gzipped ? obj.gzip() : obj.body();
  }
  // A strong ETag per encoding: a cache must never answer a gzip validator
  // with identity bytes.
  absl::StrAppend(&etag, gzipped ? ".gz\"" : "\"");
  http::Response res(bh::status::ok, req.version());
  res.keep_alive(req.keep_alive());
  if (Matches(req, etag)) {
    res.result(bh::status::not_modified);
  } else {
    res.set(bh::field::content_type, segmenter::ContentType(ref.format).data());
    if (gzipped) res.set(bh::field::content_encoding, "gzip");
    res.body() = std::move(body);
  }
  res.set(bh::field::etag, etag);
  res.set(bh::field::cache_control, cache_control);
  res.set(bh::field::vary, "Accept-Encoding");
  return res;
}

boost::asio::awaitable<http::Response> Origin::Get(http::Request& req,
                                                   const ObjectRef& ref,
                                                   absl::string_view query) {
  switch (ref.cls) {
    case ObjectClass::kManifest:
      co_return co_await GetManifest(req, ref, query);
    case ObjectClass::kActions:
    case ObjectClass::kPeer:
      co_return co_await GetBucket(req, ref);
    case ObjectClass::kState:
    case ObjectClass::kSnapshot: {
      ObjectRef key_ref = ref;
      key_ref.format = Format::kProto;
      auto obj = store_->GetImmutable(segmenter::StorageKey(key_ref));
      if (!obj.ok()) co_return StoreFailure(req, obj.status());
      if (*obj == nullptr) {
        co_return NotFound(req, kNotYet, "no such version (yet)");
      }
      co_return Serve(req, ref, **obj, kImmutable);
    }
    case ObjectClass::kWatermark: {
      http::Response res = http::Text(
          req, bh::status::ok,
          absl::StrCat("{\"publisher\":\"", ref.name, "\",\"watermark_ms\":",
                       WatermarkOf(ref.name), "}\n"),
          "application/json");
      res.set(bh::field::cache_control, kNoStore);
      co_return res;
    }
    case ObjectClass::kPeerKey:
      break;
  }
  co_return NotFound(req, kNoStore, "no such object");
}

boost::asio::awaitable<http::Response> Origin::GetManifest(http::Request& req,
                                                           const ObjectRef& ref,
                                                           absl::string_view query) {
  const std::string cache = absl::StrCat("public, max-age=", options_.manifest_max_age_s);
  const std::string key = segmenter::StorageKey({.cls = ObjectClass::kManifest, .room = ref.room});
  uint64_t after = 0;
  if (auto v = QueryParam(query, "after")) {
    if (!absl::SimpleAtoi(*v, &after)) {
      co_return http::Error(req, bh::status::bad_request, "bad_query",
                            "after= takes a manifest version");
    }
    auto version = [&] {
      std::optional<RoomMeta> m = FindRoom(ref.room);
      return m ? m->manifest_version() : 0;
    };
    if (version() <= after) {
      auto ticket = holds_.RegisterManifest(co_await boost::asio::this_coro::executor,
                                            ref.room, after);
      if (version() > after) {
        holds_.Cancel(ticket);
      } else {
        held_now_.Add(1);
        auto woke = co_await holds_.Wait(
            ticket, std::chrono::steady_clock::now() + options_.max_hold);
        held_now_.Add(-1);
        if (woke) wake_delay_.Observe(std::chrono::duration<double>(*woke).count());
      }
    }
  }
  auto obj = store_->Get(key);
  if (!obj.ok()) {
    co_return http::Error(req, bh::status::service_unavailable, "store",
                          obj.status().message());
  }
  if (!obj->has_value()) co_return NotFound(req, kNotYet, "no manifest for this room (yet)");
  co_return Serve(req, ref, **obj, cache.c_str());
}

boost::asio::awaitable<http::Response> Origin::GetBucket(http::Request& req,
                                                         const ObjectRef& ref) {
  const bool peer = ref.cls == ObjectClass::kPeer;
  const char* found_cache = peer ? kPrivate : kImmutable;
  const char* not_yet = peer ? kPrivate : kNotYet;
  const char* never = peer ? kPrivate : kNeverWillBe;
  if (peer) {
    if (auto denied = CheckPeerToken(req, ref)) co_return *std::move(denied);
  }
  std::optional<RoomMeta> meta = FindRoom(ref.room);
  if (!meta) co_return NotFound(req, not_yet, "no such room (yet)");
  const int64_t d = ref.bucket_ms;
  if (d != meta->bucket_ms() && (peer || d != meta->rollup_ms())) {
    co_return NotFound(req, never, absl::StrCat("this room's buckets are ",
                                                meta->bucket_ms(), " ms"));
  }
  const int64_t end = segmenter::BucketEnd(ref.number, d);
  const int64_t now = NowMs();
  if (end <= meta->opened_ms()) {
    co_return NotFound(req, never, "before the room existed");
  }
  ObjectRef key_ref = ref;
  key_ref.format = Format::kProto;
  const std::string key = segmenter::StorageKey(key_ref);

  // Serves the bucket if it is stored or closed; nullopt if still open.
  auto ready = [&]() -> std::optional<http::Response> {
    // Watermark first: the publisher stores a bucket's object before it
    // moves the watermark past it, so if the watermark says closed, a store
    // read after it sees the object if there is one.
    const int64_t watermark = WatermarkOf(meta->publisher());
    auto obj = store_->GetImmutable(key);
    if (!obj.ok()) return StoreFailure(req, obj.status());
    if (*obj != nullptr) return Serve(req, ref, **obj, found_cache);
    if (end > watermark) return std::nullopt;
    if (end < now - static_cast<int64_t>(meta->retention_s()) * 1000) {
      return NotFound(req, never, "past the room's retention");
    }
    // Closed and empty: the same bytes the segmenter makes of no messages,
    // synthesized here rather than stored.
    StoredObject empty;
    if (peer) {
      empty.set_body(segmenter::SerializeDeterministic(segmenter::EmptyPeerBatch(
          ref.room, meta->epoch(), ref.name, d, ref.number)));
    } else {
      empty.set_body(segmenter::SerializeDeterministic(
          segmenter::EmptySegment(ref.room, meta->epoch(), d, ref.number)));
    }
    empty.set_digest(base::Sha256Hex(empty.body()));
    return Serve(req, ref, empty, found_cache);
  };

  if (auto res = ready()) co_return *std::move(res);
  if (end > now + options_.max_hold.count()) {
    co_return NotFound(req, not_yet, "this bucket is further ahead than the hold limit");
  }
  auto ticket = holds_.RegisterObject(co_await boost::asio::this_coro::executor,
                                      key, meta->publisher(), end);
  if (auto res = ready()) {  // written between the first look and Register
    holds_.Cancel(ticket);
    co_return *std::move(res);
  }
  held_now_.Add(1);
  auto woke = co_await holds_.Wait(
      ticket, std::chrono::steady_clock::now() + options_.max_hold);
  held_now_.Add(-1);
  if (woke) wake_delay_.Observe(std::chrono::duration<double>(*woke).count());
  if (auto res = ready()) co_return *std::move(res);
  // The publisher stalled. A short positive TTL, not an uncacheable answer:
  // a CDN caches this for a second and keeps collapsing requests for the URL,
  // where no-store would release every queued request onto the origin and
  // make Varnish mark the URL hit-for-miss for two minutes.
  http::Response res = NotFound(req, not_yet, "the publisher has not closed this bucket yet");
  res.set("Retry-After", "1");
  co_return res;
}

}  // namespace roomcast::origin
