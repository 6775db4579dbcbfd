// A connection to a NATS JetStream cluster (DESIGN §13), over libnats:
// replicated streams, publishes fenced as §13 says, and reads by sequence
// or by subject. libnats' status codes and JetStream's error codes come back
// as absl::Status, so callers decide on kinds, not on numbers:
//   kFailedPrecondition  a fence held: the stream's last message id or
//                        sequence is not the one the publish expected (a
//                        newer writer appended; this one must stop);
//   kUnavailable         no answer in time, no responders, no quorum (a
//                        leader election, a node down): retry later, and
//                        503 with Retry-After to whoever is waiting;
//   kNotFound            no such stream or message;
//   kInvalidArgument     a request JetStream refused as malformed;
//   kInternal            anything else.
//
//   auto js = JetStream::Connect({.urls = {"nats://127.0.0.1:4222"}});
//   (*js)->EnsureStream({.name = "LOG", .subjects = {"log.>"}});
//   auto acked = (*js)->Publish("log.0", bytes, {.msg_id = "b-42",
//                                               .expected_last_msg_id = "b-41"});
//
// One JetStream is safe to use from several threads (libnats' connection
// and context are); each call blocks up to its timeout.
#ifndef ROOMCAST_CLUSTER_JETSTREAM_H_
#define ROOMCAST_CLUSTER_JETSTREAM_H_

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

struct __natsConnection;
struct __jsCtx;

namespace roomcast::cluster {

struct NatsOptions {
  // nats://host:port of any nodes; libnats learns the rest from the cluster.
  std::vector<std::string> urls;
  std::string name = "roomcast";  // the connection's name, in the servers' logs
  // Connecting, and each request (a publish's ack, a read).
  std::chrono::milliseconds timeout{2000};
  // Between reconnect attempts; libnats keeps trying without end.
  std::chrono::milliseconds reconnect_wait{250};
};

struct StreamConfig {
  std::string name;
  std::vector<std::string> subjects;
  int replicas = 3;
  bool file_storage = true;
  // How long JetStream remembers a message id to drop a duplicate publish.
  std::chrono::milliseconds duplicate_window{std::chrono::minutes(2)};
  // One message per subject (objects, DESIGN §13): 1; no limit: -1.
  int64_t max_msgs_per_subject = -1;
  // RePublish (nats-server 2.9): every stored message on a subject matching
  // `republish_src` is also sent on core NATS to `republish_dest` (a mapping
  // of it, e.g. "rcobj.>" -> "rcnote.>"), headers only if asked. Empty src:
  // none. Origins are woken by these notices (DESIGN §13).
  std::string republish_src;
  std::string republish_dest;
  bool republish_headers_only = true;
};

// What a publish must find, or it is refused with kFailedPrecondition.
struct Fence {
  std::string msg_id;                // this message's id (deduplication)
  // The stream's last message's id. On nats-server 2.9.10 each replica
  // checks it again as it applies the message, against the id it
  // remembers, and one restarted after the stream was quiet for a whole
  // duplicate window remembers none: it drops what the leader stored.
  // Fence a replicated log on expected_last_seq, one message at a time.
  std::string expected_last_msg_id;
  std::optional<uint64_t> expected_last_seq;  // the stream's last sequence
  // The sequence of the last message on the publish's subject; 0 (sent as
  // such, unlike expected_last_seq): the subject must have no message, so
  // only the first writer of a one-message subject wins.
  std::optional<uint64_t> expected_last_subject_seq;
};

struct Acked {
  uint64_t seq = 0;
  bool duplicate = false;  // JetStream had this msg_id already: not stored again
};

struct StoredMessage {
  uint64_t seq = 0;
  std::string subject;
  std::string data;
  std::map<std::string, std::string> headers;
};

struct StreamState {
  uint64_t messages = 0;
  uint64_t first_seq = 0;
  uint64_t last_seq = 0;
  std::string leader;  // the server_name of the stream's leader; "" if none
};

class JetStream {
 public:
  static absl::StatusOr<std::unique_ptr<JetStream>> Connect(const NatsOptions& options);
  ~JetStream();
  JetStream(const JetStream&) = delete;
  JetStream& operator=(const JetStream&) = delete;

  // Creates the stream, or checks that one of that name is there (its
  // config is the caller's to keep stable).
  absl::Status EnsureStream(const StreamConfig& config);
  absl::Status DeleteStream(absl::string_view name);
  absl::StatusOr<Acked> Publish(absl::string_view subject, absl::string_view data,
                                const Fence& fence = {});
  absl::StatusOr<StoredMessage> Get(absl::string_view stream, uint64_t seq);
  absl::StatusOr<StoredMessage> GetLast(absl::string_view stream, absl::string_view subject);
  absl::StatusOr<StreamState> State(absl::string_view stream);

  // The underlying connection, for core NATS (cluster/forward.h).
  __natsConnection* connection() const { return nc_; }
  // False while libnats is reconnecting (or closed).
  bool connected() const;

  // Publish with headers of the caller's (a tombstone's "Rc-Deleted: 1";
  // kept by RePublish, so a notice can carry what its subscribers need).
  // Header names must not start with "Nats-" (the fence sets those).
  absl::StatusOr<Acked> PublishWithHeaders(absl::string_view subject, absl::string_view data,
                                           const std::map<std::string, std::string>& headers,
                                           const Fence& fence = {});
  // Calls fn for every message of `stream` matching `filter_subject` (may
  // hold wildcards) from `from_seq` on, in stream order, up to the stream's
  // last sequence as it was when the scan started (later appends are not
  // waited for). One ephemeral pull consumer, fetched in batches: not one
  // request per message. A non-OK from fn stops the scan and is returned.
  // Each message's data is bounded by JetStream's max payload (1 MiB).
  absl::Status Scan(absl::string_view stream, absl::string_view filter_subject,
                    uint64_t from_seq,
                    const std::function<absl::Status(const StoredMessage&)>& fn);
  // Every subject of `stream` matching `filter` that holds a message.
  absl::StatusOr<std::vector<std::string>> Subjects(absl::string_view stream,
                                                    absl::string_view filter);
  // Deletes the one message at `seq` (kNotFound if there is none). There is
  // no purge here on purpose: nats-server 2.9.10 can replay a purge (filtered
  // with a sequence, or of an exact subject) onto a restarted replica as
  // "everything below", other subjects' messages lost (measured); a delete
  // names its message.
  absl::Status DeleteMsg(absl::string_view stream, uint64_t seq);
  // The largest message the servers take (their max_payload), headers
  // included.
  int64_t MaxPayload() const;

 private:
  friend class Kv;  // opens its buckets in this context
  JetStream(__natsConnection* nc, __jsCtx* js, std::chrono::milliseconds timeout)
      : nc_(nc), js_(js), timeout_(timeout) {}

  __natsConnection* nc_;
  __jsCtx* js_;
  std::chrono::milliseconds timeout_;
};

}  // namespace roomcast::cluster

#endif  // ROOMCAST_CLUSTER_JETSTREAM_H_
