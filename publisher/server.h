// A whole publisher process in one object: the Publisher engine uploading to
// the origin with CurlUploader, its ingest API (IngestApi) on an
// http::Server, and the publication ticker. Start() opens and replays the
// log, then serves; Stop() stops serving (in-flight requests drain),
// publishes what it can within flush_ms and closes the log, so what is left
// is re-published by the next start. roomcast-publisher runs one until
// SIGTERM; `roomcast dev` runs one beside an origin.
//
//   PublisherServer server({.listen = "127.0.0.1:0", .origin_url = origin,
//                           .jwt_secret = jwt, .write_secret = write,
//                           .publisher = {.id = "pub-1", .data_dir = dir}});
//   ROOMCAST_RETURN_IF_ERROR(server.Start());
//   std::cout << "listening on " << server.url() << std::endl;
//   server.WaitForSignal();            // SIGINT/SIGTERM
//   absl::Status flushed = server.Stop();
#ifndef ROOMCAST_PUBLISHER_SERVER_H_
#define ROOMCAST_PUBLISHER_SERVER_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "base/clock.h"
#include "publisher/options.h"

namespace roomcast::http {
class Server;
}  // namespace roomcast::http

namespace roomcast::publisher {

struct ApiOptions;
class ClusterFront;
class CurlUploader;
class IngestApi;
class Publisher;

struct PublisherServerOptions {
  std::string listen = "127.0.0.1:8081";  // HOST:PORT; port 0 picks one
  std::string origin_url;                 // base URL of roomcast-origin
  std::string jwt_secret;                 // verifies senders' tokens
  std::string write_secret;               // the origin's write secret
  // publisher.hint_master_secret empty: derived from jwt_secret
  // (DeriveHintMaster).
  PublisherOptions publisher;
  int threads = 0;                     // serving threads; 0: one per core
  size_t max_body_bytes = 1 << 20;     // larger request bodies get 413
  size_t max_connections = 16384;      // open connections (503 beyond)
  size_t max_connections_per_address = 1024;
  int64_t flush_ms = 5000;             // Stop() publishes for this long
  const base::Clock* clock = nullptr;  // null: the system clock
  // Cluster mode (DESIGN §13): the NATS JetStream nodes. Empty: one
  // publisher on its own RocksDB log in publisher.data_dir. Set: rooms
  // are sharded over every publisher on these nodes, each owned shard runs
  // an engine on its replicated log, and publisher.id names this process
  // (unique in the cluster) while each engine publishes as its shard.
  std::vector<std::string> nats_urls;
  int shards = 16;              // the same on every publisher of a cluster
  int64_t lease_ttl_ms = 3000;  // a dead owner's shards move after this
};

class PublisherServer {
 public:
  explicit PublisherServer(PublisherServerOptions options);
  ~PublisherServer();  // Stop()
  PublisherServer(const PublisherServer&) = delete;
  PublisherServer& operator=(const PublisherServer&) = delete;

  // Opens the publisher (replaying its log), starts the ticker, then binds
  // and serves. Call once.
  absl::Status Start();
  // "http://HOST:PORT", once started.
  std::string url() const;
  // The engine; null in cluster mode (one per owned shard, in front()).
  Publisher* publisher() { return publisher_.get(); }
  ClusterFront* front() { return front_.get(); }

  // Blocks until SIGINT or SIGTERM (caught from Start() on), then stops
  // serving; Stop() does the rest.
  void WaitForSignal();
  // Stops serving, flushes for at most flush_ms and closes the log. The
  // flush's status: kDeadlineExceeded if objects were left for the next
  // start. Idempotent; later calls return OK.
  absl::Status Stop();

 private:
  absl::Status StartCluster(const ApiOptions& api);

  PublisherServerOptions options_;
  base::SystemClock system_clock_;
  std::unique_ptr<CurlUploader> uploader_;
  std::unique_ptr<Publisher> publisher_;
  std::unique_ptr<IngestApi> api_;
  std::unique_ptr<ClusterFront> front_;  // cluster mode, instead of the two above
  std::unique_ptr<http::Server> server_;
};

}  // namespace roomcast::publisher

#endif  // ROOMCAST_PUBLISHER_SERVER_H_
