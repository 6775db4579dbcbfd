#include "tests/client/synthetic_publisher.h"

#include "absl/strings/str_cat.h"
#include "segmenter/codec.h"
#include "segmenter/naming.h"
#include "segmenter/peer_hint.h"
#include "segmenter/segment.h"

namespace roomcast::testing {

using segmenter::BucketEnd;
using segmenter::BucketIndex;
using segmenter::BucketStart;

SyntheticPublisher::SyntheticPublisher(const OriginProcess& origin, Options options)
    : origin_(origin), options_(std::move(options)) {}

SyntheticPublisher::~SyntheticPublisher() { Stop(); }

void SyntheticPublisher::Start() {
  const int64_t now = WallMs();
  std::string manifest;
  {
    std::lock_guard<std::mutex> lock(mu_);
    watermark_ms_ = BucketStart(BucketIndex(now, options_.bucket_ms), options_.bucket_ms);
    NewEpoch(now);
    manifest = segmenter::Encode(manifest_->Build(now, watermark_ms_)).bytes;
    uploaded_version_ = manifest_->version();
  }
  if (origin_.PutObject(segmenter::ManifestPath(options_.room), manifest).status != 200) ++failures_;
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
  bucketer_ = std::make_unique<segmenter::Bucketer>(options_.bucket_ms);
  bucketer_->Close(watermark_ms_);  // nothing may land in a closed bucket
  state_ = std::make_unique<segmenter::RoomState>(options_.room, epoch_);
  v1::RoomConfig config;
  config.set_bucket_ms(static_cast<uint32_t>(options_.bucket_ms));
  config.set_rollup_ms(static_cast<uint32_t>(
      options_.rollup_ms > 0 ? options_.rollup_ms : options_.bucket_ms));
  config.set_retention_s(86400);
  config.set_action_cap_per_s(500);
  manifest_ = std::make_unique<segmenter::ManifestBuilder>(segmenter::ManifestIdentity{
      .room = options_.room, .epoch = epoch_, .publisher = kPublisher,
      .opened_ms = now_ms, .config = config});
  uploaded_version_ = 0;
  uploaded_seq_ = 0;
  pending_state_.clear();
  peers_.clear();
  rollup_.clear();
  posted_.clear();
}

v1::Message SyntheticPublisher::Post(const std::string& text) {
  std::lock_guard<std::mutex> lock(mu_);
  v1::Message m;
  m.set_seq(next_seq_++);
  m.set_ts_ms(stamper_.Stamp(WallMs(), bucketer_->watermark_ms()));
  m.set_kind(v1::KIND_ACTION);
  m.set_sender("viewer-1");
  m.set_role(v1::ROLE_AUDIENCE);
  m.mutable_comment()->set_text(text);
  if (!bucketer_->Add(m).ok()) ++failures_;
  posted_.push_back(m);
  return m;
}

uint64_t SyntheticPublisher::SetState(const std::string& name, const std::string& value) {
  std::lock_guard<std::mutex> lock(mu_);
  google::protobuf::Value v;
  v.set_string_value(value);
  auto c = state_->Set(name, v, stamper_.Stamp(WallMs(), bucketer_->watermark_ms()), "anchor-1");
  if (!c.ok()) {
    ++failures_;
    return 0;
  }
  pending_state_.push_back(*c);
  return c->version();
}

v1::Message SyntheticPublisher::Peer(const std::string& user, const std::string& text) {
  std::lock_guard<std::mutex> lock(mu_);
  v1::Message m;
  m.set_seq(next_peer_seq_++);
  m.set_ts_ms(stamper_.Stamp(WallMs(), bucketer_->watermark_ms()));
  m.set_kind(v1::KIND_PEER);
  m.set_sender("moderator-1");
  m.set_role(v1::ROLE_MODERATOR);
  m.set_recipient(user);
  m.mutable_comment()->set_text(text);
  const int64_t k = BucketIndex(m.ts_ms(), options_.bucket_ms);
  v1::PeerBatch& b = peers_[k][user];
  b.set_room(options_.room);
  b.set_epoch(epoch_);
  b.set_user(user);
  b.set_bucket_ms(static_cast<uint32_t>(options_.bucket_ms));
  b.set_index(k);
  *b.add_messages() = m;
  return m;
}

void SyntheticPublisher::Recreate() {
  std::lock_guard<std::mutex> lock(mu_);
  NewEpoch(stamper_.Stamp(WallMs(), watermark_ms_));
}

std::vector<SyntheticPublisher::Upload> SyntheticPublisher::CloseLocked(int64_t wm,
                                                                        int64_t now) {
  const int64_t d = options_.bucket_ms;
  const std::string& room = options_.room;
  std::vector<Upload> out;
  std::map<int64_t, std::vector<v1::Message>> closed;
  for (segmenter::ClosedBucket& b : bucketer_->Close(wm)) closed[b.index] = std::move(b.messages);
  for (auto& [k, users] : peers_) {
    if (BucketEnd(k, d) <= wm) closed.try_emplace(k);
  }
  auto flush_rollup = [&] {
    auto r = segmenter::BuildRollup(options_.rollup_ms, rollup_index_, rollup_);
    rollup_.clear();
    if (!r.ok()) {
      ++failures_;
      return;
    }
    out.push_back({segmenter::SegmentPath(room, options_.rollup_ms, rollup_index_),
                   segmenter::SerializeDeterministic(*r)});
  };
  for (auto& [k, messages] : closed) {
    v1::PeerHint hint;
    bool has_hint = false;
    if (auto p = peers_.find(k); p != peers_.end()) {
      segmenter::PeerHintBuilder hb(p->second.size());
      for (auto& [user, batch] : p->second) {
        out.push_back({segmenter::PeerPath(room, user, d, k),
                       segmenter::SerializeDeterministic(batch)});
        hb.Add(segmenter::DeriveHintKey(options_.hint_secret, user), k);
      }
      hint = hb.hint();
      has_hint = true;
      peers_.erase(p);
    }
    v1::ActionSegment seg = segmenter::BuildSegment(
        {.room = room, .epoch = epoch_, .bucket_ms = d, .index = k}, std::move(messages),
        has_hint ? &hint : nullptr);
    segmenter::EncodedObject obj = segmenter::Encode(seg);
    manifest_->AddSegment(seg, obj.digest);
    if (seg.last_seq() > 0 && lose_segments_ > 0) {
      --lose_segments_;
    } else {
      out.push_back({segmenter::SegmentPath(room, d, k), std::move(obj.bytes)});
    }
    if (options_.rollup_ms > d && seg.last_seq() > 0) {
      const int64_t ri = BucketIndex(BucketStart(k, d), options_.rollup_ms);
      if (!rollup_.empty() && ri != rollup_index_) flush_rollup();
      rollup_index_ = ri;
      rollup_.push_back(seg);
      rollup_.back().clear_peer_hint();
    }
  }
  if (!rollup_.empty() && BucketEnd(rollup_index_, options_.rollup_ms) <= wm) flush_rollup();
  if (!pending_state_.empty()) {
    for (const v1::StateComponent& c : pending_state_) {
      out.push_back({segmenter::StatePath(room, c.name(), static_cast<int64_t>(c.version())),
                     segmenter::SerializeDeterministic(c)});
    }
    pending_state_.clear();
    auto snap = state_->Snapshot(state_->total_version());
    if (snap.ok()) {
      out.push_back({segmenter::SnapshotPath(room, static_cast<int64_t>(snap->total_version())),
                     segmenter::SerializeDeterministic(*snap)});
    }
    manifest_->SetState(*state_);
  }
  if (manifest_->version() != uploaded_version_) {
    out.push_back({segmenter::ManifestPath(room),
                   segmenter::Encode(manifest_->Build(now, wm)).bytes});
    uploaded_version_ = manifest_->version();
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
    closed_seq = next_seq_ - 1 - bucketer_->open_messages();
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

bool SyntheticPublisher::WaitPublished(std::chrono::milliseconds timeout) {
  const auto until = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < until) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (!uploading_ && uploaded_seq_ + 1 >= next_seq_ && pending_state_.empty() && peers_.empty() &&
          uploaded_version_ == manifest_->version()) {
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
