"use strict"
// The spool contract (src/spool/backend.rs), run against both spools: the
// disk spool (spool_dir, processes on one host) and the Redis spool
// (spool_url, on the real Redis at 127.0.0.1:6379, db SPOOL_REDIS_DB).
// Three processes share one spool; one is killed with SIGKILL 100 ms after
// tracking its burst during a Segment outage; when Segment recovers the two
// survivors deliver every one of its messageIds, with no restart.
// Redis-only: Redis killed, restarted empty and flushed mid-run (a
// throwaway redis-server on a free port), and max_spool_bytes.

const test = require("node:test")
const assert = require("node:assert/strict")
const fs = require("node:fs")
const net = require("node:net")
const os = require("node:os")
const path = require("node:path")
const { spawn, spawnSync } = require("node:child_process")
const { startSegmentServer } = require("../support/segment-server")
const { makeService, track, sleep } = require("./helpers")
const { spoolEntries, spoolMessages } = require("../support/spool-entries")

const FIXTURE = path.join(__dirname, "fixtures", "spool-child.js")
const KEY = "wk_test_SECRET_do_not_print"
/** The victim's burst (the 20,000; SPOOL_SHARED_EVENTS scales it). */
const VICTIM_EVENTS = Number(process.env.SPOOL_SHARED_EVENTS || 20000)
const SURVIVOR_EVENTS = 1000
const TAKEOVER_MS = 2000
const REDIS_DB = Number(process.env.SPOOL_REDIS_DB || 12)
const REDIS_URL = `redis://127.0.0.1:6379/${REDIS_DB}`

function redisCli(args, { port = 6379, db = REDIS_DB, password } = {}) {
  const auth = password ? ["-a", password, "--no-auth-warning"] : []
  return spawnSync("redis-cli", ["-h", "127.0.0.1", "-p", String(port), "-n", String(db), ...auth, ...args], { encoding: "utf8" })
}

const redisUp = redisCli(["ping"]).stdout.trim() === "PONG"

/** Remove the Redis spool's keys of one write key (its digest is unknown here: all of this db's spool keys). */
function cleanRedis() {
  const keys = redisCli(["--scan", "--pattern", "segment:spool:*"]).stdout.split("\n").filter(Boolean)
  for (let i = 0; i < keys.length; i += 500) redisCli(["del", ...keys.slice(i, i + 500)])
}

/** The two spools, as the options a process gets. */
const BACKENDS = [
  {
    name: "disk",
    options: () => ({ spool_dir: fs.mkdtempSync(path.join(os.tmpdir(), "segment-spool-shared-")) }),
    cleanup: (o) => fs.rmSync(o.spool_dir, { recursive: true, force: true }),
    // (a live process adopts a dead one's files every spool_takeover_ms / 2: src/spool/replay.rs)
    skip: false,
  },
  {
    name: "redis",
    skip: !redisUp && "no Redis on 127.0.0.1:6379",
    options: () => ({ spool_dir: false, spool_url: REDIS_URL }),
    cleanup: cleanRedis,
  },
]

function start(srv, tag, options, env = {}) {
  const child = spawn(process.execPath, [FIXTURE, srv.url, KEY, "", "burst", tag, JSON.stringify(options)], {
    stdio: ["ignore", "pipe", "pipe"],
    env: { ...process.env, SPOOL_CHUNK: "500", ...env },
  })
  const out = { stdout: "", stderr: "", count: 0, at: 0 }
  child.stdout.on("data", (d) => {
    out.stdout += d
    for (const m of String(d).matchAll(/^accepted (\d+) (\d+)$/gm)) {
      out.count = Number(m[1])
      out.at = Number(m[2])
    }
  })
  child.stderr.on("data", (d) => (out.stderr += d))
  const exited = new Promise((resolve) => child.on("exit", (code, signal) => resolve({ code, signal })))
  const reached = async (n, ms = 120_000) => {
    const t0 = Date.now()
    while (out.count < n) {
      if (Date.now() - t0 > ms) throw new Error(`${tag}: ${out.count} of ${n} tracked after ${ms} ms\n${out.stderr}`)
      await sleep(5)
    }
  }
  return { child, out, exited, reached }
}

/** messageIds received per `i` of one tag, and how many copies arrived. */
function received(srv, tag) {
  const byI = new Map()
  let copies = 0
  for (const m of srv.messages) {
    if (m.properties && m.properties.tag === tag) {
      copies++
      const set = byI.get(m.properties.i) || new Set()
      set.add(m.messageId)
      byI.set(m.properties.i, set)
    }
  }
  return { byI, copies }
}

async function waitFor(what, cond, ms) {
  const t0 = Date.now()
  while (!cond()) {
    if (Date.now() - t0 > ms) throw new Error(`timed out after ${ms} ms waiting for ${what}`)
    await sleep(50)
  }
}

for (const backend of BACKENDS) {
  test(
    `${backend.name} spool: three processes share it; one killed with SIGKILL 100 ms after its ${VICTIM_EVENTS}-event burst in an outage; the two survivors deliver all of its messageIds without a restart`,
    { skip: backend.skip, timeout: 300_000 },
    async (t) => {
      const srv = await startSegmentServer()
      const spool = backend.options()
      const children = []
      t.after(() => {
        // the processes first: a live one would make its stream again
        for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill("SIGKILL")
        backend.cleanup(spool)
        return srv.close()
      })
      // Retries outlast the outage: a batch given up on is settled (failed), not kept.
      const options = { ...spool, spool_takeover_ms: TAKEOVER_MS, flush_at: 100, max_retries: 1000, max_retry_time: 600_000 }
      srv.failFor(600_000, { status: 503 })
      const survivors = [start(srv, "survivorA", options, { SPOOL_LIMIT: String(SURVIVOR_EVENTS) }), start(srv, "survivorB", options, { SPOOL_LIMIT: String(SURVIVOR_EVENTS) })]
      children.push(...survivors.map((s) => s.child))
      await Promise.all(survivors.map((s) => s.reached(SURVIVOR_EVENTS)))
      const victim = start(srv, "victim", options, { SPOOL_LIMIT: String(VICTIM_EVENTS) })
      children.push(victim.child)
      await victim.reached(VICTIM_EVENTS)
      await sleep(100)
      const killedAt = Date.now()
      victim.child.kill("SIGKILL")
      assert.equal((await victim.exited).signal, "SIGKILL")
      assert.ok(killedAt - victim.out.at >= 100)
      // The outage outlasts the takeover period: live processes keep their own.
      await sleep(TAKEOVER_MS * 2)
      srv.failFor(0, { status: 503 })
      const t0 = Date.now()
      await waitFor(`the victim's ${VICTIM_EVENTS} messages`, () => received(srv, "victim").byI.size >= VICTIM_EVENTS, 120_000)
      const recoveredIn = Date.now() - t0
      const own = () => ["survivorA", "survivorB"].every((tag) => received(srv, tag).byI.size >= SURVIVOR_EVENTS)
      await waitFor("the survivors' own messages", own, 60_000)
      await sleep(500) // any late duplicate would arrive now
      for (const s of survivors) s.child.kill("SIGKILL")
      await Promise.all(survivors.map((s) => s.exited))
      const report = []
      for (const [tag, n] of [["victim", VICTIM_EVENTS], ["survivorA", SURVIVOR_EVENTS], ["survivorB", SURVIVOR_EVENTS]]) {
        const { byI, copies } = received(srv, tag)
        const missing = []
        for (let i = 0; i < n; i++) if (!byI.has(i)) missing.push(i)
        assert.deepEqual(missing.slice(0, 10), [], `${tag}: ${missing.length} of ${n} never arrived`)
        for (const [i, ids] of byI) assert.equal(ids.size, 1, `${tag}: message ${i} arrived with ${ids.size} different messageIds`)
        report.push(`${tag}: ${n} accepted, ${byI.size} delivered, ${copies - byI.size} duplicate copies (same messageId)`)
      }
      const logs = survivors.map((s) => s.out.stderr).join("\n") + victim.out.stderr
      assert.ok(!logs.includes(KEY), "write key in the logs")
      assert.match(logs, /replaying \d+ messages left by a process/)
      t.diagnostic(`${backend.name}: ${report.join("; ")}; the victim's messages all arrived ${recoveredIn} ms after Segment recovered`)
    }
  )
}

for (const backend of BACKENDS) {
  test(
    `${backend.name} spool: process.exit() right after tracking 5,000 events in an outage: a live process delivers them all`,
    { skip: backend.skip, timeout: 120_000 },
    async (t) => {
      const srv = await startSegmentServer()
      const spool = backend.options()
      let live
      t.after(() => {
        if (live && live.child.exitCode === null && live.child.signalCode === null) live.child.kill("SIGKILL")
        backend.cleanup(spool)
        return srv.close()
      })
      const options = { ...spool, spool_takeover_ms: TAKEOVER_MS, flush_at: 100, max_retries: 1000, max_retry_time: 600_000 }
      srv.failFor(600_000, { status: 503 })
      live = start(srv, "live", options, { SPOOL_LIMIT: "100" })
      await live.reached(100)
      const exiting = spawn(process.execPath, [FIXTURE, srv.url, KEY, "", "exit-now", "exit", JSON.stringify(options)], {
        stdio: "ignore",
        env: { ...process.env, SPOOL_CHUNK: "5000" },
      })
      assert.equal(await new Promise((r) => exiting.on("exit", r)), 0)
      srv.failFor(0, { status: 503 })
      await waitFor("the 5,000 messages of the process that exited", () => received(srv, "exit").byI.size >= 5000, 60_000)
      const { byI, copies } = received(srv, "exit")
      for (const [i, ids] of byI) assert.equal(ids.size, 1, `message ${i} arrived with ${ids.size} messageIds`)
      t.diagnostic(`${backend.name}: 5000 delivered by the live process, ${copies - byI.size} duplicate copies`)
    }
  )
}

/** A free TCP port on 127.0.0.1. */
function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer()
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address()
      s.close(() => resolve(port))
    })
    s.on("error", reject)
  })
}

/** A throwaway redis-server (no persistence) on `port`, with a password. */
function startRedis(port, password) {
  const child = spawn("redis-server", ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--requirepass", password], { stdio: "ignore" })
  const ready = (async () => {
    for (let i = 0; i < 200; i++) {
      if (redisCli(["ping"], { port, db: 0, password }).stdout.trim() === "PONG") return
      await sleep(25)
    }
    throw new Error("redis-server did not start")
  })()
  return { child, ready, exited: new Promise((r) => child.on("exit", r)) }
}

test(
  "redis spool: Redis killed mid-run, restarted empty, then flushed: no crash, delivery goes on from memory, the losses are counted and logged",
  { skip: !redisUp && "no Redis", timeout: 120_000 },
  async (t) => {
    const port = await freePort()
    const password = "pw_secret_redis_do_not_print"
    let redis = startRedis(port, password)
    await redis.ready
    const srv = await startSegmentServer()
    t.after(async () => {
      redis.child.kill("SIGKILL")
      await srv.close()
    })
    const url = `redis://:${password}@127.0.0.1:${port}/0`
    const { service, logger } = makeService(srv, { spool_dir: false, spool_url: url, spool_takeover_ms: 400, flush_at: 50 })
    const rejections = []
    const onRejection = (e) => rejections.push(e)
    process.on("unhandledRejection", onRejection)
    t.after(() => process.removeListener("unhandledRejection", onRejection))
    srv.failFor(600_000, { status: 503 })
    // Messages in the spool's stream (entries pack several: count the JSON).
    const streamLength = () => {
      const keys = redisCli(["--scan", "--pattern", "segment:spool:*"], { port, db: 0, password }).stdout.split("\n").filter((k) => k && !k.includes(":alive:"))
      if (!keys.length) return 0
      const out = redisCli(["--no-raw", "xrange", keys[0], "-", "+"], { port, db: 0, password }).stdout
      return spoolMessages(out).filter((json) => JSON.parse(json).event === "Order Completed").length
    }
    for (let i = 0; i < 500; i++) track(service, i)
    await waitFor("500 entries in Redis", () => streamLength() === 500, 10_000)

    // 1. Redis dies: tracking goes on, one clear line, no throw.
    redis.child.kill("SIGKILL")
    await redis.exited
    for (let i = 500; i < 1000; i++) track(service, i)
    await waitFor("the unreachable line", () => logger.lines.some((l) => /is unreachable/.test(l.msg)), 15_000)
    await sleep(1000) // several reconnect attempts
    assert.equal(logger.lines.filter((l) => /is unreachable/.test(l.msg)).length, 1, "one line per outage")

    // 2. Redis comes back empty (no persistence): the 500 written before are lost from it.
    redis = startRedis(port, password)
    await redis.ready
    await waitFor("the reachable-again line", () => logger.lines.some((l) => /reachable again/.test(l.msg)), 15_000)
    await waitFor("the loss counted", () => service.stats().spool.lost >= 500, 10_000)
    await waitFor("the 500 accepted while down written", () => streamLength() === 500, 10_000)
    assert.equal(service.stats().spool.lost, 500)

    // 3. FLUSHALL while up: the 500 now in Redis are lost from it too.
    redisCli(["flushall"], { port, db: 0, password })
    await waitFor("the flush counted", () => service.stats().spool.lost >= 1000, 10_000)
    for (let i = 1000; i < 1100; i++) track(service, i)
    await waitFor("the new messages written", () => streamLength() === 100, 10_000)

    // 4. Segment recovers: everything accepted is delivered from memory.
    srv.failFor(0, { status: 503 })
    const done = await service.flush()
    assert.equal(done.delivered, 1100)
    assert.equal(done.spool.lost, 1000)
    assert.deepEqual(done.dropped, {})
    assert.equal(new Set(srv.messages.map((m) => m.messageId)).size, 1100)
    await waitFor("settled entries removed from Redis", () => streamLength() === 0, 10_000)
    await service.shutdown()
    assert.deepEqual(rejections, [])
    const text = logger.lines.map((l) => l.msg).join("\n")
    assert.ok(!text.includes(KEY), "write key in the logs")
    assert.ok(!text.includes(password), "Redis password in the logs")
    assert.match(text, /lost the spool/)
    assert.match(text, /gone from Redis/)
    t.diagnostic(logger.lines.map((l) => `${l.level}: ${l.msg}`).join("\n"))
  }
)

test("redis spool: max_spool_bytes holds against the stream's memory; beyond it messages are dropped, counted and logged", { skip: !redisUp && "no Redis" }, async (t) => {
  const srv = await startSegmentServer()
  t.after(() => {
    cleanRedis()
    return srv.close()
  })
  srv.failFor(60_000, { status: 503 })
  const { service, logger } = makeService(srv, { spool_dir: false, spool_url: REDIS_URL, max_spool_bytes: 65536, write_key: `${KEY}_bound` })
  // random padding: entries are LZ4-compressed in Redis, and repeated text would take almost no room there
  const pad = () => require("node:crypto").randomBytes(150).toString("base64")
  for (let i = 0; i < 1000; i++) {
    track(service, i, { properties: { pad: pad(), i } })
    if (i % 50 === 0) await sleep(5) // let the spool's rounds measure the stream
  }
  // The bound holds against the stream's size as the spool estimates it
  // (entries x (average value + 128 bytes of Redis's own)), measured each
  // round: admission is checked against the estimate, and a round's new
  // running average can move it by less than one entry (1 KB here).
  assert.ok(service.stats().spool.bytes <= 65536 + 1024, `${service.stats().spool.bytes}`)
  // What Redis holds (each entry's value, compressed, and 128 bytes of its own) fits the bound too.
  await sleep(200) // the last round is written
  const key = redisCli(["--scan", "--pattern", "segment:spool:*"]).stdout.split("\n").filter((k) => k && !k.includes(":alive:"))
  assert.equal(key.length, 1, `one stream: ${key}`)
  const entries = spoolEntries(redisCli(["--no-raw", "xrange", key[0], "-", "+"]).stdout)
  const held = entries.reduce((n, e) => n + e.stored + 128, 0)
  assert.ok(held <= 65536 + 1024, `${held} bytes in ${entries.length} entries`)
  const inRedis = entries.reduce((n, e) => n + e.messages.length, 0)
  srv.failFor(0, { status: 503 })
  const done = await service.flush()
  assert.ok(done.dropped.spool_full > 0, JSON.stringify(done.dropped))
  assert.equal(done.delivered, 1000 - done.dropped.spool_full)
  assert.equal(inRedis, done.delivered, "every message kept was in Redis")
  assert.ok(logger.lines.some((l) => /spool full \(max_spool_bytes 65536\)/.test(l.msg)))
  await service.shutdown()
})

test("spool_url: bad values name the option without echoing it; spool_dir and spool_url together are refused", () => {
  const { SegmentService } = require("../..")
  for (const [value, re] of [
    ["http://127.0.0.1:6379", /spool_url.*redis:\/\/ or rediss:\/\//],
    ["redis://:hunter2secret@[::1", /spool_url.*not a valid Redis URL/],
    [12, /spool_url.*must be a URL string/],
  ]) {
    assert.throws(
      () => new SegmentService({}, { write_key: KEY, spool_url: value }),
      (e) => re.test(e.message) && !e.message.includes("hunter2secret") && !e.message.includes(KEY)
    )
  }
  assert.throws(() => new SegmentService({}, { write_key: KEY, spool_url: REDIS_URL, spool_dir: "/tmp/x" }), /spool_url.*spool_dir/)
  assert.throws(() => new SegmentService({}, { write_key: KEY, spool_takeover_ms: 5 }), /spool_takeover_ms/)
})
