"use strict"
// The spool trusts nothing it reads (src/spool, src/spool/replay.rs): hostile
// directory contents, records the client would not write, a private directory
// whatever the umask, a replay that streams within max_queue_bytes and
// max_spool_bytes and that flush()/shutdown() cover, bounded file descriptors,
// a deleted directory noticed, and a live process adopting a dead one's files.

const test = require("node:test")
const assert = require("node:assert/strict")
const crypto = require("node:crypto")
const fs = require("node:fs")
const os = require("node:os")
const path = require("node:path")
const { spawn, spawnSync } = require("node:child_process")
const { startSegmentServer } = require("../support/segment-server")
const { makeService, sleep } = require("./helpers")

const KEY = "wk_test_SECRET_do_not_print"

// ---- a writer of spool files (format 2, src/spool/format.rs), as a dead process leaves them

const CRC_TABLE = Array.from({ length: 256 }, (_, n) => {
  let c = n
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1
  return c >>> 0
})
function crc32(buf) {
  let c = 0xffffffff
  for (const b of buf) c = CRC_TABLE[(c ^ b) & 0xff] ^ (c >>> 8)
  return (c ^ 0xffffffff) >>> 0
}

function header(host, key = KEY) {
  const digest = crypto.createHmac("sha256", key).update("medusa-plugin-segment-rs spool destination\0").update(host).digest()
  const version = Buffer.alloc(4)
  version.writeUInt32LE(2)
  return Buffer.concat([Buffer.from("SEGSPOOL"), version, digest])
}

function record(body) {
  const frame = Buffer.alloc(8)
  frame.writeUInt32LE(body.length, 0)
  frame.writeUInt32LE(crc32(body), 4)
  return Buffer.concat([frame, body])
}

/** A message record: seq, kind (0 = track), accepted now, a fresh messageId. */
function message(seq, json, kind = 0) {
  const head = Buffer.alloc(34)
  head[0] = 1
  head.writeBigUInt64LE(BigInt(seq), 1)
  head[9] = kind
  head.writeBigInt64LE(BigInt(Date.now()), 10)
  crypto.randomBytes(16).copy(head, 18)
  return record(Buffer.concat([head, Buffer.from(json)]))
}

/** A spool file of a dead process holding `jsons` (strings, or [kind, json]). */
function writeSegment(dir, name, host, jsons) {
  const parts = [header(host)]
  jsons.forEach((j, i) => parts.push(Array.isArray(j) ? message(i, j[1], j[0]) : message(i, j)))
  fs.writeFileSync(path.join(dir, name), Buffer.concat(parts), { mode: 0o600 })
}

const trackJson = (tag, i, pad = "") => JSON.stringify({ userId: `user-${i % 50}`, event: "Spooled", properties: { tag, i, pad } })

function privateDir() {
  return fs.mkdtempSync(path.join(os.tmpdir(), "segment-spool-u-"))
}

async function serverAndDir(t) {
  const srv = await startSegmentServer()
  const dir = privateDir()
  t.after(() => {
    fs.rmSync(dir, { recursive: true, force: true })
    return srv.close()
  })
  return { srv, dir }
}

/** `promise`, or a failure naming `what` after `ms`. */
function within(ms, what, promise) {
  let timer
  const late = new Promise((_, reject) => (timer = setTimeout(() => reject(new Error(`${what} did not settle in ${ms} ms`)), ms)))
  return Promise.race([promise, late]).finally(() => clearTimeout(timer))
}

const tagged = (srv, tag) => srv.messages.filter((m) => m.properties && m.properties.tag === tag)

test("a FIFO, a symlink to /dev/zero and a huge file in spool_dir: each is logged and left alone, delivery goes on", async (t) => {
  const { srv, dir } = await serverAndDir(t)
  assert.equal(spawnSync("mkfifo", [path.join(dir, "pipe.seg")]).status, 0)
  fs.symlinkSync("/dev/zero", path.join(dir, "zero.seg"))
  // 2 GB (sparse) behind a valid header: not a file the spool writes.
  const big = path.join(dir, "big.seg")
  fs.writeFileSync(big, header(srv.url))
  fs.truncateSync(big, 2 * 1024 ** 3)
  const { service, logger } = makeService(srv, { spool_dir: dir })
  // a client without a spool, in the same process, is not held up either
  const { service: plain } = makeService(srv, { flush_at: 7 })
  for (let i = 0; i < 20; i++) service.track({ userId: "u", event: "Hostile", properties: { tag: "hostile", i } })
  for (let i = 0; i < 5; i++) plain.track({ userId: "u", event: "Plain", properties: { tag: "plain", i } })
  const done = await within(15000, "flush()", service.flush())
  assert.equal(done.delivered, 20)
  assert.equal((await within(15000, "flush() of a client without spool", plain.flush())).delivered, 5)
  const text = logger.lines.map((l) => l.msg).join("\n")
  assert.match(text, /pipe\.seg is not a regular file/)
  assert.match(text, /zero\.seg is a symbolic link/)
  assert.match(text, /big\.seg is 2147483648 bytes/)
  assert.ok(!text.includes(KEY))
  await within(15000, "shutdown()", Promise.all([service.shutdown(), plain.shutdown()]))
  assert.ok(fs.existsSync(big), "left alone, not deleted")
})

test("the spool directory is 0700 and its files 0600 whatever the umask; a directory others may write in is refused with the fix", async (t) => {
  const { srv, dir } = await serverAndDir(t)
  const spoolDir = path.join(dir, "spool")
  const old = process.umask(0o000)
  let service
  try {
    service = makeService(srv, { spool_dir: spoolDir }).service
  } finally {
    process.umask(old)
  }
  service.track({ userId: "u", event: "Private" })
  assert.equal(fs.statSync(spoolDir).mode & 0o777, 0o700)
  const files = fs.readdirSync(spoolDir)
  assert.ok(files.length > 0)
  for (const f of files) assert.equal(fs.statSync(path.join(spoolDir, f)).mode & 0o777, 0o600, f)
  await service.shutdown()

  const open = path.join(dir, "open")
  fs.mkdirSync(open)
  fs.chmodSync(open, 0o777)
  const { service: s2, logger } = makeService(srv, { spool_dir: open })
  for (let i = 0; i < 10; i++) s2.track({ userId: "u", event: "Open" })
  const done = await s2.flush()
  assert.equal(done.delivered, 10, "delivery goes on in memory")
  assert.equal(done.spool.errors, 1)
  const line = logger.lines.find((l) => /spool/.test(l.msg))
  assert.match(line.msg, /writable by other users/)
  assert.match(line.msg, /chmod 700/)
  assert.deepEqual(fs.readdirSync(open), [], "nothing written where others may write")
  await s2.shutdown()
})

test("replayed records are checked: a write key, odd integrations or an unknown type is dropped, counted and logged; use_ga_id's integrations replay", async (t) => {
  const { srv, dir } = await serverAndDir(t)
  writeSegment(dir, "1-dead-000000.seg", srv.url, [
    trackJson("checked", 0),
    JSON.stringify({ userId: "u", event: "Injected", writeKey: "other", properties: { tag: "checked", i: 1 } }),
    JSON.stringify({ userId: "u", event: "Injected", integrations: { All: "yes" }, properties: { tag: "checked", i: 2 } }),
    JSON.stringify({ userId: "u", event: "Order Completed", integrations: { "Google Analytics": { clientId: "1.2" } }, properties: { tag: "checked", i: 6 } }),
    [9, trackJson("checked", 3)],
    [5, JSON.stringify({ userId: "u", previousId: "victim", properties: { tag: "checked", i: 4 } })],
  ])
  // Root can hand a file to another user: it is not replayed.
  if (process.getuid() === 0) {
    writeSegment(dir, "2-other-000000.seg", srv.url, [trackJson("checked", 5)])
    fs.chownSync(path.join(dir, "2-other-000000.seg"), 65534, 65534)
  }
  const { service, logger } = makeService(srv, { spool_dir: dir })
  const done = await service.flush()
  const got = tagged(srv, "checked").map((m) => m.properties.i).sort()
  // an alias is a call the client makes: the type stays, checked like any alias
  assert.deepEqual(got, [0, 4, 6])
  assert.equal(done.dropped.spool_invalid, 3)
  const text = logger.lines.map((l) => l.msg).join("\n")
  assert.match(text, /carries a write key/)
  if (process.getuid() === 0) assert.match(text, /belongs to another user/)
  assert.ok(!srv.messages.some((m) => m.writeKey || (m.integrations && m.integrations.All)))
  await service.shutdown()
})

test("the same endpoint spelled another way (localhost, upper case, a trailing slash) replays the spool; another key does not", async (t) => {
  const { srv, dir } = await serverAndDir(t)
  writeSegment(dir, "500-dead-000000.seg", srv.url, [trackJson("spelled", 0), trackJson("spelled", 1)])
  const other = Buffer.concat([header(srv.url, "another_key_entirely"), message(0, trackJson("spelled", 2))])
  fs.writeFileSync(path.join(dir, "501-other-000000.seg"), other, { mode: 0o600 })
  const spelled = `HTTP://LOCALHOST:${new URL(srv.url).port}/`
  const { service, logger } = makeService(srv, { spool_dir: dir, host: spelled })
  const done = await service.flush()
  assert.equal(done.spool.replayed, 2)
  assert.deepEqual(tagged(srv, "spelled").map((m) => m.properties.i).sort(), [0, 1])
  assert.ok(logger.lines.some((l) => /501-other-000000\.seg holds messages for another write key or host/.test(l.msg)))
  await service.shutdown()
})

test("thousands of dead processes' files are replayed with a bounded number of open files", async (t) => {
  const { srv, dir } = await serverAndDir(t)
  const N = 1500
  for (let f = 0; f < N; f++) writeSegment(dir, `${100000 + f}-dead-000000.seg`, srv.url, [trackJson("fds", f)])
  const fds = () => fs.readdirSync("/proc/self/fd").length
  const base = fds()
  let most = base
  const sampler = setInterval(() => (most = Math.max(most, fds())), 2)
  const { service } = makeService(srv, { spool_dir: dir })
  const done = await service.flush()
  clearInterval(sampler)
  assert.equal(done.spool.replayed, N)
  assert.equal(new Set(tagged(srv, "fds").map((m) => m.properties.i)).size, N)
  assert.ok(most - base < 200, `${most - base} files open at once while replaying ${N} files`)
  await service.shutdown()
  // (the worker closes the spool just after shutdown() resolves)
  for (let i = 0; i < 200 && fs.readdirSync(dir).length > 0; i++) await sleep(10)
  assert.deepEqual(fs.readdirSync(dir), [], "adopted files are deleted once delivered")
})

test("replay streams within max_queue_bytes: new events are not dropped as queue_full, the backlog stays bounded, everything is delivered", async (t) => {
  const { srv, dir } = await serverAndDir(t)
  const N = 20000
  const pad = "p".repeat(200)
  for (let f = 0; f < 10; f++) {
    const jsons = []
    for (let i = f * (N / 10); i < (f + 1) * (N / 10); i++) jsons.push(trackJson("bounded", i, pad))
    writeSegment(dir, `${200 + f}-dead-000000.seg`, srv.url, jsons)
  }
  srv.failFor(60_000, { status: 503 })
  const MAX = 1 << 20
  const { service } = makeService(srv, { spool_dir: dir, max_queue_bytes: MAX, flush_at: 100 })
  let most = 0
  const sampler = setInterval(() => (most = Math.max(most, service.stats().queued_bytes)), 5)
  await sleep(1000) // the replay fills its half of the queue, Segment refuses everything
  for (let i = 0; i < 100; i++) service.track({ userId: "u", event: "Fresh", properties: { tag: "fresh", i } })
  const during = service.stats()
  assert.equal(during.dropped.queue_full, undefined, `new events dropped while replaying: ${JSON.stringify(during.dropped)}`)
  assert.ok(during.spool.replayed < N, "the replay waits for room (it streams)")
  srv.failFor(0, { status: 503 })
  const done = await service.flush()
  clearInterval(sampler)
  assert.ok(most <= MAX, `queued_bytes reached ${most}, over max_queue_bytes ${MAX}`)
  assert.equal(done.spool.replayed, N)
  assert.equal(new Set(tagged(srv, "bounded").map((m) => m.properties.i)).size, N)
  assert.equal(tagged(srv, "fresh").length, 100)
  assert.deepEqual(done.dropped, {})
  await service.shutdown()
})

test("replay keeps what two dead processes left beyond its own max_spool_bytes: nothing dropped as spool_full", async (t) => {
  const { srv, dir } = await serverAndDir(t)
  const pad = "q".repeat(300)
  for (const p of [0, 1]) {
    const jsons = []
    for (let i = 0; i < 3000; i++) jsons.push(trackJson(`owner${p}`, i, pad))
    writeSegment(dir, `${300 + p}-dead-000000.seg`, srv.url, jsons)
  }
  const { service } = makeService(srv, { spool_dir: dir, max_spool_bytes: 262144 })
  const done = await service.flush()
  assert.deepEqual(done.dropped, {})
  for (const p of [0, 1]) assert.equal(new Set(tagged(srv, `owner${p}`).map((m) => m.properties.i)).size, 3000)
  await service.shutdown()
})

test("flush() and shutdown() right after a start that replays cover the replayed messages, even when the app tracks meanwhile", async (t) => {
  const { srv, dir } = await serverAndDir(t)
  for (const [tag, how] of [
    ["flushed", "flush"],
    ["shut", "shutdown"],
  ]) {
    const sub = path.join(dir, tag)
    fs.mkdirSync(sub, { mode: 0o700 })
    const jsons = []
    for (let i = 0; i < 5000; i++) jsons.push(trackJson(tag, i, "x".repeat(100)))
    writeSegment(sub, "400-dead-000000.seg", srv.url, jsons)
    const { service } = makeService(srv, { spool_dir: sub })
    service.track({ userId: "u", event: "Own", properties: { tag, i: 5000 } })
    const done = how === "flush" ? await service.flush() : await service.shutdown({ timeout: 10000 })
    assert.equal(done.queued, 0, `${how}() resolved with ${done.queued} still queued`)
    assert.equal(done.delivered, 5001, `${how}(): ${JSON.stringify(done)}`)
    if (how === "flush") await service.shutdown()
  }
})

test("spool_dir deleted under a running process: noticed, counted, logged with the fix, and made again", async (t) => {
  const { srv, dir } = await serverAndDir(t)
  const { service, logger } = makeService(srv, { spool_dir: dir })
  service.track({ userId: "u", event: "Before" })
  await service.flush()
  fs.rmSync(dir, { recursive: true, force: true })
  for (let i = 0; i < 60 && !logger.lines.some((l) => /were deleted/.test(l.msg)); i++) await sleep(100)
  const line = logger.lines.find((l) => /were deleted/.test(l.msg))
  assert.ok(line, "no log line about the deleted directory")
  assert.match(line.msg, /Fix:/)
  assert.equal(service.stats().spool.errors, 1)
  srv.failFor(60_000, { status: 503 })
  service.track({ userId: "u", event: "After" })
  await sleep(100)
  const files = fs.readdirSync(dir).filter((f) => f.endsWith(".seg"))
  assert.ok(files.length > 0, "new messages are on disk again")
  srv.failFor(0, { status: 503 })
  await service.shutdown()
})

test("a live process adopts the files of one killed with SIGKILL within spool_takeover_ms, with their messageIds, without a restart", async (t) => {
  const { srv, dir } = await serverAndDir(t)
  // The survivor runs first and keeps running.
  const { service, logger } = makeService(srv, { spool_dir: dir, spool_takeover_ms: 1000, flush_at: 100 })
  srv.failFor(120_000, { status: 503 })
  const fixture = path.join(__dirname, "fixtures", "spool-child.js")
  const opts = JSON.stringify({ flush_at: 100 })
  const child = spawn(process.execPath, [fixture, srv.url, KEY, dir, "burst", "dead", opts], {
    stdio: ["ignore", "pipe", "pipe"],
    env: { ...process.env, SPOOL_CHUNK: "500", SPOOL_LIMIT: "3000" },
  })
  let out = ""
  child.stdout.on("data", (d) => (out += d))
  const exited = new Promise((resolve) => child.on("exit", (code, signal) => resolve(signal)))
  for (let i = 0; i < 300 && !/accepted 3000 /.test(out); i++) await sleep(50)
  assert.match(out, /accepted 3000 /)
  await sleep(300) // past the spool's 100 ms window
  child.kill("SIGKILL")
  assert.equal(await exited, "SIGKILL")
  // The ids the dead process tried to send during the outage.
  const tried = new Map()
  for (const b of srv.batches) for (const m of (b.body && b.body.batch) || []) if (m.properties && m.properties.tag === "dead") tried.set(m.properties.i, m.messageId)
  srv.failFor(0, { status: 503 })
  for (let i = 0; i < 300 && new Set(tagged(srv, "dead").map((m) => m.properties.i)).size < 3000; i++) await sleep(50)
  const got = new Map()
  for (const m of tagged(srv, "dead")) {
    const ids = got.get(m.properties.i) || new Set()
    ids.add(m.messageId)
    got.set(m.properties.i, ids)
  }
  assert.equal(got.size, 3000, `${got.size} of 3000 delivered by the survivor`)
  for (const [i, ids] of got) {
    assert.equal(ids.size, 1, `message ${i} sent with ${ids.size} messageIds`)
    if (tried.has(i)) assert.ok(ids.has(tried.get(i)), `message ${i} changed its messageId`)
  }
  assert.ok(tried.size > 0)
  assert.ok(service.stats().spool.replayed >= 3000)
  assert.ok(logger.lines.some((l) => /replaying \d+ messages/.test(l.msg)))
  await service.shutdown()
})
