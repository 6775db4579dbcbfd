# Varnish in front of roomcast-origin: the reference config, used as-is by
# the tests and benchmarks (they substitute @ORIGIN_HOST@, @ORIGIN_PORT@,
# @I@, @EDGE_SECRET_FILE@, the file holding the edge secret private rooms'
# tokens are signed with, and @PURGE_SECRET_FILE@, the file holding the
# secret the origin's PURGE carries after a takedown, DESIGN §11). Needs
# Debian's varnish-vmod-digest and varnish-modules (xkey).
#
# One or more origins (DESIGN §13): every line holding @I@ (outside
# comments) is written once per origin, with @I@ its number (1, 2, ...) and
# @ORIGIN_HOST@ and @ORIGIN_PORT@ its address. One origin: substitute @I@
# with 1, as with sed
#   sed -e 's|@ORIGIN_HOST@|127.0.0.1|g' -e 's|@ORIGIN_PORT@|8080|g' -e 's|@I@|1|g' ...
# and for several, e.g.
#   awk -v o="127.0.0.1:8080 127.0.0.1:8081" '/^[^#]*@I@/ { n = split(o, a, " ");
#     for (i = 1; i <= n; i++) { split(a[i], hp, ":"); l = $0; gsub(/@I@/, i, l);
#     gsub(/@ORIGIN_HOST@/, hp[1], l); gsub(/@ORIGIN_PORT@/, hp[2], l); print l }
#     next } { print }' varnish.vcl
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

import digest;
import directors;
import std;
import xkey;

# /healthz is a constant "ok" (no store access). A killed origin is sick
# after two failed probes (about 1 s); one that comes back is healthy after
# two good ones.
probe rc_healthz {
  .url = "/healthz";
  .interval = 500ms;
  .timeout = 300ms;
  .window = 3;
  .threshold = 2;
  .initial = 2;
}

backend origin@I@ { .host = "@ORIGIN_HOST@"; .port = "@ORIGIN_PORT@"; .connect_timeout = 2s; .first_byte_timeout = 10s; .between_bytes_timeout = 10s; .probe = rc_healthz; }
# The same origin without the probe, for when every probe says sick
# (Varnish never fetches from a backend its probe calls sick).
backend anyway@I@ { .host = "@ORIGIN_HOST@"; .port = "@ORIGIN_PORT@"; .connect_timeout = 2s; .first_byte_timeout = 10s; .between_bytes_timeout = 10s; }

# The origins are stateless and serve the same objects. A shard director
# spreads URLs over the healthy ones (by=URL, which a pass has too; each
# URL, and so each held request, at one origin) and names another origin
# for a retry (alt=).
sub vcl_init {
  new rc_origins = directors.shard();
  rc_origins.add_backend(origin@I@);
  rc_origins.reconfigure();
  new rc_anyway = directors.shard();
  rc_anyway.add_backend(anyway@I@);
  rc_anyway.reconfigure();
}

# DESIGN §10: an open bucket's segment streams. Its headers come at once (or
# when the bucket starts, within the origin's hold limit), its records as
# the publisher makes them durable, its end when the bucket closes. Varnish
# streams one fetch to every waiter (beresp.do_stream, the default) and
# keeps the object only if the fetch completed: a stream the origin cuts
# (no last chunk) is never cached. A quiet bucket sends nothing for up to
# D (at most 60 s) plus the hold limit, so segment fetches wait longer
# between bytes; nothing else does. (varnishd's idle_send_timeout, 60 s by
# default, bounds the same silence towards clients: raise it with -p if a
# room uses D = 60 s.)

# One URL, one object (DESIGN §4): a cache must not be made to fetch an
# object again by a query string, a header or a spelling. The hash is the
# path plus a manifest's after= (the only parameter the origin reads), with the encoding
# normalised to gzip or identity as the variant; Cookie, Authorization and
# Host never decide a fetch.
sub vcl_recv {
  if (req.method != "GET" && req.method != "HEAD" && req.method != "OPTIONS" &&
      req.method != "PURGE") {
    return (synth(405, "Viewers only read"));
  }
  # The origin's ids never need %-encoding or dot segments, and every
  # spelling of a path would be an object of its own.
  if (req.url ~ "^[^?]*(%|//|/\.\.?(/|\?|$))") {
    return (synth(400, "Bad path"));
  }
  # A private room's edge token is taken before the query is cut down.
  unset req.http.X-RC-Token;
  if (req.url ~ "^/v1/private/" && req.url ~ "[?&]rc_token=[^&]") {
    set req.http.X-RC-Token = regsub(req.url, "^.*[?&]rc_token=([^&]*).*$", "\1");
  }
  if (req.url ~ "\?") {
    # after= only on a manifest (the one URL the origin reads it for): on
    # any other path it would make a second cached copy under a URL no
    # purge names, fetched once per value.
    if (req.url ~ "^/v1/(rooms|private)/[^/?]+/manifest\.(pb|json)\?" &&
        req.url ~ "[?&]after=[0-9]{1,20}(&|$)") {
      set req.url = regsub(req.url, "^([^?]*)\?(.*&)?(after=[0-9]{1,20})(&.*)?$", "\1?\3");
    } else {
      set req.url = regsub(req.url, "\?.*$", "");
    }
  }
  unset req.http.X-RC-Identity;
  # rc_pick_origin's own marks: a viewer cannot stop a retry.
  unset req.http.X-RC-Failed;
  unset req.http.X-RC-NoOther;
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
  # After the URL and the encoding are normalised as for a GET, so a PURGE
  # hashes to the object a GET of the same URL finds.
  if (req.method == "PURGE") {
    call rc_purge;
  }
  # Peer objects carry the viewer's token and are private: never cached (a
  # private room's too: the user's token is the stronger check).
  if (req.url ~ "^/v1/(rooms|private)/[^/]+/peer/") {
    unset req.http.Cookie;
    return (pass);
  }
  if (req.url ~ "^/v1/private/") {
    call rc_check_edge_token;
    # Only the token reaches the origin (it checks it again); the hash below
    # leaves it out, so entitled viewers share one object.
    set req.http.Cookie = "rc_token=" + req.http.X-RC-Token;
  } else {
    unset req.http.Cookie;
  }
  unset req.http.X-RC-Token;
  unset req.http.Authorization;
  # Not the built-in vcl_recv: there is nothing left for it to decide.
  return (hash);
}

# DESIGN §11: after a takedown the origin sends PURGE for each changed URL
# with the purge secret in Roomcast-Purge-Secret (compared by HMACs, so the
# comparison's time says nothing about how much of a guess was right).
# vcl_hash keys on the URL and the encoding, so the origin purges each
# encoding with its own PURGE. With an "xkey-purge: KEY..." header it purges every object
# carrying one of those keys in its xkey header (room/R, bucket/R/D/K).
sub rc_purge {
  set req.http.X-RC-Secret = regsub(std.fileread("@PURGE_SECRET_FILE@"), "[\r\n]+$", "");
  if (req.http.X-RC-Secret == "" || !req.http.Roomcast-Purge-Secret ||
      digest.hmac_sha256(req.http.X-RC-Secret, req.http.Roomcast-Purge-Secret) !=
      digest.hmac_sha256(req.http.X-RC-Secret, req.http.X-RC-Secret)) {
    unset req.http.X-RC-Secret;
    return (synth(403, "Purges need the purge secret"));
  }
  unset req.http.X-RC-Secret;
  if (req.http.xkey-purge) {
    set req.http.X-RC-Purged = xkey.purge(req.http.xkey-purge);
    return (synth(200, "Purged " + req.http.X-RC-Purged + " objects"));
  }
  return (purge);
}

# DESIGN §12's edge token, before the cache lookup (the rules of
# auth/edge_token.cc): exp=<unix s>~acl=/v1/private/<room>/*~hmac=<hex>, the
# HMAC-SHA256 (edge secret) of the text before "~hmac=". The token comes as
# rc_token= in the query (percent-encoded or not) or as the rc_token cookie.
sub rc_check_edge_token {
  if (req.http.X-RC-Token) {
    # from the query, taken in vcl_recv
  } elsif (req.http.Cookie ~ "(^|;\s*)rc_token=[^;]") {
    set req.http.X-RC-Token = regsub(req.http.Cookie, {"^(.*;\s*)?rc_token="?([^;"]*)"?.*$"}, "\2");
  } else {
    return (synth(401, "A private room needs an edge token (rc_token)"));
  }
  # The characters a token's encoding may use; any other escape fails below.
  set req.http.X-RC-Token = regsuball(req.http.X-RC-Token, "%7[Ee]", "~");
  set req.http.X-RC-Token = regsuball(req.http.X-RC-Token, "%3[Dd]", "=");
  set req.http.X-RC-Token = regsuball(req.http.X-RC-Token, "%2[Ff]", "/");
  set req.http.X-RC-Token = regsuball(req.http.X-RC-Token, "%2[Aa]", "*");
  if (req.http.X-RC-Token !~ "^exp=[1-9][0-9]{0,10}~acl=/v1/private/[A-Za-z0-9_-]{1,64}/([^~!*%?#]+|\*)~hmac=[0-9a-f]{64}$") {
    return (synth(403, "Malformed edge token"));
  }
  set req.http.X-RC-Secret = regsub(std.fileread("@EDGE_SECRET_FILE@"), "[\r\n]+$", "");
  # The MACs are compared by their own HMACs, so the comparison's time says
  # nothing about how much of a forgery was right.
  if (req.http.X-RC-Secret == "" ||
      digest.hmac_sha256(req.http.X-RC-Secret,
        digest.hmac_sha256(req.http.X-RC-Secret, regsub(req.http.X-RC-Token, "~hmac=.*$", ""))) !=
      digest.hmac_sha256(req.http.X-RC-Secret,
        "0x" + regsub(req.http.X-RC-Token, "^.*~hmac=", ""))) {
    unset req.http.X-RC-Secret;
    return (synth(403, "Forged edge token"));
  }
  unset req.http.X-RC-Secret;
  if (std.integer(regsub(req.http.X-RC-Token, "^exp=([0-9]+)~.*$", "\1"), 0) <=
      std.integer(time=now)) {
    return (synth(403, "Expired edge token"));
  }
  # The acl: this room's "/*" prefix, or this exact path.
  set req.http.X-RC-Acl = regsub(req.http.X-RC-Token, "^.*~acl=([^~]*)~hmac=.*$", "\1");
  if (!(req.http.X-RC-Acl ~ "/\*$" &&
        regsub(req.http.X-RC-Acl, "^/v1/private/([^/]+)/.*$", "\1") ==
          regsub(req.url, "^/v1/private/([^/?]+)/.*$", "\1")) &&
      req.http.X-RC-Acl != regsub(req.url, "\?.*$", "")) {
    unset req.http.X-RC-Acl;
    return (synth(403, "The edge token is for another room"));
  }
  unset req.http.X-RC-Acl;
}

sub vcl_synth {
  if (resp.status == 401 || resp.status == 403) {
    set resp.http.Cache-Control = "private, no-store";
    set resp.http.Content-Type = "application/json";
    # The origin's error body, {"error": ..., "detail": ...}.
    if (resp.status == 401) {
      set resp.body = {"{"error":"unauthorized","detail":""} + resp.reason + """"}
""";
    } else {
      set resp.body = {"{"error":"forbidden","detail":""} + resp.reason + """"}
""";
    }
    return (deliver);
  }
}

sub vcl_hash {
  # The built-in hash adds the Host header: any Host would be a new object.
  hash_data(req.url);
  # Each encoding is an object of its own, fetched in that encoding. With
  # one object per URL and Vary, Varnish fetches gzip and gunzips for an
  # identity client only once the fetch is complete: an identity viewer of
  # a streaming bucket would get nothing until the bucket ends (DESIGN §10,
  # measured p99 2,046 ms against 32 ms for gzip). The origin's PURGE comes
  # once with and once without gzip, so each is purged; xkey-purge takes
  # both.
  if (req.http.X-RC-Identity) {
    hash_data("identity");
  }
  return (lookup);
}

sub vcl_backend_fetch {
  call rc_pick_origin;
  set bereq.http.Host = "origin";
  if (bereq.url ~ "^/v1/(rooms|private)/[^/]+/actions/") {
    set bereq.between_bytes_timeout = 75s;
  }
  # Ask the origin for exactly the variant being fetched (Varnish would
  # otherwise always ask for gzip).
  if (bereq.http.X-RC-Identity) {
    unset bereq.http.Accept-Encoding;
  }
  unset bereq.http.X-RC-Identity;
}

# The origin for a fetch: the director's pick among the healthy ones; when
# every origin is probed sick, one of them anyway (a probe's verdict is up
# to a second late, a request is not: a lone origin that restarts serves at
# once, as without a probe). A retry (vcl_backend_error) goes to another
# origin than the one that failed, or, with no other, fails as the first
# try did.
sub rc_pick_origin {
  set bereq.backend = rc_origins.backend(by=URL, alt=bereq.retries, resolve=NOW);
  if (!std.healthy(bereq.backend)) {
    set bereq.backend = rc_anyway.backend(by=URL, alt=bereq.retries, resolve=NOW);
  }
  if (bereq.retries > 0 && "" + bereq.backend == bereq.http.X-RC-Failed) {
    unset bereq.http.X-RC-Failed;
    set bereq.http.X-RC-NoOther = "1";
    return (error(503, "Backend fetch failed"));
  }
  unset bereq.http.X-RC-Failed;
}

# A fetch that got no answer (connection refused or reset, or a timeout,
# before the headers: a killed origin) is tried once more at another
# origin. An answer that came is never retried: the origin's own 404s and
# 503s reach vcl_backend_response and are handled as designed. The one case
# a viewer sees a failure is an open bucket's segment (DESIGN §10) that was
# streaming from an origin when it died: its body is cut (never cached)
# and the client asks again.
sub vcl_backend_error {
  if (bereq.retries == 0 && !bereq.http.X-RC-NoOther) {
    set bereq.http.X-RC-Failed = "" + beresp.backend;
    return (retry);
  }
  unset bereq.http.X-RC-NoOther;
}

sub vcl_backend_response {
  # The origin compresses itself and keeps a strong ETag per encoding.
  set beresp.do_gzip = false;
  set beresp.do_gunzip = false;
  # A private room's objects: "private" is for caches past this edge; the
  # edge keeps them as long as CDN-Cache-Control (RFC 9213) says.
  if (bereq.url ~ "^/v1/private/") {
    if (beresp.http.CDN-Cache-Control ~ "max-age=[0-9]+") {
      set beresp.ttl = std.duration(
          regsub(beresp.http.CDN-Cache-Control, "^.*max-age=([0-9]+).*$", "\1") + "s", 0s);
      set beresp.grace = 0s;
      return (deliver);
    }
    # A refusal (the origin's own check) is never kept as the object.
    set beresp.ttl = 1s;
    set beresp.uncacheable = true;
    return (deliver);
  }
  # No grace: a manifest or a "not yet" must not be served stale while a
  # fresh copy is fetched; immutable objects never go stale anyway.
  set beresp.grace = 0s;
}

sub vcl_deliver {
  unset resp.http.CDN-Cache-Control;
  unset resp.http.X-Accel-Expires;
  if (obj.hits > 0) {
    set resp.http.X-Cache-Status = "HIT";
  } else {
    set resp.http.X-Cache-Status = "MISS";
  }
}
