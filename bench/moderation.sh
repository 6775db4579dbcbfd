#!/usr/bin/env bash
# bench/moderation.sh: what DESIGN §11's moderation objects cost, on the wire
# and in the publisher's memory (issue 12).
#
#   bench/moderation.sh [BUILD_DIR]        # default: build
#
# Builds nothing: needs BUILD_DIR/bin/roomcast-{publisher,origin} and
# BUILD_DIR/bin/roomcast (inspect). Loopback only; every number is read
# from real processes (curl against the origin, /proc/PID/status).
#   1. wire: four rooms get the same COMMENTS comments in one bucket; one
#      also a `retract` record (of a comment published a bucket earlier),
#      one a `retract` and a `ban` record, one a comment retracted inside its
#      review delay (listed in the segment's `retracted`). Bytes of each
#      segment as the origin serves it: .pb and .json, identity and gzip.
#   2. components: `redactions` with 1, 100 and 4096 seqs (retracted by a
#      moderator and by bans with retract_recent_s) and `settings`, the same
#      four renditions each.
#   3. memory: ROOMS rooms on a fresh publisher, each 5 x 1024 comments from
#      five users (the recent index full); "moderated" also bans four of
#      them with retract_recent_s (4096 redactions per room, the bound) plus
#      BANS more users; "plain" the same comments with no moderation;
#      "opened" the rooms only. VmRSS once everything is published
#      (--rollup-ms 2000, so no rollup window still holds the comments) and
#      settled, and again after a restart (the rooms rebuilt from the log
#      and their checkpoints); per room = difference / ROOMS.
# Writes RESULTS_DIR/moderation.txt (replaced each run) and prints KEY=VALUE
# lines on stdout; progress on stderr. Ends only the processes it started, by
# PID. Both servers run --no-sync (what is measured is bytes, not fsyncs).
# About 8 minutes at ROOMS=128.
#
# Knobs (environment): ROOMS (128), BANS (32), COMMENTS (10), SETTLE_S (5),
# RESULTS_DIR (bench/results).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=${1:-build}
[[ $BUILD = /* ]] || BUILD=$ROOT/$BUILD
ROOMS=${ROOMS:-128}
BANS=${BANS:-32}
COMMENTS=${COMMENTS:-10}
SETTLE_S=${SETTLE_S:-5}
RESTARTS=${RESTARTS:-2}
RESULTS_DIR=${RESULTS_DIR:-$ROOT/bench/results}
COMMAND="bench/moderation.sh $*"
PUBLISHER_BIN=$BUILD/bin/roomcast-publisher
ORIGIN_BIN=$BUILD/bin/roomcast-origin
CLI_BIN=$BUILD/bin/roomcast
WIRE_D=2000  # a wide bucket: one round of calls lands in one bucket
PUB_FLAGS=()

die() { echo "moderation.sh: $*" >&2; exit 1; }
log() { echo "moderation.sh: $*" >&2; }
for f in "$PUBLISHER_BIN" "$ORIGIN_BIN" "$CLI_BIN"; do
  [[ -x $f ]] || die "missing $f (ninja -C $BUILD roomcast-publisher roomcast-origin roomcast)"
done
for t in curl jq openssl; do command -v "$t" >/dev/null || die "needs $t on PATH"; done

source "$ROOT/bench/lib.sh"
bench_scratch moderation
export ROOMCAST_WRITE_SECRET="bench-write-$$-$RANDOM"
export ROOMCAST_JWT_SECRET="bench-jwt-$$-$RANDOM"
SERVICE=$(jwt backend service '*')
MOD=$(jwt mod moderator '*')

now_ms() { echo $(($(date +%s%N) / 1000000)); }
rss_kb() { awk '/^VmRSS:/ {print $2}' /proc/"$1"/status; }

# --- servers: one origin + publisher pair at a time ---------------------------
# start_pair NAME: sets ORIGIN_URL, PUBLISHER_URL, ORIGIN_PID, PUBLISHER_PID.
start_pair() {
  "$ORIGIN_BIN" --listen 127.0.0.1:0 --data "$TMP/$1-origin" --no-sync \
    >"$TMP/$1-origin.out" 2>"$TMP/$1-origin.out.err" &
  ORIGIN_PID=$!
  PIDS+=("$ORIGIN_PID")
  ORIGIN_URL=$(wait_listening "$TMP/$1-origin.out" "$ORIGIN_PID" origin)
  PAIR=$1
  start_publisher
}
# (Re)starts the pair's publisher on its data dir.
start_publisher() {
  "$PUBLISHER_BIN" --listen 127.0.0.1:0 --data "$TMP/$PAIR-publisher" --origin "$ORIGIN_URL" \
    --id "bench-$PAIR" --no-sync --user-rate 0 --room-rate 0 "${PUB_FLAGS[@]}" \
    >"$TMP/$PAIR-publisher.out" 2>"$TMP/$PAIR-publisher.out.err" &
  PUBLISHER_PID=$!
  PIDS+=("$PUBLISHER_PID")
  PUBLISHER_URL=$(wait_listening "$TMP/$PAIR-publisher.out" "$PUBLISHER_PID" publisher)
}
forget_pids() {
  local keep=() p q drop
  for p in "${PIDS[@]}"; do
    drop=0
    for q in "$@"; do [[ $p == "$q" ]] && drop=1; done
    (( drop )) || keep+=("$p")
  done
  PIDS=("${keep[@]}")
}
# SIGTERM, then the same publisher again: what it holds after a restart is
# its rooms' state, without what ingest left behind (buffers, freed heap).
restart_publisher() {
  kill -TERM "$PUBLISHER_PID"
  wait "$PUBLISHER_PID" 2>/dev/null || true
  forget_pids "$PUBLISHER_PID"
  : >"$TMP/$PAIR-publisher.out"
  start_publisher
}
# Ends the pair (TERM, by PID) and forgets the PIDs, so cleanup never
# signals a reused one.
stop_pair() {
  kill -TERM "$PUBLISHER_PID" "$ORIGIN_PID" 2>/dev/null || true
  wait "$PUBLISHER_PID" "$ORIGIN_PID" 2>/dev/null || true
  forget_pids "$PUBLISHER_PID" "$ORIGIN_PID"
}

# api METHOD PATH TOKEN [BODY]: the publisher's answer body; dies unless 200.
api() {
  local code
  code=$(curl -sS -o "$TMP/api.body" -w '%{http_code}' -X "$1" \
    -H "Authorization: Bearer $3" -H 'Content-Type: application/json' \
    ${4:+--data-binary "$4"} "$PUBLISHER_URL$2")
  [[ $code == 200 ]] || die "$1 $2: $code $(cat "$TMP/api.body")"
  cat "$TMP/api.body"
}
# A batch of N comments from one user (the sender comes from the token).
batch() {  # N TAG
  awk -v n="$1" -v t="$2" 'BEGIN {
    printf "{\"messages\":[";
    for (i = 1; i <= n; i++)
      printf "%s{\"type\":\"comment\",\"text\":\"%s %d: what a great stream tonight\"}", (i > 1 ? "," : ""), t, i;
    printf "]}" }'
}
open_room() { api POST "/v1/rooms/$1" "$SERVICE" "$2" >/dev/null; }
# post_batch ROOM USER N TAG: N comments from USER (an audience token for ROOM).
post_batch() { api POST "/v1/rooms/$1/messages" "$(jwt "$2" audience "$1")" "$(batch "$3" "$4")"; }
watermark_ms() {
  curl -sf "$ORIGIN_URL/v1/publishers/bench-$PAIR/watermark" | jq -r '.watermark_ms // 0'
}
wait_watermark() {  # MS
  local deadline=$(($(date +%s) + 60))
  until [[ $(watermark_ms) -ge $1 ]]; do
    [[ $(date +%s) -lt $deadline ]] || die "the watermark stays at $(watermark_ms), not $1"
    sleep 0.1
  done
}
metric() { curl -sf "$1/metrics" | awk -v m="$2" '$1 == m {print $2}'; }
# Waits until the publisher has uploaded everything up to now.
wait_published() {
  wait_watermark $(($(now_ms) + 1000))
  local deadline=$(($(date +%s) + 120))
  until [[ $(metric "$PUBLISHER_URL" roomcast_publisher_outbox_objects) == 0 ]]; do
    [[ $(date +%s) -lt $deadline ]] || die "the outbox does not empty"
    sleep 0.2
  done
}

# sizes PATH: "pb_identity pb_gzip json_identity json_gzip" bytes as served by
# the origin (a gzip answer's compressed bytes; an object whose gzip would
# not be smaller is served plain to gzip clients too).
sizes() {
  local out="" ext enc
  for ext in pb json; do
    for enc in identity gzip; do
      out+=" $(curl -sf -o /dev/null -w '%{size_download}' -H "Accept-Encoding: $enc" \
        "$ORIGIN_URL${1%.pb}.$ext")"
    done
  done
  echo "${out# }"
}
# The origin's manifest of ROOM as JSON.
manifest() { "$CLI_BIN" inspect "$ORIGIN_URL/v1/rooms/$1/manifest.pb"; }
component_version() {  # ROOM NAME
  manifest "$1" | jq -r --arg n "$2" '[.components[]? | select(.name == $n) | .version][0] // 0'
}

# --- 1 + 2: wire bytes ---------------------------------------------------------
log "wire: segments with and without moderation records"
start_pair wire
CAP='"action_cap_per_s": 1000000'
for r in plain retract both; do open_room "wire-$r" "{\"bucket_ms\": $WIRE_D, $CAP}"; done
open_room wire-review "{\"bucket_ms\": $WIRE_D, \"review_delay_ms\": 3000, $CAP}"
declare -A EARLIER
for r in plain retract both review; do
  EARLIER[$r]=$(post_batch "wire-$r" alice 1 earlier | jq -r '.results[0].seq')
done
# Start the measured bucket early enough that every call below lands in it,
# after the earlier comment's bucket is published.
wait_watermark $(( ($(now_ms) / WIRE_D + 1) * WIRE_D ))
while (( $(now_ms) % WIRE_D > WIRE_D / 2 )); do sleep 0.05; done
KB=$(($(now_ms) / WIRE_D))
for r in plain retract both review; do
  b=$(post_batch "wire-$r" alice "$COMMENTS" comment | jq -r '.results[-1].bucket')
  [[ $b == "$KB" ]] || die "wire-$r's comments landed in bucket $b, not $KB"
done
api DELETE "/v1/rooms/wire-retract/messages/${EARLIER[retract]}" "$MOD" '{"reason": "spoiler"}' >/dev/null
api DELETE "/v1/rooms/wire-both/messages/${EARLIER[both]}" "$MOD" '{"reason": "spoiler"}' >/dev/null
api POST /v1/rooms/wire-both/bans "$MOD" '{"user": "spammer", "duration_s": 600, "reason": "spam"}' >/dev/null
BAD=$(post_batch wire-review alice 1 bad | jq -r '.results[0].seq')
api DELETE "/v1/rooms/wire-review/messages/$BAD" "$MOD" >/dev/null
(( $(now_ms) / WIRE_D == KB )) || die "the calls ran past bucket $KB"

# The components: redactions at 1, 100 and 4096 seqs, settings.
for r in red-1 red-100 red-4096 settings; do open_room "$r" "{$CAP}"; done
one=$(post_batch red-1 alice 1 one | jq -r '.results[0].seq')
api DELETE "/v1/rooms/red-1/messages/$one" "$MOD" >/dev/null
# ban_round ROOM USER N: N comments from USER, then a ban that retracts
# them (retract_recent_s reaches the room's last 1024 actions); prints how
# many it retracted.
ban_round() {
  local left=$3 n
  while (( left > 0 )); do
    n=$((left > 512 ? 512 : left))
    post_batch "$1" "$2" "$n" "$2" >/dev/null
    left=$((left - n))
  done
  api POST "/v1/rooms/$1/bans" "$MOD" "{\"user\": \"$2\", \"retract_recent_s\": 3600}" |
    jq '.retracted | length'
}
got=$(ban_round red-100 u1 100)
[[ $got == 100 ]] || die "red-100: the ban retracted $got"
total=0
for u in u1 u2 u3 u4; do total=$((total + $(ban_round red-4096 "$u" 1024))); done
[[ $total == 4096 ]] || die "red-4096: the bans retracted $total"
api PATCH /v1/rooms/settings "$MOD" '{"slow_mode_s": 30, "review_delay_ms": 2000}' >/dev/null

wait_watermark $(( (KB + 1) * WIRE_D + 3000 + WIRE_D ))
wait_published
declare -A SEG
for r in plain retract both review; do
  path=/v1/rooms/wire-$r/actions/$WIRE_D/$KB.pb
  json=$("$CLI_BIN" inspect "$ORIGIN_URL$path")
  kinds=$(jq -r '[(.messages[]? | if .retract then "retract" elif .ban then "ban" else "comment" end),
                  (.retracted[]? | "retracted")] | group_by(.) | map("\(.[0])=\(length)") | join(" ")' <<<"$json")
  SEG[$r]="$(sizes "$path") | $kinds"
  log "wire-$r bucket $KB: ${SEG[$r]}"
done
[[ ${SEG[retract]} == *"retract=1"* && ${SEG[both]} == *"ban=1"* && ${SEG[both]} == *"retract=1"* &&
   ${SEG[review]} == *"retracted=1"* && ${SEG[plain]} != *retract* ]] ||
  die "the segments do not hold what was asked: ${SEG[*]}"
declare -A COMP
for r in red-1 red-100 red-4096; do
  v=$(component_version "$r" redactions)
  [[ $v -gt 0 ]] || die "$r lists no redactions"
  n=$(curl -sf "$ORIGIN_URL/v1/rooms/$r/state/redactions/$v.json" | jq '.value.seqs | length')
  [[ $n == "${r#red-}" ]] || die "$r's redactions hold $n seqs"
  COMP[$r]=$(sizes "/v1/rooms/$r/state/redactions/$v.pb")
done
v=$(component_version settings settings)
[[ $v -gt 0 ]] || die "no settings component"
COMP[settings]=$(sizes "/v1/rooms/settings/state/settings/$v.pb")
SETTINGS_JSON=$(curl -sf "$ORIGIN_URL/v1/rooms/settings/state/settings/$v.json" | jq -c .value)
stop_pair

# --- 3: memory per room -----------------------------------------------------------
# fill VARIANT: opens ROOMS rooms; "plain" and "moderated" post 5 x 1024
# comments in each, "moderated" also bans. Sets FILL_RSS to the publisher's
# VmRSS (KiB) once everything is published and SETTLE_S have passed. (Not in
# a subshell: the pair's PIDs must stay in this shell's PIDS.)
fill() {
  start_pair "$1"
  local i u got
  for i in $(seq "$ROOMS"); do open_room "mem-$i" "{$CAP}"; done
  if [[ $1 != opened ]]; then
    for i in $(seq "$ROOMS"); do
      for u in u1 u2 u3 u4; do
        if [[ $1 == moderated ]]; then
          got=$(ban_round "mem-$i" "$u" 1024)
          [[ $got == 1024 ]] || die "mem-$i: a ban retracted $got"
        else
          post_batch "mem-$i" "$u" 512 "$u" >/dev/null
          post_batch "mem-$i" "$u" 512 "$u" >/dev/null
        fi
      done
      post_batch "mem-$i" u5 512 u5 >/dev/null
      post_batch "mem-$i" u5 512 u5 >/dev/null
      if [[ $1 == moderated ]]; then
        for u in $(seq "$BANS"); do
          api POST "/v1/rooms/mem-$i/bans" "$MOD" "{\"user\": \"troll$u\", \"duration_s\": 3600}" >/dev/null
        done
      fi
    done
  fi
  wait_published
  sleep "$SETTLE_S"
  if [[ $1 == moderated ]]; then
    local v n
    v=$(component_version "mem-$ROOMS" redactions)
    n=$(curl -sf "$ORIGIN_URL/v1/rooms/mem-$ROOMS/state/redactions/$v.json" | jq '.value.seqs | length')
    [[ $n == 4096 ]] || die "mem-$ROOMS's redactions hold $n seqs, not 4096"
  fi
  FILL_RSS=$(rss_kb "$PUBLISHER_PID")
  local r deadline rss lo=0 hi=0
  for r in $(seq "$RESTARTS"); do
    restart_publisher
    deadline=$(($(date +%s) + 60))
    until [[ $(metric "$PUBLISHER_URL" roomcast_publisher_rooms) == "$ROOMS" ]]; do
      [[ $(date +%s) -lt $deadline ]] || die "the restarted publisher does not know its rooms"
      sleep 0.2
    done
    wait_published
    sleep "$SETTLE_S"
    rss=$(rss_kb "$PUBLISHER_PID")
    log "$1: after restart $r: VmRSS $rss KiB"
    (( lo == 0 || rss < lo )) && lo=$rss
    (( rss > hi )) && hi=$rss
  done
  FILL_SPREAD=$((hi - lo))
  if [[ $1 == moderated ]]; then  # the bans came back with the rooms
    code=$(curl -s -o /dev/null -w '%{http_code}' -X POST -H 'Content-Type: application/json' \
      -H "Authorization: Bearer $(jwt troll1 audience mem-1)" --data-binary "$(batch 1 x)" \
      "$PUBLISHER_URL/v1/rooms/mem-1/messages")
    [[ $code == 403 ]] || die "a banned user posts after the restart: $code"
  fi
  FILL_RSS_RESTARTED=$(rss_kb "$PUBLISHER_PID")
  stop_pair
}
declare -A RSS RSS_R SPREAD
# Rollups of 2 s: a room keeps its closed buckets in memory until its rollup
# window ends (60 s by default), which would swamp the state measured.
PUB_FLAGS=(--rollup-ms 2000)
for variant in opened plain moderated; do
  log "memory: $ROOMS rooms, $variant"
  fill "$variant"
  RSS[$variant]=$FILL_RSS
  RSS_R[$variant]=$FILL_RSS_RESTARTED
  SPREAD[$variant]=$FILL_SPREAD
  log "memory: $variant: publisher VmRSS ${RSS[$variant]} KiB, after a restart ${RSS_R[$variant]} KiB"
done
per_room() { awk -v a="$1" -v b="$2" -v n="$ROOMS" 'BEGIN {printf "%.0f", (b - a) * 1024 / n}'; }
MOD_B=$(per_room "${RSS_R[plain]}" "${RSS_R[moderated]}")
PLAIN_B=$(per_room "${RSS_R[opened]}" "${RSS_R[plain]}")
MOD_LIVE_B=$(per_room "${RSS[plain]}" "${RSS[moderated]}")
PLAIN_LIVE_B=$(per_room "${RSS[opened]}" "${RSS[plain]}")

# --- report ------------------------------------------------------------------------
row() { printf '%-44s %9s %9s %9s %9s\n' "$1" $2; }
mkdir -p "$RESULTS_DIR"
OUT=$RESULTS_DIR/moderation.txt
{
  echo "# DESIGN §11 moderation: bytes on the wire and publisher memory per room"
  echo "# command: $COMMAND  (ROOMS=$ROOMS BANS=$BANS COMMENTS=$COMMENTS SETTLE_S=$SETTLE_S)"
  echo "# commit $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?'), $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
  echo "# bytes = body as the origin serves it (curl size_download); gzip = with"
  echo "# Accept-Encoding: gzip (the origin keeps gzip only where it is smaller)."
  echo
  echo "## segments: $COMMENTS comments in one ${WIRE_D} ms bucket, plus ..."
  row "" "pb pb+gzip json json+gzip"
  for r in plain retract both review; do
    case $r in
      plain) label="nothing (the reference)" ;;
      retract) label="+ retract record (1 seq, reason)" ;;
      both) label="+ retract record + ban record" ;;
      review) label="+ 1 seq retracted in review (\`retracted\`)" ;;
    esac
    row "$label" "${SEG[$r]%% |*}"
  done
  read -r -a base <<<"${SEG[plain]%% |*}"
  diff_row() {  # LABEL FROM TO
    local -a a b
    read -r -a a <<<"${SEG[$2]%% |*}"
    read -r -a b <<<"${SEG[$3]%% |*}"
    row "$1" "$((b[0] - a[0])) $((b[1] - a[1])) $((b[2] - a[2])) $((b[3] - a[3]))"
  }
  diff_row "  the retract record (retract - nothing)" plain retract
  diff_row "  the ban record (both - retract)" retract both
  diff_row "  both records (both - nothing)" plain both
  diff_row "  a seq in \`retracted\` (review - nothing)" plain review
  echo
  echo "## state components (one state object each; seqs ascending, small numbers here:"
  echo "## a busy room's 7-digit seqs add about 3 JSON bytes per seq before gzip)"
  row "" "pb pb+gzip json json+gzip"
  for r in red-1 red-100 red-4096; do row "redactions, ${r#red-} seqs" "${COMP[$r]}"; done
  row "settings (value below)" "${COMP[settings]}"
  echo "  settings value: $SETTINGS_JSON"
  echo
  echo "## publisher memory, $ROOMS rooms: VmRSS (KiB) once everything is published + ${SETTLE_S}s"
  echo "## (live), and after a restart (SIGTERM, same data dir: rooms rebuilt from the log and"
  echo "## their checkpoints, then published + ${SETTLE_S}s)"
  printf '%-62s %10s %10s\n' "" "live" "restarted"
  printf '%-62s %10s %10s\n' "opened: the rooms only" "${RSS[opened]}" "${RSS_R[opened]}"
  printf '%-62s %10s %10s\n' "plain: + 5 x 1024 comments per room (recent index full)" "${RSS[plain]}" "${RSS_R[plain]}"
  printf '%-62s %10s %10s\n' "moderated: the same + 4096 redactions, $((4 + BANS)) bans per room" "${RSS[moderated]}" "${RSS_R[moderated]}"
  printf '%-62s %10s %10s\n' "per room, plain - opened (B)" "$PLAIN_LIVE_B" "$PLAIN_B"
  printf '%-62s %10s %10s\n' "per room, moderated - plain (B)" "$MOD_LIVE_B" "$MOD_B"
  echo "VmRSS spread over $RESTARTS restarts of one publisher (KiB): opened ${SPREAD[opened]}, plain ${SPREAD[plain]}, moderated ${SPREAD[moderated]}"
  echo "  (within one run; separate runs differ by more, the fewer the rooms the more:"
  echo "  keep ROOMS high for a per-room figure)"
  echo "=> moderation state at its bounds (4096 redactions and their component, $((4 + BANS)) bans):"
  echo "   $MOD_LIVE_B B per room live, $MOD_B B per room after a restart. Neither is exact: live,"
  echo "   the state may reuse heap that ingest freed (an under-count); after a restart, what the"
  echo "   replay allocated stays in the heap (an over-count: see plain's own restart growth)."
} >"$OUT"
cat "$OUT" >&2
log "wrote $OUT"
cat <<EOF
SEGMENT_PLAIN="${SEG[plain]%% |*}"
SEGMENT_RETRACT="${SEG[retract]%% |*}"
SEGMENT_RETRACT_BAN="${SEG[both]%% |*}"
SEGMENT_REVIEW="${SEG[review]%% |*}"
REDACTIONS_1="${COMP[red-1]}"
REDACTIONS_100="${COMP[red-100]}"
REDACTIONS_4096="${COMP[red-4096]}"
SETTINGS="${COMP[settings]}"
RSS_OPENED_KB=${RSS[opened]}
RSS_PLAIN_KB=${RSS[plain]}
RSS_MODERATED_KB=${RSS[moderated]}
RSS_RESTARTED_OPENED_KB=${RSS_R[opened]}
RSS_RESTARTED_PLAIN_KB=${RSS_R[plain]}
RSS_RESTARTED_MODERATED_KB=${RSS_R[moderated]}
MODERATION_BYTES_PER_ROOM_LIVE=$MOD_LIVE_B
MODERATION_BYTES_PER_ROOM_RESTARTED=$MOD_B
REPORT=$OUT
EOF
