// "http://HOST:PORT/PATH" split for the load tools (plain HTTP only: the
// tools talk to an origin or a cache on loopback, never through TLS).
#ifndef ROOMCAST_BENCH_LOAD_HTTP_URL_H_
#define ROOMCAST_BENCH_LOAD_HTTP_URL_H_

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace roomcast::bench {

struct HttpUrl {
  std::string host;
  uint16_t port = 80;
  std::string target = "/";  // path and query
  // "HOST:PORT" for the Host header.
  std::string authority() const;
};

// kInvalidArgument unless `url` is http://HOST[:PORT][/TARGET].
absl::StatusOr<HttpUrl> ParseHttpUrl(absl::string_view url);

}  // namespace roomcast::bench

#endif  // ROOMCAST_BENCH_LOAD_HTTP_URL_H_
