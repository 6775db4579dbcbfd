// roomcast.mjs: follow a roomcast room from a web page (DESIGN §5, §10).
//
// One ES module, no dependencies, no build step. It reads only the public,
// cacheable .json URLs a CDN serves: the manifest, the snapshot (or the
// components it lacks), then bucket by bucket each action segment, reading
// its body as it arrives. An open bucket is streamed by the origin one
// record a line (DESIGN §10):
//
//   {"messages":[           the head
//   {...first record...}
//   ,{...next record...}
//   ],"room":...}           the summary, written when the bucket closes
//
// so every record is delivered as soon as its line is in; a closed bucket
// (or a cache that waits for the whole object, like nginx) gives the same
// body at once and is read the same way. Every action is delivered once, in
// seq order: a stream cut before its summary is asked for again and the
// records already delivered are skipped by seq. Bucket k+1 is asked for
// about 100 ms before k ends, so its stream is open before its first record.
//
// State rides in the stream (DESIGN §10): a bucket's records include
// notices, records with seq 0 that are not actions. A state notice carries
// the component exactly as /state/{name}/{version} holds it and goes to
// onState like a fetched one, once per version (a stream asked again
// repeats its notices; an older version than the one applied is ignored);
// a component over 4 KiB comes flagged `value_omitted` and is fetched, a
// 404 asked again a few times with a growing pause (it may be a publication
// round behind its notice). A component set with a ttl is dropped
// (onState {name, removed: true}) at its expires_ms, since an expiry has no
// notice. Peer notices (keyed tags, DESIGN §5) are ignored: this module does
// not read peer messages. A notice never reaches onMessage and never counts
// as a seq.
//
// So while it streams the follower reads the manifest only:
//   - at join (then the snapshot or the components, and the closed buckets
//     the manifest's watermark does not cover yet, for their notices only);
//   - once every 30 s (the room ended, an epoch change, a ttl'd component's
//     removal, a notice the bucket's byte budget dropped: a safety net);
//   - when a bucket says something is wrong: a 404 for a bucket that has
//     started, a summary of another epoch, a summary counting a dropped
//     notice (at most once per 2 s);
//   - before reading a bucket that did not stream, a server that does not
//     stream or a follower that fell behind (at most once per 2 s, as
//     before streaming: the `redactions` must be known before its records).
// An epoch change rejoins (onJoin again).
//
// Moderation (DESIGN §11) is applied before anything reaches the page: a
// `retract` record, or the room's `redactions` component, calls onRetract
// with the seqs to take off the screen, and a retracted message or a
// takedown's stub is never passed to onMessage.
//
// Usage, a page with one module script:
//
//   <ol id="chat"></ol>
//   <script type="module">
//     import { follow } from "https://origin.example/viewer/roomcast.mjs";
//     const chat = document.getElementById("chat");
//     const room = follow({
//       base: "https://cdn.example",   // origin or CDN; "" = this page's
//       room: "demo",                  // token: "..." for a private room
//       onMessage(m) {
//         const li = document.createElement("li");
//         li.dataset.seq = m.seq;
//         li.textContent = `${m.sender}: ${m.comment ? m.comment.text : "…"}`;
//         chat.prepend(li);
//       },
//       onRetract(seqs) {
//         for (const s of seqs) chat.querySelector(`[data-seq="${s}"]`)?.remove();
//       },
//       onState(c) { console.log(c.name, c.removed ? "(gone)" : c.value); },
//       onError(e) { if (e.fatal) console.error("refused:", e.status, e.detail); },
//     });
//     // room.stop() ends every request and timer.
//   </script>
//
// Callbacks (all optional):
//   onJoin(manifest)        joined (again, after an epoch change: clear the
//                           screen); the state follows through onState
//   onMessage(m, {bucket})  one action record (proto JSON mapping: 64-bit
//                           integers are strings, Number() them)
//   onRetract(seqs)         seqs (numbers) never to show again
//   onState(c)              a state component {name, version, value,
//                           expires_ms, ...} (from the snapshot, a fetch or
//                           a notice: the same object), once per version;
//                           or {name, removed: true} at its expires_ms or
//                           once the manifest no longer lists it
//   onBucket(summary, k)    bucket k complete: first_seq, last_seq, dropped
//   onStatus(s)             {state: "joining" | "absent" | "unreachable" |
//                           "retrying" | "ended", status}
//   onError(e)              e.fatal: refused (401/403, e.status, e.detail),
//                           following has stopped; else a bucket that could
//                           not be read was skipped, or a component a
//                           notice named could not be fetched (the next
//                           manifest read tries again)
//
// The line reader is exported on its own (SegmentLines, readSegment) for
// readers that fetch buckets themselves.

const HEAD = '{"messages":[';
const PREFETCH_MS = 100;      // ask for k+1 this long before k ends
const MANIFEST_EVERY_MS = 2000;   // manifest reads when not streaming
const SLOW_MANIFEST_MS = 30000;   // and while streaming (a safety net)
const LATE_MS = 1000;             // a bucket answered this long after its end: behind
const CATCH_UP_BUCKETS = 8;       // closed buckets read at join for their notices
const STATE_TRIES = 6;            // fetches of a value_omitted component
const STATE_RETRY_MS = 250;       // the first pause between them (then doubled)
const MAX_REDACTED = 20000;   // retracted seqs remembered (the publisher lists 4096)
const MAX_LINE = 8 << 20;     // characters of one record line
const MAX_WHOLE = 64 << 20;   // characters of a body not in the line layout

// A 401 or 403: the room's objects are not for this reader.
export class Refused extends Error {
  constructor(status, detail) {
    super(`HTTP ${status}`);
    this.status = status;
    this.detail = detail;
    this.fatal = true;
  }
}

// A body that ended before its summary: ask again.
export class Truncated extends Error {}

// A body that is not a segment: asking again cannot help.
export class BadSegment extends Error {}

function parseOrNull(text) {
  try {
    return JSON.parse(text);
  } catch {
    return null;
  }
}

// Splits a segment's .json body, fed as text in any pieces, into its
// records and its summary. push(text) and end() return what they complete,
// in order: {message} per record, then {summary} (the segment without its
// messages). Each record's line ends with the record's own chunk, so a
// record is taken when its "\n" arrives; the summary's line has no newline
// after it and is taken once it parses (no proper prefix of a JSON object
// is valid JSON, so a line that parses is complete). A body not in the line layout (an origin
// before live segments) is parsed whole at its end.
export class SegmentLines {
  constructor({ maxLine = MAX_LINE, maxWhole = MAX_WHOLE } = {}) {
    this.maxLine = maxLine;
    this.maxWhole = maxWhole;
    this.pending = "";    // the unfinished line (whole mode: the whole body)
    this.lines = 0;       // lines finished
    this.taken = false;   // the unfinished line was already delivered
    this.whole = false;
    this.summary = null;
  }

  push(text) {
    const out = [];
    if (this.summary) {
      if (text.trim()) throw new BadSegment("bytes after the summary");
      return out;
    }
    this.pending += text;
    if (!this.whole && !this.lines && !(HEAD + "\n").startsWith(this.pending.slice(0, HEAD.length + 1))) {
      this.whole = true;
    }
    if (this.whole) {
      if (this.pending.length > this.maxWhole) throw new BadSegment("segment too large");
      return out;
    }
    let start = 0;
    for (let nl; (nl = this.pending.indexOf("\n", start)) >= 0; start = nl + 1) {
      this.finishLine(this.pending.slice(start, nl), out);
    }
    this.pending = this.pending.slice(start);
    if (this.pending.length > this.maxLine) throw new BadSegment("segment line too long");
    if (!this.taken && this.lines && this.pending.endsWith("}")) this.taken = this.tryLine(this.pending, out);
    return out;
  }

  // The body ended cleanly: what it completes, or Truncated.
  end() {
    if (this.summary) return [];
    if (this.whole) return this.parseWhole();
    const out = [];
    if (this.lines && this.pending.startsWith("]")) this.tryLine(this.pending, out);
    if (!this.summary) throw new Truncated("segment ended before its summary");
    return out;
  }

  finishLine(line, out) {
    const n = this.lines++;
    if (n === 0) {
      if (line !== HEAD) throw new BadSegment("not a segment head");
      return;
    }
    const taken = this.taken;
    this.taken = false;
    if (taken) return;
    if (!this.tryLine(line, out) || this.summary) {
      // A finished line must be a record; the summary is the last line.
      throw new BadSegment(`bad segment line ${n}`);
    }
  }

  // Takes `line` if it is one whole record or the summary.
  tryLine(line, out) {
    if (line.startsWith("]")) {
      const seg = parseOrNull(HEAD + line);
      if (!seg || typeof seg !== "object") return false;
      delete seg.messages;
      this.summary = seg;
      out.push({ summary: seg });
      return true;
    }
    if (!line.startsWith("{") && !line.startsWith(",{")) return false;
    const message = parseOrNull(line.startsWith(",") ? line.slice(1) : line);
    if (!message || typeof message !== "object") return false;
    out.push({ message });
    return true;
  }

  parseWhole() {
    const seg = parseOrNull(this.pending);
    if (!seg || typeof seg !== "object" || Array.isArray(seg)) throw new BadSegment("segment does not parse");
    const out = (Array.isArray(seg.messages) ? seg.messages : []).map((message) => ({ message }));
    delete seg.messages;
    this.summary = seg;
    out.push({ summary: seg });
    return out;
  }
}

// Reads a segment's body (a ReadableStream of bytes) to its end, calling
// onRecord(message) for each record as it arrives; resolves to the summary.
// Truncated if the body was cut (or ended) before the summary, BadSegment if
// it is not a segment.
export async function readSegment(body, onRecord) {
  const lines = new SegmentLines();
  const reader = body.pipeThrough(new TextDecoderStream()).getReader();
  try {
    for (;;) {
      let r;
      try {
        r = await reader.read();
      } catch (e) {
        if (lines.summary) return lines.summary;  // cut after the last byte that matters
        throw new Truncated(`segment cut: ${e && e.message}`);
      }
      const events = r.done ? lines.end() : lines.push(r.value);
      for (const ev of events) if (ev.message) onRecord(ev.message);
      if (r.done) return lines.summary;
    }
  } catch (e) {
    reader.cancel().catch(() => {});  // a bad body: no more of it
    throw e;
  }
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// Follows one room until stop(); see the header for the options.
export function follow(options) {
  const f = new Follower(options);
  f.start();
  return {
    stop: () => f.stop(),
    serverNow: () => f.serverNow(),
    get bucketMs() { return f.bucketMs; },
    get epoch() { return f.epoch; },
  };
}

class Follower {
  constructor({ base = "", room, token = null, fetch: fetchImpl, ...callbacks }) {
    if (!/^[A-Za-z0-9_-]{1,64}$/.test(room || "")) throw new TypeError(`bad room id: ${room}`);
    const scope = token === null || token === undefined ? "rooms" : "private";
    this.prefix = `${String(base).replace(/\/+$/, "")}/v1/${scope}/${encodeURIComponent(room)}`;
    this.query = scope === "rooms" ? "" : `?rc_token=${encodeURIComponent(token)}`;
    this.fetch = fetchImpl || globalThis.fetch.bind(globalThis);
    this.cb = callbacks;
    this.gen = 0;           // bumps on every (re)join and on stop; old loops end
    this.stopped = false;
    this.abort = null;
    this.expiry = new Map();  // name -> timer dropping it at its expires_ms
    // Server clock - local clock, kept inside bounds the answers prove:
    // Date (+ Age) says the server's time to the second, and a bucket whose
    // summary arrived had ended by then.
    this.offsetLo = -Infinity;
    this.offsetHi = Infinity;
  }

  // Calls a page's callback; its exceptions are the page's, not the follow's.
  call(name, ...args) {
    const fn = this.cb[name];
    if (typeof fn !== "function") return;
    try {
      fn(...args);
    } catch (e) {
      console.error(`roomcast: ${name} threw`, e);
    }
  }

  live(gen) { return !this.stopped && gen === this.gen; }

  start() {
    const gen = ++this.gen;
    this.abort?.abort();
    this.abort = new AbortController();
    this.resetRoom();
    this.run(gen, () => this.join(gen));
  }

  stop() {
    this.stopped = true;
    this.gen++;
    this.clearTimers();
    this.abort?.abort();
  }

  clearTimers() {
    clearTimeout(this.aheadTimer);
    for (const t of this.expiry.values()) clearTimeout(t);
    this.expiry.clear();
  }

  resetRoom() {
    this.clearTimers();
    this.ahead = null;           // {k, response}: the next bucket, asked early
    this.components = {};        // name -> partial version applied
    this.setAt = {};             // name -> its ts_ms (when it was set)
    this.expired = new Map();    // name -> partial version dropped at its expires_ms
    this.fetching = new Set();   // "name/version" of value_omitted fetches under way
    this.manifestVersion = 0;    // of the newest manifest applied
    this.manifestAt = 0;         // Date.now() of the last manifest read
    this.manifestServerAt = 0;   // and serverNow() then
    this.listedRedactions = 0;   // the newest `redactions` version known to exist
    this.redacted = new Set();   // seqs never to deliver
    this.lastSeq = 0;            // of the newest record delivered
    this.streaming = null;       // the last bucket streamed (null: none read yet)
    this.serverStreams = false;  // some bucket was answered as a stream
    this.reviewDelayMs = 0;
    this.bucketMs = 0;
    this.epoch = null;
  }

  get offsetMs() {
    // Assume the clocks agree unless the answers prove otherwise.
    if (this.offsetLo > this.offsetHi) return this.offsetLo;
    return Math.min(Math.max(0, this.offsetLo), this.offsetHi);
  }

  serverNow() { return Date.now() + this.offsetMs; }

  observeDate(headers) {
    const date = Date.parse(headers.get("Date") || "");
    if (Number.isNaN(date)) return;
    const server = date + Number(headers.get("Age") || 0) * 1000;
    this.offsetLo = Math.max(this.offsetLo, server - Date.now());
    this.offsetHi = Math.min(this.offsetHi, server + 1000 - Date.now());
  }

  observeClosed(k) {
    this.offsetLo = Math.max(this.offsetLo, (k + 1) * this.bucketMs - Date.now());
  }

  // Runs one of the room's loops; a refusal stops them all, once.
  async run(gen, loop) {
    try {
      await loop();
    } catch (e) {
      if (!this.live(gen)) return;
      if (!(e instanceof Refused)) {
        console.error("roomcast: follow loop failed", e);
        return;
      }
      this.stop();
      this.call("onError", e);
    }
  }

  // One of the room's objects, body unread; throws Refused on 401 or 403.
  async get(path) {
    const r = await this.fetch(this.prefix + path + this.query, { signal: this.abort.signal });
    this.observeDate(r.headers);
    if (r.status === 401 || r.status === 403) {
      const body = await r.json().catch(() => ({}));
      throw new Refused(r.status, (body && body.detail) || "");
    }
    return r;
  }

  // {status, body}: status 0 if unreachable, body null unless 200.
  async getJson(path) {
    try {
      const r = await this.get(path);
      return { status: r.status, body: r.ok ? await r.json() : null };
    } catch (e) {
      if (e instanceof Refused) throw e;
      return { status: 0, body: null };
    }
  }

  async join(gen) {
    this.call("onStatus", { state: "joining" });
    let m;
    for (let delay = 250; this.live(gen); delay = Math.min(delay * 2, 5000)) {
      m = await this.getJson("/manifest.json");
      if (m.status === 200 && m.body && m.body.config && Number(m.body.config.bucket_ms) > 0) break;
      this.call("onStatus", { state: m.status === 404 ? "absent" : "unreachable", status: m.status });
      await sleep(delay);
    }
    if (!this.live(gen)) return;
    this.manifestAt = Date.now();
    this.manifestServerAt = this.serverNow();
    this.bucketMs = Number(m.body.config.bucket_ms);
    this.epoch = m.body.epoch;
    this.reviewDelayMs = Number(m.body.review_delay_ms || 0);
    this.call("onJoin", m.body);
    // The state first: the `redactions` must be known before any message.
    await this.loadSnapshot(gen, m.body);
    if (!this.live(gen)) return;
    this.run(gen, () => this.followManifest(gen));
    this.run(gen, () => this.followActions(gen, Number(m.body.watermark_ms || 0)));
  }

  // The `redactions` version `man` lists (0: none).
  noteRedactions(man) {
    const cv = (man.components || []).find((c) => c.name === "redactions");
    this.listedRedactions = Math.max(this.listedRedactions, cv ? Number(cv.version) : 0);
  }

  async loadSnapshot(gen, man) {
    this.manifestVersion = Number(man.version || 0);
    this.noteRedactions(man);
    const v = Number(man.state_version || 0);
    if (v === 0) return;
    const s = await this.getJson(`/snapshot/${v}.json`);
    if (!this.live(gen)) return;
    if (s.status === 200) {
      for (const c of s.body.components || []) this.applyComponent(gen, c);
    } else {
      await this.syncComponents(gen, man);
    }
  }

  // Fetches only the components whose partial version moved, and drops
  // those the manifest no longer lists though it was made after they were
  // set (a ttl ran out; one a notice brought may not be listed yet). An
  // older manifest (a cache's copy) is not applied.
  async syncComponents(gen, man) {
    const version = Number(man.version || 0);
    if (version < this.manifestVersion) return;
    this.manifestVersion = version;
    this.noteRedactions(man);
    const listed = new Set((man.components || []).map((cv) => cv.name));
    const madeAt = Number(man.watermark_ms || 0);
    for (const name of Object.keys(this.components)) {
      if (listed.has(name) || (madeAt && this.setAt[name] >= madeAt)) continue;
      this.dropComponent(name);
    }
    for (const cv of man.components || []) {
      if (this.known(cv.name) >= Number(cv.version)) continue;
      const c = await this.getJson(`/state/${encodeURIComponent(cv.name)}/${Number(cv.version)}.json`);
      if (!this.live(gen)) return;
      if (c.status === 200) this.applyComponent(gen, c.body);
    }
  }

  // The newest version of `name` applied or dropped at its expiry (0: none).
  known(name) {
    return Math.max(this.components[name] || 0, this.expired.get(name) || 0);
  }

  // Applies component `c` if it is newer than the one the page has: from
  // the snapshot, a fetch or a notice, so at most once per version.
  applyComponent(gen, c) {
    if (!c || typeof c.name !== "string") return;
    const version = Number(c.version || 0);
    if (this.known(c.name) >= version) return;
    const expires = Number(c.expires_ms || 0);
    if (expires && expires <= this.serverNow()) {
      this.expired.set(c.name, version);  // gone already: never shown
      if (this.components[c.name]) this.dropComponent(c.name);
      return;
    }
    this.components[c.name] = version;
    this.setAt[c.name] = Number(c.ts_ms || 0);
    if (c.name === "redactions") {
      this.listedRedactions = Math.max(this.listedRedactions, version);
      this.retract(((c.value && c.value.seqs) || []).map(Number));
    }
    this.scheduleExpiry(gen, c.name, version, expires);
    this.call("onState", c);
  }

  // An expiry makes no notice: the component is dropped at its expires_ms.
  scheduleExpiry(gen, name, version, expires) {
    clearTimeout(this.expiry.get(name));
    this.expiry.delete(name);
    if (!expires) return;
    this.expiry.set(name, setTimeout(() => {
      if (!this.live(gen) || this.components[name] !== version) return;
      this.expired.set(name, version);
      this.dropComponent(name);
    }, Math.min(Math.max(0, expires - this.serverNow()), 2 ** 31 - 1)));
  }

  dropComponent(name) {
    clearTimeout(this.expiry.get(name));
    this.expiry.delete(name);
    delete this.components[name];
    delete this.setAt[name];
    this.call("onState", { name, removed: true });
  }

  // A notice from bucket k's stream (DESIGN §10). A peer tag is ignored:
  // this module reads no peer messages.
  applyNotice(gen, notice) {
    const c = notice.state;
    if (!c || typeof c.name !== "string" || !/^[A-Za-z0-9_-]{1,64}$/.test(c.name)) return;
    const version = Number(c.version || 0);
    if (!(version > 0)) return;
    if (c.name === "redactions") this.listedRedactions = Math.max(this.listedRedactions, version);
    if (!notice.value_omitted) {
      this.applyComponent(gen, c);
    } else if (this.known(c.name) < version) {
      this.run(gen, () => this.fetchComponent(gen, c.name, version));
    }
  }

  // A component whose notice left its value out: its object may be a
  // publication round behind, so a 404 (or no answer) is asked again, a
  // bounded number of times. If it never comes, onError; a later manifest
  // read lists it and fetches it then.
  async fetchComponent(gen, name, version) {
    const key = `${name}/${version}`;
    if (this.fetching.has(key)) return;
    this.fetching.add(key);
    try {
      for (let i = 0, pause = STATE_RETRY_MS; this.live(gen); i++, pause *= 2) {
        if (this.known(name) >= version) return;
        const c = await this.getJson(`/state/${encodeURIComponent(name)}/${version}.json`);
        if (!this.live(gen)) return;
        if (c.status === 200) {
          if (c.body && c.body.name === name) this.applyComponent(gen, c.body);
          return;
        }
        if (i + 1 >= STATE_TRIES || (c.status >= 400 && c.status < 500 && c.status !== 404)) {
          this.call("onError", { fatal: false, status: c.status, message: `state ${key}: HTTP ${c.status}` });
          return;
        }
        await sleep(pause);
      }
    } finally {
      this.fetching.delete(key);
    }
  }

  // Before a bucket is read: the `redactions` the latest manifest or
  // notice named, if not applied yet (a fetch may be under way).
  async catchUpRedactions(gen) {
    const v = this.listedRedactions;
    if (!v || this.known("redactions") >= v) return;
    const c = await this.getJson(`/state/redactions/${v}.json`);
    if (c.status === 200 && this.live(gen)) this.applyComponent(gen, c.body);
  }

  // Keeps `seqs` from the page; tells it of the ones it did not know.
  retract(seqs) {
    const fresh = seqs.filter((s) => s > 0 && !this.redacted.has(s));
    for (const s of fresh) {
      this.redacted.add(s);
      if (this.redacted.size > MAX_REDACTED) this.redacted.delete(this.redacted.values().next().value);
    }
    if (fresh.length) this.call("onRetract", fresh);
  }

  // A manifest read: the room's status and state, or a rejoin if its epoch
  // changed. false once this session is over.
  async readManifest(gen) {
    this.manifestAt = Date.now();
    this.manifestServerAt = this.serverNow();
    const m = await this.getJson("/manifest.json");
    if (!this.live(gen)) return false;
    if (m.status !== 200 || !m.body) return true;
    if (m.body.epoch !== this.epoch) {  // history lost or room re-created
      this.start();
      return false;
    }
    this.reviewDelayMs = Number(m.body.review_delay_ms || 0);
    if (m.body.status === "ROOM_STATUS_ENDED") this.call("onStatus", { state: "ended" });
    await this.syncComponents(gen, m.body);
    return this.live(gen);
  }

  // A manifest read unless one was made in the last MANIFEST_EVERY_MS and
  // after server time `since`.
  async checkManifest(gen, since = -Infinity) {
    const recent = Date.now() - this.manifestAt < MANIFEST_EVERY_MS && this.manifestServerAt >= since;
    return recent ? this.live(gen) : this.readManifest(gen);
  }

  // Every 2 s while the buckets do not stream, every 30 s while they do.
  async followManifest(gen) {
    while (this.live(gen)) {
      await sleep(MANIFEST_EVERY_MS);
      if (!this.live(gen)) return;
      const every = this.streaming === false ? MANIFEST_EVERY_MS : SLOW_MANIFEST_MS;
      if (Date.now() - this.manifestAt >= every) await this.readManifest(gen);
    }
  }

  // From the bucket holding the manifest's watermark (its notices only:
  // state set since that manifest) to the current one, then bucket by bucket.
  async followActions(gen, watermarkMs) {
    const d = this.bucketMs;
    const now = Math.floor(this.serverNow() / d);
    let k = watermarkMs > 0 ? Math.min(now, Math.max(Math.floor(watermarkMs / d), now - CATCH_UP_BUCKETS)) : now;
    let errors = 0;
    while (this.live(gen)) {
      const r = await this.readBucket(gen, k, k < now);
      if (!this.live(gen)) return;
      if (r.ok || r.bad) {
        if (r.bad) this.call("onError", r.bad);
        errors = 0;
        k++;
      } else if (r.status === 404) {
        // Not yet: further ahead than the origin holds, or the publisher is
        // late. Wait until the bucket is near, else retry after a pause; a
        // bucket that has started may mean the room ended or was re-created.
        const ahead = (k + 1) * d - this.serverNow();
        if (k * d <= this.serverNow() && !(await this.checkManifest(gen))) return;
        await sleep(ahead > 2500 ? ahead - 2000 : 200);
      } else {
        errors++;
        this.call("onStatus", { state: "retrying", status: r.status });
        await sleep(Math.min(100 * 2 ** errors, 5000));
      }
    }
  }

  // Bucket k (only its notices if `noticesOnly`): {ok} once its summary is
  // in, {bad}, or {status} (0: cut or unreachable) to ask again.
  async readBucket(gen, k, noticesOnly) {
    const pending = this.takeAhead(k) || this.request(k);
    this.scheduleAhead(gen, k + 1);
    let r;
    try {
      r = await pending;
    } catch (e) {
      if (e instanceof Refused) throw e;
      return { status: 0 };
    }
    if (r.status !== 200 || !r.body) {
      r.body?.cancel().catch(() => {});  // a "not yet" or an error page: not needed
      return { status: r.status };
    }
    if (!(await this.beforeRecords(gen, k, r.headers))) return {};
    try {
      const summary = await readSegment(r.body, (m) => this.deliver(gen, m, k, noticesOnly));
      if (!this.live(gen)) return {};
      this.observeClosed(k);
      this.lastSeq = Math.max(this.lastSeq, Number(summary.last_seq || 0));
      if (!(await this.afterSummary(gen, summary))) return {};
      this.call("onBucket", summary, k);
      return { ok: true };
    } catch (e) {
      if (e instanceof BadSegment) return { bad: e };
      return { status: 0 };
    }
  }

  // Bucket k answered: it streams (no ETag: an open bucket, or a cache's
  // copy of one) unless the server does not stream or this follower is
  // behind (a complete object from a server that streams, or an answer
  // long after k's end). Then the manifest first, so that the `redactions`
  // are known before its records: as before streaming (one read per 2 s)
  // and, if behind, one read made after k ended. false if the session ended.
  async beforeRecords(gen, k, headers) {
    const end = (k + 1) * this.bucketMs;
    const whole = Boolean(headers.get("ETag"));
    const late = this.serverNow() > end + this.reviewDelayMs + LATE_MS;
    const behind = late || (whole && this.serverStreams);
    this.streaming = !whole && !late;
    if (!whole) this.serverStreams = true;
    if (!this.streaming && !(await this.checkManifest(gen, behind ? end : -Infinity))) return false;
    await this.catchUpRedactions(gen);
    return this.live(gen);
  }

  // A summary that says the stream missed something (another epoch, a
  // notice the byte budget dropped): the manifest. false if the session ended.
  async afterSummary(gen, summary) {
    const otherEpoch = summary.epoch !== undefined && String(summary.epoch) !== String(this.epoch);
    const droppedNotice = Number((summary.dropped && summary.dropped.notice) || 0) > 0;
    if (otherEpoch || droppedNotice) return this.checkManifest(gen);
    return this.live(gen);
  }

  request(k) {
    const p = this.get(`/actions/${this.bucketMs}/${k}.json`);
    p.catch(() => {});  // awaited later, or dropped with its session
    return p;
  }

  takeAhead(k) {
    if (!this.ahead || this.ahead.k !== k) return null;
    const p = this.ahead.response;
    this.ahead = null;
    return p;
  }

  // Asks for bucket k PREFETCH_MS before it starts (at once if it has).
  scheduleAhead(gen, k) {
    if (this.ahead && this.ahead.k === k) return;
    clearTimeout(this.aheadTimer);
    this.ahead = null;
    const wait = k * this.bucketMs - PREFETCH_MS - this.serverNow();
    this.aheadTimer = setTimeout(() => {
      if (this.live(gen) && !this.ahead) this.ahead = { k, response: this.request(k) };
    }, Math.max(0, wait));
  }

  // One record of bucket k, once, in seq order; a notice (seq 0) is
  // applied, never delivered nor counted as a seq.
  deliver(gen, m, k, noticesOnly) {
    if (m.notice) {
      this.applyNotice(gen, m.notice);
      return;
    }
    if (noticesOnly) return;
    const seq = Number(m.seq || 0);
    if (seq && seq <= this.lastSeq) return;  // had it: a stream asked again
    if (seq) this.lastSeq = seq;
    if (m.retract) {
      this.retract((m.retract.seqs || []).map(Number));
      return;
    }
    if (m.redacted || this.redacted.has(seq)) return;
    this.call("onMessage", m, { bucket: k });
  }
}
