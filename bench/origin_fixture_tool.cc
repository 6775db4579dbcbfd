// origin_fixture_tool: seeds a running roomcast-origin for bench/origin_get.sh
// and writes the very same bytes as static files for nginx to serve.
//
// Opens room --room (its manifest, then a ~2 KB and a ~8 KB action segment in
// closed buckets, then the publisher's watermark past them) and picks a third
// bucket after the watermark that is left unwritten: a GET for it is held
// until its segment (written to --hold-body) is PUT. Prints KEY=VALUE lines
// for the script:
//
//   SEG2K_PATH=/v1/rooms/bench/actions/1000/1764290000.pb
//   SEG2K_BYTES=2043  ... SEG8K_PATH= SEG8K_BYTES= HOLD_PATH= HOLD_BYTES=
//
// The write secret comes from ROOMCAST_WRITE_SECRET, as for the origin.
#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http.hpp>
#include <filesystem>
#include <fstream>
#include <iostream>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "base/flags.h"
#include "bench/load/http_url.h"
#include "roomcast/v1/ingest.pb.h"
#include "roomcast/v1/manifest.pb.h"
#include "segmenter/bucketer.h"
#include "segmenter/codec.h"
#include "segmenter/naming.h"
#include "segmenter/segment.h"

namespace {
namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bh = boost::beast::http;
using roomcast::bench::HttpUrl;
using roomcast::base::Fail;
namespace seg = roomcast::segmenter;
namespace v1 = roomcast::v1;

constexpr char kProgram[] = "origin_fixture_tool";
constexpr char kPublisher[] = "bench-pub";

// One PUT on its own connection; the HTTP status, or why there was none.
absl::StatusOr<int> Put(const HttpUrl& origin, const std::string& path,
                        const std::string& body, const std::string& secret) {
  try {
    asio::io_context io;
    asio::ip::tcp::resolver resolver(io);
    beast::tcp_stream stream(io);
    stream.expires_after(std::chrono::seconds(10));
    stream.connect(resolver.resolve(origin.host, std::to_string(origin.port)));
    bh::request<bh::string_body> req(bh::verb::put, path, 11);
    req.set(bh::field::host, origin.authority());
    req.set(bh::field::authorization, "Bearer " + secret);
    req.set(bh::field::content_type, "application/x-protobuf");
    req.body() = body;
    req.prepare_payload();
    bh::write(stream, req);
    beast::flat_buffer buf;
    bh::response<bh::string_body> res;
    bh::read(stream, buf, res);
    if (res.result_int() >= 300) {
      return absl::FailedPreconditionError(absl::StrCat(
          "PUT ", path, ": HTTP ", res.result_int(), " ", res.body()));
    }
    return static_cast<int>(res.result_int());
  } catch (const std::exception& e) {
    return absl::UnavailableError(absl::StrCat("PUT ", path, ": ", e.what()));
  }
}

// The segment of bucket k whose encoding is closest to `target` bytes.
seg::EncodedObject SegmentOfSize(const std::string& room, int64_t d, int64_t k,
                                 size_t target) {
  seg::EncodedObject best;
  for (int n = 1;; ++n) {
    std::vector<v1::Message> msgs;
    for (int i = 0; i < n; ++i) {
      v1::Message m;
      m.set_seq(static_cast<uint64_t>(k) * 1000 + i + 1);
      m.set_ts_ms(seg::BucketStart(k, d) + i);
      m.set_kind(v1::KIND_ACTION);
      m.set_sender(absl::StrCat("viewer-", i));
      m.set_role(v1::ROLE_AUDIENCE);
      m.mutable_comment()->set_text(
          absl::StrCat("comment ", i, ": a typical chat line of a live stream, ",
                       "some words and an emoji \xF0\x9F\x8E\x89"));
      msgs.push_back(std::move(m));
    }
    seg::EncodedObject obj = seg::Encode(seg::BuildSegment(
        {.room = room, .epoch = 1, .bucket_ms = d, .index = k}, std::move(msgs)));
    const auto distance = [target](size_t s) {
      return s > target ? s - target : target - s;
    };
    if (!best.bytes.empty() && distance(obj.bytes.size()) > distance(best.bytes.size())) {
      return best;
    }
    best = std::move(obj);
  }
}

void WriteFile(const std::filesystem::path& path, const std::string& bytes) {
  std::filesystem::create_directories(path.parent_path());
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  if (!out) Fail(kProgram, absl::UnavailableError(absl::StrCat("cannot write ", path.string())));
}

}  // namespace

int main(int argc, char** argv) {
  std::string origin_url;
  std::string static_dir;
  std::string hold_body;
  std::string room = "bench";
  int64_t bucket_ms = 1000;
  roomcast::base::FlagSet flags(
      kProgram, "--origin URL --static-dir DIR --hold-body FILE",
      "Seeds a roomcast-origin with a room, a ~2 KB and a ~8 KB segment, and\n"
      "writes the same bytes under DIR at the same paths for a static server.");
  flags.String("origin", &origin_url, "the origin, http://HOST:PORT");
  flags.String("static-dir", &static_dir, "root to write the static copies under");
  flags.String("hold-body", &hold_body, "file for the held bucket's segment");
  flags.String("room", &room, "room id");
  flags.Int("bucket-ms", &bucket_ms, "the room's bucket duration D");
  flags.Require("origin");
  flags.Require("static-dir");
  flags.Require("hold-body");
  flags.ParseOrExit(argc, argv);
  auto origin = roomcast::bench::ParseHttpUrl(origin_url);
  if (!origin.ok()) Fail(kProgram, origin.status());
  auto secret = roomcast::base::ReadSecret("ROOMCAST_WRITE_SECRET", "");
  if (!secret.ok()) Fail(kProgram, secret.status());

  const int64_t now = absl::ToUnixMillis(absl::Now());
  v1::Manifest m;
  m.set_room(room);
  m.set_epoch(1);
  m.set_version(1);
  m.set_server_time_ms(now);
  m.mutable_config()->set_bucket_ms(static_cast<uint32_t>(bucket_ms));
  m.mutable_config()->set_rollup_ms(60000);
  m.mutable_config()->set_retention_s(86400);
  m.set_status(v1::ROOM_STATUS_LIVE);
  m.set_publisher(kPublisher);
  m.set_opened_ms(now - 120'000);

  // Stored buckets a minute back; the watermark half a minute back closes
  // them. The held bucket starts 20 s from now: an open bucket streams at
  // once (DESIGN §10), one that has not started is held, so a GET waits for
  // its PUT (or its start, which the run never reaches).
  const int64_t k2 = seg::BucketIndex(now - 60'000, bucket_ms);
  const int64_t k8 = k2 + 1;
  const int64_t k_hold = seg::BucketIndex(now + 20'000, bucket_ms);
  const seg::EncodedObject s2 = SegmentOfSize(room, bucket_ms, k2, 2048);
  const seg::EncodedObject s8 = SegmentOfSize(room, bucket_ms, k8, 8192);
  const seg::EncodedObject sh = SegmentOfSize(room, bucket_ms, k_hold, 2048);
  v1::Watermark wm;
  wm.set_publisher(kPublisher);
  wm.set_watermark_ms(now - 30'000);

  const std::string p2 = seg::SegmentPath(room, bucket_ms, k2);
  const std::string p8 = seg::SegmentPath(room, bucket_ms, k8);
  const std::string ph = seg::SegmentPath(room, bucket_ms, k_hold);
  for (const auto& [path, body] :
       {std::pair{seg::ManifestPath(room), seg::Encode(m).bytes},
        std::pair{p2, s2.bytes}, std::pair{p8, s8.bytes},
        std::pair{seg::WatermarkPath(kPublisher), wm.SerializeAsString()}}) {
    if (auto st = Put(*origin, path, body, *secret); !st.ok()) Fail(kProgram, st.status());
  }
  WriteFile(std::filesystem::path(static_dir) / p2.substr(1), s2.bytes);
  WriteFile(std::filesystem::path(static_dir) / p8.substr(1), s8.bytes);
  WriteFile(hold_body, sh.bytes);

  std::cout << "SEG2K_PATH=" << p2 << "\nSEG2K_BYTES=" << s2.bytes.size()
            << "\nSEG8K_PATH=" << p8 << "\nSEG8K_BYTES=" << s8.bytes.size()
            << "\nHOLD_PATH=" << ph << "\nHOLD_BYTES=" << sh.bytes.size() << std::endl;
  return 0;
}
