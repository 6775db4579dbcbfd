// The big-room cap (DESIGN §6): a bucket keeps every high-priority action and
// a fair sample of the rest, and counts by type what it left out.
//
// The sample is deterministic (a function of the messages alone), so a
// re-publish after a crash gives a byte-identical segment. It is fair between
// senders: each sender's first message ranks before anyone's second, so one
// flooding client cannot crowd out the room; within a rank the choice is a
// hash of seq, i.e. uniform and unpredictable to senders.
#ifndef ROOMCAST_SEGMENTER_CAP_H_
#define ROOMCAST_SEGMENTER_CAP_H_

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "roomcast/v1/message.pb.h"

namespace roomcast::segmenter {

// How many actions one bucket of `bucket_ms` keeps at `cap_per_s` (at least
// 1; 0 means no cap).
int64_t BucketLimit(uint32_t cap_per_s, int64_t bucket_ms);

struct CapResult {
  std::vector<v1::Message> kept;              // seq order
  std::map<std::string, uint64_t> dropped;    // by TypeName
};

// Keeps all high-priority messages, plus normal ones up to `limit` in total
// (limit <= 0: keep everything). Input in seq order.
CapResult ApplyCap(std::vector<v1::Message> messages, int64_t limit);

// Then the byte budget (DESIGN §15): while the kept messages serialize to
// more than `max_bytes`, the lowest-ranked one goes into the drop counts:
// normal messages first (the same fair order as the cap: a sender's last
// before anyone's first), high-priority ones only if they alone exceed the
// budget (by the same order among them). max_bytes <= 0: no budget.
void ApplyByteBudget(CapResult& r, int64_t max_bytes);

}  // namespace roomcast::segmenter

#endif  // ROOMCAST_SEGMENTER_CAP_H_
