// Small facts about the message envelope shared by the segmenter, the
// publisher and clients: a message's type name and its default priority.
#ifndef ROOMCAST_SEGMENTER_MESSAGES_H_
#define ROOMCAST_SEGMENTER_MESSAGES_H_

#include <string>

#include "roomcast/v1/message.pb.h"

namespace roomcast::segmenter {

// "comment", "gift", "like", "enter", "custom:NAME", or "" for no body. The
// same names the ingest API takes in `type` and drop counts are keyed by.
std::string TypeName(const v1::Message& m);

// A state or peer notice (v1::Notice): seq 0, not an action.
inline bool IsNotice(const v1::Message& m) { return m.body_case() == v1::Message::kNotice; }

// A component encoding to more than this rides in its notice without its
// value (v1::Notice.value_omitted).
inline constexpr size_t kMaxInlineState = 4096;
// The notice of component `c` at time c.ts_ms(): high priority (the cap
// keeps it while the bucket's byte budget lasts), seq 0.
v1::Message StateNotice(const v1::StateComponent& c);
// The notice of a peer message with tag `tag`, at `ts_ms`.
v1::Message PeerNotice(std::string tag, int64_t ts_ms);

// Anchor, moderator and service messages, and every gift, are high priority:
// the big-room cap never drops them.
v1::Priority DefaultPriority(v1::Role role, const v1::Message& m);

}  // namespace roomcast::segmenter

#endif  // ROOMCAST_SEGMENTER_MESSAGES_H_
