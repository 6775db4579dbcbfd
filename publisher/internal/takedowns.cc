#include "publisher/internal/takedowns.h"

#include <algorithm>
#include <string>

namespace roomcast::publisher::internal {
namespace {

bool Lists(const log::Takedown& t, uint64_t seq) {
  return std::binary_search(t.seqs().begin(), t.seqs().end(), seq) ||
         std::find(t.unpublished().begin(), t.unpublished().end(), seq) !=
             t.unpublished().end();
}

}  // namespace

std::optional<RoomTakedowns::Covered> RoomTakedowns::Covering(
    const std::vector<uint64_t>& seqs) const {
  uint64_t id = 0;
  for (uint64_t seq : seqs) {
    const log::Takedown* t = RequestFor(seq);
    if (t == nullptr) return std::nullopt;
    id = std::max(id, t->id());
  }
  if (id == 0) return std::nullopt;
  bool finished = true;
  for (const auto& [job_id, job] : jobs_) finished = finished && job_id > id;
  return Covered{.id = id, .finished = finished};
}

const log::Takedown* RoomTakedowns::RequestFor(uint64_t seq) const {
  for (auto it = requests_.rbegin(); it != requests_.rend(); ++it) {
    if (Lists(*it, seq)) return &*it;
  }
  return nullptr;
}

void RoomTakedowns::Start(const log::Takedown& t) {
  last_id_ = std::max(last_id_, t.id());
  requests_.push_back(t);
  while (requests_.size() > kMaxRequests) requests_.pop_front();
  if (!t.seqs().empty()) *jobs_[t.id()].mutable_request() = t;
}

void RoomTakedowns::Plan(const log::TakedownPlan& p) {
  auto it = jobs_.find(p.id());
  if (it == jobs_.end()) return;  // finished already: a replayed straggler
  auto& plans = *it->second.mutable_plans();
  for (log::TakedownPlan& old : plans) {
    if (old.path() == p.path()) {
      old = p;
      return;
    }
  }
  *plans.Add() = p;
}

bool RoomTakedowns::Done(const log::TakedownDone& d) {
  auto it = jobs_.find(d.id());
  if (it != jobs_.end() && d.has_entry()) it->second.add_done(d.entry().path());
  if (it != jobs_.end() && d.finished()) jobs_.erase(it);
  if (!d.has_entry() || HasRecord(d.entry().path(), d.entry().new_digest())) return false;
  AddRecord(d.entry());
  return true;
}

bool RoomTakedowns::HasRecord(const std::string& path, const std::string& new_digest) const {
  return std::any_of(records_.begin(), records_.end(), [&](const log::TakedownEntry& e) {
    return e.path() == path && e.new_digest() == new_digest;
  });
}

void RoomTakedowns::AddRecord(const log::TakedownEntry& e) {
  records_.push_back(e);
  record_seqs_ += static_cast<size_t>(e.seqs_size());
  while (records_.size() > 1 &&
         (records_.size() > kMaxRecords || record_seqs_ > kMaxRecordSeqs)) {
    record_seqs_ -= static_cast<size_t>(records_.front().seqs_size());
    records_.pop_front();
  }
}

google::protobuf::Value RoomTakedowns::Value() const {
  google::protobuf::Value v;
  auto* list = (*v.mutable_struct_value()->mutable_fields())["records"].mutable_list_value();
  for (const log::TakedownEntry& e : records_) {
    auto& f = *list->add_values()->mutable_struct_value()->mutable_fields();
    f["path"].set_string_value(e.path());
    f["old_digest"].set_string_value(e.old_digest());
    f["new_digest"].set_string_value(e.new_digest());
    f["at_ms"].set_number_value(static_cast<double>(e.at_ms()));
    f["reason"].set_string_value(e.reason());
    auto* seqs = f["seqs"].mutable_list_value();
    for (uint64_t s : e.seqs()) seqs->add_values()->set_string_value(std::to_string(s));
  }
  return v;
}

void RoomTakedowns::Checkpoint(log::ModerationCheckpoint* c) const {
  c->set_last_takedown_id(last_id_);
  for (const auto& [id, job] : jobs_) *c->add_takedowns() = job;
  for (const log::TakedownEntry& e : records_) *c->add_takedown_records() = e;
  for (const log::Takedown& t : requests_) *c->add_takedown_requests() = t;
}

absl::Status RoomTakedowns::Restore(const log::ModerationCheckpoint& c) {
  if (static_cast<size_t>(c.takedowns_size()) > kMaxJobs ||
      static_cast<size_t>(c.takedown_records_size()) > kMaxRecords ||
      static_cast<size_t>(c.takedown_requests_size()) > kMaxRequests) {
    return absl::InvalidArgumentError("checkpoint: takedowns out of range");
  }
  RoomTakedowns t;
  t.last_id_ = c.last_takedown_id();
  for (const log::TakedownJob& j : c.takedowns()) {
    if (j.request().id() == 0 || j.request().id() > t.last_id_) {
      return absl::InvalidArgumentError("checkpoint: a bad takedown job");
    }
    t.jobs_[j.request().id()] = j;
  }
  for (const log::TakedownEntry& e : c.takedown_records()) t.AddRecord(e);
  t.requests_.assign(c.takedown_requests().begin(), c.takedown_requests().end());
  *this = std::move(t);
  return absl::OkStatus();
}

}  // namespace roomcast::publisher::internal
