#!/usr/bin/env bash
# bench/nchan.sh: DESIGN §9's push-server reference (issue 7, item 2b).
# nchan (Debian's libnginx-mod-nchan) delivers the same message rate to the
# same follower counts as bench/e2e.sh, to long-poll and to WebSocket
# subscribers: its latency, and nginx+nchan's CPU seconds per delivered
# message, side by side with roomcast's publisher + origin (and, apart, the
# cache's) from the latest bench/results/e2e-*.md.
#
#   bench/nchan.sh [BUILD_DIR]        # default: build
#
# Builds nothing: needs BUILD_DIR/bench/nchan_subscribers. Loopback only.
# nginx + nchan (one worker) on core 0; nchan_subscribers (subscribers and
# publisher, one thread) on core 1. For each mode and each count, a fresh
# channel: N subscribers connect, then the publisher posts RATE messages/s
# for DURATION_MS; nginx's CPU (user + system of master and worker, from
# /proc) is read when every subscriber is connected and again when every
# subscriber has every message, so connecting and closing are left out (as
# bench/e2e.sh leaves out joining). Writes bench/results/nchan-YYYY-MM-DD.md
# (one section per run of this script). Ends only the processes it started,
# by PID. About 2.5 minutes with the defaults.
#
# Knobs (environment): COUNTS ("100 1000 2000 5000"), MODES ("longpoll
# websocket"), DURATION_MS (20000), RATE (20, as bench/e2e.sh), BODY_BYTES
# (120), RESULTS_DIR (bench/results), E2E_REPORT (the newest
# RESULTS_DIR/e2e-*.md; "none" skips the comparison).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=${1:-build}
[[ $BUILD = /* ]] || BUILD=$ROOT/$BUILD
COUNTS=${COUNTS:-100 1000 2000 5000}
MODES=${MODES:-longpoll websocket}
DURATION_MS=${DURATION_MS:-20000}
RATE=${RATE:-20}
BODY_BYTES=${BODY_BYTES:-120}
RESULTS_DIR=${RESULTS_DIR:-$ROOT/bench/results}
E2E_REPORT=${E2E_REPORT:-$(ls -1 "$RESULTS_DIR"/e2e-*.md 2>/dev/null | sort | tail -1 || true)}
SERVER_CORE=0
CLIENT_CORE=1
NCHAN_MODULE=/usr/lib/nginx/modules/ngx_nchan_module.so
SUBSCRIBERS=$BUILD/bench/nchan_subscribers

die() { echo "nchan.sh: $*" >&2; exit 1; }
[[ -x $SUBSCRIBERS ]] || die "missing $SUBSCRIBERS (ninja -C $BUILD nchan_subscribers)"
[[ -r $NCHAN_MODULE ]] || die "missing $NCHAN_MODULE (apt-get install libnginx-mod-nchan)"
for t in nginx taskset curl python3; do
  command -v "$t" >/dev/null || die "needs $t on PATH"
done
[[ $(nproc) -ge 2 ]] || die "needs 2 cores (server on core $SERVER_CORE, client on core $CLIENT_CORE)"

# Each subscriber is a socket at each end.
ulimit -n "$(ulimit -Hn)"
max_count=0
for n in $COUNTS; do ((n > max_count)) && max_count=$n; done
[[ $(ulimit -n) -ge $((max_count + 1024)) ]] || die "ulimit -n $(ulimit -n) is too low for $max_count subscribers"

source "$ROOT/bench/lib.sh"
bench_scratch nchan

# --- nginx + nchan -----------------------------------------------------------
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
dir=$TMP/nginx
mkdir -p "$dir"
# Run as root, nginx's workers drop to "nobody": let them use the dir.
chmod 777 "$dir"
# A channel per run keeps at most DURATION_MS * RATE messages: the buffer
# holds them all, so a subscriber that falls behind still gets each one.
cat >"$dir/nginx.conf" <<EOF
load_module $NCHAN_MODULE;
worker_processes 1;
worker_rlimit_nofile $(ulimit -n);
daemon off;
pid $dir/nginx.pid;
error_log $dir/error.log warn;
events { worker_connections $((max_count + 1024)); }
http {
  access_log off;
  tcp_nodelay on;
  keepalive_requests 10000000;
  keepalive_timeout 120s;
  client_body_temp_path $dir/body;
  server {
    listen 127.0.0.1:$PORT;
    location = /healthz { return 200 "ok\n"; }
    location ~ ^/pub/([-\w]+)$ {
      nchan_publisher;
      nchan_channel_id \$1;
      nchan_message_buffer_length 100000;
      nchan_message_timeout 10m;
    }
    location ~ ^/sub/([-\w]+)$ {
      nchan_subscriber longpoll;
      nchan_channel_id \$1;
      nchan_subscriber_timeout 30s;
      nchan_subscriber_first_message oldest;
    }
    location ~ ^/ws/([-\w]+)$ {
      nchan_subscriber websocket;
      nchan_channel_id \$1;
      nchan_subscriber_timeout 0;
      nchan_subscriber_first_message oldest;
    }
  }
}
EOF
taskset -c "$SERVER_CORE" nginx -e "$dir/error.log" -p "$dir" -c "$dir/nginx.conf" \
  >"$dir/stderr.log" 2>&1 &
NGINX_PID=$!
PIDS+=("$NGINX_PID")
BASE=http://127.0.0.1:$PORT
for _ in $(seq 100); do
  curl -sf -o /dev/null "$BASE/healthz" && break
  kill -0 "$NGINX_PID" 2>/dev/null || die "nginx exited: $(cat "$dir/stderr.log" "$dir/error.log" 2>/dev/null)"
  sleep 0.1
done
curl -sf -o /dev/null "$BASE/healthz" || die "nginx did not answer on $BASE"

# --- measuring ---------------------------------------------------------------

wait_phase() {  # OUTFILE PID PHASE SECONDS
  local i
  for i in $(seq $(($4 * 20))); do
    grep -q "^PHASE=$3\$" "$1" && return 0
    kill -0 "$2" 2>/dev/null || return 1
    sleep 0.05
  done
  return 1
}

ROWS=()
FAILED_RUNS=()
declare -A US CPU_S P50 P99
run() {  # MODE COUNT
  local mode=$1 n=$2 out=$TMP/run.out load_before load_after rc=0 pid
  load_before=$(cut -d' ' -f1 /proc/loadavg)
  : >"$out"
  taskset -c "$CLIENT_CORE" "$SUBSCRIBERS" --base "$BASE" --channel "bench-$mode-$n-$$" \
    --mode "$mode" --subscribers "$n" --rate "$RATE" --duration-ms "$DURATION_MS" \
    --body-bytes "$BODY_BYTES" --wait-signal --max-wait-ms 30000 >"$out" 2>"$TMP/run.err" &
  pid=$!
  PIDS+=("$pid")
  wait_phase "$out" "$pid" ready 90 || die "$mode $n: subscribers did not connect: $(cat "$TMP/run.err")"
  local t0 c0 t1 c1
  t0=$(date +%s.%N)
  c0=$(cpu_s "$NGINX_PID")
  kill -USR1 "$pid"
  wait_phase "$out" "$pid" delivered $((DURATION_MS / 1000 + 60)) ||
    die "$mode $n: no PHASE=delivered: $(cat "$TMP/run.err")"
  c1=$(cpu_s "$NGINX_PID")
  t1=$(date +%s.%N)
  kill -USR1 "$pid"
  wait "$pid" || rc=$?
  load_after=$(cut -d' ' -f1 /proc/loadavg)
  unset -v R
  declare -gA R=()
  while IFS='=' read -r key value; do
    [[ $key =~ ^[A-Z_0-9]+$ ]] && R[$key]=$value
  done <"$out"
  [[ -n ${R[LATENCY_P50_MS]:-} ]] || die "nchan_subscribers failed: $(cat "$TMP/run.err")"
  ((rc == 0)) || FAILED_RUNS+=("$mode $n (exit $rc: ${R[EXACT]}/$n exact, ${R[MISSING]} missing, ${R[DUPLICATES]} duplicates, ${R[ERRORS]} errors, ${R[POST_ERRORS]} publish errors)")
  local cpu us core delivered
  # Messages delivered in the window: every acked one, to every subscriber
  # (as bench/e2e.sh counts them).
  delivered=$((R[POSTED] * n))
  cpu=$(awk -v a="$c0" -v b="$c1" 'BEGIN {printf "%.2f", b - a}')
  us=$(awk -v a="$c0" -v b="$c1" -v d="$delivered" 'BEGIN {printf "%.2f", (b - a) * 1e6 / d}')
  core=$(awk -v a="$c0" -v b="$c1" -v s="$t0" -v e="$t1" 'BEGIN {printf "%.0f", (b - a) * 100 / (e - s)}')
  US[$mode,$n]=$us
  CPU_S[$mode,$n]=$cpu
  P50[$mode,$n]=${R[LATENCY_P50_MS]}
  P99[$mode,$n]=${R[LATENCY_P99_MS]}
  ROWS+=("$mode|$n|${R[POSTED]}|${R[EXACT]}|${R[LATENCY_P50_MS]}|${R[LATENCY_P90_MS]}|${R[LATENCY_P99_MS]}|${R[LATENCY_MAX_MS]}|${R[ACK_P50_MS]}|${R[ACK_P99_MS]}|$cpu|$us|$core|${R[CLIENT_CPU_S]}|${R[REQUESTS]}|$((R[ERRORS] + R[POST_ERRORS]))|$load_before → $load_after|${R[OUT_OF_ORDER]}|${R[POST_BEHIND_SCHEDULE]}")
  printf '%-9s %5s subscribers: p50 %s p90 %s p99 %s max %s ms; exact %s/%s; nginx+nchan %s CPU s = %s µs/msg (%s%% of a core); load %s→%s\n' \
    "$mode" "$n" "${R[LATENCY_P50_MS]}" "${R[LATENCY_P90_MS]}" "${R[LATENCY_P99_MS]}" \
    "${R[LATENCY_MAX_MS]}" "${R[EXACT]}" "$n" "$cpu" "$us" "$core" "$load_before" "$load_after" >&2
}

UPTIME_BEFORE=$(uptime)
START=$(date +%s)
for mode in $MODES; do
  for n in $COUNTS; do run "$mode" "$n"; done
done
UPTIME_AFTER=$(uptime)
ELAPSED=$(($(date +%s) - START))

# --- roomcast's figures ------------------------------------------------------
# From the last section of an e2e report, one line per bucket-hold row:
# cache|followers|p50|p99|publisher+origin CPU s|µs/msg|cache CPU s|µs/msg.
# Columns are found by their headers.
e2e_rows() {
  awk -F'|' '
    function trim(s) { gsub(/^[ \t]+|[ \t]+$/, "", s); return s }
    # "1.23 (4.56)" -> "1.23|4.56"
    function pair(s) { s = trim(s); gsub(/[()]/, "", s); split(s, a, / +/); return a[1] "|" a[2] }
    /^## Run at/ { n = 0; hdr = 0; delete rows; next }
    /^\| *cache *\| *mode *\|/ {
      hdr = 1
      for (i = 2; i < NF; i++) {
        h = trim($i)
        if (h == "cache") c_cache = i; else if (h == "mode") c_mode = i
        else if (h == "followers") c_n = i; else if (h == "p50 ms") c_p50 = i
        else if (h == "p99 ms") c_p99 = i
        else if (h ~ /^publisher\+origin CPU/) c_srv = i
        else if (h ~ /^cache CPU/) c_cpu = i
      }
      next
    }
    hdr && /^\|---/ { next }
    hdr && /^\|/ {
      # Held buckets, or live segments streamed (MODE=stream): the
      # report says which.
      m = trim($c_mode)
      if (m == "bucket" || m == "stream")
        rows[n++] = trim($c_cache) (m == "stream" ? " streaming" : "") "|" trim($c_n) "|" trim($c_p50) "|" trim($c_p99) "|" pair($c_srv) "|" pair($c_cpu)
      next
    }
    hdr && !/^\|/ { hdr = 0 }
    END { for (i = 0; i < n; i++) print rows[i] }
  ' "$1"
}
E2E=()
E2E_RUN=""
if [[ $E2E_REPORT != none && -n $E2E_REPORT && -s $E2E_REPORT ]]; then
  mapfile -t E2E < <(e2e_rows "$E2E_REPORT")
  E2E_RUN=$(grep '^## Run at' "$E2E_REPORT" | tail -1 | sed 's/^## Run at //')
fi

# --- report ------------------------------------------------------------------
div() { awk -v a="$1" -v b="$2" 'BEGIN {if (a != "" && b > 0) printf "%.3f", a / b; else print "–"}'; }
read -ra COUNT_ARR <<<"$COUNTS"
LO=${COUNT_ARR[0]}
HI=${COUNT_ARR[${#COUNT_ARR[@]} - 1]}
mkdir -p "$RESULTS_DIR"
REPORT=$RESULTS_DIR/nchan-$(date +%F).md
{
  [[ -s $REPORT ]] || printf '# nchan, the push-server reference, against roomcast\n\nFrom `bench/nchan.sh` (DESIGN §9, issue 7 item 2b). Each run of the script appends a section.\n'
  printf '\n## Run at %s\n\n' "$(date '+%F %T %Z')"
  printf 'Commit %s%s; %s; %s with libnginx-mod-nchan %s (one worker). %s messages/s for %s s per run (%s-byte bodies), a fresh channel per run, `nchan_message_buffer_length 100000`, `nchan_subscriber_first_message oldest`, long-poll `nchan_subscriber_timeout 30s`. nginx + nchan on core %s; `nchan_subscribers` (all subscribers and the publisher, one thread) on core %s. Took %s s.\n\n' \
    "$(git -C "$ROOT" rev-parse --short HEAD)" \
    "$(git -C "$ROOT" diff --quiet HEAD -- bench/nchan.sh bench/nchan_subscribers.cc 2>/dev/null || echo ' (+ uncommitted changes)')" \
    "$(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //')" "$(nginx -v 2>&1 | sed 's/.*: //')" \
    "$(dpkg-query -W -f '${Version}' libnginx-mod-nchan 2>/dev/null || echo '?')" \
    "$RATE" "$((DURATION_MS / 1000))" "$BODY_BYTES" "$SERVER_CORE" "$CLIENT_CORE" "$ELAPSED"
  printf 'Load: before `%s`; after `%s`.' "$(sed 's/.*load average/load average/' <<<"$UPTIME_BEFORE")" \
    "$(sed 's/.*load average/load average/' <<<"$UPTIME_AFTER")"
  awk -v l="$(cut -d' ' -f1 /proc/loadavg)" 'BEGIN { if (l > 3) printf " **The machine was busy (load %s on 2 cores): latencies include CPU contention; CPU seconds per message much less so.**", l }'
  printf '\n\nLatency = when a subscriber read the message − when the publisher wrote its POST (one process, one steady clock). Long-poll: one message per answer; each request carries the last answer'"'"'s `Last-Modified` / `Etag` as `If-Modified-Since` / `If-None-Match`. "Exact" = subscribers that got every acked message exactly once; "out of order" = messages read after one posted later (not a fault: as in bench/e2e.sh'"'"'s poster, a post slow to be acked does not hold back the next, which goes out on another connection); "late posts" = POSTs written > 10 ms after their slot. CPU = nginx master + worker, user + system, from every subscriber connected to every subscriber having every message; per message = ÷ (acked messages × subscribers).\n\n'
  printf '| mode | subscribers | posted | exact | p50 ms | p90 ms | p99 ms | max ms | ack p50 / p99 ms | nginx+nchan CPU s | µs/msg | %% of a core | client CPU s | long-poll requests | out of order | late posts | errors | load 1-min |\n'
  printf '|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|\n'
  for r in "${ROWS[@]}"; do
    IFS='|' read -ra F <<<"$r"
    printf '| %s | %s | %s | %s/%s | %s | %s | %s | %s | %s / %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n' \
      "${F[0]}" "${F[1]}" "${F[2]}" "${F[3]}" "${F[1]}" "${F[4]}" "${F[5]}" "${F[6]}" "${F[7]}" \
      "${F[8]}" "${F[9]}" "${F[10]}" "${F[11]}" "${F[12]}" "${F[13]}" \
      "$([[ ${F[0]} == longpoll ]] && echo "${F[14]}" || echo –)" "${F[17]}" "${F[18]}" "${F[15]}" "${F[16]}"
  done
  for mode in $MODES; do
    [[ -n ${CPU_S[$mode,$LO]:-} && -n ${CPU_S[$mode,$HI]:-} ]] || continue
    printf '\nnchan %s: CPU seconds grow %s× from %s to %s subscribers (µs per delivered message %s → %s).' \
      "$mode" "$(div "${CPU_S[$mode,$HI]}" "${CPU_S[$mode,$LO]}")" "$LO" "$HI" "${US[$mode,$LO]}" "${US[$mode,$HI]}"
  done
  printf '\n'
  if ((${#FAILED_RUNS[@]} > 0)); then
    printf '\n**Runs with delivery faults:** %s\n' "${FAILED_RUNS[*]}"
  else
    printf '\nEvery run: every subscriber got every acked message exactly once, with no request error.\n'
  fi

  if ((${#E2E[@]} > 0)); then
    printf '\n### Against roomcast\n\n'
    printf 'roomcast figures: `%s`, section "Run at %s" (bench/e2e.sh: held buckets, or "streaming" for live segments; the same rate and window length, its own core split; a separate run, so the machine'"'"'s load may differ). There, CPU is counted over the posting window and ÷ (acked messages × followers), as here. Ratio = roomcast µs/msg ÷ nchan µs/msg at the same follower count (DESIGN §9 goal: publisher + origin ≤ 0.1× nchan at 2,000 followers).\n\n' \
      "${E2E_REPORT#"$ROOT"/}" "$E2E_RUN"
    printf '| followers | cache | roomcast p50 / p99 ms | publisher+origin CPU s (µs/msg) | cache CPU s (µs/msg) |'
    for mode in $MODES; do printf ' nchan %s p50 / p99 ms | nchan %s CPU s (µs/msg) | publisher+origin / nchan %s | cache / nchan %s |' "$mode" "$mode" "$mode" "$mode"; done
    printf '\n|---:|---|---:|---:|---:|'
    for _ in $MODES; do printf -- '---:|---:|---:|---:|'; done
    printf '\n'
    for n in $COUNTS; do
      for e in "${E2E[@]}"; do
        IFS='|' read -r cache en p50 p99 srv_s srv_us cache_s cache_us <<<"$e"
        [[ $en == "$n" ]] || continue
        printf '| %s | %s | %s / %s | %s (%s) | %s (%s) |' "$n" "$cache" "$p50" "$p99" "$srv_s" "$srv_us" "$cache_s" "$cache_us"
        for mode in $MODES; do
          printf ' %s / %s | %s (%s) | **%s** | %s |' "${P50[$mode,$n]:-–}" "${P99[$mode,$n]:-–}" \
            "${CPU_S[$mode,$n]:-–}" "${US[$mode,$n]:-–}" "$(div "$srv_us" "${US[$mode,$n]:-}")" \
            "$(div "$cache_us" "${US[$mode,$n]:-}")"
        done
        printf '\n'
      done
    done
    printf '\n**DESIGN §9 at %s followers:**\n\n' "$HI"
    for e in "${E2E[@]}"; do
      IFS='|' read -r cache en p50 p99 srv_s srv_us cache_s cache_us <<<"$e"
      [[ $en == "$HI" ]] || continue
      for mode in $MODES; do
        [[ -n ${US[$mode,$HI]:-} ]] || continue
        r=$(div "$srv_us" "${US[$mode,$HI]}")
        printf -- '- publisher + origin (through %s) / nchan %s = %s µs / %s µs = **%s×** (≤ 0.1: **%s**); the cache alone: %s×.\n' \
          "$cache" "$mode" "$srv_us" "${US[$mode,$HI]}" "$r" \
          "$(awk -v r="$r" 'BEGIN {print (r != "–" && r <= 0.1) ? "met" : "NOT met"}')" \
          "$(div "$cache_us" "${US[$mode,$HI]}")"
      done
    done
    # Flatness: total CPU seconds in the window, from the lowest to the
    # highest count.
    for e in "${E2E[@]}"; do
      IFS='|' read -r cache en _ _ srv_s _ <<<"$e"
      [[ $en == "$LO" ]] || continue
      for e2 in "${E2E[@]}"; do
        IFS='|' read -r cache2 en2 _ _ srv_s2 _ <<<"$e2"
        [[ $cache2 == "$cache" && $en2 == "$HI" ]] || continue
        printf -- '- Growth of CPU seconds from %s to %s followers: roomcast publisher + origin (through %s) %s → %s s = %s×' \
          "$LO" "$HI" "$cache" "$srv_s" "$srv_s2" "$(div "$srv_s2" "$srv_s")"
        for mode in $MODES; do
          [[ -n ${CPU_S[$mode,$LO]:-} && -n ${CPU_S[$mode,$HI]:-} ]] || continue
          printf '; nchan %s %s → %s s = %s×' "$mode" "${CPU_S[$mode,$LO]}" "${CPU_S[$mode,$HI]}" \
            "$(div "${CPU_S[$mode,$HI]}" "${CPU_S[$mode,$LO]}")"
        done
        printf '.\n'
      done
    done
  else
    printf '\nNo bench/results/e2e-*.md to compare with: run bench/e2e.sh, then this again (or E2E_REPORT=FILE).\n'
  fi
} >>"$REPORT"
awk '/^## Run at/ {buf = ""} {buf = buf $0 "\n"} END {printf "%s", buf}' "$REPORT" >&2
echo "nchan.sh: appended to $REPORT" >&2
((${#FAILED_RUNS[@]} == 0)) || die "some runs had delivery faults (see the report)"
