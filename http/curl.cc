#include "http/curl.h"

#include "absl/strings/str_cat.h"

namespace roomcast::http {
namespace {

using SteadyClock = std::chrono::steady_clock;

void InitCurlOnce() {
  // curl_global_init is not thread-safe; a function-local static is.
  static const bool ok = [] {
    return curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK;
  }();
  (void)ok;
}

// Whether the server, the request or the network is at fault decides
// whether asking again can help.
absl::Status CurlStatus(CURLcode rc, absl::string_view what,
                        const char* detail) {
  const std::string msg =
      absl::StrCat(what, ": ", curl_easy_strerror(rc),
                   detail[0] != '\0' ? absl::StrCat(" (", detail, ")") : "");
  switch (rc) {
    case CURLE_OPERATION_TIMEDOUT:
      return absl::DeadlineExceededError(msg);
    case CURLE_ABORTED_BY_CALLBACK:
      return absl::DeadlineExceededError(
          absl::StrCat(what, ": aborted, the caller's deadline passed (shutdown, or a lease)"));
    case CURLE_URL_MALFORMAT:
    case CURLE_UNSUPPORTED_PROTOCOL:
      return absl::InvalidArgumentError(msg);
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CACERT_BADFILE:
      return absl::FailedPreconditionError(msg);
    default:
      // Connect refused, resolve failure, reset, empty reply, partial
      // body...: the network, not the request, is at fault.
      return absl::UnavailableError(msg);
  }
}

}  // namespace

CurlEasy NewCurlEasy() {
  InitCurlOnce();
  return CurlEasy(curl_easy_init());
}

CurlMulti NewCurlMulti() {
  InitCurlOnce();
  return CurlMulti(curl_multi_init());
}

void CurlHeaders::Append(const std::string& line) {
  if (curl_slist* l = curl_slist_append(list_.get(), line.c_str())) {
    (void)list_.release();  // `l` is the same list, one line longer
    list_.reset(l);
  }
}

Transfer::Transfer(CURL* easy, const ClientRequest& request)
    : easy_(easy),
      what_(absl::StrCat(request.method, " ", request.url)),
      shutdown_deadline_ns_(request.shutdown_deadline_ns),
      max_body_bytes_(request.max_reply_body_bytes),
      max_header_bytes_(request.max_reply_header_bytes),
      body_sink_(request.body_sink) {
  if (easy_ == nullptr) return;  // Finish reports it
  curl_easy_reset(easy_);
  SetConnection(request);
  SetCallbacks();
  SetMethod(request);
  SetHeaders(request);
}

void Transfer::SetConnection(const ClientRequest& request) {
  CURL* c = easy_;
  curl_easy_setopt(c, CURLOPT_URL, request.url.c_str());
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);  // threads: no SIGALRM
  curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(c, CURLOPT_ERRORBUFFER, error_);
  if (!request.user_agent.empty()) {
    curl_easy_setopt(c, CURLOPT_USERAGENT, request.user_agent.c_str());
  }
  if (request.connect_timeout.count() > 0) {
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS,
                     static_cast<long>(request.connect_timeout.count()));
  }
  if (request.timeout.count() > 0) {
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS,
                     static_cast<long>(request.timeout.count()));
  }
  if (!request.accept_encoding.empty()) {
    curl_easy_setopt(c, CURLOPT_ACCEPT_ENCODING,
                     request.accept_encoding.c_str());
  }
  if (request.path_as_is) curl_easy_setopt(c, CURLOPT_PATH_AS_IS, 1L);
}

void Transfer::SetCallbacks() {
  curl_easy_setopt(easy_, CURLOPT_HEADERFUNCTION, &Transfer::OnHeader);
  curl_easy_setopt(easy_, CURLOPT_HEADERDATA, this);
  curl_easy_setopt(easy_, CURLOPT_WRITEFUNCTION, &Transfer::OnBody);
  curl_easy_setopt(easy_, CURLOPT_WRITEDATA, this);
  if (shutdown_deadline_ns_ != nullptr) {
    curl_easy_setopt(easy_, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(easy_, CURLOPT_XFERINFOFUNCTION, &Transfer::OnProgress);
    curl_easy_setopt(easy_, CURLOPT_XFERINFODATA, this);
  }
}

Transfer::~Transfer() {
  // The handle outlives this object (it is pooled); nothing may point here.
  curl_easy_setopt(easy_, CURLOPT_ERRORBUFFER, nullptr);
  curl_easy_setopt(easy_, CURLOPT_HTTPHEADER, nullptr);
}

void Transfer::SetMethod(const ClientRequest& request) {
  if (request.method == "GET") {
    curl_easy_setopt(easy_, CURLOPT_HTTPGET, 1L);
    return;
  }
  if (request.method == "HEAD") {
    curl_easy_setopt(easy_, CURLOPT_NOBODY, 1L);
    return;
  }
  curl_easy_setopt(easy_, CURLOPT_CUSTOMREQUEST, request.method.c_str());
  if (!request.body) return;
  // Never a null pointer: libcurl would read the body from stdin instead.
  const char* data =
      request.body->data() != nullptr ? request.body->data() : "";
  curl_easy_setopt(easy_, CURLOPT_POSTFIELDS, data);
  curl_easy_setopt(easy_, CURLOPT_POSTFIELDSIZE_LARGE,
                   static_cast<curl_off_t>(request.body->size()));
}

void Transfer::SetHeaders(const ClientRequest& request) {
  for (const std::string& line : request.headers) headers_.Append(line);
  headers_.Append("Expect:");
  curl_easy_setopt(easy_, CURLOPT_HTTPHEADER, headers_.get());
}

// Returning less than was given makes libcurl end the transfer
// (CURLE_WRITE_ERROR); Finish says why.
size_t Transfer::OnHeader(char* data, size_t size, size_t n, void* self) {
  auto* t = static_cast<Transfer*>(self);
  t->header_bytes_ += size * n;
  if (t->header_bytes_ > t->max_header_bytes_) {
    t->too_big_ = true;
    return 0;
  }
  AddHeaderLine(absl::string_view(data, size * n), &t->reply_);
  return size * n;
}

size_t Transfer::OnBody(char* data, size_t size, size_t n, void* self) {
  auto* t = static_cast<Transfer*>(self);
  if (size * n > t->max_body_bytes_ - t->body_bytes_) {
    t->too_big_ = true;
    return 0;
  }
  t->body_bytes_ += size * n;
  if (t->body_sink_ && t->SuccessSoFar()) {
    t->body_sink_(absl::string_view(data, size * n));
  } else {
    t->reply_.body.append(data, size * n);
  }
  return size * n;
}

bool Transfer::SuccessSoFar() const {
  long status = 0;
  curl_easy_getinfo(easy_, CURLINFO_RESPONSE_CODE, &status);
  return status >= 200 && status < 300;
}

// libcurl calls it at least once a second, even on a silent connection.
int Transfer::OnProgress(void* self, curl_off_t, curl_off_t, curl_off_t,
                         curl_off_t) {
  const int64_t now_ns = std::chrono::duration_cast<std::chrono::nanoseconds>(
                             SteadyClock::now().time_since_epoch())
                             .count();
  return now_ns >= static_cast<Transfer*>(self)->shutdown_deadline_ns_->load();
}

absl::StatusOr<ClientReply> Transfer::Perform() {
  // Past the deadline nothing starts: the progress callback would stop it,
  // but only after its first bytes may have reached the server.
  if (easy_ != nullptr && shutdown_deadline_ns_ != nullptr &&
      OnProgress(this, 0, 0, 0, 0) != 0) {
    return Finish(CURLE_ABORTED_BY_CALLBACK);
  }
  return Finish(easy_ == nullptr ? CURLE_FAILED_INIT
                                 : curl_easy_perform(easy_));
}

absl::StatusOr<ClientReply> Transfer::Finish(CURLcode code) {
  if (too_big_) {
    return absl::ResourceExhaustedError(absl::StrCat(
        what_, ": the reply is over ", max_header_bytes_, " header or ", max_body_bytes_,
        " body bytes"));
  }
  if (code != CURLE_OK) return CurlStatus(code, what_, error_);
  long status = 0;
  curl_easy_getinfo(easy_, CURLINFO_RESPONSE_CODE, &status);
  reply_.status = static_cast<int>(status);
  return std::move(reply_);
}

}  // namespace roomcast::http
