#!/usr/bin/env bash
# bench/ingest.sh: DESIGN §9 "Durable ingest: >= 100,000 messages/s in
# batches; single-message POSTs >= 0.5x the rate at which nginx answers a
# trivial request", and the ack latency (POST -> durable 2xx) p50/p99.
#
#   bench/ingest.sh [BUILD_DIR]        # default: build
#
# Builds nothing: needs BUILD_DIR/bin/roomcast-{publisher,origin}. Loopback
# only. The publisher (--threads 1, log fsync ON: every 2xx is durable), the
# origin it uploads to, and nginx (worker_processes 1, `return 200`) all run
# on core 0; wrk runs on core 1. One wrk run (keep-alive, after a short
# warm-up) per case:
#   nginx   the same single-message POST, answered by `return 200`
#   single  one comment per POST
#   batch   BATCH comments per POST ({"messages": [...]})
#   protobuf  the same batch as an application/x-protobuf body (what the
#             publisher costs without protobuf's JSON parser)
# The sender is an anchor (not rate-limited; audience senders are limited to
# 20 messages/s each by design). Every case must answer only 2xx, and the
# publisher's own messages_accepted_total must match wrk's count. Appends a
# markdown section to bench/results/ingest-YYYY-MM-DD.md. Ends only the
# processes it started, by PID. About a minute.
#
# 256 connections by default: group commit acks every request that waited on
# one fsync together, so single-message throughput is about CONNS / (fsync
# time) until the core saturates (a live room has thousands of senders);
# nginx gets the same connection count.
#
# Knobs (environment): DURATION (10s), CONNS (256), BATCH (100),
# BATCH_CONNS (32), RESULTS_DIR (bench/results), PERF (1: record a
# perf profile of the publisher during the single-message run).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=${1:-build}
[[ $BUILD = /* ]] || BUILD=$ROOT/$BUILD
DURATION=${DURATION:-10s}
CONNS=${CONNS:-256}
BATCH=${BATCH:-100}
BATCH_CONNS=${BATCH_CONNS:-32}
RESULTS_DIR=${RESULTS_DIR:-$ROOT/bench/results}
PERF=${PERF:-0}
SERVER_CORE=0
CLIENT_CORE=1

PUBLISHER_BIN=$BUILD/bin/roomcast-publisher
ORIGIN_BIN=$BUILD/bin/roomcast-origin

die() { echo "ingest.sh: $*" >&2; exit 1; }
for f in "$PUBLISHER_BIN" "$ORIGIN_BIN"; do
  [[ -x $f ]] || die "missing $f (ninja -C $BUILD roomcast-publisher roomcast-origin)"
done
for t in wrk nginx taskset timeout openssl curl; do
  command -v "$t" >/dev/null || die "needs $t on PATH"
done
[[ $(nproc) -ge 2 ]] || die "needs 2 cores (server on core $SERVER_CORE, client on core $CLIENT_CORE)"

source "$ROOT/bench/lib.sh"
bench_scratch ingest

export ROOMCAST_WRITE_SECRET="bench-write-$$-$RANDOM"
export ROOMCAST_JWT_SECRET="bench-jwt-$$-$RANDOM"
ROOM=bench

# --- servers -----------------------------------------------------------------
taskset -c "$SERVER_CORE" "$ORIGIN_BIN" --listen 127.0.0.1:0 --data "$TMP/origin" \
  --threads 1 >"$TMP/origin.out" 2>"$TMP/origin.out.err" &
ORIGIN_PID=$!
PIDS+=("$ORIGIN_PID")
ORIGIN_URL=$(wait_listening "$TMP/origin.out" "$ORIGIN_PID" origin)
[[ -n $ORIGIN_URL ]] || die "origin did not listen"

taskset -c "$SERVER_CORE" "$PUBLISHER_BIN" --listen 127.0.0.1:0 --data "$TMP/publisher" \
  --origin "$ORIGIN_URL" --id bench --threads 1 \
  >"$TMP/publisher.out" 2>"$TMP/publisher.out.err" &
PUBLISHER_PID=$!
PIDS+=("$PUBLISHER_PID")
PUBLISHER_URL=$(wait_listening "$TMP/publisher.out" "$PUBLISHER_PID" publisher)
[[ -n $PUBLISHER_URL ]] || die "publisher did not listen"

SERVICE_TOKEN=$(jwt backend service '*')
SENDER_TOKEN=$(jwt host anchor "$ROOM")
curl -sf -o /dev/null -X POST -H "Authorization: Bearer $SERVICE_TOKEN" \
  -H 'Content-Type: application/json' -d '{"bucket_ms": 1000}' \
  "$PUBLISHER_URL/v1/rooms/$ROOM" || die "opening the room failed"

NGINX_PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
mkdir -p "$TMP/nginx"
cat >"$TMP/nginx/nginx.conf" <<EOF
$([[ $(id -u) -eq 0 ]] && echo "user root root;")
worker_processes 1;
daemon off;
pid $TMP/nginx/nginx.pid;
error_log $TMP/nginx/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  tcp_nodelay on;
  keepalive_requests 10000000;
  client_body_temp_path $TMP/nginx/body;
  server {
    listen 127.0.0.1:$NGINX_PORT;
    location / {
      default_type application/json;
      return 200 '{"seq":1,"ts_ms":1,"bucket_ms":1000,"bucket":1}\n';
    }
  }
}
EOF
taskset -c "$SERVER_CORE" nginx -p "$TMP/nginx" -c "$TMP/nginx/nginx.conf" \
  -e "$TMP/nginx/error.log" >"$TMP/nginx/stdout" 2>&1 &
NGINX_PID=$!
PIDS+=("$NGINX_PID")
NGINX_URL=http://127.0.0.1:$NGINX_PORT
for _ in $(seq 100); do
  curl -sf -o /dev/null -X POST -d x "$NGINX_URL/v1/rooms/$ROOM/messages" && break
  kill -0 "$NGINX_PID" 2>/dev/null || die "nginx exited: $(cat "$TMP/nginx/error.log")"
  sleep 0.1
done

# --- request bodies and the wrk script ----------------------------------------
printf '{"type":"comment","text":"hello from the ingest benchmark, a typical short comment"}' \
  >"$TMP/single.json"
{
  printf '{"messages":['
  for i in $(seq "$BATCH"); do
    [[ $i -gt 1 ]] && printf ','
    printf '{"type":"comment","text":"hello from the ingest benchmark, comment %d of the batch"}' "$i"
  done
  printf ']}'
} >"$TMP/batch.json"
# The same batch as a PostMessagesRequest (field 1: MessageInput{type = 1,
# text = 2}), encoded by hand: no protobuf tooling needed.
python3 - "$BATCH" "$TMP/batch.pb" <<'PY'
import sys
def varint(n):
    out = b""
    while True:
        b, n = n & 0x7F, n >> 7
        out += bytes([b | (0x80 if n else 0)])
        if not n:
            return out
def field(num, data):
    return bytes([num << 3 | 2]) + varint(len(data)) + data
n, path = int(sys.argv[1]), sys.argv[2]
text = "hello from the ingest benchmark, comment %d of the batch"
body = b"".join(field(1, field(1, b"comment") + field(2, (text % i).encode()))
                for i in range(1, n + 1))
open(path, "wb").write(body)
PY
# One reply must be a real ack before anything is measured.
curl -sf -X POST -H "Authorization: Bearer $SENDER_TOKEN" -H 'Content-Type: application/json' \
  --data-binary @"$TMP/single.json" "$PUBLISHER_URL/v1/rooms/$ROOM/messages" |
  grep -q '"seq":' || die "a single POST was not acked"
curl -sf -X POST -H "Authorization: Bearer $SENDER_TOKEN" -H 'Content-Type: application/json' \
  --data-binary @"$TMP/batch.json" "$PUBLISHER_URL/v1/rooms/$ROOM/messages" |
  grep -q '"results":' || die "a batch POST was not acked"

cat >"$TMP/post.lua" <<'EOF'
local f = assert(io.open(os.getenv("BODY_FILE"), "rb"))
wrk.method = "POST"
wrk.body = f:read("*a")
f:close()
wrk.headers["Content-Type"] = os.getenv("CTYPE") or "application/json"
wrk.headers["Authorization"] = "Bearer " .. os.getenv("TOKEN")
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "RESULT requests=%d seconds=%.3f errors=%d p50_us=%d p90_us=%d p99_us=%d max_us=%d\n",
    summary.requests, summary.duration / 1e6,
    e.connect + e.read + e.write + e.status + e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max))
end
EOF

accepted() {
  curl -sf "$PUBLISHER_URL/metrics" |
    awk '$1 == "roomcast_publisher_messages_accepted_total" {print $2}'
}

# run NAME URL BODY_FILE CONNS [PID]: warm-up, then the measured wrk run.
# Sets R_<field> from wrk's RESULT line and R_cpu (the server's CPU seconds).
run() {
  local name=$1 url=$2 body=$3 conns=$4 pid=${5:-} out cpu0=0 cpu1=0
  BODY_FILE=$body TOKEN=$SENDER_TOKEN CTYPE=${CTYPE:-} taskset -c "$CLIENT_CORE" \
    timeout 30 wrk -t1 -c"$conns" -d2s -s "$TMP/post.lua" "$url" >/dev/null
  [[ -n $pid ]] && cpu0=$(cpu_s "$pid")
  out=$(BODY_FILE=$body TOKEN=$SENDER_TOKEN CTYPE=${CTYPE:-} taskset -c "$CLIENT_CORE" \
    timeout 60 wrk -t1 -c"$conns" -d"$DURATION" --timeout 5s -s "$TMP/post.lua" "$url")
  [[ -n $pid ]] && cpu1=$(cpu_s "$pid")
  echo "$out" >"$TMP/$name.wrk"
  grep -q '^RESULT ' <<<"$out" || die "$name: wrk printed no result: $out"
  if grep -q 'Non-2xx' <<<"$out"; then die "$name: non-2xx answers: $out"; fi
  local kv
  for kv in $(grep '^RESULT ' <<<"$out" | cut -d' ' -f2-); do
    printf -v "R_${kv%%=*}" '%s' "${kv#*=}"
  done
  [[ $R_errors -eq 0 ]] || die "$name: $R_errors socket errors or timeouts"
  R_cpu=$(awk -v a="$cpu0" -v b="$cpu1" 'BEGIN {printf "%.2f", b - a}')
}

MSGS_URL=$PUBLISHER_URL/v1/rooms/$ROOM/messages

# What one synced write costs on this disk right now: it bounds a single
# connection's ack rate, and group commit is what lifts the rest.
FSYNC_MS=$(python3 - "$TMP/fsync.bin" <<'PY'
import os, sys, time
fd = os.open(sys.argv[1], os.O_WRONLY | os.O_CREAT | os.O_APPEND)
t = time.monotonic()
for _ in range(100):
    os.write(fd, b"x" * 200)
    os.fdatasync(fd)
print("%.2f" % ((time.monotonic() - t) * 10))
PY
)
LOADAVG=$(cut -d' ' -f1-3 /proc/loadavg)

run nginx "$NGINX_URL/v1/rooms/$ROOM/messages" "$TMP/single.json" "$CONNS" "$NGINX_PID"
N_RPS=$(awk -v n="$R_requests" -v s="$R_seconds" 'BEGIN {printf "%.0f", n / s}')
N_P50=$R_p50_us N_P99=$R_p99_us

if [[ $PERF = 1 ]] && command -v perf >/dev/null; then
  perf record -F 999 -g -p "$PUBLISHER_PID" -o "$TMP/perf.data" -- sleep 8 \
    >/dev/null 2>&1 &
  PERF_PID=$!
fi
before=$(accepted)
run single "$MSGS_URL" "$TMP/single.json" "$CONNS" "$PUBLISHER_PID"
after_single=$(accepted)
S_RPS=$(awk -v n="$R_requests" -v s="$R_seconds" 'BEGIN {printf "%.0f", n / s}')
S_P50=$R_p50_us S_P99=$R_p99_us S_CPU=$R_cpu S_REQ=$R_requests
if [[ -n ${PERF_PID:-} ]]; then
  wait "$PERF_PID" || true
  perf report -i "$TMP/perf.data" --no-children --percent-limit 1.5 --stdio 2>/dev/null |
    grep -E '^ +[0-9.]+%' | head -25 >"$TMP/perf.top" || true
fi

run batch "$MSGS_URL" "$TMP/batch.json" "$BATCH_CONNS" "$PUBLISHER_PID"
after_batch=$(accepted)
B_RPS=$(awk -v n="$R_requests" -v s="$R_seconds" 'BEGIN {printf "%.0f", n / s}')
B_MPS=$((B_RPS * BATCH))
B_P50=$R_p50_us B_P99=$R_p99_us B_CPU=$R_cpu B_REQ=$R_requests

CTYPE=application/x-protobuf run protobuf "$MSGS_URL" "$TMP/batch.pb" "$BATCH_CONNS" "$PUBLISHER_PID"
after_proto=$(accepted)
P_RPS=$(awk -v n="$R_requests" -v s="$R_seconds" 'BEGIN {printf "%.0f", n / s}')
P_MPS=$((P_RPS * BATCH))
P_P50=$R_p50_us P_P99=$R_p99_us P_CPU=$R_cpu P_REQ=$R_requests

# The publisher's own count must agree with wrk's (warm-ups included).
S_ACCEPTED=$((after_single - before))
B_ACCEPTED=$((after_batch - after_single))
P_ACCEPTED=$((after_proto - after_batch))
[[ $P_ACCEPTED -ge $((P_REQ * BATCH)) ]] ||
  die "publisher accepted $P_ACCEPTED < wrk's $((P_REQ * BATCH)) protobuf-batched messages"
[[ $S_ACCEPTED -ge $S_REQ ]] || die "publisher accepted $S_ACCEPTED < wrk's $S_REQ single POSTs"
[[ $B_ACCEPTED -ge $((B_REQ * BATCH)) ]] ||
  die "publisher accepted $B_ACCEPTED < wrk's $((B_REQ * BATCH)) batched messages"

metrics=$(curl -sf "$PUBLISHER_URL/metrics")
LOG_RECORDS=$(awk '$1 == "roomcast_publisher_log_records_total" {print $2}' <<<"$metrics")
LOG_BATCHES=$(awk '$1 == "roomcast_publisher_log_batches_total" {print $2}' <<<"$metrics")
UPLOAD_ERRORS=$(awk '$1 == "roomcast_publisher_upload_errors_total" {print $2}' <<<"$metrics")

RATIO=$(awk -v a="$S_RPS" -v b="$N_RPS" 'BEGIN {printf "%.2f", a / b}')
ms() { awk -v u="$1" 'BEGIN {printf "%.2f", u / 1000}'; }
verdict() { awk -v a="$1" -v b="$2" 'BEGIN {print (a >= b) ? "met" : "**not met**"}'; }

mkdir -p "$RESULTS_DIR"
DATE=$(date +%Y-%m-%d)
OUT=$RESULTS_DIR/ingest-$DATE.md
{
  [[ -s $OUT ]] || printf '# Durable ingest benchmark, %s\n' "$DATE"
  printf '\n## Run at %s (`bench/ingest.sh`, commit %s)\n\n' "$(date +%H:%M:%S)" \
    "$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?')"
  printf 'Machine: %s, %s cores, %s. Loopback; servers on core %s, wrk -t1 on core %s; ' \
    "$(uname -r)" "$(nproc)" "$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')" \
    "$SERVER_CORE" "$CLIENT_CORE"
  printf '%s per case after a 2 s warm-up. The publisher fsyncs its RocksDB WAL before every ack; ' \
    "$DURATION"
  printf 'one 200-byte write + fdatasync on this disk took %s ms just before the run. ' "$FSYNC_MS"
  printf 'Load average at the start: %s (the machine is shared).\n\n' "$LOADAVG"
  printf '| case | connections | requests/s | messages/s | ack p50 ms | ack p99 ms | server CPU s |\n'
  printf '|---|---|---|---|---|---|---|\n'
  printf '| nginx `return 200` (same POST) | %s | %s | — | %s | %s | — |\n' \
    "$CONNS" "$N_RPS" "$(ms "$N_P50")" "$(ms "$N_P99")"
  printf '| publisher, 1 message per POST | %s | %s | %s | %s | %s | %s |\n' \
    "$CONNS" "$S_RPS" "$S_RPS" "$(ms "$S_P50")" "$(ms "$S_P99")" "$S_CPU"
  printf '| publisher, %s messages per POST | %s | %s | %s | %s | %s | %s |\n' \
    "$BATCH" "$BATCH_CONNS" "$B_RPS" "$B_MPS" "$(ms "$B_P50")" "$(ms "$B_P99")" "$B_CPU"
  printf '| publisher, %s messages per POST, protobuf body | %s | %s | %s | %s | %s | %s |\n\n' \
    "$BATCH" "$BATCH_CONNS" "$P_RPS" "$P_MPS" "$(ms "$P_P50")" "$(ms "$P_P99")" "$P_CPU"
  printf -- '- Single-message POSTs: **%s× nginx** (target ≥ 0.5×: %s).\n' "$RATIO" \
    "$(verdict "$RATIO" 0.5)"
  printf -- '- Batched (JSON): **%s messages/s** (target ≥ 100,000: %s); protobuf body: %s messages/s.\n' \
    "$B_MPS" "$(verdict "$B_MPS" 100000)" "$P_MPS"
  printf -- '- Group commit: %s log records in %s synced writes over the whole run; upload errors %s.\n' \
    "$LOG_RECORDS" "$LOG_BATCHES" "$UPLOAD_ERRORS"
  if [[ -s $TMP/publisher.out.err ]]; then
    printf '\nPublisher stderr during the run (distinct lines, digits folded, most frequent first):\n\n```\n'
    sed 's/[0-9]\+/N/g' "$TMP/publisher.out.err" | sort | uniq -c | sort -rn | head -8 | cut -c1-220
    printf '```\n'
  fi
  if [[ -s $TMP/perf.top ]]; then
    printf '\nPublisher profile during the single-message run (perf, self time ≥ 1.5%%):\n\n```\n'
    cat "$TMP/perf.top"
    printf '```\n'
  fi
} >>"$OUT"
echo "ingest.sh: nginx $N_RPS req/s; single $S_RPS msg/s (${RATIO}x nginx, p50 $(ms "$S_P50") ms," \
  "p99 $(ms "$S_P99") ms); batch $B_MPS msg/s (p50 $(ms "$B_P50") ms, p99 $(ms "$B_P99") ms);" \
  "protobuf batch $P_MPS msg/s"
echo "ingest.sh: wrote $OUT"
