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
