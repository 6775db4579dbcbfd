#!/usr/bin/env bash
# bench/e2e.sh: DESIGN §9 end-to-end latency (acked POST -> decoded by a
# follower reading through a real cache: held buckets at D = 250 ms by
# default, or MODE=stream, live segments streamed, below) through Varnish
# and through nginx, and the origin's requests as followers grow (offload),
# with server CPU per delivered message.
#
#   bench/e2e.sh [BUILD_DIR]                    # default: build
#   MODE=stream [BUCKET_MS=5000] bench/e2e.sh   # streaming through Varnish
#
# Builds nothing: needs BUILD_DIR/bin/roomcast-{origin,publisher} and
# BUILD_DIR/bench/followers. Loopback only. The caches, Varnish and nginx
# (the reference configs origin/cdn/*, substituted as the tests do), run on
# core 1, as a CDN edge runs on machines of its own: it is the cache that
# fans each segment out to every follower (Varnish needs most of a core for
# 2,000 followers at D = 250 ms), and sharing a core with the origin would
# make the origin's answers wait behind that fan-out. roomcast-origin and
# roomcast-publisher (one serving thread each, fsync on as in production)
# and the load generator (followers + poster, one thread) share core 0.
# For each cache and each follower count, a fresh room with
# D = BUCKET_MS; the poster posts RATE comments/s for DURATION_MS while the
# followers follow it; server counters are read at the start and end of the
# posting window. Then the same through each cache in manifest-hold mode at
# MANIFEST_COUNT followers. Writes bench/results/e2e-YYYY-MM-DD.md (one
# section per run of this script). Ends only the processes it started, by
# PID. About 5 minutes with the defaults.
#
# MODE=stream (DESIGN §10): the followers read each open bucket as it
# streams (followers --mode stream: each record decoded as its last byte
# arrives, bucket k+1 asked 100 ms before k ends, on a second connection),
# through Varnish, which streams one origin fetch to every waiter; the
# defaults become D = 1000 ms, COUNTS "100 1000 2000 5000", CACHES varnish,
# no manifest-hold. Every run reports origin requests per bucket and CDN
# requests per viewer-hour (the followers' requests in the posting window
# / followers / its length in hours; DESIGN §9's goal 3,600/D[s]).
#
# Knobs (environment): MODE (bucket), COUNTS ("100 200 1000 2000"), CACHES
# ("varnish nginx"), DURATION_MS (20000), RATE (20), BUCKET_MS (250),
# MANIFEST_COUNT (1000; 0 skips manifest-hold), RESULTS_DIR
# (bench/results), PIN (1: pin as above; 0: let the scheduler place
# everything). Diagnosis (never in a published run): NGINX_LOG=FILE (a line
# per request nginx sent to the origin; NGINX_LOG_ALL=1: every request),
# NGINX_DEBUG_LOG=FILE, NGINX_CONF_SED (a sed script tried on the bench's
# copy of the reference nginx config).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=${1:-build}
[[ $BUILD = /* ]] || BUILD=$ROOT/$BUILD
MODE=${MODE:-bucket}
case $MODE in
  bucket)
    COUNTS=${COUNTS:-100 200 1000 2000}
    CACHES=${CACHES:-varnish nginx}
    BUCKET_MS=${BUCKET_MS:-250}
    MANIFEST_COUNT=${MANIFEST_COUNT:-1000}
    ;;
  stream)
    COUNTS=${COUNTS:-100 1000 2000 5000}
    CACHES=${CACHES:-varnish}
    BUCKET_MS=${BUCKET_MS:-1000}
    MANIFEST_COUNT=${MANIFEST_COUNT:-0}
    ;;
  *) echo "e2e.sh: MODE is bucket or stream" >&2; exit 1 ;;
esac
DURATION_MS=${DURATION_MS:-20000}
RATE=${RATE:-20}
RESULTS_DIR=${RESULTS_DIR:-$ROOT/bench/results}
PIN=${PIN:-1}
NGINX_LOG=${NGINX_LOG:-}

ORIGIN_BIN=$BUILD/bin/roomcast-origin
PUBLISHER_BIN=$BUILD/bin/roomcast-publisher
FOLLOWERS=$BUILD/bench/followers

die() { echo "e2e.sh: $*" >&2; exit 1; }
for f in "$ORIGIN_BIN" "$PUBLISHER_BIN" "$FOLLOWERS"; do
  [[ -x $f ]] || die "missing $f (ninja -C $BUILD roomcast-origin roomcast-publisher followers)"
done
for t in nginx varnishd varnishstat taskset curl python3; do
  command -v "$t" >/dev/null || die "needs $t on PATH"
done
[[ $(nproc) -ge 2 ]] || die "needs 2 cores"
if [[ $PIN == 1 ]]; then
  SERVER=(taskset -c 0)
  CDN=(taskset -c 1)
  CLIENT=(taskset -c 0)
else
  SERVER=()
  CDN=()
  CLIENT=()
fi

# Each follower is a socket at the load generator and one at the cache (two
# of each in stream mode).
ulimit -n "$(ulimit -Hn)"
max_count=0
for n in $COUNTS $MANIFEST_COUNT; do ((n > max_count)) && max_count=$n; done
per=1
[[ $MODE == stream ]] && per=2
[[ $(ulimit -n) -ge $((max_count * per + 1024)) ]] || die "ulimit -n $(ulimit -n) is too low for $max_count followers"

source "$ROOT/bench/lib.sh"
bench_scratch e2e

export ROOMCAST_WRITE_SECRET="e2e-write-$$-$RANDOM$RANDOM"
export ROOMCAST_JWT_SECRET="e2e-jwt-$$-$RANDOM$RANDOM"

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# Waits for "listening on URL" on a server's stdout; prints the URL.
listening() {  # PID OUTFILE ERRFILE
  for _ in $(seq 100); do
    grep -q '^listening on ' "$2" 2>/dev/null && break
    kill -0 "$1" 2>/dev/null || die "server exited: $(cat "$3")"
    sleep 0.1
  done
  sed -n 's/^listening on //p' "$2" | head -1
}


# --- servers -----------------------------------------------------------------
"${SERVER[@]}" "$ORIGIN_BIN" --listen 127.0.0.1:0 --data "$TMP/origin" --threads 1 \
  >"$TMP/origin.out" 2>"$TMP/origin.err" &
ORIGIN_PID=$!
PIDS+=("$ORIGIN_PID")
ORIGIN_URL=$(listening "$ORIGIN_PID" "$TMP/origin.out" "$TMP/origin.err")
ORIGIN_HOSTPORT=${ORIGIN_URL#http://}

"${SERVER[@]}" "$PUBLISHER_BIN" --listen 127.0.0.1:0 --data "$TMP/publisher" --threads 1 \
  --origin "$ORIGIN_URL" --id e2e >"$TMP/publisher.out" 2>"$TMP/publisher.err" &
PUBLISHER_PID=$!
PIDS+=("$PUBLISHER_PID")
PUBLISHER_URL=$(listening "$PUBLISHER_PID" "$TMP/publisher.out" "$TMP/publisher.err")

declare -A CACHE_URL CACHE_PID
VARNISH_FOR=  # the follower count the running varnishd was started for

# start_varnish DIR PORT COUNT: varnishd on PORT for COUNT followers. A
# streamed bucket keeps a worker thread per client for its whole length,
# and a stream follower has two requests open around each bucket change (k
# ending, k+1 asked): with MODE=stream, start with a thread for each, COUNT
# + 100 in each of the two pools (the default pools grow on demand behind
# a queue of 20, so a herd at a bucket change could be refused while they
# grow). Sized for the count being measured, not the largest: 2,000
# followers on pools made for 5,000 measured p50/p99 36-39/386-411 ms
# against 20/174-180 ms on pools made for 2,000 (three runs each, 21
# against 16 us of cache CPU per delivered record).
start_varnish() {
  local dir=$1 port=$2 n=$3 params=() per_pool
  if [[ $MODE == stream ]]; then
    per_pool=$((n + 100))
    params=(-p "thread_pool_max=$((per_pool > 5000 ? per_pool : 5000))" -p "thread_pool_min=$per_pool")
  fi
  VARNISH_FOR=$n
  # -F: foreground, so its PID is ours to stop; -j none: no jail setup.
  "${CDN[@]}" varnishd -F -j none -n "$dir/work" -a "127.0.0.1:$port" \
    -f "$dir/roomcast.vcl" -s malloc,256m "${params[@]}" >"$dir/stderr.log" 2>&1 &
  CACHE_PID[varnish]=$!
  PIDS+=("$!")
  CACHE_URL[varnish]=http://127.0.0.1:$port
  wait_port "$port" "$!" "$dir/stderr.log"
}

for cache in $CACHES; do
  port=$(free_port)
  dir=$TMP/$cache
  mkdir -p "$dir"
  case $cache in
    nginx)
      # Run as root, nginx's workers drop to "nobody": let them use the dir.
      chmod 777 "$dir"
      echo "bench-edge-secret" >"$dir/edge-secret"
      echo "bench-purge-secret" >"$dir/purge-secret"
      sed -e "s|@LISTEN@|127.0.0.1:$port|g" -e "s|@ORIGIN@|$ORIGIN_HOSTPORT|g" \
        -e "s|@DIR@|$dir|g" -e "s|@CDN_DIR@|$ROOT/origin/cdn|g" \
        -e "s|@EDGE_SECRET_FILE@|$dir/edge-secret|g" \
        -e "s|@PURGE_SECRET_FILE@|$dir/purge-secret|g" "$ROOT/origin/cdn/nginx.conf" >"$dir/nginx.conf"
      # NGINX_CONF_SED='sed script': a change to try on the reference config
      # (diagnosis; the report says the run used one).
      [[ -n ${NGINX_CONF_SED:-} ]] && sed -i -e "$NGINX_CONF_SED" "$dir/nginx.conf"
      if [[ -n $NGINX_LOG ]]; then
        # Diagnosis only (NGINX_LOG=FILE): a line per request that reached
        # the origin, or with NGINX_LOG_ALL=1 every request, with its client
        # connection and request number on it.
        cond='if=$rc_went_up'
        [[ ${NGINX_LOG_ALL:-0} == 1 ]] && cond=''
        logconf="  log_format rc_up '\$msec c\$connection/\$connection_requests \$upstream_cache_status \$status \$request_uri ae=\"\$http_accept_encoding\" up=\$upstream_status t=\$request_time ut=\$upstream_response_time';
  map \$upstream_addr \$rc_went_up { \"\" 0; default 1; }
  access_log $NGINX_LOG rc_up $cond;"
        awk -v repl="$logconf" '$0 == "  access_log off;" { print repl; next } { print }' \
          "$dir/nginx.conf" >"$dir/nginx.conf.log" && mv "$dir/nginx.conf.log" "$dir/nginx.conf"
        # NGINX_DEBUG_LOG=FILE: nginx's debug log (Debian builds --with-debug),
        # e.g. for its cache lock decisions. Large: keep such runs short.
        [[ -n ${NGINX_DEBUG_LOG:-} ]] &&
          sed -i "s|^error_log .*|error_log $NGINX_DEBUG_LOG debug;|" "$dir/nginx.conf"
      fi
      "${CDN[@]}" nginx -e "$dir/error.log" -p "$dir" -c "$dir/nginx.conf" \
        >"$dir/stderr.log" 2>&1 &
      ;;
    varnish)
      echo "bench-edge-secret" >"$dir/edge-secret"
      echo "bench-purge-secret" >"$dir/purge-secret"
      sed -e "s|@ORIGIN_HOST@|${ORIGIN_HOSTPORT%:*}|g" -e "s|@ORIGIN_PORT@|${ORIGIN_HOSTPORT#*:}|g" -e "s|@I@|1|g" \
        -e "s|@EDGE_SECRET_FILE@|$dir/edge-secret|g" -e "s|@PURGE_SECRET_FILE@|$dir/purge-secret|g" \
        "$ROOT/origin/cdn/varnish.vcl" >"$dir/roomcast.vcl"
      VARNISH_DIR=$dir VARNISH_PORT=$port
      start_varnish "$dir" "$port" "${COUNTS%% *}"
      continue
      ;;
    *) die "unknown cache '$cache' (varnish, nginx)" ;;
  esac
  CACHE_PID[$cache]=$!
  PIDS+=("$!")
  CACHE_URL[$cache]=http://127.0.0.1:$port
  wait_port "$port" "$!" "$dir/stderr.log"
done

# --- measuring ---------------------------------------------------------------
# Sum of a Prometheus metric over all its labels.
metric_sum() {  # URL NAME [LABEL_FILTER_REGEX_TO_EXCLUDE]
  curl -sf "$1/metrics" | awk -v m="$2" -v x="${3:-^$}" \
    '$1 == m || index($1, m "{") == 1 { if ($1 !~ x) s += $2 } END { printf "%d", s }'
}
backend_req() {  # CACHE
  if [[ $1 == varnish ]]; then
    varnishstat -n "$TMP/varnish/work" -1 -f MAIN.backend_req 2>/dev/null | awk '{print $2}'
  else
    echo ""
  fi
}
# Origin requests that came from the cache: every answered request but the
# publisher's PUTs, the watermark and scrapes.
origin_gets() {
  local total uploads
  total=$(metric_sum "$ORIGIN_URL" roomcast_origin_requests_total 'class="(watermark|other)"')
  uploads=$(metric_sum "$PUBLISHER_URL" roomcast_publisher_uploads_total)
  echo $((total - uploads))
}
snapshot() {  # PREFIX CACHE
  printf -v "${1}_T" '%s' "$(date +%s.%N)"
  curl -sf "$ORIGIN_URL/metrics" | grep '^roomcast_origin_requests_total{' >"$TMP/metrics-$1" || true
  printf -v "${1}_GETS" '%s' "$(origin_gets)"
  printf -v "${1}_BE" '%s' "$(backend_req "$2")"
  printf -v "${1}_CPU_SRV" '%s' "$(awk -v a="$(cpu_s "$ORIGIN_PID")" -v b="$(cpu_s "$PUBLISHER_PID")" 'BEGIN {printf "%.3f", a + b}')"
  printf -v "${1}_CPU_CACHE" '%s' "$(cpu_s "${CACHE_PID[$2]}")"
}

ROWS=()
DETAILS=()
SPLIT_ROWS=()
FAILED_RUNS=()
run() {  # CACHE MODE COUNT
  local cache=$1 mode=$2 n=$3 out=$TMP/run.out room load_before load_after rc=0
  room=e2e-$cache-$mode-$n-$$
  load_before=$(cut -d' ' -f1 /proc/loadavg)
  : >"$out"
  "${CLIENT[@]}" "$FOLLOWERS" --base "${CACHE_URL[$cache]}" --publisher "$PUBLISHER_URL" \
    --origin "$ORIGIN_URL" --room "$room" --open-room --bucket-ms "$BUCKET_MS" --followers "$n" --mode "$mode" \
    --rate "$RATE" --duration-ms "$DURATION_MS" --drain-ms $((2 * BUCKET_MS + 5000)) \
    >"$out" 2>"$TMP/run.err" &
  local pid=$!
  PIDS+=("$pid")
  for _ in $(seq 1200); do
    grep -q '^PHASE=posting' "$out" && break
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.05
  done
  snapshot A "$cache"
  for _ in $(seq 1200); do
    grep -q '^PHASE=draining' "$out" && break
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.05
  done
  snapshot B "$cache"
  wait "$pid" || rc=$?
  load_after=$(cut -d' ' -f1 /proc/loadavg)
  unset -v R
  declare -gA R=()
  while IFS='=' read -r key value; do
    [[ $key =~ ^[A-Z_0-9]+$ ]] && R[$key]=$value
  done <"$out"
  [[ -n ${R[LATENCY_P50_MS]:-} ]] || die "followers failed: $(cat "$TMP/run.err")"
  ((rc == 0)) || FAILED_RUNS+=("$cache $mode $n (exit $rc: ${R[ERRORS]} errors, ${R[GAPS]} gaps, ${R[DUPLICATES]} duplicates)")
  local secs gets_rps be_rps srv_us cache_us delivered
  secs=$(awk -v a="$A_T" -v b="$B_T" 'BEGIN {printf "%.3f", b - a}')
  gets_rps=$(awk -v a="$A_GETS" -v b="$B_GETS" -v s="$secs" 'BEGIN {printf "%.2f", (b - a) / s}')
  be_rps=$([[ -n $A_BE ]] && awk -v a="$A_BE" -v b="$B_BE" -v s="$secs" 'BEGIN {printf "%.2f", (b - a) / s}' || echo "–")
  # Messages delivered in the window: every acked one, to every follower.
  delivered=$((R[POSTED] * n))
  srv_us=$(awk -v a="$A_CPU_SRV" -v b="$B_CPU_SRV" -v d="$delivered" 'BEGIN {printf "%.2f", (b - a) * 1e6 / d}')
  cache_us=$(awk -v a="$A_CPU_CACHE" -v b="$B_CPU_CACHE" -v d="$delivered" 'BEGIN {printf "%.2f", (b - a) * 1e6 / d}')
  local srv_s cache_s per_bucket per_viewer_h bucket_gets
  # Origin answers for action segments in the window (200s: the cache's
  # fetches; the publisher's PUTs are 201) per bucket that passed in it.
  bucket_gets=$(join -a2 -e0 -o 2.1,1.2,2.2 <(sort "$TMP/metrics-A") <(sort "$TMP/metrics-B") |
    awk '$1 ~ /class="actions"/ && $1 ~ /status="200"/ {d += $3 - $2} END {printf "%d", d}')
  per_bucket=$(awk -v g="$bucket_gets" -v s="$secs" -v d="$BUCKET_MS" 'BEGIN {printf "%.2f", g / (s * 1000 / d)}')
  per_viewer_h=$(awk -v r="${R[WINDOW_REQUESTS]:-0}" -v n="$n" -v ms="${R[POST_WINDOW_MS]:-0}" \
    'BEGIN {printf "%.0f", (ms > 0 ? r / n / (ms / 3600000) : 0)}')
  srv_s=$(awk -v a="$A_CPU_SRV" -v b="$B_CPU_SRV" 'BEGIN {printf "%.2f", b - a}')
  cache_s=$(awk -v a="$A_CPU_CACHE" -v b="$B_CPU_CACHE" 'BEGIN {printf "%.2f", b - a}')
  # Origin answers in the window by class and status (PUTs included).
  DETAILS+=("$cache $mode $n: $(join -a2 -e0 -o 2.1,1.2,2.2 <(sort "$TMP/metrics-A") <(sort "$TMP/metrics-B") |
    awk '{d = $3 - $2; if (d > 0) {sub(/roomcast_origin_requests_total/, "", $1); printf "%s %d, ", $1, d}}' | sed 's/, $//')")
  [[ -n ${R[LATENCY_EARLY_P50_MS]:-} ]] &&
    SPLIT_ROWS+=("| $cache | $n | ${R[LATENCY_EARLY_N]} | ${R[LATENCY_EARLY_P50_MS]} | ${R[LATENCY_EARLY_P99_MS]} | ${R[LATENCY_LATER_N]} | ${R[LATENCY_LATER_P50_MS]} | ${R[LATENCY_LATER_P99_MS]} |")
  ROWS+=("$cache|$mode|$n|${R[POSTED]}|${R[FOLLOWERS_EXACT]}|${R[LATENCY_P50_MS]}|${R[LATENCY_P90_MS]}|${R[LATENCY_P99_MS]}|${R[LATENCY_MAX_MS]}|${R[AFTER_CLOSE_P50_MS]}|${R[AFTER_CLOSE_P99_MS]}|${R[ACK_P50_MS]}|${R[ACK_P99_MS]}|$gets_rps|$be_rps|$srv_s|$srv_us|$cache_s|$cache_us|${R[CLIENT_CPU_S]}|${R[NOT_YET]}|${R[ERRORS]}|$load_before → $load_after|$per_bucket|$per_viewer_h|${R[RESTARTS]:-0}")
  printf '%-8s %-9s %5s followers: p50 %s p90 %s p99 %s max %s ms; exact %s/%s; origin %s GET/s (%s a bucket); CDN %s req/viewer-h; server %s µs/msg, cache %s µs/msg; load %s→%s\n' \
    "$cache" "$mode" "$n" "${R[LATENCY_P50_MS]}" "${R[LATENCY_P90_MS]}" "${R[LATENCY_P99_MS]}" \
    "${R[LATENCY_MAX_MS]}" "${R[FOLLOWERS_EXACT]}" "$n" "$gets_rps" "$per_bucket" "$per_viewer_h" "$srv_us" "$cache_us" \
    "$load_before" "$load_after" >&2
}

UPTIME_BEFORE=$(uptime)
START=$(date +%s)
for cache in $CACHES; do
  for n in $COUNTS; do
    # A fresh varnishd whose pools fit this count (start_varnish).
    if [[ $MODE == stream && $cache == varnish && $VARNISH_FOR != "$n" ]]; then
      bench_stop "${CACHE_PID[varnish]}"
      start_varnish "$VARNISH_DIR" "$VARNISH_PORT" "$n"
    fi
    run "$cache" "$MODE" "$n"
  done
done
if ((MANIFEST_COUNT > 0)); then
  for cache in $CACHES; do run "$cache" manifest "$MANIFEST_COUNT"; done
fi
UPTIME_AFTER=$(uptime)
ELAPSED=$(($(date +%s) - START))

# --- report ------------------------------------------------------------------
field() { IFS='|' read -ra F <<<"$1"; echo "${F[$2]}"; }
row_for() {  # CACHE MODE COUNT
  local r
  for r in "${ROWS[@]}"; do [[ $r == "$1|$2|$3|"* ]] && { echo "$r"; return; }; done
  return 0  # none (a cache or mode not run): empty, not a failure under set -e
}
verdict() { awk -v v="$1" -v t="$2" 'BEGIN {print (v != "" && v <= t) ? "met" : "NOT met"}'; }
read -ra COUNT_ARR <<<"$COUNTS"
# DESIGN §9 with live segments: streaming through Varnish at D = 1000 ms.
stream_verdicts() {
  local v a b ratio cache
  printf '\n**DESIGN §9, streaming (D = %s ms):**\n\n' "$BUCKET_MS"
  v=$(row_for varnish stream 2000)
  [[ -n $v ]] || v=$(row_for varnish stream "$HI")
  if [[ -n $v ]]; then
    printf -- '- Through Varnish at %s followers: p50 ≤ 30 ms: %s ms, **%s**; p99 ≤ 100 ms: %s ms, **%s**.\n' \
      "$(field "$v" 2)" "$(field "$v" 5)" "$(verdict "$(field "$v" 5)" 30)" "$(field "$v" 7)" "$(verdict "$(field "$v" 7)" 100)"
  fi
  for cache in $CACHES; do
    a=$(row_for "$cache" stream "$LO")
    b=$(row_for "$cache" stream "$HI")
    [[ -n $a && -n $b ]] || continue
    ratio=$(awk -v x="$(field "$a" 7)" -v y="$(field "$b" 7)" 'BEGIN {printf "%.2f", (x > 0 ? y / x : 0)}')
    printf -- '- Flat from %s to %s followers through %s (p99 at %s ≤ 1.5× p99 at %s): %s → %s ms = %s×, **%s**.\n' \
      "$LO" "$HI" "$cache" "$HI" "$LO" "$(field "$a" 7)" "$(field "$b" 7)" "$ratio" "$(verdict "$ratio" 1.5)"
    printf -- '- About one origin request per bucket through %s: %s (%s followers) … %s (%s followers) GETs a bucket; CDN requests per viewer-hour %s … %s (goal 3,600/D[s] = %s, plus the manifest at join).\n' \
      "$cache" "$(field "$a" 23)" "$LO" "$(field "$b" 23)" "$HI" "$(field "$a" 24)" "$(field "$b" 24)" \
      "$((3600000 / BUCKET_MS))"
  done
}

# DESIGN §9 for held buckets: nginx (no shared streaming) at D = 250 ms.
bucket_verdicts() {
  local v g a b ratio cache
  printf '\n**DESIGN §9 at %s followers (bucket-hold):**\n\n' "$HI"
  g=$(row_for nginx bucket "$HI")
  if [[ -n $g ]]; then
    printf -- '- nginx p99 ≤ 800 ms: %s ms, **%s**.\n' "$(field "$g" 7)" "$(verdict "$(field "$g" 7)" 800)"
  fi
  v=$(row_for varnish bucket "$HI")
  if [[ -n $v ]]; then
    printf -- '- Varnish, bucket-hold (no longer a §9 target since live segments; for comparison): p50 %s ms, p99 %s ms.\n' \
      "$(field "$v" 5)" "$(field "$v" 7)"
  fi
  for cache in $CACHES; do
    a=$(row_for "$cache" bucket "$LO")
    b=$(row_for "$cache" bucket "$HI")
    [[ -n $a && -n $b ]] || continue
    # Segment fetches a bucket: the buckets a second are the same in both
    # runs, so their ratio is that of the fetch rates, without the other
    # requests the window's edges catch in GET/s.
    ratio=$(awk -v x="$(field "$a" 23)" -v y="$(field "$b" 23)" 'BEGIN {printf "%.2f", (x > 0 ? y / x : 0)}')
    printf -- '- Origin requests flat (≤ 1.1×) from %s to %s followers through %s: %s → %s origin GETs a bucket = %s×, **%s** (%s → %s GET/s; CDN requests per viewer-hour %s → %s).\n' \
      "$LO" "$HI" "$cache" "$(field "$a" 23)" "$(field "$b" 23)" "$ratio" "$(verdict "$ratio" 1.1)" \
      "$(field "$a" 13)" "$(field "$b" 13)" "$(field "$a" 24)" "$(field "$b" 24)"
  done
}
LO=${COUNT_ARR[0]}
HI=${COUNT_ARR[${#COUNT_ARR[@]} - 1]}
mkdir -p "$RESULTS_DIR"
REPORT=$RESULTS_DIR/e2e-$(date +%F).md
{
  [[ -s $REPORT ]] || printf '# End-to-end latency through Varnish and nginx, and origin offload\n\nFrom `bench/e2e.sh` (DESIGN §9, issues 5 and 7). Each run of the script appends a section.\n'
  printf '\n## Run at %s\n\n' "$(date '+%F %T %Z')"
  printf 'Mode **%s**. Commit %s%s; %s; %s; varnish %s. D = %s ms, %s comments/s for %s s per run (each at a random point of its 1/%s s slot), a fresh room per run; `%s`. ' \
    "$MODE" "$(git -C "$ROOT" rev-parse --short HEAD)" \
    "$(git -C "$ROOT" diff --quiet HEAD -- origin publisher http segmenter bench/load bench/followers.cc 2>/dev/null || echo ' (+ uncommitted changes)')" \
    "$(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //')" "$(nginx -v 2>&1 | sed 's/.*: //')" \
    "$(varnishd -V 2>&1 | head -1 | sed 's/.*varnish-\([^ ]*\).*/\1/')" "$BUCKET_MS" "$RATE" \
    "$((DURATION_MS / 1000))" "$RATE" "bench/e2e.sh"
  if [[ $PIN == 1 ]]; then
    printf 'The cache on core 1 (as a CDN edge on machines of its own); publisher + origin (one serving thread each, fsync on) and the load generator (followers + poster, one thread) on core 0. '
  else
    printf 'No CPU pinning. '
  fi
  [[ $MODE == stream && " $CACHES " == *" varnish "* ]] &&
    printf 'A fresh varnishd for each follower count, with `-p thread_pool_min=` the count + 100 (a worker thread per open stream, two per follower around a bucket change, in two pools). '
  printf 'Took %s s.\n\n' "$ELAPSED"
  printf 'Load: before `%s`; after `%s`.' "$(sed 's/.*load average/load average/' <<<"$UPTIME_BEFORE")" \
    "$(sed 's/.*load average/load average/' <<<"$UPTIME_AFTER")"
  awk -v l="$(cut -d' ' -f1 /proc/loadavg)" 'BEGIN { if (l > 3) printf " **The machine was busy (load %s on 2 cores, other engineers building): latencies include CPU contention.**", l }'
  printf '\n\nLatency = wall clock when a follower decoded the segment − the message'"'"'s `ts_ms` (the publisher'"'"'s receive time, same host clock): acked POST → decoded by a client. "After close" = decoded − the end of the bucket, per segment: what the pipeline adds to waiting for the bucket to end (bucket-hold only). "Exact" = followers that received every acked message exactly once, in order. Origin GET/s = requests the origin answered in the posting window minus the publisher'"'"'s uploads; "Varnish backend req/s" is Varnish'"'"'s own `MAIN.backend_req`. CPU = user + system seconds in the posting window; per message = ÷ (acked messages × followers). Stream mode: latency is per record, taken when its last byte arrived; "after close" = the stream'"'"'s end − the bucket'"'"'s end. Origin GETs per bucket = the origin'"'"'s action-segment 200s in the window ÷ the buckets in it; CDN requests per viewer-hour = the followers'"'"' requests in the window ÷ followers ÷ its hours. "Streams asked again" = streams that ended without their last chunk, asked again (records skipped by seq).\n\n'
  printf '| cache | mode | followers | posted | exact | p50 ms | p90 ms | p99 ms | max ms | after close p50 / p99 ms | ack p50 / p99 ms | origin GET/s | Varnish backend req/s | publisher+origin CPU s (µs/msg) | cache CPU s (µs/msg) | client CPU s | 404 retries | errors | load 1-min | origin GETs per bucket | CDN requests per viewer-hour | streams asked again |\n'
  printf '|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|---:|---:|\n'
  for r in "${ROWS[@]}"; do
    IFS='|' read -ra F <<<"$r"
    printf '| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s / %s | %s / %s | %s | %s | %s (%s) | %s (%s) | %s | %s | %s | %s | %s | %s | %s |\n' \
      "${F[0]}" "${F[1]}" "${F[2]}" "${F[3]}" "${F[4]}/${F[2]}" "${F[5]}" "${F[6]}" "${F[7]}" "${F[8]}" \
      "${F[9]}" "${F[10]}" "${F[11]}" "${F[12]}" "${F[13]}" "${F[14]}" "${F[15]}" "${F[16]}" \
      "${F[17]}" "${F[18]}" "${F[19]}" "${F[20]}" "${F[21]}" "${F[22]}" "${F[23]}" "${F[24]}" "${F[25]}"
  done
  if [[ $MODE == stream ]]; then
    stream_verdicts
  else
    bucket_verdicts
  fi
  printf '\n<details><summary>Origin answers in each posting window by class and status (GETs from the cache and the publisher'"'"'s PUTs)</summary>\n\n'
  for d in "${DETAILS[@]}"; do printf -- '- %s\n' "$d"; done
  printf '\n</details>\n\n'
  if ((${#SPLIT_ROWS[@]} > 0)); then
    printf 'Stream latency by when in its bucket a record was stamped: in the first 200 ms (while the next bucket'"'"'s requests and the stream starts crowd the cache) or later.\n\n'
    printf '| cache | followers | first 200 ms: records | p50 ms | p99 ms | later: records | p50 ms | p99 ms |\n|---|---:|---:|---:|---:|---:|---:|---:|\n'
    printf '%s\n' "${SPLIT_ROWS[@]}"
    printf '\n'
  fi
  if ((${#FAILED_RUNS[@]} > 0)); then
    printf '\n**Runs with delivery faults:** %s\n' "${FAILED_RUNS[*]}"
  else
    printf -- '- Every run: every follower got every acked message exactly once, in order, with no request error.\n'
  fi
} >>"$REPORT"
awk '/^## Run at/ {buf = ""} {buf = buf $0 "\n"} END {printf "%s", buf}' "$REPORT" >&2
echo "e2e.sh: appended to $REPORT" >&2
((${#FAILED_RUNS[@]} == 0)) || die "some runs had delivery faults (see the report)"
