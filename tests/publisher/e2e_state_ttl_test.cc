// DESIGN §11 expiring state with the real binaries: `PUT
// .../state/{component}?ttl_s=N` makes a component that, once due, leaves
// the manifest and every later snapshot with one more total version, also
// across a kill -9 between the ack and the expiry. Waits are bounded polls.
#include <signal.h>

#include <thread>

#include "absl/strings/match.h"
#include "roomcast/v1/manifest.pb.h"
#include "roomcast/v1/state.pb.h"
#include "segmenter/naming.h"
#include "tests/publisher/e2e_fixture.h"

namespace roomcast::testing {
namespace {

using namespace std::chrono_literals;

class PublisherE2eStateTtlTest : public PublisherE2eTest {
 protected:
  HttpResponse Put(const std::string& room, const std::string& component,
                   const std::string& query, const std::string& value) const {
    return Fetch(
        "PUT",
        PublisherUrl("/v1/rooms/" + room + "/state/" + component + query),
        value, JsonHeaders(Token("host", v1::ROLE_ANCHOR, room)));
  }
  v1::Manifest Manifest(const std::string& room) const {
    v1::Manifest m;
    HttpResponse r = Get(origin_->url() + segmenter::ManifestPath(room));
    if (r.status != 200 || !m.ParseFromString(r.body)) m.Clear();
    return m;
  }
  static bool Lists(const v1::Manifest& m, const std::string& component) {
    for (const v1::ComponentVersion& c : m.components()) {
      if (c.name() == component) return true;
    }
    return false;
  }
  // The origin's manifest once `pred` holds of it (20 s at most).
  template <typename Pred>
  v1::Manifest WaitForManifest(const std::string& room, Pred pred) const {
    const auto deadline = std::chrono::steady_clock::now() + 20s;
    v1::Manifest m = Manifest(room);
    while (!pred(m) && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(100ms);
      m = Manifest(room);
    }
    EXPECT_TRUE(pred(m)) << m.ShortDebugString();
    return m;
  }
  std::vector<std::string> SnapshotNames(const std::string& room,
                                         uint64_t v) const {
    HttpResponse r = Get(origin_->url() + segmenter::SnapshotPath(
                                              room, static_cast<int64_t>(v)));
    v1::StateSnapshot s;
    EXPECT_EQ(r.status, 200) << "snapshot " << v;
    EXPECT_TRUE(s.ParseFromString(r.body));
    std::vector<std::string> names;
    for (const v1::StateComponent& c : s.components())
      names.push_back(c.name());
    return names;
  }
  static int64_t ExpiresMs(const std::string& reply) {
    const size_t at = reply.find("\"expires_ms\":");
    return at == std::string::npos ? 0 : std::stoll(reply.substr(at + 13));
  }
};

TEST_F(PublisherE2eStateTtlTest,
       AnExpiredPinLeavesTheManifestAndLaterSnapshots) {
  const std::string room = "pins";
  OpenRoom(room, R"({"bucket_ms": 250})");
  ASSERT_EQ(Put(room, "title", "", R"("the show")").status, 200);
  HttpResponse pin = Put(room, "pin", "?ttl_s=3", R"({"text": "welcome"})");
  ASSERT_EQ(pin.status, 200) << pin.body;
  const int64_t expires = ExpiresMs(pin.body);
  EXPECT_GT(expires, 0) << pin.body;

  const v1::Manifest with = WaitForManifest(room, [](const v1::Manifest& m) {
    return Lists(m, "pin") && Lists(m, "title");
  });
  const uint64_t v = with.state_version();
  const v1::Manifest without = WaitForManifest(
      room, [](const v1::Manifest& m) { return !Lists(m, "pin"); });
  EXPECT_GE(WallMs(), expires);  // not before it was due
  EXPECT_TRUE(Lists(without, "title"));
  EXPECT_EQ(without.state_version(), v + 1);  // the removal is a version
  EXPECT_EQ(SnapshotNames(room, v), (std::vector<std::string>{"pin", "title"}));
  EXPECT_EQ(SnapshotNames(room, v + 1), std::vector<std::string>{"title"});

  // A later set is a later version again, the pin still gone.
  ASSERT_EQ(Put(room, "title", "", R"("part two")").status, 200);
  const v1::Manifest later = WaitForManifest(
      room, [&](const v1::Manifest& m) { return m.state_version() == v + 2; });
  EXPECT_FALSE(Lists(later, "pin"));
  EXPECT_EQ(SnapshotNames(room, v + 2), std::vector<std::string>{"title"});
  EXPECT_EQ(ImmutableConflicts(), 0);
}

TEST_F(PublisherE2eStateTtlTest, ABadTtlIs400) {
  const std::string room = "pins-bad";
  OpenRoom(room, R"({"bucket_ms": 250})");
  for (const char* q :
       {"?ttl_s=0", "?ttl_s=abc", "?ttl_s=-5", "?ttl_s=86401"}) {
    HttpResponse r = Put(room, "pin", q, R"("x")");
    EXPECT_TRUE(IsJsonError(r, 400)) << q << ": " << r.status << " " << r.body;
  }
}

TEST_F(PublisherE2eStateTtlTest, ExpiryIsDurableAcrossKillNine) {
  const std::string room = "pins-crash";
  OpenRoom(room, R"({"bucket_ms": 250})");
  HttpResponse pin = Put(room, "pin", "?ttl_s=2", R"({"text": "flash sale"})");
  ASSERT_EQ(pin.status, 200) << pin.body;
  const int64_t expires = ExpiresMs(pin.body);
  ASSERT_EQ(publisher_->Stop(SIGKILL), 128 + SIGKILL);
  ASSERT_TRUE(publisher_->Start()) << publisher_->LogTail();

  const v1::Manifest gone = WaitForManifest(room, [](const v1::Manifest& m) {
    return m.state_version() > 0 && !Lists(m, "pin");
  });
  EXPECT_GE(WallMs(), expires);
  EXPECT_TRUE(SnapshotNames(room, gone.state_version()).empty());
  EXPECT_EQ(ImmutableConflicts(), 0);
}

}  // namespace
}  // namespace roomcast::testing
