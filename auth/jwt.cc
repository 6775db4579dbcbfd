#include "auth/jwt.h"

#include <vector>

#include "absl/status/status.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "base/crypto.h"
#include "base/ids.h"
#include "base/json_scan.h"
#include "base/status_macros.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"

namespace roomcast::auth {
namespace {

using google::protobuf::Struct;
using google::protobuf::Value;

constexpr size_t kMaxTokenBytes = 8192;
// A signed header or payload is the backend's, but still bounded before the
// JSON parser sees it: claims are flat.
constexpr size_t kMaxJsonDepth = 8;
// nbf may be this far ahead of our clock (the backend's clock may lead).
constexpr int64_t kNbfLeewayS = 30;

absl::Status Bad(absl::string_view why) {
  return absl::UnauthenticatedError(absl::StrCat("bad token: ", why));
}

// Strict base64url (RFC 7515 §2: no padding, no line breaks): the alphabet
// only, and canonical, so that one token has exactly one spelling. A decoder
// that ignores the unused low bits of the last character would let 4 or 16
// spellings of one signature verify.
absl::StatusOr<std::string> DecodeBase64Url(absl::string_view part,
                                            absl::string_view what) {
  for (char c : part) {
    if (!base::IsIdChar(c)) {  // [A-Za-z0-9_-], the base64url alphabet
      return Bad(absl::StrCat(what, " is not base64url"));
    }
  }
  std::string out;
  if (part.empty() || part.size() % 4 == 1 ||
      !absl::WebSafeBase64Unescape(part, &out) ||
      absl::WebSafeBase64Escape(out) != part) {
    return Bad(absl::StrCat(what, " is not canonical base64url"));
  }
  return out;
}

// Decodes one part and parses it as a JSON object, depth-checked first.
absl::StatusOr<Struct> DecodeJsonPart(absl::string_view part,
                                      absl::string_view what) {
  ROOMCAST_ASSIGN_OR_RETURN(std::string json, DecodeBase64Url(part, what));
  if (base::JsonNestingDepth(json, kMaxJsonDepth) > kMaxJsonDepth) {
    return Bad(absl::StrCat(what, " nests too deeply"));
  }
  Struct s;
  if (!google::protobuf::util::JsonStringToMessage(json, &s).ok()) {
    return Bad(absl::StrCat(what, " is not a JSON object"));
  }
  return s;
}

const Value* Field(const Struct& s, const std::string& name) {
  auto it = s.fields().find(name);
  return it == s.fields().end() ? nullptr : &it->second;
}

absl::StatusOr<std::string> StringClaim(const Struct& s,
                                        const std::string& name) {
  const Value* v = Field(s, name);
  if (v == nullptr || v->kind_case() != Value::kStringValue) {
    return Bad(absl::StrCat("claim '", name, "' missing or not a string"));
  }
  return v->string_value();
}

// A NumericDate (RFC 7519 §2): a whole number of seconds, in a sane range.
absl::StatusOr<int64_t> TimeClaim(const Value& v, absl::string_view name) {
  if (v.kind_case() != Value::kNumberValue || !(v.number_value() > 0) ||
      !(v.number_value() < 1e11) ||
      v.number_value() != static_cast<double>(static_cast<int64_t>(v.number_value()))) {
    return Bad(absl::StrCat("claim '", name, "' is not a time in whole seconds"));
  }
  return static_cast<int64_t>(v.number_value());
}

absl::Status CheckHeader(const Struct& header) {
  const Value* alg = Field(header, "alg");
  if (alg == nullptr || alg->kind_case() != Value::kStringValue ||
      alg->string_value() != "HS256") {
    return Bad("alg must be HS256");
  }
  // RFC 7515 §4.1.11: an extension the recipient does not understand must
  // make it refuse the token. We understand none.
  if (Field(header, "crit") != nullptr) return Bad("unknown critical extension");
  if (const Value* typ = Field(header, "typ");
      typ != nullptr && (typ->kind_case() != Value::kStringValue ||
                         typ->string_value() != "JWT")) {
    return Bad("typ must be JWT");
  }
  return absl::OkStatus();
}

absl::Status CheckSignature(absl::string_view signed_part,
                            absl::string_view sig_part,
                            absl::string_view secret) {
  ROOMCAST_ASSIGN_OR_RETURN(std::string sig, DecodeBase64Url(sig_part, "signature"));
  if (!base::ConstantTimeEquals(sig, base::HmacSha256(secret, signed_part))) {
    return Bad("signature mismatch");
  }
  return absl::OkStatus();
}

absl::Status CheckTimes(const Struct& p, int64_t now_s, Claims* c) {
  const Value* exp = Field(p, "exp");
  if (exp == nullptr) return Bad("exp missing");
  ROOMCAST_ASSIGN_OR_RETURN(c->exp, TimeClaim(*exp, "exp"));
  if (now_s >= c->exp) return Bad("expired");
  if (c->exp - now_s > kMaxTokenLifetimeS) {
    return Bad("exp is more than 30 days away");
  }
  if (const Value* nbf = Field(p, "nbf"); nbf != nullptr) {
    ROOMCAST_ASSIGN_OR_RETURN(int64_t not_before, TimeClaim(*nbf, "nbf"));
    if (now_s + kNbfLeewayS < not_before) return Bad("not yet valid");
  }
  if (const Value* iat = Field(p, "iat"); iat != nullptr) {
    ROOMCAST_RETURN_IF_ERROR(TimeClaim(*iat, "iat").status());
  }
  return absl::OkStatus();
}

absl::StatusOr<Claims> ParseClaims(const Struct& p, int64_t now_s) {
  Claims c;
  ROOMCAST_ASSIGN_OR_RETURN(c.sub, StringClaim(p, "sub"));
  if (!base::IsValidId(c.sub)) return Bad("sub is not a valid user id");
  ROOMCAST_ASSIGN_OR_RETURN(std::string role, StringClaim(p, "role"));
  absl::StatusOr<v1::Role> r = ParseRole(role);
  if (!r.ok()) return Bad("unknown role");
  c.role = *r;
  ROOMCAST_ASSIGN_OR_RETURN(c.room, StringClaim(p, "room"));
  if (c.room != "*" && !base::IsValidId(c.room)) {
    return Bad("room is neither a room id nor '*'");
  }
  if (c.room == "*" && !MayNameEveryRoom(c.role)) {
    return Bad("only service and moderator tokens may name every room");
  }
  ROOMCAST_RETURN_IF_ERROR(CheckTimes(p, now_s, &c));
  return c;
}

}  // namespace

bool MayNameEveryRoom(v1::Role role) {
  return role == v1::ROLE_SERVICE || role == v1::ROLE_MODERATOR;
}

absl::string_view RoleName(v1::Role role) {
  switch (role) {
    case v1::ROLE_AUDIENCE: return "audience";
    case v1::ROLE_ANCHOR: return "anchor";
    case v1::ROLE_MODERATOR: return "moderator";
    case v1::ROLE_SERVICE: return "service";
    default: return "";
  }
}

absl::StatusOr<v1::Role> ParseRole(absl::string_view name) {
  for (v1::Role r : {v1::ROLE_AUDIENCE, v1::ROLE_ANCHOR, v1::ROLE_MODERATOR,
                     v1::ROLE_SERVICE}) {
    if (name == RoleName(r)) return r;
  }
  return absl::InvalidArgumentError(absl::StrCat("unknown role '", name, "'"));
}

absl::StatusOr<Claims> VerifyJwt(absl::string_view token,
                                 absl::string_view secret, int64_t now_s) {
  if (token.empty() || token.size() > kMaxTokenBytes) return Bad("size");
  std::vector<absl::string_view> parts = absl::StrSplit(token, '.');
  if (parts.size() != 3) return Bad("not three dot-separated parts");
  const absl::string_view signed_part =
      token.substr(0, parts[0].size() + 1 + parts[1].size());
  // The MAC first: nothing of an unsigned token is decoded or parsed, so a
  // forged one costs one HMAC however it is built.
  ROOMCAST_RETURN_IF_ERROR(CheckSignature(signed_part, parts[2], secret));
  ROOMCAST_ASSIGN_OR_RETURN(Struct header, DecodeJsonPart(parts[0], "header"));
  ROOMCAST_RETURN_IF_ERROR(CheckHeader(header));
  ROOMCAST_ASSIGN_OR_RETURN(Struct payload, DecodeJsonPart(parts[1], "payload"));
  return ParseClaims(payload, now_s);
}

std::string MintJwt(const Claims& claims, absl::string_view secret) {
  Struct p;
  auto& f = *p.mutable_fields();
  f["sub"].set_string_value(claims.sub);
  f["role"].set_string_value(std::string(RoleName(claims.role)));
  f["room"].set_string_value(claims.room);
  f["exp"].set_number_value(static_cast<double>(claims.exp));
  std::string json;
  (void)google::protobuf::util::MessageToJsonString(p, &json);
  const std::string signed_part =
      absl::StrCat(absl::WebSafeBase64Escape(R"({"alg":"HS256","typ":"JWT"})"),
                   ".", absl::WebSafeBase64Escape(json));
  return absl::StrCat(signed_part, ".",
                      absl::WebSafeBase64Escape(base::HmacSha256(secret, signed_part)));
}

bool AllowsRoom(const Claims& claims, absl::string_view room) {
  return claims.room == "*" || claims.room == room;
}

absl::StatusOr<std::string> VerifyViewer(absl::string_view token,
                                         absl::string_view secret,
                                         absl::string_view room, int64_t now_s) {
  absl::StatusOr<Claims> claims = VerifyJwt(token, secret, now_s);
  if (!claims.ok()) return claims.status();
  if (!AllowsRoom(*claims, room)) {
    return absl::PermissionDeniedError("the token is for another room");
  }
  return claims->sub;
}

}  // namespace roomcast::auth
