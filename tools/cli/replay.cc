// roomcast replay: a time range of a room's actions, in seq order, paced as
// they happened (--speed 1|2) or at once (--speed max). Whole R-ms windows
// come from rollups: one request a minute of history instead of sixty.
// Never a retracted message (by the room's `redactions` and every
// `retract` record of the range) nor a takedown's stub (DESIGN §11).
#include <unistd.h>

#include <deque>
#include <iostream>
#include <optional>
#include <set>
#include <utility>
#include <vector>
#include <thread>

#include "absl/strings/str_cat.h"
#include "base/flags.h"
#include "base/status_macros.h"
#include "client/fetch.h"
#include "client/redactions.h"
#include "client/sequencer.h"
#include "tools/cli/common.h"
#include "tools/cli/history.h"
#include "tools/cli/verbs.h"

namespace roomcast::cli {
namespace {

constexpr char kProgram[] = "roomcast replay";

struct ReplayArgs : RangeArgs {
  double pace = 0;  // 1 or 2: as fast as it happened, or twice; 0: at once
  bool jsonl = false;
  bool rollups = true;
};

// The flags, checked; a bad one has already ended the program (exit 2).
absl::StatusOr<ReplayArgs> ParseArgs(int argc, char** argv) {
  std::string speed = "max", format = "text";
  bool no_rollups = false;
  base::FlagSet flags(kProgram,
                      "--base URL --room ROOM --from TIME --to TIME [--speed 1|2|max] "
                      "[--format text|jsonl]",
                      absl::StrCat(
                          "Prints the room's actions stamped in [--from, --to), once each, in\n"
                          "seq order. TIME: now, -10m, +30s, -1h30m, RFC 3339 or unix ms.\n"
                          "A message a moderator retracted (even after --to) or a legal\n"
                          "takedown removed is never printed, nor are retractions.\n"
                          "A progress bar goes to stderr when it is a terminal.\n",
                          kPrivateRoomHelp));
  RangeFlags range(flags);
  flags.String("speed", &speed, "1 or 2 (paced like the original) or max");
  flags.String("format", &format, "text or jsonl");
  flags.Bool("no-rollups", &no_rollups, "read every bucket, not rollups");
  if (!flags.ParseOrExit(argc, argv, 2).empty()) {
    return absl::InvalidArgumentError("takes no positional arguments");
  }
  if (speed != "1" && speed != "2" && speed != "max") {
    return absl::InvalidArgumentError("--speed takes 1, 2 or max");
  }
  if (format != "text" && format != "jsonl") {
    return absl::InvalidArgumentError("--format takes text or jsonl");
  }
  ReplayArgs a;
  ROOMCAST_ASSIGN_OR_RETURN(static_cast<RangeArgs&>(a), range.Resolve());
  a.pace = speed == "max" ? 0 : std::stod(speed);
  a.jsonl = format == "jsonl";
  a.rollups = !no_rollups;
  return a;
}

void Progress(size_t done, size_t total, int64_t at_ms) {
  constexpr int kWidth = 30;
  const int filled = total == 0 ? kWidth : static_cast<int>(kWidth * done / total);
  std::cerr << "\r[" << std::string(filled, '#') << std::string(kWidth - filled, '.') << "] "
            << (total == 0 ? 100 : 100 * done / total) << "% " << FormatTime(at_ms)
            << std::flush;
}

// Reads the spans covering the range in time order and prints their
// actions: each once, in seq order, gaps reported.
class Replayer {
 public:
  Replayer(const ReplayArgs& a, const v1::Manifest& m)
      : a_(a),
        m_(m),
        d_(m.config().bucket_ms()),
        bar_(isatty(STDERR_FILENO) == 1),
        deadline_(a.Deadline()) {}

  // The exit status: 1 if a fetch failed or seqs were lost. Two passes
  // (DESIGN §11: replay never shows a retracted message, and a retraction
  // comes after its message): the first reads the range and every
  // `retract` record in it, then the room's `redactions` (every retraction
  // of its retention window, also those after --to); the second prints.
  int Run() {
    const std::vector<Span> spans = Cover(m_, a_.from, a_.to, a_.rollups);
    std::deque<Span> todo(spans.begin(), spans.end());
    for (size_t done = 0; !todo.empty(); ++done) {
      const Span span = todo.front();
      todo.pop_front();
      if (bar_) Progress(done, done + todo.size() + 1, span.index * span.d);
      absl::StatusOr<FetchedSegment> got = FetchSpan(a_.base, a_.room, span, deadline_);
      if (!got.ok() && absl::IsNotFound(got.status()) && span.d != d_) {
        PushBuckets(span, todo);  // no rollup here (yet): read its buckets
        continue;
      }
      if (!got.ok()) return Fail(got.status());
      if (span.d != d_ && got->segment.has_last_bucket()) {
        PushBucketsAfter(span, got->segment.last_bucket(), todo);  // a rollup cut short
      }
      Keep(span, std::move(*got));
    }
    if (absl::Status st = ReadRedactions(); !st.ok()) return Fail(st);
    if (bar_) {
      Progress(spans.size(), spans.size(), a_.to);
      std::cerr << "\n";
    }
    return PrintAll();
  }

 private:
  // The buckets of rollup `span`, first in front.
  void PushBuckets(const Span& span, std::deque<Span>& todo) const {
    PushBucketsAfter(span, span.index * span.d / d_ - 1, todo);
  }
  // The buckets of rollup `span` after bucket `last`, first in front.
  void PushBucketsAfter(const Span& span, int64_t last, std::deque<Span>& todo) const {
    const int64_t first = span.index * span.d / d_;
    for (int64_t k = first + span.d / d_ - 1; k > last && k >= first; --k) {
      todo.push_front({d_, k});
    }
  }

  int Fail(const absl::Status& st) const {
    if (bar_) std::cerr << "\n";
    return Failure(kProgram, st.message());
  }

  // A read segment for the second pass (kept in memory up to a budget,
  // read again after it) and the retractions it records.
  void Keep(const Span& span, FetchedSegment got) {
    for (const v1::Message& msg : got.segment.messages()) {
      if (!msg.has_retract()) continue;
      retracted_.insert(msg.retract().seqs().begin(), msg.retract().seqs().end());
    }
    const size_t size = got.segment.ByteSizeLong();
    if (kept_bytes_ + size > kKeepBytes) {
      read_.emplace_back(span, std::nullopt);
      return;
    }
    kept_bytes_ += size;
    read_.emplace_back(span, std::move(got));
  }

  // The room's `redactions` as of now (a fresh manifest: the range's own
  // may predate a retraction made while it was read).
  absl::Status ReadRedactions() {
    absl::StatusOr<v1::Manifest> now = client::FetchManifest(a_.base, a_.room);
    if (!now.ok()) return now.status();
    absl::StatusOr<std::set<uint64_t>> seqs =
        client::FetchRedactions(a_.base, a_.room, now->epoch() == m_.epoch() ? *now : m_,
                                deadline_);
    if (!seqs.ok()) return seqs.status();
    retracted_.merge(*seqs);
    return absl::OkStatus();
  }

  int PrintAll() {
    for (auto& [span, got] : read_) {
      if (!got) {
        absl::StatusOr<FetchedSegment> again = FetchSpan(a_.base, a_.room, span, deadline_);
        if (!again.ok()) return Failure(kProgram, again.status().message());
        got = std::move(*again);
      }
      Print(*got);
      got.reset();
    }
    return gaps_ ? 1 : 0;
  }

  void Print(const FetchedSegment& got) {
    const v1::ActionSegment& s = got.segment;
    if (s.epoch() != m_.epoch() && s.last_seq() != 0) {
      std::cerr << kProgram << ": " << got.path << " is from another epoch; skipped\n";
      return;
    }
    if (auto gap = seq_.GapBefore(s)) {
      gaps_ = true;
      std::cerr << kProgram << ": seqs " << gap->first << ".." << gap->last
                << " are in no segment" << std::endl;
      seq_.SkipTo(s.first_seq());
    }
    for (const v1::Message* msg : seq_.Take(s, a_.from)) {
      if (msg->ts_ms() >= a_.to || !Shown(*msg)) continue;
      Pace(*msg);
      std::cout << (a_.jsonl ? RenderJson(*msg) : RenderText(*msg)) << "\n";
    }
    std::cout << std::flush;
  }

  // Never a takedown's stub or a retracted message; nor a retraction, since
  // what it retracts is never printed here.
  bool Shown(const v1::Message& msg) const {
    return !msg.has_redacted() && !msg.has_retract() && !retracted_.contains(msg.seq());
  }

  // Waits until `msg` is due, as far from the first as it was (divided by
  // the speed).
  void Pace(const v1::Message& msg) {
    if (a_.pace <= 0) return;
    if (!first_ts_) first_ts_ = msg.ts_ms();
    std::this_thread::sleep_until(
        started_ + std::chrono::milliseconds(
                       static_cast<int64_t>((msg.ts_ms() - *first_ts_) / a_.pace)));
  }

  const ReplayArgs& a_;
  const v1::Manifest& m_;
  const int64_t d_;
  const bool bar_;
  const std::chrono::steady_clock::time_point deadline_;
  const std::chrono::steady_clock::time_point started_ = std::chrono::steady_clock::now();
  client::Sequencer seq_;
  std::optional<int64_t> first_ts_;
  bool gaps_ = false;
  // Pass one's reads in order, the retracted seqs they and `redactions`
  // name, and the bytes of segments kept for pass two.
  static constexpr size_t kKeepBytes = 256 << 20;
  std::vector<std::pair<Span, std::optional<FetchedSegment>>> read_;
  std::set<uint64_t> retracted_;
  size_t kept_bytes_ = 0;
};

}  // namespace

int Replay(int argc, char** argv) {
  absl::StatusOr<ReplayArgs> a = ParseArgs(argc, argv);
  if (!a.ok()) return UsageError(kProgram, a.status().message());
  absl::StatusOr<v1::Manifest> m = client::FetchManifest(a->base, a->room);
  if (!m.ok()) return Failure(kProgram, m.status().message());
  return Replayer(*a, *m).Run();
}

}  // namespace roomcast::cli
