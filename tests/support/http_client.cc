#include "tests/support/http_client.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <memory>

namespace roomcast::testing {
namespace {

struct Call {
  HttpResponse res;
  curl_slist* headers = nullptr;
  std::string body;
};

size_t OnBody(char* p, size_t size, size_t n, void* user) {
  static_cast<Call*>(user)->res.body.append(p, size * n);
  return size * n;
}

size_t OnHeader(char* p, size_t size, size_t n, void* user) {
  std::string line(p, size * n);
  auto colon = line.find(':');
  if (colon != std::string::npos) {
    std::string name = line.substr(0, colon);
    std::transform(name.begin(), name.end(), name.begin(), ::tolower);
    std::string value = line.substr(colon + 1);
    value.erase(0, value.find_first_not_of(" \t"));
    while (!value.empty() && (value.back() == '\r' || value.back() == '\n')) value.pop_back();
    static_cast<Call*>(user)->res.headers[name] = value;
  } else if (line.rfind("HTTP/", 0) == 0) {
    static_cast<Call*>(user)->res.headers.clear();  // a new response (after 100)
  }
  return size * n;
}

CURL* Prepare(Call& c, const std::string& method, const std::string& url,
              const Headers& headers, std::chrono::milliseconds timeout) {
  CURL* h = curl_easy_init();
  curl_easy_setopt(h, CURLOPT_URL, url.c_str());
  curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, static_cast<long>(timeout.count()));
  curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, OnBody);
  curl_easy_setopt(h, CURLOPT_WRITEDATA, &c);
  curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, OnHeader);
  curl_easy_setopt(h, CURLOPT_HEADERDATA, &c);
  curl_easy_setopt(h, CURLOPT_PATH_AS_IS, 1L);  // send "../" as written
  if (method == "HEAD") {
    curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
  } else if (method != "GET") {
    curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method.c_str());
  }
  if (method == "PUT" || method == "POST") {
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, c.body.data());
    curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(c.body.size()));
  }
  c.headers = curl_slist_append(c.headers, "Expect:");
  for (const auto& hd : headers) c.headers = curl_slist_append(c.headers, hd.c_str());
  curl_easy_setopt(h, CURLOPT_HTTPHEADER, c.headers);
  return h;
}

void Collect(Call& c, CURL* h, CURLcode rc) {
  if (rc == CURLE_OK) curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &c.res.status);
  curl_easy_getinfo(h, CURLINFO_TOTAL_TIME, &c.res.seconds);
  curl_slist_free_all(c.headers);
  c.headers = nullptr;
  curl_easy_cleanup(h);
}

}  // namespace

std::string HttpResponse::header(const std::string& name) const {
  auto it = headers.find(name);
  return it == headers.end() ? "" : it->second;
}

HttpResponse Fetch(const std::string& method, const std::string& url,
                   const std::string& body, const Headers& headers,
                   std::chrono::milliseconds timeout) {
  Call c;
  c.body = body;
  CURL* h = Prepare(c, method, url, headers, timeout);
  Collect(c, h, curl_easy_perform(h));
  return c.res;
}

std::vector<HttpResponse> ParallelGet(const std::vector<std::string>& urls,
                                      const Headers& headers,
                                      std::chrono::milliseconds timeout) {
  std::vector<std::unique_ptr<Call>> calls;
  CURLM* m = curl_multi_init();
  curl_multi_setopt(m, CURLMOPT_MAX_TOTAL_CONNECTIONS, 0L);
  std::vector<CURL*> handles;
  for (const auto& url : urls) {
    calls.push_back(std::make_unique<Call>());
    CURL* h = Prepare(*calls.back(), "GET", url, headers, timeout);
    curl_easy_setopt(h, CURLOPT_PRIVATE, calls.back().get());
    curl_easy_setopt(h, CURLOPT_FRESH_CONNECT, 1L);
    curl_multi_add_handle(m, h);
  }
  int running = 0;
  do {
    curl_multi_perform(m, &running);
    int msgs = 0;
    while (CURLMsg* msg = curl_multi_info_read(m, &msgs)) {
      if (msg->msg != CURLMSG_DONE) continue;
      Call* c = nullptr;
      curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, &c);
      curl_multi_remove_handle(m, msg->easy_handle);
      Collect(*c, msg->easy_handle, msg->data.result);
    }
    if (running) curl_multi_poll(m, nullptr, 0, 100, nullptr);
  } while (running);
  curl_multi_cleanup(m);
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

}  // namespace roomcast::testing
