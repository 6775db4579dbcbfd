// Node test of client/js/roomcast.mjs's notices (DESIGN §10) through a real
// origin and publisher (`roomcast dev --no-traffic`, 127.0.0.1): a room of
// 1 s buckets is followed with node's fetch, through a wrapper that records
// every URL the module asks for. While it follows:
//   - a state set reaches onState from the stream (no fetch of it), and one
//     over 4 KiB (value_omitted) through the fetch its notice asks for;
//   - a message published before the join is retracted: the `redactions`
//     component reaches onState from the stream and onRetract has the seq;
//     one delivered while following is retracted too;
//   - a component set with a 3 s ttl is dropped at its expires_ms (an
//     expiry makes no notice, and nothing reads the manifest for it);
//   - after the join the module reads the manifest at most once per 30 s
//     (its safety net), never per bucket or per state change;
//   - no notice reaches onMessage, seqs only grow, each (component,
//     version) reaches onState once.
//
//   node notices_test.mjs /path/to/roomcast
//
// Bounded: the whole test gives up after 100 s; roomcast dev is started with
// --duration-s so it ends by itself even if this script dies, and is stopped
// here by its PID.
import assert from "node:assert/strict";
import { execFileSync, spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { follow } from "../../client/js/roomcast.mjs";

const [roomcast] = process.argv.slice(2);
if (!roomcast) {
  console.error("usage: node notices_test.mjs ROOMCAST_BINARY");
  process.exit(2);
}
const ROOM = "notices";
const D = 1000;
const deadline = setTimeout(() => fail("timed out after 100 s"), 100_000);
const data = mkdtempSync(join(tmpdir(), "roomcast-notices-"));
let dev = null;
let handle = null;

async function cleanup() {
  clearTimeout(deadline);
  handle?.stop();
  if (dev && dev.exitCode === null) {
    dev.kill("SIGTERM");
    await new Promise((r) => { dev.once("exit", r); setTimeout(r, 10_000); });
  }
  rmSync(data, { recursive: true, force: true });
}

async function fail(reason) {
  console.error(`FAIL: ${reason}`);
  await cleanup();
  console.log("0 passed, 1 failed");
  process.exit(1);
}

function startDev() {
  dev = spawn(roomcast, [
    "dev", "--data", data, "--origin-listen", "127.0.0.1:0",
    "--publisher-listen", "127.0.0.1:0", "--no-traffic", "--duration-s", "95",
  ], { stdio: ["ignore", "pipe", "inherit"] });
  return new Promise((resolve, reject) => {
    const lines = createInterface({ input: dev.stdout });
    let origin = null;
    lines.on("line", (line) => {
      const m = line.match(/^listening on (http:\/\/\S+)$/);
      if (m) origin = m[1];
      const q = line.match(/^publisher on +(http:\/\/\S+)$/);
      if (q && origin) resolve({ origin, publisher: q[1] });
    });
    dev.once("exit", (code) => reject(new Error(`roomcast dev exited with ${code}`)));
  });
}

// A JWT for ROOM, minted with the JWT secret dev keeps in DATA/dev-secrets
// (its second line).
function mintJwt(sub, role) {
  const secret = readFileSync(join(data, "dev-secrets"), "utf8").split("\n")[1];
  return execFileSync(roomcast, ["token", "--sub", sub, "--role", role, "--room", ROOM, "--ttl", "600"],
                      { env: { ...process.env, ROOMCAST_JWT_SECRET: secret } }).toString().trim();
}

// Polls `check` every 50 ms until it returns a truthy value; fails after `ms`.
async function waitFor(what, ms, check) {
  const until = Date.now() + ms;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > until) await fail(`no ${what} within ${ms / 1000} s`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function main() {
  const { origin, publisher } = await startDev();
  const service = mintJwt("test-service", "service");
  const mod = mintJwt("test-moderator", "moderator");
  const viewer = mintJwt("test-viewer", "audience");

  // One call to the publisher's API on ROOM; the parsed JSON reply.
  async function api(method, path, token, body) {
    const r = await fetch(`${publisher}/v1/rooms/${ROOM}${path}`, {
      method,
      headers: { Authorization: `Bearer ${token}`, "Content-Type": "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await r.text();
    if (r.status !== 200) await fail(`${method} ${path}: HTTP ${r.status} ${text}`);
    return JSON.parse(text);
  }

  const manifest = () => fetch(`${origin}/v1/rooms/${ROOM}/manifest.json`).then((r) => r.json()).catch(() => ({}));

  await api("POST", "", service, { bucket_ms: D });
  await api("PUT", "/state/title", mod, "set before the join");
  const early = await api("POST", "/messages", viewer, { type: "comment", text: "published before the join" });
  const earlySeq = Number(early.seq);
  // Published: the manifest lists it, so its bucket is closed and stored.
  await waitFor("the early comment published", 20_000, async () => Number((await manifest()).last_seq || 0) >= earlySeq);

  // What the module asks for and delivers, in order.
  const asked = [];  // {path, at}
  const messages = [];
  const states = [];
  const retracted = [];
  let buckets = 0;
  const wrapped = (url, init) => {
    asked.push({ path: new URL(url).pathname.replace(`/v1/rooms/${ROOM}/`, ""), at: Date.now() });
    return fetch(url, init);
  };
  handle = follow({
    base: origin, room: ROOM, fetch: wrapped,
    onMessage: (m) => messages.push(m),
    onState: (c) => states.push(c),
    onRetract: (seqs) => retracted.push(...seqs),
    onBucket: () => { buckets++; },
    onError: (e) => { if (e.fatal) fail(`refused: ${e.status} ${e.detail}`); else console.warn(`non-fatal: ${e.message}`); },
  });
  await waitFor("a bucket read to its end", 20_000, () => buckets > 0);
  // The join is over once a bucket is asked for: every manifest read after it counts.
  const joinedAt = asked.find((a) => a.path.startsWith("actions/")).at;
  const stateOf = (name, pred) => states.find((c) => c.name === name && !c.removed && pred(c));

  const title = await api("PUT", "/state/title", mod, "set while following");
  await waitFor("the title from the stream", 15_000, () => stateOf("title", (c) => c.value === "set while following"));
  assert.ok(!asked.some((a) => a.path === `state/title/${title.version}.json`), "the title was fetched, not streamed");
  console.log(`ok state notice: title v${title.version} reached onState from the stream`);

  const bigValue = "x".repeat(6000);
  const big = await api("PUT", "/state/big", mod, bigValue);
  await waitFor("the big component", 15_000, () => stateOf("big", (c) => c.value === bigValue));
  assert.ok(asked.some((a) => a.path === `state/big/${big.version}.json`), "a value_omitted component is fetched");
  console.log(`ok value_omitted: big v${big.version} (6000 bytes) fetched as its notice asked`);

  const live = await api("POST", "/messages", viewer, { type: "comment", text: "delivered, then retracted" });
  const liveSeq = Number(live.seq);
  await waitFor("the live comment", 15_000, () => messages.some((m) => Number(m.seq) === liveSeq));
  await api("DELETE", `/messages/${liveSeq}`, mod, { reason: "notices test" });
  await waitFor("the live comment retracted", 15_000, () => retracted.includes(liveSeq));
  await api("DELETE", `/messages/${earlySeq}`, mod, { reason: "notices test" });
  const redactions = await waitFor("the redactions from the stream", 15_000, () =>
    stateOf("redactions", (c) => ((c.value && c.value.seqs) || []).map(Number).includes(earlySeq)));
  await waitFor("the early comment retracted", 5_000, () => retracted.includes(earlySeq));
  assert.ok(!asked.some((a) => a.path.startsWith("state/redactions/") && a.at > joinedAt),
            "the redactions were fetched, not streamed");
  console.log(`ok redaction: #${earlySeq} (published before the join) retracted by redactions v${redactions.version} from the stream`);

  const poll = await api("PUT", "/state/poll?ttl_s=3", mod, "a poll for 3 s");
  await waitFor("the poll", 15_000, () => stateOf("poll", () => true));
  await waitFor("the poll dropped at its expiry", 15_000, () => states.some((c) => c.name === "poll" && c.removed));
  console.log(`ok ttl: poll v${poll.version} dropped at its expires_ms`);

  handle.stop();
  const elapsed = Date.now() - joinedAt;
  const reads = asked.filter((a) => a.path === "manifest.json" && a.at > joinedAt).length;
  assert.ok(reads <= Math.floor(elapsed / 30_000),
            `${reads} manifest reads in the ${elapsed} ms after the join (at most one per 30 s)`);
  const bucketReads = asked.filter((a) => a.path.startsWith("actions/") && a.at > joinedAt).length;
  assert.ok(messages.every((m) => !m.notice && Number(m.seq) > 0), "a notice reached onMessage");
  const seqs = messages.map((m) => Number(m.seq));
  assert.deepEqual(seqs, [...seqs].sort((a, b) => a - b), "seqs in order");
  assert.equal(new Set(seqs).size, seqs.length, "a message delivered twice");
  const versions = states.filter((c) => !c.removed).map((c) => `${c.name}/${c.version}`);
  assert.equal(new Set(versions).size, versions.length, `a component version delivered twice: ${versions}`);
  console.log(`ok follow: ${reads} manifest reads and ${bucketReads} bucket reads in ${elapsed} ms after the join; ` +
              `${messages.length} messages, ${states.length} state deliveries`);
  await cleanup();
  console.log("5 passed, 0 failed");
  process.exit(0);
}

main().catch((e) => fail(e.stack || String(e)));
