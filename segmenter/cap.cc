#include "segmenter/cap.h"

#include <algorithm>

#include "google/protobuf/io/coded_stream.h"
#include "segmenter/messages.h"

namespace roomcast::segmenter {

int64_t BucketLimit(uint32_t cap_per_s, int64_t bucket_ms) {
  if (cap_per_s == 0) return 0;
  return std::max<int64_t>(1, (int64_t{cap_per_s} * bucket_ms + 999) / 1000);
}

int64_t RecordBytes(const v1::Message& m) {
  const size_t size = m.ByteSizeLong();
  // The tag of field 7 (one byte), the length varint, the message.
  return 1 +
         static_cast<int64_t>(
             google::protobuf::io::CodedOutputStream::VarintSize64(size)) +
         static_cast<int64_t>(size);
}

OnlineCap::OnlineCap(int64_t limit, int64_t max_bytes)
    : limit_(limit),
      max_bytes_(max_bytes),
      per_sender_(std::max<int64_t>(1, (limit + 3) / 4)) {}

bool OnlineCap::Admit(const v1::Message& m) {
  const int64_t bytes = RecordBytes(m);
  const bool keep = m.priority() == v1::PRIORITY_HIGH
                        ? max_bytes_ <= 0 || kept_bytes_ + bytes <= max_bytes_
                        : AdmitNormal(m, bytes);
  if (!keep) {
    ++dropped_[TypeName(m)];
    return false;
  }
  ++kept_;
  kept_bytes_ += bytes;
  return true;
}

bool OnlineCap::AdmitNormal(const v1::Message& m, int64_t bytes) {
  // max_bytes * 3 / 4, exactly, without overflow.
  if (max_bytes_ > 0 &&
      kept_bytes_ + bytes > max_bytes_ / 4 * 3 + max_bytes_ % 4 * 3 / 4)
    return false;
  if (limit_ <= 0) return true;
  if (kept_normal_ >= limit_) return false;
  int64_t& by_sender = normal_by_sender_[m.sender()];
  if (by_sender >= per_sender_) return false;
  ++by_sender;
  ++kept_normal_;
  return true;
}

}  // namespace roomcast::segmenter
