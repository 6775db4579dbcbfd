#include "publisher/api.h"

#include <memory>
#include <vector>

#include <boost/asio/async_result.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "google/protobuf/util/json_util.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_join.h"
#include "publisher/internal/admission.h"
#include "publisher/internal/await.h"
#include "publisher/internal/body.h"
#include "segmenter/codec.h"
#include "segmenter/naming.h"

namespace roomcast::publisher {
namespace {

namespace bh = boost::beast::http;
namespace asio = boost::asio;
using google::protobuf::Message;

constexpr absl::string_view kProtoType = "application/x-protobuf";
// About 4 MB of verified tokens at most.
constexpr size_t kMaxVerifiedTokens = 16384;

bool IsProto(const http::Request& req) {
  return absl::StartsWith(std::string(req[bh::field::content_type]), kProtoType);
}
// Protobuf if asked for, or if the request was protobuf and did not ask for
// JSON by name.
bool WantsProto(const http::Request& req) {
  const std::string accept(req[bh::field::accept]);
  return absl::StrContains(accept, kProtoType) ||
         (IsProto(req) && !absl::StrContains(accept, "json"));
}

// Parses a body as `m`: protobuf if the request says so, JSON otherwise.
absl::Status ParseBody(const http::Request& req, const IngestLimits& limits, Message* m) {
  return internal::ParseBody(req.body(), IsProto(req), limits, m);
}

std::string ResultJson(const v1::PostResult& r) {
  return absl::StrCat(R"({"seq":)", r.seq(), R"(,"ts_ms":)", r.ts_ms(),
                      R"(,"bucket_ms":)", r.bucket_ms(), R"(,"bucket":)",
                      r.bucket(), "}");
}

http::Response Reply(const http::Request& req, const Message& m,
                     std::string json) {
  http::Response res =
      WantsProto(req)
          ? http::Text(req, bh::status::ok, segmenter::SerializeDeterministic(m),
                       kProtoType)
          : http::Text(req, bh::status::ok, std::move(json) + "\n",
                       "application/json");
  res.set(bh::field::cache_control, "no-store");
  return res;
}

http::Response ReplyProto(const http::Request& req, const Message& m) {
  absl::StatusOr<std::string> json = segmenter::ToJson(m);
  return Reply(req, m, json.ok() ? *json : "{}");
}

using internal::Await;

struct Target {
  std::string path;
  std::vector<std::string> parts;  // after "/v1/rooms/"
};

Target Split(const http::RequestHead& req) {
  Target t;
  absl::string_view target(req.target().data(), req.target().size());
  t.path = std::string(target.substr(0, target.find('?')));
  absl::string_view rest = t.path;
  if (absl::ConsumePrefix(&rest, "/v1/rooms/")) {
    t.parts = absl::StrSplit(rest, '/');
  }
  return t;
}

http::Response NoStore(http::Response res) {
  res.set(bh::field::cache_control, "no-store");
  return res;
}

// One authenticated call under /v1/rooms/: parts[0] is the room.
struct Call {
  http::Request& req;
  const auth::Claims& who;
  const std::vector<std::string>& parts;
  Publisher& publisher;
  const IngestLimits& limits;

  const std::string& room() const { return parts[0]; }
};

asio::awaitable<http::Response> OpenRoom(Call c) {
  v1::OpenRoomRequest open;
  if (absl::Status s = ParseBody(c.req, c.limits, &open); !s.ok()) co_return ErrorFor(c.req, s);
  auto r = co_await Await<v1::RoomConfig>([&](auto cb) {
    c.publisher.OpenRoom(c.who, c.room(), open, std::move(cb));
  });
  co_return r.ok() ? ReplyProto(c.req, *r) : ErrorFor(c.req, r.status());
}

asio::awaitable<http::Response> EndRoom(Call c) {
  auto r = co_await Await<v1::RoomConfig>([&](auto cb) {
    c.publisher.EndRoom(c.who, c.room(), std::move(cb));
  });
  co_return r.ok() ? ReplyProto(c.req, *r) : ErrorFor(c.req, r.status());
}

// A batch {"messages": [...]}, or one message on its own (JSON only).
asio::awaitable<http::Response> PostMessages(Call c) {
  v1::PostMessagesRequest batch;
  bool single = false;
  absl::Status parsed =
      internal::ParseMessages(c.req.body(), IsProto(c.req), c.limits, &batch, &single);
  if (!parsed.ok()) co_return ErrorFor(c.req, parsed);
  std::vector<v1::MessageInput> inputs(batch.messages().begin(),
                                       batch.messages().end());
  auto r = co_await Await<v1::PostMessagesResponse>([&](auto cb) {
    c.publisher.Post(c.who, c.room(), std::move(inputs), std::move(cb));
  });
  if (!r.ok()) co_return ErrorFor(c.req, r.status());
  if (single) co_return Reply(c.req, r->results(0), ResultJson(r->results(0)));
  std::string json = R"({"results":[)";
  for (int i = 0; i < r->results_size(); ++i) {
    absl::StrAppend(&json, i ? "," : "", ResultJson(r->results(i)));
  }
  co_return Reply(c.req, *r, json + "]}");
}

// `?ttl_s=N` of a state set (DESIGN §11): 0 if absent.
absl::StatusOr<uint32_t> TtlOf(const http::RequestHead& req) {
  absl::string_view target(req.target().data(), req.target().size());
  const size_t q = target.find('?');
  if (q == absl::string_view::npos) return 0;
  for (absl::string_view kv : absl::StrSplit(target.substr(q + 1), '&')) {
    if (!absl::ConsumePrefix(&kv, "ttl_s=")) continue;
    uint32_t ttl = 0;
    if (!absl::SimpleAtoi(kv, &ttl) || ttl == 0) {
      return absl::InvalidArgumentError("ttl_s is a whole number of seconds, 1 or more");
    }
    return ttl;
  }
  return 0;
}

asio::awaitable<http::Response> SetState(Call c) {
  absl::StatusOr<uint32_t> ttl_s = TtlOf(c.req);
  if (!ttl_s.ok()) co_return ErrorFor(c.req, ttl_s.status());
  google::protobuf::Value value;
  if (absl::StripAsciiWhitespace(c.req.body()).empty() && !IsProto(c.req)) {
    co_return ErrorFor(c.req, absl::InvalidArgumentError("the body is the value, any JSON"));
  }
  if (absl::Status s = ParseBody(c.req, c.limits, &value); !s.ok()) co_return ErrorFor(c.req, s);
  auto r = co_await Await<StateReply>([&](auto cb) {
    c.publisher.SetState(c.who, c.room(), c.parts[2], std::move(value), std::move(cb), *ttl_s);
  });
  if (!r.ok()) co_return ErrorFor(c.req, r.status());
  v1::ComponentVersion cv;
  cv.set_name(r->component);
  cv.set_version(r->version);
  co_return Reply(c.req, cv,
                  absl::StrCat(R"({"component":")", r->component, R"(","version":)",
                               r->version, R"(,"total_version":)", r->total_version,
                               R"(,"ts_ms":)", r->ts_ms,
                               r->expires_ms > 0
                                   ? absl::StrCat(R"(,"expires_ms":)", r->expires_ms)
                                   : std::string(),
                               "}"));
}

asio::awaitable<http::Response> PostPeer(Call c) {
  v1::MessageInput in;
  if (absl::Status s = ParseBody(c.req, c.limits, &in); !s.ok()) co_return ErrorFor(c.req, s);
  auto r = co_await Await<v1::PostResult>([&](auto cb) {
    c.publisher.PostPeer(c.who, c.room(), c.parts[2], in, std::move(cb));
  });
  co_return r.ok() ? Reply(c.req, *r, ResultJson(*r)) : ErrorFor(c.req, r.status());
}

asio::awaitable<http::Response> HintKey(Call c) {
  absl::StatusOr<v1::HintKey> k = c.publisher.HintKeyFor(c.who, c.room(), c.parts[2]);
  if (!k.ok()) co_return ErrorFor(c.req, k.status());
  http::Response res = ReplyProto(c.req, *k);
  res.set(bh::field::cache_control, "private, no-store");
  co_return res;
}

asio::awaitable<http::Response> Presence(Call c) {
  absl::Status s = c.publisher.Presence(c.who, c.room());
  if (!s.ok()) co_return ErrorFor(c.req, s);
  co_return Reply(c.req, v1::ErrorReply(), "{}");
}

// An optional body (`m` stays empty without one).
absl::Status ParseOptionalBody(const http::Request& req, const IngestLimits& limits, Message* m) {
  if (absl::StripAsciiWhitespace(req.body()).empty()) return absl::OkStatus();
  return ParseBody(req, limits, m);
}

asio::awaitable<http::Response> Retract(Call c) {
  uint64_t seq = 0;
  if (!absl::SimpleAtoi(c.parts[2], &seq)) {
    co_return ErrorFor(c.req, absl::InvalidArgumentError("a message is named by its seq"));
  }
  v1::RetractRequest in;
  if (absl::Status s = ParseOptionalBody(c.req, c.limits, &in); !s.ok()) {
    co_return ErrorFor(c.req, s);
  }
  auto r = co_await Await<v1::RetractReply>([&](auto cb) {
    c.publisher.Retract(c.who, c.room(), seq, in, std::move(cb));
  });
  if (!r.ok()) co_return ErrorFor(c.req, r.status());
  co_return Reply(c.req, *r, absl::StrCat(R"({"seq":)", r->seq(), R"(,"retracted":true})"));
}

std::string BanJson(const v1::BanReply& b) {
  return absl::StrCat(R"({"user":")", b.user(), R"(","until_ms":)", b.until_ms(),
                      R"(,"retracted":[)", absl::StrJoin(b.retracted(), ","), "]}");
}

asio::awaitable<http::Response> Ban(Call c) {
  v1::BanRequest in;
  if (absl::Status s = ParseBody(c.req, c.limits, &in); !s.ok()) co_return ErrorFor(c.req, s);
  auto r = co_await Await<v1::BanReply>([&](auto cb) {
    c.publisher.Ban(c.who, c.room(), in, std::move(cb));
  });
  co_return r.ok() ? Reply(c.req, *r, BanJson(*r)) : ErrorFor(c.req, r.status());
}

asio::awaitable<http::Response> Unban(Call c) {
  auto r = co_await Await<v1::BanReply>([&](auto cb) {
    c.publisher.Unban(c.who, c.room(), c.parts[2], std::move(cb));
  });
  co_return r.ok() ? Reply(c.req, *r, BanJson(*r)) : ErrorFor(c.req, r.status());
}

asio::awaitable<http::Response> UpdateSettings(Call c) {
  v1::RoomSettingsRequest in;
  if (absl::Status s = ParseBody(c.req, c.limits, &in); !s.ok()) co_return ErrorFor(c.req, s);
  auto r = co_await Await<v1::RoomSettingsRequest>([&](auto cb) {
    c.publisher.UpdateSettings(c.who, c.room(), in, std::move(cb));
  });
  if (!r.ok()) co_return ErrorFor(c.req, r.status());
  co_return Reply(c.req, *r,
                  absl::StrCat(R"({"slow_mode_s":)", r->slow_mode_s(), R"(,"review_delay_ms":)",
                               r->review_delay_ms(), "}"));
}

asio::awaitable<http::Response> Takedown(Call c) {
  v1::TakedownRequest in;
  if (absl::Status s = ParseBody(c.req, c.limits, &in); !s.ok()) co_return ErrorFor(c.req, s);
  auto r = co_await Await<v1::TakedownReply>([&](auto cb) {
    c.publisher.Takedown(c.who, c.room(), in, std::move(cb));
  });
  if (!r.ok()) co_return ErrorFor(c.req, r.status());
  http::Response res =
      Reply(c.req, *r,
            absl::StrCat(R"({"takedown":)", r->takedown(), R"(,"seqs":[)",
                         absl::StrJoin(r->seqs(), ","), "]}"));
  // 202: durable, its objects still being replaced; 200: a repeat, done.
  res.result(r->done() ? bh::status::ok : bh::status::accepted);
  co_return res;
}

// Every endpoint under /v1/rooms/ (DESIGN §6). A {name} matches any one
// path segment.
// The body each endpoint may send, read only once its sender is known.
enum class Body { kSmall, kMessage, kState, kBatch, kTakedown };
size_t BodyLimit(Body b, const ApiOptions& o) {
  switch (b) {
    case Body::kSmall: return 4096;
    // JSON spells a value out larger than its serialized form.
    case Body::kMessage: return 4 * (o.limits.max_custom_bytes + o.limits.max_text_bytes) + 4096;
    case Body::kState: return 4 * o.limits.max_state_bytes + 4096;
    case Body::kBatch: return o.max_body_bytes;
    // 1000 seqs of 20 digits and a reason of 512 bytes, \u-escaped.
    case Body::kTakedown: return 1000 * 22 + 512 * 6 + 4096;
  }
  return 0;
}

struct Endpoint {
  absl::string_view pattern;
  bh::verb verb;
  asio::awaitable<http::Response> (*handler)(Call);
  Body body;
  // Refused (403) before the body is read unless the token's role runs the
  // room (anchor, moderator, service).
  bool runners_only = false;
  // Refused (403) before the body is read unless the token is the
  // service's.
  bool service_only = false;
};
constexpr Endpoint kEndpoints[] = {
    {"{room}", bh::verb::post, &OpenRoom, Body::kSmall},
    {"{room}", bh::verb::delete_, &EndRoom, Body::kSmall},
    {"{room}/messages", bh::verb::post, &PostMessages, Body::kBatch},
    {"{room}/state/{component}", bh::verb::put, &SetState, Body::kState},
    {"{room}/peer/{user}", bh::verb::post, &PostPeer, Body::kMessage},
    {"{room}/peer/{user}/key", bh::verb::get, &HintKey, Body::kSmall},
    {"{room}/peer/{user}/key", bh::verb::head, &HintKey, Body::kSmall},
    {"{room}/presence", bh::verb::post, &Presence, Body::kSmall},
    // DESIGN §11. A sender may retract its own message, so that one is
    // decided by the room.
    {"{room}", bh::verb::patch, &UpdateSettings, Body::kSmall, true},
    {"{room}/messages/{seq}", bh::verb::delete_, &Retract, Body::kSmall},
    {"{room}/bans", bh::verb::post, &Ban, Body::kSmall, true},
    {"{room}/bans/{user}", bh::verb::delete_, &Unban, Body::kSmall, true},
    {"{room}/takedown", bh::verb::post, &Takedown, Body::kTakedown, true, true},
};

bool Matches(absl::string_view pattern, const std::vector<std::string>& parts) {
  size_t i = 0;
  for (absl::string_view want : absl::StrSplit(pattern, '/')) {
    if (i == parts.size()) return false;
    if (!absl::StartsWith(want, "{") && want != parts[i]) return false;
    ++i;
  }
  return i == parts.size();
}

const Endpoint* FindEndpoint(bh::verb verb, const std::vector<std::string>& parts) {
  for (const Endpoint& r : kEndpoints) {
    if (r.verb == verb && Matches(r.pattern, parts)) return &r;
  }
  return nullptr;
}

}  // namespace

http::Response ErrorFor(const http::RequestHead& req, const absl::Status& s) {
  struct Map {
    absl::StatusCode code;
    bh::status status;
    const char* error;
  };
  static constexpr Map kMap[] = {
      {absl::StatusCode::kInvalidArgument, bh::status::bad_request, "bad_request"},
      {absl::StatusCode::kUnauthenticated, bh::status::unauthorized, "unauthorized"},
      {absl::StatusCode::kPermissionDenied, bh::status::forbidden, "forbidden"},
      {absl::StatusCode::kNotFound, bh::status::not_found, "not_found"},
      {absl::StatusCode::kOutOfRange, bh::status::payload_too_large, "too_large"},
      {absl::StatusCode::kResourceExhausted, bh::status::too_many_requests, "rate_limited"},
      {absl::StatusCode::kFailedPrecondition, bh::status::conflict, "conflict"},
      {absl::StatusCode::kUnavailable, bh::status::service_unavailable, "unavailable"},
  };
  bh::status status = bh::status::internal_server_error;
  const char* error = "internal";
  for (const Map& m : kMap) {
    if (m.code == s.code()) {
      status = m.status;
      error = m.error;
    }
  }
  if (std::optional<int64_t> until = BannedUntilMs(s)) {
    // {"error","detail"} plus when the ban ends, as a JSON number.
    http::Response res = http::Text(
        req, bh::status::forbidden,
        absl::StrCat(R"({"error":"banned","detail":")", s.message(), R"(","until_ms":)", *until,
                     "}\n"),
        "application/json");
    res.set(bh::field::cache_control, "no-store");
    return res;
  }
  http::Response res = http::Error(req, status, error, s.message());
  if (s.code() == absl::StatusCode::kResourceExhausted) {
    res.set(bh::field::retry_after, std::to_string(RetryAfterSeconds(s)));
  }
  if (s.code() == absl::StatusCode::kUnauthenticated) {
    res.set(bh::field::www_authenticate, "Bearer");
  }
  if (s.code() == absl::StatusCode::kUnavailable) {
    res.set(bh::field::retry_after, "1");
  }
  return res;
}

IngestApi::IngestApi(Publisher* publisher, ApiOptions options)
    : publisher_(publisher), router_(nullptr), options_(std::move(options)) {}

IngestApi::IngestApi(RoomRouter* router, ApiOptions options)
    : publisher_(nullptr), router_(router), options_(std::move(options)) {}

absl::StatusOr<auth::Claims> IngestApi::Authenticate(const http::RequestHead& req) {
  absl::string_view auth(req[bh::field::authorization].data(),
                         req[bh::field::authorization].size());
  if (!absl::ConsumePrefix(&auth, "Bearer ") || auth.empty()) {
    return absl::UnauthenticatedError("needs Authorization: Bearer <token>");
  }
  const base::Clock* clock = options_.clock != nullptr ? options_.clock : &system_clock_;
  const int64_t now_s = clock->NowMs() / 1000;
  {
    absl::MutexLock l(&verified_mu_);
    auto it = verified_.find(auth);
    if (it != verified_.end()) {
      // The same bytes verified before; only time can have changed.
      if (now_s < it->second.exp) return it->second;
      verified_.erase(it);
    }
  }
  absl::StatusOr<auth::Claims> claims = auth::VerifyJwt(auth, options_.jwt_secret, now_s);
  if (claims.ok()) {
    absl::MutexLock l(&verified_mu_);
    if (verified_.size() >= kMaxVerifiedTokens) verified_.clear();
    verified_.emplace(std::string(auth), *claims);
  }
  return claims;
}

http::Admission IngestApi::Admit(const http::RequestHead& req, absl::string_view remote) {
  const Target t = Split(req);
  if (t.parts.empty()) return {.max_body_bytes = BodyLimit(Body::kSmall, options_)};
  const Endpoint* endpoint = FindEndpoint(req.method(), t.parts);
  // Route answers it (401 without a token, else 404).
  if (endpoint == nullptr) return {.max_body_bytes = BodyLimit(Body::kSmall, options_)};
  absl::StatusOr<auth::Claims> who = Authenticate(req);
  if (!who.ok()) return {.refusal = ErrorFor(req, who.status())};
  if (!auth::AllowsRoom(*who, t.parts[0])) {
    return {.refusal = ErrorFor(req, absl::PermissionDeniedError("the token is for another room"))};
  }
  if (endpoint->runners_only && !internal::Admission::RunsTheRoom(*who)) {
    return {.refusal = ErrorFor(req, absl::PermissionDeniedError(
                                         "only a moderator, the anchor or the service moderates a room"))};
  }
  if (endpoint->service_only && who->role != v1::ROLE_SERVICE) {
    return {.refusal = ErrorFor(req, absl::PermissionDeniedError(
                                         "only the service takes messages down"))};
  }
  return {.max_body_bytes = BodyLimit(endpoint->body, options_)};
}

asio::awaitable<http::Response> IngestApi::Handle(http::Request& req) {
  try {
    co_return co_await Route(req);
  } catch (const std::exception& e) {
    co_return http::Error(req, bh::status::internal_server_error, "internal", e.what());
  }
}

asio::awaitable<http::Response> IngestApi::Route(http::Request& req) {
  const Target t = Split(req);
  if (t.path == "/healthz") {
    const bool ok = router_ != nullptr ? router_->healthy() : publisher_->healthy();
    co_return NoStore(http::Text(req, ok ? bh::status::ok : bh::status::service_unavailable,
                                 ok ? "ok\n" : "log failed\n"));
  }
  if (t.path == "/metrics") {
    co_return NoStore(http::Text(
        req, bh::status::ok,
        router_ != nullptr ? router_->RenderMetrics() : publisher_->metrics().Render(),
        "text/plain; version=0.0.4"));
  }
  if (t.parts.empty() || t.parts.size() > 4) {
    co_return http::Error(req, bh::status::not_found, "not_found", "no such endpoint");
  }
  absl::StatusOr<auth::Claims> who = Authenticate(req);
  if (!who.ok()) co_return ErrorFor(req, who.status());
  const Endpoint* endpoint = FindEndpoint(req.method(), t.parts);
  if (endpoint == nullptr) {
    co_return http::Error(req, bh::status::not_found, "not_found",
                          absl::StrCat("no ", std::string(req.method_string()),
                                       " endpoint at ", t.path));
  }
  if (router_ == nullptr) {
    co_return co_await endpoint->handler(Call{req, *who, t.parts, *publisher_, options_.limits});
  }
  // Cluster mode: the room's shard is served here, or handed to its owner.
  std::shared_ptr<Publisher> engine = router_->Local(t.parts[0]);
  if (engine == nullptr) co_return co_await router_->Forward(req, t.parts[0]);
  co_return co_await endpoint->handler(Call{req, *who, t.parts, *engine, options_.limits});
}

}  // namespace roomcast::publisher
