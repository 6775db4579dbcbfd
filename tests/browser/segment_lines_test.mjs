// Unit test of client/js/roomcast.mjs's segment line reader (DESIGN §10),
// run by node: a segment's .json body, in the streamed layout (head, one
// record a line, summary last) and in the whole-document form of an origin
// before live segments, fed as bytes in arbitrary splits (inside a line,
// inside a multi-byte character, at a "}" that is not the end) must give
// exactly the records the whole body holds, in order, and its summary; a
// record is taken as soon as its line is in; a cut body is Truncated, a
// malformed one BadSegment.
//
//   node segment_lines_test.mjs
import assert from "node:assert/strict";
import { BadSegment, readSegment, SegmentLines, Truncated } from "../../client/js/roomcast.mjs";
import { layout } from "./segment_layout.mjs";

const m1 = { seq: "41", ts_ms: "1700000000001", sender: "ana", comment: { text: "hi 👋 über\nzwei" } };
const m2 = { seq: "42", ts_ms: "1700000000002", sender: "bo",
             custom: { name: "poll", data: { a: { b: 1 }, "}": "{" } } };
const m3 = { seq: "43", ts_ms: "1700000000003", sender: "mod", retract: { seqs: ["41"] } };
const summary = { room: "demo", index: "6800000", dropped: { comment: "3" }, first_seq: "41", last_seq: "43" };

const enc = new TextEncoder();

// One piece a pull, so an error comes after the pieces (an error queued
// with them would discard them), as a connection closed mid-body does.
function streamOf(pieces, { error = null } = {}) {
  let i = 0;
  return new ReadableStream({
    pull(c) {
      if (i < pieces.length) c.enqueue(pieces[i++]);
      else if (error) c.error(error);
      else c.close();
    },
  }, { highWaterMark: 0 });
}

// The bytes of `text` cut at `cuts` (byte offsets, ascending).
function split(text, cuts) {
  const bytes = enc.encode(text);
  const out = [];
  let at = 0;
  for (const c of [...cuts, bytes.length]) {
    out.push(bytes.slice(at, c));
    at = c;
  }
  return out;
}

async function read(pieces, opts) {
  const got = [];
  const sum = await readSegment(streamOf(pieces, opts), (m) => got.push(m));
  return { got, sum };
}

// A small deterministic PRNG, so a failure can be replayed.
function rng(seed) {
  let s = seed >>> 0;
  return () => ((s = (s * 1664525 + 1013904223) >>> 0) / 2 ** 32);
}

let passed = 0;
async function test(name, fn) {
  await fn();
  passed++;
  console.log(`ok ${name}`);
}

const records = [m1, m2, m3];
const body = layout(records, summary);
const whole = JSON.parse(body);  // the layout is one JSON document

await test("layout body parses whole as the segment", () => {
  assert.deepEqual(whole.messages, records);
  assert.equal(whole.last_seq, "43");
});

await test("every single split point gives the same records and summary", async () => {
  const n = enc.encode(body).length;
  for (let cut = 0; cut <= n; cut++) {
    const { got, sum } = await read(split(body, [cut]));
    assert.deepEqual(got, records, `cut at ${cut}`);
    assert.deepEqual(sum, summary, `cut at ${cut}`);
  }
});

await test("random multi-splits, down to one byte a piece", async () => {
  const n = enc.encode(body).length;
  const rand = rng(14);
  for (let round = 0; round < 300; round++) {
    const cuts = [...new Set(Array.from({ length: 1 + Math.floor(rand() * 40) }, () => Math.floor(rand() * n)))]
      .sort((a, b) => a - b);
    const { got, sum } = await read(split(body, cuts));
    assert.deepEqual(got, records, `cuts ${cuts}`);
    assert.deepEqual(sum, summary, `cuts ${cuts}`);
  }
  const { got } = await read(split(body, Array.from({ length: n - 1 }, (_, i) => i + 1)));
  assert.deepEqual(got, records);
});

await test("a record is taken as soon as its line is in", () => {
  const lines = new SegmentLines();
  assert.deepEqual(lines.push('{"messages":[\n'), []);
  assert.deepEqual(lines.push(JSON.stringify(m1) + "\n"), [{ message: m1 }]);
  // The next record's comma alone is nothing yet.
  assert.deepEqual(lines.push(","), []);
  const half = JSON.stringify(m2).indexOf("}") + 1;  // a "}" inside the record
  assert.deepEqual(lines.push(JSON.stringify(m2).slice(0, half)), []);
  assert.deepEqual(lines.push(JSON.stringify(m2).slice(half) + "\n"), [{ message: m2 }]);
  // The summary line has no newline after it: it is taken once it parses.
  const tail = layout([], summary).slice('{"messages":[\n'.length);
  const inner = tail.indexOf("}") + 1;  // the dropped map closes first
  assert.deepEqual(lines.push(tail.slice(0, inner)), []);
  assert.deepEqual(lines.push(tail.slice(inner)), [{ summary }]);
  assert.deepEqual(lines.end(), []);
});

await test("an empty segment: no records, its summary", async () => {
  const empty = { room: "demo", index: "7" };
  const text = layout([], empty);
  assert.equal(text, '{"messages":[\n],"room":"demo","index":"7"}');
  const { got, sum } = await read(split(text, [14, 15]));
  assert.deepEqual(got, []);
  assert.deepEqual(sum, empty);
  assert.deepEqual((await read(split('{"messages":[\n]}', [3]))).sum, {});
});

await test("the whole-document form (no line layout) in splits", async () => {
  const old = JSON.stringify({ room: "demo", messages: records, last_seq: "43" });
  const rand = rng(7);
  for (let round = 0; round < 50; round++) {
    const cuts = [Math.floor(rand() * old.length), Math.floor(rand() * old.length)].sort((a, b) => a - b);
    const { got, sum } = await read(split(old, cuts));
    assert.deepEqual(got, records);
    assert.deepEqual(sum, { room: "demo", last_seq: "43" });
  }
  assert.deepEqual((await read(split('{"room":"demo"}', [1]))).got, []);
});

await test("a body cut before its summary is Truncated, records before the cut delivered", async () => {
  const cut = body.indexOf("\n]");
  const got = [];
  await assert.rejects(readSegment(streamOf(split(body.slice(0, cut), [20])), (m) => got.push(m)), Truncated);
  assert.deepEqual(got, records);
  // Mid-summary, and a connection closed without the last chunk.
  await assert.rejects(read(split(body.slice(0, body.length - 2), [])), Truncated);
  await assert.rejects(read(split(body.slice(0, cut + 5), []), { error: new TypeError("network error") }), Truncated);
  await assert.rejects(read([]), Truncated);
  await assert.rejects(read(split('{"messages":', [])), Truncated);
});

await test("a cut after the summary's last byte still completes", async () => {
  const { got, sum } = await read(split(body, []), { error: new TypeError("network error") });
  assert.deepEqual(got, records);
  assert.deepEqual(sum, summary);
});

await test("malformed bodies are BadSegment", async () => {
  await assert.rejects(read(split('{"messages":[\nnot json\n]}', [])), BadSegment);
  await assert.rejects(read(split('{"messages":[\n{"seq":"1"\n]}', [])), BadSegment);
  await assert.rejects(read(split('{"messages":[\n]}\n{"seq":"9"}', [])), BadSegment);
  await assert.rejects(read(split('{"messages": [1]}x', [])), BadSegment);
  const lines = new SegmentLines({ maxLine: 64 });
  lines.push('{"messages":[\n');
  assert.throws(() => lines.push("{" + '"a":"'.padEnd(100, "x")), BadSegment);
  const wholeLines = new SegmentLines({ maxWhole: 64 });
  assert.throws(() => wholeLines.push('{"room":"' + "x".repeat(100)), BadSegment);
});

console.log(`${passed} passed, 0 failed`);
