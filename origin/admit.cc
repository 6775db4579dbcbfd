// Who may write what, decided from the request's header before its body is
// read (DESIGN §4: the secret is checked from the headers before any body is
// read; each publisher id may have its own secret).
#include <fstream>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "auth/edge_token.h"
#include "base/crypto.h"
#include "origin/internal/respond.h"
#include "origin/internal/takedown.h"
#include "origin/origin.h"

namespace roomcast::origin {
namespace bh = boost::beast::http;
using segmenter::Format;
using segmenter::ObjectClass;
using segmenter::ObjectRef;

namespace {

// Only PUT carries a body the origin reads; anything else may send a little
// (read and ignored) before its handler answers it.
constexpr size_t kMaxOtherBodyBytes = 4096;
// POST /v1/live: a LiveBatch of at most this (413 beyond).
constexpr size_t kMaxLiveBodyBytes = 4 << 20;

http::Response Unauthorized(const http::RequestHead& req) {
  http::Response res = http::Error(req, bh::status::unauthorized, "unauthorized",
                                   "writes need the publisher's secret");
  res.set(bh::field::www_authenticate, "Bearer");
  return res;
}

}  // namespace

absl::StatusOr<absl::flat_hash_map<std::string, std::string>> ReadPublisherSecrets(
    const std::string& path) {
  std::ifstream in(path);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot read ", path));
  absl::flat_hash_map<std::string, std::string> secrets;
  std::string line;
  for (int n = 1; std::getline(in, line); ++n) {
    absl::string_view l = absl::StripAsciiWhitespace(line);
    if (l.empty() || l[0] == '#') continue;
    std::vector<absl::string_view> parts =
        absl::StrSplit(l, absl::ByAnyChar(" \t"), absl::SkipEmpty());
    if (parts.size() != 2 || !segmenter::IsValidId(parts[0])) {
      return absl::InvalidArgumentError(
          absl::StrCat(path, ":", n, ": expected 'PUBLISHER_ID SECRET'"));
    }
    if (!secrets.emplace(parts[0], parts[1]).second) {
      return absl::InvalidArgumentError(
          absl::StrCat(path, ":", n, ": publisher '", parts[0], "' is listed twice"));
    }
  }
  return secrets;
}

std::optional<std::string> Origin::WriterOf(const http::RequestHead& req) const {
  absl::string_view got = Header(req, bh::field::authorization);
  if (!absl::ConsumePrefix(&got, "Bearer ") || got.empty()) return std::nullopt;
  // Every secret is compared, each in constant time, so the answer's timing
  // says nothing about which one (if any) came close.
  std::optional<std::string> writer;
  if (!options_.write_secret.empty() && base::ConstantTimeEquals(got, options_.write_secret)) {
    writer = "";
  }
  for (const auto& [id, secret] : options_.publisher_secrets) {
    if (!secret.empty() && base::ConstantTimeEquals(got, secret) && !writer) writer = id;
  }
  return writer;
}

std::optional<http::Response> Origin::RefuseWrite(const http::RequestHead& req,
                                                  const ObjectRef& ref) const {
  std::optional<std::string> writer = WriterOf(req);
  if (!writer) return Unauthorized(req);
  if (ref.format != Format::kProto) {
    return http::Error(req, bh::status::method_not_allowed, "method_not_allowed",
                       "PUT the .pb object; the origin renders .json itself");
  }
  if (writer->empty()) return std::nullopt;  // the shared secret
  if (ref.cls == ObjectClass::kWatermark) {
    if (ref.name == *writer) return std::nullopt;
    return http::Error(req, bh::status::forbidden, "forbidden",
                       "a publisher's secret moves only its own watermark");
  }
  std::optional<RoomMeta> meta = FindRoom(ref.room);
  if (meta && meta->publisher() != *writer) {
    return http::Error(req, bh::status::forbidden, "forbidden",
                       "this room is published by another publisher");
  }
  return std::nullopt;
}

bool Origin::IsRoomWriter(const http::RequestHead& req, const ObjectRef& ref) const {
  std::optional<std::string> writer = WriterOf(req);
  if (!writer) return false;
  if (writer->empty()) return true;  // the shared secret
  std::optional<RoomMeta> meta = FindRoom(ref.room);
  return meta && meta->publisher() == *writer;
}

std::optional<http::Response> Origin::CheckEdgeToken(const Call& call) const {
  auto deny = [&](bh::status st, absl::string_view detail) {
    http::Response res = http::Error(call.req, st,
                                     st == bh::status::unauthorized ? "unauthorized" : "forbidden",
                                     detail);
    // Never kept as the object, by any cache.
    res.set(bh::field::cache_control, kPrivate);
    return res;
  };
  std::optional<std::string> token = auth::EdgeTokenOf(call.query, Header(call.req, bh::field::cookie));
  if (!token || token->empty()) {
    return deny(bh::status::unauthorized,
                "a private room's objects need an edge token (rc_token= or the rc_token cookie)");
  }
  if (options_.edge_secret.empty()) {
    return deny(bh::status::forbidden, "this origin has no edge secret; private rooms cannot be read");
  }
  segmenter::ObjectRef canonical = call.ref;
  absl::Status s = auth::VerifyEdgeToken(*token, segmenter::ObjectPath(canonical),
                                         options_.edge_secret, NowMs() / 1000);
  if (!s.ok()) return deny(bh::status::forbidden, s.message());
  return std::nullopt;
}

http::Admission Origin::Admit(const http::RequestHead& req, absl::string_view remote) {
  absl::string_view target(req.target().data(), req.target().size());
  if (req.method() == bh::verb::post && target.substr(0, target.find('?')) == kLivePath) {
    if (!WriterOf(req)) return {.refusal = Unauthorized(req)};
    return {.max_body_bytes = kMaxLiveBodyBytes};
  }
  if (req.method() != bh::verb::put) return {.max_body_bytes = kMaxOtherBodyBytes};
  auto ref = segmenter::ParsePath(target.substr(0, target.find('?')));
  if (!ref.ok()) return {.refusal = BadPath(req, ref.status())};
  if (auto refused = RefuseWrite(req, *ref)) return {.refusal = *std::move(refused)};
  // A malformed takedown is refused before its body is read (and its
  // headers are parsed again, within the same bounds, with the body).
  if (IsTakedown(req)) {
    if (auto h = ParseTakedownHeaders(req); !h.ok()) {
      return {.refusal = http::Error(req, bh::status::bad_request, "bad_takedown",
                                     h.status().message())};
    }
  }
  return {.max_body_bytes = SIZE_MAX};  // the server's own limit applies
}

}  // namespace roomcast::origin
