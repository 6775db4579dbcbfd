# Shared by the bench scripts (source it): a scratch directory and the
# processes a script starts in it, ended by their PIDs when it exits.
#   bench_scratch NAME [GRACE]   # sets TMP and PIDS; GRACE in 0.1 s (50)
#   some_server & PIDS+=("$!")

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

# TERM each process, KILL what is still there after the grace, remove TMP.
bench_cleanup() {
  local pid
  for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do
    for _ in $(seq "$BENCH_GRACE"); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  rm -rf "$TMP"
}
