// How a request's body is framed, judged from its header (RFC 9112 §6): by
// one `chunked` transfer coding or by Content-Length, never both, and never
// by a coding the server does not understand, since a body it cannot frame
// would be read as the next request (request smuggling).
//
//   if (auto why = FramingError(parser.get())) return Refuse400(*why);
#ifndef ROOMCAST_HTTP_INTERNAL_FRAMING_H_
#define ROOMCAST_HTTP_INTERNAL_FRAMING_H_

#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>
#include <optional>
#include <string>

namespace roomcast::http::internal {

// Why the header frames its body in a way the server refuses; nullopt if
// the framing is fine.
std::optional<std::string> FramingError(
    const boost::beast::http::request<boost::beast::http::string_body>& header);

}  // namespace roomcast::http::internal

#endif  // ROOMCAST_HTTP_INTERNAL_FRAMING_H_
