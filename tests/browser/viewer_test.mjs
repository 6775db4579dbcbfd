// Browser test: headless Chromium (Debian's /usr/bin/chromium, driven by
// playwright-core) opens the viewer served by `roomcast dev`, sees comments
// arrive and the online count change, and saves a screenshot.
//
//   node viewer_test.mjs /path/to/roomcast OUT_DIR
//
// Bounded: the whole test gives up after 120 s; roomcast dev is started with
// --duration-s so it ends by itself even if this script dies, and is stopped
// here by its PID.
import { spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { chromium } from "playwright-core";

const [roomcast, outDir = "."] = process.argv.slice(2);
if (!roomcast) {
  console.error("usage: node viewer_test.mjs ROOMCAST_BINARY [OUT_DIR]");
  process.exit(2);
}
const deadline = setTimeout(() => fail("timed out after 120 s"), 120_000);
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
    "--viewers", "80", "--duration-s", "110",
  ], { stdio: ["ignore", "pipe", "inherit"] });
  return new Promise((resolve, reject) => {
    const lines = createInterface({ input: dev.stdout });
    lines.on("line", (line) => {
      const m = line.match(/^listening on (http:\/\/\S+)$/);
      if (m) resolve(m[1]);
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

async function main() {
  const origin = await startDev();
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
  await cleanup();
  console.log("1 passed, 0 failed");
}

main().catch((e) => fail(e.stack || String(e)));
