// An HTTP response as roomcast's clients receive it (the publisher's
// uploader, the client library, the CLI and the tests): the status, the
// headers by lower-cased name, and the body, plus typed views of the few
// headers clients act on. The libcurl layer (http/curl.h) fills it, one
// header line at a time, with AddHeaderLine. (The server side answers with
// http::Response, Beast's type, in http/server.h.)
//
//   http::ClientReply r = ...;  // from http::Transfer
//   if (r.status == 404 && r.MaxAge() >= 10) return NotFound();  // "never"
//   if (std::optional<std::chrono::milliseconds> w = r.RetryAfter()) Wait(*w);
#ifndef ROOMCAST_HTTP_CLIENT_REPLY_H_
#define ROOMCAST_HTTP_CLIENT_REPLY_H_

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>

#include "absl/strings/string_view.h"

namespace roomcast::http {

struct ClientReply {
  int status = 0;  // 0: no answer yet
  // Names lower-cased; a repeated header's values joined with ", "
  // (RFC 9110 §5.3), values without surrounding whitespace.
  std::map<std::string, std::string> headers;
  // As received: decoded only if the request asked libcurl to
  // (ClientRequest::accept_encoding).
  std::string body;

  // The value of header `name` (any case), or "" if absent.
  std::string Header(absl::string_view name) const;
  // Cache-Control's max-age in seconds, or -1 if it has none.
  int64_t MaxAge() const;
  // The Age header: seconds a cache has kept this answer; 0 if absent.
  int64_t AgeSeconds() const;
  // The Date header as unix ms, if present and an HTTP-date.
  std::optional<int64_t> DateMs() const;
  // The wait the server asked for in Retry-After, as delta-seconds or an
  // HTTP-date (RFC 9110 §10.2.3), never negative; nullopt if it asked none.
  std::optional<std::chrono::milliseconds> RetryAfter() const;
};

// Adds one raw header line, as libcurl hands them over ("Name: value\r\n"),
// to `reply`. A status line ("HTTP/1.1 200 OK") starts a new header block,
// so the headers of an interim response (100 Continue) are dropped; a line
// without a colon (the blank end of the block) is ignored.
void AddHeaderLine(absl::string_view line, ClientReply* reply);

}  // namespace roomcast::http

#endif  // ROOMCAST_HTTP_CLIENT_REPLY_H_
