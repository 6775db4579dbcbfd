// Early-return helpers for absl::Status / absl::StatusOr.
//
// Debian 12's Abseil (20220623) has no public RETURN_IF_ERROR, so we keep
// this one small header. Usage:
//
//   ROOMCAST_RETURN_IF_ERROR(store.Put(key, value));
//   ROOMCAST_ASSIGN_OR_RETURN(auto ref, ParsePath(path));
#ifndef ROOMCAST_BASE_STATUS_MACROS_H_
#define ROOMCAST_BASE_STATUS_MACROS_H_

#include "absl/status/status.h"
#include "absl/status/statusor.h"

#define ROOMCAST_RETURN_IF_ERROR(expr)                \
  do {                                                \
    if (absl::Status _rc_status = (expr); !_rc_status.ok()) { \
      return _rc_status;                              \
    }                                                 \
  } while (0)

#define ROOMCAST_STATUS_CONCAT_INNER(a, b) a##b
#define ROOMCAST_STATUS_CONCAT(a, b) ROOMCAST_STATUS_CONCAT_INNER(a, b)

#define ROOMCAST_ASSIGN_OR_RETURN(lhs, expr)                                \
  ROOMCAST_ASSIGN_OR_RETURN_IMPL(                                           \
      ROOMCAST_STATUS_CONCAT(_rc_statusor_, __LINE__), lhs, expr)

#define ROOMCAST_ASSIGN_OR_RETURN_IMPL(tmp, lhs, expr) \
  auto tmp = (expr);                                   \
  if (!tmp.ok()) return std::move(tmp).status();       \
  lhs = std::move(tmp).value()

#endif  // ROOMCAST_BASE_STATUS_MACROS_H_
