# Varnish in front of roomcast-origin: the reference config, used as-is by
# the tests and benchmarks (they substitute @ORIGIN_HOST@ and @ORIGIN_PORT@).
# Run: varnishd -a :8000 -f /path/to/varnish.vcl -s malloc,256m $(cat varnishd.params)
#
# varnishd.params (beside this file) matters for live rooms: every follower
# of a bucket waits on one busy object, and when it arrives Varnish wakes
# `rush_exponent` waiters per finished delivery (default 3), a cascade that
# took up to 2 s to reach the last of 2,000 followers here. 32 (the maximum)
# wakes them in two rounds; enough worker threads keep them from queueing.
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
