// SplitSegment of any bytes (what an origin reads from a PUT or a live
// push), and for the bytes it accepts: the spans tile the input, every
// rendition's chunks concatenate to the rendition, and the gzip of them is
// deterministic.
#include <cstdint>
#include <cstdlib>
#include <string>

#include "segmenter/live.h"

namespace seg = roomcast::segmenter;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const absl::string_view pb(reinterpret_cast<const char*>(data), size);
  absl::StatusOr<seg::SegmentParts> parts = seg::SplitSegment(pb);
  if (!parts.ok()) return 0;
  std::string tiled;
  for (absl::string_view r : parts->records) tiled.append(r.data(), r.size());
  tiled.append(parts->summary.data(), parts->summary.size());
  if (tiled != std::string(pb)) std::abort();
  for (seg::Rendition r : {seg::Rendition::kPb, seg::Rendition::kJson}) {
    auto chunks = seg::SegmentChunks(pb, r);
    // JSON may refuse what parses (a Struct holding NaN has no JSON); then
    // the whole rendition must be refused too.
    if (!chunks.ok() && r == seg::Rendition::kJson && !seg::RenderSegmentJson(pb).ok()) continue;
    if (!chunks.ok() || chunks->size() != parts->records.size() + 2) std::abort();
    std::string body;
    for (const std::string& c : *chunks) body += c;
    if (r == seg::Rendition::kPb ? body != std::string(pb)
                                 : body != seg::RenderSegmentJson(pb).value()) {
      std::abort();
    }
    if (seg::GzipSegment(*chunks) != seg::GzipSegment(*chunks)) std::abort();
  }
  return 0;
}
