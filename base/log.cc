
#include "base/log.h"

#include <unistd.h>

#include <cstdlib>

#include "absl/base/const_init.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace roomcast::base {
namespace {

constexpr int kUnset = -1;
std::atomic<int> min_level{kUnset};

ABSL_CONST_INIT absl::Mutex sink_mu(absl::kConstInit);
LogSink* sink ABSL_GUARDED_BY(sink_mu) = nullptr;

int LevelFromEnvironment() {
  const char* env = std::getenv("ROOMCAST_LOG_LEVEL");
  if (env == nullptr) return static_cast<int>(LogLevel::kInfo);
  absl::StatusOr<LogLevel> l = ParseLogLevel(env);
  return static_cast<int>(l.ok() ? *l : LogLevel::kInfo);
}

bool NeedsQuotes(absl::string_view v) {
  if (v.empty()) return true;
  for (char c : v) {
    if (c == ' ' || c == '"' || c == '=' || c == '\\' ||
        static_cast<unsigned char>(c) < 0x20 || c == 0x7f) {
      return true;
    }
  }
  return false;
}

void AppendValue(std::string* out, absl::string_view v) {
  if (!NeedsQuotes(v)) {
    out->append(v.data(), v.size());
    return;
  }
  out->push_back('"');
  for (char c : v) {
    switch (c) {
      case '"': out->append("\\\""); break;
      case '\\': out->append("\\\\"); break;
      case '\n': out->append("\\n"); break;
      case '\r': out->append("\\r"); break;
      case '\t': out->append("\\t"); break;
      default:
        if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) {
          absl::StrAppend(out, "\\x", absl::Hex(static_cast<unsigned char>(c),
                                                absl::kZeroPad2));
        } else {
          out->push_back(c);
        }
    }
  }
  out->push_back('"');
}

void WriteAll(const std::string& s) {
  const char* p = s.data();
  size_t left = s.size();
  while (left > 0) {
    const ssize_t n = ::write(STDERR_FILENO, p, left);
    if (n <= 0) return;  // nowhere to report a failing stderr
    p += n;
    left -= static_cast<size_t>(n);
  }
}

}  // namespace

absl::string_view LogLevelName(LogLevel level) {
  switch (level) {
    case LogLevel::kDebug: return "debug";
    case LogLevel::kInfo: return "info";
    case LogLevel::kWarning: return "warning";
    case LogLevel::kError: return "error";
  }
  return "info";
}

absl::StatusOr<LogLevel> ParseLogLevel(absl::string_view name) {
  for (LogLevel l : {LogLevel::kDebug, LogLevel::kInfo, LogLevel::kWarning,
                     LogLevel::kError}) {
    if (name == LogLevelName(l)) return l;
  }
  return absl::InvalidArgumentError(absl::StrCat(
      "log level is debug, info, warning or error, not '", name, "'"));
}

void SetMinLogLevel(LogLevel level) { min_level = static_cast<int>(level); }

bool LogEnabled(LogLevel level) {
  int min = min_level.load(std::memory_order_relaxed);
  if (min == kUnset) {
    min = LevelFromEnvironment();
    int expected = kUnset;
    min_level.compare_exchange_strong(expected, min);
  }
  return static_cast<int>(level) >= min;
}

void SetLogSink(LogSink s) {
  absl::MutexLock l(&sink_mu);
  delete sink;
  sink = s ? new LogSink(std::move(s)) : nullptr;
}

LogLine::LogLine(LogLevel level, absl::string_view component,
                 absl::string_view event) {
  absl::StrAppend(&line_, LogLevelName(level), " ", component, " ", event);
}

LogLine& LogLine::Kv(absl::string_view key, absl::string_view value) {
  absl::StrAppend(&line_, " ", key, "=");
  AppendValue(&line_, value);
  return *this;
}

LogLine& LogLine::Kv(absl::string_view key, const absl::Status& status) {
  return Kv(key, absl::string_view(status.ok() ? std::string("OK")
                                               : status.ToString()));
}

LogLine::~LogLine() {
  absl::MutexLock l(&sink_mu);
  if (sink != nullptr) {
    (*sink)(line_);
    return;
  }
  // The wall clock, not an injected one: this is when the line was written.
  std::string out = absl::FormatTime("%Y-%m-%dT%H:%M:%E3SZ ", absl::Now(),
                                     absl::UTCTimeZone());
  absl::StrAppend(&out, line_, "\n");
  WriteAll(out);
}

}  // namespace roomcast::base
