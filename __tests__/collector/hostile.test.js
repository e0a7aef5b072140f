"use strict";
// The debugger under hostile clients: deep JSON does not fail a batch, and
// idle connections cannot starve a real request when file descriptors are
// scarce (the process's limit below the connection cap).
const { test } = require("node:test");
const assert = require("node:assert/strict");
const net = require("net");
const path = require("path");
const { spawn } = require("child_process");
const { startDebugger } = require("../../debugger");
const { post, track } = require("./helpers");

test("a message nested 200 deep is accepted and the batch with it is not failed", async () => {
  const dbg = await startDebugger({ print: false });
  try {
    let deep = { leaf: 1 };
    for (let i = 0; i < 200; i++) deep = { d: deep };
    const res = await post(dbg.url, "/v1/batch", { batch: [track({ event: "Deep", properties: { deep } }), track({ event: "Flat" })] });
    assert.equal(res.status, 200, JSON.stringify(res.json).slice(0, 300));
    assert.deepEqual(dbg.messages().map((m) => m.event).sort(), ["Deep", "Flat"]);
    // beyond any sane depth: refused whole, with a reason, and the debugger lives on
    const absurd = "[".repeat(5000) + "]".repeat(5000);
    const bad = await post(dbg.url, "/v1/batch", `{"batch":[{"type":"track","userId":"u","event":"E","properties":{"x":${absurd}}}]}`);
    assert.equal(bad.status, 400);
    assert.match(JSON.stringify(bad.json), /nested more than/);
    assert.equal((await post(dbg.url, "/v1/track", track({ event: "After" }))).status, 200);
  } finally {
    await dbg.close();
  }
});

test("with the file descriptor limit at 256, 300 idle connections do not starve a real request", { timeout: 120000 }, async (t) => {
  const script = `require(${JSON.stringify(path.join(__dirname, "..", "..", "debugger"))})
    .startDebugger({ print: false, readTimeoutMs: 600000 }).then((d) => console.log(d.url))`;
  const child = spawn("sh", ["-c", `ulimit -n 256 && exec "${process.execPath}" -e '${script}'`], { stdio: ["ignore", "pipe", "inherit"] });
  t.after(() => child.kill("SIGKILL"));
  const url = await new Promise((resolve, reject) => {
    let out = "";
    child.stdout.on("data", (d) => {
      out += d;
      const m = /http:\/\/\S+/.exec(out);
      if (m) resolve(m[0]);
    });
    child.on("exit", (code) => reject(new Error(`debugger exited (${code})`)));
  });
  const { hostname, port } = new URL(url);
  const idle = [];
  for (let i = 0; i < 300; i++) {
    const s = net.connect(Number(port), hostname);
    s.on("error", () => {});
    idle.push(s);
  }
  t.after(() => idle.forEach((s) => s.destroy()));
  await new Promise((r) => setTimeout(r, 500));
  // (a failure deadline, not a measured time: starved, the request never gets an answer)
  const answered = await Promise.race([
    post(url, "/v1/track", track({ event: "Real" })).then((r) => r.status),
    new Promise((r) => setTimeout(() => r("no answer in 20 s"), 20000)),
  ]);
  assert.equal(answered, 200);
});
