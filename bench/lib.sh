# Shared by the bench scripts (source it): a scratch directory and the
# processes a script starts in it, ended by their PIDs when it exits, and
# the helpers every script needs to talk to the servers.
#   bench_scratch NAME [GRACE]   # sets TMP and PIDS; GRACE in 0.1 s (50);
#                                # BENCH_KEEP=1 keeps TMP (logs) at the end
#   some_server >OUT 2>OUT.err & PIDS+=("$!")
#   URL=$(wait_listening OUT PID NAME)
#   TOKEN=$(jwt SUB ROLE ROOM)   # HS256 with $ROOMCAST_JWT_SECRET
#   CPU=$(cpu_s PID)             # its CPU seconds so far, children included
#   wait_port PORT PID LOG       # until /healthz on PORT answers (bounded)
#   bench_stop PID               # end one of PIDS early (TERM, grace, KILL)
#   BUSY=$(cpu_busy_percent SECONDS [CORE])  # busy share, all cores or one

bench_scratch() {
  TMP=$(mktemp -d "/tmp/roomcast-$1-bench.XXXXXX")
  # nginx's workers run as "nobody" when it starts as root: they must reach
  # their cache under here.
  chmod 755 "$TMP"
  PIDS=()
  BENCH_GRACE=${2:-50}
  trap bench_cleanup EXIT
  trap 'exit 130' INT TERM
}

# Waits out the grace for PID (already sent TERM), then KILLs it if it is
# still there, and reaps it.
bench_reap() {
  for _ in $(seq "$BENCH_GRACE"); do kill -0 "$1" 2>/dev/null || break; sleep 0.1; done
  kill -KILL "$1" 2>/dev/null || true
  wait "$1" 2>/dev/null || true
}

# Ends one of PIDS before the script does (TERM, grace, KILL) and drops it
# from PIDS, so the cleanup never signals a number the system may reuse.
bench_stop() {
  local kept=() p
  kill -TERM "$1" 2>/dev/null || true
  bench_reap "$1"
  for p in "${PIDS[@]}"; do [[ $p == "$1" ]] || kept+=("$p"); done
  PIDS=("${kept[@]}")
}

# TERM each process, KILL what is still there after the grace, remove TMP.
bench_cleanup() {
  local pid
  for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do bench_reap "$pid"; done
  if [[ -n ${BENCH_KEEP:-} ]]; then echo "kept $TMP" >&2; else rm -rf "$TMP"; fi
}

# Waits for "listening on URL" in $1 (stdout file) of PID $2; prints URL.
wait_listening() {
  for _ in $(seq 100); do
    grep -q '^listening on ' "$1" 2>/dev/null && break
    kill -0 "$2" 2>/dev/null || { echo "$3 exited: $(cat "$1.err" 2>/dev/null)" >&2; exit 1; }
    sleep 0.1
  done
  sed -n 's/^listening on //p' "$1" | head -1
}

# CPU seconds (user + system, all threads) of process $1 and its children
# (nginx's workers, varnishd's cache process).
cpu_s() {
  local total=0 p
  for p in "$1" $(cat /proc/"$1"/task/*/children 2>/dev/null); do
    [[ -r /proc/$p/stat ]] || continue
    # Fields after the ")": state is $1, utime $12, stime $13.
    total=$((total + $(sed 's/.*) //' /proc/"$p"/stat | awk '{print $12 + $13}')))
  done
  echo "$total $(getconf CLK_TCK)" | awk '{printf "%.3f", $1 / $2}'
}

# An HS256 token (what the platform's backend would mint), valid an hour.
b64url() { openssl base64 -A | tr '+/' '-_' | tr -d '='; }
jwt() {
  local head payload sig
  head=$(printf '{"alg":"HS256","typ":"JWT"}' | b64url)
  payload=$(printf '{"sub":"%s","role":"%s","room":"%s","exp":%d}' "$1" "$2" "$3" \
    $(($(date +%s) + 3600)) | b64url)
  sig=$(printf '%s.%s' "$head" "$payload" |
    openssl dgst -sha256 -hmac "$ROOMCAST_JWT_SECRET" -binary | b64url)
  printf '%s.%s.%s' "$head" "$payload" "$sig"
}

# Waits (20 s at most) until http://127.0.0.1:$1/healthz answers; exits
# with $3 (its log) if process $2 ends first or the port never answers.
wait_port() {
  for _ in $(seq 200); do
    curl -s -o /dev/null "http://127.0.0.1:$1/healthz" && return 0
    kill -0 "$2" 2>/dev/null || { echo "process $2 exited: $(cat "$3")" >&2; exit 1; }
    sleep 0.1
  done
  echo "nothing listens on port $1: $(cat "$3")" >&2
  exit 1
}

# The share of the time the cores (or core CORE) spent busy over the next
# SECONDS, in percent (whole number), from /proc/stat's cpu (cpuN) line:
# "total idle" jiffies, user … steal against idle + iowait.
cpu_busy_percent() {
  local line="cpu${2:-}" a b
  cpu_times() { awk -v l="$line" '$1 == l {t = 0; for (i = 2; i <= 9; i++) t += $i; print t, $5 + $6}' /proc/stat; }
  a=$(cpu_times)
  sleep "$1"
  b=$(cpu_times)
  awk -v a="$a" -v b="$b" 'BEGIN {split(a, x, " "); split(b, y, " "); dt = y[1] - x[1];
    printf "%.0f", (dt > 0 ? 100 * (dt - (y[2] - x[2])) / dt : 0)}'
}
