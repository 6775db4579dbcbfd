#include "publisher/internal/log_keys.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "base/ids.h"
#include "google/protobuf/io/coded_stream.h"

namespace roomcast::publisher::internal {

bool ParseStored(absl::string_view bytes, google::protobuf::MessageLite* m) {
  google::protobuf::io::CodedInputStream in(
      reinterpret_cast<const uint8_t*>(bytes.data()),
      static_cast<int>(bytes.size()));
  in.SetRecursionLimit(kLogRecursionLimit);
  return m->ParseFromCodedStream(&in) && in.ConsumedEntireMessage();
}

std::string EncodeBigEndian(uint64_t v) {
  std::string out(8, '\0');
  for (int i = 0; i < 8; ++i) out[i] = static_cast<char>(v >> (56 - 8 * i));
  return out;
}

uint64_t DecodeBigEndian(absl::string_view b) {
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v = (v << 8) | static_cast<unsigned char>(b[i]);
  return v;
}

std::string LogKey(uint64_t lsn) {
  return absl::StrCat(absl::string_view(&kLogPrefix, 1), EncodeBigEndian(lsn));
}

std::optional<uint64_t> ParseLogKey(absl::string_view key) {
  if (key.size() != 9 || key[0] != kLogPrefix) return std::nullopt;
  return DecodeBigEndian(key.substr(1));
}

std::string RoomProgressKey(absl::string_view room) {
  return absl::StrCat(kRoomProgressPrefix, room);
}

std::string CheckpointKey(absl::string_view room) {
  return absl::StrCat(kCheckpointPrefix, room);
}

std::optional<std::string> ParseRoomKey(absl::string_view prefix,
                                        absl::string_view key) {
  if (!absl::ConsumePrefix(&key, prefix) || !base::IsValidId(key)) {
    return std::nullopt;
  }
  return std::string(key);
}

std::string RepliesKey(absl::string_view room, int64_t max_ts_ms,
                       uint64_t lsn) {
  // Receive times are unix ms (non-negative), so they sort as unsigned.
  const uint64_t ts = max_ts_ms < 0 ? 0 : static_cast<uint64_t>(max_ts_ms);
  return absl::StrCat(RepliesStart(room), EncodeBigEndian(ts),
                      EncodeBigEndian(lsn));
}

std::string RepliesStart(absl::string_view room) {
  return absl::StrCat(kRepliesPrefix, room, "/");
}

std::string RepliesEnd(absl::string_view room) {
  return absl::StrCat(kRepliesPrefix, room, "0");  // '0' sorts right after '/'
}

std::optional<std::string> ParseRepliesKey(absl::string_view key) {
  if (!absl::ConsumePrefix(&key, kRepliesPrefix) || key.size() < 17) {
    return std::nullopt;
  }
  absl::string_view room = key.substr(0, key.size() - 17);
  if (key[room.size()] != '/' || !base::IsValidId(room)) return std::nullopt;
  return std::string(room);
}

std::string QuarantineKey(absl::string_view original_key) {
  return absl::StrCat(kQuarantinePrefix, original_key);
}

std::string RoomOfRecordBytes(absl::string_view bytes) {
  google::protobuf::io::CodedInputStream in(
      reinterpret_cast<const uint8_t*>(bytes.data()),
      static_cast<int>(bytes.size()));
  std::string room;
  uint32_t size = 0;
  // Field 1 (room), length-delimited, is what a Record writes first.
  if (in.ReadTag() != ((1 << 3) | 2) || !in.ReadVarint32(&size) || size > 64 ||
      !in.ReadString(&room, static_cast<int>(size)) || !base::IsValidId(room)) {
    return "";
  }
  return room;
}

}  // namespace roomcast::publisher::internal
