// JetStreamLog under a kill -9 of its stream's leader (DESIGN §13): jobs
// submitted all along get OK or kUnavailable, never an OK for a record
// that is not stored; after the election every OK'd record is in the
// stream exactly once (an in-doubt publish retried is a duplicate, not a
// second copy). Its own cluster: it kills a node.
#include <atomic>
#include <chrono>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "gtest/gtest.h"
#include "publisher/internal/jetstream_log.h"
#include "tests/support/nats_cluster.h"

namespace roomcast::publisher::internal {
namespace {

using namespace std::chrono_literals;
using roomcast::testing::NatsCluster;
using roomcast::testing::WhileUnavailable;

// Outcomes of the jobs, by record id.
class Outcomes {
 public:
  void Set(const std::string& id, absl::Status s) {
    absl::MutexLock l(&mu_);
    (s.ok() ? ok_ : refused_).push_back(id);
  }
  size_t ok() {
    absl::MutexLock l(&mu_);
    return ok_.size();
  }
  std::vector<std::string> ok_ids() {
    absl::MutexLock l(&mu_);
    return ok_;
  }
  size_t refused() {
    absl::MutexLock l(&mu_);
    return refused_.size();
  }

 private:
  absl::Mutex mu_;
  std::vector<std::string> ok_ ABSL_GUARDED_BY(mu_), refused_ ABSL_GUARDED_BY(mu_);
};

// Waits (bounded) until `pred` holds.
template <typename P>
bool Eventually(P pred, std::chrono::seconds bound) {
  const auto deadline = std::chrono::steady_clock::now() + bound;
  while (!pred()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(10ms);
  }
  return true;
}

enum class Fault { kKill, kPause };

// Jobs submitted all along while the stream's leader is killed or paused;
// then what a new owner reads back.
void WritesThroughALeaderFault(Fault fault, std::chrono::milliseconds resolve_by_reading_after) {
  NatsCluster nats;
  ASSERT_TRUE(nats.ready());
  // The stream is made (term 1, nothing written); the writer then connects
  // to the other nodes only: a client on a paused node waits out libnats'
  // ping interval (2 min) before it reconnects (not what this tests).
  auto setup = cluster::JetStream::Connect({.urls = nats.urls(), .timeout = 1000ms});
  ASSERT_TRUE(setup.ok()) << setup.status();
  ASSERT_TRUE(WhileUnavailable([&] {
                return JetStreamLog::Open({.js = setup->get(), .shard = "ko", .term = 1});
              }).ok());
  absl::StatusOr<cluster::StreamState> st = (*setup)->State(JetStreamLog::StreamName("ko"));
  ASSERT_TRUE(st.ok()) << st.status();
  const int leader = nats.IndexOf(st->leader);
  ASSERT_GE(leader, 0) << st->leader;
  std::vector<std::string> others;
  for (int i = 0; i < nats.size(); ++i) {
    if (i != leader) others.push_back(nats.url(i));
  }
  auto js = cluster::JetStream::Connect({.urls = others, .timeout = 1000ms});
  ASSERT_TRUE(js.ok()) << js.status();
  auto opened = WhileUnavailable([&] {
    return JetStreamLog::Open({.js = js->get(),
                               .shard = "ko",
                               .term = 2,
                               .resolve_by_reading_after = resolve_by_reading_after});
  });
  ASSERT_TRUE(opened.ok()) << opened.status();
  std::unique_ptr<JetStreamLog> log = *std::move(opened);

  Outcomes outcomes;
  std::atomic<bool> stop{false};
  std::atomic<int> not_writable{0};
  std::thread submitter([&] {
    for (int n = 0; !stop; ++n) {
      if (!log->writable()) ++not_writable;  // the Sequencer's 503; submitted anyway
      const std::string id = absl::StrCat("r", n);
      log->Submit({.prepare =
                       [id](std::vector<log::Record>* out) {
                         log::Record r;
                         r.set_room("lobby");
                         r.mutable_action()->set_client_msg_id(id);
                         out->push_back(r);
                       },
                   .done = [&outcomes, id](absl::Status s) { outcomes.Set(id, s); }});
      std::this_thread::sleep_for(2ms);
    }
  });
  const bool started = Eventually([&] { return outcomes.ok() >= 50; }, 30s);
  const size_t before = outcomes.ok();
  if (fault == Fault::kKill) {
    nats.Kill(leader);
  } else {
    nats.Pause(leader);
  }
  // Writes go on through the election, and are acked again after it.
  const bool resumed = started && Eventually([&] { return outcomes.ok() >= before + 200; }, 60s);
  stop = true;
  submitter.join();
  const uint64_t resolved = log->recoveries();
  log.reset();  // every pending job answered
  if (fault == Fault::kPause) nats.Resume(leader);
  ASSERT_TRUE(resumed) << outcomes.ok() << " acked, " << outcomes.refused() << " refused";
  EXPECT_GE(resolved, 1u) << "no publish was in doubt";

  // A new owner reads the stream: every acked record exactly once, and no
  // record twice.
  auto reader = WhileUnavailable(
      [&] { return JetStreamLog::Open({.js = js->get(), .shard = "ko", .term = 3}); });
  ASSERT_TRUE(reader.ok()) << reader.status();
  std::map<std::string, int> stored;
  uint64_t last_lsn = 0;
  auto none = [](const std::string&, const std::string&, const std::string&) {};
  ASSERT_TRUE((*reader)
                  ->Replay(
                      [&](uint64_t lsn, const log::Record& r) {
                        EXPECT_GT(lsn, last_lsn);
                        last_lsn = lsn;
                        ++stored[r.action().client_msg_id()];
                        return absl::OkStatus();
                      },
                      none)
                  .ok());
  for (const auto& [id, n] : stored) EXPECT_EQ(n, 1) << id << " stored " << n << " times";
  std::vector<std::string> lost;
  for (const std::string& id : outcomes.ok_ids()) {
    if (!stored.contains(id)) lost.push_back(id);
  }
  EXPECT_TRUE(lost.empty()) << lost.size() << " of " << outcomes.ok() << " acked records lost, first "
                            << lost.front() << ", last " << lost.back();
  EXPECT_GT(not_writable.load(), 0) << "the election was never seen as unwritable";
  if (fault == Fault::kKill) {
    EXPECT_TRUE(nats.Restart(leader));
  }
}

TEST(JetStreamLogFailoverTest, KillNineOfTheLeaderLosesNoAckAndStoresNothingTwice) {
  WritesThroughALeaderFault(Fault::kKill, std::chrono::seconds(90));
}

// A paused leader (SIGSTOP), with the in-doubt publish resolved by reading
// the stream's last message at once, as past JetStream's duplicate window.
TEST(JetStreamLogFailoverTest, APausedLeadersDoubtIsResolvedByReadingTheStream) {
  WritesThroughALeaderFault(Fault::kPause, std::chrono::milliseconds(0));
}

}  // namespace
}  // namespace roomcast::publisher::internal
