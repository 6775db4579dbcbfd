// Node test of client/js/roomcast.mjs's follow() over real HTTP (node's
// fetch, 127.0.0.1) against a scripted origin whose buckets are answered the
// way DESIGN §10 says an origin and a cache may answer them: complete once
// closed, or streamed record by record and cut before the summary (the
// connection closed without the last chunk). It checks what no real origin
// can be made to do on cue yet:
//   - every record is delivered once, in seq order, as it arrives (before
//     its stream ends), and the records of a cut stream are skipped by seq
//     when the bucket is asked again;
//   - bucket k+1 is asked for before k ends: the scripted origin answers k
//     only once k+1 has been asked for, so a follower that waited would stall;
//   - a `retract` record and the `redactions` component retract, a
//     takedown's stub is never delivered;
//   - notices (seq 0, DESIGN §10): a state notice reaches onState once
//     though the cut stream that carried it is asked again, one flagged
//     value_omitted is fetched (asked again after 404s), a peer tag is
//     ignored, none reaches onMessage or counts as a seq gap, and the
//     manifest is read once (at the join) while the buckets stream;
//   - a 403 ends the following with a fatal onError.
//
//   node follow_test.mjs
import assert from "node:assert/strict";
import { createServer } from "node:http";
import { follow } from "../../client/js/roomcast.mjs";
import { layout } from "./segment_layout.mjs";

const D = 1000;  // long enough that a stream's records come well before its end
const deadline = setTimeout(() => { console.error("FAIL: timed out after 60 s"); process.exit(1); }, 60_000);
const events = [];  // what the follower delivered and the origin did, in order
const asked = new Map();  // "room/k" -> times asked
const askWaiters = [];
const P = Math.floor(Date.now() / D) + 3;  // the first bucket with records
let over = false;

const comment = (seq) => ({ seq: String(seq), ts_ms: String(Date.now()), sender: "u", comment: { text: `c${seq}` } });
const stateNotice = (state, omitted) => ({
  ts_ms: String(Date.now()), priority: "PRIORITY_HIGH",
  notice: omitted ? { state, value_omitted: true } : { state },
});
const title = { room: "t", name: "title", version: "4", value: "streamed title" };
const peerNotice = { ts_ms: String(Date.now()), priority: "PRIORITY_HIGH", notice: { peer: "AAECAwQFBgcICQoLDA0ODw==" } };
const summaryOf = (k, first, last) => ({ room: "t", index: String(k), first_seq: String(first), last_seq: String(last) });

function noteAsk(key) {
  asked.set(key, (asked.get(key) || 0) + 1);
  for (const w of askWaiters.splice(0)) w();
}

// Resolves once `key` has been asked for; rejects after `ms`.
async function askedFor(key, ms) {
  const until = Date.now() + ms;
  while (!asked.get(key)) {
    if (Date.now() > until) throw new Error(`${key} not asked for within ${ms} ms`);
    await new Promise((r) => { askWaiters.push(r); setTimeout(r, 50); });
  }
}

// The origin closes bucket k at its end (its clock), and this one answers
// only once k+1 was asked for.
async function closed(room, k) {
  const wait = (k + 1) * D + 20 - Date.now();
  if (wait > 0) await new Promise((r) => setTimeout(r, wait));
  await askedFor(`${room}/${k + 1}`, 3000);
}

// The complete body of bucket k of room t.
function bucketBody(k) {
  const r = k - P;
  if (r === 0) return layout([comment(1)], summaryOf(k, 1, 1));
  if (r === 1) return layout([stateNotice(title), comment(2), comment(3), comment(4)], summaryOf(k, 2, 4));
  if (r === 2) {
    const retract = { seq: "5", ts_ms: String(Date.now()), sender: "mod", retract: { seqs: ["3"] } };
    const stub = { seq: "6", ts_ms: String(Date.now()), redacted: {} };
    const big = stateNotice({ room: "t", name: "big", version: "7" }, true);
    return layout([retract, big, stub, peerNotice, comment(7)], summaryOf(k, 5, 7));
  }
  if (r === 3) return layout([comment(8), comment(9)], summaryOf(k, 8, 9));
  return layout([], { room: "t", index: String(k) });
}

const json = (res, status, body) => {
  res.writeHead(status, { "Content-Type": "application/json", "Access-Control-Allow-Origin": "*" });
  res.end(JSON.stringify(body));
};

async function serveBucket(req, res, room, k) {
  const key = `${room}/${k}`;
  noteAsk(key);
  if (room === "locked") return json(res, 403, { error: "forbidden", detail: "not for you" });
  if (k === P + 1 && asked.get(key) === 1) {
    // Streamed while open, then cut: no summary, no last chunk.
    res.writeHead(200, { "Content-Type": "application/json" });
    res.write('{"messages":[\n');
    res.write(JSON.stringify(stateNotice(title)) + "\n");
    res.write("," + JSON.stringify(comment(2)) + "\n");
    res.write("," + JSON.stringify(comment(3)) + "\n");
    await closed(room, k);
    events.push("origin cut");
    res.socket.destroy();
    return;
  }
  await closed(room, k);
  const body = bucketBody(k);
  res.writeHead(200, { "Content-Type": "application/json", "Content-Length": Buffer.byteLength(body) });
  res.end(body);
}

const server = createServer((req, res) => {
  const u = new URL(req.url, "http://x");
  const m = u.pathname.match(/^\/v1\/rooms\/(t|locked)\/(.*)$/);
  if (!m) return json(res, 404, { error: "not_found", detail: u.pathname });
  const [, room, rest] = m;
  noteAsk(`${room}/${rest}`);
  if (rest === "state/big/7.json") {
    // A publication round behind its notice: two "not yet" answers.
    if (asked.get(`${room}/${rest}`) <= 2) return json(res, 404, { error: "not_found", detail: rest });
    return json(res, 200, { room: "t", name: "big", version: "7", value: "the big value" });
  }
  if (rest === "manifest.json") {
    return json(res, 200, {
      room, version: "3", epoch: "1", config: { bucket_ms: D }, state_version: room === "t" ? "2" : "0",
      components: room === "t" ? [{ name: "redactions", version: "1" }] : [],
    });
  }
  if (rest === "snapshot/2.json") {
    return json(res, 200, { components: [{ name: "redactions", version: "1", value: { seqs: ["9"] } }] });
  }
  const b = rest.match(/^actions\/(\d+)\/(\d+)\.json$/);
  if (b && Number(b[1]) === D) {
    // Once the checks are done, the follower is stopped: its last asks go unanswered.
    serveBucket(req, res, room, Number(b[2])).catch((e) => over || fail(e));
    return undefined;
  }
  return json(res, 404, { error: "not_found", detail: rest });
});

function fail(e) {
  console.error(`FAIL: ${e.stack || e}`);
  console.log("0 passed, 1 failed");
  process.exit(1);
}

await new Promise((r) => server.listen(0, "127.0.0.1", r));
const base = `http://127.0.0.1:${server.address().port}`;

// The room t, until bucket P+3 is complete.
const buckets = [];
const bigStates = [];
const done = new Promise((resolve) => {
  const handle = follow({
    base, room: "t",
    onMessage: (m) => events.push(`message ${m.seq}`),
    onRetract: (seqs) => events.push(`retract ${seqs.join(",")}`),
    onState: (c) => {
      if (c.name === "title") events.push(`state title ${c.version} ${c.value}`);
      if (c.name === "big") bigStates.push(c);
    },
    onBucket: (s, k) => {
      buckets.push(k);
      if (k === P + 3) resolve(handle);
    },
    onError: (e) => fail(e),
  });
});
const following = await done;
// The value_omitted fetch runs beside the buckets: give it its retries.
for (const until = Date.now() + 10_000; !bigStates.length && Date.now() < until;) {
  await new Promise((r) => setTimeout(r, 50));
}
following.stop();

assert.deepEqual(events, [
  "retract 9",                  // the snapshot's redactions, before any message
  "message 1",
  "state title 4 streamed title",  // once, though its cut stream was asked again
  "message 2", "message 3",     // as they arrived, before the stream was cut
  "origin cut",
  "message 4",                  // asked again: 2 and 3 skipped by seq
  "retract 3",                  // a retract record; the stub (6) never delivered
  "message 7",
  "message 8",                  // 9 is listed in the redactions
]);
assert.equal(asked.get(`t/${P + 1}`), 2, "the cut bucket is asked for again, once");
const ours = buckets.filter((k) => k >= P);
assert.deepEqual(ours, [P, P + 1, P + 2, P + 3], "each bucket completes once, in order");
assert.deepEqual(bigStates.map((c) => c.value), ["the big value"], "the value_omitted component, once");
assert.equal(asked.get("t/state/big/7.json"), 3, "asked again after each 404, then no more");
assert.equal(asked.get("t/manifest.json"), 1, "the manifest is read at the join only while streaming");
console.log(`ok notices: title once from a cut stream, big fetched after 2 404s, 1 manifest read`);
console.log(`ok follow: ${events.length} events in order, bucket ${P + 1} asked twice, ${buckets.length} buckets`);

// A refusal ends the following.
const refused = await new Promise((resolve) => {
  follow({ base, room: "locked", onMessage: () => fail("a message from a refused room"), onError: resolve });
});
assert.equal(refused.fatal, true);
assert.equal(refused.status, 403);
assert.equal(refused.detail, "not for you");
console.log("ok refused: fatal onError with status 403 and the detail");

over = true;
clearTimeout(deadline);
server.closeAllConnections();
server.close();
console.log("3 passed, 0 failed");
process.exit(0);  // the scripted origin's timers of asks left unanswered
