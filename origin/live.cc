#include "origin/live.h"

#include <boost/asio/post.hpp>

#include "absl/strings/str_cat.h"

namespace roomcast::origin {
using segmenter::Rendition;

namespace {

LiveBucket::Chunk MakeChunk(std::string s) {
  return std::make_shared<const std::string>(std::move(s));
}

}  // namespace

absl::StatusOr<uint32_t> LiveBucket::Append(uint32_t first,
                                            const std::vector<std::string>& records,
                                            size_t max_bytes) {
  absl::MutexLock lock(&mu_);
  if (phase_ != Phase::kOpen) return absl::FailedPreconditionError("the bucket is closed");
  const size_t have = records_.size();
  if (first > have) return static_cast<uint32_t>(have);  // it lacks earlier ones
  for (size_t i = 0; i < records.size(); ++i) {
    const size_t pos = first + i;
    if (pos < records_.size()) {
      if (records_[pos] != records[i]) {
        return absl::AlreadyExistsError(
            absl::StrCat("record ", pos, " differs from one already streamed"));
      }
      continue;
    }
    if (bytes_ + records[i].size() > max_bytes) {
      if (records_.size() > have) WakeLocked();
      return absl::ResourceExhaustedError(
          absl::StrCat("the bucket's records exceed ", max_bytes, " bytes"));
    }
    if (absl::Status st = AddRecordLocked(records[i]); !st.ok()) return st;
  }
  if (records_.size() > have) WakeLocked();
  return static_cast<uint32_t>(records_.size());
}

absl::Status LiveBucket::AddRecordLocked(std::string record) {
  bytes_ += record.size();
  records_.push_back(std::move(record));
  for (size_t i = 0; i < 4; ++i) {
    if (!forms_[i].made) continue;
    const Form f{.rendition = i >= 2 ? Rendition::kJson : Rendition::kPb, .gzip = (i % 2) == 1};
    if (absl::Status st = ExtendLocked(f, forms_[i], records_.size() - 1); !st.ok()) return st;
  }
  return absl::OkStatus();
}

// Appends the chunks of records [from, end) to a made form.
absl::Status LiveBucket::ExtendLocked(Form f, Made& m, size_t from) {
  if (from >= records_.size()) return absl::OkStatus();
  std::vector<std::string> lines;
  if (f.rendition == Rendition::kJson) {
    const std::vector<absl::string_view> records(
        records_.begin() + static_cast<std::ptrdiff_t>(from), records_.end());
    auto json = segmenter::JsonRecordLines(records, from);
    if (!json.ok()) return json.status();
    lines = *std::move(json);
  } else {
    lines.assign(records_.begin() + static_cast<std::ptrdiff_t>(from), records_.end());
  }
  for (std::string& text : lines) {
    m.chunks.push_back(MakeChunk(f.gzip ? m.gz->Add(text) : std::move(text)));
  }
  return absl::OkStatus();
}

absl::Status LiveBucket::Close(absl::string_view stored_pb) {
  absl::MutexLock lock(&mu_);
  if (phase_ != Phase::kOpen) return absl::OkStatus();
  auto parts = segmenter::SplitSegment(stored_pb);
  if (!parts.ok()) return parts.status();
  if (parts->records.size() < records_.size()) {
    return absl::AlreadyExistsError("the stored segment has fewer records than were streamed");
  }
  for (size_t i = 0; i < records_.size(); ++i) {
    if (parts->records[i] != records_[i]) {
      return absl::AlreadyExistsError(
          absl::StrCat("stored record ", i, " differs from the one streamed"));
    }
  }
  for (size_t i = records_.size(); i < parts->records.size(); ++i) {
    if (absl::Status st = AddRecordLocked(std::string(parts->records[i])); !st.ok()) return st;
  }
  return FinishLocked(parts->summary);
}

absl::Status LiveBucket::FinishLocked(absl::string_view summary) {
  auto json_tail = segmenter::JsonTail(summary);
  if (!json_tail.ok()) return json_tail.status();
  for (size_t i = 0; i < 4; ++i) {
    Made& m = forms_[i];
    if (!m.made) continue;
    const std::string tail = i >= 2 ? *json_tail : std::string(summary);
    m.chunks.push_back(MakeChunk((i % 2) == 1 ? m.gz->Finish(tail) : tail));
    m.gz.reset();
  }
  summary_ = std::string(summary);
  json_tail_ = *std::move(json_tail);
  phase_ = Phase::kClosed;
  WakeLocked();
  return absl::OkStatus();
}

void LiveBucket::Abort() {
  absl::MutexLock lock(&mu_);
  if (phase_ != Phase::kOpen) return;
  phase_ = Phase::kAborted;
  for (Made& m : forms_) m = Made();
  records_.clear();
  WakeLocked();
}

void LiveBucket::WakeLocked() {
  for (const auto& sub : subs_) {
    if (sub->signalled) continue;
    sub->signalled = true;
    // The timer belongs to its connection's single-threaded io_context.
    boost::asio::post(sub->timer.get_executor(), [sub] { sub->timer.cancel(); });
  }
}

// Makes a form on its first reader: the head, every record so far, and the
// tail if the bucket has closed.
absl::Status LiveBucket::MakeLocked(Form f, Made& m) {
  m.made = true;
  std::string head(f.rendition == Rendition::kJson ? segmenter::JsonHead() : "");
  if (f.gzip) {
    m.gz = std::make_unique<segmenter::ChunkGzip>();
    head = m.gz->Add(head);
  }
  m.chunks.push_back(MakeChunk(std::move(head)));
  if (absl::Status st = ExtendLocked(f, m, 0); !st.ok()) return st;
  if (phase_ == Phase::kClosed) {
    const std::string tail = f.rendition == Rendition::kJson ? json_tail_ : summary_;
    m.chunks.push_back(MakeChunk(f.gzip ? m.gz->Finish(tail) : tail));
    m.gz.reset();
  }
  return absl::OkStatus();
}

LiveBucket::Take LiveBucket::Read(Cursor& c, const std::shared_ptr<Subscriber>& sub) {
  absl::MutexLock lock(&mu_);
  Take take{.phase = phase_};
  if (phase_ == Phase::kAborted) return take;
  Made& m = forms_[Index(c.form)];
  if (!m.made) {
    if (!MakeLocked(c.form, m).ok()) {
      take.phase = Phase::kAborted;
      return take;
    }
  }
  take.chunks.assign(m.chunks.begin() + static_cast<std::ptrdiff_t>(c.next), m.chunks.end());
  c.next = m.chunks.size();
  if (take.chunks.empty() && phase_ == Phase::kOpen) {
    sub->signalled = false;
    if (std::find(subs_.begin(), subs_.end(), sub) == subs_.end()) subs_.push_back(sub);
  }
  return take;
}

bool LiveBucket::Subscribe(const std::shared_ptr<Subscriber>& sub) {
  absl::MutexLock lock(&mu_);
  if (phase_ != Phase::kOpen) return false;
  sub->signalled = false;
  if (std::find(subs_.begin(), subs_.end(), sub) == subs_.end()) subs_.push_back(sub);
  return true;
}

void LiveBucket::Unsubscribe(const std::shared_ptr<Subscriber>& sub) {
  absl::MutexLock lock(&mu_);
  subs_.erase(std::remove(subs_.begin(), subs_.end(), sub), subs_.end());
}

uint32_t LiveBucket::records() const {
  absl::MutexLock lock(&mu_);
  return static_cast<uint32_t>(records_.size());
}

bool LiveBucket::aborted() const {
  absl::MutexLock lock(&mu_);
  return phase_ == Phase::kAborted;
}

std::shared_ptr<LiveBucket> LiveBuckets::Find(const std::string& key) const {
  absl::MutexLock lock(&mu_);
  auto it = open_.find(key);
  return it == open_.end() ? nullptr : it->second.bucket;
}

std::shared_ptr<LiveBucket> LiveBuckets::FindOrCreate(const std::string& key, int64_t end_ms,
                                                      int64_t expires_ms, bool* created) {
  absl::MutexLock lock(&mu_);
  *created = false;
  if (auto it = open_.find(key); it != open_.end()) return it->second.bucket;
  if (closed_ || open_.size() >= max_) return nullptr;
  Entry e{.bucket = std::make_shared<LiveBucket>(end_ms, expires_ms)};
  e.by_expiry = by_expiry_.emplace(expires_ms, key);
  e.by_end = by_end_.emplace(end_ms, key);
  *created = true;
  return open_.emplace(key, std::move(e)).first->second.bucket;
}

std::shared_ptr<LiveBucket> LiveBuckets::TakeLocked(const std::string& key) {
  auto it = open_.find(key);
  if (it == open_.end()) return nullptr;
  std::shared_ptr<LiveBucket> b = std::move(it->second.bucket);
  by_expiry_.erase(it->second.by_expiry);
  by_end_.erase(it->second.by_end);
  open_.erase(it);
  return b;
}

absl::Status LiveBuckets::Close(const std::string& key, absl::string_view stored_pb) {
  std::shared_ptr<LiveBucket> b;
  {
    absl::MutexLock lock(&mu_);
    b = TakeLocked(key);
  }
  if (b == nullptr) return absl::OkStatus();
  absl::Status st = b->Close(stored_pb);
  if (!st.ok()) b->Abort();
  return st;
}

void LiveBuckets::Abort(const std::string& key) {
  std::shared_ptr<LiveBucket> b;
  {
    absl::MutexLock lock(&mu_);
    b = TakeLocked(key);
  }
  if (b != nullptr) b->Abort();
}

size_t LiveBuckets::AbortExpired(int64_t now_ms) {
  std::vector<std::shared_ptr<LiveBucket>> gone;
  {
    absl::MutexLock lock(&mu_);
    while (!by_expiry_.empty() && by_expiry_.begin()->first <= now_ms) {
      gone.push_back(TakeLocked(std::string(by_expiry_.begin()->second)));
    }
  }
  for (auto& b : gone) b->Abort();
  return gone.size();
}

std::vector<std::string> LiveBuckets::EndingBy(int64_t end_ms) const {
  absl::MutexLock lock(&mu_);
  std::vector<std::string> keys;
  for (auto it = by_end_.begin(); it != by_end_.end() && it->first <= end_ms; ++it) {
    keys.push_back(it->second);
  }
  return keys;
}

void LiveBuckets::AbortAll() {
  std::vector<std::shared_ptr<LiveBucket>> gone;
  {
    absl::MutexLock lock(&mu_);
    closed_ = true;
    for (auto& [key, e] : open_) gone.push_back(std::move(e.bucket));
    open_.clear();
    by_expiry_.clear();
    by_end_.clear();
  }
  for (auto& b : gone) b->Abort();
}

size_t LiveBuckets::size() const {
  absl::MutexLock lock(&mu_);
  return open_.size();
}

}  // namespace roomcast::origin
