// roomcast-publisher: flags -> PublisherServerOptions -> PublisherServer,
// until SIGINT/SIGTERM, then a bounded flush.
#include <cstdlib>
#include <iostream>
#include <string>
#include <utility>

#include <unistd.h>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "base/flags.h"
#include "base/ids.h"
#include "publisher/server.h"

namespace {

using roomcast::base::Fail;
constexpr char kProgram[] = "roomcast-publisher";

// Whatever flags do not say keeps PublisherServerOptions' default.
struct Flags {
  roomcast::publisher::PublisherServerOptions server;
  std::string jwt_secret_file, write_secret_file, hint_secret_file;
  int64_t threads = 0, max_body_bytes = 1 << 20;
  int64_t max_connections = 16384, max_connections_per_address = 1024;
  bool no_sync = false;
  bool no_live = false;
  std::string nats;
  int64_t shards = 16;
};

void Parse(int argc, char** argv, Flags* f) {
  roomcast::base::FlagSet flags(
      kProgram,
      "--listen HOST:PORT --origin URL (--data DIR | --nats URL[,URL...]) [--id NAME]",
      "Ingest API for a live room's chat: authenticates senders (HS256 JWT),\n"
      "sequences each room, writes every message durably before acking, and\n"
      "uploads closed segments, state objects and manifests to the origin.\n"
      "Secrets: ROOMCAST_JWT_SECRET or --jwt-secret-file; the origin's write\n"
      "secret ROOMCAST_WRITE_SECRET or --write-secret-file; optionally the\n"
      "peer-hint secret ROOMCAST_HINT_SECRET or --hint-secret-file.\n"
      "Cluster mode (--nats): rooms are sharded over every publisher on the same\n"
      "NATS JetStream cluster; any of them takes any room's writes; each shard's\n"
      "log is a replicated stream, and a 2xx means a quorum stored it.");
  flags.String("listen", &f->server.listen,
               "HOST:PORT to serve on; port 0 picks a free one");
  flags.String("data", &f->server.publisher.data_dir,
               "directory of the durable log (created if missing); not with --nats");
  flags.String("nats", &f->nats,
               "cluster mode: NATS JetStream nodes, nats://HOST:PORT[,nats://...]");
  flags.Int("shards", &f->shards,
            "cluster mode: shards rooms hash to (the same on every publisher), 1..1024");
  flags.Int("lease-ttl-ms", &f->server.lease_ttl_ms,
            "cluster mode: a dead publisher's shards move to another after this long");
  flags.String("origin", &f->server.origin_url, "base URL of roomcast-origin");
  flags.String("id", &f->server.publisher.id,
               "this publisher's id, [A-Za-z0-9_-]{1,64} (cluster mode: unique in the "
               "cluster; default there: the host name and process id)");
  flags.String("jwt-secret-file", &f->jwt_secret_file,
               "file holding the JWT secret");
  flags.String("write-secret-file", &f->write_secret_file,
               "file holding the origin's write secret");
  flags.String("hint-secret-file", &f->hint_secret_file,
               "file holding the peer-hint master secret");
  flags.Int("threads", &f->threads, "serving threads; 0 = one per core");
  flags.Int("flush-ms", &f->server.flush_ms,
            "on SIGTERM, publish for at most this long");
  flags.Int("tick-ms", &f->server.publisher.tick_ms,
            "publication round cadence");
  flags.Int("max-body-bytes", &f->max_body_bytes,
            "largest request body (413 above)");
  flags.Double("user-rate", &f->server.publisher.rates.user_per_s,
               "messages per second one audience user may post in a room (0: unlimited)");
  flags.Double("user-burst", &f->server.publisher.rates.user_burst,
               "messages one audience user may post at once");
  flags.Double("room-rate", &f->server.publisher.rates.room_per_s,
               "messages per second a room's audience may post together (0: unlimited)");
  flags.Double("room-burst", &f->server.publisher.rates.room_burst,
               "messages a room's audience may post at once");
  flags.Double("presence-rate", &f->server.publisher.rates.presence_per_s,
               "presence heartbeats per second per user and room");
  flags.Double("presence-burst", &f->server.publisher.rates.presence_burst,
               "presence heartbeats one user may send at once");
  flags.Int("rollup-ms", &f->server.publisher.rollup_ms,
            "rollup window R: closed buckets merged into R-ms objects (rounded to a multiple of D)");
  flags.Int("stall-retry-ms", &f->server.publisher.stall_retry_ms,
            "how often an object the origin refused (stalling its room) is offered again");
  flags.Int("max-connections", &f->max_connections, "open connections at most (503 beyond)");
  flags.Int("max-connections-per-address", &f->max_connections_per_address,
            "open connections from one client address at most");
  flags.Bool("no-sync", &f->no_sync, "do not fsync the log (benchmarks only)");
  flags.Bool("no-live", &f->no_live,
             "do not push open buckets' records to the origin (POST /v1/live): "
             "only closed segments go (bench comparisons, nginx-only setups)");
  flags.Require("origin");
  flags.ParseOrExit(argc, argv);
}

// Exits 2 on a flag out of range; reads the secrets (exits on failure).
void CheckMode(Flags* f) {
  roomcast::publisher::PublisherServerOptions& o = f->server;
  if (f->nats.empty() == o.publisher.data_dir.empty()) {
    std::cerr << kProgram << ": give --data DIR (one publisher) or --nats URLS (cluster mode)"
              << std::endl;
    std::exit(2);
  }
  if (f->nats.empty()) return;
  for (absl::string_view url : absl::StrSplit(f->nats, ',', absl::SkipWhitespace())) {
    o.nats_urls.emplace_back(absl::StripAsciiWhitespace(url));
  }
  if (f->shards < 1 || f->shards > 1024 || o.lease_ttl_ms < 1000 || o.lease_ttl_ms > 60000) {
    std::cerr << kProgram << ": --shards must be 1..1024, --lease-ttl-ms 1000..60000"
              << std::endl;
    std::exit(2);
  }
  o.shards = static_cast<int>(f->shards);
  if (o.publisher.id == roomcast::publisher::PublisherOptions{}.id) {
    char host[256] = {};
    gethostname(host, sizeof(host) - 1);
    std::string id = absl::StrCat("pub-", host, "-", getpid());
    for (char& c : id) {
      if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) && c != '-') c = '_';
    }
    o.publisher.id = id.substr(0, 64);
  }
}

void Check(Flags* f) {
  CheckMode(f);
  roomcast::publisher::PublisherServerOptions& o = f->server;
  if (!roomcast::base::IsValidId(o.publisher.id)) {
    std::cerr << kProgram << ": --id must be [A-Za-z0-9_-]{1,64}" << std::endl;
    std::exit(2);
  }
  if (o.publisher.tick_ms < 1 || o.publisher.tick_ms > 1000 || o.flush_ms < 0) {
    std::cerr << kProgram << ": --tick-ms must be 1..1000, --flush-ms >= 0"
              << std::endl;
    std::exit(2);
  }
  const roomcast::publisher::RateLimits& r = o.publisher.rates;
  for (double v : {r.user_per_s, r.user_burst, r.room_per_s, r.room_burst, r.presence_per_s,
                   r.presence_burst}) {
    if (v < 0) {
      std::cerr << kProgram << ": rates and bursts must not be negative" << std::endl;
      std::exit(2);
    }
  }
  if ((r.user_per_s > 0 && r.user_burst < 1) || (r.room_per_s > 0 && r.room_burst < 1) ||
      r.presence_burst < 1 || f->max_connections < 1 || f->max_connections_per_address < 1) {
    std::cerr << kProgram << ": bursts and connection caps must be at least 1" << std::endl;
    std::exit(2);
  }
  o.max_connections = static_cast<size_t>(f->max_connections);
  o.max_connections_per_address = static_cast<size_t>(f->max_connections_per_address);
  o.threads = static_cast<int>(f->threads);
  o.max_body_bytes = static_cast<size_t>(f->max_body_bytes);
  o.publisher.sync = !f->no_sync;
  o.publisher.live = !f->no_live;
  auto jwt =
      roomcast::base::ReadSecret("ROOMCAST_JWT_SECRET", f->jwt_secret_file);
  if (!jwt.ok()) Fail(kProgram, jwt.status());
  auto write =
      roomcast::base::ReadSecret("ROOMCAST_WRITE_SECRET", f->write_secret_file);
  if (!write.ok()) Fail(kProgram, write.status());
  o.jwt_secret = *jwt;
  o.write_secret = *write;
  // Without a hint secret of its own, the server derives one from the JWT's.
  if (std::getenv("ROOMCAST_HINT_SECRET") != nullptr ||
      !f->hint_secret_file.empty()) {
    auto h =
        roomcast::base::ReadSecret("ROOMCAST_HINT_SECRET", f->hint_secret_file);
    if (!h.ok()) Fail(kProgram, h.status());
    o.publisher.hint_master_secret = *h;
  }
}

}  // namespace

int main(int argc, char** argv) {
  Flags flags;
  Parse(argc, argv, &flags);
  Check(&flags);
  roomcast::publisher::PublisherServer server(std::move(flags.server));
  if (absl::Status st = server.Start(); !st.ok()) Fail(kProgram, st);
  std::cout << "listening on " << server.url() << std::endl;
  server.WaitForSignal();  // stops accepting; in-flight requests drain
  if (absl::Status flushed = server.Stop(); !flushed.ok()) {
    std::cerr << kProgram << ": flush: " << flushed.message() << std::endl;
  }
  std::cerr << kProgram << ": stopped" << std::endl;
  return 0;
}
