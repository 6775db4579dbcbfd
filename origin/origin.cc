#include "origin/origin.h"

#include <map>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "base/crypto.h"
#include "base/status_macros.h"
#include "origin/static_files.h"
#include "segmenter/codec.h"

namespace roomcast::origin {
namespace bh = boost::beast::http;
using segmenter::ObjectClass;

int64_t NowMs() { return absl::ToUnixMillis(absl::Now()); }

namespace {

const char* ClassName(std::optional<ObjectClass> cls) {
  if (!cls) return "other";
  switch (*cls) {
    case ObjectClass::kManifest: return "manifest";
    case ObjectClass::kActions: return "actions";
    case ObjectClass::kState: return "state";
    case ObjectClass::kSnapshot: return "snapshot";
    case ObjectClass::kPeer: return "peer";
    case ObjectClass::kPeerKey: return "peer_key";
    case ObjectClass::kWatermark: return "watermark";
  }
  return "other";
}

// GET /viewer/...: the embedded browser viewer. Short-lived in caches (it
// changes between releases), revalidated by ETag.
std::optional<http::Response> ServeViewer(const http::Request& req,
                                          absl::string_view path) {
  if (path == "/" || path == "/viewer") {
    http::Response res = http::Text(req, bh::status::found, "");
    res.set(bh::field::location, "/viewer/");
    return res;
  }
  if (!absl::ConsumePrefix(&path, "/viewer/")) return std::nullopt;
  if (path.empty()) path = "index.html";
  for (const StaticFile& f : ViewerFiles()) {
    if (path != f.name) continue;
    static const auto* etags = [] {
      auto* m = new std::map<std::string, std::string>;
      for (const StaticFile& g : ViewerFiles()) {
        (*m)[g.name] = absl::StrCat("\"", base::Sha256Hex(g.bytes), "\"");
      }
      return m;
    }();
    const std::string& etag = etags->at(f.name);
    http::Response res = http::Text(req, bh::status::ok, std::string(f.bytes),
                                     f.content_type);
    if (auto inm = req.find(bh::field::if_none_match);
        inm != req.end() && inm->value() == etag) {
      res.result(bh::status::not_modified);
      res.body().clear();
    }
    res.set(bh::field::etag, etag);
    res.set(bh::field::cache_control, "public, max-age=60");
    return res;
  }
  http::Response res = http::Error(req, bh::status::not_found, "not_found",
                                   "no such viewer file");
  return res;
}

}  // namespace

Origin::Origin(OriginOptions options, std::unique_ptr<Store> store)
    : options_(std::move(options)),
      store_(std::move(store)),
      held_now_(metrics_.AddGauge("roomcast_origin_held_requests",
                                  "Requests held now for an object about to exist")),
      wake_delay_(metrics_.AddHistogram(
          "roomcast_origin_hold_wake_delay_seconds",
          "From the write that completes a held request to its answer")),
      bytes_out_(metrics_.AddCounter("roomcast_origin_bytes_out_total",
                                     "Body bytes served")),
      conflicts_(metrics_.AddCounter(
          "roomcast_origin_immutable_conflicts_total",
          "PUTs refused because they would change an immutable object")),
      objects_stored_(metrics_.AddCounter("roomcast_origin_objects_stored_total",
                                          "Objects created by PUT")),
      corrupt_(metrics_.AddCounter(
          "roomcast_origin_corrupt_objects_total",
          "Stored objects whose bytes no longer match their digest")) {}

absl::StatusOr<std::unique_ptr<Origin>> Origin::Open(OriginOptions options) {
  ROOMCAST_ASSIGN_OR_RETURN(auto store, Store::Open(options.data_dir, options.sync));
  std::unique_ptr<Origin> o(new Origin(std::move(options), std::move(store)));
  ROOMCAST_RETURN_IF_ERROR(o->LoadState());
  return o;
}

absl::Status Origin::LoadState() {
  ROOMCAST_ASSIGN_OR_RETURN(auto metas, store_->LoadRoomMetas());
  ROOMCAST_ASSIGN_OR_RETURN(auto wms, store_->LoadWatermarks());
  absl::MutexLock lock(&mu_);
  for (RoomMeta& m : metas) rooms_[m.room()] = std::move(m);
  for (const v1::Watermark& w : wms) watermarks_[w.publisher()] = w.watermark_ms();
  return absl::OkStatus();
}

std::optional<RoomMeta> Origin::FindRoom(const std::string& room) const {
  absl::MutexLock lock(&mu_);
  auto it = rooms_.find(room);
  if (it == rooms_.end()) return std::nullopt;
  return it->second;
}

int64_t Origin::WatermarkOf(const std::string& publisher) const {
  absl::MutexLock lock(&mu_);
  auto it = watermarks_.find(publisher);
  return it == watermarks_.end() ? 0 : it->second;
}

bool Origin::Authorized(const http::Request& req) const {
  auto it = req.find(bh::field::authorization);
  if (it == req.end() || options_.write_secret.empty()) return false;
  absl::string_view got(it->value().data(), it->value().size());
  if (!absl::ConsumePrefix(&got, "Bearer ")) return false;
  return base::ConstantTimeEquals(got, options_.write_secret);
}

http::Response Origin::Finish(const http::Request& req, http::Response res,
                              std::optional<ObjectClass> cls) {
  // Any origin may read; browsers hide Age, Date and ETag unless exposed, and
  // clients use Age to find the live edge.
  res.set(bh::field::access_control_allow_origin, "*");
  res.set(bh::field::access_control_expose_headers, "Age, Date, ETag");
  if (req.method() != bh::verb::head) bytes_out_.Add(res.body().size());
  RequestCounter(cls, static_cast<int>(res.result_int())).Add();
  return res;
}

http::Counter& Origin::RequestCounter(std::optional<ObjectClass> cls, int status) {
  auto add = [&]() -> http::Counter& {
    return metrics_.AddCounter("roomcast_origin_requests_total", "Requests answered",
                               {{"class", ClassName(cls)},
                                {"status", absl::StrCat(status)}});
  };
  const size_t c = cls ? static_cast<size_t>(*cls) + 1 : 0;
  if (c >= kClassSlots || status < 100 || status >= 600) return add();
  std::atomic<http::Counter*>& slot = request_counters_[c][status - 100];
  if (http::Counter* counter = slot.load(std::memory_order_acquire)) return *counter;
  http::Counter& counter = add();  // the same handle for the same labels
  slot.store(&counter, std::memory_order_release);
  return counter;
}

boost::asio::awaitable<http::Response> Origin::Handle(http::Request& req) {
  absl::string_view target(req.target().data(), req.target().size());
  absl::string_view path = target, query;
  if (size_t q = target.find('?'); q != absl::string_view::npos) {
    path = target.substr(0, q);
    query = target.substr(q + 1);
  }
  const bh::verb method = req.method();
  if (path == "/healthz") {
    http::Response res = http::Text(req, bh::status::ok, "ok\n");
    res.set(bh::field::cache_control, kNoStore);
    co_return res;
  }
  if (path == "/metrics") {
    held_now_.Set(static_cast<int64_t>(holds_.held()));
    metrics_.AddGauge("roomcast_origin_objects", "Keys in the store (estimate)")
        .Set(static_cast<int64_t>(store_->EstimatedKeys()));
    http::Response res = http::Text(req, bh::status::ok, metrics_.Render(),
                                    "text/plain; version=0.0.4");
    res.set(bh::field::cache_control, kNoStore);
    co_return res;
  }
  if (method == bh::verb::get || method == bh::verb::head) {
    if (auto res = ServeViewer(req, path)) co_return Finish(req, *std::move(res), std::nullopt);
  }
  auto ref = segmenter::ParsePath(path);
  if (!ref.ok()) {
    const bool not_found = absl::IsNotFound(ref.status());
    co_return Finish(req,
                     http::Error(req, not_found ? bh::status::not_found : bh::status::bad_request,
                                 not_found ? "not_found" : "bad_path",
                                 ref.status().message()),
                     std::nullopt);
  }
  if (ref->cls == ObjectClass::kPeerKey) {
    co_return Finish(req, http::Error(req, bh::status::not_found, "not_found",
                                      "hint keys are served by the publisher"),
                     ref->cls);
  }
  if (method == bh::verb::get || method == bh::verb::head) {
    co_return Finish(req, co_await Get(req, *ref, query), ref->cls);
  }
  if (method == bh::verb::put) {
    http::Response res = ref->cls == ObjectClass::kWatermark
                             ? PutWatermark(req, *ref)
                             : Put(req, *ref);
    co_return Finish(req, std::move(res), ref->cls);
  }
  if (method == bh::verb::options) {
    http::Response res = http::Text(req, bh::status::no_content, "");
    res.set(bh::field::access_control_allow_methods, "GET, HEAD, OPTIONS");
    res.set(bh::field::access_control_allow_headers,
            "Authorization, If-None-Match, Accept-Encoding");
    res.set(bh::field::access_control_max_age, "86400");
    co_return Finish(req, std::move(res), ref->cls);
  }
  http::Response res = http::Error(req, bh::status::method_not_allowed,
                                   "method_not_allowed",
                                   "objects take GET, HEAD, OPTIONS and PUT");
  res.set(bh::field::allow, "GET, HEAD, OPTIONS, PUT");
  co_return Finish(req, std::move(res), ref->cls);
}

absl::StatusOr<size_t> Origin::SweepExpired() {
  return store_->SweepExpired(NowMs());
}

}  // namespace roomcast::origin
