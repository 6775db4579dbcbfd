// roomcast-origin: flags -> OriginServerOptions -> OriginServer.
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <iostream>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_split.h"

#include "base/flags.h"
#include "origin/origin_server.h"

namespace {
using roomcast::base::Fail;
using roomcast::origin::OriginServerOptions;

constexpr char kProgram[] = "roomcast-origin";

// The flags as given, before they become options.
struct Flags {
  std::string listen = "127.0.0.1:8080";
  std::string data;
  std::string write_secret_file;
  std::string publisher_secrets_file;
  std::string jwt_secret_file;
  std::string edge_secret_file;
  std::vector<std::string> purge;
  std::string purge_secret_file;
  int64_t max_hold_ms = 3000;
  int64_t manifest_max_age = 1;
  int64_t max_body_bytes = roomcast::origin::kDefaultMaxBodyBytes;
  int64_t threads = 0;
  int64_t sweep_s = 60;
  int64_t read_timeout_ms = 10000;
  int64_t max_watermark_skew_ms = 5000;
  int64_t max_connections = 16384;
  int64_t max_connections_per_address = 1024;
  int64_t max_held = 16384;
  int64_t max_held_per_address = 4096;
  int64_t max_live_buckets = 100000;
  int64_t max_pending_purges = 100000;
  int64_t purge_repeat_ms = 15000;
  bool no_sync = false;
  std::string nats;
  std::string origin_id;
  int64_t nats_startup_timeout_ms = 30000;
};

// Exits 0 on --help, 2 on bad usage.
Flags ParseFlags(int argc, char** argv) {
  Flags f;
  roomcast::base::FlagSet flags(
      kProgram, "--listen HOST:PORT --data DIR [--max-hold-ms 3000]",
      "The HTTP origin CDNs pull from: stores the publisher's objects and serves\n"
      "them with cache headers, holding requests for buckets about to close.\n"
      "The shared write secret comes from ROOMCAST_WRITE_SECRET or\n"
      "--write-secret-file; --publisher-secrets-file gives each publisher id a\n"
      "secret of its own (lines 'ID SECRET') that writes only that publisher's\n"
      "watermark and rooms. The JWT secret that lets viewers read their own peer\n"
      "objects comes from ROOMCAST_JWT_SECRET or --jwt-secret-file (without it\n"
      "peer reads get 401); the edge secret that verifies private rooms' edge\n"
      "tokens from ROOMCAST_EDGE_SECRET or --edge-secret-file (without it every\n"
      "read of a private room gets 403). After a takedown (DESIGN §11) the origin\n"
      "sends PURGE for each changed URL to every --purge cache, with the purge\n"
      "secret from ROOMCAST_PURGE_SECRET or --purge-secret-file (required with\n"
      "--purge), retrying until each cache has it; owed purges survive a restart.\n"
      "Cluster mode (DESIGN §13): --nats URL[,URL...] keeps objects, room metadata\n"
      "and watermarks in a NATS JetStream cluster (stream RCOBJ, R3) instead of\n"
      "--data, so any number of origins serve the same objects and each one's\n"
      "writes wake the others' held requests and streams. At start-up the origin\n"
      "waits up to --nats-startup-timeout-ms for the stream to take requests\n"
      "(logging while it waits) and exits 1 if it does not; it listens only once\n"
      "the stream answers.");
  flags.String("listen", &f.listen, "HOST:PORT to serve on; port 0 picks a free one");
  flags.String("data", &f.data, "directory of the object store (created if missing)");
  flags.String("write-secret-file", &f.write_secret_file,
               "file holding the publisher's write secret");
  flags.String("publisher-secrets-file", &f.publisher_secrets_file,
               "file of 'ID SECRET' lines: one write secret per publisher id");
  flags.String("jwt-secret-file", &f.jwt_secret_file,
               "file holding the JWT secret that verifies viewers' tokens");
  flags.String("edge-secret-file", &f.edge_secret_file,
               "file holding the edge secret private rooms' tokens are signed with");
  flags.Strings("purge", &f.purge,
                "base URL of a cache to purge taken-down objects from, e.g. "
                "http://127.0.0.1:8000");
  flags.String("purge-secret-file", &f.purge_secret_file,
               "file holding the secret a cache's PURGE needs (Roomcast-Purge-Secret)");
  flags.Int("max-hold-ms", &f.max_hold_ms,
            "longest a request is held for an object about to exist");
  flags.Int("manifest-max-age", &f.manifest_max_age, "manifest Cache-Control max-age, seconds");
  flags.Int("max-body-bytes", &f.max_body_bytes, "largest PUT body accepted");
  flags.Int("threads", &f.threads, "serving threads; 0 = one per core");
  flags.Int("retention-sweep-s", &f.sweep_s, "seconds between retention sweeps");
  flags.Int("read-timeout-ms", &f.read_timeout_ms,
            "a client must send a whole request within this long");
  flags.Int("max-watermark-skew-ms", &f.max_watermark_skew_ms,
            "refuse a watermark further ahead of this origin's clock");
  flags.Int("max-connections", &f.max_connections, "open connections at most (503 beyond)");
  flags.Int("max-connections-per-address", &f.max_connections_per_address,
            "open connections from one client address at most");
  flags.Int("max-held", &f.max_held, "requests held at once at most (503 beyond)");
  flags.Int("max-live-buckets", &f.max_live_buckets,
            "open buckets streamed at once at most (DESIGN §10); beyond, new ones are held");
  flags.Int("max-held-per-address", &f.max_held_per_address,
            "requests held at once for one client address at most");
  flags.Int("max-pending-purges", &f.max_pending_purges,
            "purges owed to one --purge cache at most; a takedown beyond gets 503");
  flags.Int("purge-repeat-ms", &f.purge_repeat_ms,
            "each purge is sent once more this long after it succeeded, for a cache\n"
            "fill that raced it (0: never); above the caches' read timeout");
  flags.Bool("no-sync", &f.no_sync, "do not fsync writes (benchmarks only)");
  flags.String("nats", &f.nats,
               "nats://HOST:PORT[,...] of a JetStream cluster: objects live there, not in "
               "--data");
  flags.String("origin-id", &f.origin_id,
               "this origin's name in the cluster (default: host name and process id)");
  flags.Int("nats-startup-timeout-ms", &f.nats_startup_timeout_ms,
            "longest wait at start-up for the cluster's stream to take requests");
  flags.ParseOrExit(argc, argv);
  if (f.data.empty() && f.nats.empty()) {
    std::cerr << kProgram << ": --data is required (or --nats)" << std::endl;
    std::exit(2);
  }
  if (f.max_hold_ms < 0 || f.max_hold_ms > 60000) {
    std::cerr << kProgram << ": --max-hold-ms must be 0..60000" << std::endl;
    std::exit(2);
  }
  for (int64_t n : {f.nats_startup_timeout_ms, f.max_watermark_skew_ms, f.max_connections, f.max_connections_per_address,
                    f.max_held, f.max_held_per_address, f.max_live_buckets,
                    f.max_pending_purges,
                    f.purge_repeat_ms}) {
    if (n < 0) {
      std::cerr << kProgram << ": limits must not be negative" << std::endl;
      std::exit(2);
    }
  }
  return f;
}

// Peer reads need the JWT secret; without one the origin still serves
// everything else. A named file that cannot be read is an error.
roomcast::origin::ViewerVerifier ViewerVerifierOrExit(const Flags& f) {
  auto jwt = roomcast::base::ReadSecret("ROOMCAST_JWT_SECRET", f.jwt_secret_file);
  if (jwt.ok()) return roomcast::origin::JwtViewerVerifier(*std::move(jwt));
  if (!f.jwt_secret_file.empty()) Fail(kProgram, jwt.status());
  std::cerr << kProgram << ": no JWT secret; peer objects cannot be read" << std::endl;
  return nullptr;
}

// Private rooms need the edge secret; without one the origin serves public
// rooms only. A named file that cannot be read is an error.
std::string EdgeSecretOrExit(const Flags& f) {
  auto edge = roomcast::base::ReadSecret("ROOMCAST_EDGE_SECRET", f.edge_secret_file);
  if (edge.ok()) return *std::move(edge);
  if (!f.edge_secret_file.empty()) Fail(kProgram, edge.status());
  return "";
}

// With --purge the caches need the purge secret: without one every purge
// would be refused, so the origin does not start.
std::string PurgeSecretOrExit(const Flags& f) {
  if (f.purge.empty()) return "";
  for (const std::string& base : f.purge) {
    if (!absl::StartsWith(base, "http://") && !absl::StartsWith(base, "https://")) {
      std::cerr << kProgram << ": --purge takes a base URL (http://HOST:PORT), got '" << base
                << "'" << std::endl;
      std::exit(2);
    }
  }
  auto secret = roomcast::base::ReadSecret("ROOMCAST_PURGE_SECRET", f.purge_secret_file);
  if (!secret.ok()) {
    std::cerr << kProgram << ": --purge needs the purge secret (ROOMCAST_PURGE_SECRET or "
              << "--purge-secret-file): " << secret.status().message() << std::endl;
    std::exit(2);
  }
  return *std::move(secret);
}

// The shared write secret (optional once publishers have their own) and
// the per-publisher ones.
std::string WriteSecretOrExit(const Flags& f) {
  auto secret = roomcast::base::ReadSecret("ROOMCAST_WRITE_SECRET", f.write_secret_file);
  if (secret.ok()) return *std::move(secret);
  if (f.publisher_secrets_file.empty() || !f.write_secret_file.empty()) {
    Fail(kProgram, secret.status());
  }
  return "";
}

absl::flat_hash_map<std::string, std::string> PublisherSecretsOrExit(const Flags& f) {
  if (f.publisher_secrets_file.empty()) return {};
  auto secrets = roomcast::origin::ReadPublisherSecrets(f.publisher_secrets_file);
  if (!secrets.ok()) Fail(kProgram, secrets.status());
  return *std::move(secrets);
}

// The cluster's URLs, and this origin's name in it.
std::vector<std::string> NatsUrls(const Flags& f) {
  return absl::StrSplit(f.nats, ',', absl::SkipWhitespace());
}

std::string OriginId(const Flags& f) {
  if (!f.origin_id.empty()) return f.origin_id;
  char host[256] = {};
  if (gethostname(host, sizeof(host) - 1) != 0) host[0] = '\0';
  return std::string(host) + "-" + std::to_string(getpid());
}

OriginServerOptions OptionsOrExit(const Flags& f) {
  OriginServerOptions o;
  o.origin = {.data_dir = f.data,
              .write_secret = WriteSecretOrExit(f),
              .publisher_secrets = PublisherSecretsOrExit(f),
              .max_watermark_skew_ms = f.max_watermark_skew_ms,
              .max_held = static_cast<size_t>(f.max_held),
              .max_held_per_address = static_cast<size_t>(f.max_held_per_address),
              .verify_viewer = ViewerVerifierOrExit(f),
              .edge_secret = EdgeSecretOrExit(f),
              .max_hold = std::chrono::milliseconds(f.max_hold_ms),
              .manifest_max_age_s = static_cast<int>(f.manifest_max_age),
              .sync = !f.no_sync,
              .purge_bases = f.purge,
              .purge_secret = PurgeSecretOrExit(f),
              .max_pending_purges = static_cast<size_t>(f.max_pending_purges),
              .purge_repeat = std::chrono::milliseconds(f.purge_repeat_ms),
              .max_live_buckets = static_cast<size_t>(f.max_live_buckets)};
  o.origin.nats_urls = NatsUrls(f);
  o.origin.origin_id = OriginId(f);
  o.origin.nats_startup_timeout = std::chrono::milliseconds(f.nats_startup_timeout_ms);
  o.http.listen = f.listen;
  o.http.threads = static_cast<int>(f.threads);
  o.http.max_body_bytes = static_cast<size_t>(f.max_body_bytes);
  o.http.read_timeout = std::chrono::milliseconds(f.read_timeout_ms);
  o.http.max_connections = static_cast<size_t>(f.max_connections);
  o.http.max_connections_per_address = static_cast<size_t>(f.max_connections_per_address);
  o.sweep_interval = std::chrono::seconds(f.sweep_s);
  return o;
}

}  // namespace

int main(int argc, char** argv) {
  const Flags flags = ParseFlags(argc, argv);
  auto server = roomcast::origin::OriginServer::Start(OptionsOrExit(flags));
  if (!server.ok()) Fail(kProgram, server.status());
  std::cout << "listening on " << (*server)->url() << std::endl;
  (*server)->WaitForSignal();  // SIGTERM: answer held requests, drain, stop
  server->reset();             // closes RocksDB cleanly
  std::cerr << kProgram << ": stopped" << std::endl;
  return 0;
}
