// co_await for a call that reports through a callback on another thread
// (the log's writer thread, libnats' delivery thread): the result is posted
// back to the awaiting coroutine's executor, so the coroutine resumes where
// it runs.
//
//   absl::StatusOr<v1::RoomConfig> r = co_await Await<v1::RoomConfig>(
//       [&](auto cb) { publisher.EndRoom(who, room, std::move(cb)); });
#ifndef ROOMCAST_PUBLISHER_INTERNAL_AWAIT_H_
#define ROOMCAST_PUBLISHER_INTERNAL_AWAIT_H_

#include <memory>
#include <utility>

#include <boost/asio/associated_executor.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "absl/status/statusor.h"

namespace roomcast::publisher::internal {

template <typename T, typename Start>
boost::asio::awaitable<absl::StatusOr<T>> Await(Start start) {
  namespace asio = boost::asio;
  co_return co_await asio::async_initiate<const asio::use_awaitable_t<>,
                                          void(absl::StatusOr<T>)>(
      [start = std::move(start)](auto handler) mutable {
        auto h = std::make_shared<decltype(handler)>(std::move(handler));
        auto ex = asio::get_associated_executor(*h);
        start([h, ex](absl::StatusOr<T> r) mutable {
          asio::post(ex, [h, r = std::move(r)]() mutable { (*h)(std::move(r)); });
        });
      },
      asio::use_awaitable);
}

}  // namespace roomcast::publisher::internal

#endif  // ROOMCAST_PUBLISHER_INTERNAL_AWAIT_H_
