// roomcast viewer: renders a room that roomcast.mjs (client/js/, served
// beside this file) follows through the public, cacheable URLs only (the
// .json renditions a CDN serves): the manifest, the snapshot and the
// components that change, and each bucket's action segment, every record
// shown as soon as it arrives (an open bucket streams, DESIGN §10).
// proto3's JSON mapping writes 64-bit integers as strings: Number() them.
//
// Moderation (DESIGN §11): the module never passes on a retracted message
// or a takedown's stub, and onRetract takes shown ones off the screen;
// `ban` records show in the moderation panel until they end; the
// `settings` component's slow mode is shown; a pin set with a ttl is
// hidden when its expires_ms passes (and when the manifest drops it).
//
// A private room (DESIGN §12): the page's own URL carries the viewer's edge
// token (/viewer/?room=vip&rc_token=...), and every URL is read under
// /v1/private/{room}/ with ?rc_token= appended: a query parameter keeps the
// GET "simple" (no CORS preflight), and the edge keeps it out of its cache
// key, so every member shares one cached copy. A refusal (401, 403) is shown
// and ends the following: asking again with the same token cannot help.
import { follow } from "./roomcast.mjs";

const $ = (id) => document.getElementById(id);
const MAX_MESSAGES = 300;
let current = null;  // the View on screen

function roomFromUrl() {
  const q = new URLSearchParams(location.search).get("room");
  return q && /^[A-Za-z0-9_-]{1,64}$/.test(q) ? q : $("room").value;
}

// The edge token of a private room, or null for a public one.
function tokenFromUrl() {
  return new URLSearchParams(location.search).get("rc_token");
}

function setStatus(text) { $("status").textContent = text; }

function describe(value) {
  if (value === null || value === undefined) return "";
  if (typeof value === "string" || typeof value === "number") return String(value);
  if (typeof value === "object" && "text" in value) return String(value.text);
  return JSON.stringify(value);
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

// One watched room on screen: the module's callbacks, rendered.
class View {
  constructor(room, token) {
    this.room = room;
    this.token = token;
    this.bans = new Map();  // user -> {until, reason}, from ban records
    this.pinTimer = null;
    this.latency = { sum: 0, n: 0 };  // this bucket's, at arrival
    $("notice").hidden = true;
    this.follower = follow({
      base: "", room, token,
      onJoin: (man) => this.join(man),
      onMessage: (m) => this.showMessage(m),
      onRetract: (seqs) => this.retract(seqs),
      onState: (c) => (c.removed ? this.dropComponent(c.name) : this.showComponent(c)),
      onBucket: (summary) => this.bucketDone(summary),
      onStatus: (s) => this.showFollowStatus(s),
      onError: (e) => {
        if (e.fatal) showRefusal(room, e);
        else console.warn(`roomcast: ${e.message}`);
      },
    });
  }

  live() { return current === this; }

  stop() {
    this.follower.stop();
    clearTimeout(this.pinTimer);
  }

  notYet() {
    // The public prefix says nothing of a private room, by design.
    return this.token === null
      ? `no public room ${this.room} yet (a private room needs its link with an access token)`
      : `private room ${this.room} has no manifest yet`;
  }

  showFollowStatus(s) {
    if (s.state === "joining") setStatus(`joining ${this.room}…`);
    else if (s.state === "absent") setStatus(this.notYet());
    else if (s.state === "unreachable") setStatus("origin unreachable, retrying");
    else if (s.state === "retrying") setStatus(`origin answered ${s.status || "nothing"}; retrying`);
    else if (s.state === "ended") setStatus(`${this.room} has ended`);
  }

  // Joined, or joined again after an epoch change: a clean screen.
  join(man) {
    $("messages").replaceChildren();
    $("bans").replaceChildren();
    $("nobans").hidden = false;
    $("pinned").hidden = true;
    $("slowmode").hidden = true;
    $("more").hidden = true;
    this.bans.clear();
    const kind = this.token === null ? "" : "private room ";
    setStatus(`watching ${kind}${this.room} · ${man.config.bucket_ms} ms buckets · epoch ${man.epoch}`);
  }

  showComponent(c) {
    const value = c.value;
    if (c.name === "redactions") return;  // the module applies them
    if (c.name === "title") { $("title").textContent = describe(value); return; }
    if (c.name === "pinned") { this.showPin(c); return; }
    if (c.name === "settings") { this.showSettings(value); return; }
    if (c.name === "online") {
      $("online").textContent = typeof value === "object" ? describe(value.count ?? value) : describe(value);
      return;
    }
    if (c.name === "leaderboard") { this.showLeaderboard(value); return; }
    let dd = document.querySelector(`#state dd[data-name="${CSS.escape(c.name)}"]`);
    if (!dd) {
      const dt = document.createElement("dt");
      dt.textContent = c.name;
      dd = document.createElement("dd");
      dd.dataset.name = c.name;
      $("state").append(dt, dd);
    }
    dd.textContent = describe(value);
  }

  showLeaderboard(value) {
    const rows = Array.isArray(value) ? value : Object.entries(value || {}).map(([user, score]) => ({ user, score }));
    $("leaderboard").replaceChildren(...rows.map((row) => {
      const li = document.createElement("li");
      li.textContent = typeof row === "object" ? `${row.user ?? row.name ?? "?"} — ${row.score ?? row.value ?? ""}` : String(row);
      return li;
    }));
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
    const left = expires - this.follower.serverNow();
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

  // Takes the seqs off the screen (the module keeps them off).
  retract(seqs) {
    for (const seq of seqs) $("messages").querySelector(`li[data-seq="${seq}"]`)?.remove();
  }

  // A ban record: until_ms 0 lifts the ban.
  noteBan(m) {
    const until = Number(m.ban.until_ms || 0);
    if (until === 0) this.bans.delete(m.ban.user);
    else this.bans.set(m.ban.user, { until, reason: m.ban.reason || "" });
  }

  // The bans still running, in the moderation panel.
  showBans() {
    const now = this.follower.serverNow();
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

  // One record, as it arrives.
  showMessage(m) {
    if (m.ban) {
      this.noteBan(m);
      this.showBans();
    }
    const list = $("messages");
    list.prepend(this.renderMessage(m));
    while (list.children.length > MAX_MESSAGES) list.lastChild.remove();
    // Accepted by the publisher -> shown here.
    this.latency.sum += this.follower.serverNow() - Number(m.ts_ms);
    this.latency.n++;
  }

  // A bucket is complete: its drop counts, and the mean latency of its
  // records.
  bucketDone(summary) {
    this.showBans();
    const dropped = Object.entries(summary.dropped || {});
    if (dropped.length) {
      const total = dropped.reduce((n, [, c]) => n + Number(c), 0);
      $("more").hidden = false;
      $("more").textContent = `+${total.toLocaleString()} more (${dropped.map(([t, c]) => `${c} ${t}`).join(", ")})`;
    } else {
      $("more").hidden = true;
    }
    if (this.latency.n) {
      $("latency").textContent = `${Math.max(0, Math.round(this.latency.sum / this.latency.n))} ms`;
    }
    this.latency = { sum: 0, n: 0 };
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

function watch(room, token) {
  current?.stop();
  try {
    current = new View(room, token);
  } catch (e) {
    current = null;
    setStatus(String(e.message || e));
  }
}

$("pick").addEventListener("submit", (e) => {
  e.preventDefault();
  const room = $("room").value;
  // A token is for one room: it stays only while that room is watched.
  const token = room === roomFromUrl() ? tokenFromUrl() : null;
  const query = token === null ? "" : `&rc_token=${encodeURIComponent(token)}`;
  history.replaceState(null, "", `?room=${encodeURIComponent(room)}${query}`);
  watch(room, token);
});

$("room").value = roomFromUrl();
watch($("room").value, tokenFromUrl());
