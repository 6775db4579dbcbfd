#!/usr/bin/env bash
# bench/idle_rooms.sh: DESIGN §9 "100,000 open idle rooms on one publisher:
# <= 5% of a core, <= 2 KB memory per room".
#
#   bench/idle_rooms.sh [BUILD_DIR]        # default: build
#
# Builds nothing: needs BUILD_DIR/bin/roomcast-{publisher,origin,roomcast}.
# Loopback only. The origin and the publisher (--threads 1 each, the
# publisher's log fsync ON) run on core 0, wrk on core 1. The origin runs
# --no-sync unless ORIGIN_SYNC=1: it is not what is measured, and the
# publisher uploads one object at a time, so 100,000 synced manifest PUTs
# take over two minutes (measured: 140 s) before the idle phase can start.
# Steps:
#   1. both servers idle with no room for BASE_S seconds: baseline CPU, RSS;
#   2. wrk (bench/idle_rooms.lua) opens ROOMS rooms through the HTTP API
#      (POST /v1/rooms/{room}, service token, CONNS connections), and the
#      publisher's own room count must reach ROOMS;
#   3. wait until every room's manifest is uploaded (publisher outbox empty,
#      ROOMS more PUTs; a sample of manifests GET 200 from the origin);
#   4. IDLE_S seconds idle: CPU (utime + stime of /proc/PID/stat) and RSS of
#      both processes, before and after;
# Appends a markdown section to RESULTS_DIR/idle-rooms-YYYY-MM-DD.md and
# prints KEY=VALUE lines on stdout (bench/run reads them); progress goes to
# stderr. Ends only the processes it started, by PID. About 2-3 minutes.
#
# Knobs (environment): ROOMS (100000), CONNS (64), IDLE_S (60), BASE_S (10),
# OPEN_TIMEOUT_S (300), PUBLISH_TIMEOUT_S (300), ORIGIN_SYNC (0),
# RESULTS_DIR (bench/results).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=${1:-build}
[[ $BUILD = /* ]] || BUILD=$ROOT/$BUILD
ROOMS=${ROOMS:-100000}
CONNS=${CONNS:-64}
IDLE_S=${IDLE_S:-60}
BASE_S=${BASE_S:-10}
OPEN_TIMEOUT_S=${OPEN_TIMEOUT_S:-300}
PUBLISH_TIMEOUT_S=${PUBLISH_TIMEOUT_S:-300}
ORIGIN_SYNC=${ORIGIN_SYNC:-0}
RESULTS_DIR=${RESULTS_DIR:-$ROOT/bench/results}
SERVER_CORE=0
CLIENT_CORE=1
# DESIGN §9.
TARGET_CPU_PCT=5
TARGET_BYTES_PER_ROOM=2048

PUBLISHER_BIN=$BUILD/bin/roomcast-publisher
ORIGIN_BIN=$BUILD/bin/roomcast-origin
CLI_BIN=$BUILD/bin/roomcast

die() { echo "idle_rooms.sh: $*" >&2; exit 1; }
log() { echo "idle_rooms.sh: $*" >&2; }
for f in "$PUBLISHER_BIN" "$ORIGIN_BIN" "$CLI_BIN"; do
  [[ -x $f ]] || die "missing $f (ninja -C $BUILD roomcast-publisher roomcast-origin roomcast)"
done
for t in wrk taskset timeout curl; do
  command -v "$t" >/dev/null || die "needs $t on PATH"
done
[[ $(nproc) -ge 2 ]] || die "needs 2 cores (servers on core $SERVER_CORE, wrk on core $CLIENT_CORE)"
ulimit -n "$(ulimit -Hn)"

source "$ROOT/bench/lib.sh"
bench_scratch idle 100

export ROOMCAST_WRITE_SECRET="bench-write-$$-$RANDOM"
export ROOMCAST_JWT_SECRET="bench-jwt-$$-$RANDOM"

rss_kb() { awk '/^VmRSS:/ {print $2}' /proc/"$1"/status; }
hwm_kb() { awk '/^VmHWM:/ {print $2}' /proc/"$1"/status; }
# Empty if /metrics does not answer in time (the publisher's answers it
# only between publication rounds, and a round uploading 100,000 manifests
# takes a while).
metric() {  # URL NAME
  { curl -sf --max-time 10 "$1/metrics" || true; } | awk -v m="$2" '$1 == m {print $2}'
}
now_s() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now_s)" 'BEGIN {printf "%.1f", b - a}'; }

# --- servers -----------------------------------------------------------------
ORIGIN_FLAGS=(--threads 1)
[[ $ORIGIN_SYNC = 1 ]] || ORIGIN_FLAGS+=(--no-sync)
taskset -c "$SERVER_CORE" "$ORIGIN_BIN" --listen 127.0.0.1:0 --data "$TMP/origin" \
  "${ORIGIN_FLAGS[@]}" >"$TMP/origin.out" 2>"$TMP/origin.out.err" &
ORIGIN_PID=$!
PIDS+=("$ORIGIN_PID")
ORIGIN_URL=$(wait_listening "$TMP/origin.out" "$ORIGIN_PID" origin)
[[ -n $ORIGIN_URL ]] || die "origin did not listen"

taskset -c "$SERVER_CORE" "$PUBLISHER_BIN" --listen 127.0.0.1:0 --data "$TMP/publisher" \
  --origin "$ORIGIN_URL" --id idle --threads 1 \
  >"$TMP/publisher.out" 2>"$TMP/publisher.out.err" &
PUBLISHER_PID=$!
PIDS+=("$PUBLISHER_PID")
PUBLISHER_URL=$(wait_listening "$TMP/publisher.out" "$PUBLISHER_PID" publisher)
[[ -n $PUBLISHER_URL ]] || die "publisher did not listen"

TOKEN=$("$CLI_BIN" token --sub bench-backend --role service --room '*')
[[ -n $TOKEN ]] || die "roomcast token printed nothing"

LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)

# --- 1. baseline: no room ---------------------------------------------------
sleep 2
P_RSS0=$(rss_kb "$PUBLISHER_PID") O_RSS0=$(rss_kb "$ORIGIN_PID")
p0=$(cpu_s "$PUBLISHER_PID") o0=$(cpu_s "$ORIGIN_PID")
sleep "$BASE_S"
P_BASE_PCT=$(awk -v a="$p0" -v b="$(cpu_s "$PUBLISHER_PID")" -v s="$BASE_S" 'BEGIN {printf "%.2f", (b - a) * 100 / s}')
O_BASE_PCT=$(awk -v a="$o0" -v b="$(cpu_s "$ORIGIN_PID")" -v s="$BASE_S" 'BEGIN {printf "%.2f", (b - a) * 100 / s}')
log "no rooms: publisher ${P_BASE_PCT}% of a core, RSS $P_RSS0 KiB; origin ${O_BASE_PCT}%, RSS $O_RSS0 KiB"

# --- 2. open ROOMS rooms ------------------------------------------------------
UPLOADS0=$(metric "$PUBLISHER_URL" roomcast_publisher_uploads_total)
P_CPU_OPEN0=$(cpu_s "$PUBLISHER_PID")
t_open=$(now_s)
ROOMS=$ROOMS CONNS=$CONNS PREFIX=idle TOKEN=$TOKEN BODY='{"bucket_ms":1000}' \
  taskset -c "$CLIENT_CORE" timeout $((OPEN_TIMEOUT_S + 30)) \
  wrk -t1 -c"$CONNS" -d"${OPEN_TIMEOUT_S}s" --timeout 10s -s "$ROOT/bench/idle_rooms.lua" \
  "$PUBLISHER_URL/" >"$TMP/open.wrk" 2>&1 || die "wrk failed: $(cat "$TMP/open.wrk")"
grep -q '^RESULT ' "$TMP/open.wrk" || die "wrk printed no result: $(cat "$TMP/open.wrk")"
for kv in $(grep '^RESULT ' "$TMP/open.wrk" | cut -d' ' -f2-); do
  printf -v "W_${kv%%=*}" '%s' "${kv#*=}"
done
[[ $W_bad -eq 0 && $W_errors -eq 0 ]] ||
  die "opening: $W_bad non-2xx answers, $W_errors socket errors: $(cat "$TMP/open.wrk")"
ROOMS_KNOWN=0
deadline=$(($(date +%s) + PUBLISH_TIMEOUT_S))
while [[ $(date +%s) -lt $deadline ]]; do
  ROOMS_KNOWN=$(metric "$PUBLISHER_URL" roomcast_publisher_rooms)
  [[ ${ROOMS_KNOWN:-0} -ge $ROOMS ]] && break
  sleep 0.2
done
[[ ${ROOMS_KNOWN:-0} -eq $ROOMS ]] || die "the publisher knows $ROOMS_KNOWN rooms, not $ROOMS"
OPEN_S=$(since "$t_open")
OPEN_RATE=$(awk -v n="$ROOMS" -v s="$OPEN_S" 'BEGIN {printf "%.0f", n / s}')
log "opened $ROOMS rooms in $OPEN_S s ($OPEN_RATE/s; open p50 $((W_p50_us / 1000)) ms, p99 $((W_p99_us / 1000)) ms)"

# --- 3. wait until every manifest is on the origin ---------------------------
deadline=$(($(date +%s) + PUBLISH_TIMEOUT_S))
while :; do
  outbox=$(metric "$PUBLISHER_URL" roomcast_publisher_outbox_objects)
  uploads=$(metric "$PUBLISHER_URL" roomcast_publisher_uploads_total)
  [[ ${outbox:-1} -eq 0 && $((${uploads:-0} - UPLOADS0)) -ge $ROOMS ]] && break
  [[ $(date +%s) -lt $deadline ]] ||
    die "not published after ${PUBLISH_TIMEOUT_S}s: outbox ${outbox:-?}, ${uploads:-?} PUTs"
  sleep 0.5
done
PUBLISH_S=$(since "$t_open")
P_CPU_OPEN=$(awk -v a="$P_CPU_OPEN0" -v b="$(cpu_s "$PUBLISHER_PID")" 'BEGIN {printf "%.2f", b - a}')
UPLOAD_ERRORS=$(metric "$PUBLISHER_URL" roomcast_publisher_upload_errors_total)
# A sample of manifests, straight from the origin.
for i in 1 $((ROOMS / 3)) $((ROOMS / 2)) $((ROOMS - 1)) "$ROOMS" $(seq 7 9973 "$ROOMS" | head -10); do
  code=$(curl -s -o /dev/null -w '%{http_code}' "$ORIGIN_URL/v1/rooms/idle-$i/manifest.pb")
  [[ $code == 200 ]] || die "origin answers $code for idle-$i's manifest"
done
ORIGIN_OBJECTS=$(metric "$ORIGIN_URL" roomcast_origin_objects)
log "every manifest uploaded ${PUBLISH_S}s after the first POST (publisher CPU ${P_CPU_OPEN}s; upload errors ${UPLOAD_ERRORS:-?})"

# --- 4. idle -------------------------------------------------------------------
# Two publication rounds drop the emptied outboxes; let a few seconds pass.
sleep 5
P_RSS1=$(rss_kb "$PUBLISHER_PID") O_RSS1=$(rss_kb "$ORIGIN_PID")
p1=$(cpu_s "$PUBLISHER_PID") o1=$(cpu_s "$ORIGIN_PID")
WM_PUTS1=$(metric "$PUBLISHER_URL" roomcast_publisher_watermark_puts_total)
UPLOADS1=$(metric "$PUBLISHER_URL" roomcast_publisher_uploads_total)
log "idle for ${IDLE_S}s"
sleep "$IDLE_S"
p2=$(cpu_s "$PUBLISHER_PID") o2=$(cpu_s "$ORIGIN_PID")
P_RSS2=$(rss_kb "$PUBLISHER_PID") O_RSS2=$(rss_kb "$ORIGIN_PID")
P_HWM=$(hwm_kb "$PUBLISHER_PID") O_HWM=$(hwm_kb "$ORIGIN_PID")
WM_PUTS2=$(metric "$PUBLISHER_URL" roomcast_publisher_watermark_puts_total)
UPLOADS2=$(metric "$PUBLISHER_URL" roomcast_publisher_uploads_total)
P_IDLE_PCT=$(awk -v a="$p1" -v b="$p2" -v s="$IDLE_S" 'BEGIN {printf "%.2f", (b - a) * 100 / s}')
O_IDLE_PCT=$(awk -v a="$o1" -v b="$o2" -v s="$IDLE_S" 'BEGIN {printf "%.2f", (b - a) * 100 / s}')
per_room() { awk -v a="$1" -v b="$2" -v n="$ROOMS" 'BEGIN {printf "%.0f", (b - a) * 1024 / n}'; }
P_BYTES=$(per_room "$P_RSS0" "$P_RSS2")
O_BYTES=$(per_room "$O_RSS0" "$O_RSS2")
log "idle: publisher ${P_IDLE_PCT}% of a core, $P_BYTES B/room; origin ${O_IDLE_PCT}%, $O_BYTES B/room"

kill -0 "$PUBLISHER_PID" 2>/dev/null || die "the publisher died"
LOAD_AFTER=$(cut -d' ' -f1-3 /proc/loadavg)

CPU_VERDICT=$(awk -v v="$P_IDLE_PCT" -v t="$TARGET_CPU_PCT" 'BEGIN {print (v <= t) ? "met" : "not met"}')
MEM_VERDICT=$(awk -v v="$P_BYTES" -v t="$TARGET_BYTES_PER_ROOM" 'BEGIN {print (v <= t) ? "met" : "not met"}')

# --- report ------------------------------------------------------------------
mib() { awk -v k="$1" 'BEGIN {printf "%.1f", k / 1024}'; }
mkdir -p "$RESULTS_DIR"
DATE=$(date +%Y-%m-%d)
OUT=$RESULTS_DIR/idle-rooms-$DATE.md
{
  [[ -s $OUT ]] || printf '# Idle open rooms, %s\n\nFrom `bench/idle_rooms.sh` (DESIGN §9: 100,000 open idle rooms on one publisher, ≤ 5%% of a core, ≤ 2 KB per room). Each run appends a section.\n' "$DATE"
  printf '\n## Run at %s (commit %s)\n\n' "$(date '+%H:%M:%S %Z')" \
    "$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?')"
  printf 'Machine: %s cores, %s. Publisher (`--threads 1`, log fsync on) and origin (`%s`) on core %s, wrk on core %s. ' \
    "$(nproc)" "$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')" "${ORIGIN_FLAGS[*]}" "$SERVER_CORE" "$CLIENT_CORE"
  printf '%s rooms opened over %s connections (`{"bucket_ms":1000}`, defaults otherwise), measured idle for %s s. Load average before %s, after %s.\n\n' \
    "$ROOMS" "$CONNS" "$IDLE_S" "$LOAD_BEFORE" "$LOAD_AFTER"
  printf '| | publisher | origin |\n|---|---:|---:|\n'
  printf '| CPU, no rooms (%s s) | %s %% of a core | %s %% |\n' "$BASE_S" "$P_BASE_PCT" "$O_BASE_PCT"
  printf '| **CPU, %s idle rooms (%s s)** | **%s %% of a core** | %s %% |\n' "$ROOMS" "$IDLE_S" "$P_IDLE_PCT" "$O_IDLE_PCT"
  printf '| RSS, no rooms | %s MiB | %s MiB |\n' "$(mib "$P_RSS0")" "$(mib "$O_RSS0")"
  printf '| RSS, rooms published | %s MiB | %s MiB |\n' "$(mib "$P_RSS1")" "$(mib "$O_RSS1")"
  printf '| RSS, after %s s idle | %s MiB | %s MiB |\n' "$IDLE_S" "$(mib "$P_RSS2")" "$(mib "$O_RSS2")"
  printf '| peak RSS (VmHWM) | %s MiB | %s MiB |\n' "$(mib "$P_HWM")" "$(mib "$O_HWM")"
  printf '| **RSS growth per room** | **%s B** | %s B |\n' "$P_BYTES" "$O_BYTES"
  printf '\n- Opening: %s rooms in %s s (%s rooms/s; each a synced log write; open p50 %s ms, p99 %s ms); every manifest on the origin %s s after the first POST; publisher CPU for all of it %s s; upload errors %s; origin object count %s.\n' \
    "$ROOMS" "$OPEN_S" "$OPEN_RATE" "$((W_p50_us / 1000))" "$((W_p99_us / 1000))" "$PUBLISH_S" "$P_CPU_OPEN" \
    "${UPLOAD_ERRORS:-?}" "${ORIGIN_OBJECTS:-?}"
  printf -- '- While idle: %s watermark PUTs and %s object PUTs in %s s (an idle room costs no writes; the publisher heartbeats its watermark once a second).\n' \
    "$((${WM_PUTS2:-0} - ${WM_PUTS1:-0}))" "$((${UPLOADS2:-0} - ${UPLOADS1:-0}))" "$IDLE_S"
  printf -- '- CPU: **%s%% of a core** (target ≤ %s%%: %s). Memory: **%s B per room** of publisher RSS (target ≤ %s B: %s).\n' \
    "$P_IDLE_PCT" "$TARGET_CPU_PCT" "$CPU_VERDICT" "$P_BYTES" "$TARGET_BYTES_PER_ROOM" "$MEM_VERDICT"
} >>"$OUT"
awk '/^## Run at/ {buf = ""} {buf = buf $0 "\n"} END {printf "%s", buf}' "$OUT" >&2
log "appended to $OUT"
cat <<EOF
ROOMS=$ROOMS
PUBLISHER_IDLE_CPU_PCT=$P_IDLE_PCT
PUBLISHER_BASE_CPU_PCT=$P_BASE_PCT
PUBLISHER_BYTES_PER_ROOM=$P_BYTES
ORIGIN_IDLE_CPU_PCT=$O_IDLE_PCT
ORIGIN_BYTES_PER_ROOM=$O_BYTES
OPEN_S=$OPEN_S
PUBLISH_S=$PUBLISH_S
CPU_VERDICT=$CPU_VERDICT
MEM_VERDICT=$MEM_VERDICT
REPORT=$OUT
EOF
