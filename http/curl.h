// libcurl for every roomcast HTTP client (the publisher's uploader, the
// client library's event loop, the demo traffic and the tests): owners of
// libcurl's handles, one description of a request, and one Transfer that
// sets a handle up for a request and collects its ClientReply. libcurl's
// options, response parsing and transport errors live here once.
//
// A handle keeps its connection (and DNS cache) between transfers, so reuse
// one CurlEasy for sequential requests to the same server. A Transfer is
// one request on one handle; neither may be given to two threads at once.
//
//   http::CurlEasy easy = http::NewCurlEasy();
//   // An error is a transport failure; any HTTP status is a reply.
//   absl::StatusOr<http::ClientReply> r =
//       http::Transfer(easy.get(), {.method = "PUT", .url = url,
//                                   .headers = {"Content-Type: text/plain"},
//                                   .body = bytes, .timeout = 5s})
//           .Perform();
//
// On a multi handle (many transfers on one thread), add t.easy() to the
// CurlMulti and call t.Finish(code) once libcurl reports it done.
#ifndef ROOMCAST_HTTP_CURL_H_
#define ROOMCAST_HTTP_CURL_H_

#include <curl/curl.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "http/client_reply.h"

namespace roomcast::http {

struct CurlEasyDeleter {
  void operator()(CURL* easy) const { curl_easy_cleanup(easy); }
};
struct CurlMultiDeleter {
  void operator()(CURLM* multi) const { curl_multi_cleanup(multi); }
};
using CurlEasy = std::unique_ptr<CURL, CurlEasyDeleter>;
// Remove every easy handle from a multi before it goes.
using CurlMulti = std::unique_ptr<CURLM, CurlMultiDeleter>;

// New handles (libcurl initialised once per process first); null only if
// libcurl is out of memory.
CurlEasy NewCurlEasy();
CurlMulti NewCurlMulti();

// A request header list (curl_slist), freed with the object.
class CurlHeaders {
 public:
  // "Name: value"; "Name:" drops a header libcurl would add itself.
  void Append(const std::string& line);
  curl_slist* get() const { return list_.get(); }

 private:
  struct Free {
    void operator()(curl_slist* l) const { curl_slist_free_all(l); }
  };
  std::unique_ptr<curl_slist, Free> list_;
};

struct ClientRequest {
  std::string method = "GET";  // HEAD asks for headers only
  std::string url;
  std::vector<std::string> headers;  // "Name: value"
  // Sent with Content-Length when set, even empty. Read in place, so the
  // bytes must outlive the transfer; libcurl sends them again if a kept-alive
  // connection turns out dead. Never with "Expect: 100-continue" (a round
  // trip for nothing: our servers answer from the headers).
  std::optional<absl::string_view> body;
  std::chrono::milliseconds connect_timeout{0};  // 0: libcurl's own
  std::chrono::milliseconds timeout{0};          // whole exchange; 0: none
  std::string user_agent;                        // empty: none sent
  // Offered in Accept-Encoding ("gzip") with the body decoded; empty: no
  // Accept-Encoding from libcurl, the body as sent.
  std::string accept_encoding;
  // Sends the path as written, "../" included (tests of path checks).
  bool path_as_is = false;
  // A reply whose body (after decoding) or headers grow past these is cut
  // off with kResourceExhausted: a hostile or broken server cannot make a
  // caller buffer without end within the timeout.
  size_t max_reply_body_bytes = size_t{64} << 20;
  size_t max_reply_header_bytes = size_t{64} << 10;
  // Set: a 2xx reply's body (decoded) goes here as libcurl delivers it,
  // piece by piece, instead of into ClientReply::body (a streamed segment,
  // DESIGN §10, is read as it grows). It runs inside libcurl (on the thread
  // driving the transfer): copy, do not call back into libcurl. The body
  // limit above still counts these bytes. Other statuses' bodies (error
  // JSON) are collected as usual.
  std::function<void(absl::string_view)> body_sink;
  // steady_clock ns, which another thread may move (a shutdown): once the
  // clock passes it the transfer is aborted, within about a second even on
  // a silent connection, with kDeadlineExceeded. Null: no such deadline.
  const std::atomic<int64_t>* shutdown_deadline_ns = nullptr;
};

class Transfer {
 public:
  // Sets `easy` up for `request` after curl_easy_reset (which keeps its
  // connection). `easy` and the body's bytes must outlive the Transfer.
  Transfer(CURL* easy, const ClientRequest& request);
  ~Transfer();
  // libcurl holds pointers into it.
  Transfer(const Transfer&) = delete;
  Transfer& operator=(const Transfer&) = delete;

  CURL* easy() const { return easy_; }

  // Runs the exchange on this thread; Finish of its outcome.
  absl::StatusOr<ClientReply> Perform();
  // The reply once libcurl ended the transfer with `code`; call once.
  // Errors are transport failures only: kDeadlineExceeded (timed out or
  // past the shutdown deadline), kInvalidArgument (a bad URL),
  // kFailedPrecondition (TLS trust), kUnavailable (refused, reset, ...),
  // kResourceExhausted (a reply past the request's limits).
  absl::StatusOr<ClientReply> Finish(CURLcode code);

 private:
  static size_t OnHeader(char* data, size_t size, size_t n, void* self);
  static size_t OnBody(char* data, size_t size, size_t n, void* self);
  static int OnProgress(void* self, curl_off_t, curl_off_t, curl_off_t,
                        curl_off_t);
  void SetConnection(const ClientRequest& request);
  void SetCallbacks();
  void SetMethod(const ClientRequest& request);
  void SetHeaders(const ClientRequest& request);
  bool SuccessSoFar() const;  // the reply's status (known once bodies flow)

  CURL* easy_;
  const std::string what_;  // "GET http://...", for messages
  const std::atomic<int64_t>* shutdown_deadline_ns_;
  const size_t max_body_bytes_;
  const size_t max_header_bytes_;
  const std::function<void(absl::string_view)> body_sink_;
  size_t body_bytes_ = 0;
  size_t header_bytes_ = 0;
  bool too_big_ = false;  // a limit cut the reply off
  CurlHeaders headers_;
  ClientReply reply_;
  char error_[CURL_ERROR_SIZE] = "";
};

}  // namespace roomcast::http

#endif  // ROOMCAST_HTTP_CURL_H_
