#include "http/internal/framing.h"

#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"

namespace roomcast::http::internal {

std::optional<std::string> FramingError(
    const boost::beast::http::request<boost::beast::http::string_body>& h) {
  namespace bh = boost::beast::http;
  std::vector<std::string> codings;
  for (auto [it, end] = h.equal_range(bh::field::transfer_encoding); it != end; ++it) {
    for (absl::string_view c :
         absl::StrSplit(absl::string_view(it->value().data(), it->value().size()), ',')) {
      codings.push_back(absl::AsciiStrToLower(absl::StripAsciiWhitespace(c)));
    }
  }
  if (codings.empty()) return std::nullopt;
  if (codings.size() != 1 || codings[0] != "chunked") {
    return "the only transfer coding accepted is a single 'chunked'";
  }
  if (h.find(bh::field::content_length) != h.end()) {
    return "Transfer-Encoding and Content-Length together";
  }
  return std::nullopt;
}

}  // namespace roomcast::http::internal
