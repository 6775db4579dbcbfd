#include "tests/support/stream_reader.h"

#include <algorithm>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>
#include <zlib.h>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"

namespace roomcast::testing {

StreamReader::StreamReader(int port, const std::string& path,
                           const std::vector<std::string>& headers, const std::string& method) {
  fd_ = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    closed_ = true;
    return;
  }
  std::string req = method + " " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\n";
  for (const std::string& h : headers) req += h + "\r\n";
  req += "\r\n";
  if (send(fd_, req.data(), req.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(req.size())) {
    closed_ = true;
    return;
  }
  thread_ = std::thread([this] { Run(); });
}

StreamReader::~StreamReader() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  if (thread_.joinable()) thread_.join();
  if (fd_ >= 0) close(fd_);
}

void StreamReader::Run() {
  for (;;) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (stop_ || ended_ || bad_) return;
    }
    pollfd p{fd_, POLLIN, 0};
    if (poll(&p, 1, 50) <= 0) continue;
    char buf[16384];
    ssize_t n = recv(fd_, buf, sizeof(buf), 0);
    std::lock_guard<std::mutex> lock(mu_);
    if (n <= 0) {
      closed_ = true;
      cv_.notify_all();
      return;
    }
    raw_.append(buf, static_cast<size_t>(n));
    ParseLocked();
    cv_.notify_all();
  }
}

// Consumes what `raw_` holds: the head once, then whole chunks.
void StreamReader::ParseLocked() {
  if (!head_done_) {
    const size_t end = raw_.find("\r\n\r\n");
    if (end == std::string::npos) return;
    std::vector<std::string> lines = absl::StrSplit(raw_.substr(0, end), "\r\n");
    std::vector<std::string> status_line = absl::StrSplit(lines[0], ' ');
    if (status_line.size() < 2 || !absl::SimpleAtoi(status_line[1], &status_)) bad_ = true;
    for (size_t i = 1; i < lines.size(); ++i) {
      const size_t colon = lines[i].find(':');
      if (colon == std::string::npos) continue;
      headers_.emplace_back(absl::AsciiStrToLower(lines[i].substr(0, colon)),
                            std::string(absl::StripAsciiWhitespace(lines[i].substr(colon + 1))));
    }
    raw_.erase(0, end + 4);
    head_done_ = true;
    // A complete object (a closed bucket, or a cache that waited for the
    // whole fetch) comes with Content-Length instead of chunks.
    for (const auto& [name, value] : headers_) {
      if (name == "content-length" && !absl::SimpleAtoi(value, &content_length_)) bad_ = true;
    }
  }
  if (content_length_ >= 0) {
    const size_t want = static_cast<size_t>(content_length_) - body_.size();
    const size_t take = std::min(want, raw_.size());
    body_.append(raw_, 0, take);
    raw_.erase(0, take);
    if (take > 0) ++chunks_;
    if (body_.size() == static_cast<size_t>(content_length_)) ended_ = true;
    return;
  }
  while (!ended_ && !bad_) {
    const size_t line_end = raw_.find("\r\n");
    if (line_end == std::string::npos) return;
    size_t size = 0;
    if (!absl::SimpleHexAtoi(raw_.substr(0, line_end), &size)) {
      bad_ = true;
      return;
    }
    if (raw_.size() < line_end + 2 + size + 2) return;
    if (size == 0) {
      ended_ = true;
    } else {
      body_.append(raw_, line_end + 2, size);
      ++chunks_;
    }
    raw_.erase(0, line_end + 2 + size + 2);
  }
}

bool StreamReader::WaitFor(const Pred& pred, std::chrono::milliseconds timeout) {
  std::unique_lock<std::mutex> lock(mu_);
  return cv_.wait_for(lock, timeout, [&] { return pred(body_) || ended_ || closed_ || bad_; }) &&
         pred(body_);
}

bool StreamReader::WaitForHead(std::chrono::milliseconds timeout) {
  std::unique_lock<std::mutex> lock(mu_);
  return cv_.wait_for(lock, timeout, [&] { return head_done_ || closed_ || bad_; }) && head_done_;
}

bool StreamReader::WaitForFinish(std::chrono::milliseconds timeout) {
  std::unique_lock<std::mutex> lock(mu_);
  return cv_.wait_for(lock, timeout, [&] { return ended_ || closed_ || bad_; });
}

int StreamReader::status() const {
  std::lock_guard<std::mutex> lock(mu_);
  return status_;
}

std::string StreamReader::header(const std::string& name) const {
  std::lock_guard<std::mutex> lock(mu_);
  for (const auto& [k, v] : headers_) {
    if (k == name) return v;
  }
  return "";
}

std::string StreamReader::body() const {
  std::lock_guard<std::mutex> lock(mu_);
  return body_;
}

size_t StreamReader::chunks() const {
  std::lock_guard<std::mutex> lock(mu_);
  return chunks_;
}

bool StreamReader::ended() const {
  std::lock_guard<std::mutex> lock(mu_);
  return ended_;
}

bool StreamReader::closed() const {
  std::lock_guard<std::mutex> lock(mu_);
  return closed_;
}

std::string InflatePrefix(const std::string& gz) {
  z_stream z{};
  if (inflateInit2(&z, 15 + 16) != Z_OK) return "";
  std::string out;
  char buf[16384];
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(gz.data()));
  z.avail_in = static_cast<uInt>(gz.size());
  int rc = Z_OK;
  while (rc == Z_OK && (z.avail_in > 0 || z.avail_out == 0)) {
    z.next_out = reinterpret_cast<Bytef*>(buf);
    z.avail_out = sizeof(buf);
    rc = inflate(&z, Z_SYNC_FLUSH);
    out.append(buf, sizeof(buf) - z.avail_out);
  }
  inflateEnd(&z);
  return out;
}

}  // namespace roomcast::testing
