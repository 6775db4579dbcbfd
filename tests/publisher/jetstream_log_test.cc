// JetStreamLog (publisher/internal/jetstream_log.h), one shard's log on a
// real 3-node JetStream cluster on loopback (tests/support/nats_cluster.h):
// what a new owner of the shard (a higher term) reads back, the trim's
// purge, the fence against an old owner, a kill -9 of the stream leader
// under writes (nothing acked lost, nothing stored twice), and a whole
// Publisher engine failing over to a new owner byte-identically.
#include "publisher/internal/jetstream_log.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <map>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "gtest/gtest.h"
#include "publisher/internal/log_keys.h"
#include "publisher/publisher.h"
#include "segmenter/naming.h"
#include "tests/publisher/publisher_harness.h"
#include "tests/support/nats_cluster.h"

namespace roomcast::publisher::internal {
namespace {

using namespace std::chrono_literals;
using roomcast::testing::NatsCluster;
using roomcast::testing::WhileUnavailable;

log::Record Rec(const std::string& room, const std::string& id) {
  log::Record r;
  r.set_room(room);
  r.mutable_action()->set_client_msg_id(id);
  return r;
}

// Pseudo-random bytes: zstd cannot make them smaller, so they are stored
// as they are (in parts, when over one message).
std::string Incompressible(size_t bytes) {
  std::mt19937_64 rng(bytes);
  std::string out(bytes, '\0');
  for (char& c : out) c = static_cast<char>(rng() >> 56);
  return out;
}

// Submits one job of `records` and waits for it; the first LSN it got.
absl::StatusOr<uint64_t> Append(LogStore& log, std::vector<log::Record> records) {
  absl::Notification done;
  absl::Status status;
  uint64_t first = 0;
  log.Submit({.prepare =
                  [&](std::vector<log::Record>* out) {
                    first = log.next_lsn() + out->size();
                    out->insert(out->end(), records.begin(), records.end());
                  },
              .done =
                  [&](absl::Status s) {
                    status = s;
                    done.Notify();
                  }});
  done.WaitForNotification();
  if (!status.ok()) return status;
  return first;
}

// (lsn, client_msg_id) of every record a replay gives; the keys it
// quarantined into `quarantined`, if given.
std::vector<std::pair<uint64_t, std::string>> Replayed(
    LogStore& log, std::vector<std::string>* quarantined = nullptr) {
  std::vector<std::pair<uint64_t, std::string>> out;
  auto collect = [&](const std::string&, const std::string& key, const std::string&) {
    if (quarantined != nullptr) quarantined->push_back(key);
  };
  EXPECT_TRUE(log.Replay(
                     [&](uint64_t lsn, const log::Record& r) {
                       out.emplace_back(lsn, r.action().client_msg_id());
                       return absl::OkStatus();
                     },
                     collect)
                  .ok());
  return out;
}

// An old owner's append, after a newer owner's term began: refused as
// fenced (the shard moved), and the log says so.
void ExpectFenced(JetStreamLog& old_owner, const std::string& id) {
  absl::StatusOr<uint64_t> late = Append(old_owner, {Rec("lobby", id)});
  EXPECT_TRUE(absl::IsUnavailable(late.status())) << late.status();
  EXPECT_TRUE(absl::StrContains(late.status().message(), "moved")) << late.status();
  EXPECT_TRUE(old_owner.fenced());
}

class JetStreamLogTest : public ::testing::Test {
 protected:
  // One cluster for the suite: these tests kill no node.
  static void SetUpTestSuite() { nats_ = new NatsCluster(); }
  static void TearDownTestSuite() {
    delete nats_;
    nats_ = nullptr;
  }

  void SetUp() override {
    ASSERT_TRUE(nats_->ready()) << "the 3-node cluster did not elect a meta leader";
    auto js = cluster::JetStream::Connect({.urls = nats_->urls(), .timeout = 2000ms});
    ASSERT_TRUE(js.ok()) << js.status();
    js_ = *std::move(js);
  }

  std::unique_ptr<JetStreamLog> OpenLog(const std::string& shard, uint64_t term) {
    auto log = WhileUnavailable(
        [&] { return JetStreamLog::Open({.js = js_.get(), .shard = shard, .term = term}); });
    EXPECT_TRUE(log.ok()) << log.status();
    return log.ok() ? *std::move(log) : nullptr;
  }

  // Every stored message of the shard's stream, in order.
  std::vector<cluster::StoredMessage> Messages(const std::string& shard,
                                               const std::string& filter = ">") {
    std::vector<cluster::StoredMessage> out;
    absl::Status s = js_->Scan(JetStreamLog::StreamName(shard),
                               absl::StrCat("rclog.", shard, ".", filter), 1,
                               [&](const cluster::StoredMessage& m) {
                                 out.push_back(m);
                                 return absl::OkStatus();
                               });
    EXPECT_TRUE(s.ok()) << s;
    return out;
  }

  static NatsCluster* nats_;
  std::unique_ptr<cluster::JetStream> js_;
};
NatsCluster* JetStreamLogTest::nats_ = nullptr;

TEST_F(JetStreamLogTest, ANewTermReplaysEveryRecordInOrderWithItsLsn) {
  std::vector<std::pair<uint64_t, std::string>> written;
  {
    std::unique_ptr<JetStreamLog> a = OpenLog("rt", 1);
    ASSERT_NE(a, nullptr);
    EXPECT_TRUE(Replayed(*a).empty());
    for (int job = 0; job < 5; ++job) {
      std::vector<log::Record> rs;
      for (int i = 0; i < 3; ++i) rs.push_back(Rec(job % 2 ? "hall" : "lobby", absl::StrCat("m", job, "-", i)));
      absl::StatusOr<uint64_t> first = Append(*a, rs);
      ASSERT_TRUE(first.ok()) << first.status();
      for (int i = 0; i < 3; ++i) written.emplace_back(*first + i, rs[i].action().client_msg_id());
    }
    EXPECT_EQ(a->records_written(), 15u);
    EXPECT_EQ(a->next_lsn(), written.back().first + 1);
  }
  std::unique_ptr<JetStreamLog> b = OpenLog("rt", 2);
  ASSERT_NE(b, nullptr);
  EXPECT_EQ(Replayed(*b), written);
  EXPECT_EQ(b->next_lsn(), written.back().first + 1);
  // The new owner appends after them, never reusing an LSN.
  absl::StatusOr<uint64_t> next = Append(*b, {Rec("lobby", "after")});
  ASSERT_TRUE(next.ok()) << next.status();
  EXPECT_EQ(*next, written.back().first + 1);
}

TEST_F(JetStreamLogTest, AGroupCommitOverHalfAMebibyteIsCutIntoBatches) {
  std::vector<log::Record> big;
  for (int i = 0; i < 4; ++i) big.push_back(Rec("lobby", std::string(200 << 10, 'a' + i)));
  {
    std::unique_ptr<JetStreamLog> a = OpenLog("big", 1);
    ASSERT_NE(a, nullptr);
    absl::StatusOr<uint64_t> first = Append(*a, big);
    ASSERT_TRUE(first.ok()) << first.status();
    EXPECT_EQ(a->batches_written(), 2u);
  }
  EXPECT_EQ(Messages("big", "b.>").size(), 2u);
  std::unique_ptr<JetStreamLog> b = OpenLog("big", 2);
  ASSERT_NE(b, nullptr);
  std::vector<std::pair<uint64_t, std::string>> expect;
  for (int i = 0; i < 4; ++i) expect.emplace_back(1 + i, big[i].action().client_msg_id());
  EXPECT_EQ(Replayed(*b), expect);
}

TEST_F(JetStreamLogTest, CheckpointsProgressAndRepliesRoundTrip) {
  {
    std::unique_ptr<JetStreamLog> a = OpenLog("kv", 1);
    ASSERT_NE(a, nullptr);
    ASSERT_TRUE(Append(*a, {Rec("lobby", "x"), Rec("gone", "y")}).ok());
    log::Progress p;
    p.set_uploaded_through_ms(12345);
    log::RoomProgress rp;
    rp.set_manifest_intent(7);
    rp.set_manifest_done(6);
    ASSERT_TRUE(a->WriteProgress(&p, {{"lobby", rp}, {"gone", rp}}).ok());
    LogStore::CheckpointWrite w;
    log::RoomCheckpoint& c = w.checkpoints.emplace_back();
    c.set_room("lobby");
    c.set_lsn(1);
    c.set_seq(41);
    LogStore::CheckpointWrite::Replies& r = w.replies.emplace_back();
    r.room = "lobby";
    r.lsn = 1;
    r.max_ts_ms = 500;
    r.chunk.add_replies()->set_client_msg_id("x");
    r.chunk.mutable_replies(0)->set_ts_ms(500);
    log::RoomCheckpoint& d = w.checkpoints.emplace_back();
    d.set_room("gone");
    d.set_lsn(2);
    d.set_dropped(true);
    w.forget.push_back("gone");
    ASSERT_TRUE(a->WriteCheckpoint(w).ok());
  }
  std::unique_ptr<JetStreamLog> b = OpenLog("kv", 2);
  ASSERT_NE(b, nullptr);
  absl::StatusOr<log::Progress> p = b->ReadProgress();
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->uploaded_through_ms(), 12345);
  auto rp = b->ReadRoomProgress();
  ASSERT_TRUE(rp.ok());
  ASSERT_EQ(rp->size(), 1u) << "a forgotten room's progress goes";
  EXPECT_EQ(rp->at("lobby").manifest_intent(), 7u);
  auto none = [](const std::string&, const std::string&, const std::string&) {};
  auto cps = b->ReadCheckpoints(none);
  ASSERT_TRUE(cps.ok());
  ASSERT_EQ(cps->size(), 2u);
  EXPECT_EQ((*cps)[0].room(), "gone");
  EXPECT_TRUE((*cps)[0].dropped());
  EXPECT_EQ((*cps)[1].seq(), 41u);
  auto replies = b->ReadReplies(none);
  ASSERT_TRUE(replies.ok());
  ASSERT_EQ(replies->size(), 1u);
  EXPECT_EQ(replies->at("lobby").at(0).client_msg_id(), "x");
}

// A deletion (expired reply chunks, a forgotten room's progress and
// checkpoint) is a fenced tombstone, then deleted itself: nothing of the
// room is left in the stream, where a subject per reply chunk would pile
// up for as long as the shard lives. A tombstone an older owner left is
// deleted by the next one.
TEST_F(JetStreamLogTest, DeletionsLeaveNoSubjectBehind) {
  const std::string stream = JetStreamLog::StreamName("tomb");
  {
    std::unique_ptr<JetStreamLog> a = OpenLog("tomb", 1);
    ASSERT_NE(a, nullptr);
    ASSERT_TRUE(Append(*a, {Rec("lobby", "x"), Rec("gone", "y")}).ok());
    log::RoomProgress rp;
    rp.set_manifest_intent(1);
    ASSERT_TRUE(a->WriteProgress(nullptr, {{"gone", rp}}).ok());
    LogStore::CheckpointWrite w;
    for (const char* room : {"lobby", "gone"}) {
      log::RoomCheckpoint& c = w.checkpoints.emplace_back();
      c.set_room(room);
      c.set_lsn(2);
      LogStore::CheckpointWrite::Replies& r = w.replies.emplace_back();
      r.room = room;
      r.lsn = 2;
      r.max_ts_ms = 500;
      r.chunk.add_replies()->set_client_msg_id("x");
    }
    ASSERT_TRUE(a->WriteCheckpoint(w).ok());
    ASSERT_EQ(Messages("tomb", "y.>").size(), 2u);
    LogStore::CheckpointWrite drop;
    drop.expire_replies.emplace_back("lobby", 1000);
    drop.forget.push_back("gone");
    drop.erase_checkpoints.push_back("gone");
    ASSERT_TRUE(a->WriteCheckpoint(drop).ok());
    ASSERT_TRUE(Append(*a, {Rec("lobby", "z")}).ok());  // the tombstones are not the tip now
    ASSERT_TRUE(a->WriteCheckpoint({}).ok());
    std::vector<std::string> subjects;
    for (const cluster::StoredMessage& m : Messages("tomb")) subjects.push_back(m.subject);
    for (const std::string& subject : subjects) {
      EXPECT_FALSE(absl::StartsWith(subject, "rclog.tomb.y.") || subject == "rclog.tomb.c.gone" ||
                   subject == "rclog.tomb.rp.gone")
          << subject << " is left";
    }
    EXPECT_EQ(std::count(subjects.begin(), subjects.end(), "rclog.tomb.c.lobby"), 1);
  }
  // As an owner cut short before deleting its tombstone leaves it.
  ASSERT_TRUE(js_->PublishWithHeaders("rclog.tomb.c.old", "", {{"Rc-Deleted", "1"}}).ok());
  std::unique_ptr<JetStreamLog> b = OpenLog("tomb", 2);
  ASSERT_NE(b, nullptr);
  auto none = [](const std::string&, const std::string&, const std::string&) {};
  auto cps = b->ReadCheckpoints(none);
  ASSERT_TRUE(cps.ok()) << cps.status();
  ASSERT_EQ(cps->size(), 1u);
  EXPECT_EQ((*cps)[0].room(), "lobby");
  auto replies = b->ReadReplies(none);
  ASSERT_TRUE(replies.ok());
  EXPECT_TRUE(replies->empty());
  ASSERT_TRUE(b->WriteCheckpoint({}).ok());
  for (const cluster::StoredMessage& m : Messages("tomb")) {
    EXPECT_NE(m.subject, "rclog.tomb.c.old") << "an older owner's tombstone is left";
  }
}

// A busy room's checkpoint holds its rollup window's segments (up to 4 MiB),
// over NATS' 1 MiB message: its publish was refused, every checkpoint round
// of the shard failed with it, and the log never trimmed (bench/cluster.sh).
// Such a value is stored in parts and read back whole by the next owner;
// the parts of a value replaced go, and parts no value names (a write cut
// short) go after the next owner's first write.
TEST_F(JetStreamLogTest, ACheckpointOverOneMessageIsStoredInPartsAndReadBackWhole) {
  auto checkpoint = [](uint64_t lsn, size_t bytes) {
    LogStore::CheckpointWrite w;
    log::RoomCheckpoint& c = w.checkpoints.emplace_back();
    c.set_room("busy");
    c.set_lsn(lsn);
    // Bytes that do not compress away and differ per part.
    const std::string segment = Incompressible(bytes);
    c.mutable_closer()->add_rollup_parts()->set_segment(segment);
    return w;
  };
  const LogStore::CheckpointWrite big = checkpoint(1, 3 << 20);
  {
    std::unique_ptr<JetStreamLog> a = OpenLog("parts", 1);
    ASSERT_NE(a, nullptr);
    ASSERT_TRUE(Append(*a, {Rec("busy", "x")}).ok());
    absl::Status s = a->WriteCheckpoint(big);
    ASSERT_TRUE(s.ok()) << s;
    // A write cut short after its first part: a part no head names.
    ASSERT_TRUE(js_->Publish("rclog.parts.x.9_9.1", "stray", {}).ok());
  }
  EXPECT_EQ(Messages("parts", "x.>").size(), 4u) << "3 parts of the value, 1 stray";
  auto none = [](const std::string&, const std::string&, const std::string&) {};
  {
    std::unique_ptr<JetStreamLog> b = OpenLog("parts", 2);
    ASSERT_NE(b, nullptr);
    auto cps = b->ReadCheckpoints(none);
    ASSERT_TRUE(cps.ok()) << cps.status();
    ASSERT_EQ(cps->size(), 1u);
    EXPECT_EQ((*cps)[0].SerializeAsString(), big.checkpoints[0].SerializeAsString());
    EXPECT_EQ(b->quarantined(), 0u);
    // A smaller one replaces it: the old parts and the stray go.
    ASSERT_TRUE(b->WriteCheckpoint(checkpoint(1, 1000)).ok());
  }
  EXPECT_EQ(Messages("parts", "x.>").size(), 0u);
  std::unique_ptr<JetStreamLog> c = OpenLog("parts", 3);
  ASSERT_NE(c, nullptr);
  auto cps = c->ReadCheckpoints(none);
  ASSERT_TRUE(cps.ok()) << cps.status();
  ASSERT_EQ(cps->size(), 1u);
  EXPECT_EQ((*cps)[0].closer().rollup_parts(0).segment().size(), 1000u);
}

// A value whose parts do not make it whole (one lost) is quarantined like
// any value that does not parse; the log opens and goes on.
TEST_F(JetStreamLogTest, AValueMissingAPartIsQuarantined) {
  {
    std::unique_ptr<JetStreamLog> a = OpenLog("torn", 1);
    ASSERT_NE(a, nullptr);
    LogStore::CheckpointWrite w;
    log::RoomCheckpoint& c = w.checkpoints.emplace_back();
    c.set_room("busy");
    // Bytes that do not compress away: stored in two parts.
    const std::string segment = Incompressible(2 << 20);
    c.mutable_closer()->add_rollup_parts()->set_segment(segment);
    ASSERT_TRUE(a->WriteCheckpoint(w).ok());
  }
  std::vector<cluster::StoredMessage> parts = Messages("torn", "x.>");
  ASSERT_EQ(parts.size(), 2u);
  ASSERT_TRUE(js_->DeleteMsg(JetStreamLog::StreamName("torn"), parts[0].seq).ok());
  std::unique_ptr<JetStreamLog> b = OpenLog("torn", 2);
  ASSERT_NE(b, nullptr);
  std::vector<std::string> quarantined;
  auto note = [&](const std::string& room, const std::string&, const std::string&) {
    quarantined.push_back(room);
  };
  auto cps = b->ReadCheckpoints(note);
  ASSERT_TRUE(cps.ok()) << cps.status();
  EXPECT_TRUE(cps->empty());
  EXPECT_EQ(quarantined, std::vector<std::string>{"busy"});
  EXPECT_TRUE(Append(*b, {Rec("busy", "y")}).ok()) << "the log goes on";
}

// Chat text compresses: batches and a busy room's checkpoint (its rollup
// segments) are stored zstd-compressed, a 3 MiB checkpoint in one message
// instead of four parts, and the next owner reads back the very same
// records and bytes.
std::string ChatText(uint64_t* state, int words) {
  static const char* kWords[] = {"hello", "gift", "wow", "this", "stream", "is", "so",
                                 "good", "lol", "when", "next", "song", "please", "hi",
                                 "from", "berlin", "love", "it", "again", "nice"};
  std::string out;
  for (int w = 0; w < words; ++w) {
    *state = *state * 6364136223846793005u + 1442695040888963407u;
    absl::StrAppend(&out, w ? " " : "", kWords[(*state >> 33) % 20]);
  }
  return out;
}

TEST_F(JetStreamLogTest, BatchesAndCheckpointsAreStoredCompressedAndReadBackTheSame) {
  uint64_t rng = 7;
  std::vector<log::Record> records;
  for (int i = 0; i < 200; ++i) {
    log::Record r = Rec("busy", absl::StrCat("id-", i));
    r.mutable_action()->mutable_message()->mutable_comment()->set_text(ChatText(&rng, 12));
    records.push_back(std::move(r));
  }
  LogStore::CheckpointWrite w;
  log::RoomCheckpoint& c = w.checkpoints.emplace_back();
  c.set_room("busy");
  c.set_lsn(1);
  std::string segment;
  while (segment.size() < (3u << 20)) absl::StrAppend(&segment, ChatText(&rng, 10), "\n");
  c.mutable_closer()->add_rollup_parts()->set_segment(segment);
  // One that compresses, but not below one message: compressed, then parts.
  log::RoomCheckpoint& mixed = w.checkpoints.emplace_back();
  mixed.set_room("mixed");
  mixed.set_lsn(1);
  mixed.mutable_closer()->add_rollup_parts()->set_segment(Incompressible(2 << 20));
  mixed.mutable_closer()->add_rollup_parts()->set_segment(segment);
  std::string raw_batch;
  {
    std::unique_ptr<JetStreamLog> a = OpenLog("zstd", 1);
    ASSERT_NE(a, nullptr);
    ASSERT_TRUE(Append(*a, records).ok());
    absl::Status s = a->WriteCheckpoint(w);
    ASSERT_TRUE(s.ok()) << s;
    log::RecordBatch b;
    b.set_first_lsn(1);
    for (const log::Record& r : records) *b.add_records() = r;
    raw_batch = b.SerializeAsString();
  }
  std::vector<cluster::StoredMessage> batches = Messages("zstd", "b.>");
  ASSERT_EQ(batches.size(), 1u);
  EXPECT_EQ(batches[0].headers["Rc-Encoding"], "zstd");
  EXPECT_LT(batches[0].data.size(), raw_batch.size() / 2);
  std::vector<cluster::StoredMessage> checkpoints = Messages("zstd", "c.>");
  ASSERT_EQ(checkpoints.size(), 2u);
  for (const cluster::StoredMessage& m : checkpoints) {
    EXPECT_EQ(m.headers.at("Rc-Encoding"), "zstd") << m.subject;
  }
  EXPECT_EQ(checkpoints[0].subject, "rclog.zstd.c.busy");
  EXPECT_EQ(checkpoints[0].headers.count("Rc-Parts"), 0u) << "one message holds it";
  EXPECT_EQ(checkpoints[1].headers.at("Rc-Parts"), "3");
  EXPECT_EQ(Messages("zstd", "x.>").size(), 2u) << "the mixed one's parts only";

  std::unique_ptr<JetStreamLog> b = OpenLog("zstd", 2);
  ASSERT_NE(b, nullptr);
  std::vector<std::pair<uint64_t, std::string>> texts;
  auto none = [](const std::string&, const std::string&, const std::string&) {};
  ASSERT_TRUE(b->Replay(
                   [&](uint64_t lsn, const log::Record& r) {
                     texts.emplace_back(lsn, r.SerializeAsString());
                     return absl::OkStatus();
                   },
                   none)
                  .ok());
  ASSERT_EQ(texts.size(), records.size());
  for (size_t i = 0; i < records.size(); ++i) {
    EXPECT_EQ(texts[i].first, 1 + i);
    EXPECT_EQ(texts[i].second, records[i].SerializeAsString()) << i;
  }
  auto cps = b->ReadCheckpoints(none);
  ASSERT_TRUE(cps.ok()) << cps.status();
  ASSERT_EQ(cps->size(), 2u);
  std::map<std::string, std::string> read;
  for (const log::RoomCheckpoint& r : *cps) read[r.room()] = r.SerializeAsString();
  EXPECT_EQ(read["busy"], w.checkpoints[0].SerializeAsString());
  EXPECT_EQ(read["mixed"], w.checkpoints[1].SerializeAsString());
  EXPECT_EQ(b->quarantined(), 0u);
}

// What a reader cannot decode (bytes that are not a frame, a frame cut
// short, an encoding it does not know) is quarantined like any value that
// does not parse, and the log goes on.
TEST_F(JetStreamLogTest, ValuesThatDoNotDecodeAreQuarantined) {
  {
    std::unique_ptr<JetStreamLog> a = OpenLog("undec", 1);
    ASSERT_NE(a, nullptr);
    uint64_t rng = 3;
    log::Record r = Rec("lobby", "good");
    r.mutable_action()->mutable_message()->mutable_comment()->set_text(ChatText(&rng, 400));
    ASSERT_TRUE(Append(*a, {r}).ok());
  }
  std::vector<cluster::StoredMessage> good = Messages("undec", "b.>");
  ASSERT_EQ(good.size(), 1u);
  ASSERT_EQ(good[0].headers["Rc-Encoding"], "zstd") << "a 2 KiB record is stored compressed";
  const std::string cut = good[0].data.substr(0, good[0].data.size() / 2);
  log::RoomCheckpoint cp;
  cp.set_room("lobby");
  for (const auto& [subject, data, encoding] :
       std::vector<std::tuple<std::string, std::string, std::string>>{
           {"rclog.undec.b.2", "not a frame", "zstd"},
           {"rclog.undec.b.3", cut, "zstd"},
           {"rclog.undec.c.lobby", cp.SerializeAsString(), "brotli"}}) {
    ASSERT_TRUE(js_->PublishWithHeaders(subject, data, {{"Rc-Encoding", encoding}}).ok())
        << subject;
  }
  std::unique_ptr<JetStreamLog> b = OpenLog("undec", 2);
  ASSERT_NE(b, nullptr);
  std::vector<std::string> keys;
  const std::vector<std::pair<uint64_t, std::string>> good_only = {{1, "good"}};
  EXPECT_EQ(Replayed(*b, &keys), good_only);
  EXPECT_EQ(keys, (std::vector<std::string>{LogKey(2), LogKey(3)}));
  std::vector<std::string> rooms;
  auto note = [&](const std::string& room, const std::string&, const std::string&) {
    rooms.push_back(room);
  };
  auto cps = b->ReadCheckpoints(note);
  ASSERT_TRUE(cps.ok()) << cps.status();
  EXPECT_TRUE(cps->empty());
  EXPECT_EQ(rooms, std::vector<std::string>{"lobby"});
  EXPECT_TRUE(Append(*b, {Rec("lobby", "next")}).ok()) << "the log goes on";
}

TEST_F(JetStreamLogTest, TrimPurgesBatchesBelowItAndReplayStartsPastIt) {
  uint64_t keep_from = 0;
  {
    std::unique_ptr<JetStreamLog> a = OpenLog("trim", 1);
    ASSERT_NE(a, nullptr);
    ASSERT_TRUE(Append(*a, {Rec("lobby", "a1"), Rec("lobby", "a2")}).ok());
    ASSERT_TRUE(Append(*a, {Rec("lobby", "b1")}).ok());
    absl::StatusOr<uint64_t> c = Append(*a, {Rec("lobby", "c1"), Rec("lobby", "c2")});
    ASSERT_TRUE(c.ok());
    ASSERT_EQ(Messages("trim", "b.>").size(), 3u);
    // Trim into the third batch: the first two go, the third stays whole.
    keep_from = *c + 1;
    LogStore::CheckpointWrite w;
    log::RoomCheckpoint& cp = w.checkpoints.emplace_back();
    cp.set_room("lobby");
    cp.set_lsn(*c);
    w.trim_to = keep_from;
    ASSERT_TRUE(a->WriteCheckpoint(w).ok());
    EXPECT_EQ(a->trim_point(), keep_from);
    EXPECT_EQ(a->compactions(), 1u);
  }
  std::vector<cluster::StoredMessage> left = Messages("trim", "b.>");
  ASSERT_EQ(left.size(), 1u);
  EXPECT_EQ(left[0].subject, absl::StrCat("rclog.trim.b.", keep_from - 1));
  std::unique_ptr<JetStreamLog> b = OpenLog("trim", 2);
  ASSERT_NE(b, nullptr);
  EXPECT_EQ(b->trim_point(), keep_from);
  const std::vector<std::pair<uint64_t, std::string>> expect = {{keep_from, "c2"}};
  EXPECT_EQ(Replayed(*b), expect);
  EXPECT_EQ(b->next_lsn(), keep_from + 1);
}

TEST_F(JetStreamLogTest, AnOldOwnerIsFencedOnceANewOneAppended) {
  std::unique_ptr<JetStreamLog> a = OpenLog("fence", 1);
  ASSERT_NE(a, nullptr);
  ASSERT_TRUE(Append(*a, {Rec("lobby", "a1")}).ok());
  // A newer owner takes the shard (A does not know) and writes once.
  std::unique_ptr<JetStreamLog> b = OpenLog("fence", 2);
  ASSERT_NE(b, nullptr);
  ASSERT_EQ(Replayed(*b).size(), 1u);
  ASSERT_TRUE(Append(*b, {Rec("lobby", "b1")}).ok());
  // A's next write fails, and so does every later one, of any kind.
  ExpectFenced(*a, "a2");
  EXPECT_FALSE(a->writable());
  log::Progress p;
  EXPECT_TRUE(absl::IsUnavailable(a->WriteProgress(&p, {})));
  EXPECT_TRUE(absl::IsUnavailable(Append(*a, {Rec("lobby", "a3")}).status()));
  // B goes on; nothing of A's is in the stream after B's first message.
  ASSERT_TRUE(Append(*b, {Rec("lobby", "b2")}).ok());
  bool after_b = false;
  for (const cluster::StoredMessage& m : Messages("fence")) {
    const std::string id = m.headers.count("Nats-Msg-Id") ? m.headers.at("Nats-Msg-Id") : "";
    if (absl::StartsWith(id, "fence.2.")) after_b = true;
    if (after_b) {
      EXPECT_FALSE(absl::StartsWith(id, "fence.1.")) << id << " at #" << m.seq;
    }
  }
  EXPECT_TRUE(after_b);
  EXPECT_FALSE(b->fenced());
}

// The open itself fences: a new owner's term begins with a message written
// before it reads anything, so an old owner still appending (its lease
// thread late) cannot change the log under the read, and everything it had
// acked is what the new owner replays.
TEST_F(JetStreamLogTest, OpeningFencesTheOldOwnerBeforeReading) {
  std::unique_ptr<JetStreamLog> a = OpenLog("openfence", 1);
  ASSERT_NE(a, nullptr);
  ASSERT_TRUE(Append(*a, {Rec("lobby", "a1")}).ok());
  log::Progress p;
  p.set_uploaded_through_ms(1000);
  ASSERT_TRUE(a->WriteProgress(&p, {}).ok());

  std::unique_ptr<JetStreamLog> b = OpenLog("openfence", 2);  // writes nothing yet
  ASSERT_NE(b, nullptr);
  ExpectFenced(*a, "a2");
  p.set_uploaded_through_ms(2000);
  EXPECT_FALSE(a->WriteProgress(&p, {}).ok());

  const std::vector<std::pair<uint64_t, std::string>> expect = {{1, "a1"}};
  EXPECT_EQ(Replayed(*b), expect);
  absl::StatusOr<log::Progress> read = b->ReadProgress();
  ASSERT_TRUE(read.ok()) << read.status();
  EXPECT_EQ(read->uploaded_through_ms(), 1000);
  EXPECT_FALSE(b->fenced());
  ASSERT_TRUE(Append(*b, {Rec("lobby", "b1")}).ok());
}

// What the stream holds is input: a batch that does not parse, one whose
// LSN disagrees with its subject, one overlapping another and a subject of
// no known kind are quarantined or skipped, and the log goes on after them.
TEST_F(JetStreamLogTest, UnreadableBatchesAreQuarantinedAndTheLogGoesOn) {
  {
    std::unique_ptr<JetStreamLog> a = OpenLog("bad", 1);
    ASSERT_NE(a, nullptr);
    ASSERT_TRUE(Append(*a, {Rec("lobby", "good")}).ok());
  }
  log::RecordBatch wrong;
  wrong.set_first_lsn(99);
  *wrong.add_records() = Rec("lobby", "wrong");
  log::RecordBatch overlap;
  overlap.set_first_lsn(4);
  *overlap.add_records() = Rec("lobby", "o1");
  *overlap.add_records() = Rec("lobby", "o2");
  log::RecordBatch inside;
  inside.set_first_lsn(5);
  *inside.add_records() = Rec("lobby", "inside");
  for (const auto& [subject, data] : std::vector<std::pair<std::string, std::string>>{
           {"rclog.bad.b.2", "\xff\xff garbage"},
           {"rclog.bad.b.3", wrong.SerializeAsString()},
           {"rclog.bad.b.4", overlap.SerializeAsString()},
           {"rclog.bad.b.5", inside.SerializeAsString()},
           {"rclog.bad.zzz.1", "?"}}) {
    ASSERT_TRUE(js_->Publish(subject, data).ok()) << subject;
  }
  std::unique_ptr<JetStreamLog> b = OpenLog("bad", 2);
  ASSERT_NE(b, nullptr);
  std::vector<std::string> keys;
  const std::vector<std::pair<uint64_t, std::string>> expect = {
      {1, "good"}, {4, "o1"}, {5, "o2"}};
  EXPECT_EQ(Replayed(*b, &keys), expect);
  EXPECT_EQ(keys, (std::vector<std::string>{LogKey(2), LogKey(3), LogKey(5)}));
  EXPECT_EQ(b->quarantined(), 3u);
  absl::StatusOr<uint64_t> next = Append(*b, {Rec("lobby", "next")});
  ASSERT_TRUE(next.ok()) << next.status();
  EXPECT_EQ(*next, 6u);
}

// A Publisher engine per shard: a new owner on a new JetStreamLog (higher
// term) re-publishes what the old one had not confirmed, byte-identically,
// in the same epoch.
TEST_F(JetStreamLogTest, ANewOwnersEngineRepublishesByteIdenticalObjects) {
  using namespace roomcast::publisher::testing;
  PublisherOptions options;
  options.id = "eng";  // the shard's name
  options.hint_master_secret = "master";
  options.live = false;
  base::FakeClock clock(kT0);
  FakeUploader first_origin, second_origin;
  auto open = [&](uint64_t term, FakeUploader* origin) -> std::unique_ptr<Publisher> {
    std::unique_ptr<JetStreamLog> log = OpenLog("eng", term);
    if (log == nullptr) return nullptr;
    auto p = Publisher::Open(options, &clock, origin, std::move(log));
    EXPECT_TRUE(p.ok()) << p.status();
    return p.ok() ? *std::move(p) : nullptr;
  };
  uint64_t epoch = 0;
  {
    std::unique_ptr<Publisher> a = open(1, &first_origin);
    ASSERT_NE(a, nullptr);
    Waiter<v1::RoomConfig> opened;
    a->OpenRoom(Service(), "lobby", {}, opened.callback());
    ASSERT_TRUE(opened.Wait().ok());
    clock.Set(kT0 + 100);
    for (int i = 0; i < 3; ++i) {
      Waiter<v1::PostMessagesResponse> w;
      a->Post(Anchor(), "lobby", {Comment(absl::StrCat("hi ", i), absl::StrCat("c", i))},
              w.callback());
      ASSERT_TRUE(w.Wait().ok());
    }
    // The objects land but the watermark does not: the owner dies not
    // knowing they did.
    first_origin.FailPath(segmenter::WatermarkPath("eng"), true);
    clock.Set(kT0 + 1000);
    EXPECT_FALSE(a->Tick().ok());
    epoch = first_origin.GetProto<v1::Manifest>(segmenter::ManifestPath("lobby")).epoch();
    ASSERT_NE(epoch, 0u);
  }
  const auto first = first_origin.objects();
  ASSERT_TRUE(first.contains(segmenter::SegmentPath("lobby", 1000, kT0 / 1000)));
  std::unique_ptr<Publisher> b = open(2, &second_origin);
  ASSERT_NE(b, nullptr);
  clock.Set(kT0 + 1100);
  ASSERT_TRUE(b->Tick().ok());
  const auto second = second_origin.objects();
  for (const auto& [path, bytes] : first) {
    if (path == segmenter::ManifestPath("lobby")) continue;
    ASSERT_TRUE(second.contains(path)) << path;
    EXPECT_EQ(second.at(path), bytes) << path;
  }
  EXPECT_EQ(second_origin.GetProto<v1::Manifest>(segmenter::ManifestPath("lobby")).epoch(), epoch);
  // A client's retry reaches the new owner and gets its first reply.
  Waiter<v1::PostMessagesResponse> retry;
  b->Post(Anchor(), "lobby", {Comment("hi 0", "c0")}, retry.callback());
  absl::StatusOr<v1::PostMessagesResponse> r = retry.Wait();
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->results(0).seq(), 1u);
}

// nats-server 2.9.10 checks a publish's expectations again on every
// replica as it applies it, against that replica's own state. A replica
// restarted after the stream was quiet for longer than its duplicate
// window has forgotten the last message id (it rebuilds it only from
// messages inside the window), so a fence on the last id would be refused
// there and accepted by the leader: the replica would silently hold less
// than what was acked, and lose it if it were elected. The log fences on
// the stream sequence, which every replica knows from its store: each
// replica ends up holding every append.
TEST(JetStreamLogNodeTest, AReplicaRestartedAfterAQuietWindowStoresEveryLaterAppend) {
  NatsCluster nats;
  ASSERT_TRUE(nats.ready()) << "the 3-node cluster did not elect a meta leader";
  auto js = cluster::JetStream::Connect({.urls = nats.urls(), .timeout = 2000ms});
  ASSERT_TRUE(js.ok()) << js.status();
  const std::string stream = JetStreamLog::StreamName("quiet");
  auto open = [&](uint64_t term) {
    auto log = WhileUnavailable([&] {
      return JetStreamLog::Open({.js = js->get(),
                                 .shard = "quiet",
                                 .term = term,
                                 .duplicate_window = 1500ms,
                                 .resolve_by_reading_after = 1000ms});
    });
    EXPECT_TRUE(log.ok()) << log.status();
    return log.ok() ? *std::move(log) : nullptr;
  };
  std::unique_ptr<JetStreamLog> a = open(1);
  ASSERT_NE(a, nullptr);
  ASSERT_TRUE(Append(*a, {Rec("lobby", "before")}).ok());
  absl::StatusOr<cluster::StreamState> st = (*js)->State(stream);
  ASSERT_TRUE(st.ok()) << st.status();
  const int leader = nats.IndexOf(st->leader);
  ASSERT_GE(leader, 0) << st->leader;
  const int follower = (leader + 1) % nats.size();
  // Quiet for longer than the duplicate window, then a follower restarts.
  std::this_thread::sleep_for(2500ms);
  nats.Kill(follower);
  ASSERT_TRUE(nats.Restart(follower));
  for (int i = 0; i < 3; ++i) {
    absl::StatusOr<uint64_t> lsn =
        WhileUnavailable([&] { return Append(*a, {Rec("lobby", absl::StrCat("after", i))}); });
    ASSERT_TRUE(lsn.ok()) << lsn.status();
  }
  st = (*js)->State(stream);
  ASSERT_TRUE(st.ok()) << st.status();
  const NatsCluster::ReplicaState want{.messages = st->messages, .last_seq = st->last_seq};
  std::optional<NatsCluster::ReplicaState> got;
  const auto deadline = std::chrono::steady_clock::now() + 15s;
  while (std::chrono::steady_clock::now() < deadline) {
    got = nats.StreamStateOn(follower, stream);
    if (got == want) break;
    std::this_thread::sleep_for(100ms);
  }
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(got->last_seq, want.last_seq) << "the restarted replica did not store every append";
  EXPECT_EQ(got->messages, want.messages);
  // The other two hold the same.
  for (int i = 0; i < nats.size(); ++i) {
    if (i != follower) {
      EXPECT_EQ(nats.StreamStateOn(i, stream), want) << nats.name(i);
    }
  }
}

}  // namespace
}  // namespace roomcast::publisher::internal
