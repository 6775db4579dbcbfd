#include "origin/internal/takedown.h"

#include "absl/container/flat_hash_set.h"
#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "roomcast/v1/segment.pb.h"
#include "segmenter/codec.h"

namespace roomcast::origin {
namespace {

absl::Status Bad(absl::string_view header, absl::string_view why) {
  return absl::InvalidArgumentError(absl::StrCat(header, ": ", why));
}

// The one value of header `name`; kInvalidArgument if absent or repeated.
absl::StatusOr<absl::string_view> OneHeader(const http::RequestHead& req,
                                            absl::string_view name) {
  const size_t n = req.count(boost::beast::string_view(name.data(), name.size()));
  if (n != 1) return Bad(name, n == 0 ? "missing" : "given more than once");
  auto it = req.find(boost::beast::string_view(name.data(), name.size()));
  return absl::string_view(it->value().data(), it->value().size());
}

// Canonical decimal: digits only, no sign, no leading zero.
bool ParseCanonical(absl::string_view s, uint64_t* out) {
  if (s.empty() || s.size() > 20 || (s.size() > 1 && s[0] == '0')) return false;
  for (char c : s) {
    if (!absl::ascii_isdigit(static_cast<unsigned char>(c))) return false;
  }
  return absl::SimpleAtoi(s, out);
}

absl::StatusOr<std::vector<uint64_t>> ParseSeqs(absl::string_view v) {
  // Bounded before any splitting runs.
  if (v.size() > kMaxTakedownSeqsHeaderBytes) {
    return Bad(kTakedownSeqsHeader, absl::StrCat("longer than ", kMaxTakedownSeqsHeaderBytes,
                                                 " bytes"));
  }
  std::vector<uint64_t> seqs;
  for (absl::string_view item : absl::StrSplit(v, ',')) {
    if (seqs.size() == kMaxTakedownSeqs) {
      return Bad(kTakedownSeqsHeader, absl::StrCat("more than ", kMaxTakedownSeqs, " seqs"));
    }
    uint64_t seq = 0;
    if (!ParseCanonical(absl::StripAsciiWhitespace(item), &seq)) {
      return Bad(kTakedownSeqsHeader, "expected ascending decimal seqs, e.g. 12,15,40");
    }
    if (!seqs.empty() && seq <= seqs.back()) {
      return Bad(kTakedownSeqsHeader, "seqs must be strictly ascending");
    }
    seqs.push_back(seq);
  }
  return seqs;
}

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// RFC 3629 UTF-8: no overlongs, no surrogates, nothing past U+10FFFF.
bool IsValidUtf8(absl::string_view s) {
  for (size_t i = 0; i < s.size();) {
    const auto c = static_cast<unsigned char>(s[i]);
    const size_t n = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xE ? 3
                                 : (c >> 3) == 0x1E ? 4 : 0;
    if (n == 0 || i + n > s.size()) return false;
    uint32_t cp = n == 1 ? c : c & (0x7F >> n);
    for (size_t j = 1; j < n; ++j) {
      const auto d = static_cast<unsigned char>(s[i + j]);
      if ((d & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (d & 0x3F);
    }
    static constexpr uint32_t kMin[] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < kMin[n] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
    i += n;
  }
  return true;
}

absl::StatusOr<std::string> ParseReason(absl::string_view v) {
  if (v.size() > 3 * kMaxTakedownReasonBytes) {
    return Bad(kTakedownReasonHeader, "too long");
  }
  std::string out;
  for (size_t i = 0; i < v.size(); ++i) {
    if (v[i] != '%') {
      out.push_back(v[i]);
      continue;
    }
    const int hi = i + 2 < v.size() ? HexValue(v[i + 1]) : -1;
    const int lo = hi >= 0 ? HexValue(v[i + 2]) : -1;
    if (lo < 0) return Bad(kTakedownReasonHeader, "a '%' must start a %XX escape");
    out.push_back(static_cast<char>(hi * 16 + lo));
    i += 2;
  }
  if (out.size() > kMaxTakedownReasonBytes) {
    return Bad(kTakedownReasonHeader,
               absl::StrCat("longer than ", kMaxTakedownReasonBytes, " bytes decoded"));
  }
  if (!IsValidUtf8(out)) return Bad(kTakedownReasonHeader, "not UTF-8 once decoded");
  return out;
}

absl::Status CheckDigest(absl::string_view v) {
  if (v.size() != 64 || v.find_first_not_of("0123456789abcdef") != absl::string_view::npos) {
    return Bad(kTakedownOldHeader, "expected 64 lowercase hex digits (SHA-256)");
  }
  return absl::OkStatus();
}

absl::StatusOr<v1::ActionSegment> ParseSegment(absl::string_view bytes,
                                               absl::string_view which) {
  v1::ActionSegment s;
  if (!s.ParseFromArray(bytes.data(), static_cast<int>(bytes.size()))) {
    return absl::InvalidArgumentError(absl::StrCat("the ", which, " object is not an ActionSegment"));
  }
  return s;
}

bool IsStubOf(const v1::Message& stub, const v1::Message& original) {
  v1::Message want;
  want.set_seq(original.seq());
  want.set_ts_ms(original.ts_ms());
  want.mutable_redacted();
  return segmenter::SerializeDeterministic(stub) == segmenter::SerializeDeterministic(want);
}

// Message by message: listed ones must be stubs of the old, the rest equal.
absl::Status CheckMessages(const v1::ActionSegment& old_seg, const v1::ActionSegment& new_seg,
                           const std::vector<uint64_t>& seqs) {
  if (old_seg.messages_size() != new_seg.messages_size()) {
    return absl::InvalidArgumentError(
        absl::StrCat("the new object holds ", new_seg.messages_size(), " messages, the old ",
                     old_seg.messages_size()));
  }
  const absl::flat_hash_set<uint64_t> listed(seqs.begin(), seqs.end());
  int changed = 0;
  for (int i = 0; i < old_seg.messages_size(); ++i) {
    const v1::Message& o = old_seg.messages(i);
    const v1::Message& n = new_seg.messages(i);
    if (listed.contains(o.seq())) {
      if (!IsStubOf(n, o)) {
        return absl::InvalidArgumentError(absl::StrCat(
            "message ", i, " (seq ", o.seq(), ") is not its stub {seq, ts_ms, redacted}"));
      }
      changed += o.has_redacted() ? 0 : 1;
    } else if (segmenter::SerializeDeterministic(o) != segmenter::SerializeDeterministic(n)) {
      return absl::InvalidArgumentError(
          absl::StrCat("message ", i, " (seq ", o.seq(), ") changed but is not listed"));
    }
  }
  if (changed == 0) {
    return absl::InvalidArgumentError("the object holds none of the listed seqs unstubbed");
  }
  return absl::OkStatus();
}

}  // namespace

bool IsTakedown(const http::RequestHead& req) {
  for (const char* h : {kTakedownOldHeader, kTakedownSeqsHeader, kTakedownReasonHeader,
                        kTakedownAtHeader}) {
    if (req.find(h) != req.end()) return true;
  }
  return false;
}

absl::StatusOr<TakedownHeaders> ParseTakedownHeaders(const http::RequestHead& req) {
  TakedownHeaders h;
  auto old = OneHeader(req, kTakedownOldHeader);
  if (!old.ok()) return old.status();
  if (absl::Status s = CheckDigest(*old); !s.ok()) return s;
  h.old_digest = std::string(*old);
  auto seqs = OneHeader(req, kTakedownSeqsHeader);
  if (!seqs.ok()) return seqs.status();
  auto parsed = ParseSeqs(*seqs);
  if (!parsed.ok()) return parsed.status();
  h.seqs = *std::move(parsed);
  auto reason = OneHeader(req, kTakedownReasonHeader);
  if (!reason.ok()) return reason.status();
  auto decoded = ParseReason(*reason);
  if (!decoded.ok()) return decoded.status();
  h.reason = *std::move(decoded);
  auto at = OneHeader(req, kTakedownAtHeader);
  if (!at.ok()) return at.status();
  uint64_t at_ms = 0;
  if (!ParseCanonical(*at, &at_ms) || at_ms == 0 || at_ms > uint64_t{INT64_MAX}) {
    return Bad(kTakedownAtHeader, "expected unix milliseconds");
  }
  h.at_ms = static_cast<int64_t>(at_ms);
  return h;
}

absl::Status CheckStubbed(absl::string_view old_bytes, absl::string_view new_bytes,
                          const std::vector<uint64_t>& seqs) {
  auto old_seg = ParseSegment(old_bytes, "stored");
  if (!old_seg.ok()) return old_seg.status();
  auto new_seg = ParseSegment(new_bytes, "new");
  if (!new_seg.ok()) return new_seg.status();
  if (absl::Status s = CheckMessages(*old_seg, *new_seg, seqs); !s.ok()) return s;
  old_seg->clear_messages();
  new_seg->clear_messages();
  if (segmenter::SerializeDeterministic(*old_seg) != segmenter::SerializeDeterministic(*new_seg)) {
    return absl::InvalidArgumentError("fields other than the listed messages changed");
  }
  return absl::OkStatus();
}

}  // namespace roomcast::origin
