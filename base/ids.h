// The one grammar of roomcast ids: rooms, users, state components and
// publishers are all [A-Za-z0-9_-]{1,64}. Strict on purpose: an id goes into
// URLs, storage keys and log lines unescaped, so nothing may need escaping.
//
//   if (!IsValidId(room)) return absl::InvalidArgumentError(kIdGrammar);
#ifndef ROOMCAST_BASE_IDS_H_
#define ROOMCAST_BASE_IDS_H_

#include <cstddef>

#include "absl/strings/string_view.h"

namespace roomcast::base {

inline constexpr size_t kMaxIdLength = 64;
inline constexpr char kIdGrammar[] = "[A-Za-z0-9_-]{1,64}";

constexpr bool IsIdChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
         (c >= '0' && c <= '9') || c == '_' || c == '-';
}

constexpr bool IsValidId(absl::string_view id) {
  if (id.empty() || id.size() > kMaxIdLength) return false;
  for (char c : id) {
    if (!IsIdChar(c)) return false;
  }
  return true;
}

}  // namespace roomcast::base

#endif  // ROOMCAST_BASE_IDS_H_
