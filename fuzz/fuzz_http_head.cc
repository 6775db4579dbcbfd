// A request head (and body) as the server reads it: Beast's parser with the
// server's header limit, then the framing rules that decide whether a body
// may be read at all.
#include <boost/beast/core/error.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/string_body.hpp>
#include <cstdint>

#include "http/internal/framing.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  namespace bh = boost::beast::http;
  bh::request_parser<bh::string_body> parser;
  parser.header_limit(16 << 10);
  parser.body_limit(1 << 20);
  parser.eager(true);
  boost::beast::error_code ec;
  size_t used = 0;
  while (used < size && !ec && !parser.is_done()) {
    const size_t n = parser.put(boost::asio::buffer(data + used, size - used), ec);
    if (n == 0) break;
    used += n;
    if (parser.is_header_done() && !parser.is_done()) {
      (void)roomcast::http::internal::FramingError(parser.get());
    }
  }
  if (parser.is_header_done()) (void)roomcast::http::internal::FramingError(parser.get());
  return 0;
}
