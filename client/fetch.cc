#include "client/fetch.h"

#include <optional>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "client/internal/http_loop.h"
#include "client/internal/retry.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"

namespace roomcast::client {
namespace {

// Passing trouble at a server or cache; a 500 is an answer.
bool IsPassing(int status) {
  return status == 502 || status == 503 || status == 504 || status == 429;
}

bool IsRefusal(int status) { return status == 401 || status == 403; }

// The "detail" of an error body ({"error": ..., "detail": ...}), else "".
std::string ErrorDetail(const std::string& body) {
  google::protobuf::Struct error;
  if (!google::protobuf::util::JsonStringToMessage(body, &error).ok()) return "";
  auto it = error.fields().find("detail");
  return it == error.fields().end() ? "" : it->second.string_value();
}

}  // namespace

absl::Status RefusalOf(const http::ClientReply& reply, absl::string_view what) {
  std::string message = absl::StrCat(what, ": HTTP ", reply.status);
  if (std::string detail = ErrorDetail(reply.body); !detail.empty()) {
    absl::StrAppend(&message, ": ", detail);
  }
  return reply.status == 401 ? absl::UnauthenticatedError(message)
                             : absl::PermissionDeniedError(message);
}

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
    const std::string& url, std::chrono::steady_clock::time_point deadline,
    const std::vector<std::string>& headers) {
  internal::Backoff backoff(std::chrono::milliseconds(5000));
  absl::Status last = absl::DeadlineExceededError(absl::StrCat(url, ": no time left"));
  while (std::chrono::steady_clock::now() < deadline) {
    absl::StatusOr<http::ClientReply> f = FetchOnce(url, headers);
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
    } else if (IsRefusal(f->status)) {
      return RefusalOf(*f, url);
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
                                           const RoomAccess& room) {
  auto f = FetchOnce(base_url + room.ManifestPath(), room.Headers());
  if (!f.ok()) return f.status();
  const std::string& id = room.room;
  if (f->status == 404 && room.is_private()) {
    return absl::NotFoundError(absl::StrCat("no private room ", id));
  }
  if (f->status == 404) {
    return absl::NotFoundError(
        absl::StrCat("no room ", id, " (a private room needs its edge token)"));
  }
  if (IsRefusal(f->status)) return RefusalOf(*f, absl::StrCat("manifest of ", id));
  if (f->status != 200) {
    return absl::UnavailableError(absl::StrCat("manifest of ", id, ": HTTP ", f->status));
  }
  v1::Manifest m;
  if (!m.ParseFromString(f->body)) {
    return absl::DataLossError(absl::StrCat("manifest of ", id, " does not parse"));
  }
  return m;
}

}  // namespace roomcast::client
