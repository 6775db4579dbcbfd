// Segmenter micro-benchmarks (DESIGN §9): segment encode and decode in
// messages/s, and wire bytes per comment against gzipped JSON lines of the
// same messages. Run: ./build/bench/segmenter_bench
#include <benchmark/benchmark.h>
#include <zlib.h>

#include <random>
#include <string>
#include <vector>

#include "segmenter/codec.h"
#include "segmenter/live.h"
#include "segmenter/messages.h"
#include "segmenter/segment.h"

namespace roomcast::segmenter {
namespace {

constexpr int64_t kT0 = 1764290000000;

// Realistic chat: short texts of varied length, a few thousand senders.
std::vector<v1::Message> Comments(int n, uint32_t seed = 1) {
  static const char* kWords[] = {"lol", "hello", "from", "brazil", "this", "is",
                                 "amazing", "gg", "wow", "love", "the", "song",
                                 "first", "time", "here", "😂", "🔥", "nice"};
  std::mt19937 rng(seed);
  std::vector<v1::Message> out;
  out.reserve(n);
  for (int i = 0; i < n; ++i) {
    v1::Message m;
    m.set_seq(1000 + i);
    m.set_ts_ms(kT0 + i * 7);
    m.set_kind(v1::KIND_ACTION);
    m.set_sender("user-" + std::to_string(rng() % 5000));
    m.set_role(v1::ROLE_AUDIENCE);
    std::string text;
    for (int w = 0, nw = 1 + rng() % 8; w < nw; ++w) {
      if (w) text += ' ';
      text += kWords[rng() % std::size(kWords)];
    }
    m.mutable_comment()->set_text(text);
    out.push_back(std::move(m));
  }
  return out;
}

std::string Gzip(const std::string& in) {
  z_stream z{};
  deflateInit2(&z, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY);
  std::string out(deflateBound(&z, in.size()), '\0');
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  z.avail_in = static_cast<uInt>(in.size());
  z.next_out = reinterpret_cast<Bytef*>(out.data());
  z.avail_out = static_cast<uInt>(out.size());
  deflate(&z, Z_FINISH);
  out.resize(z.total_out);
  deflateEnd(&z);
  return out;
}

SegmentParams Params() {
  return {.room = "bench", .epoch = 1, .bucket_ms = 1000, .index = kT0 / 1000};
}

// Build (cap, seq range) + deterministic serialization + SHA-256 of messages
// moved in, as the publisher hands over a closed bucket. The input copies are
// made outside the timed region, a pool at a time.
void BM_BuildAndEncode(benchmark::State& state) {
  const auto msgs = Comments(static_cast<int>(state.range(0)));
  std::vector<std::vector<v1::Message>> pool;
  for (auto _ : state) {
    if (pool.empty()) {
      state.PauseTiming();
      pool.assign(256, msgs);
      state.ResumeTiming();
    }
    EncodedObject o = Encode(BuildSegment(Params(), std::move(pool.back())));
    pool.pop_back();
    benchmark::DoNotOptimize(o);
  }
  state.SetItemsProcessed(state.iterations() * state.range(0));
}
BENCHMARK(BM_BuildAndEncode)->Arg(10)->Arg(100)->Arg(1000);

// Serialization + digest of a built segment alone.
void BM_Encode(benchmark::State& state) {
  const v1::ActionSegment seg =
      BuildSegment(Params(), Comments(static_cast<int>(state.range(0))));
  for (auto _ : state) {
    EncodedObject o = Encode(seg);
    benchmark::DoNotOptimize(o);
  }
  state.SetItemsProcessed(state.iterations() * state.range(0));
}
BENCHMARK(BM_Encode)->Arg(10)->Arg(100)->Arg(1000);

// The stored bytes of a segment of `n` comments.
std::string SegmentBytes(int64_t n) {
  return Encode(BuildSegment(Params(), Comments(static_cast<int>(n)))).bytes;
}

void BM_Decode(benchmark::State& state) {
  const std::string bytes = SegmentBytes(state.range(0));
  for (auto _ : state) {
    v1::ActionSegment seg;
    benchmark::DoNotOptimize(seg.ParseFromString(bytes));
  }
  state.SetItemsProcessed(state.iterations() * state.range(0));
}
BENCHMARK(BM_Decode)->Arg(10)->Arg(100)->Arg(1000);

// The origin's work on a stored segment's PUT (origin/put.cc): its .json
// records printed one printer call each (as before JsonRecordLines), in
// one call, and a rendition gzipped with a flush after every chunk.
void BM_JsonRecordOneByOne(benchmark::State& state) {
  const std::string pb = SegmentBytes(state.range(0));
  const SegmentParts parts = SplitSegment(pb).value();
  for (auto _ : state) {
    for (size_t i = 0; i < parts.records.size(); ++i) {
      benchmark::DoNotOptimize(JsonRecordFromBytes(parts.records[i], i == 0));
    }
  }
  state.SetItemsProcessed(state.iterations() * state.range(0));
}
BENCHMARK(BM_JsonRecordOneByOne)->Arg(10)->Arg(100)->Arg(1000);

void BM_JsonRecordLines(benchmark::State& state) {
  const std::string pb = SegmentBytes(state.range(0));
  const SegmentParts parts = SplitSegment(pb).value();
  for (auto _ : state) benchmark::DoNotOptimize(JsonRecordLines(parts.records, 0));
  state.SetItemsProcessed(state.iterations() * state.range(0));
}
BENCHMARK(BM_JsonRecordLines)->Arg(10)->Arg(100)->Arg(1000);

void BM_GzipSegmentJson(benchmark::State& state) {
  const std::string pb = SegmentBytes(state.range(0));
  const std::vector<std::string> chunks = SegmentChunks(pb, Rendition::kJson).value();
  for (auto _ : state) benchmark::DoNotOptimize(GzipSegment(chunks));
  state.SetItemsProcessed(state.iterations() * state.range(0));
}
BENCHMARK(BM_GzipSegmentJson)->Arg(100)->Arg(1000);

// Bytes per comment as served (gzip), against gzipped JSON lines of the same
// messages. Reported as counters; the timing is incidental.
void BM_BytesPerComment(benchmark::State& state) {
  const int n = static_cast<int>(state.range(0));
  const auto msgs = Comments(n, 7);
  std::string pb, pb_gz, jsonl, jsonl_gz;
  for (auto _ : state) {
    pb = Encode(BuildSegment(Params(), msgs)).bytes;
    pb_gz = Gzip(pb);
    jsonl.clear();
    for (const auto& m : msgs) {
      jsonl += ToJson(m).value();
      jsonl += '\n';
    }
    jsonl_gz = Gzip(jsonl);
  }
  state.counters["pb_B_per_msg"] = static_cast<double>(pb.size()) / n;
  state.counters["pb_gzip_B_per_msg"] = static_cast<double>(pb_gz.size()) / n;
  state.counters["jsonl_B_per_msg"] = static_cast<double>(jsonl.size()) / n;
  state.counters["jsonl_gzip_B_per_msg"] = static_cast<double>(jsonl_gz.size()) / n;
  state.counters["gzip_ratio_pb_vs_jsonl"] =
      static_cast<double>(pb_gz.size()) / static_cast<double>(jsonl_gz.size());
}
BENCHMARK(BM_BytesPerComment)->Arg(10)->Arg(100)->Iterations(20);

}  // namespace
}  // namespace roomcast::segmenter

BENCHMARK_MAIN();
