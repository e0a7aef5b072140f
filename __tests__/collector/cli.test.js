"use strict";
// `medusa-plugin-segment-rs debugger` as a user runs it: prints where to point
// the plugin, one line per event or refused request, and stops on Ctrl-C.
const { test } = require("node:test");
const assert = require("node:assert/strict");
const { spawn, spawnSync } = require("child_process");
const path = require("path");
const { post, track } = require("./helpers");

const CLI = path.join(__dirname, "..", "..", "bin", "cli.js");

function waitFor(getText, re, ms = 10000) {
  return new Promise((resolve, reject) => {
    const until = Date.now() + ms;
    const tick = () => {
      const m = getText().match(re);
      if (m) return resolve(m);
      if (Date.now() > until) return reject(new Error(`timed out waiting for ${re}; output:\n${getText()}`));
      setTimeout(tick, 20);
    };
    tick();
  });
}

test("debugger command: url, config hint, event lines, Ctrl-C", async () => {
  const child = spawn(process.execPath, [CLI, "debugger", "--port", "0"], { stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  child.stdout.on("data", (d) => (out += d));
  child.stderr.on("data", (d) => (out += d));
  const exited = new Promise((resolve) => child.on("exit", (code, signal) => resolve({ code, signal })));
  try {
    const [, url] = await waitFor(() => out, /listening on (http:\/\/127\.0\.0\.1:\d+)/);
    assert.ok(out.includes(`host: "${url}"`), out);
    assert.ok(out.includes("Ctrl-C"));

    await post(url, "/v1/batch", {
      batch: [
        track({ event: "Order Completed", userId: "cus_42", properties: { order_id: "order_7", revenue: 12.5, currency: "EUR", products: [{}, {}] } }),
        { type: "identify", userId: "cus_42", traits: { email: "jane@example.com" } },
      ],
    });
    await post(url, "/v1/track", { userId: "cus_42" });
    await waitFor(() => out, /REJECTED/);
    assert.match(out, /track\s+"Order Completed"\s+userId=cus_42\s+order_id=order_7\s+revenue=12\.5\s+currency=EUR\s+products=2/);
    assert.match(out, /identify\s+userId=cus_42\s+email=jane@example\.com/);
    assert.match(out, /REJECTED POST \/v1\/track → 400 missing_event/);

    child.kill("SIGINT");
    const { code } = await exited;
    assert.equal(code, 0);
    assert.match(out, /Stopped: 2 events received, 1 requests rejected/);
  } finally {
    child.kill("SIGKILL");
  }
});

test("usage errors exit 2, --help exits 0", () => {
  const help = spawnSync(process.execPath, [CLI, "--help"], { encoding: "utf8" });
  assert.equal(help.status, 0);
  assert.match(help.stdout, /debugger \[options\]/);
  for (const args of [[], ["nope"], ["debugger", "--port", "abc"], ["debugger", "--bogus"]]) {
    const r = spawnSync(process.execPath, [CLI, ...args], { encoding: "utf8" });
    assert.equal(r.status, 2, args.join(" "));
    assert.match(r.stderr, /Usage:/);
  }
});

test("a port in use is reported, exit 1", async () => {
  const { startDebugger } = require("../../debugger");
  const d = await startDebugger({ print: false });
  try {
    const port = new URL(d.url).port;
    const r = spawnSync(process.execPath, [CLI, "debugger", "--port", port], { encoding: "utf8", timeout: 10000 });
    assert.equal(r.status, 1);
    assert.match(r.stderr, /cannot listen on 127\.0\.0\.1:\d+/);
  } finally {
    await d.close();
  }
});

/** Runs the CLI; resolves { url, out(), stop() }. */
async function startCli(args = []) {
  const child = spawn(process.execPath, [CLI, "debugger", "--port", "0", ...args], { stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  child.stdout.on("data", (d) => (out += d));
  child.stderr.on("data", (d) => (out += d));
  const exited = new Promise((resolve) => child.on("exit", resolve));
  const [, url] = await waitFor(() => out, /listening on (http:\/\/127\.0\.0\.1:\d+)/);
  return {
    url,
    out: () => out,
    async stop() {
      child.kill("SIGINT");
      await exited;
    },
  };
}

test("the console never prints the write key", async () => {
  const { WRITE_KEY } = require("./helpers");
  const cli = await startCli();
  try {
    const b64 = Buffer.from(WRITE_KEY + ":").toString("base64");
    // shown properties: the first three when none of the usual ones is set
    await post(cli.url, "/v1/track", track({ event: `Key ${WRITE_KEY}`, userId: WRITE_KEY.toLowerCase(), properties: { a: WRITE_KEY, b: b64 } }));
    await post(cli.url, "/v1/track", { userId: "u", properties: { a: WRITE_KEY } }); // refused
    await post(cli.url, "/v1/track", track({ event: "Last" }));
    await waitFor(cli.out, /"Last"/);
    const out = cli.out().toLowerCase();
    assert.ok(!out.includes(WRITE_KEY.toLowerCase()), cli.out());
    assert.ok(!out.includes(b64.toLowerCase()), cli.out());
    assert.match(cli.out(), /"Key \[write key\]"\s+userId="?\[write key\]"?\s+a="?\[write key\]"?\s+b="?\[write key\]"?/);
  } finally {
    await cli.stop();
  }
});

test("the console escapes control characters: no terminal escapes, no forged lines", async () => {
  const cli = await startCli();
  try {
    const forged = "\n12:00:00  REJECTED POST /v1/batch → 400 forged: fake line";
    await post(cli.url, "/v1/track", track({
      event: "Clear\u001b[2J\u001b]0;pwned\u0007" + forged,
      userId: "cus_1\r12:00:00  track",
      properties: { order_id: "o\u202eRTL\u2066", revenue: 1 },
    }));
    await post(cli.url, "/v1/track", track({ event: "Last" }));
    await waitFor(cli.out, /"Last"/);
    const out = cli.out();
    assert.ok(!/[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/.test(out), JSON.stringify(out));
    assert.ok(!/^12:00:00/m.test(out), "no line starts with the forged text");
    assert.match(out, /"Clear\\u\{1b\}\[2J\\u\{1b\}\]0;pwned\\u\{7\}\\n12:00:00  REJECTED/);
    assert.match(out, /order_id="o\\u\{202e\}RTL\\u\{2066\}"/);
  } finally {
    await cli.stop();
  }
});
