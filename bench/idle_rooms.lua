-- wrk script for bench/idle_rooms.sh: opens ROOMS rooms named PREFIX-1 ..
-- PREFIX-ROOMS (POST /v1/rooms/{room} with a service token), each exactly
-- once, then stops. Env: ROOMS, CONNS (wrk's -c), PREFIX, TOKEN, BODY.
--
-- One thread (-t1): the counter is shared by every connection of it. Once
-- every room has been asked for, a connection that still has to send
-- re-opens PREFIX-1 with the same config (a no-op 200 that writes nothing)
-- until all ROOMS answers are in; then wrk stops.
local total = tonumber(os.getenv("ROOMS"))
local prefix = os.getenv("PREFIX") or "idle"
local body = os.getenv("BODY") or '{"bucket_ms":1000}'
local headers = {
  ["Authorization"] = "Bearer " .. os.getenv("TOKEN"),
  ["Content-Type"] = "application/json",
}
local conns = tonumber(os.getenv("CONNS"))
local sent, answered, bad = 0, 0, 0

function setup(thread)
  threads = threads or {}
  table.insert(threads, thread)
end

function request()
  sent = sent + 1
  if sent <= total then
    return wrk.format("POST", "/v1/rooms/" .. prefix .. "-" .. sent, headers, body)
  end
  return wrk.format("POST", "/v1/rooms/" .. prefix .. "-1", headers, body)
end

function response(status, hdrs, b)
  answered = answered + 1
  if status < 200 or status >= 300 then bad = bad + 1 end
  -- A connection holds one request at a time, so once the answers pass the
  -- openings by one per connection every opening has (almost surely) been
  -- answered; the script checks the publisher's room count anyway.
  -- wrk's main thread sleeps out -d whatever the threads do; its SIGINT
  -- handler ends the run early and still reports. system() ignores SIGINT
  -- in the caller until the shell exits, hence the delayed background kill.
  if answered == total + conns then
    wrk.thread:stop()
    os.execute("(sleep 0.2; kill -INT $PPID) >/dev/null 2>&1 &")
  end
end

function done(summary, latency, requests)
  local b = 0
  for _, t in ipairs(threads) do b = b + (t:get("bad") or 0) end
  io.write(string.format(
    "RESULT requests=%d seconds=%.3f bad=%d errors=%d p50_us=%d p99_us=%d max_us=%d\n",
    summary.requests, summary.duration / 1e6, b,
    summary.errors.connect + summary.errors.read + summary.errors.write +
      summary.errors.timeout,
    latency:percentile(50), latency:percentile(99), latency.max))
end
