// Records what a client follower delivers, for assertions.
#ifndef ROOMCAST_TESTS_CLIENT_RECORDER_H_
#define ROOMCAST_TESTS_CLIENT_RECORDER_H_

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "absl/time/clock.h"
#include "client/client.h"

namespace roomcast::testing {

struct Recorder {
  struct Action {
    uint64_t epoch = 0;  // the epoch joined when it arrived
    v1::Message message;
    int64_t delivered_ms = 0;  // wall clock
  };
  std::vector<client::JoinInfo> joins;
  std::vector<Action> actions;
  std::vector<v1::StateComponent> states;
  std::vector<v1::Message> peers;
  std::vector<std::pair<uint64_t, uint64_t>> gaps;
  std::vector<std::pair<uint64_t, uint64_t>> epoch_changes;
  std::vector<std::string> errors;
  std::vector<absl::Status> refusals;
  bool ended = false;

  client::Callbacks Callbacks() {
    return {
        .on_joined = [this](const client::JoinInfo& j) { joins.push_back(j); },
        .on_action =
            [this](const v1::Message& m) {
              actions.push_back({joins.empty() ? 0 : joins.back().epoch, m,
                                 absl::ToUnixMillis(absl::Now())});
            },
        .on_state = [this](const v1::StateComponent& c) { states.push_back(c); },
        .on_peer = [this](const v1::Message& m) { peers.push_back(m); },
        .on_gap = [this](uint64_t a, uint64_t b) { gaps.emplace_back(a, b); },
        .on_epoch_change =
            [this](uint64_t a, uint64_t b) { epoch_changes.emplace_back(a, b); },
        .on_error = [this](const absl::Status& s) { errors.push_back(s.ToString()); },
        .on_refused = [this](const absl::Status& s) { refusals.push_back(s); },
        .on_ended = [this] { ended = true; },
    };
  }
  std::vector<uint64_t> Seqs(uint64_t epoch = 0) const {
    std::vector<uint64_t> out;
    for (const Action& a : actions) {
      if (epoch == 0 || a.epoch == epoch) out.push_back(a.message.seq());
    }
    return out;
  }
  uint64_t LastSeq() const { return actions.empty() ? 0 : actions.back().message.seq(); }
};

}  // namespace roomcast::testing

#endif  // ROOMCAST_TESTS_CLIENT_RECORDER_H_
