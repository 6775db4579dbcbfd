// Test support: a small blocking HTTP client, and many GETs in parallel from
// one thread (curl multi) for the CDN collapsing tests, on the libcurl layer
// (http/curl.h). Failures are answers too: status 0 means no answer.
//
//   HttpResponse r = Get(origin_url + path, {"Accept-Encoding: gzip"});
//   EXPECT_EQ(r.status, 200);
//   EXPECT_EQ(r.header("cache-control"), "public, max-age=1");
#ifndef ROOMCAST_TESTS_SUPPORT_HTTP_CLIENT_H_
#define ROOMCAST_TESTS_SUPPORT_HTTP_CLIENT_H_

#include <chrono>
#include <string>
#include <vector>

#include "http/client_reply.h"

namespace roomcast::testing {

// status 0: no answer (connection failed or timed out).
struct HttpResponse : http::ClientReply {
  double seconds = 0;  // total time
  // `name` lower-cased, as tests spell it; "" if absent.
  std::string header(const std::string& name) const { return Header(name); }
};

using Headers = std::vector<std::string>;  // "Name: value"

// Sends `body` with PUT and POST only; the path goes out as written.
HttpResponse Fetch(const std::string& method, const std::string& url,
                   const std::string& body = "", const Headers& headers = {},
                   std::chrono::milliseconds timeout = std::chrono::seconds(10));
inline HttpResponse Get(const std::string& url, const Headers& headers = {}) {
  return Fetch("GET", url, "", headers);
}
inline HttpResponse Put(const std::string& url, const std::string& body,
                        const Headers& headers = {}) {
  return Fetch("PUT", url, body, headers);
}

// GETs every URL at once (one connection each) and waits for all answers.
std::vector<HttpResponse> ParallelGet(const std::vector<std::string>& urls,
                                      const Headers& headers = {},
                                      std::chrono::milliseconds timeout = std::chrono::seconds(15));

// Sends raw bytes on a fresh TCP connection to 127.0.0.1:port and returns
// what comes back before the server closes (or the timeout).
std::string RawExchange(int port, const std::string& bytes,
                        std::chrono::milliseconds timeout = std::chrono::seconds(5));

// The port of "http://127.0.0.1:PORT".
int PortOf(const std::string& url);

// The sum of a metric's samples in `server_url`/metrics (Prometheus text:
// every line named `name`, with or without labels, that contains
// `label_filter`); -1 if the server does not answer 200.
double Metric(const std::string& server_url, const std::string& name,
              const std::string& label_filter = "");

}  // namespace roomcast::testing

#endif  // ROOMCAST_TESTS_SUPPORT_HTTP_CLIENT_H_
