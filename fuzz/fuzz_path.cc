// ParsePath and ParseStorageKey on any bytes; whatever they accept must be
// canonical: building the path (or key) again gives the same bytes.
#include <cstdint>
#include <cstdlib>

#include "segmenter/naming.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const absl::string_view in(reinterpret_cast<const char*>(data), size);
  using roomcast::segmenter::ObjectClass;
  if (auto ref = roomcast::segmenter::ParsePath(in); ref.ok()) {
    if (roomcast::segmenter::ObjectPath(*ref) != in) std::abort();
    if (ref->cls != ObjectClass::kPeerKey) {
      auto back = roomcast::segmenter::ParseStorageKey(roomcast::segmenter::StorageKey(*ref));
      if (!back.ok() || back->cls != ref->cls || back->room != ref->room) std::abort();
    }
  }
  if (auto ref = roomcast::segmenter::ParseStorageKey(in); ref.ok()) {
    if (roomcast::segmenter::StorageKey(*ref) != in) std::abort();
  }
  return 0;
}
