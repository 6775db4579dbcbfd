// The keys of the publisher's log database, each with its parser (as
// RocksDB's file/filename.h), and the one way its values are parsed.
//
//   "L" + 8-byte big-endian LSN   a log::Record (sorts in append order)
//   "T"                           the trim point: records below it are gone
//   "W"                           log::Progress (the publisher's watermark)
//   "P/<room>"                    log::RoomProgress (manifest versions)
//   "C/<room>"                    log::RoomCheckpoint
//   "I/<room>/" + ts + LSN        log::ReplyChunk (8-byte big-endian each)
//   "Q/" + original key           log::Quarantined
//
// Room ids are [A-Za-z0-9_-]{1,64}, so no prefix is another's.
#ifndef ROOMCAST_PUBLISHER_INTERNAL_LOG_KEYS_H_
#define ROOMCAST_PUBLISHER_INTERNAL_LOG_KEYS_H_

#include <cstdint>
#include <optional>
#include <string>

#include "absl/strings/string_view.h"
#include "google/protobuf/message_lite.h"

namespace roomcast::publisher::internal {

inline constexpr char kLogPrefix = 'L';
inline constexpr char kTrimKey[] = "T";
inline constexpr char kProgressKey[] = "W";
inline constexpr char kRoomProgressPrefix[] = "P/";
inline constexpr char kCheckpointPrefix[] = "C/";
inline constexpr char kRepliesPrefix[] = "I/";
inline constexpr char kQuarantinePrefix[] = "Q/";

// Nesting headroom of every value parse. Ingest parses bodies with
// protobuf's default recursion limit (100), and ingest bounds custom data
// to 16 JSON levels (48 protobuf levels) below that; a logged record wraps
// the message in at most 6 more levels (RoomCheckpoint > closer > bucketer
// > open bucket > Message; Record > Action > Message). So the log reads
// anything ingest accepted, with margin, and still bounds the recursion.
inline constexpr int kIngestRecursionLimit = 100;
inline constexpr int kEnvelopeDepth = 6;
inline constexpr int kLogRecursionLimit =
    kIngestRecursionLimit + 2 * kEnvelopeDepth;

// Parses a stored value with kLogRecursionLimit; false unless all of it is
// one valid message.
bool ParseStored(absl::string_view bytes, google::protobuf::MessageLite* m);

std::string EncodeBigEndian(uint64_t v);
uint64_t DecodeBigEndian(absl::string_view eight_bytes);

std::string LogKey(uint64_t lsn);
std::optional<uint64_t> ParseLogKey(absl::string_view key);

std::string RoomProgressKey(absl::string_view room);
std::string CheckpointKey(absl::string_view room);
// The room of a "P/" or "C/" key (nullopt if `key` is not one or the room
// is not a valid id).
std::optional<std::string> ParseRoomKey(absl::string_view prefix,
                                        absl::string_view key);

// Every reply chunk of a room lies in [RepliesStart(room), RepliesEnd(room));
// those whose latest reply is before `ts_ms` below RepliesKey(room, ts_ms, 0).
std::string RepliesKey(absl::string_view room, int64_t max_ts_ms, uint64_t lsn);
std::string RepliesStart(absl::string_view room);
std::string RepliesEnd(absl::string_view room);
// The room of an "I/" key, or nullopt.
std::optional<std::string> ParseRepliesKey(absl::string_view key);

std::string QuarantineKey(absl::string_view original_key);

// The room a record's bytes name, read from its first field without parsing
// the rest (a record that does not parse may still say whose it was); ""
// if it does not start with one.
std::string RoomOfRecordBytes(absl::string_view bytes);

}  // namespace roomcast::publisher::internal

#endif  // ROOMCAST_PUBLISHER_INTERNAL_LOG_KEYS_H_
