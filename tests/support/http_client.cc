#include "tests/support/http_client.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <memory>
#include <sstream>

#include "http/curl.h"

namespace roomcast::testing {
namespace {

http::ClientRequest RequestFor(const std::string& method, const std::string& url,
                               const std::string& body, const Headers& headers,
                               std::chrono::milliseconds timeout) {
  http::ClientRequest r{.method = method, .url = url, .headers = headers,
                        .timeout = timeout, .path_as_is = true};
  // DELETE and PATCH may carry one too (a retraction's reason, live settings).
  if (method == "PUT" || method == "POST" || !body.empty()) r.body = body;
  return r;
}

HttpResponse Collect(http::Transfer& t, absl::StatusOr<http::ClientReply> got) {
  HttpResponse res;
  if (got.ok()) static_cast<http::ClientReply&>(res) = *std::move(got);
  curl_easy_getinfo(t.easy(), CURLINFO_TOTAL_TIME, &res.seconds);
  return res;
}

// One GET of a ParallelGet, on a connection of its own.
struct Parallel {
  Parallel(const std::string& url, const Headers& headers,
           std::chrono::milliseconds timeout)
      : easy(http::NewCurlEasy()),
        transfer(easy.get(), RequestFor("GET", url, "", headers, timeout)) {
    curl_easy_setopt(easy.get(), CURLOPT_PRIVATE, this);
    curl_easy_setopt(easy.get(), CURLOPT_FRESH_CONNECT, 1L);
  }
  http::CurlEasy easy;
  http::Transfer transfer;
  HttpResponse res;
};

}  // namespace

HttpResponse Fetch(const std::string& method, const std::string& url,
                   const std::string& body, const Headers& headers,
                   std::chrono::milliseconds timeout) {
  http::CurlEasy easy = http::NewCurlEasy();
  http::Transfer t(easy.get(), RequestFor(method, url, body, headers, timeout));
  return Collect(t, t.Perform());
}

std::vector<HttpResponse> ParallelGet(const std::vector<std::string>& urls,
                                      const Headers& headers,
                                      std::chrono::milliseconds timeout) {
  std::vector<std::unique_ptr<Parallel>> calls;
  http::CurlMulti m = http::NewCurlMulti();
  curl_multi_setopt(m.get(), CURLMOPT_MAX_TOTAL_CONNECTIONS, 0L);
  for (const auto& url : urls) {
    calls.push_back(std::make_unique<Parallel>(url, headers, timeout));
    curl_multi_add_handle(m.get(), calls.back()->easy.get());
  }
  int running = 0;
  do {
    curl_multi_perform(m.get(), &running);
    int msgs = 0;
    while (CURLMsg* msg = curl_multi_info_read(m.get(), &msgs)) {
      if (msg->msg != CURLMSG_DONE) continue;
      Parallel* c = nullptr;
      curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, &c);
      curl_multi_remove_handle(m.get(), msg->easy_handle);
      c->res = Collect(c->transfer, c->transfer.Finish(msg->data.result));
    }
    if (running) curl_multi_poll(m.get(), nullptr, 0, 100, nullptr);
  } while (running);
  std::vector<HttpResponse> out;
  for (auto& c : calls) out.push_back(std::move(c->res));
  return out;
}

std::string RawExchange(int port, const std::string& bytes,
                        std::chrono::milliseconds timeout) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  std::string got;
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0) {
    if (!bytes.empty()) {
      ssize_t n = send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL);
      (void)n;
    }
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
      pollfd p{fd, POLLIN, 0};
      if (poll(&p, 1, 50) <= 0) continue;
      char buf[4096];
      ssize_t n = recv(fd, buf, sizeof(buf), 0);
      if (n <= 0) break;
      got.append(buf, static_cast<size_t>(n));
    }
  }
  close(fd);
  return got;
}

int PortOf(const std::string& url) {
  return std::stoi(url.substr(url.rfind(':') + 1));
}

double Metric(const std::string& server_url, const std::string& name,
              const std::string& label_filter) {
  HttpResponse r = Get(server_url + "/metrics");
  if (r.status != 200) return -1;
  std::istringstream in(r.body);
  std::string line;
  double sum = 0;
  while (std::getline(in, line)) {
    if (line.rfind(name, 0) != 0) continue;
    const char next = line.size() > name.size() ? line[name.size()] : '\0';
    if (next != ' ' && next != '{') continue;
    if (!label_filter.empty() && line.find(label_filter) == std::string::npos) continue;
    sum += std::stod(line.substr(line.rfind(' ') + 1));
  }
  return sum;
}

}  // namespace roomcast::testing
