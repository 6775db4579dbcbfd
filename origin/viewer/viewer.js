// roomcast viewer: follows a room through the public, cacheable URLs only
// (the .json renditions a CDN serves), in bucket-hold mode:
//   1. manifest.json          -> config, clock offset, state versions
//   2. snapshot/{V}.json      -> every state component at once
//   3. actions/{D}/{k}.json   -> bucket k, held by the origin until it closes
//   4. manifest.json again every few seconds -> changed components only
// proto3's JSON mapping writes 64-bit integers as strings: Number() them.
//
// Moderation (DESIGN §11): a `retract` record takes its messages off the
// screen; a message the `redactions` component lists, or a takedown's stub,
// is never shown; `ban` records show in the moderation panel until they
// end; the `settings` component's slow mode is shown; a pin set with a ttl
// is hidden when its expires_ms passes (and when the manifest drops it).
//
// A private room (DESIGN §12): the page's own URL carries the viewer's edge
// token (/viewer/?room=vip&rc_token=...), and every URL above is read under
// /v1/private/{room}/ with ?rc_token= appended: a query parameter keeps the
// GET "simple" (no CORS preflight), and the edge keeps it out of its cache
// key, so every member shares one cached copy. A refusal (401, 403) is shown
// and ends the loops: asking again with the same token cannot help.
"use strict";

const $ = (id) => document.getElementById(id);
const MAX_MESSAGES = 300;
const MAX_REDACTED = 20000;  // retracted seqs remembered (the publisher lists 4096)
let generation = 0;  // bumps on every (re)join; old loops stop

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function roomFromUrl() {
  const q = new URLSearchParams(location.search).get("room");
  return q && /^[A-Za-z0-9_-]{1,64}$/.test(q) ? q : $("room").value;
}

// The edge token of a private room, or null for a public one.
function tokenFromUrl() {
  return new URLSearchParams(location.search).get("rc_token");
}

// A 401 or 403: the room's objects are not for this viewer.
class Refused extends Error {
  constructor(status, detail) {
    super(`HTTP ${status}`);
    this.status = status;
    this.detail = detail;
  }
}

function showRefusal(room, e) {
  const notice = $("notice");
  notice.hidden = false;
  notice.dataset.status = String(e.status);
  notice.replaceChildren();
  const what = document.createElement("strong");
  const why = document.createElement("small");
  what.textContent = e.status === 401
    ? `🔒 ${room} is a private room: open it with the link you were given (it carries an access token).`
    : `🔒 Access to ${room} refused: this link's access token has expired, was altered, or is for another room. Ask for a fresh link.`;
  why.textContent = e.detail ? `The server said: ${e.detail}` : "";
  notice.append(what, why);
  setStatus(`refused (HTTP ${e.status})`);
}

function setStatus(text) { $("status").textContent = text; }

function describe(value) {
  if (value === null || value === undefined) return "";
  if (typeof value === "string" || typeof value === "number") return String(value);
  if (typeof value === "object" && "text" in value) return String(value.text);
  return JSON.stringify(value);
}

class Room {
  constructor(room, token) {
    this.room = room;
    this.token = token;
    this.base = `/v1/${token === null ? "rooms" : "private"}/${encodeURIComponent(room)}`;
    this.query = token === null ? "" : `?rc_token=${encodeURIComponent(token)}`;
    this.gen = ++generation;
    $("notice").hidden = true;
    // Server clock - local clock, kept inside bounds the answers prove:
    // Date (+ Age) says the server's time to the second, and any bucket
    // served closed had ended by the time it was answered.
    this.offsetLo = -Infinity;
    this.offsetHi = Infinity;
    this.components = {};    // name -> partial version shown
    this.manifestVersion = 0;  // of the newest manifest applied
    this.listedRedactions = 0;  // the `redactions` version it lists
    this.redacted = new Set();  // seqs never to show
    this.bans = new Map();     // user -> {until, reason}, from ban records
    this.pinTimer = null;
    this.lastSeq = 0;
    this.epoch = null;
  }
  live() { return this.gen === generation; }
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

  // One of the room's objects; throws Refused on 401 or 403.
  async getJson(path) {
    const r = await fetch(this.base + path + this.query);
    this.observeDate(r.headers);
    if (r.status === 401 || r.status === 403) {
      const body = await r.json().catch(() => ({}));
      throw new Refused(r.status, body.detail || "");
    }
    if (!r.ok) return { status: r.status, headers: r.headers, body: null };
    return { status: r.status, headers: r.headers, body: await r.json() };
  }

  // Runs one of the room's loops; a refusal stops them all, once.
  async guarded(loop) {
    try {
      await loop();
    } catch (e) {
      if (!(e instanceof Refused)) throw e;
      if (!this.live()) return;
      generation++;
      showRefusal(this.room, e);
    }
  }

  start() { this.guarded(() => this.join()); }

  notYet() {
    // The public prefix says nothing of a private room, by design.
    return this.token === null
      ? `no public room ${this.room} yet (a private room needs its link with an access token)`
      : `private room ${this.room} has no manifest yet`;
  }

  async join() {
    setStatus(`joining ${this.room}…`);
    let m;
    for (let delay = 250; this.live(); delay = Math.min(delay * 2, 5000)) {
      m = await this.getJson("/manifest.json").catch((e) => {
        if (e instanceof Refused) throw e;
        return { status: 0 };
      });
      if (m.status === 200) break;
      setStatus(m.status === 404 ? this.notYet() : "origin unreachable, retrying");
      await sleep(delay);
    }
    if (!this.live()) return;
    const man = m.body;
    this.bucketMs = man.config.bucket_ms;
    this.epoch = man.epoch;
    $("messages").replaceChildren();
    $("bans").replaceChildren();
    $("nobans").hidden = false;
    $("pinned").hidden = true;
    $("slowmode").hidden = true;
    // The state first: the `redactions` must be known before any message shows.
    await this.loadSnapshot(man);
    const kind = this.token === null ? "" : "private room ";
    setStatus(`watching ${kind}${this.room} · ${this.bucketMs} ms buckets · epoch ${man.epoch}`);
    this.guarded(() => this.followManifest());
    this.guarded(() => this.followActions());
  }

  // The `redactions` version `man` lists (0: none).
  noteRedactions(man) {
    const cv = (man.components || []).find((c) => c.name === "redactions");
    this.listedRedactions = cv ? Number(cv.version) : 0;
  }

  // Before a segment is shown: the `redactions` the latest manifest lists,
  // if the manifest loop has not read them yet (it may be mid-way).
  async catchUpRedactions() {
    const v = this.listedRedactions;
    if (!v || (this.components.redactions || 0) >= v) return;
    const c = await this.getJson(`/state/redactions/${v}.json`).catch((e) => {
      if (e instanceof Refused) throw e;
      return { status: 0 };
    });
    if (c.status === 200 && this.live()) this.showComponent(c.body);
  }

  async loadSnapshot(man) {
    this.manifestVersion = Number(man.version || 0);
    this.noteRedactions(man);
    const v = Number(man.state_version || 0);
    if (v === 0) return;
    const s = await this.getJson(`/snapshot/${v}.json`);
    if (s.status === 200) {
      for (const c of s.body.components || []) this.showComponent(c);
    } else {
      await this.syncComponents(man);
    }
  }

  // Fetches only the components whose partial version moved, and drops
  // those the manifest no longer lists (a ttl ran out). An older manifest
  // (a cache's copy) is not applied.
  async syncComponents(man) {
    const version = Number(man.version || 0);
    if (version < this.manifestVersion) return;
    this.manifestVersion = version;
    this.noteRedactions(man);
    const listed = new Set((man.components || []).map((cv) => cv.name));
    for (const name of Object.keys(this.components)) {
      if (!listed.has(name)) this.dropComponent(name);
    }
    for (const cv of man.components || []) {
      const v = Number(cv.version);
      if ((this.components[cv.name] || 0) >= v) continue;
      const c = await this.getJson(`/state/${cv.name}/${v}.json`);
      if (c.status === 200) this.showComponent(c.body);
    }
  }

  showComponent(c) {
    if ((this.components[c.name] || 0) > Number(c.version)) return;
    this.components[c.name] = Number(c.version);
    const value = c.value;
    if (c.name === "title") { $("title").textContent = describe(value); return; }
    if (c.name === "pinned") { this.showPin(c); return; }
    if (c.name === "redactions") {
      for (const seq of (value && value.seqs) || []) this.retract(Number(seq));
      return;
    }
    if (c.name === "settings") { this.showSettings(value); return; }
    if (c.name === "online") {
      $("online").textContent = typeof value === "object" ? describe(value.count ?? value) : describe(value);
      return;
    }
    if (c.name === "leaderboard") {
      const rows = Array.isArray(value) ? value : Object.entries(value || {}).map(([user, score]) => ({ user, score }));
      $("leaderboard").replaceChildren(...rows.map((row) => {
        const li = document.createElement("li");
        li.textContent = typeof row === "object" ? `${row.user ?? row.name ?? "?"} — ${row.score ?? row.value ?? ""}` : String(row);
        return li;
      }));
      return;
    }
    let dd = document.querySelector(`#state dd[data-name="${c.name}"]`);
    if (!dd) {
      const dt = document.createElement("dt");
      dt.textContent = c.name;
      dd = document.createElement("dd");
      dd.dataset.name = c.name;
      $("state").append(dt, dd);
    }
    dd.textContent = describe(value);
  }

  // A pin set with a ttl carries its expires_ms: hidden then, without
  // waiting for a manifest that no longer lists it.
  showPin(c) {
    clearTimeout(this.pinTimer);
    const pin = $("pinned");
    pin.hidden = !c.value;
    pin.textContent = "📌 " + describe(c.value);
    const expires = Number(c.expires_ms || 0);
    if (!expires || !c.value) return;
    const left = expires - this.serverNow();
    if (left <= 0) {
      pin.hidden = true;
    } else {
      this.pinTimer = setTimeout(() => { if (this.live()) pin.hidden = true; }, left);
    }
  }

  // {"slow_mode_s": N, "review_delay_ms": H}
  showSettings(value) {
    const n = Number((value && value.slow_mode_s) || 0);
    $("slowmode").hidden = !(n > 0);
    $("slowmode").textContent = n > 0 ? `🐢 slow mode: one message per ${n} s` : "";
  }

  // The manifest no longer lists `name`: its ttl ran out (or it was removed).
  dropComponent(name) {
    delete this.components[name];
    if (name === "pinned") {
      clearTimeout(this.pinTimer);
      $("pinned").hidden = true;
    } else if (name === "title") {
      $("title").textContent = "—";
    } else if (name === "settings") {
      this.showSettings({});
    } else if (name !== "redactions") {  // what was retracted stays hidden
      const dd = document.querySelector(`#state dd[data-name="${CSS.escape(name)}"]`);
      if (dd) { dd.previousElementSibling?.remove(); dd.remove(); }
    }
  }

  // Takes `seq` off the screen and keeps it off.
  retract(seq) {
    this.redacted.add(seq);
    if (this.redacted.size > MAX_REDACTED) this.redacted.delete(this.redacted.values().next().value);
    $("messages").querySelector(`li[data-seq="${seq}"]`)?.remove();
  }

  // A ban record: until_ms 0 lifts the ban.
  noteBan(m) {
    const until = Number(m.ban.until_ms || 0);
    if (until === 0) this.bans.delete(m.ban.user);
    else this.bans.set(m.ban.user, { until, reason: m.ban.reason || "" });
  }

  // The bans still running, in the moderation panel.
  showBans() {
    const now = this.serverNow();
    for (const [user, ban] of this.bans) if (ban.until <= now) this.bans.delete(user);
    $("bans").replaceChildren(...[...this.bans].map(([user, ban]) => {
      const li = document.createElement("li");
      li.dataset.user = user;
      const left = Math.ceil((ban.until - now) / 1000);
      li.textContent = `🚫 ${user} banned for ${left} s more${ban.reason ? ` (${ban.reason})` : ""}`;
      return li;
    }));
    $("nobans").hidden = this.bans.size > 0;
  }

  async followManifest() {
    while (this.live()) {
      await sleep(2000);
      const m = await this.getJson("/manifest.json").catch((e) => {
        if (e instanceof Refused) throw e;
        return null;
      });
      if (!m || m.status !== 200 || !this.live()) continue;
      if (m.body.epoch !== this.epoch) {  // history lost or room re-created
        new Room(this.room, this.token).start();
        return;
      }
      if (m.body.status === "ROOM_STATUS_ENDED") setStatus(`${this.room} has ended`);
      await this.syncComponents(m.body);
      this.showBans();
    }
  }

  async followActions() {
    const d = this.bucketMs;
    let k = Math.floor(this.serverNow() / d);
    let errors = 0;
    while (this.live()) {
      let r;
      try {
        r = await this.getJson(`/actions/${d}/${k}.json`);
      } catch (e) {
        if (e instanceof Refused) throw e;
        r = { status: 0 };
      }
      if (!this.live()) return;
      if (r.status === 200) {
        errors = 0;
        this.observeClosed(k);
        await this.catchUpRedactions();
        if (!this.live()) return;
        this.showSegment(r.body);
        k++;
        continue;
      }
      if (r.status === 404) {
        // Not yet: further ahead than the origin holds, or the publisher is
        // late. Wait until the bucket is near, else retry after a pause.
        const ahead = (k + 1) * d - this.serverNow();
        await sleep(ahead > 2500 ? ahead - 2000 : 200);
        continue;
      }
      errors++;
      setStatus(`origin answered ${r.status || "nothing"}; retrying`);
      await sleep(Math.min(250 * 2 ** errors, 5000));
    }
  }

  showSegment(seg) {
    const messages = seg.messages || [];
    const first = Number(seg.first_seq || 0);
    if (first && this.lastSeq && first !== this.lastSeq + 1) {
      console.warn(`seq gap: had ${this.lastSeq}, segment starts at ${first}`);
    }
    if (seg.last_seq) this.lastSeq = Number(seg.last_seq);
    const list = $("messages");
    for (const m of messages) {
      // A retraction (DESIGN §11) takes its targets off the screen and is
      // not shown itself.
      if (m.retract) {
        for (const seq of m.retract.seqs || []) this.retract(Number(seq));
        continue;
      }
      // A takedown's stub, or a message the room's redactions list: never.
      if (m.redacted || this.redacted.has(Number(m.seq || 0))) continue;
      if (m.ban) this.noteBan(m);
      list.prepend(this.renderMessage(m));
    }
    this.showBans();
    while (list.children.length > MAX_MESSAGES) list.lastChild.remove();
    const dropped = Object.entries(seg.dropped || {});
    if (dropped.length) {
      const total = dropped.reduce((n, [, c]) => n + Number(c), 0);
      $("more").hidden = false;
      $("more").textContent = `+${total.toLocaleString()} more (${dropped.map(([t, c]) => `${c} ${t}`).join(", ")})`;
    } else {
      $("more").hidden = true;
    }
    if (messages.length) {
      // Mean over the bucket: accepted by the publisher -> shown here.
      const now = this.serverNow();
      const mean = messages.reduce((sum, m) => sum + (now - Number(m.ts_ms)), 0) / messages.length;
      $("latency").textContent = `${Math.max(0, Math.round(mean))} ms`;
    }
  }

  renderMessage(m) {
    const li = document.createElement("li");
    li.dataset.seq = String(Number(m.seq || 0));
    const who = document.createElement("span");
    who.className = "who";
    who.textContent = m.sender || "?";
    const what = document.createElement("span");
    if (m.comment) { what.textContent = m.comment.text; }
    else if (m.gift) { what.className = "gift"; what.textContent = `sent ${m.gift.count || 1} × ${m.gift.gift_id} 🎁`; }
    else if (m.like) { what.className = "like"; what.textContent = `liked ×${m.like.count || 1}`; }
    else if (m.enter) { what.className = "enter"; what.textContent = "entered"; }
    else if (m.custom) { what.textContent = `${m.custom.name}: ${JSON.stringify(m.custom.data || {})}`; }
    else if (m.ban) {
      what.className = "enter";
      what.textContent = Number(m.ban.until_ms || 0) ? `banned ${m.ban.user}` : `lifted the ban of ${m.ban.user}`;
    }
    li.append(who, what);
    return li;
  }
}

$("pick").addEventListener("submit", (e) => {
  e.preventDefault();
  const room = $("room").value;
  // A token is for one room: it stays only while that room is watched.
  const token = room === roomFromUrl() ? tokenFromUrl() : null;
  const query = token === null ? "" : `&rc_token=${encodeURIComponent(token)}`;
  history.replaceState(null, "", `?room=${encodeURIComponent(room)}${query}`);
  new Room(room, token).start();
});

$("room").value = roomFromUrl();
new Room($("room").value, tokenFromUrl()).start();
