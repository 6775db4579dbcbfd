#include "cluster/nats_status.h"

#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace roomcast::cluster {

absl::Status ToStatus(natsStatus s, jsErrCode jerr, absl::string_view what) {
  if (s == NATS_OK) return absl::OkStatus();
  // libnats keeps a thread's last error until the next one: text left by an
  // earlier failure of another kind is not this one's (seen: "Payload ...
  // greater than maximum" on every later "No responders" of that thread).
  natsStatus last_status = NATS_OK;
  const char* last = nats_GetLastError(&last_status);
  if (last_status != s) last = nullptr;
  // The KV API answers a failed condition with NATS_ERR and this text.
  if (s == NATS_ERR && last != nullptr && absl::StrContains(last, "wrong last sequence")) {
    return absl::FailedPreconditionError(absl::StrCat(what, ": ", last));
  }
  const std::string detail = absl::StrCat(what, ": ", natsStatus_GetText(s),
                                          jerr != 0 ? absl::StrCat(" (JetStream error ", jerr, ")")
                                                    : std::string(),
                                          last != nullptr && *last ? absl::StrCat(": ", last) : "");
  switch (jerr) {
    case JSStreamWrongLastMsgIDErr:
    case JSStreamWrongLastSequenceErr:
      return absl::FailedPreconditionError(detail);
    case JSStreamNotFoundErr:
    case JSNoMessageFoundErr:
      return absl::NotFoundError(detail);
    case JSClusterNotAvailErr:
    // Fewer servers known than the replicas asked for: a cold start, or a
    // node down while a stream is created. The same request succeeds once
    // the peers are there.
    case JSClusterNoPeersErr:
      return absl::UnavailableError(detail);
    default:
      break;
  }
  switch (s) {
    case NATS_TIMEOUT:
    case NATS_NO_RESPONDERS:
    case NATS_CONNECTION_CLOSED:
    case NATS_CONNECTION_DISCONNECTED:
    case NATS_NO_SERVER:
    case NATS_STALE_CONNECTION:
    case NATS_IO_ERROR:
      return absl::UnavailableError(detail);
    case NATS_NOT_FOUND:
      return absl::NotFoundError(detail);
    case NATS_INVALID_ARG:
    case NATS_INVALID_SUBJECT:
      return absl::InvalidArgumentError(detail);
    case NATS_MAX_PAYLOAD:
      return absl::OutOfRangeError(detail);  // refused before anything was sent
    default:
      // A JetStream error answer not named above: the server refused the
      // request as it stood (a config that differs, a limit). Anything
      // else (the client's own state: a reply subscription lost in a
      // reconnect, a slow consumer, ...) says nothing of whether the server
      // acted on the request: kUnavailable, so a publish stays in doubt
      // until it is resolved, never taken as refused (measured: an
      // "Invalid Subscription" during a node's restart).
      return jerr != 0 ? absl::FailedPreconditionError(detail) : absl::UnavailableError(detail);
  }
}

}  // namespace roomcast::cluster
