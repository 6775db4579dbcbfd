#include "publisher/server.h"

#include <utility>

#include "base/status_macros.h"
#include "http/server.h"
#include "publisher/api.h"
#include "publisher/cluster_front.h"
#include "publisher/internal/jetstream_log.h"
#include "publisher/curl_uploader.h"
#include "publisher/publisher.h"

namespace roomcast::publisher {

PublisherServer::PublisherServer(PublisherServerOptions options)
    : options_(std::move(options)) {
  if (options_.clock == nullptr) options_.clock = &system_clock_;
  if (options_.publisher.hint_master_secret.empty()) {
    options_.publisher.hint_master_secret =
        DeriveHintMaster(options_.jwt_secret);
  }
}

PublisherServer::~PublisherServer() { Stop().IgnoreError(); }

absl::Status PublisherServer::Start() {
  uploader_ = std::make_unique<CurlUploader>(UploadOptions{
      .base_url = options_.origin_url, .write_secret = options_.write_secret});
  const ApiOptions api{.jwt_secret = options_.jwt_secret,
                       .clock = options_.clock,
                       .limits = options_.publisher.limits,
                       .max_body_bytes = options_.max_body_bytes};
  IngestApi* serving = nullptr;
  if (!options_.nats_urls.empty()) {
    ROOMCAST_RETURN_IF_ERROR(StartCluster(api));
    serving = &front_->api();
  } else {
    ROOMCAST_ASSIGN_OR_RETURN(
        publisher_, Publisher::Open(options_.publisher, options_.clock, uploader_.get()));
    publisher_->StartTicker();
    api_ = std::make_unique<IngestApi>(publisher_.get(), api);
    serving = api_.get();
  }
  // Senders are authorised from the header: nothing of a body is read for
  // a request without a valid token.
  http::ServerOptions http{.listen = options_.listen,
                           .threads = options_.threads,
                           .max_body_bytes = options_.max_body_bytes,
                           .max_connections = options_.max_connections,
                           .max_connections_per_address = options_.max_connections_per_address};
  http.admit = [serving](const http::RequestHead& req, absl::string_view remote) {
    return serving->Admit(req, remote);
  };
  server_ = std::make_unique<http::Server>(
      std::move(http), [serving](http::Request& req) { return serving->Handle(req); });
  return server_->Start();
}

// One engine per shard this process comes to own, each on the shard's
// replicated log, opened at the lease's term (its fence).
absl::Status PublisherServer::StartCluster(const ApiOptions& api) {
  ClusterOptions cluster{.nats_urls = options_.nats_urls,
                         .holder = options_.publisher.id,
                         .shards = options_.shards,
                         .lease_ttl = std::chrono::milliseconds(options_.lease_ttl_ms),
                         // Each shard a part of the stop's flush; the next
                         // owner re-publishes the rest from the log.
                         .handback_flush_ms = std::min<int64_t>(options_.flush_ms, 1000)};
  ROOMCAST_ASSIGN_OR_RETURN(
      front_,
      ClusterFront::Start(
          std::move(cluster), api,
          [this](int shard, uint64_t term, std::chrono::steady_clock::time_point valid_until,
                 cluster::JetStream& js) -> absl::StatusOr<std::shared_ptr<Publisher>> {
            const std::string name = cluster::ShardName(shard);
            ROOMCAST_ASSIGN_OR_RETURN(
                std::unique_ptr<internal::JetStreamLog> log,
                internal::JetStreamLog::Open({.js = &js, .shard = name, .term = term}));
            PublisherOptions engine = options_.publisher;
            engine.id = name;  // its watermark and manifests, whoever owns it
            // An uploader of its own: a hand-back's flush ends its uploads
            // by a deadline, which must not end the other engines'.
            auto uploader = std::make_unique<CurlUploader>(UploadOptions{
                .base_url = options_.origin_url, .write_secret = options_.write_secret});
            uploader->SetValidUntil(valid_until);
            ROOMCAST_ASSIGN_OR_RETURN(
                std::unique_ptr<Publisher> opened,
                Publisher::Open(std::move(engine), options_.clock, uploader.get(),
                                std::move(log)));
            return std::shared_ptr<Publisher>(
                opened.release(), [up = uploader.release()](Publisher* p) {
                  delete p;  // before the uploader it uses
                  delete up;
                });
          }));
  return absl::OkStatus();
}

std::string PublisherServer::url() const {
  return server_ == nullptr ? "" : server_->url();
}

void PublisherServer::WaitForSignal() {
  if (server_ != nullptr) server_->WaitForSignal();
}

absl::Status PublisherServer::Stop() {
  if (server_ != nullptr) server_->Stop();  // in-flight requests drain
  absl::Status flushed;
  if (publisher_ != nullptr) flushed = publisher_->Flush(options_.flush_ms);
  if (front_ != nullptr) front_->Stop();  // each shard flushed and handed back
  server_.reset();
  api_.reset();
  publisher_.reset();
  front_.reset();
  uploader_.reset();
  return flushed;
}

}  // namespace roomcast::publisher
