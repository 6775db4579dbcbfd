#include "segmenter/messages.h"

#include "absl/strings/str_cat.h"

namespace roomcast::segmenter {

std::string TypeName(const v1::Message& m) {
  switch (m.body_case()) {
    case v1::Message::kComment:
      return "comment";
    case v1::Message::kGift:
      return "gift";
    case v1::Message::kLike:
      return "like";
    case v1::Message::kEnter:
      return "enter";
    case v1::Message::kCustom:
      return absl::StrCat("custom:", m.custom().name());
    case v1::Message::kRetract:
      return "retract";
    case v1::Message::kBan:
      return "ban";
    case v1::Message::kRedacted:
      return "redacted";
    case v1::Message::kNotice:
      return "notice";
    case v1::Message::BODY_NOT_SET:
      break;
  }
  return "";
}

v1::Message StateNotice(const v1::StateComponent& c) {
  v1::Message m;
  m.set_ts_ms(c.ts_ms());
  m.set_priority(v1::PRIORITY_HIGH);
  v1::Notice* n = m.mutable_notice();
  *n->mutable_state() = c;
  if (c.ByteSizeLong() > kMaxInlineState) {
    n->mutable_state()->clear_value();
    n->set_value_omitted(true);
  }
  return m;
}

v1::Message PeerNotice(std::string tag, int64_t ts_ms) {
  v1::Message m;
  m.set_ts_ms(ts_ms);
  m.set_priority(v1::PRIORITY_HIGH);
  m.mutable_notice()->set_peer(std::move(tag));
  return m;
}

v1::Priority DefaultPriority(v1::Role role, const v1::Message& m) {
  if (role == v1::ROLE_ANCHOR || role == v1::ROLE_MODERATOR ||
      role == v1::ROLE_SERVICE || m.body_case() == v1::Message::kGift ||
      m.body_case() == v1::Message::kRetract || m.body_case() == v1::Message::kBan) {
    return v1::PRIORITY_HIGH;
  }
  return v1::PRIORITY_NORMAL;
}

}  // namespace roomcast::segmenter
