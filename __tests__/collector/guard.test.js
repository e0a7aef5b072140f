"use strict";
// What keeps other web pages and hostile senders out of the debugger: the Host
// and Origin checks, the write key never kept, JSON-only ingestion.
const { test, before, after } = require("node:test");
const assert = require("node:assert/strict");
const http = require("http");
const { startDebugger } = require("../../debugger");
const { WRITE_KEY, post, track } = require("./helpers");

let dbg, port;
before(async () => {
  dbg = await startDebugger({ print: false });
  port = Number(new URL(dbg.url).port);
});
after(async () => {
  await dbg.close();
});

/** A raw request with exactly the given headers (Host included). */
function request(method, path, headers, body) {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: "127.0.0.1", port, method, path, headers, setHost: false }, (res) => {
      let text = "";
      res.setEncoding("utf8");
      res.on("data", (d) => (text += d));
      res.on("end", () => resolve({ status: res.statusCode, text }));
    });
    req.on("error", reject);
    req.end(body);
  });
}

const auth = "Basic " + Buffer.from(WRITE_KEY + ":").toString("base64");

test("Host: only loopback names with the bound port are answered", async () => {
  await post(dbg.url, "/v1/track", track({ event: "Stored Before" }));
  for (const host of [`127.0.0.1:${port}`, `localhost:${port}`, `LocalHost:${port}`, `[::1]:${port}`]) {
    const r = await request("GET", "/api/messages", { host });
    assert.equal(r.status, 200, host);
  }
  for (const host of [
    `127.attacker.example:${port}`, // DNS rebinding: a name that resolves to 127.0.0.1
    `127.0.0.1.nip.io:${port}`,
    `attacker.example:${port}`,
    `localhost.attacker.example:${port}`,
    `127.0.0.1:${port + 1}`, // another port: a page on another local server
    `127.0.0.1`, // no port (the debugger is not on 80)
    `127.0.0.2:${port}`,
    "",
  ]) {
    for (const [method, path] of [["GET", "/api/messages"], ["DELETE", "/api/messages"], ["GET", "/api/stream"], ["GET", "/"]]) {
      const r = await request(method, path, { host });
      assert.equal(r.status, 403, `${method} ${path} Host ${JSON.stringify(host)}`);
      assert.match(r.text, /not this debugger's address/, host);
      assert.match(r.text, new RegExp(`http://127\\.0\\.0\\.1:${port}/`), "names the address to open");
      assert.doesNotMatch(r.text, /Stored Before/);
    }
  }
  // no Host header at all
  const none = await request("GET", "/api/messages", {});
  assert.equal(none.status, 403);
  // the refused DELETEs removed nothing
  assert.ok(dbg.messages().some((m) => m.event === "Stored Before"));
});

test("Host: a POST to /v1/* under another name is refused and not recorded", async () => {
  const before = dbg.messages().length;
  const body = JSON.stringify(track({ event: "Rebound" }));
  const r = await request("POST", "/v1/track", {
    host: `127.attacker.example:${port}`,
    "content-type": "application/json",
    authorization: auth,
  }, body);
  assert.equal(r.status, 403);
  assert.equal(JSON.parse(r.text).code, "forbidden_host");
  assert.equal(dbg.messages().length, before);
});

test("Origin: the API answers only requests with no Origin or its own", async () => {
  const host = `127.0.0.1:${port}`;
  for (const origin of [`http://127.0.0.1:${port}`, undefined]) {
    const headers = origin ? { host, origin } : { host };
    assert.equal((await request("GET", "/api/messages", headers)).status, 200, String(origin));
  }
  assert.equal((await request("GET", "/api/messages", { host: `localhost:${port}`, origin: `http://localhost:${port}` })).status, 200);
  for (const origin of ["http://attacker.example", `http://127.attacker.example:${port}`, "null", `https://127.0.0.1:${port}`, `http://localhost:${port}`]) {
    for (const [method, path] of [["GET", "/api/messages"], ["DELETE", "/api/messages"], ["GET", "/api/stream"]]) {
      const r = await request(method, path, { host, origin });
      assert.equal(r.status, 403, `${method} ${path} Origin ${origin}`);
      assert.match(r.text, /Origin/);
    }
  }
  assert.ok(dbg.messages().length > 0, "a refused DELETE removed nothing");
});

// --- 13: the write key is never stored -------------------------------------

/** Every spelling of the key a careless sender could put in a body. */
const SPELLINGS = [
  WRITE_KEY,
  WRITE_KEY.toLowerCase(),
  WRITE_KEY.toUpperCase(),
  Buffer.from(WRITE_KEY + ":").toString("base64"),
  Buffer.from(WRITE_KEY).toString("base64"),
];
function assertNoKey(text, what) {
  for (const s of SPELLINGS) assert.ok(!text.toLowerCase().includes(s.toLowerCase()), `${what} contains ${s === WRITE_KEY ? "the key" : "a spelling of the key"}`);
}

test("the write key is redacted from refused and accepted bodies", async () => {
  dbg.clear();
  const echo = {
    note: `key=${SPELLINGS[0]}`,
    lower: SPELLINGS[1],
    upper: `(${SPELLINGS[2]})`,
    header: `Authorization: Basic ${SPELLINGS[3]}`,
    b64: SPELLINGS[4],
    [WRITE_KEY]: "as a property name",
  };
  // refused (no event), key in the header
  let r = await post(dbg.url, "/v1/track", { userId: "u", properties: echo });
  assert.equal(r.status, 400);
  // refused, key only in the body
  r = await post(dbg.url, "/v1/track", { writeKey: WRITE_KEY, userId: "u", context: echo }, { auth: null });
  assert.equal(r.status, 400);
  // refused: not JSON at all (stored as text)
  r = await post(dbg.url, "/v1/batch", `{"batch": [ ${WRITE_KEY} ${SPELLINGS[3]} ${SPELLINGS[1]}`);
  assert.equal(r.json.code, "invalid_json");
  // refused by a --write-key debugger: the other key is redacted too
  // accepted, key in the properties
  r = await post(dbg.url, "/v1/batch", { batch: [track({ event: "Echo", properties: echo })] });
  assert.equal(r.status, 200);

  const entries = dbg.entries();
  assert.equal(entries.length, 4);
  assertNoKey(JSON.stringify(entries), "entries()");
  assertNoKey(JSON.stringify(dbg.messages()), "messages()");
  const api = await (await fetch(dbg.url + "/api/messages")).text();
  assertNoKey(api, "/api/messages");
  assert.match(api, /\[write key\]/, "a marker shows where the key was");
  const m = dbg.messages()[0];
  assert.equal(m.properties.note, "key=[write key]");
  assert.equal(m.properties.upper, "([write key])");
  assert.equal(m.properties.header, "Authorization: Basic [write key]");
  assert.equal(m.properties["[write key]"], "as a property name");
  assert.equal(m.event, "Echo", "the rest is kept");
});

test("a debugger started with --write-key redacts the wrong key it refuses", async () => {
  const strict = await startDebugger({ print: false, writeKey: WRITE_KEY });
  try {
    const other = "OtherKey9876543210abcdef";
    const r = await post(strict.url, "/v1/track", track({ properties: { k: other, mine: WRITE_KEY } }), { auth: other });
    assert.equal(r.json.code, "wrong_write_key");
    const text = JSON.stringify(strict.entries());
    assert.ok(!text.includes(other));
    assertNoKey(text, "entries()");
  } finally {
    await strict.close();
  }
});

// --- 14: JSON only on /v1/* --------------------------------------------------

test("POST /v1/* accepts only Content-Type: application/json", async () => {
  dbg.clear();
  const body = JSON.stringify(track({ event: "Form Post" }));
  for (const ct of ["text/plain", "text/plain;charset=UTF-8", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", undefined]) {
    const headers = { host: `127.0.0.1:${port}`, authorization: auth };
    if (ct) headers["content-type"] = ct;
    const r = await request("POST", "/v1/track", headers, body);
    assert.equal(r.status, 415, String(ct));
    const j = JSON.parse(r.text);
    assert.equal(j.code, "unsupported_content_type");
    assert.match(j.message, /application\/json/);
  }
  assert.equal(dbg.messages().length, 0, "nothing of a non-JSON POST is recorded as a message");
  for (const ct of ["application/json", "application/json; charset=utf-8", "Application/JSON;charset=UTF-8"]) {
    const r = await request("POST", "/v1/track", { host: `127.0.0.1:${port}`, authorization: auth, "content-type": ct }, JSON.stringify(track()));
    assert.equal(r.status, 200, ct);
  }
});

test("Segment's own Node libraries are accepted as they send", async () => {
  dbg.clear();
  const Legacy = require("analytics-node");
  const legacy = new Legacy(WRITE_KEY, { host: dbg.url, flushAt: 1, enable: true });
  legacy.track({ userId: "cus_1", event: "From analytics-node" });
  await legacy.flush();
  const { Analytics } = require("@segment/analytics-node");
  const modern = new Analytics({ writeKey: WRITE_KEY, host: dbg.url, maxEventsInBatch: 1 });
  modern.track({ userId: "cus_1", event: "From @segment/analytics-node" });
  await modern.closeAndFlush({ timeout: 10000 });
  const got = await dbg.waitForMessages(2);
  assert.deepEqual(got.map((m) => m.event).sort(), ["From @segment/analytics-node", "From analytics-node"]);
  assert.deepEqual(dbg.errors(), []);
});

test("a placeholder key is no secret: the refusal still names it", async () => {
  const r = await post(dbg.url, "/v1/track", track(), { auth: "YOUR_WRITE_KEY" });
  assert.equal(r.json.code, "invalid_write_key");
  assert.match(r.json.message, /placeholder "YOUR_WRITE_KEY"/);
  const e = dbg.errors().pop();
  assert.match(e.error, /placeholder "YOUR_WRITE_KEY"/);
});
