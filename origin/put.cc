// PUT from the publisher: objects (immutable once written), the manifest
// (the one mutable pointer), and the publisher's watermark.
#include "origin/origin.h"

#include <algorithm>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "base/crypto.h"
#include "base/log.h"
#include "base/status_macros.h"
#include "origin/internal/respond.h"
#include "origin/internal/takedown.h"
#include "roomcast/v1/manifest.pb.h"
#include "roomcast/v1/segment.pb.h"
#include "roomcast/v1/state.pb.h"
#include "segmenter/bucketer.h"
#include "segmenter/codec.h"

namespace roomcast::origin {
namespace bh = boost::beast::http;
using segmenter::Format;
using segmenter::ObjectClass;
using segmenter::ObjectRef;

namespace {

absl::Status Mismatch(absl::string_view what) {
  return absl::InvalidArgumentError(
      absl::StrCat("the body's ", what, " does not match the path"));
}

// 413 for what the store cannot hold (a cluster's message size), else 503.
http::Response StoreRefused(const http::Request& req, const absl::Status& status) {
  if (absl::IsResourceExhausted(status)) {
    return http::Error(req, bh::status::payload_too_large, "too_large", status.message());
  }
  return StoreUnavailable(req, status);
}

http::Response BadBody(const http::Request& req, const absl::Status& status) {
  return http::Error(req, bh::status::bad_request, "bad_body", status.message());
}

absl::string_view Target(const http::Request& req) {
  return absl::string_view(req.target().data(), req.target().size());
}

template <typename Msg>
absl::StatusOr<Msg> Parse(absl::string_view body) {
  Msg m;
  if (!m.ParseFromArray(body.data(), static_cast<int>(body.size()))) {
    return absl::InvalidArgumentError(
        absl::StrCat("the body is not a valid ", Msg::descriptor()->full_name()));
  }
  return m;
}

// Whether each kind of object is the one its path names.
absl::Status CheckNames(const v1::ActionSegment& s, const ObjectRef& ref) {
  if (s.room() != ref.room) return Mismatch("room");
  if (s.bucket_ms() != ref.bucket_ms || s.index() != ref.number) return Mismatch("bucket");
  return absl::OkStatus();
}
absl::Status CheckNames(const v1::PeerBatch& s, const ObjectRef& ref) {
  if (s.room() != ref.room || s.user() != ref.name) return Mismatch("room or user");
  if (s.bucket_ms() != ref.bucket_ms || s.index() != ref.number) return Mismatch("bucket");
  return absl::OkStatus();
}
absl::Status CheckNames(const v1::StateComponent& s, const ObjectRef& ref) {
  if (s.room() != ref.room || s.name() != ref.name ||
      static_cast<int64_t>(s.version()) != ref.number) {
    return Mismatch("room, component or version");
  }
  return absl::OkStatus();
}
absl::Status CheckNames(const v1::StateSnapshot& s, const ObjectRef& ref) {
  if (s.room() != ref.room || static_cast<int64_t>(s.total_version()) != ref.number) {
    return Mismatch("room or total version");
  }
  return absl::OkStatus();
}

template <typename Msg>
absl::Status ParseAndCheckNames(const ObjectRef& ref, absl::string_view body) {
  auto m = Parse<Msg>(body);
  if (!m.ok()) return m.status();
  return CheckNames(*m, ref);
}

// The body must be the object its path names.
absl::Status CheckMatches(const ObjectRef& ref, absl::string_view body) {
  switch (ref.cls) {
    case ObjectClass::kActions: return ParseAndCheckNames<v1::ActionSegment>(ref, body);
    case ObjectClass::kPeer: return ParseAndCheckNames<v1::PeerBatch>(ref, body);
    case ObjectClass::kState: return ParseAndCheckNames<v1::StateComponent>(ref, body);
    case ObjectClass::kSnapshot: return ParseAndCheckNames<v1::StateSnapshot>(ref, body);
    default: return absl::InvalidArgumentError("this path takes no PUT");
  }
}

// A manifest the origin can serve its room's buckets by.
absl::Status CheckManifest(const ObjectRef& ref, const v1::Manifest& m) {
  if (m.room() != ref.room) return Mismatch("room");
  if (m.config().private_() != (ref.scope == segmenter::Scope::kPrivate)) {
    return absl::InvalidArgumentError(
        "a private room's manifest goes under /v1/private/, a public one's under /v1/rooms/");
  }
  if (!segmenter::IsValidId(m.publisher()) ||
      !segmenter::ValidateBucketMs(m.config().bucket_ms()).ok()) {
    return absl::InvalidArgumentError(
        "the manifest needs a publisher id and a valid bucket_ms");
  }
  return absl::OkStatus();
}

// What the origin keeps of a manifest to answer for its room.
RoomMeta MetaOf(const v1::Manifest& m, int64_t retention_s) {
  RoomMeta meta;
  meta.set_room(m.room());
  meta.set_epoch(m.epoch());
  meta.set_publisher(m.publisher());
  meta.set_bucket_ms(m.config().bucket_ms());
  meta.set_rollup_ms(m.config().rollup_ms());
  meta.set_opened_ms(m.opened_ms());
  meta.set_retention_s(static_cast<uint32_t>(retention_s));
  meta.set_manifest_version(m.version());
  if (m.status() == v1::ROOM_STATUS_STALLED) meta.set_stalled_from_ms(m.stalled_from_ms());
  meta.set_private_room(m.config().private_());
  if (m.review_delay_ms() > 0) {
    meta.set_review_delay_ms(m.review_delay_ms());
    meta.set_closed_floor_ms(m.watermark_ms());
  }
  return meta;
}

// Every object the origin stores it must be able to serve in both
// renditions: bytes whose .json cannot be rendered (nesting past protobuf's
// JSON printer, say) would answer 500 to every viewer of the .json URL.
absl::Status CheckRenderable(const ObjectRef& ref, absl::string_view body) {
  if (auto json = segmenter::RenderJson(ref.cls, body); !json.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("the object has no .json rendition: ", json.status().message()));
  }
  return absl::OkStatus();
}

// An action segment's two renditions, chunk by chunk (what its streams
// sent), for the store's gzip copies.
struct Renditions {
  std::vector<std::string> pb;
  std::vector<std::string> json;
};

// CheckRenderable, printing an action segment in the streamed layout once:
// its .json chunks prove the rendition and are kept for the gzip copies.
// nullopt for anything else (checked as before; the store's own gzip).
absl::StatusOr<std::optional<Renditions>> CheckRenditions(const ObjectRef& ref,
                                                          absl::string_view body) {
  if (ref.cls == ObjectClass::kActions) {
    auto pb_chunks = segmenter::SegmentChunks(body, segmenter::Rendition::kPb);
    if (pb_chunks.ok()) {
      auto json_chunks = segmenter::SegmentChunks(body, segmenter::Rendition::kJson);
      if (!json_chunks.ok()) {
        return absl::InvalidArgumentError(absl::StrCat("the object has no .json rendition: ",
                                                       json_chunks.status().message()));
      }
      return Renditions{.pb = *std::move(pb_chunks), .json = *std::move(json_chunks)};
    }
  }
  ROOMCAST_RETURN_IF_ERROR(CheckRenderable(ref, body));
  return std::nullopt;
}

// StreamedEncodings from the chunks CheckRenditions made.
std::optional<Encodings> Gzipped(const std::optional<Renditions>& r) {
  if (!r) return std::nullopt;
  return Encodings{.gzip = segmenter::GzipSegment(r->pb),
                   .json_gzip = segmenter::GzipSegment(r->json)};
}

}  // namespace

boost::asio::awaitable<http::Response> Origin::PutManifest(Call call) {
  if (auto refused = RefuseWrite(call.req, call.ref)) co_return *std::move(refused);
  auto m = Parse<v1::Manifest>(call.req.body());
  if (!m.ok()) co_return BadBody(call.req, m.status());
  if (absl::Status st = CheckManifest(call.ref, *m); !st.ok()) co_return BadBody(call.req, st);
  if (absl::Status st = CheckRenderable(call.ref, call.req.body()); !st.ok()) {
    co_return BadBody(call.req, st);
  }
  if (const std::string writer = *WriterOf(call.req); !writer.empty() && writer != m->publisher()) {
    co_return http::Error(call.req, bh::status::forbidden, "forbidden",
                          "a publisher's secret writes only its own manifests");
  }
  std::optional<RoomMeta> meta = FindRoom(call.ref.room);
  if (meta && meta->epoch() == m->epoch() && m->version() < meta->manifest_version()) {
    co_return http::Error(call.req, bh::status::conflict, "stale",
                          absl::StrCat("manifest version ", m->version(),
                                       " is older than ", meta->manifest_version()));
  }
  const int64_t retention = m->config().retention_s() > 0 ? m->config().retention_s()
                                                          : options_.default_retention_s;
  const RoomMeta stored_meta = MetaOf(*m, retention);
  if (absl::Status st =
          co_await OnStoreThread([&] { return StoreManifest(call, stored_meta); });
      !st.ok()) {
    co_return StoreRefused(call.req, st);
  }
  holds_.NotifyManifest(call.ref.room, m->version());
  co_return http::Text(call.req, bh::status::ok, "stored\n");
}

// The manifest's bytes, then the room's metadata: on disk, then in memory.
absl::Status Origin::StoreManifest(const Call& call, const RoomMeta& meta) {
  auto put = store_->PutMutable(segmenter::StorageKey(call.ref), std::string(call.req.body()),
                                NowMs(), meta.retention_s());
  if (!put.ok()) return put.status();
  if (absl::Status st = store_->PutRoomMeta(meta); !st.ok()) return st;
  absl::MutexLock lock(&mu_);
  rooms_[meta.room()] = meta;
  return absl::OkStatus();
}

// A bucket the origin may already have served as empty must not gain
// content afterwards (invariant 3).
bool Origin::ClosedAndNeverStored(const ObjectRef& ref, const std::string& key,
                                  const RoomMeta& meta) const {
  if (ref.cls != ObjectClass::kActions && ref.cls != ObjectClass::kPeer) return false;
  if (segmenter::BucketEnd(ref.number, ref.bucket_ms) > ClosedThrough(meta)) {
    return false;
  }
  auto existing = store_->Get(key);
  return existing.ok() && !existing->has_value();
}

boost::asio::awaitable<http::Response> Origin::PutObject(Call call) {
  if (auto refused = RefuseWrite(call.req, call.ref)) co_return *std::move(refused);
  if (absl::Status st = CheckMatches(call.ref, call.req.body()); !st.ok()) {
    co_return BadBody(call.req, st);
  }
  // Printing a segment's .json takes a while: off the serving thread.
  absl::StatusOr<std::optional<Renditions>> renditions =
      co_await OnStoreThread([&] { return CheckRenditions(call.ref, call.req.body()); });
  if (!renditions.ok()) co_return BadBody(call.req, renditions.status());
  const std::string key = segmenter::StorageKey(call.ref);
  std::optional<RoomMeta> meta = FindRoom(call.ref.room);
  if (meta && meta->private_room() != (call.ref.scope == segmenter::Scope::kPrivate)) {
    co_return BadBody(call.req, absl::InvalidArgumentError(
                                    "the room's objects live under the other prefix"));
  }
  // The one way an immutable object's bytes change (DESIGN §11).
  if (IsTakedown(call.req)) co_return co_await PutTakedown(call, Gzipped(*renditions));
  if (meta && ClosedAndNeverStored(call.ref, key, *meta)) {
    conflicts_.Add();
    ROOMCAST_LOG(kWarning, "origin", "put_refused")
        .Kv("path", Target(call.req)).Kv("reason", "bucket behind the publisher's watermark");
    co_return http::Error(call.req, bh::status::conflict, "closed",
                          "this bucket was closed (and may have been served empty)");
  }
  const int64_t retention = meta && meta->retention_s() > 0 ? meta->retention_s()
                                                            : options_.default_retention_s;
  auto put = co_await OnStoreThread([&] {
    return store_->PutImmutable(key, std::string(call.req.body()), NowMs(), retention,
                                Gzipped(*renditions));
  });
  if (absl::IsAlreadyExists(put.status())) {
    conflicts_.Add();
    ROOMCAST_LOG(kWarning, "origin", "put_refused")
        .Kv("path", Target(call.req)).Kv("reason", put.status().message());
    co_return http::Error(call.req, bh::status::conflict, "immutable", put.status().message());
  }
  if (!put.ok()) co_return StoreRefused(call.req, put.status());
  const bool created = *put == PutOutcome::kCreated;
  if (created) objects_stored_.Add();
  if (call.ref.cls == ObjectClass::kActions) CloseLive(key, call.req.body());
  holds_.NotifyKey(key);
  co_return http::Text(call.req, created ? bh::status::created : bh::status::ok,
                       created ? "stored\n" : "unchanged\n");
}

boost::asio::awaitable<http::Response> Origin::PutWatermark(Call call) {
  if (auto refused = RefuseWrite(call.req, call.ref)) co_return *std::move(refused);
  auto wm = Parse<v1::Watermark>(call.req.body());
  if (!wm.ok()) co_return BadBody(call.req, wm.status());
  if (wm->publisher() != call.ref.name) co_return BadBody(call.req, Mismatch("publisher"));
  if (wm->watermark_ms() > NowMs() + options_.max_watermark_skew_ms) {
    ROOMCAST_LOG(kWarning, "origin", "watermark_refused")
        .Kv("publisher", call.ref.name)
        .Kv("watermark_ms", wm->watermark_ms())
        .Kv("ahead_ms", wm->watermark_ms() - NowMs());
    co_return http::Error(call.req, bh::status::bad_request, "watermark_ahead",
                          absl::StrCat("the watermark is more than ",
                                       options_.max_watermark_skew_ms,
                                       " ms ahead of the origin's clock"));
  }
  {
    absl::MutexLock write_lock(&watermark_write_mu_);
    if (wm->watermark_ms() <= WatermarkOf(call.ref.name)) {
      co_return http::Text(call.req, bh::status::ok, "unchanged\n");
    }
    // Persist before anyone can observe it: an empty bucket served because
    // of this watermark must stay empty after a restart.
    if (absl::Status st = store_->PutWatermark(*wm); !st.ok()) {
      co_return StoreUnavailable(call.req, st);
    }
    absl::MutexLock lock(&mu_);
    int64_t& current = watermarks_[call.ref.name];
    current = std::max(current, wm->watermark_ms());  // a notice may have moved it
  }
  holds_.NotifyWatermark(call.ref.name, wm->watermark_ms());
  SettleLiveBefore(wm->watermark_ms());
  co_return http::Text(call.req, bh::status::ok, "stored\n");
}

}  // namespace roomcast::origin
