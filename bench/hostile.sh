#!/usr/bin/env bash
# bench/hostile.sh: what a hostile request costs the publisher to refuse
# (issue "No sender, object, disk or connection can stop the publisher or
# another room", finding 3), optionally against an older build side by side:
#   deep_body   a 24 KB custom message whose data nests 12,000 arrays deep
#   deep_jwt    an 8 KB token whose header nests 3,000 arrays deep (unsigned)
# For each: the median and worst wall time per request (curl, loopback) over
# REPS requests, the status answered, and whether a normal POST sent right
# after is still answered within the same second (the I/O thread was free).
#
#   bench/hostile.sh [BUILD_DIR] [--before OLD_BUILD_DIR]
#
# Builds nothing. The publisher runs with --threads 1 on core 0, curl on
# core 1. Appends a markdown table to bench/results/hostile-YYYY-MM-DD.md.
# Knobs: REPS (5), RESULTS_DIR.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=${1:-build}
[[ $BUILD = /* ]] || BUILD=$ROOT/$BUILD
BEFORE=""
if [[ ${2:-} == --before ]]; then BEFORE=${3:?--before needs a build dir}; fi
REPS=${REPS:-5}
RESULTS_DIR=${RESULTS_DIR:-$ROOT/bench/results}
die() { echo "hostile.sh: $*" >&2; exit 1; }
source "$ROOT/bench/lib.sh"
bench_scratch hostile
export ROOMCAST_WRITE_SECRET="bench-write-$$-$RANDOM"
export ROOMCAST_JWT_SECRET="bench-jwt-$$-$RANDOM"

python3 - "$TMP" <<'PY'
import sys, base64
tmp = sys.argv[1]
deep = "[" * 12000 + "]" * 12000
open(f"{tmp}/deep_body.json", "w").write('{"type":"custom:x","data":{"a":%s}}' % deep)
b64 = lambda s: base64.urlsafe_b64encode(s.encode()).decode().rstrip("=")
# Inside an object, as a header must be (a bare array is refused at once);
# 3,000 levels keep the token under the 8 KB limit.
hdr = '{"alg":"HS256","x":' + "[" * 3000 + "]" * 3000 + "}"
open(f"{tmp}/deep_jwt.txt", "w").write(b64(hdr) + "." + b64("{}") + ".AAAA")
PY

# Runs one build's publisher (and an origin); prints "case median worst status still_served".
measure() {
  local build=$1 tag=$2 dir=$TMP/$2
  mkdir -p "$dir"
  taskset -c 0 "$build/bin/roomcast-origin" --listen 127.0.0.1:0 --data "$dir/origin" --threads 1 \
    >"$dir/origin.out" 2>"$dir/origin.out.err" &
  local origin_pid=$!
  PIDS+=("$origin_pid")
  local origin; origin=$(wait_listening "$dir/origin.out" "$origin_pid" origin)
  taskset -c 0 "$build/bin/roomcast-publisher" --listen 127.0.0.1:0 --data "$dir/pub" \
    --origin "$origin" --id bench --threads 1 >"$dir/pub.out" 2>"$dir/pub.out.err" &
  local pub_pid=$!
  PIDS+=("$pub_pid")
  local pub; pub=$(wait_listening "$dir/pub.out" "$pub_pid" publisher)
  curl -sf -o /dev/null -X POST -H "Authorization: Bearer $(jwt backend service '*')" \
    -d '{"bucket_ms": 1000}' "$pub/v1/rooms/bench" || die "$tag: opening the room failed"
  local fan; fan=$(jwt fan audience bench)
  for c in deep_body deep_jwt; do
    local times=() status=""
    for _ in $(seq "$REPS"); do
      local out
      if [[ $c == deep_body ]]; then
        out=$(taskset -c 1 curl -s -o /dev/null -w '%{http_code} %{time_total}' -m 600 \
          -H "Authorization: Bearer $fan" -H 'Content-Type: application/json' \
          --data-binary @"$TMP/deep_body.json" "$pub/v1/rooms/bench/messages")
      else
        out=$(taskset -c 1 curl -s -o /dev/null -w '%{http_code} %{time_total}' -m 60 \
          -H "Authorization: Bearer $(cat "$TMP/deep_jwt.txt")" -H 'Content-Type: application/json' \
          -d '{"type":"comment","text":"x"}' "$pub/v1/rooms/bench/messages")
      fi
      status=${out%% *}
      times+=("${out##* }")
    done
    local ok; ok=$(taskset -c 1 curl -s -o /dev/null -w '%{http_code}' -m 1 \
      -H "Authorization: Bearer $fan" -d '{"type":"comment","text":"fine"}' \
      "$pub/v1/rooms/bench/messages" || true)
    printf '%s\n' "${times[@]}" | sort -n | awk -v c="$c" -v s="$status" -v ok="$ok" -v t="$tag" \
      '{a[NR]=$1} END {printf "%s %s %.4f %.4f %s %s\n", t, c, a[int((NR+1)/2)], a[NR], s, ok}'
  done
  # This build's servers end before the next build's start.
  kill -TERM "$pub_pid" "$origin_pid" 2>/dev/null || true
  wait "$pub_pid" "$origin_pid" 2>/dev/null || true
}

# Not in $(...): a subshell's PIDS+= would never reach bench_cleanup.
: >"$TMP/rows"
if [[ -n $BEFORE ]]; then measure "$BEFORE" before >>"$TMP/rows"; fi
measure "$BUILD" after >>"$TMP/rows"
rows=$(cat "$TMP/rows")
echo "$rows" | awk '{printf "HOSTILE_%s_%s_MEDIAN_S=%s WORST_S=%s STATUS=%s NEXT_POST=%s\n", toupper($1), toupper($2), $3, $4, $5, $6}'
mkdir -p "$RESULTS_DIR"
out=$RESULTS_DIR/hostile-$(date -u +%F).md
{
  echo "## bench/hostile.sh, $(date -u '+%F %H:%M UTC'), $REPS requests per case"
  echo
  echo "| build | case | median s | worst s | answer | next POST |"
  echo "|---|---|---|---|---|---|"
  echo "$rows" | awk '{printf "| %s | %s | %s | %s | %s | %s |\n", $1, $2, $3, $4, $5, $6}'
  echo
} >>"$out"
echo "wrote $out"
