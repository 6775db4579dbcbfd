#include "publisher/internal/idempotency.h"

#include "absl/strings/str_cat.h"

namespace roomcast::publisher::internal {
namespace {

std::string Key(ReplyKind kind, absl::string_view sender,
                absl::string_view id) {
  return absl::StrCat(kind == ReplyKind::kPeer ? "p" : "a", sender, "\x1f", id);
}

}  // namespace

const v1::PostResult* IdempotencyWindow::Find(ReplyKind kind,
                                              absl::string_view sender,
                                              absl::string_view id) const {
  auto it = replies_.find(Key(kind, sender, id));
  return it == replies_.end() ? nullptr : &it->second;
}

void IdempotencyWindow::Remember(ReplyKind kind, absl::string_view sender,
                                 absl::string_view id, v1::PostResult reply,
                                 int64_t ts_ms) {
  if (expiry_ == nullptr) {
    expiry_ = std::make_unique<std::deque<std::pair<int64_t, std::string>>>();
  }
  while (!expiry_->empty() && expiry_->front().first + window_ms_ < ts_ms) {
    replies_.erase(expiry_->front().second);
    expiry_->pop_front();
  }
  std::string key = Key(kind, sender, id);
  if (replies_.emplace(key, std::move(reply)).second) {
    expiry_->emplace_back(ts_ms, std::move(key));
  }
}

void IdempotencyWindow::Forget(ReplyKind kind, absl::string_view sender,
                               absl::string_view id) {
  const std::string key = Key(kind, sender, id);
  if (replies_.erase(key) == 0 || expiry_ == nullptr) return;
  // Not durable means among the latest: search from the back.
  for (auto it = expiry_->rbegin(); it != expiry_->rend(); ++it) {
    if (it->second == key) {
      expiry_->erase(std::next(it).base());
      return;
    }
  }
}

}  // namespace roomcast::publisher::internal
