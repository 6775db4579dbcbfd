// The property both ingest fuzz targets check: a body the publisher accepts
// (parsed and validated as a message) can be logged, replayed, published in
// a segment and rendered as .json. A break would be a poison record.
#ifndef ROOMCAST_FUZZ_INGEST_FUZZ_H_
#define ROOMCAST_FUZZ_INGEST_FUZZ_H_

#include <cstdlib>

#include "google/protobuf/io/coded_stream.h"
#include "publisher/internal/body.h"
#include "publisher/internal/validation.h"
#include "roomcast/v1/segment.pb.h"
#include "roomcast/v1/state.pb.h"
#include "segmenter/codec.h"
#include "segmenter/segment.h"

namespace roomcast::fuzz {

inline void CheckIngest(absl::string_view body, bool proto) {
  const publisher::IngestLimits limits;
  v1::PostMessagesRequest batch;
  bool single = false;
  if (!publisher::internal::ParseMessages(body, proto, limits, &batch, &single).ok()) return;
  std::vector<v1::Message> accepted;
  for (const v1::MessageInput& in : batch.messages()) {
    v1::Message m;
    if (!publisher::internal::BuildBody(in, limits, &m).ok()) continue;
    m.set_seq(accepted.size() + 1);
    m.set_ts_ms(1000);
    accepted.push_back(std::move(m));
  }
  if (accepted.empty()) return;
  v1::ActionSegment seg = segmenter::BuildSegment(
      {.room = "r", .epoch = 1, .bucket_ms = 1000, .index = 1}, std::move(accepted));
  const std::string bytes = segmenter::SerializeDeterministic(seg);
  // Replay reads log records with protobuf's default recursion limit.
  v1::ActionSegment back;
  google::protobuf::io::CodedInputStream in(reinterpret_cast<const uint8_t*>(bytes.data()),
                                            static_cast<int>(bytes.size()));
  if (!back.ParseFromCodedStream(&in)) std::abort();
  if (!segmenter::RenderJson(segmenter::ObjectClass::kActions, bytes).ok()) std::abort();
  // State values get the same promise.
  google::protobuf::Value v;
  if (publisher::internal::ParseBody(body, proto, limits, &v).ok() &&
      publisher::internal::CheckStateValue(v, limits).ok()) {
    v1::StateComponent c;
    *c.mutable_value() = v;
    if (!segmenter::RenderJson(segmenter::ObjectClass::kState,
                               segmenter::SerializeDeterministic(c)).ok()) {
      std::abort();
    }
  }
}

}  // namespace roomcast::fuzz

#endif  // ROOMCAST_FUZZ_INGEST_FUZZ_H_
