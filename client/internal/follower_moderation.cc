// The follower's side of moderation (DESIGN §11): a retracted message is
// never delivered once the follower knows of it (from the `redactions`
// component, read before any delivery, or from a `retract` record), a
// takedown's stub is never delivered, and a `retract` record reaches the
// viewer only for messages it was given.
#include <algorithm>

#include "absl/strings/str_cat.h"
#include "client/internal/follower.h"
#include "client/redactions.h"

namespace roomcast::client::internal {

namespace {
// Bounds on what one follower keeps: the publisher lists at most 4096
// retracted seqs; runs of delivered seqs break only at drops and
// retractions.
constexpr size_t kMaxRedacted = 1 << 16;
constexpr size_t kMaxDeliveredRuns = 1 << 16;

uint64_t ListedVersion(const v1::Manifest& m, const std::string& name) {
  for (const v1::ComponentVersion& c : m.components()) {
    if (c.name() == name) return c.version();
  }
  return 0;
}
}  // namespace

// Whether the follower holds the `redactions` its latest manifest lists
// (or gave up on that version).
bool Follower::RedactionsCurrent() const {
  const uint64_t listed = ListedVersion(e_.latest, kRedactionsComponent);
  if (listed == 0 || e_.redactions_given_up >= listed) return true;
  auto it = e_.state.find(kRedactionsComponent);
  return it != e_.state.end() && it->second.version() >= listed;
}

// Delivers a segment parked for the `redactions`, once they are in.
// Streamed records held for them go on too.
void Follower::ResumeParked() {
  if (!RedactionsCurrent()) return;
  if (!e_.parked_segment) {
    ReleaseHeld();
    return;
  }
  if (!ReadyFor(e_.parked_segment->first)) return;
  auto [k, s] = std::move(*e_.parked_segment);
  e_.parked_segment.reset();
  e_.walker = Walker::kIdle;
  Process(k, std::move(s));
  Pump();
  CheckEnded();
}

// {"seqs": [12, 15]}: every retracted seq of the room's retention window.
void Follower::ApplyRedactions(const v1::StateComponent& c) {
  if (c.name() != kRedactionsComponent) return;
  absl::StatusOr<std::set<uint64_t>> seqs = RedactedSeqs(c.value());
  if (!seqs.ok()) {
    Error(absl::DataLossError(absl::StrCat("redactions/", c.version(), ": ",
                                           seqs.status().message())));
    return;
  }
  e_.redacted.merge(*seqs);
  while (e_.redacted.size() > kMaxRedacted) e_.redacted.erase(e_.redacted.begin());
}

bool Follower::Deliverable(const v1::Message& m, v1::Message* shown) {
  if (m.has_redacted() || e_.redacted.contains(m.seq())) return false;
  if (!m.has_retract()) return true;
  *shown = m;
  shown->mutable_retract()->clear_seqs();
  for (uint64_t seq : m.retract().seqs()) {
    e_.redacted.insert(seq);
    if (WasDelivered(seq)) shown->mutable_retract()->add_seqs(seq);
  }
  while (e_.redacted.size() > kMaxRedacted) e_.redacted.erase(e_.redacted.begin());
  // A retraction of what this viewer never got is nothing to it.
  return shown->retract().seqs_size() > 0;
}

void Follower::NoteDelivered(uint64_t seq) {
  if (!e_.delivered.empty()) {
    auto last = std::prev(e_.delivered.end());
    if (last->second + 1 == seq) {
      last->second = seq;
      return;
    }
  }
  e_.delivered.emplace(seq, seq);
  while (e_.delivered.size() > kMaxDeliveredRuns) e_.delivered.erase(e_.delivered.begin());
}

bool Follower::WasDelivered(uint64_t seq) const {
  auto it = e_.delivered.upper_bound(seq);
  if (it == e_.delivered.begin()) return false;
  --it;
  return seq >= it->first && seq <= it->second;
}

}  // namespace roomcast::client::internal
