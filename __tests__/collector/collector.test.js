"use strict";
// The collector answers like Segment's HTTP API: what it accepts, what it
// refuses (400 + JSON error) and what the page's data endpoints show.
const { test, before, after } = require("node:test");
const assert = require("node:assert/strict");
const { startDebugger } = require("../../debugger");
const { WRITE_KEY, post, track } = require("./helpers");

let dbg;
before(async () => {
  dbg = await startDebugger({ print: false });
});
after(async () => {
  await dbg.close();
});

function lastError() {
  const errors = dbg.errors();
  return errors[errors.length - 1];
}

test("listens on loopback and reports its url", () => {
  assert.match(dbg.url, /^http:\/\/127\.0\.0\.1:\d+$/);
});

test("a batch is accepted and its messages recorded in order", async () => {
  dbg.clear();
  const a = track({ event: "Order Completed" });
  const b = { type: "identify", userId: "cus_1", traits: { email: "a@example.com" } };
  const r = await post(dbg.url, "/v1/batch", { batch: [a, b], context: { library: { name: "t" } } });
  assert.equal(r.status, 200);
  assert.deepEqual(r.json, { success: true });
  const got = dbg.messages();
  assert.equal(got.length, 2);
  assert.equal(got[0].event, "Order Completed");
  assert.equal(got[0].properties.order_id, "order_1");
  assert.equal(got[1].type, "identify");
  // batch-level context applies to each message
  assert.deepEqual(got[1].context, { library: { name: "t" } });
});

test("a track without event is refused with 400", async () => {
  const r = await post(dbg.url, "/v1/batch", { batch: [track(), track({ event: undefined })] });
  assert.equal(r.status, 400);
  assert.equal(r.json.success, false);
  assert.equal(r.json.code, "missing_event");
  assert.equal(r.json.index, 1);
  assert.match(r.json.message, /batch\[1\].*"event"/);
  assert.equal(lastError().code, "missing_event");
  const single = await post(dbg.url, "/v1/track", { userId: "u1" });
  assert.equal(single.status, 400);
  assert.equal(single.json.code, "missing_event");
});

test("a call without userId or anonymousId is refused", async () => {
  for (const [path, body] of [
    ["/v1/identify", { traits: { email: "x@example.com" } }],
    ["/v1/track", { event: "E", userId: "" }],
    ["/v1/batch", { batch: [{ type: "page", name: "Home" }] }],
  ]) {
    const r = await post(dbg.url, path, body);
    assert.equal(r.status, 400, path);
    assert.equal(r.json.code, "missing_id", path);
  }
});

test("group needs groupId, alias needs previousId", async () => {
  let r = await post(dbg.url, "/v1/group", { userId: "u" });
  assert.equal(r.json.code, "missing_group_id");
  r = await post(dbg.url, "/v1/alias", { userId: "u" });
  assert.equal(r.json.code, "missing_previous_id");
});

test("a 33 KB message is refused, in a batch and as a single call", async () => {
  const big = track({ properties: { blob: "x".repeat(33 * 1024) } });
  let r = await post(dbg.url, "/v1/batch", { batch: [big] });
  assert.equal(r.status, 400);
  assert.equal(r.json.code, "message_too_large");
  r = await post(dbg.url, "/v1/track", big);
  assert.equal(r.status, 400);
  assert.equal(r.json.code, "message_too_large");
  // just under the limit passes
  r = await post(dbg.url, "/v1/track", track({ properties: { blob: "x".repeat(31 * 1024) } }));
  assert.equal(r.status, 200);
});

test("a 600 KB batch is refused", async () => {
  const batch = Array.from({ length: 30 }, () => track({ properties: { blob: "y".repeat(20 * 1024) } }));
  const body = JSON.stringify({ batch });
  assert.ok(body.length > 600 * 1024);
  const before = dbg.messages().length;
  const r = await post(dbg.url, "/v1/batch", body);
  assert.equal(r.status, 400);
  assert.equal(r.json.code, "batch_too_large");
  assert.equal(dbg.messages().length, before, "nothing of a refused batch is recorded");
  // the same batch gzipped is still 600 KB once decoded
  const gz = await post(dbg.url, "/v1/batch", body, { gzip: true });
  assert.equal(gz.json.code, "batch_too_large");
});

test("write key: missing, malformed, placeholder, or in the body", async () => {
  let r = await post(dbg.url, "/v1/track", track(), { auth: null });
  assert.equal(r.status, 400);
  assert.equal(r.json.code, "missing_write_key");
  for (const bad of ["has space", "undefined", "YOUR_WRITE_KEY", "key/with/slashes"]) {
    r = await post(dbg.url, "/v1/track", track(), { auth: bad });
    assert.equal(r.status, 400, bad);
    assert.equal(r.json.code, "invalid_write_key", bad);
  }
  r = await post(dbg.url, "/v1/track", { ...track(), writeKey: WRITE_KEY }, { auth: null });
  assert.equal(r.status, 200);
  r = await post(dbg.url, "/v1/batch", { batch: [track()], writeKey: "bad key" }, { auth: null });
  assert.equal(r.json.code, "invalid_write_key");
  r = await post(dbg.url, "/v1/track", track(), { headers: { authorization: "Bearer abc" }, auth: null });
  assert.equal(r.json.code, "invalid_authorization");
});

test("the write key is never kept in what the page shows", async () => {
  dbg.clear();
  await post(dbg.url, "/v1/track", { writeKey: WRITE_KEY, userId: "u" }, { auth: null });
  await post(dbg.url, "/v1/track", { writeKey: WRITE_KEY, userId: "u", event: "Ok" }, { auth: null });
  assert.ok(!JSON.stringify(dbg.entries()).includes(WRITE_KEY));
});

test("gzip bodies are decoded, bad gzip is refused", async () => {
  dbg.clear();
  let r = await post(dbg.url, "/v1/batch", { batch: [track({ event: "Gzipped Batch" })] }, { gzip: true });
  assert.equal(r.status, 200);
  r = await post(dbg.url, "/v1/track", track({ event: "Gzipped Track" }), { gzip: true });
  assert.equal(r.status, 200);
  assert.deepEqual(dbg.messages().map((m) => m.event), ["Gzipped Batch", "Gzipped Track"]);
  const res = await fetch(dbg.url + "/v1/batch", {
    method: "POST",
    headers: { "content-type": "application/json", "content-encoding": "gzip", authorization: "Basic " + Buffer.from(WRITE_KEY + ":").toString("base64") },
    body: "not gzip at all",
  });
  assert.equal(res.status, 400);
  assert.equal((await res.json()).code, "invalid_gzip");
});

test("each single-call path is accepted and typed by its path", async () => {
  dbg.clear();
  const calls = {
    track: { userId: "u", event: "Clicked" },
    identify: { userId: "u", traits: { email: "u@example.com" } },
    page: { anonymousId: "a", name: "Home" },
    screen: { userId: "u", name: "Cart" },
    group: { userId: "u", groupId: "g1" },
    alias: { userId: "u", previousId: "a" },
  };
  for (const [type, body] of Object.entries(calls)) {
    const r = await post(dbg.url, `/v1/${type}`, body);
    assert.equal(r.status, 200, type);
  }
  assert.deepEqual(dbg.messages().map((m) => m.type), Object.keys(calls));
  const r = await post(dbg.url, "/v1/import", { batch: [track()] });
  assert.equal(r.status, 200, "/v1/import is an alias of /v1/batch");
  assert.equal((await post(dbg.url, "/v1/nope", {})).status, 404);
});

test("invalid JSON and unknown types are refused", async () => {
  let r = await post(dbg.url, "/v1/batch", "{not json");
  assert.equal(r.json.code, "invalid_json");
  r = await post(dbg.url, "/v1/batch", { batch: [{ type: "trak", userId: "u" }] });
  assert.equal(r.json.code, "invalid_type");
});

test("duplicate messageIds are flagged like Segment's dedup", async () => {
  dbg.clear();
  const m = track({ messageId: "same-id" });
  await post(dbg.url, "/v1/batch", { batch: [m] });
  await post(dbg.url, "/v1/batch", { batch: [m] });
  assert.deepEqual(dbg.entries().map((e) => e.duplicate), [false, true]);
});

test("events appear via the JSON endpoint", async () => {
  dbg.clear();
  const { last } = await (await fetch(dbg.url + "/api/messages")).json();
  await post(dbg.url, "/v1/track", track({ event: "Via JSON" }));
  await post(dbg.url, "/v1/track", { userId: "u" });
  const res = await fetch(`${dbg.url}/api/messages?after=${last}`);
  assert.equal(res.status, 200);
  const body = await res.json();
  assert.deepEqual(body.entries.map((e) => e.kind), ["message", "error"]);
  assert.equal(body.entries[0].event, "Via JSON");
  assert.equal(body.entries[0].payload.properties.order_id, "order_1");
  assert.equal(body.entries[1].code, "missing_event");
  assert.equal(body.last, body.entries[1].seq);
});

test("events appear via the SSE stream as they arrive", async () => {
  const ac = new AbortController();
  const res = await fetch(dbg.url + "/api/stream?after=999999999", { signal: ac.signal });
  assert.equal(res.headers.get("content-type"), "text/event-stream");
  const reader = res.body.getReader();
  const decoder = new TextDecoder();
  setTimeout(() => post(dbg.url, "/v1/track", track({ event: "Via SSE" })), 100);
  let text = "";
  const deadline = Date.now() + 5000;
  while (!text.includes("Via SSE") && Date.now() < deadline) {
    const { value, done } = await reader.read();
    if (done) break;
    text += decoder.decode(value);
  }
  ac.abort();
  const frame = text.split("\n\n").find((f) => f.includes("Via SSE"));
  assert.ok(frame, text);
  assert.match(frame, /^id: \d+\ndata: /m);
  const entry = JSON.parse(frame.split("\n").find((l) => l.startsWith("data: ")).slice(6));
  assert.equal(entry.payload.event, "Via SSE");
});

test("the page and its assets are served from the binary, with no outside URL", async () => {
  for (const p of ["/", "/app.js", "/app.css"]) {
    const res = await fetch(dbg.url + p);
    assert.equal(res.status, 200, p);
    const text = await res.text();
    assert.ok(!/https?:\/\//.test(text.replace(/http:\/\/127\.0\.0\.1[^"]*/g, "")), `${p} references no outside URL`);
  }
  const res = await fetch(dbg.url + "/");
  assert.match(res.headers.get("content-security-policy"), /default-src 'self'/);
});

test("the page's data is refused to other host names (DNS rebinding guard)", async () => {
  const http = require("http");
  const { port } = new URL(dbg.url);
  const status = await new Promise((resolve, reject) => {
    http
      .get({ host: "127.0.0.1", port, path: "/api/messages", headers: { host: `attacker.example:${port}` } }, (res) => {
        res.resume();
        resolve(res.statusCode);
      })
      .on("error", reject);
  });
  assert.equal(status, 403);
});

test("writeKey option refuses other keys", async () => {
  const strict = await startDebugger({ print: false, writeKey: WRITE_KEY });
  try {
    let r = await post(strict.url, "/v1/track", track(), { auth: "anotherKey123" });
    assert.equal(r.json.code, "wrong_write_key");
    r = await post(strict.url, "/v1/track", track());
    assert.equal(r.status, 200);
  } finally {
    await strict.close();
  }
});

test("close releases the port", async () => {
  const d = await startDebugger({ print: false });
  const { port } = new URL(d.url);
  await d.close();
  await d.close(); // idempotent
  const again = await startDebugger({ print: false, port: Number(port) });
  assert.equal(again.url, d.url);
  await again.close();
  await assert.rejects(fetch(d.url + "/api/messages"));
});
