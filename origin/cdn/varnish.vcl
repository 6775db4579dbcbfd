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

sub vcl_recv {
  if (req.method != "GET" && req.method != "HEAD" && req.method != "OPTIONS") {
    return (synth(405, "Viewers only read"));
  }
  # Peer objects carry the viewer's token and are private: never cached
  # (the built-in VCL passes requests with Authorization too).
  if (req.url ~ "^/v1/rooms/[^/]+/peer/") {
    return (pass);
  }
}

sub vcl_backend_response {
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
