// An in-memory origin for publisher tests: keeps the last bytes of every
// path, refuses (409) a PUT that would change an immutable object, and can
// be taken down (kUnavailable) as a whole or for chosen paths, or keep what
// it is sent while answering kUnavailable (acks lost).
#ifndef ROOMCAST_TESTS_PUBLISHER_FAKE_UPLOADER_H_
#define ROOMCAST_TESTS_PUBLISHER_FAKE_UPLOADER_H_

#include <map>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/synchronization/mutex.h"
#include "publisher/uploader.h"
#include "roomcast/v1/ingest.pb.h"

namespace roomcast::publisher::testing {

class FakeUploader : public Uploader {
 public:
  absl::Status Put(absl::string_view path, absl::string_view body,
                   absl::string_view content_type) override {
    absl::MutexLock l(&mu_);
    std::string p(path);
    if (down_ || failing_.contains(p)) return absl::UnavailableError("origin down");
    puts_.push_back(p);
    const bool is_mutable =
        absl::EndsWith(p, "/manifest.pb") || absl::EndsWith(p, "/watermark");
    auto it = objects_.find(p);
    if (!is_mutable && it != objects_.end() && it->second != body) {
      ++conflicts_;
      return absl::AlreadyExistsError("409: other bytes stored at " + p);
    }
    objects_[p] = std::string(body);
    if (absl::EndsWith(p, "/watermark")) {
      v1::Watermark w;
      w.ParseFromArray(body.data(), static_cast<int>(body.size()));
      watermarks_.push_back(w.watermark_ms());
    }
    // Stored, but the answer is lost on the way back (a crash right after
    // the origin took it): the publisher must upload it again, the same.
    if (lose_acks_) return absl::UnavailableError("answer lost");
    return absl::OkStatus();
  }

  void SetLoseAcks(bool lose) {
    absl::MutexLock l(&mu_);
    lose_acks_ = lose;
  }

  void SetDown(bool down) {
    absl::MutexLock l(&mu_);
    down_ = down;
  }
  void FailPath(const std::string& p, bool fail) {
    absl::MutexLock l(&mu_);
    if (fail) failing_.insert(p); else failing_.erase(p);
  }
  bool Has(const std::string& p) {
    absl::MutexLock l(&mu_);
    return objects_.contains(p);
  }
  std::string Get(const std::string& p) {
    absl::MutexLock l(&mu_);
    auto it = objects_.find(p);
    return it == objects_.end() ? "" : it->second;
  }
  template <typename M>
  M GetProto(const std::string& p) {
    M m;
    m.ParseFromString(Get(p));
    return m;
  }
  std::vector<std::string> puts() {
    absl::MutexLock l(&mu_);
    return puts_;
  }
  // Position of the first PUT of `p`, or -1.
  int IndexOf(const std::string& p) {
    absl::MutexLock l(&mu_);
    for (size_t i = 0; i < puts_.size(); ++i) {
      if (puts_[i] == p) return static_cast<int>(i);
    }
    return -1;
  }
  int LastIndexOf(const std::string& p) {
    absl::MutexLock l(&mu_);
    for (size_t i = puts_.size(); i-- > 0;) {
      if (puts_[i] == p) return static_cast<int>(i);
    }
    return -1;
  }
  int conflicts() {
    absl::MutexLock l(&mu_);
    return conflicts_;
  }
  int64_t watermark() {
    absl::MutexLock l(&mu_);
    return watermarks_.empty() ? 0 : watermarks_.back();
  }
  std::vector<int64_t> watermarks() {
    absl::MutexLock l(&mu_);
    return watermarks_;
  }
  std::map<std::string, std::string> objects() {
    absl::MutexLock l(&mu_);
    return objects_;
  }

 private:
  absl::Mutex mu_;
  bool down_ ABSL_GUARDED_BY(mu_) = false;
  bool lose_acks_ ABSL_GUARDED_BY(mu_) = false;
  std::set<std::string> failing_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, std::string> objects_ ABSL_GUARDED_BY(mu_);
  std::vector<std::string> puts_ ABSL_GUARDED_BY(mu_);
  std::vector<int64_t> watermarks_ ABSL_GUARDED_BY(mu_);
  int conflicts_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace roomcast::publisher::testing

#endif  // ROOMCAST_TESTS_PUBLISHER_FAKE_UPLOADER_H_
