
#include "tools/dev.h"

#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <iostream>
#include <random>
#include <thread>

#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "auth/jwt.h"
#include "base/flags.h"
#include "http/server.h"
#include "origin/origin.h"
#include "publisher/api.h"
#include "publisher/curl_uploader.h"
#include "publisher/publisher.h"
#include "tools/demo_traffic.h"

namespace roomcast::tools {
namespace {

constexpr char kProgram[] = "roomcast dev";

std::string RandomSecret() {
  std::random_device rd;
  std::string raw(32, '\0');
  for (char& c : raw) c = static_cast<char>(rd());
  return absl::BytesToHexString(raw);
}

// The dev secrets: from the environment if set, else made once and kept in
// DATA/dev-secrets (0600) so a restart re-publishes byte-identical objects.
struct Secrets {
  std::string write, jwt;
};
absl::StatusOr<Secrets> LoadSecrets(const std::string& data) {
  const std::string path = data + "/dev-secrets";
  Secrets s;
  if (std::ifstream in(path); in) std::getline(in, s.write), std::getline(in, s.jwt);
  if (s.write.empty() || s.jwt.empty()) {
    s = {RandomSecret(), RandomSecret()};
    std::ofstream out(path, std::ios::trunc);
    out << s.write << "\n" << s.jwt << "\n";
    if (!out) return absl::UnavailableError(absl::StrCat("cannot write ", path));
    chmod(path.c_str(), 0600);
  }
  if (const char* w = std::getenv("ROOMCAST_WRITE_SECRET"); w && *w) s.write = w;
  if (const char* j = std::getenv("ROOMCAST_JWT_SECRET"); j && *j) s.jwt = j;
  return s;
}

}  // namespace

int DevMain(int argc, char** argv, int first) {
  std::string data = "./roomcast-data";
  std::string origin_listen = "127.0.0.1:8080", publisher_listen = "127.0.0.1:8081";
  std::string room = "demo";
  int64_t bucket_ms = 500, duration_s = 0, viewers = 150;
  double rate = 6;
  std::string rate_text = "6";
  bool no_traffic = false;
  base::FlagSet flags("roomcast dev", "[--data DIR]",
                "Runs an origin and a publisher in one process with embedded storage,\n"
                "plus a demo room with synthetic traffic. Open the printed viewer URL.");
  flags.String("data", &data, "directory for both stores (created if missing)");
  flags.String("origin-listen", &origin_listen, "origin HOST:PORT (port 0 picks one)");
  flags.String("publisher-listen", &publisher_listen, "publisher HOST:PORT (port 0 picks one)");
  flags.String("room", &room, "the demo room's id");
  flags.Int("bucket-ms", &bucket_ms, "the demo room's bucket duration");
  flags.String("rate", &rate_text, "demo comments per second");
  flags.Int("viewers", &viewers, "simulated viewers sending presence");
  flags.Bool("no-traffic", &no_traffic, "run the servers only, no demo room");
  flags.Int("duration-s", &duration_s, "stop by itself after this long (0: until Ctrl-C)");
  flags.ParseOrExit(argc, argv, first);
  if (!absl::SimpleAtod(rate_text, &rate) || rate < 0 || rate > 10000 ||
      !segmenter::IsValidId(room)) {
    std::cerr << kProgram << ": --rate must be 0..10000 and --room [A-Za-z0-9_-]{1,64}\n";
    return 2;
  }

  std::error_code ec;
  std::filesystem::create_directories(data, ec);
  if (ec) base::Fail(kProgram, absl::UnavailableError(absl::StrCat("cannot create ", data, ": ", ec.message())));
  auto secrets = LoadSecrets(data);
  if (!secrets.ok()) base::Fail(kProgram, secrets.status());

  // The origin.
  auto origin = origin::Origin::Open(
      {.data_dir = data + "/origin",
       .write_secret = secrets->write,
       .verify_viewer = [jwt = secrets->jwt](absl::string_view token, absl::string_view room) {
         return auth::VerifyViewer(token, jwt, room, absl::ToUnixSeconds(absl::Now()));
       }});
  if (!origin.ok()) base::Fail(kProgram, origin.status());
  http::Server origin_server({.listen = origin_listen, .max_body_bytes = 16 << 20},
                             [o = origin->get()](http::Request& r) { return o->Handle(r); });
  if (auto st = origin_server.Start(); !st.ok()) base::Fail(kProgram, st);

  // The publisher, uploading to the origin over loopback HTTP like a real one.
  publisher::CurlUploader uploader({.base_url = origin_server.url(), .write_secret = secrets->write});
  base::SystemClock clock;
  auto pub = publisher::Publisher::Open(
      {.id = "dev", .data_dir = data + "/publisher",
       .hint_master_secret = publisher::DeriveHintMaster(secrets->jwt)},
      &clock, &uploader);
  if (!pub.ok()) base::Fail(kProgram, pub.status());
  (*pub)->StartTicker();
  publisher::IngestApi api(pub->get(), {.jwt_secret = secrets->jwt, .clock = &clock});
  http::Server publisher_server({.listen = publisher_listen},
                                [&api](http::Request& r) { return api.Handle(r); });
  if (auto st = publisher_server.Start(); !st.ok()) base::Fail(kProgram, st);

  const std::string token = auth::MintJwt(
      {.sub = "you", .role = v1::ROLE_AUDIENCE, .room = room,
       .exp = absl::ToUnixSeconds(absl::Now()) + 86400},
      secrets->jwt);
  std::cout << "listening on " << origin_server.url() << "\n"
            << "publisher on  " << publisher_server.url() << "\n"
            << "viewer:       " << origin_server.url() << "/viewer/?room=" << room << "\n"
            << "manifest:     " << origin_server.url() << "/v1/rooms/" << room << "/manifest.json\n"
            << "token (audience in '" << room << "', 24 h):\n  " << token << "\n"
            << "try:\n"
            << "  roomcast tail --base " << origin_server.url() << " --room " << room << "\n"
            << "  roomcast post --publisher " << publisher_server.url() << " --token "
            << token.substr(0, 12) << "... --room " << room << " --text \"hi\"\n"
            << "data in " << data << "; Ctrl-C stops" << std::endl;

  DemoTraffic traffic({.publisher_url = publisher_server.url(), .jwt_secret = secrets->jwt,
                       .room = room, .bucket_ms = bucket_ms, .comments_per_s = rate,
                       .viewers = static_cast<int>(viewers)});
  if (!no_traffic) traffic.Start();
  absl::Notification stopping;
  std::thread timer;
  if (duration_s > 0) {
    timer = std::thread([duration_s, &stopping] {
      if (!stopping.WaitForNotificationWithTimeout(absl::Seconds(duration_s))) {
        kill(getpid(), SIGTERM);  // the same clean path as Ctrl-C
      }
    });
  }
  origin_server.WaitForSignal([&] {
    std::cerr << kProgram << ": stopping" << std::endl;
    stopping.Notify();
    traffic.Stop();
    publisher_server.Stop();
    if (auto st = (*pub)->Flush(3000); !st.ok()) {
      std::cerr << kProgram << ": flush: " << st.message() << std::endl;
    }
    (*origin)->ReleaseHolds();
  });
  if (timer.joinable()) timer.join();
  pub->reset();
  origin->reset();
  std::cerr << kProgram << ": stopped (" << traffic.acked() << " demo comments acked)" << std::endl;
  return 0;
}

}  // namespace roomcast::tools
