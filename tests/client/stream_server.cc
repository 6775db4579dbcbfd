#include "tests/client/stream_server.h"

#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "absl/strings/numbers.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "absl/time/time.h"

namespace roomcast::testing {
namespace {

bool SendAll(int fd, absl::string_view bytes) {
  while (!bytes.empty()) {
    const ssize_t n = send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL);
    if (n <= 0) return false;
    bytes.remove_prefix(static_cast<size_t>(n));
  }
  return true;
}

// The request line's target, once the head is in; "" on trouble.
std::string ReadTarget(int fd) {
  std::string head;
  char buf[4096];
  for (int waits = 0; head.find("\r\n\r\n") == std::string::npos; ++waits) {
    pollfd p{fd, POLLIN, 0};
    if (waits > 100 || poll(&p, 1, 50) < 0) return "";
    if (p.revents == 0) continue;
    const ssize_t n = recv(fd, buf, sizeof buf, 0);
    if (n <= 0) return "";
    head.append(buf, static_cast<size_t>(n));
  }
  std::vector<std::string> parts = absl::StrSplit(head.substr(0, head.find("\r\n")), ' ');
  return parts.size() >= 2 ? parts[1] : "";
}

// k of ".../actions/{D}/{k}.pb", or -1.
int64_t BucketOf(absl::string_view target) {
  const size_t at = target.find("/actions/");
  if (at == absl::string_view::npos || !absl::EndsWith(target, ".pb")) return -1;
  absl::string_view rest = target.substr(0, target.size() - 3);
  rest = rest.substr(rest.rfind('/') + 1);
  int64_t k = -1;
  return absl::SimpleAtoi(rest, &k) ? k : -1;
}

}  // namespace

StreamServer::StreamServer(std::function<std::string()> manifest)
    : manifest_(std::move(manifest)) {
  listen_fd_ = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  if (bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), len) != 0 ||
      listen(listen_fd_, 64) != 0 ||
      getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    ADD_FAILURE() << "cannot listen on 127.0.0.1";
  }
  port_ = ntohs(addr.sin_port);
  accept_thread_ = std::thread([this] { AcceptLoop(); });
}

StreamServer::~StreamServer() {
  {
    absl::MutexLock l(&mu_);
    stop_ = true;
  }
  accept_thread_.join();
  std::vector<std::thread> threads;
  {
    absl::MutexLock l(&mu_);
    threads.swap(conn_threads_);
  }
  for (std::thread& t : threads) t.join();
  close(listen_fd_);
}

std::string StreamServer::url() const { return absl::StrCat("http://127.0.0.1:", port_); }

void StreamServer::AcceptLoop() {
  for (;;) {
    {
      absl::MutexLock l(&mu_);
      if (stop_) return;
    }
    pollfd p{listen_fd_, POLLIN, 0};
    if (poll(&p, 1, 50) <= 0) continue;
    const int fd = accept(listen_fd_, nullptr, nullptr);
    if (fd < 0) continue;
    absl::MutexLock l(&mu_);
    conn_threads_.emplace_back([this, fd] {
      Serve(fd);
      close(fd);
    });
  }
}

// One request a connection (Connection: close keeps it simple).
void StreamServer::Serve(int fd) {
  const std::string target = ReadTarget(fd);
  if (target.empty()) return;
  if (absl::EndsWith(target, "/manifest.pb")) {
    const std::string body = manifest_();
    SendAll(fd, absl::StrCat("HTTP/1.1 200 OK\r\nContent-Type: application/x-protobuf\r\n"
                             "Cache-Control: public, max-age=1\r\nContent-Length: ",
                             body.size(), "\r\nConnection: close\r\n\r\n", body));
    return;
  }
  if (const int64_t k = BucketOf(target); k >= 0) {
    ServeBucket(fd, k);
    return;
  }
  SendAll(fd, "HTTP/1.1 404 Not Found\r\nCache-Control: public, max-age=1\r\n"
              "Content-Length: 0\r\nConnection: close\r\n\r\n");
}

void StreamServer::ServeBucket(int fd, int64_t k) {
  int cuts = 0;
  bool not_yet = false;
  {
    absl::MutexLock l(&mu_);
    Bucket& b = buckets_[k];
    ++b.requests;
    cuts = b.cuts;
    if (first_bucket_ < 0) first_bucket_ = k;
    not_yet = not_yet_ && not_yet_(k);
  }
  if (not_yet) {
    SendAll(fd, "HTTP/1.1 404 Not Found\r\nCache-Control: public, max-age=1\r\n"
                "Content-Length: 0\r\nConnection: close\r\n\r\n");
    return;
  }
  if (!SendAll(fd, "HTTP/1.1 200 OK\r\nContent-Type: application/x-protobuf\r\n"
                   "Cache-Control: public, max-age=31536000, immutable\r\n"
                   "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n")) {
    return;
  }
  size_t sent = 0;
  for (;;) {
    std::vector<std::string> fresh;
    bool ended = false;
    {
      absl::MutexLock l(&mu_);
      Bucket& b = buckets_[k];
      auto moved = [&] {
        return stop_ || b.cuts != cuts || b.ended || b.chunks.size() > sent;
      };
      mu_.AwaitWithTimeout(absl::Condition(&moved), absl::Milliseconds(100));
      if (stop_ || b.cuts != cuts) return;  // closed without the last chunk
      fresh.assign(b.chunks.begin() + static_cast<ptrdiff_t>(sent), b.chunks.end());
      sent = b.chunks.size();
      ended = b.ended;
    }
    for (const std::string& c : fresh) {
      if (c.empty()) continue;  // an empty chunk would end the body
      if (!SendAll(fd, absl::StrCat(absl::Hex(c.size()), "\r\n", c, "\r\n"))) return;
    }
    if (ended) {
      SendAll(fd, "0\r\n\r\n");
      return;
    }
  }
}

void StreamServer::Send(int64_t k, std::string chunk) {
  absl::MutexLock l(&mu_);
  buckets_[k].chunks.push_back(std::move(chunk));
}

void StreamServer::End(int64_t k, std::string last_chunk) {
  absl::MutexLock l(&mu_);
  buckets_[k].chunks.push_back(std::move(last_chunk));
  buckets_[k].ended = true;
}

void StreamServer::SetNotYet(std::function<bool(int64_t k)> not_yet) {
  absl::MutexLock l(&mu_);
  not_yet_ = std::move(not_yet);
}

void StreamServer::Cut(int64_t k) {
  absl::MutexLock l(&mu_);
  ++buckets_[k].cuts;
}

int StreamServer::Requests(int64_t k) {
  absl::MutexLock l(&mu_);
  return buckets_[k].requests;
}

int64_t StreamServer::FirstBucket() {
  absl::MutexLock l(&mu_);
  return first_bucket_;
}

}  // namespace roomcast::testing
