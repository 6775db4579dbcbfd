// GET of an open bucket, streamed (DESIGN §10): 200 and the headers at
// once (or once the bucket starts), then the head chunk, every record so far
// and each record as it is pushed, and at close the stored segment's summary
// and the last chunk. A stream that cannot complete (the hold limit passes
// after the bucket's end, a record conflict, shutdown) ends without the last
// chunk. A stream is a coroutine parked on a timer of its connection's
// io_context between records, bounded like held requests.
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "origin/internal/bucket_get.h"
#include "origin/internal/respond.h"
#include "origin/origin.h"
#include "segmenter/bucketer.h"

namespace roomcast::origin {
namespace asio = boost::asio;
namespace bh = boost::beast::http;
using segmenter::ObjectClass;
using segmenter::ObjectRef;

namespace {

constexpr auto kTuple = asio::as_tuple(asio::use_awaitable);

// When, on this process's steady clock, wall time `ms` comes.
std::chrono::steady_clock::time_point SteadyAt(int64_t ms, int64_t now_ms) {
  return std::chrono::steady_clock::now() + std::chrono::milliseconds(ms - now_ms);
}

}  // namespace

bool Origin::Streamable(const BucketGet& get) const {
  const ObjectRef& ref = get.call.ref;
  const http::Request& req = get.call.req;
  if (ref.cls != ObjectClass::kActions || ref.bucket_ms != get.meta.bucket_ms()) return false;
  // Chunked needs HTTP/1.1; a HEAD only needs to know.
  if (req.version() < 11 || req.chunked == nullptr) return false;
  if (get.meta.stalled_from_ms() > 0 && get.end_ms > get.meta.stalled_from_ms()) return false;
  const int64_t start = segmenter::BucketStart(ref.number, ref.bucket_ms);
  const int64_t expires = get.end_ms + get.meta.review_delay_ms() + options_.max_hold.count();
  return start <= get.now_ms + options_.max_hold.count() && get.now_ms < expires;
}

boost::asio::awaitable<http::Response> Origin::StreamBucket(const BucketGet& get) {
  const http::Request& req = get.call.req;
  const ObjectRef& ref = get.call.ref;
  const int64_t expires = get.end_ms + get.meta.review_delay_ms() + options_.max_hold.count();
  bool created = false;
  std::shared_ptr<LiveBucket> bucket =
      live_.FindOrCreate(get.key, get.end_ms, expires, &created);
  if (bucket == nullptr) co_return co_await HoldForBucket(get);  // full, or stopping
  SettleIfClosed(get.key, ref, get.meta);  // closed just before it was registered
  std::optional<http::AddressLimits::Slot> slot = held_limits_.Acquire(req.remote_address);
  if (!slot) co_return http::Overloaded(req, "too many requests held; ask again shortly");
  streams_now_++;
  live_streams_.Add(1);
  auto sub = std::make_shared<LiveBucket::Subscriber>(co_await asio::this_coro::executor);
  http::Response res = co_await StreamWhenStarted(get, *bucket, sub);
  bucket->Unsubscribe(sub);
  live_streams_.Add(-1);
  streams_now_--;
  co_return res;
}

// Holds until the bucket starts (an abort, e.g. on shutdown, answers "not
// yet" instead), then streams it.
boost::asio::awaitable<http::Response> Origin::StreamWhenStarted(
    const BucketGet& get, LiveBucket& bucket, std::shared_ptr<LiveBucket::Subscriber> sub) {
  const http::Request& req = get.call.req;
  const ObjectRef& ref = get.call.ref;
  const int64_t start = segmenter::BucketStart(ref.number, ref.bucket_ms);
  if (start > get.now_ms && bucket.Subscribe(sub)) {  // at most the hold limit away
    sub->timer.expires_at(SteadyAt(start, get.now_ms));
    co_await sub->timer.async_wait(kTuple);
  }
  if (bucket.aborted()) {
    http::Response res = NotFound(req, get.caching.not_yet, "the bucket's stream was cut");
    res.set(bh::field::retry_after, "1");
    co_return res;
  }
  bool gzip = false;
  http::Response head = Finish(req, StreamHead(req, ref, &gzip), ref.cls, ref.scope);
  if (co_await req.chunked->Begin(std::move(head))) {
    const LiveBucket::Form form{
        .rendition = ref.format == segmenter::Format::kJson ? segmenter::Rendition::kJson
                                                            : segmenter::Rendition::kPb,
        .gzip = gzip};
    co_await StreamChunks(get, bucket, form, sub);
  }
  bytes_out_.Add(req.chunked->bytes());
  co_return http::Response();  // ignored: the stream was the answer
}

// Writes the form's chunks as they come, until the bucket closes (then the
// last chunk), aborts, passes its hold limit or the client goes.
boost::asio::awaitable<void> Origin::StreamChunks(
    const BucketGet& get, LiveBucket& bucket, LiveBucket::Form form,
    const std::shared_ptr<LiveBucket::Subscriber>& sub) {
  http::ChunkedWriter& out = *get.call.req.chunked;
  if (get.call.req.method() == bh::verb::head) {
    co_await out.End();
    co_return;
  }
  const auto deadline = SteadyAt(bucket.expires_ms(), NowMs());
  LiveBucket::Cursor cursor{.form = form};
  for (;;) {
    LiveBucket::Take take = bucket.Read(cursor, sub);
    bool ok = true;
    for (const LiveBucket::Chunk& c : take.chunks) {
      if (ok) ok = co_await out.Write(*c);
    }
    if (!ok || take.phase == LiveBucket::Phase::kAborted) break;
    if (take.phase == LiveBucket::Phase::kClosed) {
      co_await out.End();
      break;
    }
    if (!take.chunks.empty()) continue;
    if (std::chrono::steady_clock::now() >= deadline) {
      live_.AbortExpired(NowMs());  // no close within the hold limit
      break;
    }
    sub->timer.expires_at(deadline);
    co_await sub->timer.async_wait(kTuple);
  }
}

}  // namespace roomcast::origin
