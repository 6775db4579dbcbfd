// The publisher's writes (DESIGN §6): open and end a room, post actions, set
// state, send peer messages. Each is checked (Admission, then the body),
// sequenced and logged through the Sequencer, and answered once: after the
// durable write, or with why it was refused. Retries with a client_msg_id
// seen within the idempotency window get the first reply again.
//
//   Ingest ingest({.limits = limits, .rollup_ms = 60000}, &admission,
//                 &sequencer, &metrics);
//   ingest.Post(who, "lobby", {input}, [](auto reply) { ... });
#ifndef ROOMCAST_PUBLISHER_INTERNAL_INGEST_H_
#define ROOMCAST_PUBLISHER_INTERNAL_INGEST_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/functional/any_invocable.h"
#include "absl/status/statusor.h"
#include "auth/jwt.h"
#include "google/protobuf/struct.pb.h"
#include "http/metrics.h"
#include "publisher/internal/admission.h"
#include "publisher/internal/sequencer.h"
#include "publisher/options.h"
#include "roomcast/v1/ingest.pb.h"
#include "roomcast/v1/manifest.pb.h"
#include "roomcast/v1/state.pb.h"

namespace roomcast::publisher::internal {

// The longest `?ttl_s=` of a state set (DESIGN §11): a day.
inline constexpr uint32_t kMaxStateTtlS = 86400;

template <typename T>
using Callback = absl::AnyInvocable<void(absl::StatusOr<T>)>;

// Answers `done` with `value` once the write is durable.
template <typename T>
absl::AnyInvocable<void(absl::Status)> ReplyWhenDurable(std::shared_ptr<T> value,
                                                        Callback<T> done) {
  return [value = std::move(value), done = std::move(done)](absl::Status s) mutable {
    if (!s.ok()) return done(s);
    done(std::move(*value));
  };
}

// Moderation's part of other writes (ingest_moderation.cc).
// kInvalidArgument for settings out of range.
absl::Status CheckSettings(const v1::RoomSettingsRequest& s);
// Drafts a settings record: the room's settings with `req`'s changes,
// returned in `out`.
absl::Status DraftSettings(Sequencer::Draft& d, const auth::Claims& who,
                           const std::string& room, const v1::RoomSettingsRequest& req,
                           log::RoomSettings* out);
// A post of `n` messages, the first `first`, to `r`: 403 banned for a
// banned sender, 429 in slow mode (an audience sender's second post within
// the period, or a batch); else the post counts for slow mode.
absl::Status CheckPoster(Sequencer::Draft& d, Room* r, const v1::Message& first, size_t n);

class Ingest {
 public:
  struct Options {
    IngestLimits limits;
    int64_t rollup_ms = 60000;  // rooms' rollups, rounded to their buckets
  };
  Ingest(Options options, Admission* admission, Sequencer* sequencer,
         http::Metrics* metrics);

  void OpenRoom(const auth::Claims& who, const std::string& room,
                const v1::OpenRoomRequest& request,
                Callback<v1::RoomConfig> done);
  void EndRoom(const auth::Claims& who, const std::string& room,
               Callback<v1::RoomConfig> done);
  void Post(const auth::Claims& who, const std::string& room,
            std::vector<v1::MessageInput> inputs,
            Callback<v1::PostMessagesResponse> done);
  // Answers with the component as set (its versions). With `ttl_s` > 0
  // it expires ttl_s after it was set (DESIGN §11), at most kMaxStateTtlS.
  void SetState(const auth::Claims& who, const std::string& room,
                const std::string& component, google::protobuf::Value value,
                uint32_t ttl_s, Callback<v1::StateComponent> done);
  void PostPeer(const auth::Claims& who, const std::string& room,
                const std::string& user, const v1::MessageInput& input,
                Callback<v1::PostResult> done);
  // DESIGN §11 (ingest_moderation.cc). A repeated retraction gets the same
  // reply and writes nothing; so does lifting a ban that is not there.
  void Retract(const auth::Claims& who, const std::string& room, uint64_t seq,
               const v1::RetractRequest& request, Callback<v1::RetractReply> done);
  void Ban(const auth::Claims& who, const std::string& room, const v1::BanRequest& request,
           Callback<v1::BanReply> done);
  void Unban(const auth::Claims& who, const std::string& room, const std::string& user,
             Callback<v1::BanReply> done);
  // A takedown (DESIGN §11; the service only): answered once its record is
  // durable, before its objects are replaced (done false: 202). A repeat
  // of seqs all taken down already writes nothing and gets that
  // takedown's id (done once its job finished: 200).
  void Takedown(const auth::Claims& who, const std::string& room,
                const v1::TakedownRequest& request, Callback<v1::TakedownReply> done);
  // Answers with every setting as it is now.
  void UpdateSettings(const auth::Claims& who, const std::string& room,
                      const v1::RoomSettingsRequest& request,
                      Callback<v1::RoomSettingsRequest> done);

 private:
  struct Batch;
  // The inputs as messages from `who`, checked and admitted.
  absl::StatusOr<Batch> Validate(const auth::Claims& who,
                                 const std::string& room,
                                 const std::vector<v1::MessageInput>& inputs);
  // Sequences a batch: each message gets its seq and receive time, or the
  // reply an earlier one with its client_msg_id got.
  absl::Status Sequence(Sequencer::Draft& draft, const std::string& room,
                        Batch& batch);

  const Options options_;
  Admission* const admission_;
  Sequencer* const sequencer_;
  http::Counter& accepted_;
  http::Counter& deduplicated_;
  http::Counter& rejected_;
  http::Histogram& ack_latency_;
};

}  // namespace roomcast::publisher::internal

#endif  // ROOMCAST_PUBLISHER_INTERNAL_INGEST_H_
