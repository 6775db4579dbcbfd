#include "publisher/server.h"

#include <utility>

#include "base/status_macros.h"
#include "http/server.h"
#include "publisher/api.h"
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
  ROOMCAST_ASSIGN_OR_RETURN(
      publisher_,
      Publisher::Open(options_.publisher, options_.clock, uploader_.get()));
  publisher_->StartTicker();
  api_ = std::make_unique<IngestApi>(
      publisher_.get(), ApiOptions{.jwt_secret = options_.jwt_secret,
                                   .clock = options_.clock,
                                   .limits = options_.publisher.limits,
                                   .max_body_bytes = options_.max_body_bytes});
  // Senders are authorised from the header: nothing of a body is read for
  // a request without a valid token.
  http::ServerOptions http{.listen = options_.listen,
                           .threads = options_.threads,
                           .max_body_bytes = options_.max_body_bytes,
                           .max_connections = options_.max_connections,
                           .max_connections_per_address = options_.max_connections_per_address};
  http.admit = [api = api_.get()](const http::RequestHead& req, absl::string_view remote) {
    return api->Admit(req, remote);
  };
  server_ = std::make_unique<http::Server>(
      std::move(http), [api = api_.get()](http::Request& req) { return api->Handle(req); });
  return server_->Start();
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
  server_.reset();
  api_.reset();
  publisher_.reset();
  uploader_.reset();
  return flushed;
}

}  // namespace roomcast::publisher
