#include "origin/origin_server.h"

#include "base/status_macros.h"
#include "origin/internal/sweeper.h"

namespace roomcast::origin {
namespace {

// Writes are authorised from the header, before any body is read.
http::ServerOptions WithAdmission(http::ServerOptions http, Origin* origin) {
  http.admit = [origin](const http::RequestHead& req, absl::string_view remote) {
    return origin->Admit(req, remote);
  };
  return http;
}

}  // namespace

OriginServer::OriginServer(std::unique_ptr<Origin> origin,
                           const OriginServerOptions& options)
    : origin_(std::move(origin)),
      server_(std::make_unique<http::Server>(
          WithAdmission(options.http, origin_.get()),
          [o = origin_.get()](http::Request& req) { return o->Handle(req); })) {}

absl::StatusOr<std::unique_ptr<OriginServer>> OriginServer::Start(
    OriginServerOptions options) {
  ROOMCAST_ASSIGN_OR_RETURN(std::unique_ptr<Origin> origin,
                            Origin::Open(std::move(options.origin)));
  std::unique_ptr<OriginServer> s(new OriginServer(std::move(origin), options));
  ROOMCAST_RETURN_IF_ERROR(s->server_->Start());
  s->sweeper_ = std::make_unique<Sweeper>(
      options.sweep_interval, [o = s->origin_.get()] { return o->SweepExpired(); });
  return s;
}

OriginServer::~OriginServer() { Stop(); }

void OriginServer::Stop() {
  origin_->ReleaseHolds();
  server_->Stop();
  if (sweeper_) sweeper_->Stop();
}

void OriginServer::WaitForSignal(const std::function<void()>& before_stop) {
  server_->WaitForSignal([&] {
    if (before_stop) before_stop();
    origin_->ReleaseHolds();
  });
  Stop();
}

}  // namespace roomcast::origin
