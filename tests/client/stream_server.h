// Test support: a stand-in for a streaming origin (DESIGN §10) whose every
// byte the test decides, on 127.0.0.1. It serves one room's manifest (made
// by the test per request) and its bucket URLs as chunked streams: a GET of
// bucket k gets every chunk sent for k so far, then each new one as the test
// sends it, and the last chunk when the test ends k, or a closed connection
// without it when the test cuts k (a later GET starts again from the first
// chunk, as the origin's stream does). Everything else is "not yet" (404,
// max-age=1). Lets a client test say "before the bucket's end" by the order
// of events, not by time.
//
//   StreamServer server([] { return Manifest(); });
//   c.RunUntil([&] { return server.Requests(k) > 0; }, deadline);
//   server.Send(k, record);     // the client may deliver it now
//   server.Cut(k);              // the stream ends without its summary
//   server.End(k, summary);     // the summary, then the last chunk
#ifndef ROOMCAST_TESTS_CLIENT_STREAM_SERVER_H_
#define ROOMCAST_TESTS_CLIENT_STREAM_SERVER_H_

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"

namespace roomcast::testing {

class StreamServer {
 public:
  // `manifest` makes the manifest.pb body for each request.
  explicit StreamServer(std::function<std::string()> manifest);
  ~StreamServer();
  StreamServer(const StreamServer&) = delete;
  StreamServer& operator=(const StreamServer&) = delete;

  std::string url() const;  // "http://127.0.0.1:PORT"

  void Send(int64_t k, std::string chunk);
  void End(int64_t k, std::string last_chunk);
  // Every open stream of k ends without its last chunk.
  void Cut(int64_t k);
  // Set: a bucket GET for which it holds is answered "not yet" (404,
  // max-age=1), as a server that holds closed buckets only answers one
  // asked too early.
  void SetNotYet(std::function<bool(int64_t k)> not_yet);
  // How often bucket k was asked for (404s included) (poll it while the client runs).
  int Requests(int64_t k);
  // The first bucket asked for, or -1.
  int64_t FirstBucket();

 private:
  struct Bucket {
    std::vector<std::string> chunks;
    bool ended = false;
    int cuts = 0;
    int requests = 0;
  };
  void AcceptLoop();
  void Serve(int fd);
  void ServeBucket(int fd, int64_t k);

  std::function<std::string()> manifest_;
  std::function<bool(int64_t)> not_yet_ ABSL_GUARDED_BY(mu_);
  int listen_fd_ = -1;
  uint16_t port_ = 0;
  std::thread accept_thread_;
  absl::Mutex mu_;
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  std::map<int64_t, Bucket> buckets_ ABSL_GUARDED_BY(mu_);
  int64_t first_bucket_ ABSL_GUARDED_BY(mu_) = -1;
  std::vector<std::thread> conn_threads_ ABSL_GUARDED_BY(mu_);
};

}  // namespace roomcast::testing

#endif  // ROOMCAST_TESTS_CLIENT_STREAM_SERVER_H_
