
#include "segmenter/naming.h"

#include <vector>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "segmenter/bucketer.h"

namespace roomcast::segmenter {
namespace {

constexpr absl::string_view kRoomsPrefix = "/v1/rooms/";
constexpr absl::string_view kPrivatePrefix = "/v1/private/";

absl::string_view PrefixOf(Scope s) {
  return s == Scope::kPrivate ? kPrivatePrefix : kRoomsPrefix;
}
constexpr absl::string_view kPublishersPrefix = "/v1/publishers/";
constexpr int kMaxDigits = 18;  // < 2^63, so no overflow

absl::string_view Ext(Format f) { return f == Format::kJson ? ".json" : ".pb"; }

absl::Status Invalid(absl::string_view what, absl::string_view got) {
  return absl::InvalidArgumentError(absl::StrCat(what, ": '", got, "'"));
}

// Canonical non-negative decimal: no sign, no leading zero, at most 18 digits.
absl::StatusOr<int64_t> ParseNumber(absl::string_view s, absl::string_view what) {
  if (s.empty() || s.size() > kMaxDigits || (s.size() > 1 && s[0] == '0')) {
    return Invalid(absl::StrCat("bad ", what), s);
  }
  int64_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return Invalid(absl::StrCat("bad ", what), s);
    v = v * 10 + (c - '0');
  }
  return v;
}

absl::StatusOr<int64_t> ParseBucketMs(absl::string_view s) {
  auto d = ParseNumber(s, "bucket duration");
  if (!d.ok()) return d;
  if (*d < kMinBucketMs || *d > kMaxRollupMs) {
    return Invalid("bucket duration out of range", s);
  }
  return d;
}

// A bucket of a room: its duration and an index whose whole interval lies
// before kMaxTimeMs, so (k + 1) * D cannot overflow anywhere downstream.
absl::Status ParseBucket(absl::string_view d_text, absl::string_view k_text,
                         ObjectRef* ref) {
  auto d = ParseBucketMs(d_text);
  if (!d.ok()) return d.status();
  auto k = ParseNumber(k_text, "bucket index");
  if (!k.ok()) return k.status();
  if (*k > kMaxTimeMs / *d - 1) return Invalid("bucket index past the year 9999", k_text);
  ref->bucket_ms = *d;
  ref->number = *k;
  return absl::OkStatus();
}

absl::StatusOr<int64_t> ParseVersion(absl::string_view s) {
  auto v = ParseNumber(s, "version");
  if (v.ok() && *v == 0) return Invalid("versions start at 1", s);
  return v;
}

absl::Status CheckId(absl::string_view id, absl::string_view what) {
  if (!IsValidId(id)) return Invalid(absl::StrCat("bad ", what, " id"), id);
  return absl::OkStatus();
}

// Splits "name.pb" / "name.json" into name and format.
absl::StatusOr<std::pair<absl::string_view, Format>> SplitExt(
    absl::string_view leaf) {
  if (absl::ConsumeSuffix(&leaf, ".pb")) return std::pair{leaf, Format::kProto};
  if (absl::ConsumeSuffix(&leaf, ".json")) return std::pair{leaf, Format::kJson};
  return Invalid("expected a .pb or .json object", leaf);
}

// Parses the parts after "/v1/rooms/{room}/".
absl::StatusOr<ObjectRef> ParseRoomParts(ObjectRef ref,
                                         const std::vector<absl::string_view>& p) {
  if (p.size() == 1 && p[0] == "manifest.pb") return ref;
  if (p.size() == 1 && p[0] == "manifest.json") {
    ref.format = Format::kJson;
    return ref;
  }
  if (p.size() == 3 && (p[0] == "actions" || p[0] == "state")) {
    auto leaf = SplitExt(p[2]);
    if (!leaf.ok()) return leaf.status();
    ref.format = leaf->second;
    if (p[0] == "actions") {
      ref.cls = ObjectClass::kActions;
      if (auto s = ParseBucket(p[1], leaf->first, &ref); !s.ok()) return s;
      return ref;
    }
    ref.cls = ObjectClass::kState;
    if (auto s = CheckId(p[1], "component"); !s.ok()) return s;
    auto v = ParseVersion(leaf->first);
    if (!v.ok()) return v.status();
    ref.name = std::string(p[1]);
    ref.number = *v;
    return ref;
  }
  if (p.size() == 2 && p[0] == "snapshot") {
    auto leaf = SplitExt(p[1]);
    if (!leaf.ok()) return leaf.status();
    auto v = ParseVersion(leaf->first);
    if (!v.ok()) return v.status();
    ref.cls = ObjectClass::kSnapshot;
    ref.format = leaf->second;
    ref.number = *v;
    return ref;
  }
  if (p.size() >= 3 && p[0] == "peer") {
    if (auto s = CheckId(p[1], "user"); !s.ok()) return s;
    ref.name = std::string(p[1]);
    if (p.size() == 3 && p[2] == "key") {
      ref.cls = ObjectClass::kPeerKey;
      return ref;
    }
    if (p.size() == 4) {
      auto leaf = SplitExt(p[3]);
      if (!leaf.ok()) return leaf.status();
      if (auto s = ParseBucket(p[2], leaf->first, &ref); !s.ok()) return s;
      ref.cls = ObjectClass::kPeer;
      ref.format = leaf->second;
      return ref;
    }
  }
  return absl::NotFoundError("no such object in a room");
}

std::string Pad(int64_t n, int width) { return absl::StrFormat("%0*d", width, n); }

}  // namespace

std::string ObjectPath(const ObjectRef& r) {
  const absl::string_view ext = Ext(r.format);
  const absl::string_view prefix = PrefixOf(r.scope);
  switch (r.cls) {
    case ObjectClass::kManifest:
      return absl::StrCat(prefix, r.room, "/manifest", ext);
    case ObjectClass::kActions:
      return absl::StrCat(prefix, r.room, "/actions/", r.bucket_ms, "/",
                          r.number, ext);
    case ObjectClass::kState:
      return absl::StrCat(prefix, r.room, "/state/", r.name, "/",
                          r.number, ext);
    case ObjectClass::kSnapshot:
      return absl::StrCat(prefix, r.room, "/snapshot/", r.number, ext);
    case ObjectClass::kPeer:
      return absl::StrCat(prefix, r.room, "/peer/", r.name, "/",
                          r.bucket_ms, "/", r.number, ext);
    case ObjectClass::kPeerKey:
      return absl::StrCat(prefix, r.room, "/peer/", r.name, "/key");
    case ObjectClass::kWatermark:
      return absl::StrCat(kPublishersPrefix, r.name, "/watermark");
  }
  return "";
}

std::string ManifestPath(absl::string_view room, Format f, Scope s) {
  return ObjectPath({.cls = ObjectClass::kManifest, .room = std::string(room),
                     .format = f, .scope = s});
}
std::string SegmentPath(absl::string_view room, int64_t d, int64_t k, Format f,
                        Scope s) {
  return ObjectPath({.cls = ObjectClass::kActions, .room = std::string(room),
                     .bucket_ms = d, .number = k, .format = f, .scope = s});
}
std::string StatePath(absl::string_view room, absl::string_view component,
                      int64_t v, Format f, Scope s) {
  return ObjectPath({.cls = ObjectClass::kState, .room = std::string(room),
                     .name = std::string(component), .number = v, .format = f,
                     .scope = s});
}
std::string SnapshotPath(absl::string_view room, int64_t v, Format f, Scope s) {
  return ObjectPath({.cls = ObjectClass::kSnapshot, .room = std::string(room),
                     .number = v, .format = f, .scope = s});
}
std::string PeerPath(absl::string_view room, absl::string_view user, int64_t d,
                     int64_t k, Format f, Scope s) {
  return ObjectPath({.cls = ObjectClass::kPeer, .room = std::string(room),
                     .name = std::string(user), .bucket_ms = d, .number = k,
                     .format = f, .scope = s});
}
std::string PeerKeyPath(absl::string_view room, absl::string_view user) {
  return ObjectPath({.cls = ObjectClass::kPeerKey, .room = std::string(room),
                     .name = std::string(user)});
}
std::string WatermarkPath(absl::string_view publisher) {
  return ObjectPath(
      {.cls = ObjectClass::kWatermark, .name = std::string(publisher)});
}

absl::StatusOr<ObjectRef> ParsePath(absl::string_view path) {
  ObjectRef ref;
  if (absl::ConsumePrefix(&path, kPublishersPrefix)) {
    std::vector<absl::string_view> p = absl::StrSplit(path, '/');
    if (p.size() != 2 || p[1] != "watermark") {
      return absl::NotFoundError("no such publisher object");
    }
    if (auto s = CheckId(p[0], "publisher"); !s.ok()) return s;
    ref.cls = ObjectClass::kWatermark;
    ref.name = std::string(p[0]);
    return ref;
  }
  if (absl::ConsumePrefix(&path, kPrivatePrefix)) {
    ref.scope = Scope::kPrivate;
  } else if (!absl::ConsumePrefix(&path, kRoomsPrefix)) {
    return absl::NotFoundError("paths start with /v1/rooms/ or /v1/private/");
  }
  std::vector<absl::string_view> p = absl::StrSplit(path, '/');
  if (auto s = CheckId(p[0], "room"); !s.ok()) return s;
  ref.room = std::string(p[0]);
  p.erase(p.begin());
  return ParseRoomParts(std::move(ref), p);
}

std::string RoomKeyPrefix(absl::string_view room, Scope s) {
  return absl::StrCat(s == Scope::kPrivate ? "q/" : "r/", room, "/");
}

std::string StorageKey(const ObjectRef& r) {
  const std::string room = RoomKeyPrefix(r.room, r.scope);
  switch (r.cls) {
    case ObjectClass::kManifest:
      return absl::StrCat(room, "m");
    case ObjectClass::kActions:
      return absl::StrCat(room, "a/", Pad(r.bucket_ms, 8), "/", Pad(r.number, 18));
    case ObjectClass::kState:
      return absl::StrCat(room, "s/", r.name, "/", Pad(r.number, 18));
    case ObjectClass::kSnapshot:
      return absl::StrCat(room, "n/", Pad(r.number, 18));
    case ObjectClass::kPeer:
      return absl::StrCat(room, "p/", r.name, "/", Pad(r.bucket_ms, 8), "/",
                          Pad(r.number, 18));
    case ObjectClass::kPeerKey:
      return absl::StrCat(room, "k/", r.name);
    case ObjectClass::kWatermark:
      return absl::StrCat("w/", r.name);
  }
  return "";
}

absl::StatusOr<ObjectRef> ParseStorageKey(absl::string_view key) {
  std::vector<absl::string_view> p = absl::StrSplit(key, '/');
  auto unpad = [](absl::string_view s) {
    while (s.size() > 1 && s[0] == '0') s.remove_prefix(1);
    return s;
  };
  if (p.size() == 2 && p[0] == "w") {
    if (!IsValidId(p[1])) return Invalid("bad storage key", key);
    return ObjectRef{.cls = ObjectClass::kWatermark, .name = std::string(p[1])};
  }
  if (p.size() < 3 || (p[0] != "r" && p[0] != "q")) return Invalid("bad storage key", key);
  // Rebuild the canonical path and let the one path parser check it.
  std::string path =
      absl::StrCat(p[0] == "q" ? kPrivatePrefix : kRoomsPrefix, p[1], "/");
  absl::string_view c = p[2];
  if (c == "m" && p.size() == 3) {
    absl::StrAppend(&path, "manifest.pb");
  } else if (c == "a" && p.size() == 5) {
    absl::StrAppend(&path, "actions/", unpad(p[3]), "/", unpad(p[4]), ".pb");
  } else if (c == "s" && p.size() == 5) {
    absl::StrAppend(&path, "state/", p[3], "/", unpad(p[4]), ".pb");
  } else if (c == "n" && p.size() == 4) {
    absl::StrAppend(&path, "snapshot/", unpad(p[3]), ".pb");
  } else if (c == "p" && p.size() == 6) {
    absl::StrAppend(&path, "peer/", p[3], "/", unpad(p[4]), "/", unpad(p[5]),
                    ".pb");
  } else if (c == "k" && p.size() == 4) {
    absl::StrAppend(&path, "peer/", p[3], "/key");
  } else {
    return Invalid("bad storage key", key);
  }
  auto ref = ParsePath(path);
  if (!ref.ok() || StorageKey(*ref) != key) return Invalid("bad storage key", key);
  return ref;
}

absl::string_view ContentType(Format f) {
  return f == Format::kJson ? "application/json" : "application/x-protobuf";
}

}  // namespace roomcast::segmenter
