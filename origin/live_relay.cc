// Cluster mode (DESIGN §13 with §10): the publisher pushes an open
// bucket's records to one origin, whichever its load balancer picked;
// viewers streaming that bucket from another origin must get the same
// records. So each append an origin took is relayed over core NATS on
// "rclive.{room}", tagged with the origin's id (Rc-Origin) and the writer
// its secret spoke for (Rc-Writer), and every other origin takes it through
// TakeAppend, the code path of a local POST; its answer goes nowhere. The
// overlap check makes a repeat harmless and a differing record aborts the
// streams, as it would locally. At most once: an origin that missed a
// relay (disconnected, or not yet knowing the room) streams nothing more
// of that bucket until a later append covers it, and its streams complete
// from the stored segment at close all the same.
#include "absl/strings/str_cat.h"
#include "base/log.h"
#include "origin/jetstream_store.h"
#include "origin/origin.h"
#include "segmenter/naming.h"

namespace roomcast::origin {
namespace {

constexpr char kRelayOriginHeader[] = "Rc-Origin";
constexpr char kRelayWriterHeader[] = "Rc-Writer";

std::string HeaderOr(const cluster::BusMessage& m, const char* name) {
  auto it = m.headers.find(name);
  return it == m.headers.end() ? "" : it->second;
}

}  // namespace

absl::Status Origin::StartRelay() {
  auto sub = cluster_store_->bus().Subscribe(
      "rclive.>", [this](const cluster::BusMessage& m) { OnRelayedAppend(m); });
  if (!sub.ok()) return sub.status();
  relay_sub_ = *std::move(sub);
  return absl::OkStatus();
}

void Origin::RelayAppend(const std::string& writer, const v1::LiveAppend& a) {
  absl::Status st = cluster_store_->bus().Publish(
      absl::StrCat("rclive.", a.room()), a.SerializeAsString(),
      {{kRelayOriginHeader, options_.origin_id}, {kRelayWriterHeader, writer}});
  if (!st.ok()) {
    ROOMCAST_LOG(kWarning, "origin", "live_relay_failed")
        .Kv("room", a.room()).Kv("bucket", a.index()).Kv("status", st);
  }
}

void Origin::OnRelayedAppend(const cluster::BusMessage& m) {
  if (HeaderOr(m, kRelayOriginHeader) == options_.origin_id) return;  // our own
  const std::string writer = HeaderOr(m, kRelayWriterHeader);
  v1::LiveAppend a;
  // Input like any other: a room of its subject, a writer that is an id.
  if (!a.ParseFromString(m.data) || m.subject != absl::StrCat("rclive.", a.room()) ||
      (!writer.empty() && !segmenter::IsValidId(writer))) {
    ROOMCAST_LOG(kWarning, "origin", "live_relay_ignored").Kv("subject", m.subject);
    return;
  }
  live_.AbortExpired(NowMs());
  const v1::LiveAck ack = TakeAppend(writer, a);
  if (ack.refused()) {
    ROOMCAST_LOG(kDebug, "origin", "live_relay_refused")
        .Kv("room", a.room()).Kv("bucket", a.index()).Kv("reason", ack.reason());
  }
}

}  // namespace roomcast::origin
