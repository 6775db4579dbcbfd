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
//   node viewer_test.mjs /path/to/roomcast OUT_DIR
//
// Bounded: the whole test gives up after 170 s; roomcast dev is started with
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
const deadline = setTimeout(() => fail("timed out after 170 s"), 170_000);
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
    "--viewers", "80", "--duration-s", "160",
  ], { stdio: ["ignore", "pipe", "inherit"] });
  // The origin's URL (the first line), then the private room's viewer URL.
  return new Promise((resolve, reject) => {
    const lines = createInterface({ input: dev.stdout });
    let origin = null;
    lines.on("line", (line) => {
      const m = line.match(/^listening on (http:\/\/\S+)$/);
      if (m) origin = m[1];
      const p = line.match(/^ +viewer: +(http:\/\/\S+\?room=demo-private&rc_token=\S+)$/);
      if (p && origin) resolve({ origin, privateViewer: p[1] });
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
  const { origin, privateViewer } = await startDev();
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
