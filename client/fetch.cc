#include "client/fetch.h"

#include <random>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "client/internal/http_loop.h"
#include "segmenter/naming.h"

namespace roomcast::client {
namespace {

std::chrono::milliseconds Jitter(int64_t lo, int64_t hi) {
  thread_local std::mt19937_64 rng(std::random_device{}());
  return std::chrono::milliseconds(std::uniform_int_distribution<int64_t>(lo, hi)(rng));
}

}  // namespace

int64_t Fetched::MaxAge() const {
  internal::HttpReply r;
  r.cache_control = cache_control;
  return r.MaxAge();
}

std::string Fetched::EtagDigest() const {
  absl::string_view e = etag;
  absl::ConsumePrefix(&e, "W/");
  absl::ConsumePrefix(&e, "\"");
  absl::ConsumeSuffix(&e, "\"");
  absl::ConsumeSuffix(&e, ".gz");
  return std::string(e);
}

absl::StatusOr<Fetched> FetchOnce(const std::string& url,
                                  const std::vector<std::string>& headers,
                                  std::chrono::milliseconds timeout) {
  return SendOnce("GET", url, "", headers, timeout);
}

absl::StatusOr<Fetched> SendOnce(const std::string& method, const std::string& url,
                                 std::string body, const std::vector<std::string>& headers,
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
  Fetched f;
  f.status = got->status;
  f.body = std::move(got->body);
  f.etag = std::move(got->etag);
  f.cache_control = std::move(got->cache_control);
  f.content_encoding = std::move(got->content_encoding);
  f.date_ms = got->date_ms;
  f.age_s = got->age_s;
  return f;
}

absl::StatusOr<Fetched> FetchClosed(const std::string& url,
                                    std::chrono::steady_clock::time_point deadline) {
  int attempts = 0;
  absl::Status last = absl::DeadlineExceededError(absl::StrCat(url, ": no time left"));
  while (std::chrono::steady_clock::now() < deadline) {
    absl::StatusOr<Fetched> f = FetchOnce(url);
    std::chrono::milliseconds wait;
    if (!f.ok()) {
      last = f.status();
      wait = Jitter(100, std::min<int64_t>(5000, 200LL << std::min(attempts++, 10)));
    } else if (f->status == 200) {
      return f;
    } else if (f->status == 404 && f->MaxAge() >= 10) {
      return absl::NotFoundError(absl::StrCat(url, ": not found (and never will be)"));
    } else if (f->status == 404) {
      last = absl::DeadlineExceededError(absl::StrCat(url, ": still not there"));
      wait = Jitter(100, 250);  // not yet: a short pause, never a tight loop
    } else if (f->status == 502 || f->status == 503 || f->status == 504 ||
               f->status == 429) {  // passing trouble; a 500 is an answer
      last = absl::UnavailableError(absl::StrCat(url, ": HTTP ", f->status));
      wait = Jitter(100, std::min<int64_t>(5000, 200LL << std::min(attempts++, 10)));
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
