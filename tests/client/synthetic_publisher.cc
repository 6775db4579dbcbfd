#include "tests/client/synthetic_publisher.h"

#include "segmenter/codec.h"
#include "segmenter/naming.h"

namespace roomcast::testing {

using segmenter::BucketEnd;
using segmenter::BucketIndex;
using segmenter::BucketStart;

SyntheticPublisher::SyntheticPublisher(const OriginProcess& origin, Options options)
    : origin_(origin), options_(std::move(options)) {}

SyntheticPublisher::~SyntheticPublisher() { Stop(); }

std::string SyntheticPublisher::ManifestPath() const {
  return segmenter::ManifestPath(options_.room, segmenter::Format::kProto,
                                 options_.private_room ? segmenter::Scope::kPrivate
                                                       : segmenter::Scope::kPublic);
}

void SyntheticPublisher::Start() {
  const int64_t now = WallMs();
  std::string manifest;
  {
    std::lock_guard<std::mutex> lock(mu_);
    watermark_ms_ = BucketStart(BucketIndex(now, options_.bucket_ms), options_.bucket_ms);
    NewEpoch(now);
    manifest = segmenter::Encode(room_->manifest().Build(now, watermark_ms_)).bytes;
    uploaded_version_ = room_->manifest().version();
  }
  if (origin_.PutObject(ManifestPath(), manifest).status != 200) ++failures_;
  if (origin_.PutWatermark(watermark_ms_).status != 200) ++failures_;
  ticker_ = std::thread([this] {
    while (!done_) {
      Tick();
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
  });
}

void SyntheticPublisher::Stop() {
  done_ = true;
  if (ticker_.joinable()) ticker_.join();
}

void SyntheticPublisher::NewEpoch(int64_t now_ms) {
  ++epoch_;
  next_seq_ = 1;
  next_peer_seq_ = 1;
  v1::RoomConfig config;
  config.set_bucket_ms(static_cast<uint32_t>(options_.bucket_ms));
  config.set_rollup_ms(static_cast<uint32_t>(
      options_.rollup_ms > 0 ? options_.rollup_ms : options_.bucket_ms));
  config.set_retention_s(86400);
  config.set_action_cap_per_s(500);
  config.set_private_(options_.private_room);
  room_ = std::make_unique<segmenter::RoomCloser>(segmenter::RoomCloserOptions{
      .identity = {.room = options_.room, .epoch = epoch_, .publisher = kPublisher,
                   .opened_ms = now_ms, .config = config},
      .hint_secret = options_.hint_secret});
  std::vector<segmenter::ClosedObject> none;
  room_->Close(watermark_ms_, &none);  // nothing may land in a closed bucket
  uploaded_version_ = 0;
  uploaded_seq_ = 0;
  posted_.clear();
}

v1::Message SyntheticPublisher::Post(const std::string& text) {
  std::lock_guard<std::mutex> lock(mu_);
  v1::Message m;
  m.set_seq(next_seq_++);
  m.set_ts_ms(stamper_.Stamp(WallMs(), room_->watermark_ms()));
  m.set_kind(v1::KIND_ACTION);
  m.set_sender("viewer-1");
  m.set_role(v1::ROLE_AUDIENCE);
  m.mutable_comment()->set_text(text);
  if (!room_->AddAction(m).ok()) ++failures_;
  posted_.push_back(m);
  return m;
}

v1::Message SyntheticPublisher::Retract(uint64_t seq) {
  std::lock_guard<std::mutex> lock(mu_);
  v1::Message m;
  m.set_seq(next_seq_++);
  m.set_ts_ms(stamper_.Stamp(WallMs(), room_->watermark_ms()));
  m.set_kind(v1::KIND_ACTION);
  m.set_sender("mod-1");
  m.set_role(v1::ROLE_MODERATOR);
  m.set_priority(v1::PRIORITY_HIGH);
  m.mutable_retract()->add_seqs(seq);
  if (!room_->AddAction(m).ok()) ++failures_;
  posted_.push_back(m);
  return m;
}

v1::Message SyntheticPublisher::Stub() {
  std::lock_guard<std::mutex> lock(mu_);
  v1::Message m;
  m.set_seq(next_seq_++);
  m.set_ts_ms(stamper_.Stamp(WallMs(), room_->watermark_ms()));
  m.mutable_redacted();
  if (!room_->AddAction(m).ok()) ++failures_;
  posted_.push_back(m);
  return m;
}

uint64_t SyntheticPublisher::SetState(const std::string& name, const std::string& value) {
  google::protobuf::Value v;
  v.set_string_value(value);
  return SetStateValue(name, v);
}

uint64_t SyntheticPublisher::SetStateValue(const std::string& name,
                                           const google::protobuf::Value& v) {
  std::lock_guard<std::mutex> lock(mu_);
  auto c = room_->SetState(name, v, stamper_.Stamp(WallMs(), room_->watermark_ms()),
                           "anchor-1");
  if (!c.ok()) {
    ++failures_;
    return 0;
  }
  return c->version();
}

v1::Message SyntheticPublisher::Peer(const std::string& user, const std::string& text) {
  std::lock_guard<std::mutex> lock(mu_);
  v1::Message m;
  m.set_seq(next_peer_seq_++);
  m.set_ts_ms(stamper_.Stamp(WallMs(), room_->watermark_ms()));
  m.set_kind(v1::KIND_PEER);
  m.set_sender("moderator-1");
  m.set_role(v1::ROLE_MODERATOR);
  m.set_recipient(user);
  m.mutable_comment()->set_text(text);
  room_->AddPeer(m);
  return m;
}

void SyntheticPublisher::Recreate() {
  std::lock_guard<std::mutex> lock(mu_);
  NewEpoch(stamper_.Stamp(WallMs(), watermark_ms_));
}

std::vector<SyntheticPublisher::Upload> SyntheticPublisher::CloseLocked(int64_t wm,
                                                                        int64_t now) {
  std::vector<segmenter::ClosedObject> closed;
  room_->Close(wm, &closed);
  std::vector<Upload> out;
  for (segmenter::ClosedObject& o : closed) {
    v1::ActionSegment seg;
    const bool bucket_with_actions =
        o.cls == segmenter::ObjectClass::kActions && seg.ParseFromString(o.bytes) &&
        seg.bucket_ms() == options_.bucket_ms && seg.last_seq() > 0;
    if (bucket_with_actions && lose_segments_ > 0) {
      --lose_segments_;
      continue;
    }
    out.push_back({std::move(o.path), std::move(o.bytes)});
  }
  if (room_->manifest().version() != uploaded_version_) {
    out.push_back({ManifestPath(),
                   segmenter::Encode(room_->manifest().Build(now, wm)).bytes});
    uploaded_version_ = room_->manifest().version();
  }
  return out;
}

void SyntheticPublisher::Tick() {
  const int64_t now = WallMs();
  const int64_t d = options_.bucket_ms;
  const int64_t wm = BucketStart(BucketIndex(now - 5, d), d);
  std::vector<Upload> uploads;
  uint64_t closed_seq = 0;
  uint64_t epoch = 0;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (paused_ || wm <= watermark_ms_) return;
    uploads = CloseLocked(wm, now);
    closed_seq = next_seq_ - 1 - OpenActionsLocked();
    epoch = epoch_;
    uploading_ = true;
  }
  for (const Upload& u : uploads) {
    const long status = origin_.PutObject(u.path, u.bytes).status;
    if (status != 200 && status != 201) {
      ADD_FAILURE() << "PUT " << u.path << ": HTTP " << status;
      ++failures_;
    }
  }
  if (origin_.PutWatermark(wm).status != 200) ++failures_;
  std::lock_guard<std::mutex> lock(mu_);
  watermark_ms_ = wm;
  uploading_ = false;
  if (epoch == epoch_) uploaded_seq_ = std::max(uploaded_seq_, closed_seq);
}

// The open buckets' actions: not notices (seq 0), which counting made
// closed_seq wrap below zero and WaitPublished never see the end.
size_t SyntheticPublisher::OpenActionsLocked() const {
  size_t n = 0;
  const segmenter::RoomCloserCheckpoint c = room_->Checkpoint();  // outlives the loop
  for (const segmenter::OpenBucket& o : c.bucketer().open()) {
    for (const v1::Message& m : o.messages()) n += m.seq() != 0 ? 1 : 0;
  }
  return n;
}

bool SyntheticPublisher::WaitPublished(std::chrono::milliseconds timeout) {
  const auto until = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < until) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (!uploading_ && uploaded_seq_ + 1 >= next_seq_ && !room_->HasUnclosed() &&
          uploaded_version_ == room_->manifest().version()) {
        return true;
      }
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return false;
}

uint64_t SyntheticPublisher::epoch() const {
  std::lock_guard<std::mutex> lock(mu_);
  return epoch_;
}

std::vector<v1::Message> SyntheticPublisher::posted() const {
  std::lock_guard<std::mutex> lock(mu_);
  return posted_;
}

}  // namespace roomcast::testing
