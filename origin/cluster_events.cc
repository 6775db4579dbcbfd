// Cluster mode (DESIGN §13): what another origin stored reaches this one as
// a StoreEvent (JetStreamStore's notices) and does here what the local PUT
// did there: a room's metadata and a watermark move forward in memory, and
// held requests and open buckets' streams are woken or closed. A notice of
// this origin's own write repeats what its PUT did, harmlessly.
#include <algorithm>

#include "base/log.h"
#include "origin/origin.h"
#include "segmenter/naming.h"

namespace roomcast::origin {

void Origin::OnStoreEvent(const StoreEvent& e) {
  switch (e.kind) {
    case StoreEvent::Kind::kObject: return ApplyObject(e.key);
    case StoreEvent::Kind::kRoomMeta: return ApplyRoomMeta(e.meta);
    case StoreEvent::Kind::kWatermark: return ApplyWatermark(e.watermark);
    case StoreEvent::Kind::kReplaced: return;  // the store forgot its cached copy
  }
}

void Origin::ApplyObject(const std::string& key) {
  auto ref = segmenter::ParseStorageKey(key);
  if (!ref.ok()) return;
  if (ref->cls == segmenter::ObjectClass::kActions) {
    // Its open bucket's streams end with the stored bytes, as after a PUT.
    auto obj = store_->GetImmutable(key);
    if (obj.ok() && *obj != nullptr) {
      CloseLive(key, (*obj)->body());
    } else if (!obj.ok()) {
      ROOMCAST_LOG(kWarning, "origin", "notice_read_failed").Kv("key", key).Kv("status",
                                                                               obj.status());
    }
  }
  holds_.NotifyKey(key);
}

void Origin::ApplyRoomMeta(const RoomMeta& meta) {
  if (!segmenter::IsValidId(meta.room())) return;
  {
    absl::MutexLock lock(&mu_);
    auto [it, added] = rooms_.try_emplace(meta.room(), meta);
    // Notices of one room come in write order, but a local PUT (or a
    // resync's read racing it) may have set a newer version already: never
    // step back. Versions grow across epochs too (DESIGN §4).
    if (!added && meta.manifest_version() < it->second.manifest_version()) return;
    it->second = meta;
  }
  holds_.NotifyManifest(meta.room(), meta.manifest_version());
}

void Origin::ApplyWatermark(const v1::Watermark& wm) {
  if (!segmenter::IsValidId(wm.publisher())) return;
  if (wm.watermark_ms() > NowMs() + options_.max_watermark_skew_ms) {
    ROOMCAST_LOG(kWarning, "origin", "notice_watermark_ahead")
        .Kv("publisher", wm.publisher()).Kv("watermark_ms", wm.watermark_ms());
    return;
  }
  {
    absl::MutexLock lock(&mu_);
    int64_t& current = watermarks_[wm.publisher()];
    if (wm.watermark_ms() <= current) return;
    current = wm.watermark_ms();
  }
  holds_.NotifyWatermark(wm.publisher(), wm.watermark_ms());
  SettleLiveBefore(wm.watermark_ms());
}

}  // namespace roomcast::origin
