#include "tools/dev.h"

#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>
#include <random>
#include <thread>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "auth/edge_token.h"
#include "auth/jwt.h"
#include "base/clock.h"
#include "base/flags.h"
#include "base/log.h"
#include "origin/origin_server.h"
#include "publisher/server.h"
#include "tools/demo_traffic.h"

namespace roomcast::tools {
namespace {

constexpr char kProgram[] = "roomcast dev";

struct DevFlags {
  std::string data = "./roomcast-data";
  std::string origin_listen = "127.0.0.1:8080";
  std::string publisher_listen = "127.0.0.1:8081";
  std::string room = "demo";
  std::string private_room = "demo-private";
  int64_t bucket_ms = 500, duration_s = 0, viewers = 150;
  double rate = 6;
  bool no_traffic = false;
};

// Exits 0 on --help, 2 on bad usage.
DevFlags ParseDevFlags(int argc, char** argv, int first) {
  DevFlags f;
  std::string rate_text = "6";
  base::FlagSet flags(kProgram, "[--data DIR]",
                      "Runs an origin and a publisher in one process with embedded storage,\n"
                      "plus a demo room with synthetic traffic and a quieter private one\n"
                      "(read with an edge token; the secret is kept in DATA/dev-secrets or\n"
                      "comes from ROOMCAST_EDGE_SECRET). Open the printed viewer URLs.");
  flags.String("data", &f.data, "directory for both stores (created if missing)");
  flags.String("origin-listen", &f.origin_listen, "origin HOST:PORT (port 0 picks one)");
  flags.String("publisher-listen", &f.publisher_listen, "publisher HOST:PORT (port 0 picks one)");
  flags.String("room", &f.room, "the demo room's id");
  flags.String("private-room", &f.private_room,
               "the private demo room's id (edge token needed; \"\" for none)");
  flags.Int("bucket-ms", &f.bucket_ms, "the demo room's bucket duration");
  flags.String("rate", &rate_text, "demo comments per second");
  flags.Int("viewers", &f.viewers, "simulated viewers sending presence");
  flags.Bool("no-traffic", &f.no_traffic, "run the servers only, no demo room");
  flags.Int("duration-s", &f.duration_s, "stop by itself after this long (0: until Ctrl-C)");
  flags.ParseOrExit(argc, argv, first);
  if (!absl::SimpleAtod(rate_text, &f.rate) || f.rate < 0 || f.rate > 10000 ||
      !base::IsValidId(f.room)) {
    std::cerr << kProgram << ": --rate must be 0..10000 and --room [A-Za-z0-9_-]{1,64}\n";
    std::exit(2);
  }
  if (!f.private_room.empty() && (!base::IsValidId(f.private_room) || f.private_room == f.room)) {
    std::cerr << kProgram << ": --private-room must be [A-Za-z0-9_-]{1,64}, not --room\n";
    std::exit(2);
  }
  return f;
}

std::string RandomSecret() {
  std::random_device rd;
  std::string raw(32, '\0');
  for (char& c : raw) c = static_cast<char>(rd());
  return absl::BytesToHexString(raw);
}

// The dev secrets: from the environment if set, else made once and kept in
// DATA/dev-secrets (0600, one a line) so a restart re-publishes
// byte-identical objects and the tokens it printed stay good.
struct Secrets {
  std::string write, jwt, edge;
};
absl::StatusOr<Secrets> LoadSecrets(const std::string& data) {
  const std::string path = data + "/dev-secrets";
  Secrets s;
  if (std::ifstream in(path); in) {
    std::getline(in, s.write), std::getline(in, s.jwt), std::getline(in, s.edge);
  }
  // A data dir from before private rooms lacks the edge secret: only the
  // missing ones are made.
  if (s.write.empty() || s.jwt.empty() || s.edge.empty()) {
    for (std::string* v : {&s.write, &s.jwt, &s.edge}) {
      if (v->empty()) *v = RandomSecret();
    }
    std::ofstream out(path, std::ios::trunc);
    out << s.write << "\n" << s.jwt << "\n" << s.edge << "\n";
    if (!out) return absl::UnavailableError(absl::StrCat("cannot write ", path));
    chmod(path.c_str(), 0600);
  }
  if (const char* w = std::getenv("ROOMCAST_WRITE_SECRET"); w && *w) s.write = w;
  if (const char* j = std::getenv("ROOMCAST_JWT_SECRET"); j && *j) s.jwt = j;
  if (const char* e = std::getenv("ROOMCAST_EDGE_SECRET"); e && *e) s.edge = e;
  return s;
}

// The origin exactly as roomcast-origin runs it (store, server, sweeper).
std::unique_ptr<origin::OriginServer> StartOrigin(const DevFlags& f, const Secrets& s,
                                                  const base::Clock* clock) {
  origin::OriginServerOptions o;
  o.origin = {.data_dir = f.data + "/origin",
              .write_secret = s.write,
              .verify_viewer = origin::JwtViewerVerifier(s.jwt, clock),
              .edge_secret = s.edge,
              .clock = clock};
  o.http.listen = f.origin_listen;
  auto server = origin::OriginServer::Start(std::move(o));
  if (!server.ok()) base::Fail(kProgram, server.status());
  return *std::move(server);
}

// The publisher exactly as roomcast-publisher runs it, uploading to the
// origin over loopback HTTP.
std::unique_ptr<publisher::PublisherServer> StartPublisher(const DevFlags& f, const Secrets& s,
                                                           const std::string& origin_url,
                                                           const base::Clock* clock) {
  auto server = std::make_unique<publisher::PublisherServer>(publisher::PublisherServerOptions{
      .listen = f.publisher_listen,
      .origin_url = origin_url,
      .jwt_secret = s.jwt,
      .write_secret = s.write,
      .publisher = {.id = "dev", .data_dir = f.data + "/publisher"},
      .flush_ms = 3000,
      .clock = clock});
  if (absl::Status st = server->Start(); !st.ok()) base::Fail(kProgram, st);
  return server;
}

// What the banner shows: the servers and ready-made tokens (24 h).
struct Banner {
  std::string origin_url, publisher_url;
  std::string token;       // audience JWT for the public demo room
  std::string edge_token;  // the private demo room's ("" if there is none)
};

// Tests and the README parse the first lines: they stay as they are, the
// private room comes after them. The token is quoted for a shell ('*').
void PrintPrivateRoom(const DevFlags& f, const Banner& b) {
  if (f.private_room.empty()) return;
  std::cout << "private room '" << f.private_room << "' (members only; edge token, 24 h):\n"
            << "  viewer:     " << b.origin_url << "/viewer/?room=" << f.private_room
            << "&rc_token=" << b.edge_token << "\n"
            << "  manifest:   " << b.origin_url << "/v1/private/" << f.private_room
            << "/manifest.json (401 without the token)\n"
            << "  edge token: " << b.edge_token << "\n"
            << "  roomcast tail --base " << b.origin_url << " --room " << f.private_room
            << " --edge-token '" << b.edge_token << "'\n";
}

void PrintBanner(const DevFlags& f, const Banner& b) {
  const std::string& origin_url = b.origin_url;
  const std::string& publisher_url = b.publisher_url;
  const std::string& token = b.token;
  std::cout << "listening on " << origin_url << "\n"
            << "publisher on  " << publisher_url << "\n"
            << "viewer:       " << origin_url << "/viewer/?room=" << f.room << "\n"
            << "manifest:     " << origin_url << "/v1/rooms/" << f.room << "/manifest.json\n"
            << "token (audience in '" << f.room << "', 24 h):\n  " << token << "\n"
            << "try:\n"
            << "  roomcast tail --base " << origin_url << " --room " << f.room << "\n"
            << "  roomcast post --publisher " << publisher_url << " --token "
            << token.substr(0, 12) << "... --room " << f.room << " --text \"hi\"\n"
            << "moderation (DESIGN §11): a demo moderator retracts one comment in 20 and\n"
            << "  bans 'spam-bot' for 60 s when it bursts (logged as 'info demo ...')\n";
  PrintPrivateRoom(f, b);
  std::cout << "data in " << f.data << "; Ctrl-C stops" << std::endl;
}

// The banner's tokens, good for 24 h: a JWT for the public demo room, an
// edge token for the private one.
Banner MakeBanner(const DevFlags& f, const Secrets& s, std::string origin_url,
                  std::string publisher_url, int64_t now_ms) {
  const int64_t exp_s = now_ms / 1000 + 86400;
  Banner b{.origin_url = std::move(origin_url), .publisher_url = std::move(publisher_url)};
  b.token = auth::MintJwt({.sub = "you", .role = v1::ROLE_AUDIENCE, .room = f.room, .exp = exp_s},
                          s.jwt);
  if (!f.private_room.empty()) {
    b.edge_token = auth::MintEdgeToken(auth::EdgeAclForRoom(f.private_room), exp_s, s.edge);
  }
  return b;
}

// The demo rooms: the public one and, beside it, a quieter members-only one.
std::vector<DemoOptions> DemoRooms(const DevFlags& f, const std::string& publisher_url,
                                   const std::string& jwt_secret) {
  std::vector<DemoOptions> rooms = {{.publisher_url = publisher_url, .jwt_secret = jwt_secret,
                                     .room = f.room, .bucket_ms = f.bucket_ms,
                                     .comments_per_s = f.rate,
                                     .viewers = static_cast<int>(f.viewers)}};
  if (f.private_room.empty()) return rooms;
  rooms.push_back({.publisher_url = publisher_url, .jwt_secret = jwt_secret,
                   .room = f.private_room, .bucket_ms = f.bucket_ms,
                   .comments_per_s = f.rate / 3,
                   .viewers = std::max(5, static_cast<int>(f.viewers / 10)),
                   .private_room = true,
                   .title = "Members-only after-show 🔒"});
  return rooms;
}

// Sends SIGTERM to this process after `duration_s` (the same clean path as
// Ctrl-C), unless stopped first.
class StopTimer {
 public:
  explicit StopTimer(int64_t duration_s) {
    if (duration_s <= 0) return;
    thread_ = std::thread([this, duration_s] {
      if (!stopping_.WaitForNotificationWithTimeout(absl::Seconds(duration_s))) {
        kill(getpid(), SIGTERM);
      }
    });
  }
  ~StopTimer() {
    if (!stopping_.HasBeenNotified()) stopping_.Notify();
    if (thread_.joinable()) thread_.join();
  }

 private:
  absl::Notification stopping_;
  std::thread thread_;
};

}  // namespace

int DevMain(int argc, char** argv, int first) {
  const DevFlags f = ParseDevFlags(argc, argv, first);
  std::error_code ec;
  std::filesystem::create_directories(f.data, ec);
  if (ec) {
    base::Fail(kProgram, absl::UnavailableError(
                             absl::StrCat("cannot create ", f.data, ": ", ec.message())));
  }
  auto secrets = LoadSecrets(f.data);
  if (!secrets.ok()) base::Fail(kProgram, secrets.status());
  base::SystemClock clock;
  auto origin = StartOrigin(f, *secrets, &clock);
  auto pub = StartPublisher(f, *secrets, origin->url(), &clock);
  PrintBanner(f, MakeBanner(f, *secrets, origin->url(), pub->url(), clock.NowMs()));
  std::vector<std::unique_ptr<DemoTraffic>> demos;
  for (DemoOptions& o : f.no_traffic ? std::vector<DemoOptions>{}
                                     : DemoRooms(f, pub->url(), secrets->jwt)) {
    demos.push_back(std::make_unique<DemoTraffic>(std::move(o)));
    demos.back()->Start();
  }
  StopTimer timer(f.duration_s);
  // The publisher flushes into the origin while the origin still serves.
  origin->WaitForSignal([&] {
    ROOMCAST_LOG(kInfo, "dev", "stopping");
    for (auto& d : demos) d->Stop();
    if (absl::Status st = pub->Stop(); !st.ok()) {
      std::cerr << kProgram << ": flush: " << st.message() << std::endl;
    }
  });
  pub.reset();
  origin.reset();
  uint64_t acked = 0;
  for (const auto& d : demos) acked += d->acked();
  std::cerr << kProgram << ": stopped (" << acked << " demo comments acked)" << std::endl;
  return 0;
}

}  // namespace roomcast::tools
