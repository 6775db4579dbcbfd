// roomcast-origin: flags -> OriginOptions -> Origin behind http::Server.
#include <iostream>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "auth/jwt.h"
#include "base/flags.h"
#include "http/server.h"
#include "origin/origin.h"

namespace {
using roomcast::base::Fail;

constexpr char kProgram[] = "roomcast-origin";

}  // namespace

int main(int argc, char** argv) {
  std::string listen = "127.0.0.1:8080";
  std::string data;
  std::string write_secret_file;
  std::string jwt_secret_file;
  int64_t max_hold_ms = 3000;
  int64_t manifest_max_age = 1;
  int64_t max_body_bytes = 16 << 20;
  int64_t threads = 0;
  int64_t sweep_s = 60;
  int64_t read_timeout_ms = 10000;
  bool no_sync = false;
  roomcast::base::FlagSet flags(
      kProgram, "--listen HOST:PORT --data DIR [--max-hold-ms 3000]",
      "The HTTP origin CDNs pull from: stores the publisher's objects and serves\n"
      "them with cache headers, holding requests for buckets about to close.\n"
      "The write secret comes from ROOMCAST_WRITE_SECRET or --write-secret-file;\n"
      "the JWT secret that lets viewers read their own peer objects from\n"
      "ROOMCAST_JWT_SECRET or --jwt-secret-file (without it peer reads get 401).");
  flags.String("listen", &listen, "HOST:PORT to serve on; port 0 picks a free one");
  flags.String("data", &data, "directory of the object store (created if missing)");
  flags.String("write-secret-file", &write_secret_file,
               "file holding the publisher's write secret");
  flags.String("jwt-secret-file", &jwt_secret_file,
               "file holding the JWT secret that verifies viewers' tokens");
  flags.Int("max-hold-ms", &max_hold_ms,
            "longest a request is held for an object about to exist");
  flags.Int("manifest-max-age", &manifest_max_age, "manifest Cache-Control max-age, seconds");
  flags.Int("max-body-bytes", &max_body_bytes, "largest PUT body accepted");
  flags.Int("threads", &threads, "serving threads; 0 = one per core");
  flags.Int("retention-sweep-s", &sweep_s, "seconds between retention sweeps");
  flags.Int("read-timeout-ms", &read_timeout_ms,
            "a client must send a whole request within this long");
  flags.Bool("no-sync", &no_sync, "do not fsync writes (benchmarks only)");
  flags.Require("data");
  flags.ParseOrExit(argc, argv);
  if (max_hold_ms < 0 || max_hold_ms > 60000) {
    std::cerr << kProgram << ": --max-hold-ms must be 0..60000" << std::endl;
    return 2;
  }

  auto secret = roomcast::base::ReadSecret("ROOMCAST_WRITE_SECRET", write_secret_file);
  if (!secret.ok()) Fail(kProgram, secret.status());

  std::function<absl::StatusOr<std::string>(absl::string_view, absl::string_view)>
      verify_viewer;
  if (auto jwt = roomcast::base::ReadSecret("ROOMCAST_JWT_SECRET", jwt_secret_file);
      jwt.ok()) {
    verify_viewer = [secret = *jwt](absl::string_view token, absl::string_view room) {
      return roomcast::auth::VerifyViewer(token, secret, room,
                                          absl::ToUnixSeconds(absl::Now()));
    };
  } else if (!jwt_secret_file.empty()) {
    Fail(kProgram, jwt.status());
  } else {
    std::cerr << kProgram << ": no JWT secret; peer objects cannot be read" << std::endl;
  }

  roomcast::origin::OriginOptions options{
      .data_dir = data,
      .write_secret = *secret,
      .verify_viewer = std::move(verify_viewer),
      .max_hold = std::chrono::milliseconds(max_hold_ms),
      .manifest_max_age_s = static_cast<int>(manifest_max_age),
      .sync = !no_sync};
  auto origin = roomcast::origin::Origin::Open(std::move(options));
  if (!origin.ok()) Fail(kProgram, origin.status());

  roomcast::http::Server server(
      {.listen = listen,
       .threads = static_cast<int>(threads),
       .max_body_bytes = static_cast<size_t>(max_body_bytes),
       .read_timeout = std::chrono::milliseconds(read_timeout_ms)},
      [o = origin->get()](roomcast::http::Request& req) { return o->Handle(req); });
  if (auto st = server.Start(); !st.ok()) Fail(kProgram, st);
  std::cout << "listening on " << server.url() << std::endl;

  std::atomic<bool> done{false};
  std::thread sweeper([&] {
    for (int64_t waited = 0; !done; waited += 100) {
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
      if (waited < sweep_s * 1000) continue;
      waited = 0;
      auto n = (*origin)->SweepExpired();
      if (!n.ok()) std::cerr << kProgram << ": sweep: " << n.status() << std::endl;
      else if (*n > 0) std::cerr << kProgram << ": retention removed " << *n << " objects" << std::endl;
    }
  });
  // On SIGTERM: answer held requests now, drain in-flight ones, stop.
  server.WaitForSignal([&] { (*origin)->ReleaseHolds(); });
  done = true;
  sweeper.join();
  origin->reset();  // closes RocksDB cleanly
  std::cerr << kProgram << ": stopped" << std::endl;
  return 0;
}
