# Varnish in front of roomcast-origin: the reference config, used as-is by
# the tests and benchmarks (they substitute @ORIGIN_HOST@ and @ORIGIN_PORT@).
# Run: varnishd -a :8000 -f /path/to/varnish.vcl -s malloc,256m
#
# Keep varnishd's default rush_exponent (3) and thread pools: at 2,000
# followers of one bucket, rush_exponent=32 with larger pools woke so many
# threads at once that one core's run queue, not the origin, set the latency
# (p50 1.8 s against 0.19 s with the defaults, bench/e2e.sh).
#
# Varnish coalesces concurrent requests for one URL on its waiting list and
# wakes every waiter as soon as the answer arrives. The origin makes every
# answer that can reach a waiting list cacheable (a "not yet" is a 404 with
# max-age=1, never no-store), so the built-in VCL never turns a bucket URL
# into hit-for-miss.
vcl 4.1;

backend origin {
  .host = "@ORIGIN_HOST@";
  .port = "@ORIGIN_PORT@";
  .first_byte_timeout = 10s;
  .between_bytes_timeout = 10s;
}

# One URL, one object (DESIGN §4): a cache must not be made to fetch an
# object again by a query string, a header or a spelling. The hash is the
# path plus after= (the only parameter the origin reads), with the encoding
# normalised to gzip or identity as the variant; Cookie, Authorization and
# Host never decide a fetch.
sub vcl_recv {
  if (req.method != "GET" && req.method != "HEAD" && req.method != "OPTIONS") {
    return (synth(405, "Viewers only read"));
  }
  # The origin's ids never need %-encoding or dot segments, and every
  # spelling of a path would be an object of its own.
  if (req.url ~ "^[^?]*(%|//|/\.\.?(/|\?|$))") {
    return (synth(400, "Bad path"));
  }
  if (req.url ~ "\?") {
    if (req.url ~ "[?&]after=[0-9]{1,20}(&|$)") {
      set req.url = regsub(req.url, "^([^?]*)\?(.*&)?(after=[0-9]{1,20})(&.*)?$", "\1?\3");
    } else {
      set req.url = regsub(req.url, "\?.*$", "");
    }
  }
  unset req.http.X-RC-Identity;
  if (req.http.Accept-Encoding ~ "(?i)(^|[\s,])gzip\s*;\s*q=0(\.0{0,3})?\s*(,|$)") {
    unset req.http.Accept-Encoding;
  } elsif (req.http.Accept-Encoding ~ "(?i)(^|[\s,])gzip\s*(;|,|$)") {
    set req.http.Accept-Encoding = "gzip";
  } else {
    unset req.http.Accept-Encoding;
  }
  if (!req.http.Accept-Encoding) {
    set req.http.X-RC-Identity = "1";
  }
  unset req.http.Cookie;
  # Peer objects carry the viewer's token and are private: never cached.
  if (req.url ~ "^/v1/rooms/[^/]+/peer/") {
    return (pass);
  }
  unset req.http.Authorization;
  # Not the built-in vcl_recv: there is nothing left for it to decide.
  return (hash);
}

sub vcl_hash {
  # The built-in hash adds the Host header: any Host would be a new object.
  hash_data(req.url);
  return (lookup);
}

sub vcl_backend_fetch {
  set bereq.http.Host = "origin";
  # Ask the origin for exactly the variant being fetched (Varnish would
  # otherwise always ask for gzip).
  if (bereq.http.X-RC-Identity) {
    unset bereq.http.Accept-Encoding;
  }
  unset bereq.http.X-RC-Identity;
}

sub vcl_backend_response {
  # The origin compresses itself and keeps a strong ETag per encoding.
  set beresp.do_gzip = false;
  set beresp.do_gunzip = false;
  # No grace: a manifest or a "not yet" must not be served stale while a
  # fresh copy is fetched; immutable objects never go stale anyway.
  set beresp.grace = 0s;
}

sub vcl_deliver {
  if (obj.hits > 0) {
    set resp.http.X-Cache-Status = "HIT";
  } else {
    set resp.http.X-Cache-Status = "MISS";
  }
}
