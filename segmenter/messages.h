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

// Anchor, moderator and service messages, and every gift, are high priority:
// the big-room cap never drops them.
v1::Priority DefaultPriority(v1::Role role, const v1::Message& m);

}  // namespace roomcast::segmenter

#endif  // ROOMCAST_SEGMENTER_MESSAGES_H_
