// libnats' status codes and JetStream's error codes as the absl::Status
// kinds cluster/jetstream.h promises. Internal to cluster/.
#ifndef ROOMCAST_CLUSTER_NATS_STATUS_H_
#define ROOMCAST_CLUSTER_NATS_STATUS_H_

#include <nats/nats.h>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace roomcast::cluster {

// OK for NATS_OK; otherwise the kind, with `what`, libnats' text and its
// last error in the message.
absl::Status ToStatus(natsStatus s, jsErrCode jerr, absl::string_view what);
inline absl::Status ToStatus(natsStatus s, absl::string_view what) {
  return ToStatus(s, static_cast<jsErrCode>(0), what);
}

}  // namespace roomcast::cluster

#endif  // ROOMCAST_CLUSTER_NATS_STATUS_H_
