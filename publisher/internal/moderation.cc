#include "publisher/internal/moderation.h"

#include <algorithm>

#include "base/ids.h"

namespace roomcast::publisher::internal {

void RoomModeration::SetSettings(const log::RoomSettings& s) {
  settings_ = s;
  max_review_delay_ms_ = std::max(max_review_delay_ms_, s.review_delay_ms());
}

google::protobuf::Value RoomModeration::SettingsValue() const {
  google::protobuf::Value v;
  auto& f = *v.mutable_struct_value()->mutable_fields();
  f["slow_mode_s"].set_number_value(settings_.slow_mode_s());
  f["review_delay_ms"].set_number_value(settings_.review_delay_ms());
  return v;
}

void RoomModeration::Remember(uint64_t seq, int64_t ts_ms,
                              const std::string& sender) {
  if (!recent_.empty() && seq <= recent_.back().seq) return;  // replayed twice
  recent_.push_back({seq, ts_ms, sender});
  while (recent_.size() > kMaxRecent) recent_.pop_front();
}

const std::string* RoomModeration::SenderOf(uint64_t seq) const {
  auto it =
      std::lower_bound(recent_.begin(), recent_.end(), seq,
                       [](const Recent& r, uint64_t s) { return r.seq < s; });
  return it != recent_.end() && it->seq == seq ? &it->sender : nullptr;
}

std::optional<int64_t> RoomModeration::TimeOf(uint64_t seq) const {
  auto it =
      std::lower_bound(recent_.begin(), recent_.end(), seq,
                       [](const Recent& r, uint64_t s) { return r.seq < s; });
  if (it == recent_.end() || it->seq != seq) return std::nullopt;
  return it->ts_ms;
}

std::vector<uint64_t> RoomModeration::RecentBy(const std::string& user,
                                               int64_t since_ms) const {
  std::vector<uint64_t> out;
  for (const Recent& r : recent_) {
    if (r.ts_ms >= since_ms && r.sender == user && !Retracted(r.seq))
      out.push_back(r.seq);
  }
  return out;
}

void RoomModeration::AddRedactions(const std::vector<uint64_t>& seqs,
                                   int64_t ts_ms, int64_t keep_from_ms) {
  for (uint64_t s : seqs) redactions_.try_emplace(s, ts_ms);
  absl::erase_if(redactions_,
                [&](const auto& e) { return e.second < keep_from_ms; });
  while (redactions_.size() > kMaxRedactions)
    redactions_.erase(redactions_.begin());
}

google::protobuf::Value RoomModeration::RedactionsValue() const {
  google::protobuf::Value v;
  auto* list = (*v.mutable_struct_value()->mutable_fields())["seqs"]
                   .mutable_list_value();
  for (const auto& [seq, ts] : redactions_) {
    list->add_values()->set_number_value(static_cast<double>(seq));
  }
  return v;
}

std::optional<int64_t> RoomModeration::BannedUntil(const std::string& user,
                                                   int64_t now_ms) const {
  auto it = bans_.find(user);
  if (it == bans_.end() || it->second.until_ms <= now_ms) return std::nullopt;
  return it->second.until_ms;
}

bool RoomModeration::SilentBan(const std::string& user) const {
  auto it = bans_.find(user);
  return it != bans_.end() && it->second.silent;
}

void RoomModeration::SetBan(const std::string& user, int64_t until_ms,
                            bool silent) {
  if (until_ms == 0) {
    bans_.erase(user);
    return;
  }
  bans_[user] = {until_ms, silent};
  if (bans_.size() <= kMaxBans) return;
  auto first = std::min_element(bans_.begin(), bans_.end(),
                                [](const auto& a, const auto& b) {
                                  return a.second.until_ms < b.second.until_ms;
                                });
  bans_.erase(first);
}

int64_t RoomModeration::SlowModeWaitMs(const std::string& user,
                                       int64_t now_ms) const {
  const int64_t period = int64_t{settings_.slow_mode_s()} * 1000;
  if (period == 0) return 0;
  auto it = last_post_ms_.find(user);
  if (it == last_post_ms_.end()) return 0;
  return std::max<int64_t>(0, it->second + period - now_ms);
}

void RoomModeration::Posted(const std::string& user, int64_t now_ms) {
  const int64_t period = int64_t{settings_.slow_mode_s()} * 1000;
  if (period == 0) return;
  if (last_post_ms_.size() >= kMaxSlowUsers) {
    absl::erase_if(last_post_ms_,
                   [&](const auto& e) { return e.second + period <= now_ms; });
    // Still full of users inside their period: forget them all rather than
    // grow (they may post early once).
    if (last_post_ms_.size() >= kMaxSlowUsers) last_post_ms_.clear();
  }
  last_post_ms_[user] = now_ms;
}

log::ModerationCheckpoint RoomModeration::Checkpoint() const {
  log::ModerationCheckpoint c;
  *c.mutable_settings() = settings_;
  c.set_max_review_delay_ms(max_review_delay_ms_);
  for (const auto& [seq, ts] : redactions_) {
    log::Redaction* r = c.add_redactions();
    r->set_seq(seq);
    r->set_ts_ms(ts);
  }
  std::map<std::string, Ban> sorted(bans_.begin(),
                                    bans_.end());  // deterministic bytes
  for (const auto& [user, ban] : sorted) {
    log::BanEntry* b = c.add_bans();
    b->set_user(user);
    b->set_until_ms(ban.until_ms);
    b->set_silent(ban.silent);
  }
  for (const Recent& r : recent_) {
    log::RecentAction* a = c.add_recent();
    a->set_seq(r.seq);
    a->set_ts_ms(r.ts_ms);
    a->set_sender(r.sender);
  }
  takedowns_.Checkpoint(&c);
  return c;
}

absl::Status RoomModeration::Restore(const log::ModerationCheckpoint& c) {
  if (c.settings().slow_mode_s() > kMaxSlowModeS ||
      c.settings().review_delay_ms() > kMaxReviewDelayMs ||
      c.max_review_delay_ms() > kMaxReviewDelayMs ||
      static_cast<size_t>(c.redactions_size()) > kMaxRedactions ||
      static_cast<size_t>(c.bans_size()) > kMaxBans ||
      static_cast<size_t>(c.recent_size()) > kMaxRecent) {
    return absl::InvalidArgumentError("checkpoint: moderation out of range");
  }
  RoomModeration m;
  m.SetSettings(c.settings());
  m.max_review_delay_ms_ =
      std::max(m.max_review_delay_ms_, c.max_review_delay_ms());
  for (const log::Redaction& r : c.redactions())
    m.redactions_[r.seq()] = r.ts_ms();
  for (const log::BanEntry& b : c.bans()) {
    if (!base::IsValidId(b.user()) || b.until_ms() <= 0) {
      return absl::InvalidArgumentError("checkpoint: a bad ban");
    }
    m.bans_[b.user()] = {b.until_ms(), b.silent()};
  }
  for (const log::RecentAction& r : c.recent()) {
    if (!m.recent_.empty() && r.seq() <= m.recent_.back().seq) {
      return absl::InvalidArgumentError(
          "checkpoint: recent actions out of order");
    }
    m.recent_.push_back({r.seq(), r.ts_ms(), r.sender()});
  }
  if (absl::Status s = m.takedowns_.Restore(c); !s.ok()) return s;
  *this = std::move(m);
  return absl::OkStatus();
}

}  // namespace roomcast::publisher::internal
