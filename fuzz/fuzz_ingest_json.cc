// JSON ingest bodies (messages, batches, state values) through the
// publisher's parser and validation.
#include <cstdint>

#include "fuzz/ingest_fuzz.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  roomcast::fuzz::CheckIngest(absl::string_view(reinterpret_cast<const char*>(data), size),
                              /*proto=*/false);
  return 0;
}
