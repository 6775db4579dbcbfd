// Message factories shared by the segmenter tests.
#ifndef ROOMCAST_TESTS_SEGMENTER_TEST_MESSAGES_H_
#define ROOMCAST_TESTS_SEGMENTER_TEST_MESSAGES_H_

#include <string>

#include "roomcast/v1/message.pb.h"
#include "segmenter/messages.h"

namespace roomcast::segmenter::testing {

inline v1::Message Action(uint64_t seq, int64_t ts_ms, std::string sender = "viewer",
                          v1::Role role = v1::ROLE_AUDIENCE) {
  v1::Message m;
  m.set_seq(seq);
  m.set_ts_ms(ts_ms);
  m.set_kind(v1::KIND_ACTION);
  m.set_sender(std::move(sender));
  m.set_role(role);
  m.mutable_comment()->set_text("comment " + std::to_string(seq));
  m.set_priority(DefaultPriority(role, m));
  return m;
}

inline v1::Message GiftFrom(uint64_t seq, int64_t ts_ms, std::string sender) {
  v1::Message m = Action(seq, ts_ms, std::move(sender));
  m.mutable_gift()->set_gift_id("rose");
  m.mutable_gift()->set_count(1);
  m.set_priority(DefaultPriority(m.role(), m));
  return m;
}

inline v1::Message LikeFrom(uint64_t seq, int64_t ts_ms, std::string sender) {
  v1::Message m = Action(seq, ts_ms, std::move(sender));
  m.mutable_like()->set_count(1);
  return m;
}

}  // namespace roomcast::segmenter::testing

#endif  // ROOMCAST_TESTS_SEGMENTER_TEST_MESSAGES_H_
