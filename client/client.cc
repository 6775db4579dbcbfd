#include "client/client.h"

#include "client/internal/follower.h"
#include "client/internal/http_loop.h"

namespace roomcast::client {

Client::Client(ClientOptions options)
    : options_(std::move(options)), loop_(std::make_unique<internal::HttpLoop>()) {
  while (!options_.base_url.empty() && options_.base_url.back() == '/') {
    options_.base_url.pop_back();
  }
  while (!options_.publisher_url.empty() && options_.publisher_url.back() == '/') {
    options_.publisher_url.pop_back();
  }
}

Client::~Client() {
  followers_.clear();  // cancels their transfers before the loop goes
}

Client::FollowerId Client::Follow(FollowOptions options, Callbacks callbacks) {
  const FollowerId id = next_id_++;
  auto f = std::make_unique<internal::Follower>(loop_.get(), options_, std::move(options),
                                                std::move(callbacks));
  internal::Follower* raw = f.get();
  followers_.emplace(id, std::move(f));
  // Joins from the loop, so Follow is cheap and callbacks never run inside it.
  loop_->After(std::chrono::milliseconds(0), [this, id, raw] {
    if (followers_.count(id) != 0) raw->Start();
  });
  return id;
}

void Client::Unfollow(FollowerId id) { followers_.erase(id); }

absl::Status Client::SetEdgeToken(FollowerId id, std::string edge_token) {
  auto it = followers_.find(id);
  if (it == followers_.end()) return absl::NotFoundError("no such follower");
  return it->second->SetEdgeToken(std::move(edge_token));
}

void Client::Run(std::chrono::steady_clock::time_point until) {
  RunUntil([] { return false; }, until);
}

bool Client::RunUntil(const std::function<bool()>& done,
                      std::chrono::steady_clock::time_point until) {
  stop_ = false;
  while (!stop_ && !done() && std::chrono::steady_clock::now() < until) {
    loop_->RunOnce(until);
  }
  return done();
}

void Client::Stop() {
  stop_ = true;
  loop_->Wakeup();
}

FollowerStats Client::Stats(FollowerId id) const {
  auto it = followers_.find(id);
  return it == followers_.end() ? FollowerStats{} : it->second->stats();
}

}  // namespace roomcast::client
