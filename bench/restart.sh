#!/usr/bin/env bash
# bench/restart.sh: DESIGN §9 "Restart: a publisher whose log has seen 10
# million published messages accepts writes again within 2 s of start; its
# log's size on disk stays bounded by what is unpublished plus retention of
# state" (§14, issue 11 finding 14).
#
#   bench/restart.sh [--messages N]... [BUILD_DIR]   # default: 1000000 10000000
#
# Builds nothing: needs BUILD_DIR/bin/roomcast-{publisher,origin}. Loopback
# only. For each N, in a fresh data directory: a real publisher (fsync on)
# uploading to a real origin; ROOMS rooms filled with N comments in batched
# POSTs (BATCH per POST, CONNS connections, as an anchor: not rate-limited);
# then it waits until everything is published and the log trimmed (the
# publisher's trim point past every record it wrote, and a compaction of the
# trimmed range since), and measures:
#   - the data directory's size (du) once trimmed and compacted;
#   - SIGTERM, start again: milliseconds from the exec to the first 2xx of
#     a POST (the publisher prints "listening on" only once recovered);
#   - kill -9, start again: the same (RocksDB replays its WAL too);
#   - the data directory's size after both restarts.
# Prints KEY=VALUE lines and appends a markdown section to
# bench/results/restart-YYYY-MM-DD.md. Ends only the processes it started,
# by PID. Needs quiet cores: 10 M messages take a few minutes to fill.
#
# Knobs (environment): ROOMS (10), BATCH (1000), CONNS (4), RESULTS_DIR
# (bench/results), TRIM_TIMEOUT_S (300).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
MESSAGES=()
BUILD=build
while [[ $# -gt 0 ]]; do
  case $1 in
    --messages) MESSAGES+=("$2"); shift 2 ;;
    --messages=*) MESSAGES+=("${1#*=}"); shift ;;
    -h|--help) sed -n '2,27p' "$0"; exit 0 ;;
    *) BUILD=$1; shift ;;
  esac
done
[[ ${#MESSAGES[@]} -gt 0 ]] || MESSAGES=(1000000 10000000)
[[ $BUILD = /* ]] || BUILD=$ROOT/$BUILD
ROOMS=${ROOMS:-10}
BATCH=${BATCH:-1000}
CONNS=${CONNS:-4}
RESULTS_DIR=${RESULTS_DIR:-$ROOT/bench/results}
TRIM_TIMEOUT_S=${TRIM_TIMEOUT_S:-300}

PUBLISHER_BIN=$BUILD/bin/roomcast-publisher
ORIGIN_BIN=$BUILD/bin/roomcast-origin

die() { echo "restart.sh: $*" >&2; exit 1; }
for f in "$PUBLISHER_BIN" "$ORIGIN_BIN"; do
  [[ -x $f ]] || die "missing $f (ninja -C $BUILD roomcast-publisher roomcast-origin)"
done
for t in python3 curl openssl du; do
  command -v "$t" >/dev/null || die "needs $t on PATH"
done
for n in "${MESSAGES[@]}"; do
  [[ $n =~ ^[0-9]+$ && $n -ge $BATCH ]] || die "--messages takes a count >= BATCH ($BATCH)"
done

source "$ROOT/bench/lib.sh"
bench_scratch restart

export ROOMCAST_WRITE_SECRET="bench-write-$$-$RANDOM"
export ROOMCAST_JWT_SECRET="bench-jwt-$$-$RANDOM"

SERVICE_TOKEN=$(jwt backend service '*')

now_ms() { date +%s%3N; }
metric() {
  curl -sf "$PUBLISHER_URL/metrics" | awk -v n="$1" '$1 == n {print $2}'
}

# Pinned when taskset exists (it execs, so $! stays the server's PID).
PIN0=() PIN1=()
if command -v taskset >/dev/null; then PIN0=(taskset -c 0) PIN1=(taskset -c 1); fi

ORIGIN_DIR=$TMP/origin
"${PIN1[@]}" "$ORIGIN_BIN" --listen 127.0.0.1:0 --data "$ORIGIN_DIR" \
  >"$TMP/origin.out" 2>"$TMP/origin.out.err" &
ORIGIN_PID=$!
PIDS+=("$ORIGIN_PID")
ORIGIN_URL=$(wait_listening "$TMP/origin.out" "$ORIGIN_PID" origin)
[[ -n $ORIGIN_URL ]] || die "origin did not listen"

# start_publisher DATA_DIR: sets PUBLISHER_PID, PUBLISHER_URL, START_MS.
start_publisher() {
  : >"$TMP/publisher.out"
  START_MS=$(now_ms)
  "${PIN0[@]}" "$PUBLISHER_BIN" --listen 127.0.0.1:0 --data "$1" --origin "$ORIGIN_URL" \
    --id bench >"$TMP/publisher.out" 2>>"$TMP/publisher.out.err" &
  PUBLISHER_PID=$!
  PIDS+=("$PUBLISHER_PID")
  PUBLISHER_URL=$(wait_listening "$TMP/publisher.out" "$PUBLISHER_PID" publisher)
  [[ -n $PUBLISHER_URL ]] || die "publisher did not listen"
}

# ms from START_MS to the first 2xx of a POST to room r0.
first_2xx_ms() {
  local token code
  token=$(jwt host anchor r0)
  for _ in $(seq 3000); do
    code=$(curl -s -o /dev/null -w '%{http_code}' -X POST -H "Authorization: Bearer $token" \
      -H 'Content-Type: application/json' -d '{"type":"comment","text":"after restart"}' \
      "$PUBLISHER_URL/v1/rooms/r0/messages" || true)
    [[ $code == 2* ]] && { echo $(($(now_ms) - START_MS)); return; }
    sleep 0.005
  done
  die "no 2xx within 15 s of the restart"
}

# Posts N comments over ROOMS rooms: BATCH per POST, CONNS keep-alive
# connections. Prints the messages acknowledged.
fill() {
  python3 - "$PUBLISHER_URL" "$1" "$ROOMS" "$BATCH" "$CONNS" "$ROOMCAST_JWT_SECRET" <<'PY'
import base64, hashlib, hmac, http.client, json, sys, threading, time, urllib.parse
url, total, rooms, batch, conns, secret = sys.argv[1], *map(int, sys.argv[2:6]), sys.argv[6]
def b64(b): return base64.urlsafe_b64encode(b).rstrip(b"=")
def jwt(room):
    h = b64(b'{"alg":"HS256","typ":"JWT"}')
    p = b64(json.dumps({"sub": "host", "role": "anchor", "room": room,
                        "exp": int(time.time()) + 36000}).encode())
    s = b64(hmac.new(secret.encode(), h + b"." + p, hashlib.sha256).digest())
    return (h + b"." + p + b"." + s).decode()
tokens = [jwt("r%d" % r) for r in range(rooms)]
u = urllib.parse.urlparse(url)
requests = total // batch
acked = [0] * conns
def run(t):
    c = http.client.HTTPConnection(u.hostname, u.port, timeout=60)
    for i in range(t, requests, conns):
        room = i % rooms
        body = json.dumps({"messages": [
            {"type": "comment", "text": "message %d of batch %d" % (j, i)}
            for j in range(batch)]})
        while True:
            c.request("POST", "/v1/rooms/r%d/messages" % room, body,
                      {"Authorization": "Bearer " + tokens[room],
                       "Content-Type": "application/json"})
            r = c.getresponse(); r.read()
            if r.status == 200: break
            if r.status not in (429, 503): sys.exit("status %d" % r.status)
            time.sleep(0.05)
        acked[t] += batch
threads = [threading.Thread(target=run, args=(t,)) for t in range(conns)]
for th in threads: th.start()
for th in threads: th.join()
print(sum(acked))
PY
}

# Waits until every record written is trimmed and nothing waits for the
# origin, then for the compaction of the trimmed range (due 2 s after it).
wait_trimmed() {
  local deadline=$(($(date +%s) + TRIM_TIMEOUT_S)) records trim outbox
  while [[ $(date +%s) -lt $deadline ]]; do
    records=$(metric roomcast_publisher_log_records_total)
    trim=$(metric roomcast_publisher_log_trim_lsn)
    outbox=$(metric roomcast_publisher_outbox_objects)
    if [[ ${trim%.*} -gt ${records%.*} && ${outbox%.*} -eq 0 ]]; then
      sleep 3
      return
    fi
    sleep 0.5
  done
  die "not trimmed within ${TRIM_TIMEOUT_S}s (records $records, trim point $trim, outbox $outbox)"
}

# KiB allocated (RocksDB preallocates its WAL: a write buffer's worth) or,
# with --apparent-size, as the files' sizes say.
dir_kib() { du -sk "${@:2}" "$1" | cut -f1; }

declare -A R
for n in "${MESSAGES[@]}"; do
  data=$TMP/publisher-$n
  start_publisher "$data"
  for r in $(seq 0 $((ROOMS - 1))); do
    curl -sf -o /dev/null -X POST -H "Authorization: Bearer $SERVICE_TOKEN" \
      -H 'Content-Type: application/json' -d '{"bucket_ms": 1000}' \
      "$PUBLISHER_URL/v1/rooms/r$r" || die "opening room r$r failed"
  done
  t0=$(now_ms)
  acked=$(fill "$n")
  fill_s=$(awk -v ms=$(($(now_ms) - t0)) 'BEGIN {printf "%.1f", ms / 1000}')
  [[ $acked -eq $((n / BATCH * BATCH)) ]] || die "only $acked of $n messages acked"
  wait_trimmed
  R[$n,kib_trimmed]=$(dir_kib "$data")
  R[$n,kib_apparent]=$(dir_kib "$data" --apparent-size)
  R[$n,fill_rate]=$(awk -v n="$acked" -v s="$fill_s" 'BEGIN {printf "%.0f", n / s}')

  kill -TERM "$PUBLISHER_PID"; wait "$PUBLISHER_PID" || true
  start_publisher "$data"
  R[$n,term_ms]=$(first_2xx_ms)
  kill -KILL "$PUBLISHER_PID"; wait "$PUBLISHER_PID" 2>/dev/null || true
  start_publisher "$data"
  R[$n,kill_ms]=$(first_2xx_ms)
  R[$n,quarantined]=$(metric roomcast_publisher_log_quarantined_total)
  kill -TERM "$PUBLISHER_PID"; wait "$PUBLISHER_PID" || true
  R[$n,kib_after]=$(dir_kib "$data")
  R[$n,acked]=$acked
  for k in acked fill_rate kib_trimmed kib_apparent term_ms kill_ms kib_after quarantined; do
    echo "N${n}_${k^^}=${R[$n,$k]}"
  done
done

verdict() { [[ $1 -le 2000 ]] && echo met || echo "**not met**"; }
mkdir -p "$RESULTS_DIR"
DATE=$(date +%Y-%m-%d)
OUT=$RESULTS_DIR/restart-$DATE.md
{
  [[ -s $OUT ]] || printf '# Restart benchmark, %s\n' "$DATE"
  printf '\n## Run at %s (`bench/restart.sh`, commit %s)\n\n' "$(date +%H:%M:%S)" \
    "$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?')"
  printf 'Machine: %s, %s cores. Loopback; publisher (fsync on) on core 0, origin on core 1. ' \
    "$(uname -r)" "$(nproc)"
  printf '%s rooms, %s comments per POST over %s connections. Load average at the end: %s.\n\n' \
    "$ROOMS" "$BATCH" "$CONNS" "$(cut -d' ' -f1-3 /proc/loadavg)"
  printf '| messages | fill msg/s | data dir trimmed: allocated / apparent | SIGTERM → first 2xx | kill -9 → first 2xx | data dir after restarts | target ≤ 2 s |\n'
  printf '|---|---|---|---|---|---|---|\n'
  for n in "${MESSAGES[@]}"; do
    worst=$(( R[$n,term_ms] > R[$n,kill_ms] ? R[$n,term_ms] : R[$n,kill_ms] ))
    printf '| %s | %s | %s / %s KiB | %s ms | %s ms | %s KiB | %s |\n' "${R[$n,acked]}" \
      "${R[$n,fill_rate]}" "${R[$n,kib_trimmed]}" "${R[$n,kib_apparent]}" \
      "${R[$n,term_ms]}" "${R[$n,kill_ms]}" "${R[$n,kib_after]}" "$(verdict "$worst")"
  done
  printf '\nAllocated includes the WAL that RocksDB preallocates (about one write '
  printf 'buffer, 16 MiB); once trimmed, the log holds no published record.\n'
} >>"$OUT"
echo "restart.sh: wrote $OUT"
