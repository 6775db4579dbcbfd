// The origin's HTTP surface as tables: the operator's paths, the viewer, and
// for object paths which handler answers each class and method. Every
// answer but the operator's goes out through Finish (CORS, metrics).
#include "origin/origin.h"

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "auth/edge_token.h"
#include "origin/internal/respond.h"
#include "origin/internal/viewer.h"

namespace roomcast::origin {
namespace bh = boost::beast::http;
using segmenter::ObjectClass;

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

bool IsRead(bh::verb method) {
  return method == bh::verb::get || method == bh::verb::head;
}

// CORS preflight: browsers ask before a GET that carries these headers.
http::Response Preflight(const http::Request& req) {
  http::Response res = http::Text(req, bh::status::no_content, "");
  res.set(bh::field::access_control_allow_methods, "GET, HEAD, OPTIONS");
  res.set(bh::field::access_control_allow_headers,
          "Authorization, If-None-Match, Accept-Encoding");
  res.set(bh::field::access_control_max_age, "86400");
  return res;
}

// DESIGN §12: what a private room's edge may keep it serves for everyone it
// lets in (CDN-Cache-Control, RFC 9213; X-Accel-Expires for nginx, which
// reads no CDN-Cache-Control), and no shared cache past the edge keeps it.
void PrivateCaching(http::Response& res) {
  auto it = res.find(bh::field::cache_control);
  if (it == res.end()) return;
  absl::string_view cc(it->value().data(), it->value().size());
  if (!absl::ConsumePrefix(&cc, "public, ")) return;  // private or no-store already
  const std::string cdn = absl::StrCat("public, ", cc);
  const std::string browser = absl::StrCat("private, ", cc);
  int64_t max_age = 0;
  for (absl::string_view d : absl::StrSplit(cc, ',')) {
    d = absl::StripAsciiWhitespace(d);
    if (absl::ConsumePrefix(&d, "max-age=")) (void)absl::SimpleAtoi(d, &max_age);
  }
  res.set(bh::field::cache_control, browser);
  res.set("CDN-Cache-Control", cdn);
  res.set("X-Accel-Expires", absl::StrCat(max_age));
}

// The room of ".../{room}/takedowns" (DESIGN §11's records, for
// operators), under either prefix.
std::optional<std::pair<std::string, segmenter::Scope>> TakedownsRoom(absl::string_view path) {
  segmenter::Scope scope = segmenter::Scope::kPublic;
  if (!absl::ConsumePrefix(&path, "/v1/rooms/")) {
    if (!absl::ConsumePrefix(&path, "/v1/private/")) return std::nullopt;
    scope = segmenter::Scope::kPrivate;
  }
  if (!absl::ConsumeSuffix(&path, "/takedowns") || !segmenter::IsValidId(path)) {
    return std::nullopt;
  }
  return std::make_pair(std::string(path), scope);
}

http::Response MethodNotAllowed(const http::Request& req) {
  http::Response res = http::Error(req, bh::status::method_not_allowed,
                                   "method_not_allowed",
                                   "objects take GET, HEAD, OPTIONS and PUT");
  res.set(bh::field::allow, "GET, HEAD, OPTIONS, PUT");
  return res;
}

}  // namespace

Origin::Handler Origin::RouteFor(ObjectClass cls, bh::verb method) {
  struct Route {
    ObjectClass cls;
    bh::verb method;  // HEAD is routed as GET
    Handler handler;
  };
  static constexpr Route kRoutes[] = {
      {ObjectClass::kManifest, bh::verb::get, &Origin::GetManifest},
      {ObjectClass::kActions, bh::verb::get, &Origin::GetBucket},
      {ObjectClass::kPeer, bh::verb::get, &Origin::GetBucket},
      {ObjectClass::kState, bh::verb::get, &Origin::GetVersion},
      {ObjectClass::kSnapshot, bh::verb::get, &Origin::GetVersion},
      {ObjectClass::kWatermark, bh::verb::get, &Origin::GetWatermark},
      {ObjectClass::kManifest, bh::verb::put, &Origin::PutManifest},
      {ObjectClass::kActions, bh::verb::put, &Origin::PutObject},
      {ObjectClass::kPeer, bh::verb::put, &Origin::PutObject},
      {ObjectClass::kState, bh::verb::put, &Origin::PutObject},
      {ObjectClass::kSnapshot, bh::verb::put, &Origin::PutObject},
      {ObjectClass::kWatermark, bh::verb::put, &Origin::PutWatermark},
  };
  if (method == bh::verb::head) method = bh::verb::get;
  for (const Route& r : kRoutes) {
    if (r.cls == cls && r.method == method) return r.handler;
  }
  return nullptr;
}

boost::asio::awaitable<http::Response> Origin::Handle(http::Request& req) {
  absl::string_view target(req.target().data(), req.target().size());
  const size_t q = target.find('?');
  const absl::string_view path = target.substr(0, q);
  const absl::string_view query =
      q == absl::string_view::npos ? absl::string_view() : target.substr(q + 1);
  // For operators, whatever the method: neither counted nor offered to
  // browsers.
  using Page = http::Response (Origin::*)(const http::Request&);
  static constexpr std::pair<absl::string_view, Page> kPages[] = {
      {"/healthz", &Origin::Healthz}, {"/metrics", &Origin::MetricsPage}};
  for (const auto& [page_path, page] : kPages) {
    if (path == page_path) co_return (this->*page)(req);
  }
  if (path == kLivePath) co_return Finish(req, co_await PostLive(req), std::nullopt);
  if (IsRead(req.method())) {
    if (auto res = ServeViewer(req, path)) co_return Finish(req, *std::move(res), std::nullopt);
  }
  if (auto room = TakedownsRoom(path)) {
    co_return Finish(req, GetTakedowns(req, room->first, room->second), std::nullopt);
  }
  auto ref = segmenter::ParsePath(path);
  if (!ref.ok()) co_return Finish(req, BadPath(req, ref.status()), std::nullopt);
  http::Response res = co_await Route({req, *ref, query});
  // A streamed answer went out through req.chunked, finished there.
  if (req.chunked != nullptr && req.chunked->began()) co_return res;
  co_return Finish(req, std::move(res), ref->cls, ref->scope);
}

boost::asio::awaitable<http::Response> Origin::Route(Call call) {
  if (call.ref.cls == ObjectClass::kPeerKey) {
    co_return http::Error(call.req, bh::status::not_found, "not_found",
                          "hint keys are served by the publisher");
  }
  // Peer objects of a private room keep their own per-user check instead.
  // The room's own publisher reads without an edge token (a takedown
  // re-renders what is stored); no cache may keep what it is answered.
  bool writer_read = false;
  if (call.ref.scope == segmenter::Scope::kPrivate && IsRead(call.req.method()) &&
      call.ref.cls != ObjectClass::kPeer) {
    writer_read = IsRoomWriter(call.req, call.ref);
    if (!writer_read) {
      if (auto refused = CheckEdgeToken(call)) co_return *std::move(refused);
    }
  }
  if (Handler handler = RouteFor(call.ref.cls, call.req.method())) {
    http::Response res = co_await (this->*handler)(call);
    if (writer_read) res.set(bh::field::cache_control, kNoStore);
    co_return res;
  }
  if (call.req.method() == bh::verb::options) co_return Preflight(call.req);
  co_return MethodNotAllowed(call.req);
}

http::Response Origin::Healthz(const http::Request& req) {
  http::Response res = http::Text(req, bh::status::ok, "ok\n");
  res.set(bh::field::cache_control, kNoStore);
  return res;
}

http::Response Origin::MetricsPage(const http::Request& req) {
  // Streams of open buckets are held requests too: the same caps bound them.
  held_now_.Set(static_cast<int64_t>(holds_.held()) + streams_now_.load());
  metrics_.AddGauge("roomcast_origin_objects", "Keys in the store (estimate)")
      .Set(static_cast<int64_t>(store_->EstimatedKeys()));
  http::Response res = http::Text(req, bh::status::ok, metrics_.Render(),
                                  "text/plain; version=0.0.4");
  res.set(bh::field::cache_control, kNoStore);
  return res;
}

http::Response Origin::Finish(const http::Request& req, http::Response res,
                              std::optional<ObjectClass> cls, segmenter::Scope scope) {
  if (scope == segmenter::Scope::kPrivate) PrivateCaching(res);
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

}  // namespace roomcast::origin
