// Test support: a raw-socket HTTP/1.1 server on 127.0.0.1 whose every answer
// the test scripts (respond, hang, reset the connection, respond and then
// close), for testing HTTP clients against exactly the failures they must
// survive. Each request takes the next scripted Reply, or the default one;
// connections are kept alive unless a Reply drops them. RefusingPort is
// the server that never answers at all.
//
//   ScriptedServer server;
//   server.Script({Reply::Respond(503), Reply::Respond(200)});
//   ... a client retries against server.url() ...
//   EXPECT_EQ(server.requests().size(), 2u);
//   EXPECT_EQ(server.connections(), 1);  // kept alive
#ifndef ROOMCAST_TESTS_SUPPORT_SCRIPTED_SERVER_H_
#define ROOMCAST_TESTS_SUPPORT_SCRIPTED_SERVER_H_

#include <atomic>
#include <chrono>
#include <cstdint>
#include <deque>
#include <map>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"

namespace roomcast::testing {

class ScriptedServer {
 public:
  struct Reply {
    enum class Kind {
      kRespond,           // send status/headers/body, keep the connection
      kHang,              // read the request, never answer
      kReset,             // read only the headers, then reset the connection
      kRespondThenClose,  // answer, then close without saying so
    };
    Kind kind = Kind::kRespond;
    int status = 200;
    std::vector<std::pair<std::string, std::string>> headers;
    std::string body = "ok";
    // kRespond: how long to wait, once the request is read, before answering
    // (a slow origin).
    std::chrono::milliseconds delay{0};

    static Reply Respond(int status, std::string body = "");
    static Reply Of(Kind kind);
  };
  struct Request {
    std::string method;
    std::string target;
    std::map<std::string, std::string> headers;  // names lower-cased
    std::string body;
    int connection = 0;  // 1-based accept order
  };

  // Listens on 127.0.0.1 at a port of its own (a test failure if it cannot).
  ScriptedServer();
  ~ScriptedServer();
  ScriptedServer(const ScriptedServer&) = delete;
  ScriptedServer& operator=(const ScriptedServer&) = delete;

  std::string url() const;  // "http://127.0.0.1:PORT"

  void Script(std::vector<Reply> replies);
  void SetDefault(Reply r);
  // What arrived so far, in order.
  std::vector<Request> requests();
  int connections();

 private:
  bool WaitReadable(int fd);
  void AcceptLoop();
  bool ReadMore(int fd, std::string& buf);
  bool ReadHead(int fd, std::string& buf, Request* req);
  bool ReadBody(int fd, std::string& buf, Request* req);
  void Serve(int fd, int id);
  Reply Next();
  void Record(const Request& req);

  int listen_fd_ = -1;
  uint16_t port_ = 0;
  std::atomic<bool> stop_{false};
  std::thread accept_thread_;
  absl::Mutex mu_;
  std::deque<Reply> script_ ABSL_GUARDED_BY(mu_);
  Reply default_ ABSL_GUARDED_BY(mu_);
  std::vector<Request> requests_ ABSL_GUARDED_BY(mu_);
  int connections_ ABSL_GUARDED_BY(mu_) = 0;
  std::vector<std::thread> conn_threads_ ABSL_GUARDED_BY(mu_);
};

// A loopback port nobody can listen on while this object lives: bound,
// never listening. Linux refuses connections to it, and holding it keeps
// another process from taking it (a closed port might be reused by the
// time a test connects).
class RefusingPort {
 public:
  RefusingPort();  // a test failure if it cannot bind
  ~RefusingPort();
  RefusingPort(const RefusingPort&) = delete;
  RefusingPort& operator=(const RefusingPort&) = delete;

  std::string url() const;  // "http://127.0.0.1:PORT"

 private:
  int fd_ = -1;
  uint16_t port_ = 0;
};

}  // namespace roomcast::testing

#endif  // ROOMCAST_TESTS_SUPPORT_SCRIPTED_SERVER_H_
