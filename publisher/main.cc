// roomcast-publisher: flags -> PublisherOptions -> Publisher behind
// http::Server, uploading to the origin with CurlUploader.
#include <iostream>

#include "absl/strings/str_cat.h"
#include "base/flags.h"
#include "http/server.h"
#include "publisher/api.h"
#include "publisher/curl_uploader.h"
#include "publisher/publisher.h"
#include "segmenter/naming.h"

namespace {

using roomcast::base::Fail;
constexpr char kProgram[] = "roomcast-publisher";

}  // namespace

int main(int argc, char** argv) {
  std::string listen = "127.0.0.1:8081";
  std::string data, origin_url, id = "publisher";
  std::string jwt_secret_file, write_secret_file, hint_secret_file;
  int64_t threads = 0, flush_ms = 5000, tick_ms = 20, max_body_bytes = 1 << 20;
  bool no_sync = false;
  roomcast::base::FlagSet flags(
      kProgram,
      "--listen HOST:PORT --data DIR --origin URL [--id NAME]",
      "Ingest API for a live room's chat: authenticates senders (HS256 JWT),\n"
      "sequences each room, writes every message durably before acking, and\n"
      "uploads closed segments, state objects and manifests to the origin.\n"
      "Secrets: ROOMCAST_JWT_SECRET or --jwt-secret-file; the origin's write\n"
      "secret ROOMCAST_WRITE_SECRET or --write-secret-file; optionally the\n"
      "peer-hint secret ROOMCAST_HINT_SECRET or --hint-secret-file.");
  flags.String("listen", &listen, "HOST:PORT to serve on; port 0 picks a free one");
  flags.String("data", &data, "directory of the durable log (created if missing)");
  flags.String("origin", &origin_url, "base URL of roomcast-origin");
  flags.String("id", &id, "this publisher's id, [A-Za-z0-9_-]{1,64}");
  flags.String("jwt-secret-file", &jwt_secret_file, "file holding the JWT secret");
  flags.String("write-secret-file", &write_secret_file,
               "file holding the origin's write secret");
  flags.String("hint-secret-file", &hint_secret_file,
               "file holding the peer-hint master secret");
  flags.Int("threads", &threads, "serving threads; 0 = one per core");
  flags.Int("flush-ms", &flush_ms, "on SIGTERM, publish for at most this long");
  flags.Int("tick-ms", &tick_ms, "publication round cadence");
  flags.Int("max-body-bytes", &max_body_bytes, "largest request body (413 above)");
  flags.Bool("no-sync", &no_sync, "do not fsync the log (benchmarks only)");
  flags.Require("data");
  flags.Require("origin");
  flags.ParseOrExit(argc, argv);
  if (!roomcast::segmenter::IsValidId(id)) {
    std::cerr << kProgram << ": --id must be [A-Za-z0-9_-]{1,64}" << std::endl;
    return 2;
  }
  if (tick_ms < 1 || tick_ms > 1000 || flush_ms < 0) {
    std::cerr << kProgram << ": --tick-ms must be 1..1000, --flush-ms >= 0" << std::endl;
    return 2;
  }
  auto jwt = roomcast::base::ReadSecret("ROOMCAST_JWT_SECRET", jwt_secret_file);
  if (!jwt.ok()) Fail(kProgram, jwt.status());
  auto write = roomcast::base::ReadSecret("ROOMCAST_WRITE_SECRET", write_secret_file);
  if (!write.ok()) Fail(kProgram, write.status());
  std::string hint_master = roomcast::publisher::DeriveHintMaster(*jwt);
  if (std::getenv("ROOMCAST_HINT_SECRET") != nullptr || !hint_secret_file.empty()) {
    auto h = roomcast::base::ReadSecret("ROOMCAST_HINT_SECRET", hint_secret_file);
    if (!h.ok()) Fail(kProgram, h.status());
    hint_master = *h;
  }

  roomcast::publisher::CurlUploader uploader(
      {.base_url = origin_url, .write_secret = *write});
  roomcast::base::SystemClock clock;
  roomcast::publisher::PublisherOptions options{
      .id = id, .data_dir = data, .hint_master_secret = hint_master,
      .tick_ms = tick_ms, .sync = !no_sync};
  auto publisher = roomcast::publisher::Publisher::Open(options, &clock, &uploader);
  if (!publisher.ok()) Fail(kProgram, publisher.status());
  (*publisher)->StartTicker();

  roomcast::publisher::IngestApi api(publisher->get(),
                                     {.jwt_secret = *jwt, .clock = &clock});
  roomcast::http::Server server(
      {.listen = listen,
       .threads = static_cast<int>(threads),
       .max_body_bytes = static_cast<size_t>(max_body_bytes)},
      [&api](roomcast::http::Request& req) { return api.Handle(req); });
  if (auto st = server.Start(); !st.ok()) Fail(kProgram, st);
  std::cout << "listening on " << server.url() << std::endl;

  server.WaitForSignal();  // stops accepting; in-flight requests drain
  absl::Status flushed = (*publisher)->Flush(flush_ms);
  if (!flushed.ok()) {
    std::cerr << kProgram << ": flush: " << flushed.message() << std::endl;
  }
  publisher->reset();
  std::cerr << kProgram << ": stopped" << std::endl;
  return 0;
}
