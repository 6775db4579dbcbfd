// `roomcast tail` and `roomcast replay` honour moderation (DESIGN §11): the
// real binary against a real roomcast-publisher (comments posted and
// retracted through its HTTP API) uploading to a real roomcast-origin.
// tail prints `[retracted #seq]` after a message it printed and never a
// message retracted before it printed it; replay never prints a retracted
// message, whether the retraction comes inside the range or after it.
#include <signal.h>

#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "segmenter/bucketer.h"
#include "segmenter/naming.h"
#include "tests/publisher/e2e_fixture.h"
#include "tests/tools/cli_run.h"

namespace roomcast::testing {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

constexpr char kRoom[] = "stage";
constexpr int64_t kBucketMs = 250;

std::string Rfc3339(int64_t ms) {
  return absl::FormatTime(absl::RFC3339_full, absl::FromUnixMillis(ms), absl::UTCTimeZone());
}

class CliReadersTest : public PublisherE2eTest {
 protected:
  void SetUp() override {
    PublisherE2eTest::SetUp();
    if (HasFatalFailure()) return;
    OpenRoom(kRoom, R"({"bucket_ms": 250})");
  }
  Ack Post(const std::string& text) { return PostComment(kRoom, text); }
  bool Published(const Ack& a) {
    return WaitForWatermark(
        segmenter::BucketEnd(segmenter::BucketIndex(a.ts_ms, kBucketMs), kBucketMs), 5s);
  }
  void Retract(uint64_t seq) { RetractAndWait(kRoom, seq, kBucketMs); }
  bool WaitForRedactions() const {
    for (const auto until = Clock::now() + 5s; Clock::now() < until;
         std::this_thread::sleep_for(50ms)) {
      if (ListedVersion(kRoom, "redactions") > 0) return true;
    }
    return false;
  }
  RunResult Replay(int64_t from_ms, int64_t to_ms) const {
    return Cli({"replay", "--base", origin_->url(), "--room", kRoom, "--from", Rfc3339(from_ms),
                "--to", Rfc3339(to_ms)});
  }

  // `roomcast tail` as a process of its own (so it can be stopped with
  // SIGSTOP), its stdout in a file.
  class Tail {
   public:
    Tail(const std::string& base, const std::string& out_path)
        : path_(out_path),
          proc_({"/bin/sh", "-c",
                 absl::StrCat("exec '", BinaryPath("roomcast"), "' tail --base ", base,
                              " --room ", kRoom, " --mode bucket --duration-ms 30000 > '",
                              out_path, "'")}) {}
    std::string Out() const {
      std::ifstream in(path_);
      std::stringstream ss;
      ss << in.rdbuf();
      return ss.str();
    }
    // Waits until stdout holds `text`.
    bool WaitFor(const std::string& text, std::chrono::milliseconds limit) const {
      for (const auto until = Clock::now() + limit; Clock::now() < until;
           std::this_thread::sleep_for(50ms)) {
        if (absl::StrContains(Out(), text)) return true;
      }
      return false;
    }
    void Signal(int sig) { ::kill(proc_.pid(), sig); }
    // SIGTERM once stdout holds `last`; the exit status.
    int StopAfter(const std::string& last) {
      const bool seen = WaitFor(last, 10s);
      const int status = proc_.Stop(SIGTERM);
      return seen ? status : -2;
    }
    // What it printed but state changes (the `redactions` component shows
    // up among them, at no fixed place).
    std::vector<std::string> Printed() const {
      std::vector<std::string> out;
      for (const std::string& line : Lines(Out())) {
        if (!absl::StrContains(line, "[state]")) out.push_back(line);
      }
      return out;
    }

   private:
    std::string path_;
    Process proc_;
  };
  // Tail, once a comment shows it has joined.
  std::unique_ptr<Tail> StartTail() {
    auto t = std::make_unique<Tail>(origin_->url(), publisher_dir_.path() + "/tail.out");
    // Joined once a comment posted now shows (posted again until it does:
    // one posted before the join is, rightly, never printed).
    for (int i = 0; i < 20 && !t->WaitFor("joined", 500ms); ++i) Post("joined");
    return t;
  }
};

TEST_F(CliReadersTest, TailPrintsRetractedAfterAMessageItPrinted) {
  std::unique_ptr<Tail> tail = StartTail();
  ASSERT_TRUE(tail->WaitFor("joined", 100ms)) << tail->Out();
  const Ack shown = Post("regrettable");
  ASSERT_TRUE(tail->WaitFor("regrettable", 5s)) << tail->Out();
  Retract(shown.seq);
  Post("fine");
  ASSERT_EQ(tail->StopAfter("fine"), 0) << tail->Out();
  const std::string out = tail->Out();
  std::vector<std::string> lines = tail->Printed();
  ASSERT_GE(lines.size(), 3u) << out;
  const size_t n = lines.size();
  EXPECT_TRUE(absl::StrContains(lines[n - 3], "viewer-1: regrettable")) << out;
  EXPECT_EQ(lines[n - 2], absl::StrCat("[retracted #", shown.seq, "]")) << out;
  EXPECT_TRUE(absl::StrContains(lines[n - 1], "viewer-1: fine")) << out;
}

// tail stopped (SIGSTOP) while a message is posted, published and
// retracted: when it runs again it has the room's `redactions` before it
// prints that bucket, so the message (and its retraction) never show.
TEST_F(CliReadersTest, TailNeverPrintsWhatWasRetractedBeforeItPrintedIt) {
  std::unique_ptr<Tail> tail = StartTail();
  ASSERT_TRUE(tail->WaitFor("joined", 100ms)) << tail->Out();
  tail->Signal(SIGSTOP);
  const int64_t stopped = segmenter::BucketIndex(WallMs(), kBucketMs);
  ASSERT_TRUE(WaitForWatermark(segmenter::BucketEnd(stopped + 12, kBucketMs), 10s));
  const Ack gone = Post("retracted while tail slept");
  ASSERT_TRUE(Published(gone));
  Retract(gone.seq);
  ASSERT_TRUE(WaitForRedactions());
  Post("after");
  tail->Signal(SIGCONT);
  ASSERT_EQ(tail->StopAfter("viewer-1: after"), 0) << tail->Out();
  const std::string out = tail->Out();
  EXPECT_TRUE(absl::StrContains(out, "viewer-1: after")) << out;
  EXPECT_FALSE(absl::StrContains(out, "retracted while tail slept")) << out;
  EXPECT_FALSE(absl::StrContains(out, "[retracted")) << out;
}

TEST_F(CliReadersTest, ReplayNeverPrintsARetractedMessage) {
  const Ack a = Post("alpha");
  const Ack b = Post("bravo, retracted later");
  const Ack c = Post("charlie");
  ASSERT_TRUE(Published(c));
  Retract(b.seq);
  const Ack d = Post("delta");
  ASSERT_TRUE(Published(d));

  // The whole range: the retract record comes after the message in it.
  RunResult all = Replay(a.ts_ms, d.ts_ms + 1);
  ASSERT_EQ(all.status, 0) << all.err;
  std::vector<std::string> lines = Lines(all.out);
  ASSERT_EQ(lines.size(), 3u) << all.out;
  EXPECT_TRUE(absl::StrContains(lines[0], "alpha")) << all.out;
  EXPECT_TRUE(absl::StrContains(lines[1], "charlie")) << all.out;
  EXPECT_TRUE(absl::StrContains(lines[2], "delta")) << all.out;
  // A range that ends before the retraction: the room's `redactions` still
  // keep it out.
  RunResult early = Replay(a.ts_ms, c.ts_ms + 1);
  ASSERT_EQ(early.status, 0) << early.err;
  EXPECT_FALSE(absl::StrContains(early.out, "bravo")) << early.out;
  EXPECT_EQ(Lines(early.out).size(), 2u) << early.out;
  // Also as JSON lines, without rollups.
  RunResult jsonl = Cli({"replay", "--base", origin_->url(), "--room", kRoom, "--from",
                         Rfc3339(a.ts_ms), "--to", Rfc3339(d.ts_ms + 1), "--format", "jsonl",
                         "--no-rollups"});
  ASSERT_EQ(jsonl.status, 0) << jsonl.err;
  std::vector<uint64_t> seqs;
  for (const v1::Message& m : JsonMessages(jsonl.out)) seqs.push_back(m.seq());
  EXPECT_EQ(seqs, (std::vector<uint64_t>{a.seq, c.seq, d.seq}));
}

}  // namespace
}  // namespace roomcast::testing
