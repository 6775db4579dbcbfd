#!/usr/bin/env bash
# bench/origin_get.sh: DESIGN §9 "Origin GET of a stored 2 KB segment:
# >= 0.9x nginx serving the same bytes as a static file", and the origin's
# memory with 5,000 held requests (issue 3's acceptance).
#
#   bench/origin_get.sh [BUILD_DIR]        # default: build
#
# Builds nothing: needs BUILD_DIR/bin/roomcast-origin and
# BUILD_DIR/bench/{origin_fixture_tool,hold_load}. Loopback only. The origin
# (--threads 1) and nginx (worker_processes 1) both run on core 0, wrk and
# hold_load on core 1. Each server gets the same wrk run (keep-alive, after a
# short warm-up) for the ~2 KB and the ~8 KB segment; then hold_load parks
# HELD requests on a bucket the publisher has not closed, the origin's RSS
# and /metrics are read while they are held, and the segment's PUT releases
# them. Appends a markdown section to bench/results/origin-YYYY-MM-DD.md.
# Ends only the processes it started, by PID. About a minute.
#
# Knobs (environment): DURATION (10s), CONNS (64), HELD (5000),
# RESULTS_DIR (bench/results), ORIGIN_BIN (BUILD_DIR/bin/roomcast-origin,
# to compare two builds).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=${1:-build}
[[ $BUILD = /* ]] || BUILD=$ROOT/$BUILD
DURATION=${DURATION:-10s}
CONNS=${CONNS:-64}
HELD=${HELD:-5000}
RESULTS_DIR=${RESULTS_DIR:-$ROOT/bench/results}
SERVER_CORE=0
CLIENT_CORE=1

ORIGIN_BIN=${ORIGIN_BIN:-$BUILD/bin/roomcast-origin}
FIXTURE=$BUILD/bench/origin_fixture_tool
HOLD_LOAD=$BUILD/bench/hold_load

die() { echo "origin_get.sh: $*" >&2; exit 1; }
for f in "$ORIGIN_BIN" "$FIXTURE" "$HOLD_LOAD"; do
  [[ -x $f ]] || die "missing $f (ninja -C $BUILD roomcast-origin origin_fixture_tool hold_load)"
done
for t in wrk nginx taskset timeout; do
  command -v "$t" >/dev/null || die "needs $t on PATH"
done
[[ $(nproc) -ge 2 ]] || die "needs 2 cores (server on core $SERVER_CORE, client on core $CLIENT_CORE)"

# Every held request is a socket at each end.
ulimit -n "$(ulimit -Hn)"
[[ $(ulimit -n) -ge $((HELD + 1024)) ]] || die "ulimit -n $(ulimit -n) is too low for HELD=$HELD"

source "$ROOT/bench/lib.sh"
bench_scratch origin

export ROOMCAST_WRITE_SECRET="bench-secret-$$-$RANDOM"

# --- servers -----------------------------------------------------------------
# The hold limit is raised so HELD connections have time to connect (it only
# bounds how long a request may wait; stored objects are unaffected). Every
# held connection comes from 127.0.0.1, one address, so the per-address caps
# (DESIGN §15: 1,024 connections, 4,096 held by default) are raised above
# HELD; otherwise the origin refuses the rest, and the run's own /metrics
# reads with them.
taskset -c "$SERVER_CORE" "$ORIGIN_BIN" --listen 127.0.0.1:0 --data "$TMP/data" \
  --threads 1 --no-sync --max-hold-ms 60000 \
  --max-connections-per-address $((HELD + 1024)) --max-held-per-address $((HELD + 1024)) \
  >"$TMP/origin.out" 2>"$TMP/origin.err" &
ORIGIN_PID=$!
PIDS+=("$ORIGIN_PID")
for _ in $(seq 100); do
  grep -q '^listening on ' "$TMP/origin.out" 2>/dev/null && break
  kill -0 "$ORIGIN_PID" 2>/dev/null || die "origin exited: $(cat "$TMP/origin.err")"
  sleep 0.1
done
ORIGIN_URL=$(sed -n 's/^listening on //p' "$TMP/origin.out" | head -1)
[[ -n $ORIGIN_URL ]] || die "origin did not listen"

while IFS='=' read -r key value; do
  case $key in
    SEG2K_PATH|SEG2K_BYTES|SEG8K_PATH|SEG8K_BYTES|HOLD_PATH|HOLD_BYTES) printf -v "$key" '%s' "$value" ;;
  esac
done < <("$FIXTURE" --origin "$ORIGIN_URL" --static-dir "$TMP/www" --hold-body "$TMP/hold.pb")
[[ -n ${HOLD_PATH:-} ]] || die "origin_fixture_tool failed"

NGINX_PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
mkdir -p "$TMP/nginx"
# Same bytes, same content type and the same response headers as the origin
# sends; keepalive_requests raised so wrk's connections live as long as they
# do against the origin (nginx's default closes one every 1000 requests).
cat >"$TMP/nginx/nginx.conf" <<EOF
$([[ $(id -u) -eq 0 ]] && echo "user root root;")
worker_processes 1;
daemon off;
pid $TMP/nginx/nginx.pid;
error_log $TMP/nginx/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  sendfile on;
  tcp_nodelay on;
  keepalive_requests 10000000;
  client_body_temp_path $TMP/nginx/body;
  types { application/x-protobuf pb; }
  default_type application/x-protobuf;
  server {
    listen 127.0.0.1:$NGINX_PORT;
    root $TMP/www;
    location / {
      add_header Cache-Control "public, max-age=31536000, immutable";
      add_header Vary Accept-Encoding;
      add_header Access-Control-Allow-Origin "*";
      add_header Access-Control-Expose-Headers "Age, Date, ETag";
    }
  }
}
EOF
taskset -c "$SERVER_CORE" nginx -p "$TMP/nginx" -c "$TMP/nginx/nginx.conf" -e "$TMP/nginx/error.log" \
  >"$TMP/nginx/stdout" 2>&1 &
NGINX_PID=$!
PIDS+=("$NGINX_PID")
NGINX_URL=http://127.0.0.1:$NGINX_PORT
for _ in $(seq 100); do
  curl -sf -o /dev/null "$NGINX_URL$SEG2K_PATH" && break
  kill -0 "$NGINX_PID" 2>/dev/null || die "nginx exited: $(cat "$TMP/nginx/error.log")"
  sleep 0.1
done

# Both must serve exactly the bytes the fixture wrote.
for path in "$SEG2K_PATH" "$SEG8K_PATH"; do
  curl -sf "$ORIGIN_URL$path" -o "$TMP/o.pb" || die "origin GET $path failed"
  curl -sf "$NGINX_URL$path" -o "$TMP/n.pb" || die "nginx GET $path failed"
  cmp -s "$TMP/o.pb" "$TMP/n.pb" || die "origin and nginx serve different bytes for $path"
  ctype=$(curl -sf -o /dev/null -w '%{content_type}' "$NGINX_URL$path")
  [[ $ctype == application/x-protobuf ]] || die "nginx Content-Type is '$ctype'"
done

# --- wrk ---------------------------------------------------------------------

# Latency from wrk's --latency table, in ms.
to_ms() {
  awk -v v="$1" 'BEGIN {
    if (v ~ /us$/) printf "%.3f", substr(v, 1, length(v) - 2) / 1000;
    else if (v ~ /ms$/) printf "%.3f", substr(v, 1, length(v) - 2);
    else if (v ~ /s$/) printf "%.3f", substr(v, 1, length(v) - 1) * 1000;
    else print v }'
}

ROWS=()
declare -A RPS CPU
run_wrk() {  # NAME URL SERVER_PID
  local name=$1 url=$2 pid=$3 out cpu0 cpu1
  timeout 30 taskset -c "$CLIENT_CORE" wrk -t1 -c"$CONNS" -d2s "$url" >/dev/null  # warm-up
  cpu0=$(cpu_s "$pid")
  out=$(timeout 60 taskset -c "$CLIENT_CORE" wrk -t1 -c"$CONNS" -d"$DURATION" --latency "$url")
  cpu1=$(cpu_s "$pid")
  echo "$out" >"$TMP/wrk-$name.txt"
  if grep -q -e 'Non-2xx' -e 'Socket errors' <<<"$out"; then
    echo "$out" >&2
    die "wrk against $name saw errors"
  fi
  local rps reqs p50 p99
  rps=$(awk '/^Requests\/sec:/ {print $2}' <<<"$out")
  reqs=$(awk '/requests in/ {print $1}' <<<"$out")
  p50=$(to_ms "$(awk '$1 == "50%" {print $2}' <<<"$out")")
  p99=$(to_ms "$(awk '$1 == "99%" {print $2}' <<<"$out")")
  RPS[$name]=$rps
  local cpu_us
  cpu_us=$(awk -v a="$cpu0" -v b="$cpu1" -v n="$reqs" 'BEGIN {printf "%.1f", (b - a) * 1e6 / n}')
  CPU[$name]=$cpu_us
  ROWS+=("$name|$rps|$p50|$p99|$cpu_us")
  printf '%-10s %10s req/s  p50 %s ms  p99 %s ms  server CPU %s us/req\n' \
    "$name" "$rps" "$p50" "$p99" "$cpu_us" >&2
}

LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
run_wrk origin-2k "$ORIGIN_URL$SEG2K_PATH" "$ORIGIN_PID"
run_wrk nginx-2k "$NGINX_URL$SEG2K_PATH" "$NGINX_PID"
run_wrk origin-8k "$ORIGIN_URL$SEG8K_PATH" "$ORIGIN_PID"
run_wrk nginx-8k "$NGINX_URL$SEG8K_PATH" "$NGINX_PID"

# --- held requests -----------------------------------------------------------
rss_kb() { awk '/^VmRSS:/ {print $2}' /proc/"$ORIGIN_PID"/status; }
metric() { curl -sf "$ORIGIN_URL/metrics" | awk -v m="$1" '$1 == m {print $2}'; }
RSS_BEFORE=$(rss_kb)
HELD_BEFORE=$(metric roomcast_origin_held_requests)
# No `timeout` wrapper: SIGUSR1 must reach hold_load itself, which bounds
# every phase on its own (connect 60 s, wait 30 s, answers 10 s).
taskset -c "$CLIENT_CORE" "$HOLD_LOAD" --url "$ORIGIN_URL$HOLD_PATH" \
  --connections "$HELD" --release-body "$TMP/hold.pb" --max-wait-ms 30000 \
  >"$TMP/hold.out" 2>"$TMP/hold.err" &
HOLD_PID=$!
PIDS+=("$HOLD_PID")
for _ in $(seq 900); do
  grep -q '^HELD=' "$TMP/hold.out" && break
  kill -0 "$HOLD_PID" 2>/dev/null || die "hold_load exited: $(cat "$TMP/hold.err")"
  sleep 0.1
done
grep -q '^HELD=' "$TMP/hold.out" || die "hold_load did not get its requests held"
RSS_HELD=$(rss_kb)
HELD_METRIC=$(metric roomcast_origin_held_requests)
kill -USR1 "$HOLD_PID"
HOLD_RC=0
wait "$HOLD_PID" || HOLD_RC=$?
RSS_AFTER=$(rss_kb)
while IFS='=' read -r key value; do
  [[ $key =~ ^[A-Z_0-9]+$ ]] && printf -v "H_$key" '%s' "$value"
done <"$TMP/hold.out"
WAKE_SUM=$(metric roomcast_origin_hold_wake_delay_seconds_sum)
WAKE_COUNT=$(metric roomcast_origin_hold_wake_delay_seconds_count)
LOAD_AFTER=$(cut -d' ' -f1-3 /proc/loadavg)

# --- report ------------------------------------------------------------------
ratio() { awk -v a="${RPS[$1]}" -v b="${RPS[$2]}" 'BEGIN {printf "%.2f", a / b}'; }
R2=$(ratio origin-2k nginx-2k)
R8=$(ratio origin-8k nginx-8k)
mkdir -p "$RESULTS_DIR"
REPORT=$RESULTS_DIR/origin-$(date +%F).md
{
  [[ -s $REPORT ]] || printf '# Origin GET vs nginx, and held requests\n\nFrom `bench/origin_get.sh` (DESIGN §9, issue 3). Each run appends a section.\n'
  printf '\n## Run at %s\n\n' "$(date '+%F %T %Z')"
  printf 'Commit %s%s; %s; %s; wrk %s -t1 -c%s -d%s (keep-alive, 2 s warm-up); servers on core %s, clients on core %s. Load average before %s, after %s.\n\n' \
    "$(git -C "$ROOT" rev-parse --short HEAD)" \
    "$(git -C "$ROOT" diff --quiet HEAD -- http origin 2>/dev/null || echo ' (+ uncommitted changes in http/ or origin/)')" \
    "$(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //')" "$(nginx -v 2>&1 | sed 's/.*: //')" \
    "$(wrk --version 2>&1 | head -1 | awk '{print $2}')" "$CONNS" "$DURATION" "$SERVER_CORE" "$CLIENT_CORE" \
    "$LOAD_BEFORE" "$LOAD_AFTER"
  printf '| server | object | req/s | origin/nginx | p50 ms | p99 ms | server CPU µs/req |\n'
  printf '|---|---|---:|---:|---:|---:|---:|\n'
  for row in "${ROWS[@]}"; do
    IFS='|' read -r name rps p50 p99 cpu <<<"$row"
    server=${name%-*}
    size=${name#*-}
    bytes=$([[ $size == 2k ]] && echo "$SEG2K_BYTES" || echo "$SEG8K_BYTES")
    r=$([[ $server == origin ]] && ratio "$name" "nginx-$size" || echo "")
    printf '| %s | %s B segment | %s | %s | %s | %s | %s |\n' "$server" "$bytes" "$rps" "$r" "$p50" "$p99" "$cpu"
  done
  printf '\n2 KB: origin/nginx = **%s** (target ≥ 0.9: %s). 8 KB: %s.\n' "$R2" \
    "$(awk -v r="$R2" 'BEGIN {print (r >= 0.9 ? "met" : "NOT met")}')" "$R8"
  # req/s swing with whatever else runs on the two cores; CPU per request
  # hardly does, so it is the figure to compare between runs.
  printf 'Server CPU per request, nginx/origin (the same ratio without the noise of a shared machine): 2 KB **%s**, 8 KB %s.\n\n' \
    "$(awk -v a="${CPU[nginx-2k]}" -v b="${CPU[origin-2k]}" 'BEGIN {printf "%.2f", a / b}')" \
    "$(awk -v a="${CPU[nginx-8k]}" -v b="${CPU[origin-8k]}" 'BEGIN {printf "%.2f", a / b}')"
  printf '**%s held requests** (one origin thread, `hold_load` on core %s):\n\n' "$HELD" "$CLIENT_CORE"
  printf '| | value |\n|---|---:|\n'
  printf '| origin RSS before | %s MiB |\n' "$(awk -v k="$RSS_BEFORE" 'BEGIN {printf "%.1f", k / 1024}')"
  printf '| origin RSS with %s held | %s MiB |\n' "$HELD" "$(awk -v k="$RSS_HELD" 'BEGIN {printf "%.1f", k / 1024}')"
  printf '| per held request | %s KiB |\n' "$(awk -v a="$RSS_BEFORE" -v b="$RSS_HELD" -v n="$HELD" 'BEGIN {printf "%.1f", (b - a) / n}')"
  printf '| origin RSS after release | %s MiB |\n' "$(awk -v k="$RSS_AFTER" 'BEGIN {printf "%.1f", k / 1024}')"
  printf '| held (client: no answer yet / origin metric) | %s / %s (metric before: %s) |\n' "${H_HELD:-?}" "${HELD_METRIC:-?}" "${HELD_BEFORE:-?}"
  printf '| time to send all requests | %s ms |\n' "${H_SEND_MS:-?}"
  printf '| release PUT round trip | %s ms (HTTP %s) |\n' "${H_PUT_MS:-?}" "${H_PUT_STATUS:-?}"
  printf '| answered 200 after the PUT | %s of %s (statuses %s, errors %s, unfinished %s) |\n' \
    "${H_WOKEN_200:-?}" "$HELD" "${H_WOKEN_STATUS:-?}" "${H_ERRORS:-?}" "${H_UNFINISHED:-?}"
  printf '| wake-up, PUT sent → answer at client: p50 / p99 / max | %s / %s / %s ms |\n' \
    "${H_WAKE_P50_MS:-?}" "${H_WAKE_P99_MS:-?}" "${H_WAKE_MAX_MS:-?}"
  printf '| origin wake-delay metric, mean | %s ms |\n' \
    "$(awk -v s="${WAKE_SUM:-0}" -v n="${WAKE_COUNT:-0}" 'BEGIN {if (n > 0) printf "%.2f", s * 1000 / n; else print "?"}')"
} >>"$REPORT"
awk '/^## Run at/ {buf = ""} {buf = buf $0 "\n"} END {printf "%s", buf}' "$REPORT" >&2
echo "origin_get.sh: appended to $REPORT" >&2
[[ $HOLD_RC -eq 0 ]] || die "hold_load: not every request was held and answered 200 (see the table)"
