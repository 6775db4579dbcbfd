// PUT from the publisher: objects (immutable once written), the manifest
// (the one mutable pointer), and the publisher's watermark.
#include <iostream>

#include "absl/strings/match.h"
#include "absl/strings/strip.h"
#include "absl/strings/str_cat.h"
#include "origin/origin.h"
#include "roomcast/v1/manifest.pb.h"
#include "roomcast/v1/segment.pb.h"
#include "roomcast/v1/state.pb.h"
#include "segmenter/bucketer.h"

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

template <typename Msg>
absl::StatusOr<Msg> Parse(absl::string_view body) {
  Msg m;
  if (!m.ParseFromArray(body.data(), static_cast<int>(body.size()))) {
    return absl::InvalidArgumentError(
        absl::StrCat("the body is not a valid ", Msg::descriptor()->full_name()));
  }
  return m;
}

// The body must be the object its path names.
absl::Status CheckMatches(const ObjectRef& ref, absl::string_view body) {
  switch (ref.cls) {
    case ObjectClass::kActions: {
      auto s = Parse<v1::ActionSegment>(body);
      if (!s.ok()) return s.status();
      if (s->room() != ref.room) return Mismatch("room");
      if (s->bucket_ms() != ref.bucket_ms || s->index() != ref.number) {
        return Mismatch("bucket");
      }
      return absl::OkStatus();
    }
    case ObjectClass::kPeer: {
      auto s = Parse<v1::PeerBatch>(body);
      if (!s.ok()) return s.status();
      if (s->room() != ref.room || s->user() != ref.name) return Mismatch("room or user");
      if (s->bucket_ms() != ref.bucket_ms || s->index() != ref.number) {
        return Mismatch("bucket");
      }
      return absl::OkStatus();
    }
    case ObjectClass::kState: {
      auto s = Parse<v1::StateComponent>(body);
      if (!s.ok()) return s.status();
      if (s->room() != ref.room || s->name() != ref.name ||
          static_cast<int64_t>(s->version()) != ref.number) {
        return Mismatch("room, component or version");
      }
      return absl::OkStatus();
    }
    case ObjectClass::kSnapshot: {
      auto s = Parse<v1::StateSnapshot>(body);
      if (!s.ok()) return s.status();
      if (s->room() != ref.room ||
          static_cast<int64_t>(s->total_version()) != ref.number) {
        return Mismatch("room or total version");
      }
      return absl::OkStatus();
    }
    default:
      return absl::InvalidArgumentError("this path takes no PUT");
  }
}

}  // namespace

std::optional<http::Response> Origin::CheckPeerToken(const http::Request& req,
                                                     const ObjectRef& ref) {
  auto deny = [&](bh::status st, absl::string_view err, absl::string_view detail) {
    http::Response res = http::Error(req, st, err, detail);
    res.set(bh::field::cache_control, kPrivate);
    if (st == bh::status::unauthorized) res.set(bh::field::www_authenticate, "Bearer");
    return res;
  };
  auto it = req.find(bh::field::authorization);
  absl::string_view token;
  if (it != req.end()) token = absl::string_view(it->value().data(), it->value().size());
  if (!absl::ConsumePrefix(&token, "Bearer ") || token.empty()) {
    return deny(bh::status::unauthorized, "unauthorized",
                "peer objects need the user's token");
  }
  if (!options_.verify_viewer) {
    return deny(bh::status::unauthorized, "unauthorized",
                "this origin has no JWT secret; peer objects cannot be read");
  }
  auto user = options_.verify_viewer(token, ref.room);
  if (!user.ok()) {
    return absl::IsPermissionDenied(user.status())
               ? deny(bh::status::forbidden, "forbidden", user.status().message())
               : deny(bh::status::unauthorized, "unauthorized", user.status().message());
  }
  if (*user != ref.name) {
    return deny(bh::status::forbidden, "forbidden",
                "a token reads only its own user's peer objects");
  }
  return std::nullopt;
}

http::Response Origin::Put(http::Request& req, const ObjectRef& ref) {
  if (!Authorized(req)) {
    http::Response res = http::Error(req, bh::status::unauthorized, "unauthorized",
                                     "writes need the publisher's secret");
    res.set(bh::field::www_authenticate, "Bearer");
    return res;
  }
  if (ref.format != Format::kProto) {
    return http::Error(req, bh::status::method_not_allowed, "method_not_allowed",
                       "PUT the .pb object; the origin renders .json itself");
  }
  const std::string key = segmenter::StorageKey(ref);
  std::optional<RoomMeta> meta = FindRoom(ref.room);
  const int64_t now = NowMs();

  if (ref.cls == ObjectClass::kManifest) {
    auto m = Parse<v1::Manifest>(req.body());
    if (!m.ok()) return http::Error(req, bh::status::bad_request, "bad_body", m.status().message());
    if (m->room() != ref.room) {
      return http::Error(req, bh::status::bad_request, "bad_body", Mismatch("room").message());
    }
    if (!segmenter::IsValidId(m->publisher()) ||
        segmenter::ValidateBucketMs(m->config().bucket_ms()).ok() == false) {
      return http::Error(req, bh::status::bad_request, "bad_body",
                         "the manifest needs a publisher id and a valid bucket_ms");
    }
    if (meta && meta->epoch() == m->epoch() && m->version() < meta->manifest_version()) {
      return http::Error(req, bh::status::conflict, "stale",
                         absl::StrCat("manifest version ", m->version(), " is older than ",
                                      meta->manifest_version()));
    }
    const int64_t retention = m->config().retention_s() > 0 ? m->config().retention_s()
                                                            : options_.default_retention_s;
    auto put = store_->PutMutable(key, std::string(req.body()), now, retention);
    if (!put.ok()) return http::Error(req, bh::status::service_unavailable, "store", put.status().message());
    RoomMeta next;
    next.set_room(ref.room);
    next.set_epoch(m->epoch());
    next.set_publisher(m->publisher());
    next.set_bucket_ms(m->config().bucket_ms());
    next.set_rollup_ms(m->config().rollup_ms());
    next.set_opened_ms(m->opened_ms());
    next.set_retention_s(static_cast<uint32_t>(retention));
    next.set_manifest_version(m->version());
    if (auto st = store_->PutRoomMeta(next); !st.ok()) {
      return http::Error(req, bh::status::service_unavailable, "store", st.message());
    }
    {
      absl::MutexLock lock(&mu_);
      rooms_[ref.room] = next;
    }
    holds_.NotifyManifest(ref.room, m->version());
    return http::Text(req, bh::status::ok, "stored\n");
  }

  if (absl::Status st = CheckMatches(ref, req.body()); !st.ok()) {
    return http::Error(req, bh::status::bad_request, "bad_body", st.message());
  }
  // A bucket the origin may already have served as empty must not gain
  // content afterwards (invariant 3).
  if ((ref.cls == ObjectClass::kActions || ref.cls == ObjectClass::kPeer) && meta &&
      segmenter::BucketEnd(ref.number, ref.bucket_ms) <= WatermarkOf(meta->publisher())) {
    auto existing = store_->Get(key);
    if (existing.ok() && !existing->has_value()) {
      conflicts_.Add();
      std::cerr << "roomcast-origin: refused " << req.target()
                << ": its bucket is behind the publisher's watermark" << std::endl;
      return http::Error(req, bh::status::conflict, "closed",
                         "this bucket was closed (and may have been served empty)");
    }
  }
  const int64_t retention = meta && meta->retention_s() > 0 ? meta->retention_s()
                                                            : options_.default_retention_s;
  auto put = store_->PutImmutable(key, std::string(req.body()), now, retention);
  if (absl::IsAlreadyExists(put.status())) {
    conflicts_.Add();
    std::cerr << "roomcast-origin: refused " << req.target() << ": "
              << put.status().message() << std::endl;
    return http::Error(req, bh::status::conflict, "immutable", put.status().message());
  }
  if (!put.ok()) {
    return http::Error(req, bh::status::service_unavailable, "store", put.status().message());
  }
  if (*put == PutOutcome::kCreated) objects_stored_.Add();
  holds_.NotifyKey(key);
  return http::Text(req, *put == PutOutcome::kCreated ? bh::status::created : bh::status::ok,
                    *put == PutOutcome::kCreated ? "stored\n" : "unchanged\n");
}

http::Response Origin::PutWatermark(http::Request& req, const ObjectRef& ref) {
  if (!Authorized(req)) {
    http::Response res = http::Error(req, bh::status::unauthorized, "unauthorized",
                                     "writes need the publisher's secret");
    res.set(bh::field::www_authenticate, "Bearer");
    return res;
  }
  auto wm = Parse<v1::Watermark>(req.body());
  if (!wm.ok()) return http::Error(req, bh::status::bad_request, "bad_body", wm.status().message());
  if (wm->publisher() != ref.name) {
    return http::Error(req, bh::status::bad_request, "bad_body", Mismatch("publisher").message());
  }
  {
    absl::MutexLock lock(&mu_);
    int64_t& current = watermarks_[ref.name];
    if (wm->watermark_ms() <= current) return http::Text(req, bh::status::ok, "unchanged\n");
    // Persist before anyone can observe it: an empty bucket served because
    // of this watermark must stay empty after a restart.
    if (auto st = store_->PutWatermark(*wm); !st.ok()) {
      return http::Error(req, bh::status::service_unavailable, "store", st.message());
    }
    current = wm->watermark_ms();
  }
  holds_.NotifyWatermark(ref.name, wm->watermark_ms());
  return http::Text(req, bh::status::ok, "stored\n");
}

}  // namespace roomcast::origin
