"use strict"
// The JS API contract: validation errors, options, missing write key,
// enabled: false, shared clients, the bounded queue, shutdown.

const test = require("node:test")
const assert = require("node:assert/strict")
const { randomBytes } = require("node:crypto")
const { startSegmentServer } = require("../support/segment-server")
const { SegmentService } = require("../..")
const { captureLogger, fastOptions, makeService, track, sleep } = require("./helpers")

const KEY = "wk_test_SECRET_do_not_print"
const seen = [] // every error message and log line of this file, checked for the key at the end

function throwsNaming(fn, pattern) {
  let err
  try {
    fn()
  } catch (e) {
    err = e
  }
  assert.ok(err, "expected a throw")
  seen.push(err.message)
  assert.match(err.message, pattern)
  return err
}

test("invalid messages throw synchronously, naming the call and the problem", async (t) => {
  const srv = await startSegmentServer()
  t.after(() => srv.close())
  const { service, logger } = makeService(srv)
  throwsNaming(() => service.track(null), /^SegmentService\.track: the message must be an object/)
  throwsNaming(() => service.identify("u1"), /^SegmentService\.identify: the message must be an object/)
  throwsNaming(() => service.page([1]), /^SegmentService\.page: the message must be an object/)
  throwsNaming(() => service.track({ event: "E" }), /track: .*"userId" or an "anonymousId"/)
  throwsNaming(() => service.identify({ userId: "" }), /identify: .*"userId" or an "anonymousId"/)
  throwsNaming(() => service.track({ userId: "u" }), /track: .*"event"/)
  throwsNaming(() => service.track({ userId: "u", event: 5 }), /track: .*"event"/)
  throwsNaming(() => service.group({ userId: "u" }), /group: .*"groupId"/)
  throwsNaming(() => service.alias({ userId: "u" }), /alias: .*"previousId"/)
  throwsNaming(() => service.track({ userId: "u", event: "E" }, "cb"), /track: the callback must be a function/)
  const circular = { userId: "u", event: "E", properties: {} }
  circular.properties.self = circular
  throwsNaming(() => service.track(circular), /track: the message cannot be encoded as JSON \(.*circular/i)
  throwsNaming(() => service.track({ userId: "u", event: "E", properties: { n: 10n } }), /track: .*BigInt/)
  const big = { userId: "u", event: "E", properties: { blob: "x".repeat(33 * 1024) } }
  const e = throwsNaming(() => service.track(big), /track: the message is \d+ bytes of JSON, over Segment's 32 KB limit/)
  assert.ok(e instanceof RangeError)
  // Multi-byte text counts in UTF-8 bytes.
  throwsNaming(
    () => service.identify({ userId: "u", traits: { bio: "é".repeat(17 * 1024) } }),
    /identify: the message is \d+ bytes/
  )
  // The store keeps running.
  service.track({ userId: "u", event: "After" })
  await service.flush()
  assert.equal(srv.messages.length, 1)
  assert.equal(srv.messages[0].event, "After")
  const s = service.stats()
  assert.equal(s.accepted, 1)
  seen.push(...logger.lines.map((l) => l.msg))
})

test("messages the background side rejects: dropped as invalid, callback gets the error", async (t) => {
  const srv = await startSegmentServer()
  t.after(() => srv.close())
  const { service, logger } = makeService(srv)
  const errs = []
  service.track({ userId: "u", event: "E", context: "not an object" }, (err) => errs.push(err))
  service.track({ userId: "u", event: "E", timestamp: true }, (err) => errs.push(err))
  service.track({ userId: "u", event: "Fine" }, (err) => errs.push(err))
  const res = await service.flush()
  assert.deepEqual(res.dropped, { invalid: 2 })
  assert.equal(res.delivered, 1)
  assert.equal(errs.length, 3)
  assert.match(errs[0].message, /^track: context must be an object/)
  assert.match(errs[1].message, /^track: timestamp must be/)
  assert.equal(errs[2], null)
  const lines = logger.lines.filter((l) => l.level === "error" && /dropped a message/.test(l.msg))
  assert.equal(lines.length, 1, "rate-limited to one line per reason per 10 s")
  seen.push(...logger.lines.map((l) => l.msg))
})

test("wrong option types or values throw at construction, naming the option", () => {
  for (const [options, name] of [
    [{ write_key: "k", flush_at: "20" }, "flush_at"],
    [{ write_key: "k", flush_at: 0 }, "flush_at"],
    [{ write_key: "k", flush_interval: -5 }, "flush_interval"],
    [{ write_key: "k", max_retries: 1.5 }, "max_retries"],
    [{ write_key: "k", timeout: "10s" }, "timeout"],
    [{ write_key: "k", max_queue_bytes: 100 }, "max_queue_bytes"],
    [{ write_key: "k", gzip: "yes" }, "gzip"],
    [{ write_key: "k", enabled: 0 }, "enabled"],
    [{ write_key: "k", host: "api.segment.io" }, "host"],
    [{ write_key: KEY.length }, "write_key"],
    [{ write_key: { key: KEY } }, "write_key"],
  ]) {
    const e = throwsNaming(() => new SegmentService({}, options), new RegExp(`\`${name}\``))
    assert.ok(!e.message.includes(KEY))
  }
  throwsNaming(() => new SegmentService({}, "k"), /options must be an object/)
})

test("missing write_key: one error naming write_key and SEGMENT_WRITE_KEY, delivery disabled", async () => {
  const logger = captureLogger()
  const service = new SegmentService({ logger }, { flush_interval: 50, use_ga_id: true })
  const again = new SegmentService({ logger }, { flush_interval: 50, use_ga_id: false })
  const results = []
  service.track({ userId: "u", event: "E" }, (err) => results.push(err))
  again.identify({ userId: "u" })
  const res = await service.flush()
  await sleep(20)
  const errors = logger.lines.filter((l) => l.level === "error")
  assert.equal(errors.length, 1, JSON.stringify(logger.lines))
  assert.match(errors[0].msg, /write_key/)
  assert.match(errors[0].msg, /SEGMENT_WRITE_KEY/)
  assert.equal(res.enabled, false)
  assert.equal(res.disabled_reason, "write_key is missing")
  assert.equal(res.accepted, 2)
  assert.deepEqual(res.dropped, { disabled: 2 })
  assert.deepEqual(results, [null])
  assert.equal(service.options_.use_ga_id, true, "options_ is the object as given")
})

test("enabled: false accepts and counts, sends nothing", async (t) => {
  const srv = await startSegmentServer()
  t.after(() => srv.close())
  const { service, logger } = makeService(srv, { enabled: false })
  for (let i = 0; i < 10; i++) track(service, i)
  const res = await service.flush()
  await sleep(100)
  assert.equal(srv.batches.length, 0)
  assert.equal(res.accepted, 10)
  assert.deepEqual(res.dropped, { disabled: 10 })
  assert.equal(res.enabled, false)
  assert.equal(res.disabled_reason, "enabled is false")
  assert.equal(logger.lines.filter((l) => l.level === "error").length, 0)
})

test("one native client per configuration: scoped construction shares it", async (t) => {
  const srv = await startSegmentServer()
  t.after(() => srv.close())
  const opts = fastOptions(srv, { flush_at: 50, reporting_currency: "EUR" })
  const services = []
  for (let i = 0; i < 200; i++) services.push(new SegmentService({}, { ...opts }))
  services.forEach((s, i) => track(s, i))
  const res = await services[199].flush()
  assert.equal(res.accepted, 200)
  assert.equal(res.delivered, 200)
  assert.equal(srv.batches.length, 4, "one client batching all 200")
  const other = new SegmentService({}, { ...opts, flush_at: 10 })
  assert.equal(other.stats().accepted, 0, "another configuration gets its own client")
})

test("an awilix-like cradle without a logger falls back to console", () => {
  const cradle = new Proxy(
    {},
    {
      get(_, name) {
        throw new Error(`Could not resolve '${String(name)}'`)
      },
    }
  )
  const service = new SegmentService(cradle, { write_key: KEY, host: "http://127.0.0.1:9", enabled: false })
  assert.equal(service.stats().enabled, false)
})

test("a full queue drops the newest messages: counted, logged, never throws or blocks", async (t) => {
  const srv = await startSegmentServer()
  t.after(() => srv.close())
  srv.failFor(600, { status: 503 })
  const { service, logger } = makeService(srv, { max_queue_bytes: 64 * 1024, flush_at: 10 })
  const errors = []
  const t0 = process.hrtime.bigint()
  // Random padding: batches waiting for a request slot are held compressed and
  // charged at that size, so a repetitive pad would fill the queue far less.
  const pad = () => randomBytes(300).toString("base64")
  for (let i = 0; i < 1000; i++) {
    service.track({ userId: "u", event: "E", properties: { i, pad: pad() } }, (err) => {
      if (err) errors.push(err.message)
    })
  }
  const ms = Number(process.hrtime.bigint() - t0) / 1e6
  assert.ok(ms < 1000, `1000 calls took ${ms} ms`)
  const before = service.stats()
  assert.ok(before.queued_bytes <= 64 * 1024)
  assert.ok(before.dropped.queue_full > 800, JSON.stringify(before))
  const res = await service.flush()
  assert.equal(res.accepted, 1000)
  assert.equal(res.delivered + res.dropped.queue_full, 1000)
  assert.equal(srv.uniqueMessageIds().size, res.delivered)
  assert.equal(errors.length, res.dropped.queue_full)
  assert.match(errors[0], /track: dropped, the queue is full \(max_queue_bytes\)/)
  const queueLogs = logger.lines.filter((l) => /queue full/.test(l.msg))
  assert.ok(queueLogs.length >= 1 && queueLogs.length <= 3, `rate-limited: ${queueLogs.length} lines`)
  seen.push(...logger.lines.map((l) => l.msg))
})

test("shutdown() flushes then stops; later calls fail clearly", async (t) => {
  const srv = await startSegmentServer()
  t.after(() => srv.close())
  const { service } = makeService(srv, { flush_at: 100, flush_interval: 60000 })
  for (let i = 0; i < 5; i++) track(service, i)
  const res = await service.shutdown()
  assert.equal(res.delivered, 5)
  assert.equal(res.timed_out, false)
  assert.equal(srv.uniqueMessageIds().size, 5)
  throwsNaming(() => track(service, 6), /SegmentService\.track: the client has been shut down/)
  await assert.rejects(service.flush(), /flush: the client has been shut down/)
  assert.equal(service.stats().closed, true)
  // closeAndFlush is an alias and a second call is harmless.
  await service.closeAndFlush(null)
  // A new service with the same options gets a fresh client.
  const { service: fresh } = makeService(srv, { flush_at: 100, flush_interval: 60000 })
  track(fresh, 7)
  await fresh.shutdown({ timeout: Infinity })
  assert.equal(srv.uniqueMessageIds().size, 6)
})

test("shutdown({ timeout }) during an outage returns in time and counts what it dropped", async (t) => {
  const srv = await startSegmentServer()
  t.after(() => srv.close())
  srv.failFor(10000, { status: 500 })
  const { service, logger } = makeService(srv, { flush_at: 10 })
  const errors = []
  for (let i = 0; i < 30; i++) service.track({ userId: "u", event: "E" }, (err) => errors.push(err))
  const t0 = Date.now()
  const res = await service.shutdown({ timeout: 300 })
  const took = Date.now() - t0
  assert.ok(took >= 280 && took < 1500, `took ${took} ms`)
  assert.equal(res.timed_out, true)
  assert.deepEqual(res.dropped, { flush_timeout: 30 })
  assert.equal(res.queued, 0)
  assert.equal(errors.length, 30)
  assert.ok(errors.every((e) => e instanceof Error && /flush timeout/.test(e.message)))
  assert.ok(logger.lines.some((l) => l.level === "error" && /dropped 30 undelivered/.test(l.msg)))
  seen.push(...logger.lines.map((l) => l.msg))
})

test("the write key appears in no error, log line or stats", () => {
  assert.ok(seen.length > 10)
  for (const line of seen) assert.ok(!line.includes(KEY), line)
  const { service } = makeService({ url: "http://127.0.0.1:9" }, { enabled: false })
  assert.ok(!JSON.stringify(service.stats()).includes(KEY))
  // options_ is the object as given, but console.log(service) does not show it.
  assert.equal(service.options_.write_key, KEY)
  const inspected = require("node:util").inspect(service, { depth: 10, showHidden: false })
  assert.ok(!inspected.includes(KEY), inspected)
})
