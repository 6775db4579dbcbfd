// Test support: one HTTP/1.1 GET on a raw socket whose chunked body is read
// as it arrives, so a test can see records reach a client before the
// response ends, and tell a complete body (the last chunk, "0\r\n\r\n")
// from one cut by the server closing the connection.
//
//   StreamReader s(PortOf(url), path, {"Accept-Encoding: gzip"});
//   ASSERT_TRUE(s.WaitFor([](const std::string& body) { return body.size() > 10; }));
//   ASSERT_TRUE(s.WaitForFinish());
//   EXPECT_TRUE(s.ended());  // or: s.closed() && !s.ended()
#ifndef ROOMCAST_TESTS_SUPPORT_STREAM_READER_H_
#define ROOMCAST_TESTS_SUPPORT_STREAM_READER_H_

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace roomcast::testing {

class StreamReader {
 public:
  // Connects to 127.0.0.1:port and sends `method path` with `headers`
  // ("Name: value"); reads on a thread of its own until the response ends,
  // the server closes, or the reader is destroyed.
  StreamReader(int port, const std::string& path, const std::vector<std::string>& headers = {},
               const std::string& method = "GET");
  ~StreamReader();
  StreamReader(const StreamReader&) = delete;
  StreamReader& operator=(const StreamReader&) = delete;

  using Pred = std::function<bool(const std::string& body)>;
  // Waits until `pred(body so far)` holds; false at the timeout or once the
  // response finished without it holding.
  bool WaitFor(const Pred& pred,
               std::chrono::milliseconds timeout = std::chrono::seconds(10));
  // Waits until the status line and headers are in.
  bool WaitForHead(std::chrono::milliseconds timeout = std::chrono::seconds(10));
  // Waits until the response ended (last chunk) or the connection closed.
  bool WaitForFinish(std::chrono::milliseconds timeout = std::chrono::seconds(10));

  int status() const;
  // Lower-case `name`; "" if absent.
  std::string header(const std::string& name) const;
  std::string body() const;  // de-chunked, so far
  size_t chunks() const;     // data chunks so far
  // The last chunk arrived (or, for an answer with Content-Length instead
  // of chunks, all of its bytes).
  bool ended() const;
  bool closed() const;       // the server closed the connection

 private:
  void Run();
  void ParseLocked();

  int fd_ = -1;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::string raw_;  // unparsed bytes
  bool head_done_ = false;
  int status_ = 0;
  std::vector<std::pair<std::string, std::string>> headers_;
  std::string body_;
  size_t chunks_ = 0;
  int64_t content_length_ = -1;  // -1: chunked
  bool ended_ = false;
  bool closed_ = false;
  bool bad_ = false;
  bool stop_ = false;
  std::thread thread_;
};

// What a gzip stream flushed so far (Z_SYNC_FLUSH after each record, as
// the origin streams it) inflates to: every record before the cut.
std::string InflatePrefix(const std::string& gz);

}  // namespace roomcast::testing

#endif  // ROOMCAST_TESTS_SUPPORT_STREAM_READER_H_
