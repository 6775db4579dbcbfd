#include "publisher/cluster_front.h"

#include <utility>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "base/log.h"
#include "base/status_macros.h"
#include "cluster/retry.h"
#include "publisher/forward.pb.h"
#include "publisher/internal/await.h"

namespace roomcast::publisher {
namespace {

namespace asio = boost::asio;
namespace bh = boost::beast::http;

// Set on a write handed to an owner: one that finds its shard moved again
// is answered 503, never handed on a second time.
constexpr char kForwarded[] = "Roomcast-Forwarded";
// Shard leases and live publishers: KV buckets with the lease TTL.
constexpr char kLeaseBucket[] = "rc_shards";
constexpr char kMemberBucket[] = "rc_publishers";
// A cold cluster takes a few seconds to place its buckets.
constexpr std::chrono::seconds kStartBound{30};

// Where the holder of a shard's lease takes its hand-offs: named after the
// holder, so that once a lease moves nothing is sent to the old holder any
// more, even one that is paused and still subscribed.
std::string Subject(absl::string_view holder, int shard) {
  return absl::StrCat("rcfwd.", holder, ".", cluster::ShardName(shard));
}
// How long a shard's holder, once read, is trusted for routing.
constexpr absl::Duration kOwnerCacheFor = absl::Seconds(1);

// Headers that belong to one connection, not to the message.
bool HopByHop(absl::string_view name) {
  return absl::EqualsIgnoreCase(name, "connection") ||
         absl::EqualsIgnoreCase(name, "keep-alive") ||
         absl::EqualsIgnoreCase(name, "transfer-encoding") ||
         absl::EqualsIgnoreCase(name, "content-length") ||
         absl::EqualsIgnoreCase(name, "upgrade");
}

// A header that may go on the wire: a name and a value without CR, LF or
// NUL (an answer from a participant on NATS could otherwise split the
// HTTP response it is copied into).
bool SafeHeader(const fwd::Header& h) {
  auto clean = [](absl::string_view v) {
    constexpr absl::string_view kBreaks("\r\n\0", 3);
    return v.find_first_of(kBreaks) == absl::string_view::npos;
  };
  return !h.name().empty() && clean(h.name()) && clean(h.value()) && !HopByHop(h.name());
}

template <typename Fields, typename Proto>
void CopyHeaders(const Fields& from, Proto* to) {
  for (const auto& f : from) {
    const absl::string_view name(f.name_string().data(), f.name_string().size());
    if (HopByHop(name)) continue;
    fwd::Header* h = to->add_headers();
    h->set_name(std::string(f.name_string()));
    h->set_value(std::string(f.value()));
  }
}

std::string Serialize(const http::Response& res) {
  fwd::Response out;
  out.set_status(res.result_int());
  CopyHeaders(res, &out);
  out.set_body(res.body());
  return out.SerializeAsString();
}

// The request a handed-on write stands for; null if it is not one.
std::shared_ptr<http::Request> Rebuild(const fwd::Request& in) {
  const bh::verb verb = bh::string_to_verb(in.method());
  if (verb == bh::verb::unknown || in.target().empty() || in.target()[0] != '/') return nullptr;
  auto req = std::make_shared<http::Request>();
  req->method(verb);
  req->target(in.target());
  req->version(11);
  for (const fwd::Header& h : in.headers()) {
    if (SafeHeader(h)) req->insert(h.name(), h.value());
  }
  req->set(kForwarded, "1");
  req->body() = in.body();
  req->prepare_payload();
  req->remote_address = in.remote_address();
  return req;
}

// Prometheus text of one engine with shard="sNN" on each series; its HELP
// and TYPE lines only if `comments` (the first engine's stand for all).
void AppendLabelled(absl::string_view text, const std::string& shard, bool comments,
                    std::string* out) {
  for (absl::string_view line : absl::StrSplit(text, '\n', absl::SkipEmpty())) {
    if (absl::StartsWith(line, "#")) {
      if (comments) absl::StrAppend(out, line, "\n");
      continue;
    }
    const size_t brace = line.find('{');
    const size_t space = line.find(' ');
    const std::string label = absl::StrCat("shard=\"", shard, "\"");
    if (brace != absl::string_view::npos && brace < space) {
      absl::StrAppend(out, line.substr(0, brace + 1), label, ",", line.substr(brace + 1), "\n");
    } else if (space != absl::string_view::npos) {
      absl::StrAppend(out, line.substr(0, space), "{", label, "}", line.substr(space), "\n");
    }
  }
}

}  // namespace

ClusterFront::ClusterFront(ClusterOptions options, OpenEngine open)
    : options_(std::move(options)), open_(std::move(open)) {
  forwarded_out_ = &metrics_.AddCounter("roomcast_publisher_forwarded_total",
                                        "Writes handed to the owner of their room's shard");
  forwarded_in_ = &metrics_.AddCounter("roomcast_publisher_forwarded_in_total",
                                       "Writes other publishers handed here");
  forward_unavailable_ = &metrics_.AddCounter(
      "roomcast_publisher_forward_unavailable_total",
      "Handed-on writes answered 503: no owner answered in time (failover)");
  takeovers_ = &metrics_.AddCounter("roomcast_publisher_shards_taken_total",
                                    "Shards this publisher started serving");
  metrics_.AddCallbackGauge("roomcast_publisher_shards_owned", "Shards served here", [this] {
    absl::MutexLock l(&mu_);
    return static_cast<int64_t>(engines_.size());
  });
}

absl::StatusOr<std::unique_ptr<ClusterFront>> ClusterFront::Start(ClusterOptions options,
                                                                  ApiOptions api,
                                                                  OpenEngine open) {
  if (options.shards < 1 || options.shards > 1024) {
    return absl::InvalidArgumentError("shards must be 1..1024");
  }
  std::unique_ptr<ClusterFront> f(new ClusterFront(std::move(options), std::move(open)));
  const ClusterOptions& o = f->options_;
  ROOMCAST_ASSIGN_OR_RETURN(
      f->js_, cluster::JetStream::Connect(
                  {.urls = o.nats_urls, .name = absl::StrCat("roomcast-publisher ", o.holder)}));
  auto bucket = [&](const char* name) {
    return cluster::WhileUnavailable(
        [&] { return cluster::Kv::Open(*f->js_, {.bucket = name, .ttl = o.lease_ttl}); },
        kStartBound);
  };
  ROOMCAST_ASSIGN_OR_RETURN(f->leases_, bucket(kLeaseBucket));
  ROOMCAST_ASSIGN_OR_RETURN(f->members_, bucket(kMemberBucket));
  ROOMCAST_ASSIGN_OR_RETURN(f->requester_, cluster::Requester::Open(*f->js_));
  f->api_ = std::make_unique<IngestApi>(f.get(), std::move(api));
  f->work_.emplace(f->io_.get_executor());
  for (int i = 0; i < std::max(1, o.forward_threads); ++i) {
    f->io_threads_.emplace_back([io = &f->io_] { io->run(); });
  }
  ClusterFront* self = f.get();
  f->owner_ = std::make_unique<cluster::ShardOwner>(
      *f->leases_, *f->members_,
      cluster::ShardOwnerOptions{
          .holder = o.holder, .shards = o.shards, .round = o.lease_ttl / 3, .ttl = o.lease_ttl},
      cluster::ShardOwner::Callbacks{
          .acquired = [self](int s, uint64_t term, auto valid_until) {
            return self->Acquired(s, term, valid_until);
          },
          .renewed = [self](int s, auto valid_until) { self->Renewed(s, valid_until); },
          .lost = [self](int s, bool handing_back) { self->Lost(s, handing_back); },
          // A fenced log (a paused old owner appended after this engine
          // opened): reopen it, at a new term, to read what it missed.
          .usable = [self](int s) { return !self->Fenced(s); }});
  f->owner_->Start();
  return f;
}

ClusterFront::~ClusterFront() { Stop(); }

void ClusterFront::Stop() {
  if (stopped_) return;
  stopped_ = true;
  if (owner_ != nullptr) owner_->Stop();  // every engine flushed and gone
  requester_.reset();                     // pending hand-offs fail (503)
  work_.reset();
  for (std::thread& t : io_threads_) t.join();  // handed-on writes finished
  io_threads_.clear();
}

std::vector<int> ClusterFront::owned_shards() {
  absl::MutexLock l(&mu_);
  std::vector<int> out;
  for (const auto& [shard, e] : engines_) out.push_back(shard);
  return out;
}

absl::Status ClusterFront::Acquired(int shard, uint64_t term,
                                    std::chrono::steady_clock::time_point valid_until) {
  const std::string name = cluster::ShardName(shard);
  ROOMCAST_ASSIGN_OR_RETURN(std::shared_ptr<Publisher> engine,
                            open_(shard, term, valid_until, *js_));
  engine->StartTicker();
  {
    absl::MutexLock l(&mu_);
    engines_[shard].publisher = engine;
  }
  // Served here from now on: hand-offs of its writes come in too.
  absl::StatusOr<std::unique_ptr<cluster::Responder>> responder = cluster::Responder::Serve(
      *js_, Subject(options_.holder, shard), "owner", [this](std::string request, cluster::Responder::Reply reply) {
        ServeForwarded(std::move(request), std::move(reply));
      });
  if (!responder.ok()) {
    absl::MutexLock l(&mu_);
    engines_.erase(shard);
    return responder.status();
  }
  {
    absl::MutexLock l(&mu_);
    engines_[shard].responder = *std::move(responder);
  }
  takeovers_->Add();
  ROOMCAST_LOG(kInfo, "cluster", "shard_serving").Kv("shard", name).Kv("term", term);
  return absl::OkStatus();
}

void ClusterFront::Renewed(int shard, std::chrono::steady_clock::time_point valid_until) {
  absl::MutexLock l(&mu_);
  auto it = engines_.find(shard);
  if (it != engines_.end()) it->second.publisher->SetValidUntil(valid_until);
}

void ClusterFront::Lost(int shard, bool handing_back) {
  Engine e;
  {
    absl::MutexLock l(&mu_);
    auto it = engines_.find(shard);
    if (it == engines_.end()) return;
    e = std::move(it->second);
    engines_.erase(it);
  }
  e.responder.reset();  // no more hand-offs; those taken are answered
  if (handing_back) {
    absl::Status flushed = e.publisher->Flush(options_.handback_flush_ms);
    ROOMCAST_LOG(kInfo, "cluster", "shard_handed_back")
        .Kv("shard", cluster::ShardName(shard))
        .Kv("flush", flushed.ok() ? "complete" : std::string(flushed.message()));
  } else {
    // Someone else may own it already: stop publishing now. Its log is
    // fenced, so nothing it still tries to append lands.
    e.publisher->StopTicker();
    ROOMCAST_LOG(kWarning, "cluster", "shard_lost").Kv("shard", cluster::ShardName(shard));
  }
  // The engine goes when the last request holding it has its answer.
}

bool ClusterFront::Fenced(int shard) {
  absl::MutexLock l(&mu_);
  auto it = engines_.find(shard);
  return it != engines_.end() && it->second.publisher->fenced();
}

std::shared_ptr<Publisher> ClusterFront::Local(const std::string& room) {
  const int shard = cluster::ShardOf(room, options_.shards);
  absl::MutexLock l(&mu_);
  auto it = engines_.find(shard);
  return it == engines_.end() ? nullptr : it->second.publisher;
}

asio::awaitable<http::Response> ClusterFront::Forward(http::Request& req,
                                                      const std::string& room) {
  const int shard = cluster::ShardOf(room, options_.shards);
  if (req.count(kForwarded) > 0) {
    co_return ErrorFor(req, absl::UnavailableError(absl::StrCat(
                                "shard ", cluster::ShardName(shard), " is moving; retry")));
  }
  fwd::Request out;
  out.set_method(std::string(req.method_string()));
  out.set_target(std::string(req.target()));
  CopyHeaders(req, &out);
  out.set_body(req.body());
  out.set_remote_address(req.remote_address);
  absl::StatusOr<std::string> holder = OwnerOf(shard);
  if (!holder.ok()) co_return ErrorFor(req, holder.status());
  forwarded_out_->Add();
  absl::StatusOr<std::string> answer = co_await internal::Await<std::string>([&](auto cb) {
    requester_->Request(Subject(*holder, shard), out.SerializeAsString(),
                        options_.forward_timeout, std::move(cb));
  });
  if (absl::IsUnavailable(answer.status())) ForgetOwner(shard);
  fwd::Response in;
  if (answer.ok() && !in.ParseFromString(*answer)) {
    answer = absl::InternalError("the owner's answer does not parse");
  }
  if (!answer.ok()) {
    if (absl::IsUnavailable(answer.status())) forward_unavailable_->Add();
    co_return ErrorFor(req, absl::Status(answer.status().code(),
                                         absl::StrCat("shard ", cluster::ShardName(shard), ": ",
                                                      answer.status().message())));
  }
  http::Response res;
  res.version(req.version());
  res.keep_alive(req.keep_alive());
  res.result(in.status());
  for (const fwd::Header& h : in.headers()) {
    if (SafeHeader(h)) res.insert(h.name(), h.value());
  }
  res.body() = in.body();
  res.prepare_payload();
  co_return res;
}

absl::StatusOr<std::string> ClusterFront::OwnerOf(int shard) {
  const absl::Time now = absl::Now();
  {
    absl::MutexLock l(&mu_);
    auto it = owners_.find(shard);
    if (it != owners_.end() && now - it->second.read < kOwnerCacheFor) return it->second.holder;
  }
  absl::StatusOr<cluster::KvEntry> lease =
      leases_->Get(absl::StrCat("shard.", cluster::ShardName(shard)));
  if (!lease.ok()) {
    return absl::UnavailableError(absl::StrCat("shard ", cluster::ShardName(shard),
                                               " has no owner right now (failover); retry"));
  }
  absl::MutexLock l(&mu_);
  owners_[shard] = {lease->value, now};
  return lease->value;
}

void ClusterFront::ForgetOwner(int shard) {
  absl::MutexLock l(&mu_);
  owners_.erase(shard);
}

void ClusterFront::ServeForwarded(std::string request, cluster::Responder::Reply reply) {
  fwd::Request in;
  std::shared_ptr<http::Request> req;
  if (in.ParseFromString(request)) req = Rebuild(in);
  if (req == nullptr) {
    http::RequestHead head;
    return reply(Serialize(
        ErrorFor(head, absl::InvalidArgumentError("not a handed-on request"))));
  }
  // Authorised again here, as a request straight from its sender would be.
  http::Admission admitted = api_->Admit(*req, req->remote_address);
  if (admitted.refusal) return reply(Serialize(*admitted.refusal));
  if (req->body().size() > admitted.max_body_bytes) {
    return reply(Serialize(ErrorFor(*req, absl::OutOfRangeError("the body is too large"))));
  }
  forwarded_in_->Add();
  asio::co_spawn(
      io_,
      [this, req, reply = std::move(reply)]() -> asio::awaitable<void> {
        http::Response res = co_await api_->Handle(*req);
        reply(Serialize(res));
      },
      asio::detached);
}

bool ClusterFront::healthy() {
  absl::MutexLock l(&mu_);
  for (const auto& [shard, e] : engines_) {
    if (!e.publisher->healthy()) return false;
  }
  return js_->connected();
}

std::string ClusterFront::RenderMetrics() {
  std::string out = metrics_.Render();
  std::vector<std::pair<int, std::shared_ptr<Publisher>>> engines;
  {
    absl::MutexLock l(&mu_);
    for (const auto& [shard, e] : engines_) engines.emplace_back(shard, e.publisher);
  }
  bool first = true;
  for (const auto& [shard, engine] : engines) {
    AppendLabelled(engine->metrics().Render(), cluster::ShardName(shard), first, &out);
    first = false;
  }
  return out;
}

}  // namespace roomcast::publisher
