
#include "auth/jwt.h"

#include <vector>

#include "absl/status/status.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "base/crypto.h"
#include "base/ids.h"
#include "base/status_macros.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"

namespace roomcast::auth {
namespace {

using google::protobuf::Struct;
using google::protobuf::Value;

constexpr size_t kMaxTokenBytes = 8192;

absl::Status Bad(absl::string_view why) {
  return absl::UnauthenticatedError(absl::StrCat("bad token: ", why));
}

// Decodes one base64url part and parses it as a JSON object.
absl::StatusOr<Struct> DecodeJsonPart(absl::string_view part,
                                      absl::string_view what) {
  std::string json;
  if (part.empty() || !absl::WebSafeBase64Unescape(part, &json)) {
    return Bad(absl::StrCat(what, " is not base64url"));
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

absl::Status CheckHeader(absl::string_view part) {
  ROOMCAST_ASSIGN_OR_RETURN(Struct header, DecodeJsonPart(part, "header"));
  const Value* alg = Field(header, "alg");
  if (alg == nullptr || alg->kind_case() != Value::kStringValue ||
      alg->string_value() != "HS256") {
    return Bad("alg must be HS256");
  }
  return absl::OkStatus();
}

absl::Status CheckSignature(absl::string_view signed_part,
                            absl::string_view sig_part,
                            absl::string_view secret) {
  std::string sig;
  if (!absl::WebSafeBase64Unescape(sig_part, &sig)) {
    return Bad("signature is not base64url");
  }
  if (!base::ConstantTimeEquals(sig, base::HmacSha256(secret, signed_part))) {
    return Bad("signature mismatch");
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
  const Value* exp = Field(p, "exp");
  if (exp == nullptr || exp->kind_case() != Value::kNumberValue ||
      !(exp->number_value() > 0 && exp->number_value() < 1e15)) {
    return Bad("exp missing or not a number");
  }
  c.exp = static_cast<int64_t>(exp->number_value());
  if (now_s >= c.exp) return Bad("expired");
  const Value* nbf = Field(p, "nbf");
  if (nbf != nullptr && nbf->kind_case() == Value::kNumberValue &&
      now_s < static_cast<int64_t>(nbf->number_value())) {
    return Bad("not yet valid");
  }
  return c;
}

}  // namespace

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
  ROOMCAST_RETURN_IF_ERROR(CheckHeader(parts[0]));
  const absl::string_view signed_part =
      token.substr(0, parts[0].size() + 1 + parts[1].size());
  ROOMCAST_RETURN_IF_ERROR(CheckSignature(signed_part, parts[2], secret));
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
