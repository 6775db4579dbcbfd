#!/usr/bin/env bash
# bench/edge_token.sh: what verifying a private room's edge token (DESIGN
# §12) costs per request, at the origin and at each reference edge (issue 13).
#
#   bench/edge_token.sh [BUILD_DIR]        # default: build
#
# Builds nothing: needs BUILD_DIR/bin/{roomcast-origin,roomcast} and
# BUILD_DIR/bench/origin_fixture_tool, plus nginx (libnginx-mod-http-js),
# varnishd (varnish-vmod-digest), wrk, protoc, curl and taskset. Loopback
# only. One origin (--threads 1, with an edge secret) holds the same ~2 KB
# closed segment twice: in a public room (origin_fixture_tool) and in a
# private room (the same bytes with the room renamed, re-encoded with
# protoc, plus the private manifest and its publisher's watermark that make
# the bucket closed). The reference configs origin/cdn/nginx.conf and
# origin/cdn/varnish.vcl are used as-is (placeholders substituted, as
# tests/support/caches.cc does). Every server runs on core 0, wrk on core 1
# (keep-alive, -t1 -cCONNS, a WARMUP run before each run). For each server
# (origin direct, nginx, Varnish; the edges with a warm cache, i.e. hits)
# and each request: (a) the public segment, (b) the private one with a
# valid token as rc_token= in the query, (c) the same token as the rc_token
# cookie, it reports req/s, p50/p99 and the serving process's CPU (user +
# system, from /proc/PID/stat, children included) per request. Private −
# public CPU per request is what the token costs at that server: extracting
# and verifying it, plus the private room's extra response headers at the
# origin. The machine may be shared: a server's three cases run back to
# back, ROUNDS times, each round's difference is taken within the round,
# and the table gives medians over the rounds.
#
# Before each wrk run, curl checks the exact request answers 200 with the
# stored bytes, that without a token the private object is 401 and with a
# forged one 403, and on the edges that the request is a cache hit
# (X-Cache-Status: HIT); an edge run fails if the origin's request counter
# (roomcast_origin_requests_total) moves by more than 1% of the run's
# requests (the report shows by how much it moved, and Varnish's own hit
# and backend counters). Appends a markdown section to
# bench/results/edge-token-YYYY-MM-DD.md. Ends only the processes it
# started, by PID. About 6 minutes with the defaults.
#
# Knobs (environment): DURATION (10s), WARMUP (2s), CONNS (32), ROUNDS (3),
# EDGES ("nginx varnish"), RESULTS_DIR (bench/results), ORIGIN_BIN
# (BUILD_DIR/bin/roomcast-origin, to compare two builds), CDN_DIR
# (origin/cdn: where nginx.conf, edge_token.js and varnish.vcl come from,
# to compare a changed copy of the edge configs).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=build
while [[ $# -gt 0 ]]; do
  case $1 in
    -h|--help) sed -n '2,/^set -euo pipefail/p' "$0" | sed -e '$d' -e 's/^# \{0,1\}//'; exit 0 ;;
    -*) echo "edge_token.sh: unknown flag $1 (try --help)" >&2; exit 2 ;;
    *) BUILD=$1; shift ;;
  esac
done
[[ $BUILD = /* ]] || BUILD=$ROOT/$BUILD
DURATION=${DURATION:-10s}
WARMUP=${WARMUP:-2s}
CONNS=${CONNS:-32}
ROUNDS=${ROUNDS:-3}
EDGES=${EDGES:-nginx varnish}
CDN_DIR=${CDN_DIR:-$ROOT/origin/cdn}
[[ $CDN_DIR = /* ]] || CDN_DIR=$PWD/$CDN_DIR
RESULTS_DIR=${RESULTS_DIR:-$ROOT/bench/results}
SERVER_CORE=0
CLIENT_CORE=1

ORIGIN_BIN=${ORIGIN_BIN:-$BUILD/bin/roomcast-origin}
CLI_BIN=$BUILD/bin/roomcast
FIXTURE=$BUILD/bench/origin_fixture_tool

die() { echo "edge_token.sh: $*" >&2; exit 1; }
for f in "$ORIGIN_BIN" "$CLI_BIN" "$FIXTURE"; do
  [[ -x $f ]] || die "missing $f (ninja -C $BUILD roomcast-origin roomcast origin_fixture_tool)"
done
for t in wrk curl protoc taskset timeout python3; do
  command -v "$t" >/dev/null || die "needs $t on PATH"
done
for e in $EDGES; do
  case $e in
    nginx) command -v nginx >/dev/null || die "needs nginx on PATH" ;;
    varnish) for t in varnishd varnishstat; do command -v "$t" >/dev/null || die "needs $t on PATH"; done ;;
    *) die "unknown edge '$e' in EDGES (nginx, varnish)" ;;
  esac
done
[[ $(nproc) -ge 2 ]] || die "needs 2 cores (servers on core $SERVER_CORE, wrk on core $CLIENT_CORE)"

source "$ROOT/bench/lib.sh"
bench_scratch edge-token
START_S=$(date +%s)

export ROOMCAST_WRITE_SECRET="bench-write-$$-$RANDOM"
# One edge secret for the origin and both edges, in a file as the reference
# configs read it; nginx's workers (nobody, when started as root) read it too.
EDGE_SECRET_FILE=$TMP/edge-secret
printf 'bench-edge-%s-%s\n' "$$" "$RANDOM" >"$EDGE_SECRET_FILE"
chmod 644 "$EDGE_SECRET_FILE"
printf 'bench-purge-%s-%s\n' "$$" "$RANDOM" >"$EDGE_SECRET_FILE.purge"  # the configs need one; no PURGE here

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
# Waits until something answers HTTP on PORT (any status); $2 is its PID.
wait_http() {  # PORT PID LOG NAME
  for _ in $(seq 300); do
    [[ $(curl -s -m 1 -o /dev/null -w '%{http_code}' "http://127.0.0.1:$1/" || true) != 000 ]] && return 0
    kill -0 "$2" 2>/dev/null || die "$4 exited: $(cat "$3" 2>/dev/null)"
    sleep 0.1
  done
  die "$4 did not answer on port $1 in 30 s: $(cat "$3" 2>/dev/null)"
}

# --- origin and objects ------------------------------------------------------
taskset -c "$SERVER_CORE" "$ORIGIN_BIN" --listen 127.0.0.1:0 --data "$TMP/data" \
  --threads 1 --no-sync --edge-secret-file "$EDGE_SECRET_FILE" \
  >"$TMP/origin.out" 2>"$TMP/origin.err" &
ORIGIN_PID=$!
PIDS+=("$ORIGIN_PID")
ORIGIN_URL=$(wait_listening "$TMP/origin.out" "$ORIGIN_PID" origin)
[[ -n $ORIGIN_URL ]] || die "origin did not listen"
ORIGIN_HOSTPORT=${ORIGIN_URL#http://}

# The public room "pub" (publisher bench-pub), its ~2 KB segment closed by
# the fixture's watermark.
while IFS='=' read -r key value; do
  case $key in SEG2K_PATH|SEG2K_BYTES) printf -v "$key" '%s' "$value" ;; esac
done < <(timeout 30 "$FIXTURE" --origin "$ORIGIN_URL" --static-dir "$TMP/www" \
  --hold-body "$TMP/hold.pb" --room pub)
[[ -n ${SEG2K_PATH:-} ]] || die "origin_fixture_tool failed"
PUB_PATH=$SEG2K_PATH
PRIV_PATH=${PUB_PATH/#\/v1\/rooms\/pub\//\/v1\/private\/vip\/}

# The private room "vip": the same segment and manifest, renamed (same
# length, so the same size), the manifest marked private and owned by its
# own publisher, bench-vip, whose watermark then closes the bucket (the
# origin refuses a segment for a bucket already closed and never stored).
proto() {  # --encode|--decode TYPE FILE.proto
  protoc -I "$ROOT/schemas" "$1=roomcast.v1.$2" "roomcast/v1/$3"
}
put() {  # PATH FILE -> the HTTP status
  curl -s -m 10 -o "$TMP/put.out" -w '%{http_code}' -X PUT \
    -H "Authorization: Bearer $ROOMCAST_WRITE_SECRET" \
    -H 'Content-Type: application/x-protobuf' --data-binary "@$2" "$ORIGIN_URL$1"
}
curl -sf -m 5 -o "$TMP/pub.pb" "$ORIGIN_URL$PUB_PATH" || die "GET $PUB_PATH failed"
curl -sf -m 5 -o "$TMP/pub-manifest.pb" "$ORIGIN_URL/v1/rooms/pub/manifest.pb" || die "GET the manifest failed"
proto --decode ActionSegment segment.proto <"$TMP/pub.pb" >"$TMP/pub.txt"
proto --encode ActionSegment segment.proto <"$TMP/pub.txt" | cmp -s - "$TMP/pub.pb" ||
  die "protoc does not re-encode the segment byte for byte"
sed '1s/^room: "pub"$/room: "vip"/' "$TMP/pub.txt" | proto --encode ActionSegment segment.proto >"$TMP/vip.pb"
proto --decode Manifest manifest.proto <"$TMP/pub-manifest.pb" |
  sed -e 's/^room: "pub"$/room: "vip"/' -e 's/^publisher: "bench-pub"$/publisher: "bench-vip"/' \
      -e 's/^config {$/config {\n  private: true/' >"$TMP/vip-manifest.txt"
grep -q '^  private: true' "$TMP/vip-manifest.txt" || die "could not mark the manifest private"
proto --encode Manifest manifest.proto <"$TMP/vip-manifest.txt" >"$TMP/vip-manifest.pb"
printf 'publisher: "bench-vip"\nwatermark_ms: %d\n' $(($(date +%s%3N) - 30000)) |
  proto --encode Watermark ingest.proto >"$TMP/vip-watermark.pb"
[[ $(stat -c %s "$TMP/vip.pb") -eq $(stat -c %s "$TMP/pub.pb") ]] || die "the private segment's size differs"
for pair in "/v1/private/vip/manifest.pb $TMP/vip-manifest.pb" "$PRIV_PATH $TMP/vip.pb" \
            "/v1/publishers/bench-vip/watermark $TMP/vip-watermark.pb"; do
  read -r path file <<<"$pair"
  status=$(put "$path" "$file")
  [[ $status == 2?? ]] || die "PUT $path: HTTP $status $(cat "$TMP/put.out")"
done

TOKEN=$(ROOMCAST_EDGE_SECRET=$(cat "$EDGE_SECRET_FILE") "$CLI_BIN" token --edge --room vip --ttl 3600)
[[ $TOKEN == exp=*~acl=/v1/private/vip/\*~hmac=* ]] || die "roomcast token --edge printed '$TOKEN'"
# A forged one: the last hex digit of the HMAC changed.
FORGED=${TOKEN%?}$([[ ${TOKEN: -1} == 0 ]] && echo 1 || echo 0)

# --- edges -------------------------------------------------------------------
declare -A URL PID
URL[origin]=$ORIGIN_URL
PID[origin]=$ORIGIN_PID
for edge in $EDGES; do
  port=$(free_port)
  dir=$TMP/$edge
  mkdir -p "$dir"
  case $edge in
    nginx)
      # Run as root, nginx's workers drop to "nobody": let them use the dir.
      chmod 777 "$dir"
      sed -e "s|@LISTEN@|127.0.0.1:$port|g" -e "s|@ORIGIN@|$ORIGIN_HOSTPORT|g" \
        -e "s|@DIR@|$dir|g" -e "s|@CDN_DIR@|$CDN_DIR|g" \
        -e "s|@EDGE_SECRET_FILE@|$EDGE_SECRET_FILE|g" \
        -e "s|@PURGE_SECRET_FILE@|$EDGE_SECRET_FILE.purge|g" "$CDN_DIR/nginx.conf" >"$dir/nginx.conf"
      ! grep -q '@[A-Z_]*@' "$dir/nginx.conf" || die "a placeholder is left in nginx.conf"
      taskset -c "$SERVER_CORE" nginx -e "$dir/error.log" -p "$dir" -c "$dir/nginx.conf" \
        >"$dir/stderr.log" 2>&1 &
      ;;
    varnish)
      sed -e "s|@ORIGIN_HOST@|${ORIGIN_HOSTPORT%:*}|g" -e "s|@ORIGIN_PORT@|${ORIGIN_HOSTPORT#*:}|g" -e "s|@I@|1|g" \
        -e "s|@EDGE_SECRET_FILE@|$EDGE_SECRET_FILE|g" \
        -e "s|@PURGE_SECRET_FILE@|$EDGE_SECRET_FILE.purge|g" "$CDN_DIR/varnish.vcl" >"$dir/roomcast.vcl"
      ! grep -q '@[A-Z_]*@' "$dir/roomcast.vcl" || die "a placeholder is left in varnish.vcl"
      # -F: foreground, so its PID is ours to stop; -j none: no jail setup.
      taskset -c "$SERVER_CORE" varnishd -F -j none -n "$dir/work" -a "127.0.0.1:$port" \
        -f "$dir/roomcast.vcl" -s malloc,256m >"$dir/stderr.log" 2>&1 &
      ;;
  esac
  PID[$edge]=$!
  PIDS+=("$!")
  URL[$edge]=http://127.0.0.1:$port
  wait_http "$port" "$!" "$dir/stderr.log" "$edge"
done

# --- measuring ---------------------------------------------------------------
# Requests the origin has answered (its /metrics page is not counted).
origin_requests() {
  curl -sf -m 5 "$ORIGIN_URL/metrics" |
    awk '$1 ~ /^roomcast_origin_requests_total([{]|$)/ {s += $2} END {printf "%d", s}'
}
varnish_stat() {  # FIELD
  varnishstat -n "$TMP/varnish/work" -1 -f "$1" 2>/dev/null | awk '{print $2}'
}
# Latency from wrk's --latency table, in ms.
to_ms() {
  awk -v v="$1" 'BEGIN {
    if (v ~ /us$/) printf "%.3f", substr(v, 1, length(v) - 2) / 1000;
    else if (v ~ /ms$/) printf "%.3f", substr(v, 1, length(v) - 2);
    else if (v ~ /s$/) printf "%.3f", substr(v, 1, length(v) - 1) * 1000;
    else print v }'
}

# The request of each case: a URL and (for the cookie) a header.
case_url() {  # SERVER CASE
  case $2 in
    public) echo "${URL[$1]}$PUB_PATH" ;;
    query) echo "${URL[$1]}$PRIV_PATH?rc_token=$TOKEN" ;;
    cookie) echo "${URL[$1]}$PRIV_PATH" ;;
  esac
}
# Sets HDR to curl's and wrk's header arguments for CASE.
case_header() {  # CASE
  HDR=()
  if [[ $1 == cookie ]]; then HDR=(-H "Cookie: rc_token=$TOKEN"); fi
}

EVIDENCE=()
note() { EVIDENCE+=("$1"); echo "  $1" >&2; }

# Before a run: the request answers 200 with the stored bytes; a private
# object is 401 without a token and 403 with a forged one; through an edge
# the request is then a hit.
check() {  # SERVER CASE ROUND
  local server=$1 c=$2 round=$3 url code want cache=""
  url=$(case_url "$server" "$c")
  case_header "$c"
  want=$TMP/pub.pb
  [[ $c == public ]] || want=$TMP/vip.pb
  code=$(curl -s -m 5 -o "$TMP/got.pb" -w '%{http_code}' "${HDR[@]}" "$url")
  [[ $code == 200 ]] || die "$server $c: HTTP $code ($(head -c 300 "$TMP/got.pb"))"
  cmp -s "$TMP/got.pb" "$want" || die "$server $c: not the stored bytes"
  if [[ $server != origin ]]; then
    cache=$(curl -s -m 5 -o /dev/null -D - "${HDR[@]}" "$url" | tr -d '\r' |
      awk -F': ' 'tolower($1) == "x-cache-status" {print $2}')
    [[ $cache == HIT ]] || die "$server $c: the second request is not a cache hit (X-Cache-Status: '$cache')"
    cache=", then X-Cache-Status: HIT"
  fi
  local line
  line="$server $c: 200, $(stat -c %s "$want") B identical to what was stored$cache"
  if [[ $c != public ]]; then
    local none forged
    none=$(curl -s -m 5 -o /dev/null -w '%{http_code}' "${URL[$server]}$PRIV_PATH")
    forged=$(curl -s -m 5 -o /dev/null -w '%{http_code}' "${URL[$server]}$PRIV_PATH?rc_token=$FORGED")
    [[ $none == 401 ]] || die "$server: the private object without a token is HTTP $none, not 401"
    [[ $forged == 403 ]] || die "$server: the private object with a forged token is HTTP $forged, not 403"
    line+="; no token: $none; forged token: $forged"
  fi
  # Checked before every run; said once.
  [[ $round -gt 1 ]] || note "$line"
}

# One wrk run; its figures go to the arrays below under SERVER-CASE-ROUND.
declare -A CPU RPS P50 P99 REQS ODELTA VHIT VBACKEND
run_wrk() {  # SERVER CASE ROUND
  local server=$1 c=$2 round=$3 url pid out cpu0 cpu1 o0 o1 key="$1-$2-$3"
  url=$(case_url "$server" "$c")
  pid=${PID[$server]}
  check "$server" "$c" "$round"
  case_header "$c"
  timeout 60 taskset -c "$CLIENT_CORE" wrk -t1 -c"$CONNS" -d"$WARMUP" "${HDR[@]}" "$url" >/dev/null
  local vh0=0 vh1=0 vb0=0 vb1=0
  if [[ $server == varnish ]]; then vh0=$(varnish_stat MAIN.cache_hit); vb0=$(varnish_stat MAIN.backend_req); fi
  o0=$(origin_requests)
  cpu0=$(cpu_s "$pid")
  out=$(timeout 120 taskset -c "$CLIENT_CORE" wrk -t1 -c"$CONNS" -d"$DURATION" --latency "${HDR[@]}" "$url")
  cpu1=$(cpu_s "$pid")
  o1=$(origin_requests)
  if [[ $server == varnish ]]; then vh1=$(varnish_stat MAIN.cache_hit); vb1=$(varnish_stat MAIN.backend_req); fi
  echo "$out" >"$TMP/wrk-$key.txt"
  if grep -q -e 'Non-2xx' -e 'Socket errors' <<<"$out"; then
    echo "$out" >&2
    die "wrk against $server ($c, round $round) saw errors"
  fi
  RPS[$key]=$(awk '/^Requests\/sec:/ {printf "%.0f", $2}' <<<"$out")
  REQS[$key]=$(awk '/requests in/ {print $1}' <<<"$out")
  P50[$key]=$(to_ms "$(awk '$1 == "50%" {print $2}' <<<"$out")")
  P99[$key]=$(to_ms "$(awk '$1 == "99%" {print $2}' <<<"$out")")
  CPU[$key]=$(awk -v a="$cpu0" -v b="$cpu1" -v n="${REQS[$key]}" 'BEGIN {printf "%.2f", (b - a) * 1e6 / n}')
  # For a run against the origin these are the run's own requests (wrk does
  # not count the ones still in flight when it stops); for an edge run, its
  # misses.
  ODELTA[$key]=$((o1 - o0))
  VHIT[$key]=$((vh1 - vh0))
  VBACKEND[$key]=$((vb1 - vb0))
  if [[ $server != origin && $((ODELTA[$key] * 100)) -gt ${REQS[$key]} ]]; then
    die "$server $c, round $round: the origin answered ${ODELTA[$key]} of ${REQS[$key]} requests: not cache hits"
  fi
  printf '%-8s %-7s round %s: %8s req/s  p50 %s ms  p99 %s ms  server CPU %s us/req  (origin requests +%s)\n' \
    "$server" "$c" "$round" "${RPS[$key]}" "${P50[$key]}" "${P99[$key]}" "${CPU[$key]}" "${ODELTA[$key]}" >&2
}

# The machine may be shared: each round runs a server's three cases back to
# back (public first), so a round's private − public difference is taken
# under the same load; the table gives medians over the rounds.
UPTIME_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
SERVERS=(origin $EDGES)
CASES=(public query cookie)
for server in "${SERVERS[@]}"; do
  for round in $(seq "$ROUNDS"); do
    for c in "${CASES[@]}"; do
      run_wrk "$server" "$c" "$round"
    done
  done
done
UPTIME_AFTER=$(cut -d' ' -f1-3 /proc/loadavg)
ELAPSED=$(($(date +%s) - START_S))

# --- report ------------------------------------------------------------------
# Median of the arguments (the mean of the middle two for an even count).
median() {
  printf '%s\n' "$@" | sort -g | awk '{v[NR] = $1} END {
    if (NR % 2) printf "%s", v[(NR + 1) / 2]; else printf "%.3f", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}
# The values of ARRAY for SERVER-CASE over the rounds.
per_round() {  # ARRAY SERVER CASE
  local -n arr=$1
  local r
  for r in $(seq "$ROUNDS"); do echo "${arr[$2-$3-$r]}"; done
}
sum_rounds() { per_round "$@" | awk '{s += $1} END {printf "%d", s}'; }
list_rounds() { per_round "$@" | paste -sd, - | sed 's/,/, /g'; }
med() { median $(per_round "$@"); }
# The median, printed with FMT.
medf() {  # FMT ARRAY SERVER CASE
  local fmt=$1
  shift
  awk -v v="$(med "$@")" -v f="$fmt" 'BEGIN {printf f, v}'
}
# Private − public CPU µs/req, per round.
deltas() {  # SERVER CASE
  local r
  for r in $(seq "$ROUNDS"); do
    awk -v a="${CPU[$1-$2-$r]}" -v b="${CPU[$1-public-$r]}" 'BEGIN {printf "%.2f\n", a - b}'
  done
}
delta_med() { median $(deltas "$1" "$2") | awk '{printf "%+.2f", $1}'; }
delta_range() { deltas "$1" "$2" | sort -g | awk 'NR == 1 {lo = $1} {hi = $1} END {printf "%+.2f … %+.2f", lo, hi}'; }
delta_pct() { awk -v d="$(delta_med "$1" "$2")" -v b="$(med CPU "$1" public)" 'BEGIN {printf "%+.0f%%", d * 100 / b}'; }
rps_ratio() { awk -v a="$(med RPS "$1" "$2")" -v b="$(med RPS "$1" public)" 'BEGIN {printf "%.2f", a / b}'; }
label() {
  case $1 in
    origin) echo "origin direct" ;;
    nginx) echo "nginx (njs), hits" ;;
    varnish) echo "Varnish (vmod_digest), hits" ;;
  esac
}
what() {
  case $1 in
    public) echo "public, no token" ;;
    query) echo "private, \`?rc_token=\`" ;;
    cookie) echo "private, \`rc_token\` cookie" ;;
  esac
}

mkdir -p "$RESULTS_DIR"
REPORT=$RESULTS_DIR/edge-token-$(date +%F).md
DIRTY=$(git -C "$ROOT" diff --quiet HEAD -- auth base http origin 2>/dev/null ||
  echo ' (+ uncommitted changes in auth/, base/, http/ or origin/)')
{
  [[ -s $REPORT ]] || printf '# Edge-token verification cost per request\n\nFrom `bench/edge_token.sh` (DESIGN §12, issue 13): the same ~2 KB closed segment read from a public room and from a private room (edge token in the query or as a cookie), at the origin directly and through the reference nginx and Varnish configs with a warm cache. Each run appends a section.\n'
  printf '\n## Run at %s\n\n' "$(date '+%F %T %Z')"
  printf 'Commit %s%s; %s, %s cores; %s; varnish %s; wrk %s -t1 -c%s -d%s (keep-alive, %s warm-up before each run) on core %s; origin (`--threads 1 --no-sync`), nginx (1 worker) and varnishd all on core %s; %s rounds. Load average before %s, after %s. Took %s s.\n\n' \
    "$(git -C "$ROOT" rev-parse --short HEAD)" "$DIRTY" \
    "$(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //')" "$(nproc)" \
    "$(nginx -v 2>&1 | sed 's/.*: //')" "$(varnishd -V 2>&1 | head -1 | sed 's/.*varnish-\([^ ]*\).*/\1/')" \
    "$(wrk --version 2>&1 | head -1 | awk '{print $2}')" "$CONNS" "$DURATION" "$WARMUP" \
    "$CLIENT_CORE" "$SERVER_CORE" "$ROUNDS" "$UPTIME_BEFORE" "$UPTIME_AFTER" "$ELAPSED"
  [[ $CDN_DIR == "$ROOT/origin/cdn" ]] ||
    printf '**Edge configs from `%s`, not the reference `origin/cdn/`.**\n\n' "$CDN_DIR"
  printf 'Server CPU = user + system seconds of the serving process (and its children: nginx'"'"'s worker, varnishd'"'"'s cache process) during a run, ÷ its requests. **Δ** = private − public CPU per request at the same server, within a round (the three cases run back to back): what the token costs there (at the origin it includes the private room'"'"'s two extra response headers). Each cell is the median over the rounds; Δ also gives the lowest and highest round. Origin req = requests the origin answered during the runs, summed over the rounds (for an edge: its cache misses).\n\n'
  printf '| server | request | req/s | ÷ public | p50 ms | p99 ms | server CPU µs/req | **Δ µs/req** (rounds) | requests | origin req |\n'
  printf '|---|---|---:|---:|---:|---:|---:|---:|---:|---:|\n'
  for server in "${SERVERS[@]}"; do
    for c in "${CASES[@]}"; do
      if [[ $c == public ]]; then
        d="—"; r="1"
      else
        d="**$(delta_med "$server" "$c")** ($(delta_pct "$server" "$c"); $(delta_range "$server" "$c"))"
        r=$(rps_ratio "$server" "$c")
      fi
      printf '| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n' \
        "$(label "$server")" "$(what "$c")" "$(medf %.0f RPS "$server" "$c")" "$r" \
        "$(medf %.3f P50 "$server" "$c")" "$(medf %.3f P99 "$server" "$c")" "$(medf %.2f CPU "$server" "$c")" "$d" \
        "$(sum_rounds REQS "$server" "$c")" "$(sum_rounds ODELTA "$server" "$c")"
    done
  done
  printf '\nServer CPU µs/req in each round (public / query / cookie):'
  for server in "${SERVERS[@]}"; do
    printf ' %s' "$server"
    for r in $(seq "$ROUNDS"); do
      printf ' %s/%s/%s' "${CPU[$server-public-$r]}" "${CPU[$server-query-$r]}" "${CPU[$server-cookie-$r]}"
      [[ $r -lt $ROUNDS ]] && printf ','
    done
    [[ $server == "${SERVERS[-1]}" ]] && printf '.' || printf ';'
  done
  printf '\n\nChecks (curl before every run, said for the first round; counters during each run; Varnish'"'"'s threads add to its counters in batches, so they lag a run'"'"'s requests a little):\n\n'
  for e in "${EVIDENCE[@]}"; do printf -- '- %s\n' "$e"; done
  for server in "${SERVERS[@]}"; do
    [[ $server != origin ]] || continue
    for c in "${CASES[@]}"; do
      printf -- '- %s %s, each round: the origin answered %s requests while the edge answered %s' \
        "$server" "$c" "$(list_rounds ODELTA "$server" "$c")" "$(list_rounds REQS "$server" "$c")"
      [[ $server != varnish ]] ||
        printf '; Varnish MAIN.cache_hit +%s, MAIN.backend_req +%s' \
          "$(list_rounds VHIT "$server" "$c")" "$(list_rounds VBACKEND "$server" "$c")"
      printf '\n'
    done
  done
  printf '\nConclusions:\n\n'
  for server in "${SERVERS[@]}"; do
    case $server in
      origin) how="the origin verifies the token (auth/edge_token.cc, OpenSSL HMAC-SHA256) on every request" ;;
      nginx) how="nginx runs edge_token.js (njs: a regex, three HMAC-SHA256s and a read of the secret file) on every request, hits included" ;;
      varnish) how="Varnish runs rc_check_edge_token (regsubs and three vmod_digest HMAC-SHA256s; std.fileread caches the secret) on every request, hits included" ;;
    esac
    hits=""
    [[ $server == origin ]] ||
      hits="; the origin answered $(sum_rounds ODELTA "$server" query) and $(sum_rounds ODELTA "$server" cookie) requests during its private runs, so these were hits"
    printf -- '- **%s**: %s: **%s µs/req** with the token in the query and **%s µs/req** as a cookie, on %s µs/req for a public object (%s, %s), at %s× and %s× the public req/s%s.\n' \
      "$(label "$server")" "$how" "$(delta_med "$server" query)" "$(delta_med "$server" cookie)" \
      "$(medf %.2f CPU "$server" public)" "$(delta_pct "$server" query)" "$(delta_pct "$server" cookie)" \
      "$(rps_ratio "$server" query)" "$(rps_ratio "$server" cookie)" "$hits"
  done
} >>"$REPORT"
awk '/^## Run at/ {buf = ""} {buf = buf $0 "\n"} END {printf "%s", buf}' "$REPORT" >&2
echo "edge_token.sh: appended to $REPORT" >&2
