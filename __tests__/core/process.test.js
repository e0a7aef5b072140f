"use strict"
// Process lifecycle, in child processes: a script that simply ends delivers
// everything and exits promptly; SIGTERM mid-burst delivers what was
// accepted and keeps the default exit (or the host's own handler); the
// write key never appears in any output.

const test = require("node:test")
const assert = require("node:assert/strict")
const path = require("node:path")
const { spawn } = require("node:child_process")
const { startSegmentServer } = require("../support/segment-server")

const KEY = "wk_test_SECRET_do_not_print"
const fixture = (name) => path.join(__dirname, "fixtures", name)

function run(script, args) {
  const child = spawn(process.execPath, [fixture(script), ...args], { stdio: ["ignore", "pipe", "pipe"] })
  const out = { stdout: "", stderr: "" }
  child.stdout.on("data", (d) => (out.stdout += d))
  child.stderr.on("data", (d) => (out.stderr += d))
  const exited = new Promise((resolve) => child.on("exit", (code, signal) => resolve({ code, signal, ...out })))
  return { child, out, exited }
}

function assertNoKey(text) {
  assert.ok(!text.includes(KEY), "write key in output")
  assert.ok(!text.includes(Buffer.from(`${KEY}:`).toString("base64")), "encoded write key in output")
}

test("a script that tracks 1,000 events and simply ends delivers all and exits promptly", async (t) => {
  const srv = await startSegmentServer()
  t.after(() => srv.close())
  const t0 = Date.now()
  const { exited } = run("track-and-end.js", [srv.url, "1000", KEY])
  const res = await exited
  const took = Date.now() - t0
  assert.equal(res.code, 0, res.stderr)
  assert.equal(srv.uniqueMessageIds().size, 1000)
  assert.ok(took < 5000, `exited after ${took} ms`)
  assertNoKey(res.stdout + res.stderr)
})

test("a script with nothing pending exits at once; a missing write key only logs", async (t) => {
  const srv = await startSegmentServer()
  t.after(() => srv.close())
  const t0 = Date.now()
  const res = await run("track-and-end.js", [srv.url, "10"]).exited
  assert.equal(res.code, 0)
  assert.ok(Date.now() - t0 < 3000)
  assert.equal(srv.batches.length, 0)
  assert.match(res.stderr, /write_key/)
  assert.match(res.stderr, /SEGMENT_WRITE_KEY/)
})

test("one of two services sharing a client shuts down; the other's events still go at exit", async (t) => {
  const srv = await startSegmentServer()
  t.after(() => srv.close())
  const res = await run("two-owners.js", [srv.url, KEY]).exited
  assert.equal(res.code, 0, res.stderr)
  assert.match(res.stdout, /first shut down: closed=false delivered=10/)
  assert.deepEqual(
    [...new Set(srv.messages.map((m) => m.properties.i))].sort((a, b) => a - b),
    Array.from({ length: 20 }, (_, i) => i)
  )
})

test("a Segment that echoes the key (Authorization, lower case): the console output never holds it", async (t) => {
  const http = require("node:http")
  const srv = http.createServer((req, res) => {
    req.resume()
    req.on("end", () => {
      res.writeHead(400, { "content-type": "text/plain" })
      // The Basic credentials straddle the 200-character cut of the log line.
      res.end(`${KEY.toLowerCase()} ${"-".repeat(150)} ${req.headers.authorization} ${KEY}`)
    })
  })
  await new Promise((r) => srv.listen(0, "127.0.0.1", r))
  t.after(() => srv.close())
  const url = `http://127.0.0.1:${srv.address().port}`
  const res = await run("track-and-end.js", [url, "5", KEY, JSON.stringify({ flush_at: 1 })]).exited
  assert.equal(res.code, 0, res.stderr)
  assert.match(res.stderr, /HTTP 400 \[redacted\] -+ Basic \[redacted\]/)
  // Not even a piece of the key or of its base64 form.
  const output = (res.stdout + res.stderr).toLowerCase()
  for (const secret of [KEY, Buffer.from(`${KEY}:`).toString("base64")]) {
    for (let i = 0; i + 8 <= secret.length; i++) {
      assert.ok(!output.includes(secret.slice(i, i + 8).toLowerCase()), `8 characters of the key (or its base64 form) from offset ${i} in output`)
    }
  }
})

test("Segment down at exit: the exit flush is bounded by shutdown_timeout, drops are logged", async (t) => {
  const srv = await startSegmentServer()
  t.after(() => srv.close())
  srv.failFor(60000, { status: 503 })
  const t0 = Date.now()
  const res = await run("track-and-end.js", [srv.url, "100", KEY, JSON.stringify({ shutdown_timeout: 700, min_retry_delay: 50 })]).exited
  const took = Date.now() - t0
  assert.equal(res.code, 0, res.stderr)
  assert.ok(took >= 600 && took < 4000, `exited after ${took} ms`)
  assert.ok(srv.batches.length >= 5, "it did try")
  assert.match(res.stderr, /flush timed out: dropped 100 undelivered messages/)
  assertNoKey(res.stdout + res.stderr)
})

test("SIGINT works like SIGTERM", async (t) => {
  const srv = await startSegmentServer()
  t.after(() => srv.close())
  const { child, out, exited } = run("burst-until-signal.js", [srv.url, KEY, ""])
  while (!/accepted 1[1-9]00/.test(out.stdout)) await new Promise((r) => setTimeout(r, 5))
  const before = Math.max(...[...out.stdout.matchAll(/accepted (\d+)/g)].map((m) => Number(m[1])))
  child.kill("SIGINT")
  const res = await exited
  assert.equal(res.signal, "SIGINT")
  const got = new Set(srv.messages.map((m) => m.properties.i))
  for (let i = 0; i < before; i++) assert.ok(got.has(i), `message ${i} of ${before} lost`)
})

async function burstThenSigterm(srv, mode) {
  const { child, out, exited } = run("burst-until-signal.js", [srv.url, KEY, mode || ""])
  // Wait until a good number were accepted (most still in the open batch).
  let accepted = 0
  while (accepted < 3000 || accepted % 1000 === 0) {
    await new Promise((r) => setTimeout(r, 10))
    const m = out.stdout.match(/accepted (\d+)\n(?!.*accepted)/s)
    if (m) accepted = Number(m[1])
  }
  child.kill("SIGTERM")
  const t0 = Date.now()
  const res = await exited
  // With a host handler the burst stops at the signal: everything the child
  // ever accepted must arrive. Without one, what it accepted after the
  // signal (while flushing) may be lost; what it had before may not.
  if (mode) accepted = Math.max(...[...res.stdout.matchAll(/accepted (\d+)/g)].map((m) => Number(m[1])))
  return { res, accepted, took: Date.now() - t0 }
}

test("SIGTERM mid-burst: what was accepted is delivered, then the default exit", async (t) => {
  const srv = await startSegmentServer()
  t.after(() => srv.close())
  const { res, accepted, took } = await burstThenSigterm(srv)
  assert.equal(res.signal, "SIGTERM", `exit code ${res.code}, ${res.stderr}`)
  assert.ok(took < 5000, `took ${took} ms`)
  const got = new Set(srv.messages.map((m) => m.properties.i))
  for (let i = 0; i < accepted; i++) assert.ok(got.has(i), `message ${i} of ${accepted} lost`)
  assertNoKey(res.stdout + res.stderr)
})

test("SIGTERM with the host's own handler: its exit is kept, shutdown() delivers", async (t) => {
  const srv = await startSegmentServer()
  t.after(() => srv.close())
  const { res, accepted } = await burstThenSigterm(srv, "own-handler")
  assert.equal(res.code, 7, res.stderr)
  const got = new Set(srv.messages.map((m) => m.properties.i))
  for (let i = 0; i < accepted; i++) assert.ok(got.has(i), `message ${i} of ${accepted} lost`)
  assert.match(res.stdout, /shutdown delivered=\d+/)
  assertNoKey(res.stdout + res.stderr)
})

test("SIGTERM with a host handler that calls process.exit() at once: the exit waits for the flush", async (t) => {
  const srv = await startSegmentServer()
  t.after(() => srv.close())
  const { res, accepted, took } = await burstThenSigterm(srv, "exit-now")
  assert.equal(res.code, 3, res.stderr)
  assert.ok(took < 5000, `took ${took} ms`)
  const got = new Set(srv.messages.map((m) => m.properties.i))
  for (let i = 0; i < accepted; i++) assert.ok(got.has(i), `message ${i} of ${accepted} lost`)
  assertNoKey(res.stdout + res.stderr)
})

test("two copies of the module share the signal hooks: SIGTERM still ends the process", async (t) => {
  const srv = await startSegmentServer()
  t.after(() => srv.close())
  const { child, out, exited } = run("two-copies.js", [srv.url, KEY])
  while (!out.stdout.includes("ready")) await new Promise((r) => setTimeout(r, 5))
  child.kill("SIGTERM")
  const res = await exited
  assert.equal(res.signal, "SIGTERM", `exit code ${res.code}: ${res.stderr}`)
  assert.equal(srv.uniqueMessageIds().size, 20)
})

test("a second SIGINT during the exit flush ends the process at once", async (t) => {
  const srv = await startSegmentServer()
  t.after(() => srv.close())
  srv.failFor(60000, { status: 503 })
  const { child, out, exited } = run("two-copies.js", [srv.url, KEY])
  while (!out.stdout.includes("ready")) await new Promise((r) => setTimeout(r, 5))
  child.kill("SIGINT")
  await new Promise((r) => setTimeout(r, 200))
  const t0 = Date.now()
  child.kill("SIGINT")
  const res = await exited
  assert.equal(res.signal, "SIGINT")
  assert.ok(Date.now() - t0 < 1000, "the second signal was not ignored")
})
