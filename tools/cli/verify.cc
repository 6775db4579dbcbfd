// roomcast verify: checks a time range of a room the way a careful client
// depends on it (DESIGN §7): every bucket answers, its bytes match its ETag
// in both encodings (and the manifest's digest), seqs are continuous across
// segments, no seq is in two segments, each segment is consistent in itself,
// and rollups hold exactly their buckets' actions. An object holding
// takedown stubs (DESIGN §11) passes only with a record of the room's
// `takedowns` component for its path whose new digest is its bytes' (then
// the manifest may still name its old digest); a record for an object of
// the range that does not match it is a fault too. Stubs keep their seqs, so
// they count for continuity. Exit 1 with a report on any fault.
#include <iostream>
#include <map>
#include <set>

#include "absl/strings/str_cat.h"
#include "base/crypto.h"
#include "base/flags.h"
#include "client/fetch.h"
#include "segmenter/bucketer.h"
#include "roomcast/v1/state.pb.h"
#include "segmenter/codec.h"
#include "segmenter/messages.h"
#include "segmenter/takedown.h"
#include "tools/cli/common.h"
#include "tools/cli/history.h"
#include "tools/cli/verbs.h"

namespace roomcast::cli {
namespace {

constexpr char kProgram[] = "roomcast verify";

// The `takedowns` component's records: path -> (old, new) digests.
using TakedownRecords = std::multimap<std::string, std::pair<std::string, std::string>>;

absl::StatusOr<TakedownRecords> FetchTakedowns(const std::string& base,
                                               const client::RoomAccess& room,
                                               const v1::Manifest& m,
                                               std::chrono::steady_clock::time_point deadline) {
  TakedownRecords out;
  for (const v1::ComponentVersion& c : m.components()) {
    if (c.name() != "takedowns") continue;
    auto raw = client::FetchClosed(base + room.StatePath(c.name(), static_cast<int64_t>(c.version())),
                                   deadline, room.Headers());
    if (!raw.ok()) return raw.status();
    v1::StateComponent state;
    if (!state.ParseFromString(raw->body)) return absl::DataLossError("takedowns: not a component");
    const auto& fields = state.value().struct_value().fields();
    auto records = fields.find("records");
    if (records == fields.end()) return out;
    for (const auto& r : records->second.list_value().values()) {
      const auto& f = r.struct_value().fields();
      auto get = [&](const char* name) {
        auto it = f.find(name);
        return it == f.end() ? std::string() : it->second.string_value();
      };
      out.emplace(get("path"), std::make_pair(get("old_digest"), get("new_digest")));
    }
  }
  return out;
}

struct Checker {
  const v1::Manifest& manifest;
  std::string base;
  client::RoomAccess room;
  TakedownRecords takedowns;
  std::vector<std::string> faults;
  uint64_t stubs = 0;
  // seq -> the bucket it was seen in (actions kept; dropped ones by range)
  std::map<uint64_t, int64_t> seen;
  std::optional<std::pair<int64_t, uint64_t>> prev;  // (bucket, last_seq)
  uint64_t segments = 0, actions = 0;
  uint64_t lo = 0, hi = 0;

  void Fault(const std::string& where, const std::string& what) {
    faults.push_back(absl::StrCat(where, ": ", what));
  }

  // The record of a takedown that made these bytes, or null.
  const std::pair<std::string, std::string>* TakenDownTo(const std::string& path,
                                                         const std::string& digest) const {
    auto [b, e] = takedowns.equal_range(path);
    for (auto it = b; it != e; ++it) {
      if (it->second.second == digest) return &it->second;
    }
    return nullptr;
  }

  // Stubs need a record naming these bytes; a record for this path needs
  // bytes it names (the newest record of a path is the object's).
  void Takedowns(const FetchedSegment& f, const std::string& digest) {
    const bool stubbed = segmenter::HoldsStubs(f.segment);
    for (const v1::Message& m : f.segment.messages()) stubs += m.has_redacted();
    if (TakenDownTo(f.path, digest) != nullptr) return;
    if (stubbed) {
      Fault(f.path, "holds takedown stubs but no takedown record names its bytes");
    } else if (takedowns.count(f.path) > 0) {
      Fault(f.path, "a takedown record names it, but its bytes are not the record's");
    }
  }

  // Checks one bucket object on its own and against what came before.
  void Bucket(const FetchedSegment& f, int64_t d, int64_t k) {
    const v1::ActionSegment& s = f.segment;
    const std::string digest = base::Sha256Hex(f.raw.body);
    // A copy that was streamed while its bucket was open has no ETag (a
    // cache keeps the streamed response, DESIGN §10); the manifest's digest
    // below still checks it while the manifest lists it.
    if (!f.raw.Header("etag").empty() && client::EtagDigest(f.raw) != digest) {
      Fault(f.path, absl::StrCat("ETag ", f.raw.Header("etag"), " but the bytes hash to ", digest));
    }
    Identity(f);
    Takedowns(f, digest);
    if (s.room() != manifest.room() || s.bucket_ms() != d || s.index() != k) {
      Fault(f.path, "the segment names another room or bucket");
    }
    if (s.last_seq() != 0 && s.epoch() != manifest.epoch()) {
      Fault(f.path, absl::StrCat("epoch ", s.epoch(), ", the room's is ", manifest.epoch()));
    }
    for (const v1::SegmentRef& r : manifest.recent_segments()) {
      if (d != manifest.config().bucket_ms() || r.index() != k) continue;
      // A takedown replaced the bytes the manifest listed.
      const auto* taken = TakenDownTo(f.path, digest);
      if (r.digest() != digest && (taken == nullptr || taken->first != r.digest())) {
        Fault(f.path, "digest differs from the manifest's");
      }
      if (r.first_seq() != s.first_seq() || r.last_seq() != s.last_seq()) {
        Fault(f.path, "seq range differs from the manifest's");
      }
    }
    Internal(f, d, k);
    if (s.last_seq() == 0) return;
    ++segments;
    if (lo == 0) lo = s.first_seq();
    hi = std::max(hi, s.last_seq());
    if (prev) {
      if (s.first_seq() > prev->second + 1) {
        Fault(f.path, absl::StrCat("gap: seqs ", prev->second + 1, "..", s.first_seq() - 1,
                                   " are in no segment (after bucket ", prev->first, ")"));
      } else if (s.first_seq() <= prev->second) {
        Fault(f.path, absl::StrCat("overlap: seqs ", s.first_seq(), "..",
                                   std::min(s.last_seq(), prev->second),
                                   " are also in bucket ", prev->first));
      }
    }
    for (const v1::Message& m : s.messages()) {
      if (segmenter::IsNotice(m)) continue;  // Internal checks them
      auto [it, fresh] = seen.emplace(m.seq(), k);
      if (!fresh) {
        Fault(f.path, absl::StrCat("seq ", m.seq(), " is also in bucket ", it->second));
      }
      ++actions;
    }
    prev = {k, std::max(s.last_seq(), prev ? prev->second : 0)};
  }

  // The fetch took gzip; a client that does not is served the stored body
  // itself, which must be the same bytes under its own ETag (storage that
  // corrupted one copy serves each client other bytes).
  void Identity(const FetchedSegment& f) {
    if (f.raw.Header("content-encoding").empty()) return;  // these were the identity bytes
    std::vector<std::string> headers = room.Headers();
    headers.push_back("Accept-Encoding: identity");
    auto id = client::FetchOnce(base + f.path, headers);
    if (!id.ok()) return Fault(f.path, absl::StrCat("identity copy: ", id.status().message()));
    if (id->status != 200 || !id->Header("content-encoding").empty()) {
      return Fault(f.path, absl::StrCat("identity copy: HTTP ", id->status, " ",
                                        id->Header("content-encoding")));
    }
    const std::string digest = base::Sha256Hex(id->body);
    if (client::EtagDigest(*id) != digest) {
      Fault(f.path, absl::StrCat("identity copy: ETag ", id->Header("etag"), " but the bytes hash to ",
                                 digest));
    } else if (id->body != f.raw.body) {
      Fault(f.path, "the identity and gzip copies differ");
    }
  }

  // A segment consistent in itself: seqs ascending inside its range, kept +
  // dropped + retracted before publication == the range, times inside its
  // bucket; notices (seq 0, DESIGN §10) inside their bucket too, and in no
  // rollup.
  void Internal(const FetchedSegment& f, int64_t d, int64_t k, bool rollup = false) {
    const v1::ActionSegment& s = f.segment;
    uint64_t dropped = static_cast<uint64_t>(s.retracted_size());
    for (const auto& [type, n] : s.dropped()) dropped += n;
    int notices = 0;
    for (const v1::Message& m : s.messages()) {
      if (!segmenter::IsNotice(m) && m.seq() != 0) continue;
      ++notices;
      if (rollup || m.seq() != 0 || !segmenter::IsNotice(m)) {
        Fault(f.path, rollup ? "a notice in a rollup" : "a seq-0 record that is not a notice");
      } else if (m.ts_ms() < segmenter::BucketStart(k, d) || m.ts_ms() >= segmenter::BucketEnd(k, d)) {
        Fault(f.path, "a notice stamped outside the bucket");
      }
    }
    const uint64_t kept = static_cast<uint64_t>(s.messages_size() - notices);
    if (s.last_seq() == 0) {
      if (s.first_seq() != 0 || kept != 0 || dropped != 0) {
        Fault(f.path, "actions without a seq range");
      }
      return;
    }
    if (s.first_seq() == 0 || s.first_seq() > s.last_seq()) {
      Fault(f.path, absl::StrCat("bad seq range ", s.first_seq(), "..", s.last_seq()));
      return;
    }
    if (kept + dropped != s.last_seq() - s.first_seq() + 1) {
      Fault(f.path, absl::StrCat(kept, " kept + ", dropped, " dropped or retracted != range ",
                                 s.first_seq(), "..", s.last_seq()));
    }
    uint64_t floor = s.first_seq();
    for (const v1::Message& m : s.messages()) {
      if (m.seq() == 0) continue;
      if (m.seq() < floor || m.seq() > s.last_seq()) {
        Fault(f.path, absl::StrCat("seq ", m.seq(), " out of order or outside the range"));
      }
      floor = m.seq() + 1;
      if (m.ts_ms() < segmenter::BucketStart(k, d) || m.ts_ms() >= segmenter::BucketEnd(k, d)) {
        Fault(f.path, absl::StrCat("seq ", m.seq(), " is stamped outside the bucket"));
      }
    }
  }

  // A rollup holds exactly the actions its buckets hold (up to its
  // last_bucket when its byte budget cut it short).
  void Rollup(const FetchedSegment& f, int64_t r, int64_t ri, int64_t d) {
    Internal(f, r, ri, /*rollup=*/true);
    const std::string digest = base::Sha256Hex(f.raw.body);
    if (client::EtagDigest(f.raw) != digest) Fault(f.path, "ETag does not match the bytes");
    Identity(f);
    Takedowns(f, digest);
    const int64_t last = f.segment.has_last_bucket() ? f.segment.last_bucket()
                                                     : (ri + 1) * r / d - 1;
    std::set<uint64_t> want, got;
    for (const auto& [q, k] : seen) {
      if (k * d >= ri * r && k * d < (ri + 1) * r && k <= last) want.insert(q);
    }
    for (const v1::Message& m : f.segment.messages()) got.insert(m.seq());
    if (want != got) {
      Fault(f.path, absl::StrCat("the rollup holds ", got.size(), " actions, its buckets ",
                                 want.size()));
    }
  }
};

// Every bucket of the range on its own and in sequence, then every rollup
// against its buckets; returns how many buckets the range has.
size_t CheckRange(Checker& check, const RangeArgs& a) {
  const auto deadline = a.Deadline();
  const std::vector<Span> buckets = Cover(check.manifest, a.from, a.to, /*use_rollups=*/false);
  for (const Span& s : buckets) {
    auto got = FetchSpan(a.base, a.room, s, deadline);
    if (!got.ok()) {
      check.Fault(a.room.SegmentPath(s.d, s.index), std::string(got.status().message()));
      continue;
    }
    check.Bucket(*got, s.d, s.index);
  }
  const int64_t d = check.manifest.config().bucket_ms();
  for (const Span& s : Cover(check.manifest, a.from, a.to, /*use_rollups=*/true)) {
    if (s.d == d) continue;
    auto got = FetchSpan(a.base, a.room, s, deadline);
    if (!got.ok()) {
      if (!absl::IsNotFound(got.status())) {
        check.Fault(a.room.SegmentPath(s.d, s.index), std::string(got.status().message()));
      }
      continue;
    }
    check.Rollup(*got, s.d, s.index, d);
  }
  return buckets.size();
}

// The report on stdout; the exit status.
int Report(const Checker& check, const RangeArgs& a, size_t buckets) {
  std::cout << "room " << a.room.room << " epoch " << check.manifest.epoch() << ": " << buckets
            << " buckets from " << FormatTime(a.from) << " to " << FormatTime(a.to) << ", "
            << check.segments << " with actions, " << check.actions << " actions";
  if (check.segments > 0) std::cout << ", seqs " << check.lo << ".." << check.hi;
  if (check.stubs > 0) std::cout << " (" << check.stubs << " takedown stubs)";
  std::cout << "\n";
  for (const std::string& f : check.faults) std::cout << "FAULT " << f << "\n";
  if (!check.faults.empty()) {
    std::cout << check.faults.size() << " fault(s)" << std::endl;
    std::cerr << kProgram << ": " << check.faults.size() << " fault(s) in room " << a.room.room
              << std::endl;
    return 1;
  }
  std::cout << "OK" << std::endl;
  return 0;
}

}  // namespace

int Verify(int argc, char** argv) {
  base::FlagSet flags(kProgram, "--base URL --room ROOM --from TIME --to TIME",
                      absl::StrCat(
                          "Checks every bucket of [--from, --to): it answers, its bytes match\n"
                          "its ETag and the manifest, seqs continue across segments with no\n"
                          "gap and no seq in two segments, and rollups match their buckets.\n"
                          "An object holding takedown stubs needs a record of the room's\n"
                          "`takedowns` component naming its bytes (DESIGN §11).\n"
                          "Prints a report; exits 1 on any fault.\n",
                          kPrivateRoomHelp));
  RangeFlags range(flags);
  std::vector<std::string> args = flags.ParseOrExit(argc, argv, 2);
  if (!args.empty()) return UsageError(kProgram, "takes no positional arguments");
  absl::StatusOr<RangeArgs> a = range.Resolve();
  if (!a.ok()) return UsageError(kProgram, a.status().message());
  auto m = client::FetchManifest(a->base, a->room);
  if (!m.ok()) return Failure(kProgram, m.status().message());
  auto takedowns = FetchTakedowns(a->base, a->room, *m, a->Deadline());
  if (!takedowns.ok()) return Failure(kProgram, takedowns.status().message());
  Checker check{.manifest = *m, .base = a->base, .room = a->room, .takedowns = *takedowns};
  const size_t buckets = CheckRange(check, *a);
  return Report(check, *a, buckets);
}

}  // namespace roomcast::cli
