// roomcast replay: a time range of a room's actions, in seq order, paced as
// they happened (--speed 1|2) or at once (--speed max). Whole R-ms windows
// come from rollups: one request a minute of history instead of sixty.
#include <unistd.h>

#include <deque>
#include <iostream>
#include <thread>

#include "absl/strings/str_cat.h"
#include "base/flags.h"
#include "client/fetch.h"
#include "client/sequencer.h"
#include "tools/cli/common.h"
#include "tools/cli/history.h"
#include "tools/cli/verbs.h"

namespace roomcast::cli {
namespace {

constexpr char kProgram[] = "roomcast replay";

void Progress(size_t done, size_t total, int64_t at_ms) {
  constexpr int kWidth = 30;
  const int filled = total == 0 ? kWidth : static_cast<int>(kWidth * done / total);
  std::cerr << "\r[" << std::string(filled, '#') << std::string(kWidth - filled, '.') << "] "
            << (total == 0 ? 100 : 100 * done / total) << "% " << FormatTime(at_ms)
            << std::flush;
}

}  // namespace

int Replay(int argc, char** argv) {
  std::string base, room, from_arg, to_arg, speed = "max", format = "text";
  bool no_rollups = false;
  base::FlagSet flags(kProgram,
                       "--base URL --room ROOM --from TIME --to TIME [--speed 1|2|max] "
                       "[--format text|jsonl]",
                       "Prints the room's actions stamped in [--from, --to), once each, in\n"
                       "seq order. TIME: now, -10m, +30s, -1h30m, RFC 3339 or unix ms.\n"
                       "A progress bar goes to stderr when it is a terminal.");
  flags.String("base", &base, "origin or CDN URL");
  flags.String("room", &room, "room id");
  flags.String("from", &from_arg, "start TIME (inclusive)");
  flags.String("to", &to_arg, "end TIME (exclusive)");
  flags.String("speed", &speed, "1 or 2 (paced like the original) or max");
  flags.String("format", &format, "text or jsonl");
  flags.Bool("no-rollups", &no_rollups, "read every bucket, not rollups");
  for (const char* f : {"base", "room", "from", "to"}) flags.Require(f);
  std::vector<std::string> args = flags.ParseOrExit(argc, argv, 2);
  if (!args.empty()) return UsageError(kProgram, "takes no positional arguments");
  if (speed != "1" && speed != "2" && speed != "max") {
    return UsageError(kProgram, "--speed takes 1, 2 or max");
  }
  if (format != "text" && format != "jsonl") {
    return UsageError(kProgram, "--format takes text or jsonl");
  }
  const int64_t now = NowMs();
  auto from = ParseTime(from_arg, now);
  if (!from.ok()) return UsageError(kProgram, from.status().message());
  auto to = ParseTime(to_arg, now);
  if (!to.ok()) return UsageError(kProgram, to.status().message());
  if (*to <= *from) return UsageError(kProgram, "--to must be after --from");

  auto m = client::FetchManifest(base, room);
  if (!m.ok()) return Failure(kProgram, m.status().message());
  const std::vector<Span> spans = Cover(*m, *from, *to, !no_rollups);
  const bool bar = isatty(STDERR_FILENO) == 1;
  // A range reaching into the future is waited for as it closes.
  const auto deadline = std::chrono::steady_clock::now() +
                        std::chrono::milliseconds(std::max<int64_t>(0, *to - now)) +
                        std::chrono::seconds(30);
  const double pace = speed == "max" ? 0 : std::stod(speed);
  client::Sequencer seq;
  std::optional<int64_t> first_ts;
  const auto started = std::chrono::steady_clock::now();
  bool gaps = false;
  std::deque<Span> todo(spans.begin(), spans.end());
  const int64_t d = m->config().bucket_ms();
  for (size_t done = 0; !todo.empty(); ++done) {
    const Span span = todo.front();
    todo.pop_front();
    if (bar) Progress(done, done + todo.size() + 1, span.index * span.d);
    auto got = FetchSpan(base, room, span, deadline);
    if (!got.ok() && absl::IsNotFound(got.status()) && span.d != d) {
      // No rollups here (yet): read the window's buckets instead.
      for (int64_t k = span.index * span.d / d + span.d / d - 1; k >= span.index * span.d / d; --k) {
        todo.push_front({d, k});
      }
      continue;
    }
    if (!got.ok()) {
      if (bar) std::cerr << "\n";
      return Failure(kProgram, got.status().message());
    }
    const v1::ActionSegment& s = got->segment;
    if (s.epoch() != m->epoch() && s.last_seq() != 0) {
      std::cerr << kProgram << ": " << got->path << " is from another epoch; skipped\n";
      continue;
    }
    if (auto gap = seq.GapBefore(s)) {
      gaps = true;
      std::cerr << kProgram << ": seqs " << gap->first << ".." << gap->last
                << " are in no segment" << std::endl;
      seq.SkipTo(s.first_seq());
    }
    for (const v1::Message* msg : seq.Take(s, *from)) {
      if (msg->ts_ms() >= *to) continue;
      if (pace > 0) {
        if (!first_ts) first_ts = msg->ts_ms();
        std::this_thread::sleep_until(
            started + std::chrono::milliseconds(
                          static_cast<int64_t>((msg->ts_ms() - *first_ts) / pace)));
      }
      std::cout << (format == "jsonl" ? RenderJson(*msg) : RenderText(*msg)) << "\n";
    }
    std::cout << std::flush;
  }
  if (bar) {
    Progress(spans.size(), spans.size(), *to);
    std::cerr << "\n";
  }
  return gaps ? 1 : 0;
}

}  // namespace roomcast::cli
