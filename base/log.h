// One logging facility for every library and binary: a line per event on
// stderr, `time level component event key=value ...` (time in UTC to the
// millisecond, RFC 3339; logfmt values: quoted when they hold spaces, quotes
// or '='), so an operator can line up what several processes said, filter
// by level and component, and a program can parse the rest.
//
//   ROOMCAST_LOG(kError, "publisher", "upload_refused")
//       .Kv("room", room).Kv("path", path).Kv("status", status);
//   // 2026-12-04T20:05:01.123Z error publisher upload_refused room=lobby
//   //     path=/v1/... status="..."
//
// Lines below the minimum level (ROOMCAST_LOG_LEVEL, default info) cost one
// comparison. Each line is written with one write(2), so lines from several
// threads never interleave. Tests capture lines with SetLogSink.
#ifndef ROOMCAST_BASE_LOG_H_
#define ROOMCAST_BASE_LOG_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <string>
#include <type_traits>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"

namespace roomcast::base {

enum class LogLevel : int { kDebug = 0, kInfo = 1, kWarning = 2, kError = 3 };

// "debug", "info", "warning", "error".
absl::string_view LogLevelName(LogLevel level);
absl::StatusOr<LogLevel> ParseLogLevel(absl::string_view name);

// Lines below `level` are dropped. The first use reads ROOMCAST_LOG_LEVEL.
void SetMinLogLevel(LogLevel level);
bool LogEnabled(LogLevel level);

// Receives every line (without its time and newline) instead of stderr;
// null restores stderr. For tests.
using LogSink = std::function<void(absl::string_view line)>;
void SetLogSink(LogSink sink);

// One line under construction; written when it goes out of scope.
class LogLine {
 public:
  LogLine(LogLevel level, absl::string_view component, absl::string_view event);
  ~LogLine();
  LogLine(const LogLine&) = delete;
  LogLine& operator=(const LogLine&) = delete;

  LogLine& Kv(absl::string_view key, absl::string_view value);
  LogLine& Kv(absl::string_view key, const std::string& value) {
    return Kv(key, absl::string_view(value));
  }
  LogLine& Kv(absl::string_view key, const char* value) {
    return Kv(key, absl::string_view(value));
  }
  LogLine& Kv(absl::string_view key, const absl::Status& status);
  LogLine& Kv(absl::string_view key, bool value) {
    return Kv(key, absl::string_view(value ? "true" : "false"));
  }
  template <typename T,
            typename = std::enable_if_t<std::is_arithmetic_v<T>>>
  LogLine& Kv(absl::string_view key, T value) {
    return Kv(key, absl::string_view(absl::StrCat(value)));
  }

 private:
  std::string line_;
};

}  // namespace roomcast::base

// Starts a line if `level` (kDebug, kInfo, kWarning, kError) is enabled;
// otherwise nothing after it is evaluated.
#define ROOMCAST_LOG(level, component, event)                              \
  if (!::roomcast::base::LogEnabled(::roomcast::base::LogLevel::level)) { \
  } else                                                                   \
    ::roomcast::base::LogLine(::roomcast::base::LogLevel::level, component, event)

#endif  // ROOMCAST_BASE_LOG_H_
