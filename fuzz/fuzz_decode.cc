// Decode and RenderJson of any bytes as every object class the origin stores
// and serves (the first byte picks the class).
#include <cstdint>

#include "segmenter/codec.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  using roomcast::segmenter::ObjectClass;
  static constexpr ObjectClass kClasses[] = {ObjectClass::kManifest, ObjectClass::kActions,
                                             ObjectClass::kState, ObjectClass::kSnapshot,
                                             ObjectClass::kPeer};
  const ObjectClass cls = kClasses[data[0] % 5];
  const absl::string_view body(reinterpret_cast<const char*>(data) + 1, size - 1);
  if (auto m = roomcast::segmenter::Decode(cls, body); m.ok()) {
    (void)roomcast::segmenter::RenderJson(cls, body);
    (void)roomcast::segmenter::Encode(**m);
  }
  return 0;
}
