// Browser test: headless Chromium (Debian's /usr/bin/chromium, driven by
// playwright-core) opens the viewer served by `roomcast dev`, sees comments
// arrive and the online count change, and saves a screenshot. Then the
// private demo room (DESIGN §12): watched with the edge token of the URL dev
// printed (every read under /v1/private/ with rc_token), refused without a
// token (401) and with a forged one (403), refused once a token expires
// while the page watches, and the link with rc_token left off says a private
// room needs its link with an access token. Screenshots: viewer.png, viewer-private.png,
// viewer-private-no-token.png, viewer-private-refused.png,
// viewer-private-expired.png.
//
// Moderation (DESIGN §11), through the publisher's API: a comment posted,
// seen, retracted and gone from the screen (retraction-before.png,
// retraction-after.png); a ban shown in the moderation panel; slow mode
// shown after PATCH and gone after it is turned off; a pin set with a 3 s
// ttl shown and then hidden (at its expires_ms), another component with a
// ttl gone at its expires_ms (the module drops it: an expiry has no notice,
// and a streaming follower does not poll the manifest); and a viewer whose
// bucket reads are held (a slow connection) while a comment is published and
// retracted never shows it: the bucket read late did not stream, so the
// module reads the manifest and its `redactions` before the bucket's records.
//
// Live segments (DESIGN §10): in a room of 2 s buckets, a comment is on the
// page before the page's read of its bucket completes (event order).
//
//   node viewer_test.mjs /path/to/roomcast OUT_DIR
//
// Bounded: the whole test gives up after 200 s; roomcast dev is started with
// --duration-s so it ends by itself even if this script dies, and is stopped
// here by its PID.
import { execFileSync, spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { chromium } from "playwright-core";

const [roomcast, outDir = "."] = process.argv.slice(2);
if (!roomcast) {
  console.error("usage: node viewer_test.mjs ROOMCAST_BINARY [OUT_DIR]");
  process.exit(2);
}
const deadline = setTimeout(() => fail("timed out after 200 s"), 200_000);
const data = mkdtempSync(join(tmpdir(), "roomcast-browser-"));
let dev = null;
let browser = null;

async function cleanup() {
  clearTimeout(deadline);
  if (browser) await browser.close().catch(() => {});
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
    "--publisher-listen", "127.0.0.1:0", "--bucket-ms", "250", "--rate", "8",
    "--viewers", "80", "--duration-s", "190",
  ], { stdio: ["ignore", "pipe", "inherit"] });
  // The origin's URL (the first line), the publisher's, then the private
  // room's viewer URL.
  return new Promise((resolve, reject) => {
    const lines = createInterface({ input: dev.stdout });
    let origin = null;
    let publisher = null;
    lines.on("line", (line) => {
      const m = line.match(/^listening on (http:\/\/\S+)$/);
      if (m) origin = m[1];
      const q = line.match(/^publisher on +(http:\/\/\S+)$/);
      if (q) publisher = q[1];
      const p = line.match(/^ +viewer: +(http:\/\/\S+\?room=demo-private&rc_token=\S+)$/);
      if (p && origin && publisher) resolve({ origin, publisher, privateViewer: p[1] });
    });
    dev.once("exit", (code) => reject(new Error(`roomcast dev exited with ${code}`)));
  });
}

async function waitFor(what, ms, check) {
  const until = Date.now() + ms;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > until) await fail(`no ${what} within ${ms / 1000} s`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

// An edge token for the private demo room valid for `ttl` seconds, minted
// with the edge secret dev keeps in DATA/dev-secrets (its third line).
function mintEdgeToken(ttl) {
  const secret = process.env.ROOMCAST_EDGE_SECRET ||
                 readFileSync(join(data, "dev-secrets"), "utf8").split("\n")[2];
  return execFileSync(roomcast, ["token", "--edge", "--room", "demo-private", "--ttl", String(ttl)],
                      { env: { ...process.env, ROOMCAST_EDGE_SECRET: secret } }).toString().trim();
}

// A JWT for the public demo room, minted with the JWT secret dev keeps in
// DATA/dev-secrets (its second line).
function mintJwt(sub, role, room = "demo") {
  const secret = process.env.ROOMCAST_JWT_SECRET ||
                 readFileSync(join(data, "dev-secrets"), "utf8").split("\n")[1];
  return execFileSync(roomcast, ["token", "--sub", sub, "--role", role, "--room", room, "--ttl", "600"],
                      { env: { ...process.env, ROOMCAST_JWT_SECRET: secret } }).toString().trim();
}

// One call to the publisher's API on the demo room; the parsed JSON reply.
async function api(publisher, method, path, token, body) {
  const r = await fetch(`${publisher}/v1/rooms/demo${path}`, {
    method,
    headers: { Authorization: `Bearer ${token}`, "Content-Type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await r.text();
  if (r.status !== 200) await fail(`${method} ${path}: HTTP ${r.status} ${text}`);
  return JSON.parse(text);
}

// Retraction, ban, slow mode and an expiring pin, on the page watching the
// public demo room.
async function moderation(page, publisher) {
  const mod = mintJwt("test-moderator", "moderator");
  const viewer = mintJwt("test-viewer", "audience");
  const text = `please retract me ${Date.now()}`;
  const { seq } = await api(publisher, "POST", "/messages", viewer, { type: "comment", text });
  const item = page.locator(`#messages li[data-seq="${Number(seq)}"]`);
  await waitFor("the comment to retract", 15_000, async () => (await item.count()) === 1);
  if (!(await item.textContent()).includes(text)) await fail(`#${seq} does not show '${text}'`);
  await item.evaluate((li) => { li.style.outline = "2px solid #f85149"; });
  const before = join(outDir, "retraction-before.png");
  await page.screenshot({ path: before });
  console.log(`comment #${seq} shown; screenshot: ${before}`);
  await api(publisher, "DELETE", `/messages/${seq}`, mod, { reason: "browser test" });
  await waitFor("the retracted comment to go", 15_000, async () =>
    (await item.count()) === 0 && !((await textOf(page, "#messages")).includes(text)));
  const after = join(outDir, "retraction-after.png");
  await page.screenshot({ path: after });
  console.log(`comment #${seq} retracted and gone; screenshot: ${after}`);

  await api(publisher, "POST", "/bans", mod, { user: "test-troll", duration_s: 60, reason: "browser test" });
  await waitFor("the ban in the moderation panel", 15_000, async () =>
    ((await page.locator('#bans li[data-user="test-troll"]').textContent().catch(() => "")) || "")
      .includes("test-troll banned"));
  console.log(`ban shown: ${await textOf(page, "#bans")}`);

  await api(publisher, "PATCH", "", mod, { slow_mode_s: 5 });
  await waitFor("slow mode shown", 15_000, async () =>
    (await page.locator("#slowmode").isVisible()) &&
    (await textOf(page, "#slowmode")).includes("slow mode: one message per 5 s"));
  console.log(`settings: ${await textOf(page, "#slowmode")}`);
  await api(publisher, "PATCH", "", mod, { slow_mode_s: 0 });
  await waitFor("slow mode gone", 15_000, () => page.locator("#slowmode").isHidden());

  const pin = `expiring pin ${Date.now()}`;
  const r = await fetch(`${publisher}/v1/rooms/demo/state/pinned?ttl_s=3`, {
    method: "PUT", headers: { Authorization: `Bearer ${mod}`, "Content-Type": "application/json" },
    body: JSON.stringify(pin),
  });
  if (r.status !== 200) await fail(`PUT pinned?ttl_s=3: HTTP ${r.status} ${await r.text()}`);
  await waitFor("the expiring pin", 15_000, async () =>
    (await page.locator("#pinned").isVisible()) && (await textOf(page, "#pinned")).includes(pin));
  await waitFor("the expired pin to go", 15_000, () => page.locator("#pinned").isHidden());
  console.log("pin with a 3 s ttl shown, then hidden");

  // Another component with a ttl: the page has no timer for it, so it goes
  // when the module drops it at its expires_ms.
  const put = await fetch(`${publisher}/v1/rooms/demo/state/poll?ttl_s=3`, {
    method: "PUT", headers: { Authorization: `Bearer ${mod}`, "Content-Type": "application/json" },
    body: JSON.stringify("poll: best song tonight?"),
  });
  if (put.status !== 200) await fail(`PUT poll?ttl_s=3: HTTP ${put.status} ${await put.text()}`);
  const poll = page.locator('#state dd[data-name="poll"]');
  await waitFor("the poll component", 15_000, async () => (await poll.count()) === 1);
  await waitFor("the expired poll to go", 20_000, async () => (await poll.count()) === 0);
  console.log("a component with a 3 s ttl dropped at its expires_ms");
}

// A page whose action reads are held while a comment is published and
// retracted: when they go on (once the room's `redactions` list it), the
// comment's bucket is read late, as a complete object, and the module reads
// the manifest and the `redactions` before its records, so the comment never
// reaches the screen (a MutationObserver records every message ever added).
// The comment is posted once every read let through before the hold has
// completed.
async function slowViewer(origin, publisher) {
  const page = await browser.newPage({ viewport: { width: 1100, height: 700 } });
  await page.addInitScript(() => {
    window.__seen = [];
    new MutationObserver((muts) => {
      for (const m of muts) {
        for (const n of m.addedNodes) if (n.nodeType === 1 && n.tagName === "LI") window.__seen.push(n.textContent);
      }
    }).observe(document, { subtree: true, childList: true });
  });
  let hold = false;
  const held = [];
  // Reads let through and not yet complete: the module asks for the next
  // bucket before the current one ends, and an open bucket streams, so a
  // read sent before the hold may still deliver what is published after.
  const through = new Set();
  await page.route(/\/v1\/rooms\/demo\/actions\//, (route) => {
    if (hold) return held.push(route);
    through.add(route.request());
    return route.continue();
  });
  for (const ev of ["requestfinished", "requestfailed"]) page.on(ev, (req) => through.delete(req));
  const listed = new Set();
  page.on("response", async (r) => {
    if (!/\/v1\/rooms\/demo\/state\/redactions\/\d+\.json$/.test(new URL(r.url()).pathname)) return;
    const body = await r.json().catch(() => ({}));
    for (const seq of (body.value && body.value.seqs) || []) listed.add(Number(seq));
  });
  await page.goto(`${origin}/viewer/?room=demo`);
  await waitFor("the slow viewer's first comments", 30_000, async () => (await page.locator("#messages li").count()) > 0);
  hold = true;
  await waitFor("a held bucket read, none let through still open", 10_000,
                async () => held.length > 0 && through.size === 0);

  const viewer = mintJwt("slow-test-viewer", "audience");
  const text = `retracted while the viewer was slow ${Date.now()}`;
  const { seq } = await api(publisher, "POST", "/messages", viewer, { type: "comment", text });
  await waitFor("the comment published", 15_000, async () => {
    const m = await fetch(`${origin}/v1/rooms/demo/manifest.json`).then((r) => r.json()).catch(() => ({}));
    return Number(m.last_seq || 0) > seq;
  });
  await api(publisher, "DELETE", `/messages/${seq}`, mintJwt("test-moderator", "moderator"), {});
  await waitFor("the redactions published", 20_000, async () => {
    const m = await fetch(`${origin}/v1/rooms/demo/manifest.json`).then((r) => r.json()).catch(() => ({}));
    const cv = (m.components || []).find((c) => c.name === "redactions");
    if (!cv) return false;
    const c = await fetch(`${origin}/v1/rooms/demo/state/redactions/${cv.version}.json`)
      .then((r) => r.json()).catch(() => ({}));
    return ((c.value && c.value.seqs) || []).map(Number).includes(Number(seq));
  });
  hold = false;
  for (const route of held.splice(0)) await route.continue();
  const later = `after the slow spell ${Date.now()}`;
  const after = await api(publisher, "POST", "/messages", viewer, { type: "comment", text: later });
  await waitFor("the slow viewer to catch up", 20_000, async () =>
    (await page.locator(`#messages li[data-seq="${Number(after.seq)}"]`).count()) === 1);
  const seen = await page.evaluate(() => window.__seen);
  if (seen.some((t) => t.includes(text))) await fail(`#${seq} was shown though its redaction was known`);
  if (!listed.has(Number(seq))) await fail(`the page never read the redactions listing #${seq}`);
  console.log(`slow viewer: #${seq} (retracted while its bucket read was held) never shown; ${seen.length} messages seen`);
  await page.close();
}

// Live segments (DESIGN §10): in a room of 2 s buckets, a comment posted
// in the first half of its bucket is on the page before the page's read of
// that bucket completes (the origin streams the open bucket, the module
// shows each record as it arrives). Event order, not time: the page reports
// each message it adds, and the bucket's request finishing is logged beside.
async function streamsBeforeClose(origin, publisher) {
  const room = "live-js";
  const D = 2000;
  const open = await fetch(`${publisher}/v1/rooms/${room}`, {
    method: "POST",
    headers: { Authorization: `Bearer ${mintJwt("test-service", "service", room)}`, "Content-Type": "application/json" },
    body: JSON.stringify({ bucket_ms: D }),
  });
  if (open.status !== 200) await fail(`open ${room}: HTTP ${open.status} ${await open.text()}`);
  const page = await browser.newPage({ viewport: { width: 1100, height: 700 } });
  const events = [];
  await page.exposeBinding("__shown", (_, text) => events.push(`shown ${text}`));
  await page.addInitScript(() => {
    new MutationObserver((muts) => {
      for (const m of muts) {
        for (const n of m.addedNodes) if (n.nodeType === 1 && n.tagName === "LI") window.__shown(n.textContent);
      }
    }).observe(document, { subtree: true, childList: true });
  });
  const bucketRe = new RegExp(`/v1/rooms/${room}/actions/${D}/(\\d+)\\.json$`);
  page.on("requestfinished", (req) => {
    const m = new URL(req.url()).pathname.match(bucketRe);
    if (!m) return;
    // In order now; a "not yet" (404) answer is not the bucket's end.
    const at = events.push(`finished ${m[1]}`) - 1;
    req.response().then((res) => { if (res && res.status() === 200) events[at] = `closed ${m[1]}`; });
  });
  await page.goto(`${origin}/viewer/?room=${room}`);
  await waitFor(`the page watching ${room}`, 20_000, async () =>
    (await textOf(page, "#status")).startsWith(`watching ${room}`));
  const poster = mintJwt("live-test-viewer", "audience", room);
  for (let attempt = 0; ; attempt++) {
    const text = `streamed before its bucket closed ${Date.now()}`;
    const r = await fetch(`${publisher}/v1/rooms/${room}/messages`, {
      method: "POST", headers: { Authorization: `Bearer ${poster}`, "Content-Type": "application/json" },
      body: JSON.stringify({ type: "comment", text }),
    });
    if (r.status !== 200) await fail(`POST ${room}/messages: HTTP ${r.status} ${await r.text()}`);
    const { ts_ms: ts, bucket } = await r.json();
    const into = Number(ts) - Number(bucket) * D;
    if (into > D / 2 && attempt < 5) {
      // Late in its bucket: post again early in the next one.
      await new Promise((res) => setTimeout(res, D - into + 50));
      continue;
    }
    const shown = `shown live-test-viewer${text}`;
    const closed = `closed ${Number(bucket)}`;
    await waitFor("the streamed comment and its bucket's end", 20_000, async () =>
      events.includes(shown) && events.includes(closed));
    if (events.indexOf(shown) > events.indexOf(closed)) {
      await fail(`the comment reached the page only with its bucket's end: ${events.join(" | ")}`);
    }
    console.log(`live segments: a comment ${into} ms into bucket ${bucket} shown before the bucket's read completed`);
    break;
  }
  await page.close();
}

const textOf = async (page, sel) => ((await page.locator(sel).textContent()) || "").trim();

// The private demo room with the URL dev printed: every read of the room
// goes to /v1/private/ with the token, comments and the title arrive.
async function watchPrivate(privateViewer, shot) {
  const page = await browser.newPage({ viewport: { width: 1100, height: 700 } });
  const reads = [];
  page.on("request", (req) => {
    const u = new URL(req.url());
    if (u.pathname.startsWith("/v1/")) reads.push(u);
  });
  await page.goto(privateViewer);
  const comments = await waitFor("private comments", 40_000, async () => {
    const n = await page.locator("#messages li").count();
    return n >= 2 ? n : 0;
  });
  const title = await textOf(page, "#title");
  if (!title.includes("Members-only")) await fail(`private room title missing: '${title}'`);
  const status = await textOf(page, "#status");
  if (!status.startsWith("watching private room demo-private")) await fail(`status: '${status}'`);
  if (!(await page.locator("#notice").isHidden())) await fail("a refusal shown to a member");
  const stray = reads.filter((u) => !u.pathname.startsWith("/v1/private/demo-private/") ||
                                    !u.searchParams.get("rc_token"));
  if (reads.length === 0 || stray.length) await fail(`reads outside /v1/private/ or without rc_token: ${stray}`);
  console.log(`private room: ${comments} comments, title '${title}', ${reads.length} reads, all under /v1/private/ with rc_token`);
  await page.screenshot({ path: shot });
  console.log(`screenshot: ${shot}`);
  await page.close();
}

// The viewer opened at `url` shows a refusal with HTTP `status` (after
// watching the room first, if `watchFirst`) and no chat.
async function expectRefusal(url, status, what, shot, watchFirst = false) {
  const page = await browser.newPage({ viewport: { width: 1100, height: 700 } });
  await page.goto(url);
  if (watchFirst) {
    await waitFor(`${what}: watching first`, 15_000, async () =>
      (await textOf(page, "#status")).startsWith("watching private room"));
  }
  await waitFor(`${what}: a ${status} refusal`, 30_000, async () =>
    (await page.locator("#notice").isVisible()) &&
    (await page.locator("#notice").getAttribute("data-status")) === String(status));
  const notice = await textOf(page, "#notice");
  const expect = status === 401 ? "is a private room" : "refused";
  if (!notice.includes(expect)) await fail(`${what}: notice says '${notice}'`);
  if (!watchFirst && (await page.locator("#messages li").count()) !== 0) {
    await fail(`${what}: chat shown anyway`);
  }
  console.log(`${what}: ${notice}`);
  if (shot) {
    await page.screenshot({ path: shot });
    console.log(`screenshot: ${shot}`);
  }
  await page.close();
}

async function privateRoom(origin, privateViewer) {
  await watchPrivate(privateViewer, join(outDir, "viewer-private.png"));
  const token = new URL(privateViewer).searchParams.get("rc_token");
  const base = `${origin}/viewer/?room=demo-private`;
  await expectRefusal(`${base}&rc_token=`, 401, "no token", join(outDir, "viewer-private-no-token.png"));
  const forged = token.slice(0, -1) + (token.endsWith("0") ? "1" : "0");
  await expectRefusal(`${base}&rc_token=${encodeURIComponent(forged)}`, 403, "forged token",
                      join(outDir, "viewer-private-refused.png"));
  // A member's token runs out while the page watches: the next read is refused.
  await expectRefusal(`${base}&rc_token=${encodeURIComponent(mintEdgeToken(3))}`, 403,
                      "expired while watching", join(outDir, "viewer-private-expired.png"), true);

  // The link without its token: the public prefix knows nothing of the room
  // (by design), so the page cannot say "refused"; it must still tell the
  // reader that a private room needs a link with an access token.
  const page = await browser.newPage();
  await page.goto(base);
  const status = await waitFor("the no-public-room status", 15_000, async () => {
    const t = await textOf(page, "#status");
    return t.startsWith("no public room demo-private") ? t : null;
  });
  if (!status.includes("needs its link with an access token") ||
      !(await page.locator("#status").isVisible())) {
    await fail(`no token: the page does not say a token is needed: '${status}'`);
  }
  if ((await page.locator("#messages li").count()) !== 0) await fail("private chat shown without a token");
  console.log(`no rc_token at all: ${status}`);
  await page.close();
}

async function main() {
  const { origin, publisher, privateViewer } = await startDev();
  browser = await chromium.launch({
    executablePath: "/usr/bin/chromium",
    // As root in CI, without a sandbox; no background traffic (the machine
    // has no network beyond loopback).
    args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
           "--disable-background-networking", "--disable-component-update",
           "--disable-sync"],
  });
  const page = await browser.newPage({ viewport: { width: 1100, height: 700 } });
  const logs = [];
  page.on("console", (msg) => logs.push(`${msg.type()}: ${msg.text()}`));
  await page.goto(`${origin}/viewer/?room=demo`);

  const comments = await waitFor("comments", 30_000, async () => {
    const n = await page.locator("#messages li").count();
    return n >= 3 ? n : 0;
  });
  console.log(`comments shown: ${comments}`);
  mkdirSync(outDir, { recursive: true });
  await moderation(page, publisher);
  await slowViewer(origin, publisher);
  await streamsBeforeClose(origin, publisher);

  const numberIn = async (sel) => {
    const t = (await page.locator(sel).textContent()) || "";
    return /^\d+$/.test(t.trim()) ? Number(t.trim()) : null;
  };
  const firstOnline = await waitFor("online count", 30_000, () => numberIn("#online"));
  const laterOnline = await waitFor("change of the online count", 40_000, async () => {
    const n = await numberIn("#online");
    return n !== null && n !== firstOnline ? n : null;
  });
  console.log(`online count: ${firstOnline} -> ${laterOnline}`);

  const latency = (await page.locator("#latency").textContent()) || "";
  if (!/^\d+ ms$/.test(latency.trim())) await fail(`latency figure missing: '${latency}'`);
  const title = (await page.locator("#title").textContent()) || "";
  if (!title.trim() || title.trim() === "—") await fail("the title component never arrived");
  console.log(`title: ${title.trim()}; latency: ${latency.trim()}`);

  mkdirSync(outDir, { recursive: true });
  const shot = join(outDir, "viewer.png");
  await page.screenshot({ path: shot });
  console.log(`screenshot: ${shot}`);
  if (logs.some((l) => l.startsWith("error"))) console.log(logs.join("\n"));
  await privateRoom(origin, privateViewer);
  await cleanup();
  console.log("1 passed, 0 failed");
}

main().catch((e) => fail(e.stack || String(e)));
