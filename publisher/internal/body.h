// Request bodies as the ingest API reads them (DESIGN §6, §15): protobuf or
// JSON (protobuf's mapping, proto field names), parsed only after a linear
// check bounds them: JSON is depth-scanned before the parser sees it,
// protobuf is parsed with a recursion limit and refused if it holds fields
// this build does not know. Pure functions, fuzzed (fuzz/fuzz_ingest_*).
//
//   v1::PostMessagesRequest batch;
//   bool single = false;
//   ROOMCAST_RETURN_IF_ERROR(ParseMessages(body, is_proto, limits, &batch, &single));
#ifndef ROOMCAST_PUBLISHER_INTERNAL_BODY_H_
#define ROOMCAST_PUBLISHER_INTERNAL_BODY_H_

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "google/protobuf/message.h"
#include "publisher/options.h"
#include "roomcast/v1/ingest.pb.h"

namespace roomcast::publisher::internal {

// Parses `body` as `m` (an empty JSON body leaves every field default).
// kInvalidArgument says what is wrong.
absl::Status ParseBody(absl::string_view body, bool proto, const IngestLimits& limits,
                       google::protobuf::Message* m);

// A POST .../messages body: a batch {"messages": [...]} or, in JSON, one
// message on its own (`single` then says so). Parsed once: the first key
// tells the two apart.
absl::Status ParseMessages(absl::string_view body, bool proto, const IngestLimits& limits,
                           v1::PostMessagesRequest* batch, bool* single);

}  // namespace roomcast::publisher::internal

#endif  // ROOMCAST_PUBLISHER_INTERNAL_BODY_H_
