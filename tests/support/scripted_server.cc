#include "tests/support/scripted_server.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace roomcast::testing {
namespace {

ScriptedServer::Request ParseHead(const std::string& head) {
  ScriptedServer::Request req;
  std::vector<std::string> lines = absl::StrSplit(head, "\r\n");
  std::vector<std::string> first = absl::StrSplit(lines[0], ' ');
  req.method = first[0];
  if (first.size() > 1) req.target = first[1];
  for (size_t i = 1; i < lines.size(); ++i) {
    const size_t colon = lines[i].find(':');
    if (colon == std::string::npos) continue;
    req.headers[absl::AsciiStrToLower(lines[i].substr(0, colon))] =
        std::string(absl::StripAsciiWhitespace(
            absl::string_view(lines[i]).substr(colon + 1)));
  }
  return req;
}

std::string Render(const ScriptedServer::Reply& r) {
  std::string out = absl::StrCat("HTTP/1.1 ", r.status, " Scripted\r\n",
                                 "Content-Length: ", r.body.size(), "\r\n");
  for (const auto& [name, value] : r.headers) {
    absl::StrAppend(&out, name, ": ", value, "\r\n");
  }
  absl::StrAppend(&out, "\r\n", r.body);
  return out;
}

}  // namespace

ScriptedServer::Reply ScriptedServer::Reply::Respond(int status,
                                                     std::string body) {
  Reply r;
  r.status = status;
  r.body = std::move(body);
  return r;
}

ScriptedServer::Reply ScriptedServer::Reply::Of(Kind kind) {
  Reply r;
  r.kind = kind;
  return r;
}

ScriptedServer::ScriptedServer() {
  listen_fd_ = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(addr);
  if (bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), len) != 0 ||
      listen(listen_fd_, 64) != 0 ||
      getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len)) {
    ADD_FAILURE() << "cannot listen on 127.0.0.1";
  }
  port_ = ntohs(addr.sin_port);
  accept_thread_ = std::thread([this] { AcceptLoop(); });
}

ScriptedServer::~ScriptedServer() {
  stop_ = true;
  accept_thread_.join();
  close(listen_fd_);
  std::vector<std::thread> threads;
  {
    absl::MutexLock lock(&mu_);
    threads.swap(conn_threads_);
  }
  for (std::thread& t : threads) t.join();
}

std::string ScriptedServer::url() const {
  return absl::StrCat("http://127.0.0.1:", port_);
}

void ScriptedServer::Script(std::vector<Reply> replies) {
  absl::MutexLock lock(&mu_);
  for (Reply& r : replies) script_.push_back(std::move(r));
}

void ScriptedServer::SetDefault(Reply r) {
  absl::MutexLock lock(&mu_);
  default_ = std::move(r);
}

std::vector<ScriptedServer::Request> ScriptedServer::requests() {
  absl::MutexLock lock(&mu_);
  return requests_;
}

int ScriptedServer::connections() {
  absl::MutexLock lock(&mu_);
  return connections_;
}

// Waits up to 50 ms at a time for `fd` to be readable; false when stopping.
bool ScriptedServer::WaitReadable(int fd) {
  while (!stop_) {
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, 50) > 0) return true;
  }
  return false;
}

void ScriptedServer::AcceptLoop() {
  while (WaitReadable(listen_fd_)) {
    const int fd = accept(listen_fd_, nullptr, nullptr);
    if (fd < 0) continue;
    absl::MutexLock lock(&mu_);
    const int id = ++connections_;
    conn_threads_.emplace_back([this, fd, id] {
      Serve(fd, id);
      close(fd);
    });
  }
}

// Appends what arrives to `buf`; false on EOF, error or stop.
bool ScriptedServer::ReadMore(int fd, std::string& buf) {
  if (!WaitReadable(fd)) return false;
  char chunk[16384];
  const ssize_t n = read(fd, chunk, sizeof(chunk));
  if (n <= 0) return false;
  buf.append(chunk, static_cast<size_t>(n));
  return true;
}

bool ScriptedServer::ReadHead(int fd, std::string& buf, Request* req) {
  size_t end;
  while ((end = buf.find("\r\n\r\n")) == std::string::npos) {
    if (!ReadMore(fd, buf)) return false;
  }
  *req = ParseHead(buf.substr(0, end));
  buf.erase(0, end + 4);
  return true;
}

bool ScriptedServer::ReadBody(int fd, std::string& buf, Request* req) {
  size_t length = 0;
  if (auto it = req->headers.find("content-length"); it != req->headers.end()) {
    (void)absl::SimpleAtoi(it->second, &length);
  }
  while (buf.size() < length) {
    if (!ReadMore(fd, buf)) return false;
  }
  req->body = buf.substr(0, length);
  buf.erase(0, length);
  return true;
}

void ScriptedServer::Serve(int fd, int id) {
  std::string buf;
  for (;;) {
    Request req;
    if (!ReadHead(fd, buf, &req)) return;
    req.connection = id;
    const Reply reply = Next();
    if (reply.kind == Reply::Kind::kReset) {
      Record(req);
      linger l{1, 0};  // RST, not FIN: the client sees a reset
      setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof(l));
      return;
    }
    if (!ReadBody(fd, buf, &req)) return;
    Record(req);
    if (reply.kind == Reply::Kind::kHang) {
      while (ReadMore(fd, buf)) {
      }
      return;
    }
    if (reply.delay.count() > 0) std::this_thread::sleep_for(reply.delay);
    const std::string out = Render(reply);
    if (write(fd, out.data(), out.size()) != static_cast<ssize_t>(out.size()) ||
        reply.kind == Reply::Kind::kRespondThenClose) {
      return;
    }
  }
}

ScriptedServer::Reply ScriptedServer::Next() {
  absl::MutexLock lock(&mu_);
  if (script_.empty()) return default_;
  Reply r = std::move(script_.front());
  script_.pop_front();
  return r;
}

void ScriptedServer::Record(const Request& req) {
  absl::MutexLock lock(&mu_);
  requests_.push_back(req);
}

RefusingPort::RefusingPort() : fd_(socket(AF_INET, SOCK_STREAM, 0)) {
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(addr);
  if (fd_ < 0 || bind(fd_, reinterpret_cast<sockaddr*>(&addr), len) != 0 ||
      getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    ADD_FAILURE() << "cannot bind a port on 127.0.0.1";
  }
  port_ = ntohs(addr.sin_port);
}

RefusingPort::~RefusingPort() {
  if (fd_ >= 0) close(fd_);
}

std::string RefusingPort::url() const {
  return absl::StrCat("http://127.0.0.1:", port_);
}

}  // namespace roomcast::testing
