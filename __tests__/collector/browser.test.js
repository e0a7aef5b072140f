"use strict";
// The live page in a real browser (Debian's chromium driven by playwright-core,
// headless, loopback only): events appear as they arrive, and clicking one
// shows its payload.
const { test, before, after } = require("node:test");
const assert = require("node:assert/strict");
const fs = require("fs");
const os = require("os");
const path = require("path");
const { startDebugger } = require("../../debugger");
const { post, track } = require("./helpers");

const CHROMIUM = "/usr/bin/chromium";
const skip = fs.existsSync(CHROMIUM) ? false : `${CHROMIUM} is not installed (apt-get install -y chromium)`;

let dbg, context, page, profile, evil;
const REBOUND = "127.attacker.example";
const outside = [];
const pageErrors = [];

before(async () => {
  if (skip) return;
  const { chromium } = require("playwright-core");
  dbg = await startDebugger({ print: false });
  // another local web server: a page on another origin
  const http = require("http");
  const server = http.createServer((req, res) => res.end("<p>another site</p>"));
  await new Promise((r) => server.listen(0, "127.0.0.1", r));
  evil = { server, url: `http://127.0.0.1:${server.address().port}` };
  profile = fs.mkdtempSync(path.join(os.tmpdir(), "collector-chromium-"));
  context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
      // loopback only: every other host name fails to resolve, except the
      // DNS-rebinding name below, which resolves to 127.0.0.1
      "--host-resolver-rules=MAP 127.attacker.example 127.0.0.1, MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
    ],
  });
  // and any request that is not to the collector is refused and recorded
  await context.route("**/*", (route) => {
    const u = new URL(route.request().url());
    if (u.origin === dbg.url || (evil && u.origin === evil.url)) return route.continue();
    if (u.hostname === REBOUND) return route.continue();
    outside.push(u.href);
    return route.abort();
  });
  page = context.pages()[0] || (await context.newPage());
  page.on("pageerror", (e) => pageErrors.push(String(e)));
  page.on("console", (m) => m.type() === "error" && pageErrors.push(m.text()));
});

after(async () => {
  if (context) await context.close();
  if (dbg) await dbg.close();
  if (evil) evil.server.close();
  if (profile) fs.rmSync(profile, { recursive: true, force: true });
});

test("events appear on the live page and a click shows the payload", { skip, timeout: 60000 }, async () => {
  // sent before the page opens: comes with the backlog
  await post(dbg.url, "/v1/identify", { userId: "cus_9", traits: { email: "jane@example.com" } });

  await page.goto(dbg.url + "/");
  await page.waitForSelector("#status.on", { timeout: 10000 });
  assert.equal(await page.textContent("#hostline"), `host: "${dbg.url}"`);
  await page.waitForSelector("#events tr.row >> text=cus_9");

  // sent while the page is open: must appear without a reload
  await post(dbg.url, "/v1/batch", {
    batch: [
      track({ event: "Order Completed", userId: "cus_9", properties: { order_id: "order_9", revenue: 99.5, currency: "EUR" } }),
      track({ event: "Order Shipped", userId: "cus_9", properties: { order_id: "order_9", provider_id: "manual" } }),
    ],
  });
  await post(dbg.url, "/v1/track", { userId: "cus_9" }); // refused: no event

  await page.waitForFunction(() => document.querySelectorAll("#events tr.row").length === 4, null, { timeout: 10000 });
  const rows = await page.$$eval("#events tr.row", (trs) => trs.map((tr) => tr.innerText.replace(/\s+/g, " ").trim()));
  // newest first, like Segment's Debugger
  assert.match(rows[0], /rejected missing_event \/v1\/track 400/);
  assert.match(rows[1], /track Order Shipped cus_9/);
  assert.match(rows[2], /track Order Completed cus_9/);
  assert.match(rows[3], /identify cus_9/);
  assert.match(await page.textContent("#counts"), /3 events, 1 rejected/);

  // open one: its payload is shown
  await page.click("#events tr.row >> text=Order Shipped");
  await page.waitForSelector("#detail:not([hidden])");
  assert.equal(await page.textContent("#detail-title"), "track: Order Shipped");
  const payload = JSON.parse(await page.textContent("#payload"));
  assert.equal(payload.event, "Order Shipped");
  assert.equal(payload.userId, "cus_9");
  assert.deepEqual(payload.properties, { order_id: "order_9", provider_id: "manual" });

  // a refused request shows why
  await page.click("#events tr.row.error");
  assert.match(await page.textContent("#detail-error"), /400 missing_event: the track call has no "event"/);

  // the filter narrows the list
  await page.fill("#filter", "shipped");
  const visible = await page.$$eval("#events tr.row", (trs) => trs.filter((tr) => !tr.hidden).length);
  assert.equal(visible, 1);

  // Clear (a same-origin DELETE, which carries the page's Origin) empties the store
  await page.fill("#filter", "");
  await page.click("#clear");
  await page.waitForFunction(() => document.querySelectorAll("#events tr.row").length === 0, null, { timeout: 10000 });
  assert.equal(dbg.entries().length, 0);

  assert.deepEqual(outside, [], "the page requested nothing outside the collector");
  assert.deepEqual(pageErrors, []);
});

test("a page on another name or origin can neither read, delete nor add events", { skip, timeout: 60000 }, async () => {
  await post(dbg.url, "/v1/track", track({ event: "Secret Order", userId: "cus_secret" }));
  const count = dbg.messages().length;
  const { port } = new URL(dbg.url);

  // DNS rebinding: the attacker's name now resolves to 127.0.0.1, so a page
  // on that name reaches the debugger with same-origin requests
  const p = await context.newPage();
  const doc = await p.goto(`http://${REBOUND}:${port}/`);
  assert.equal(doc.status(), 403);
  const seen = await p.evaluate(async () => {
    const read = await fetch("/api/messages");
    const del = await fetch("/api/messages", { method: "DELETE" });
    const add = await fetch("/v1/track", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ writeKey: "abcdefgh12345678", userId: "x", event: "Injected" }),
    });
    return { read: read.status, body: await read.text(), del: del.status, add: add.status };
  });
  assert.equal(seen.read, 403);
  assert.doesNotMatch(seen.body, /Secret Order|cus_secret/);
  assert.equal(seen.del, 403);
  assert.equal(seen.add, 403);

  // another origin: reading is blocked (no CORS headers) and a "simple"
  // text/plain POST, which needs no preflight, is refused
  await p.goto(evil.url + "/");
  const cross = await p.evaluate(async (url) => {
    let read;
    try {
      read = (await fetch(url + "/api/messages")).status;
    } catch (e) {
      read = "blocked";
    }
    await fetch(url + "/v1/track", {
      method: "POST",
      mode: "no-cors",
      body: JSON.stringify({ writeKey: "abcdefgh12345678", userId: "x", event: "Injected" }),
    });
    return { read };
  }, dbg.url);
  assert.equal(cross.read, "blocked");
  await p.close();

  assert.equal(dbg.messages().length, count, "nothing was deleted or added");
  assert.ok(!dbg.messages().some((m) => m.event === "Injected"));
  assert.ok(dbg.errors().some((e) => e.code === "unsupported_content_type"), "the text/plain POST was refused");
});
