// A linear, allocation-free look at JSON text before anything parses it:
// how deeply its arrays and objects nest. Recursive-descent parsers (and
// protobuf's JSON parser) take time and stack that grow with nesting, some
// of it quadratic, so every untrusted JSON body is scanned first and refused
// when it nests deeper than its consumer allows (DESIGN §15).
//
//   if (JsonNestingDepth(body, kMaxDepth) > kMaxDepth) return TooDeep();
#ifndef ROOMCAST_BASE_JSON_SCAN_H_
#define ROOMCAST_BASE_JSON_SCAN_H_

#include <cstddef>

#include "absl/strings/string_view.h"

namespace roomcast::base {

// The deepest nesting of '[' and '{' outside strings, counting the outermost
// as 1; stops scanning once `stop_above` is exceeded and returns that depth
// (stop_above + 1). Does not validate: malformed text is the parser's job.
size_t JsonNestingDepth(absl::string_view text, size_t stop_above);

}  // namespace roomcast::base

#endif  // ROOMCAST_BASE_JSON_SCAN_H_
