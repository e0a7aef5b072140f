"use strict";
// The debugger's resources stay bounded whatever its clients do: half-sent
// requests time out, connections are capped, stored events are bounded (the
// oldest dropped and counted), /api/messages is paged and a live stream that
// does not read is dropped.
const { test } = require("node:test");
const assert = require("node:assert/strict");
const net = require("net");
const { startDebugger } = require("../../debugger");
const { post, track } = require("./helpers");

/** Opens `n` sockets to `url`, each sending `head` (and never the rest). */
async function openSockets(url, n, head) {
  const { hostname, port } = new URL(url);
  return Promise.all(
    Array.from({ length: n }, () => new Promise((resolve, reject) => {
      const s = net.connect(Number(port), hostname, () => {
        if (head) s.write(head);
        resolve(s);
      });
      s.received = "";
      s.on("data", (d) => (s.received += d));
      s.gone = new Promise((r) => s.on("close", r));
      s.on("error", () => {});
      s.once("error", reject);
    })),
  );
}

/** Resolves how many of `sockets` are still open when `ms` have passed or all closed. */
async function stillOpenAfter(sockets, ms) {
  let timer;
  await Promise.race([
    Promise.all(sockets.map((s) => s.gone)),
    new Promise((r) => (timer = setTimeout(r, ms))),
  ]);
  clearTimeout(timer);
  return sockets.filter((s) => !s.destroyed && s.readyState !== "closed").length;
}

test("half-sent request heads are closed after the read timeout (slow loris)", { timeout: 60000 }, async () => {
  const dbg = await startDebugger({ print: false, readTimeoutMs: 300 });
  try {
    const { host } = new URL(dbg.url);
    const sockets = await openSockets(dbg.url, 50, `POST /v1/track HTTP/1.1\r\nHost: ${host}\r\nContent-Type: applic`);
    const idle = await openSockets(dbg.url, 10, null); // connected, nothing sent
    // (the wait is a failure deadline, not a measured time: with no timeout they stay open forever)
    assert.equal(await stillOpenAfter([...sockets, ...idle], 20000), 0, "every half-sent and idle connection was closed");
    // and the debugger still answers
    assert.equal((await post(dbg.url, "/v1/track", track())).status, 200);
  } finally {
    await dbg.close();
  }
});

test("a body that stops arriving gets 408 and the connection is closed", { timeout: 60000 }, async () => {
  const dbg = await startDebugger({ print: false, readTimeoutMs: 300 });
  try {
    const { host } = new URL(dbg.url);
    const head = `POST /v1/track HTTP/1.1\r\nHost: ${host}\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"userId":`;
    const sockets = await openSockets(dbg.url, 20, head);
    assert.equal(await stillOpenAfter(sockets, 20000), 0, "every slow body was cut off");
    for (const s of sockets) assert.match(s.received, /^HTTP\/1\.1 408 /);
    const errors = dbg.errors();
    assert.equal(errors.length, 20);
    assert.equal(errors[0].code, "read_timeout");
  } finally {
    await dbg.close();
  }
});

test("at the connection cap a new connection is served and the oldest one closed", { timeout: 60000 }, async () => {
  // a long read timeout: nothing here closes because of it
  const dbg = await startDebugger({ print: false, maxConnections: 4, readTimeoutMs: 600000 });
  try {
    const { host } = new URL(dbg.url);
    const held = await openSockets(dbg.url, 4, `GET /api/messages HTTP/1.1\r\nHost: ${host}\r\n`); // half-sent
    const res = await fetch(dbg.url + "/api/messages");
    assert.equal(res.status, 200, "the 5th connection is served");
    await held[0].gone; // the oldest was closed to make room (the test times out otherwise)
    assert.deepEqual(held.slice(1).map((s) => s.destroyed), [false, false, false], "the others are kept");
    held.forEach((s) => s.destroy());
  } finally {
    await dbg.close();
  }
});

test("1,000 half-sent requests neither stay open nor lock the plugin out", { timeout: 120000 }, async () => {
  const dbg = await startDebugger({ print: false, readTimeoutMs: 2000 });
  try {
    const { host } = new URL(dbg.url);
    const sockets = [];
    for (let i = 0; i < 10; i++) sockets.push(...(await openSockets(dbg.url, 100, `POST /v1/track HTTP/1.1\r\nHost: ${host}\r\nContent-Ty`)));
    // meanwhile, a real request is served
    assert.equal((await post(dbg.url, "/v1/track", track({ event: "During The Attack" }))).status, 200);
    assert.equal(await stillOpenAfter(sockets, 60000), 0, "all 1,000 were closed");
    assert.deepEqual(dbg.messages().map((m) => m.event), ["During The Attack"]);
  } finally {
    await dbg.close();
  }
});

const filler = (i, size) => track({ event: `E${i}`, messageId: `lim-${process.pid}-${Date.now()}-${i}`, properties: { blob: "z".repeat(size) } });

test("stored entries are bounded by count and bytes; the oldest go first and are counted", async () => {
  const dbg = await startDebugger({ print: false, maxEntries: 20, maxStoredBytes: 50000 });
  try {
    for (let i = 1; i <= 30; i++) assert.equal((await post(dbg.url, "/v1/track", filler(i, 3000))).status, 200);
    let stats = dbg.stats();
    assert.ok(stats.bytes <= 50000, `bytes ${stats.bytes}`);
    assert.ok(stats.entries < 20, `the byte bound applies first: ${stats.entries}`);
    assert.equal(stats.entries + stats.dropped, 30);
    const kept = dbg.messages().map((m) => m.event);
    assert.deepEqual(kept, Array.from({ length: stats.entries }, (_, k) => `E${30 - stats.entries + 1 + k}`), "the newest are kept, in order");
    const api = await (await fetch(dbg.url + "/api/messages")).json();
    assert.equal(api.dropped, stats.dropped);

    dbg.clear();
    for (let i = 1; i <= 30; i++) await post(dbg.url, "/v1/track", filler(i, 10));
    stats = dbg.stats();
    assert.equal(stats.entries, 20, "the count bound");
    assert.equal(dbg.messages()[0].event, "E11");
  } finally {
    await dbg.close();
  }
});

test("/api/messages is paged: limit, more and last", async () => {
  const dbg = await startDebugger({ print: false });
  try {
    for (let i = 0; i < 3; i++) {
      await post(dbg.url, "/v1/batch", { batch: Array.from({ length: 400 }, (_, k) => filler(i * 400 + k + 1, 1)) });
    }
    let page = await (await fetch(dbg.url + "/api/messages")).json();
    assert.equal(page.entries.length, 1000, "at most 1000 entries by default");
    assert.equal(page.more, true);
    page = await (await fetch(dbg.url + "/api/messages?limit=5000")).json();
    assert.equal(page.entries.length, 1000, "and never more");
    // follow the pages
    const seen = [];
    let after = 0;
    for (;;) {
      const p = await (await fetch(`${dbg.url}/api/messages?after=${after}&limit=250`)).json();
      seen.push(...p.entries.map((e) => e.event));
      after = p.last;
      if (!p.more) break;
    }
    assert.equal(seen.length, 1200);
    assert.equal(seen[0], "E1");
    assert.equal(seen[1199], "E1200");
  } finally {
    await dbg.close();
  }
});

test("live streams are capped", async () => {
  const dbg = await startDebugger({ print: false, maxStreams: 2 });
  const ac = new AbortController();
  try {
    const a = await fetch(dbg.url + "/api/stream", { signal: ac.signal });
    const b = await fetch(dbg.url + "/api/stream", { signal: ac.signal });
    assert.equal(a.status, 200);
    assert.equal(b.status, 200);
    const c = await fetch(dbg.url + "/api/stream");
    assert.equal(c.status, 503);
    const j = await c.json();
    assert.equal(j.code, "too_many_streams");
    assert.match(j.message, /2 live/);
  } finally {
    ac.abort();
    await dbg.close();
  }
});

test("a live stream that stops reading is dropped, not buffered without end", { timeout: 120000 }, async () => {
  const dbg = await startDebugger({ print: false });
  try {
    const { host } = new URL(dbg.url);
    const [s] = await openSockets(dbg.url, 1, `GET /api/stream?after=999999999 HTTP/1.1\r\nHost: ${host}\r\n\r\n`);
    await new Promise((r) => setTimeout(r, 200)); // let the stream start (not a measurement)
    s.pause(); // a page that stopped reading
    const total = 600;
    for (let i = 0; i < total / 15; i++) {
      const r = await post(dbg.url, "/v1/batch", { batch: Array.from({ length: 15 }, (_, k) => filler(i * 15 + k, 30000)) });
      assert.equal(r.status, 200);
    }
    s.resume();
    // the server ended the chunked body (and the page would reconnect with Last-Event-ID)
    // (20 s is a failure deadline, not a measured time)
    const until = Date.now() + 20000;
    while (!s.received.endsWith("0\r\n\r\n") && Date.now() < until) await new Promise((r) => setTimeout(r, 50));
    const ended = s.received.endsWith("0\r\n\r\n");
    assert.ok(ended, "the stream was ended by the debugger");
    const frames = (s.received.match(/\nid: \d+\n/g) || []).length;
    assert.ok(frames < total, `${frames} of ${total} entries went out before it was dropped`);
    assert.equal(dbg.messages().length, total, "the events themselves are all stored");
    s.destroy();
  } finally {
    await dbg.close();
  }
});

test("a bad limit option is refused, naming it", async () => {
  for (const [name, value] of [["readTimeoutMs", 0], ["maxConnections", -1], ["maxEntries", 1.5], ["maxStoredBytes", NaN], ["maxStreams", Infinity]]) {
    await assert.rejects(startDebugger({ print: false, [name]: value }), new RegExp(`${name} must be a whole number`), name);
  }
});

test("a client that stops reading a response is disconnected after the timeout", { timeout: 120000 }, async () => {
  const dbg = await startDebugger({ print: false, readTimeoutMs: 500 });
  try {
    const { host } = new URL(dbg.url);
    const [s] = await openSockets(dbg.url, 1, `GET /api/stream?after=999999999 HTTP/1.1\r\nHost: ${host}\r\n\r\n`);
    let ended = false;
    s.on("end", () => (ended = true));
    await new Promise((r) => setTimeout(r, 200)); // let the stream start (not a measurement)
    s.pause();
    for (let i = 0; i < 20; i++) {
      await post(dbg.url, "/v1/batch", { batch: Array.from({ length: 15 }, (_, k) => filler(i * 15 + k, 30000)) });
    }
    // the server's writes to it are blocked now; give the 500 ms stall limit time to pass
    await new Promise((r) => setTimeout(r, 2000));
    s.resume();
    // it reads what was already sent, then the connection ends (without the
    // limit it would stay open: 20 s is a failure deadline, not a measurement)
    const until = Date.now() + 20000;
    while (!ended && Date.now() < until) await new Promise((r) => setTimeout(r, 50));
    assert.ok(ended, "the debugger closed the connection");
    s.destroy();
  } finally {
    await dbg.close();
  }
});
