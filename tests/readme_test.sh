#!/usr/bin/env bash
# Runs the README's command lines, bounded in time, so the documentation
# cannot drift from the code: the quick-start main job (tools/dev, stopped by
# --duration-s), then the operator's guide (private rooms included: the
# Python edge-token example runs against the real edge and origin), the
# ingest API and the CLI reference blocks, verbatim, in a scratch directory
# (ports 8080, 8081 and 8000 on 127.0.0.1, as the README says). Processes it
# starts are ended by PID. Not run here: tools/test (that is CI itself), bench/* (minutes each)
# and the golden-update command (it rewrites files).
# Usage: tests/readme_test.sh BUILD_DIR
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
build=$(cd "${1:?usage: readme_test.sh BUILD_DIR}" && pwd)
work=$(mktemp -d /tmp/roomcast-readme-XXXXXX)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do
    for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$p" 2>/dev/null || true
  done
  rm -rf "$work"
}
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; echo "0 passed, 1 failed"; exit 1; }

# The README's sh blocks, in order, one file each; a python block whose
# first line names its file ("# NAME.py ...") is written under that name, as
# a reader would save it.
python3 - "$repo/README.md" "$work" <<'PY'
import re, sys
text = open(sys.argv[1]).read()
for i, block in enumerate(re.findall(r"```sh\n(.*?)```", text, re.S)):
    open(f"{sys.argv[2]}/block{i}.sh", "w").write(block)
for block in re.findall(r"```python\n(.*?)```", text, re.S):
    name = re.match(r"# ([A-Za-z0-9_]+\.py) ", block)
    if name:
        open(f"{sys.argv[2]}/{name.group(1)}", "w").write(block)
PY
block_with() { grep -l -F -- "$1" "$work"/block*.sh | head -1; }

# 1. Quick start: the main job, bounded.
quick=$(block_with "tools/dev")
grep -q '^tools/dev ' "$quick" || fail "README quick start lost 'tools/dev'"
"$repo/tools/dev" --data "$work/dev" --origin-listen 127.0.0.1:0 \
  --publisher-listen 127.0.0.1:0 --duration-s 6 > "$work/dev.out" 2> "$work/dev.err" \
  || fail "tools/dev exited $?: $(tail -3 "$work/dev.err")"
head -1 "$work/dev.out" | grep -q '^listening on http://127.0.0.1:' || fail "tools/dev printed no listening line"
grep -q '/viewer/?room=demo' "$work/dev.out" || fail "tools/dev printed no viewer URL"
grep -q '/viewer/?room=demo-private&rc_token=exp=[0-9]*~acl=/v1/private/demo-private/\*~hmac=[0-9a-f]\{64\}$' \
  "$work/dev.out" || fail "tools/dev printed no private viewer URL with its edge token"
grep -q 'stopped (' "$work/dev.err" || fail "roomcast dev did not stop cleanly"

# 2-4. Operator's guide, ingest API and CLI reference, in one shell so the
# exported secrets and tokens carry over, as a reader's terminal would.
ops=$(block_with "roomcast-origin --listen")
ingest=$(block_with "roomcast token --sub alice")
private=$(block_with "mint_edge_token.py vip")
[ -n "$private" ] && [ -f "$work/mint_edge_token.py" ] || fail "README lost the private rooms example"
cli=$(block_with "roomcast inspect http")
ln -s "$build" "$work/build"
ln -s "$repo/origin" "$work/origin"
# A live `tail` runs until stopped: bound it (exit 124 is the bound).
sed -i 's#^\(\./build/bin/roomcast tail .*\)$#timeout 4 \1 > tail.out || [ $? -eq 124 ]#' "$cli"
cat > "$work/session.sh" <<SH
set -euo pipefail
cd "$work"
source "$ops"
echo "\$(jobs -p)" > pids
for url in http://127.0.0.1:8080/healthz http://127.0.0.1:8081/healthz; do
  for _ in \$(seq 100); do curl -sf "\$url" > /dev/null && break; sleep 0.1; done
done
for _ in \$(seq 100); do curl -s -o /dev/null http://127.0.0.1:8000/v1/rooms/x/manifest.pb && break; sleep 0.1; done
source "$ingest" > ingest.out
source "$private" > private.out
# The Python-minted token, asked of the origin itself (no edge in between).
curl -s -o /dev/null -w '%{http_code}\n' "http://127.0.0.1:8080/v1/private/vip/manifest.json?rc_token=\$MEMBER" > origin_member.out
sleep 1.5   # the bucket holding "hi" closes and is uploaded
source "$cli" > cli.out
SH
set +e
timeout 90 bash "$work/session.sh" > "$work/session.out" 2> "$work/session.err"
status=$?
set -e
[ -f "$work/pids" ] && for p in $(cat "$work/pids"); do pids+=("$p"); done
[ $status -eq 0 ] || fail "README session exited $status: $(tail -5 "$work/session.err")"
grep -q '"seq"' "$work/ingest.out" || fail "roomcast post printed no seq: $(cat "$work/ingest.out")"
for line in 'no token: 401' 'member: 200' 'expired, asked of the origin: 403'; do
  grep -qx "$line" "$work/private.out" || fail "private rooms example: no '$line' in: $(cat "$work/private.out")"
done
grep -q '^200$' "$work/origin_member.out" || fail "the origin refused the Python-minted token: $(cat "$work/origin_member.out")"
grep -q "the member's link: http://127.0.0.1:8080/viewer/?room=vip&rc_token=exp=" "$work/private.out" \
  || fail "private rooms example printed no link"
grep -q 'bob: members only' "$work/private.out" || fail "roomcast replay --edge-token did not show the member's comment"
grep -q 'hi' "$work/cli.out" || fail "roomcast replay did not show the posted 'hi'"
grep -q '"room": *"lobby"\|"room":"lobby"' "$work/cli.out" || fail "roomcast inspect printed no manifest"
echo "README commands ran: quick start, operator's guide (private rooms too), ingest API, CLI reference"
echo "1 passed, 0 failed"
