#include "client/fetch.h"

#include <optional>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "client/internal/http_loop.h"
#include "client/internal/retry.h"
#include "segmenter/naming.h"

namespace roomcast::client {
namespace {

// Passing trouble at a server or cache; a 500 is an answer.
bool IsPassing(int status) {
  return status == 502 || status == 503 || status == 504 || status == 429;
}

}  // namespace

std::string EtagDigest(const http::ClientReply& reply) {
  const std::string etag = reply.Header("etag");
  absl::string_view e = etag;
  absl::ConsumePrefix(&e, "W/");
  absl::ConsumePrefix(&e, "\"");
  absl::ConsumeSuffix(&e, "\"");
  absl::ConsumeSuffix(&e, ".gz");
  return std::string(e);
}

absl::StatusOr<http::ClientReply> FetchOnce(const std::string& url,
                                            const std::vector<std::string>& headers,
                                            std::chrono::milliseconds timeout) {
  return SendOnce("GET", url, "", headers, timeout);
}

absl::StatusOr<http::ClientReply> SendOnce(const std::string& method, const std::string& url,
                                           std::string body,
                                           const std::vector<std::string>& headers,
                                           std::chrono::milliseconds timeout) {
  internal::HttpLoop loop;
  std::optional<internal::HttpReply> got;
  loop.Fetch({.url = url, .headers = headers, .timeout = timeout, .method = method,
              .body = std::move(body)},
             [&](internal::HttpReply r) { got = std::move(r); });
  const auto until = std::chrono::steady_clock::now() + timeout + std::chrono::seconds(1);
  while (!got && std::chrono::steady_clock::now() < until) loop.RunOnce(until);
  if (!got || got->status == 0) {
    return absl::UnavailableError(
        absl::StrCat(url, ": ", got ? got->error : std::string("no answer")));
  }
  http::ClientReply reply = std::move(*got);  // without the loop's timing
  return reply;
}

absl::StatusOr<http::ClientReply> FetchClosed(
    const std::string& url, std::chrono::steady_clock::time_point deadline) {
  internal::Backoff backoff(std::chrono::milliseconds(5000));
  absl::Status last = absl::DeadlineExceededError(absl::StrCat(url, ": no time left"));
  while (std::chrono::steady_clock::now() < deadline) {
    absl::StatusOr<http::ClientReply> f = FetchOnce(url);
    std::chrono::milliseconds wait;
    if (!f.ok()) {
      last = f.status();
      wait = backoff.Next();
    } else if (f->status == 200) {
      return f;
    } else if (f->status == 404 && f->MaxAge() >= 10) {
      return absl::NotFoundError(absl::StrCat(url, ": not found (and never will be)"));
    } else if (f->status == 404) {
      last = absl::DeadlineExceededError(absl::StrCat(url, ": still not there"));
      wait = internal::NotYetPause();  // not yet: a short pause, never a tight loop
    } else if (IsPassing(f->status)) {
      last = absl::UnavailableError(absl::StrCat(url, ": HTTP ", f->status));
      wait = backoff.Next();
    } else {
      return absl::FailedPreconditionError(absl::StrCat(url, ": HTTP ", f->status));
    }
    std::this_thread::sleep_for(wait);
  }
  return last;
}

absl::StatusOr<v1::Manifest> FetchManifest(const std::string& base_url,
                                           const std::string& room) {
  auto f = FetchOnce(base_url + segmenter::ManifestPath(room));
  if (!f.ok()) return f.status();
  if (f->status == 404) return absl::NotFoundError(absl::StrCat("no room ", room));
  if (f->status != 200) {
    return absl::UnavailableError(absl::StrCat("manifest of ", room, ": HTTP ", f->status));
  }
  v1::Manifest m;
  if (!m.ParseFromString(f->body)) {
    return absl::DataLossError(absl::StrCat("manifest of ", room, " does not parse"));
  }
  return m;
}

}  // namespace roomcast::client
