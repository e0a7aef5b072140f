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

test("values Segment would refuse throw synchronously, naming the field; nothing is dropped later", async (t) => {
  const srv = await startSegmentServer()
  t.after(() => srv.close())
  const { service, logger } = makeService(srv)
  const called = []
  const cb = (err) => called.push(err)
  for (const [call, message, pattern] of [
    ["track", { userId: NaN, event: "E" }, /track: "userId" must be a string or a finite number \(got NaN\)/],
    ["identify", { userId: Infinity }, /identify: "userId" must be a string or a finite number \(got Infinity\)/],
    ["identify", { userId: Symbol("u") }, /"userId" must be .*\(got a symbol\)/],
    ["identify", { userId: () => "u" }, /"userId" must be .*\(got a function\)/],
    ["identify", { userId: { id: 1 } }, /"userId" must be .*\(got an object\)/],
    ["identify", { userId: 10n }, /"userId" must be .*\(got a bigint\)/],
    ["identify", { anonymousId: true }, /"anonymousId" must be .*\(got a boolean\)/],
    ["identify", { anonymousId: "a", userId: -Infinity }, /"userId" must be/],
    ["identify", { userId: " \t\n" }, /identify: "userId" is only white space/],
    ["page", { userId: "u", anonymousId: "\u00a0" }, /page: "anonymousId" is only white space/],
    ["track", { userId: "u", event: "   " }, /track: "event" is only white space/],
    ["group", { userId: "u", groupId: NaN }, /group: "groupId" must be/],
    ["group", { userId: "u", groupId: "  " }, /group: "groupId" is only white space/],
    ["alias", { userId: "u", previousId: {} }, /alias: "previousId" must be/],
    ["track", { userId: "u", event: "E", properties: "a string" }, /track: "properties" must be an object \(got a string\)/],
    ["track", { userId: "u", event: "E", properties: [1, 2] }, /"properties" must be an object \(got an array\)/],
    ["identify", { userId: "u", traits: 5 }, /identify: "traits" must be an object \(got a number\)/],
    ["track", { userId: "u", event: "E", context: "not an object" }, /"context" must be an object \(got a string\)/],
    ["track", { userId: "u", event: "E", context: new Date() }, /"context" must be an object \(got a Date\)/],
    ["page", { userId: "u", integrations: "all" }, /page: "integrations" must be an object/],
    ["track", { userId: "u", event: "E", properties: { toJSON: () => "x" } }, /"properties" must be an object/],
    ["track", { userId: "u", event: "E", timestamp: true }, /"timestamp" must be a Date, an ISO-8601 string or epoch milliseconds/],
    ["track", { userId: "u", event: "E", timestamp: NaN }, /"timestamp" is not a valid date/],
    ["track", { userId: "u", event: "E", timestamp: 1e20 }, /"timestamp" is not a valid date/],
    ["track", { userId: "u", event: "E", timestamp: new Date("nope") }, /"timestamp" is not a valid date/],
    ["track", { userId: "u", event: "E", messageId: { id: 1 } }, /"messageId" must be a string/],
    ["track", { userId: "u", event: "E", toJSON: () => "text" }, /track: the message must encode as a JSON object/],
    ["track", { userId: "u", event: "E", toJSON: () => undefined }, /track: the message must encode as a JSON object/],
    // toJSON's object passes the checks, but encodes (by its own toJSON) as a string.
    ["track", { toJSON: () => ({ userId: "u", event: "E", toJSON: () => "text" }) }, /track: the message must encode as a JSON object/],
    [
      "track",
      {
        userId: "u",
        event: "E",
        properties: {
          toJSON() {
            throw new Error("no")
          },
        },
      },
      /track: the message cannot be encoded as JSON \(no\)/,
    ],
  ]) {
    const err = throwsNaming(() => service[call](message, cb), pattern)
    assert.ok(err instanceof TypeError, `${err.message} is a TypeError`)
  }
  service.track({ userId: "u", event: "Fine" }, cb)
  const res = await service.flush()
  assert.deepEqual(called, [null], "only the valid message reached the callback")
  assert.deepEqual(res.dropped, {})
  assert.equal(res.accepted, 1)
  assert.equal(res.delivered, 1)
  seen.push(...logger.lines.map((l) => l.msg))
})

test("the 32 KB limit holds for the message as sent: at the limit accepted and delivered, one byte over throws", async (t) => {
  const srv = await startSegmentServer()
  t.after(() => srv.close())
  const { service } = makeService(srv)
  // The worst case for enrichment: numeric ids and none of type, messageId,
  // timestamp or context given.
  // What enrichment adds at most: type, messageId, timestamp, context with
  // library, and quotes around the four ids (src/message.rs).
  const library = { name: "medusa-plugin-segment-rs", version: require("../../package.json").version }
  const RESERVE = 18 + 51 + 39 + 23 + JSON.stringify(library).length + 8
  const at = (extra) => {
    const m = { userId: 1, anonymousId: 2, groupId: 3, previousId: 4, traits: { p: "" } }
    const room = 32 * 1024 - RESERVE - Buffer.byteLength(JSON.stringify(m))
    m.traits.p = "é".repeat(10) + "x".repeat(room - 20 + extra)
    return m
  }
  assert.equal(Buffer.byteLength(JSON.stringify(at(0))), 32 * 1024 - RESERVE)
  const e = throwsNaming(
    () => service.identify(at(1)),
    new RegExp(`identify: the message is ${32 * 1024 - RESERVE + 1} bytes of JSON, over Segment's 32 KB limit \\(32768 bytes, of which up to ${RESERVE}`)
  )
  assert.ok(e instanceof RangeError)
  const errs = []
  service.identify(at(0), (err) => errs.push(err))
  const res = await service.flush()
  assert.deepEqual(errs, [null])
  assert.equal(res.delivered, 1)
  const sent = srv.messages[0]
  assert.equal(sent.userId, "1")
  assert.equal(Buffer.byteLength(JSON.stringify(sent)), 32 * 1024, "exactly Segment's limit once enriched")
})

test("the package's debugger accepts every odd but valid message track() accepts", async (t) => {
  const { startDebugger } = require("../../debugger")
  const dbg = await startDebugger({ print: false })
  t.after(() => dbg.close())
  const logger = captureLogger()
  const service = new SegmentService({ logger }, { write_key: KEY, host: dbg.url, flush_at: 20, flush_interval: 50 })
  class Entity {
    constructor() {
      this.id = "ent_1"
      this.total = 10
    }
  }
  const odd = [
    ["track", { userId: " padded ", event: " spaced event " }],
    ["track", { userId: 0, event: "Zero id" }],
    ["track", { userId: -1.5, event: "Negative id" }],
    ["track", { userId: 1e21, event: "Huge id" }],
    ["track", { userId: "", anonymousId: "anon", event: "Empty userId" }],
    ["track", { userId: null, anonymousId: 7, event: "Null userId" }],
    ["track", { userId: "u", event: "Ürün ✓ \u2028 line\nbreak" }],
    ["track", { userId: "u", event: "E", properties: {} }],
    ["track", { userId: "u", event: "E", properties: null, context: null, integrations: null, traits: null }],
    ["track", { userId: "u", event: "E", properties: new Entity() }],
    ["track", { userId: "u", event: "E", properties: { toJSON: () => ({ a: 1 }) } }],
    ["track", { userId: "u", event: "E", properties: Object.assign(Object.create(null), { a: 1 }) }],
    ["track", { userId: "u", event: "E", properties: { nan: NaN, inf: -Infinity, when: new Date(0), nested: [{ a: undefined }] } }],
    ["track", { userId: "u", event: "E", context: {} }],
    ["track", { userId: "u", event: "E", context: { library: { name: "mine", version: "1" }, ip: "10.0.0.1" } }],
    ["track", { userId: "u", event: "E", integrations: { All: false } }],
    ["track", { userId: "u", event: "E", timestamp: new Date(0) }],
    ["track", { userId: "u", event: "E", timestamp: 0 }],
    ["track", { userId: "u", event: "E", timestamp: Date.now() }],
    ["track", { userId: "u", event: "E", timestamp: "2024-01-01T00:00:00Z" }],
    ["track", { userId: "u", event: "E", timestamp: "" }],
    ["track", { userId: "u", event: "E", messageId: 7 }],
    ["track", { userId: "u", event: "E", messageId: "" }],
    ["track", { userId: "u", event: "E", type: "bogus" }],
    ["track", { userId: "u", event: "E", 'we"ird\n\u0001key': true, "\u2028": 1 }],
    // Half an emoji (a string cut by slice): JSON.stringify escapes the lone surrogate.
    ["track", { userId: "u\ud83d", event: "E \ud83d\ude00", properties: { cut: "😀😀".slice(0, 3), "\udc00": 1 } }],
    ["identify", { userId: "u", traits: { email: "a@b.c" } }],
    ["page", { anonymousId: "a", name: "Home" }],
    ["screen", { userId: "u" }],
    ["group", { userId: "u", groupId: 42 }],
    ["alias", { userId: "u", previousId: 0 }],
  ]
  for (const [call, message] of odd) service[call](message)
  const res = await service.flush()
  assert.equal(res.accepted, odd.length)
  assert.deepEqual(res.dropped, {})
  assert.equal(res.delivered, odd.length, JSON.stringify({ res, errors: dbg.errors(), logs: logger.lines }))
  assert.deepEqual(dbg.errors(), [])
  assert.equal(dbg.messages().length, odd.length)
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

test("NaN, Infinity, negative or fractional numbers throw at construction, naming the option and its range", () => {
  for (const [options, name, range] of [
    [{ flush_at: NaN }, "flush_at", /from 1 to 10000 \(got NaN\)/],
    [{ flush_interval: Infinity }, "flush_interval", /from 1 to 86400000 \(got Infinity\)/],
    [{ max_retries: -Infinity }, "max_retries", /from 0 to 1000 \(got -Infinity\)/],
    [{ max_in_flight: -1 }, "max_in_flight", /from 1 to 64/],
    [{ timeout: 0.5 }, "timeout", /from 1 to 86400000/],
    [{ shutdown_timeout: NaN }, "shutdown_timeout", /from 0 to 86400000 \(got NaN\)/],
    [{ max_queue_bytes: Infinity }, "max_queue_bytes", /\(got Infinity\)/],
  ]) {
    throwsNaming(() => new SegmentService({}, { write_key: KEY, ...options }), new RegExp(`\`${name}\`: must be an integer`))
    throwsNaming(() => new SegmentService({}, { write_key: KEY, ...options }), range)
  }
  throwsNaming(() => new SegmentService({}, { write_key: KEY, flush_at: 20n }), /`flush_at`: must be a number, not a BigInt/)
})

test("host must be an http(s) URL with a valid host and port; a bad one throws naming host", () => {
  for (const host of ["http://[::1", "http://127.0.0.1:99999", "http://999.0.0.1", "api.segment.io", "ftp://h.example"]) {
    const e = throwsNaming(() => new SegmentService({}, { write_key: KEY, host }), /`host`: is not a valid URL/)
    assert.ok(e instanceof Error)
  }
  // The write key put in `host` by mistake is not echoed back.
  for (const host of [KEY, `https://${KEY}:99999`, KEY.toLowerCase()]) {
    const e = throwsNaming(() => new SegmentService({}, { write_key: KEY, host }), /`host`/)
    assert.ok(!e.message.toLowerCase().includes(KEY.toLowerCase()), e.message)
  }
  const e = throwsNaming(() => new SegmentService({}, { host: KEY }), /`host`/)
  assert.ok(!e.message.includes(KEY), e.message)
  new SegmentService({}, { write_key: KEY, host: "http://[::1]:9", enabled: false })
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

test("shared client: one owner's shutdown leaves it working for the others; the last one closes it", async (t) => {
  const srv = await startSegmentServer()
  t.after(() => srv.close())
  const opts = fastOptions(srv, { flush_at: 100, flush_interval: 60000 })
  const a = new SegmentService({}, { ...opts })
  const b = new SegmentService({}, { ...opts })
  const c = new SegmentService({}, { ...opts })
  track(a, 1)
  track(b, 2)
  const resA = await a.shutdown()
  assert.equal(resA.closed, false, "others still own the client")
  assert.equal(srv.uniqueMessageIds().size, 2, "a's shutdown flushed what was pending")
  throwsNaming(() => track(a, 3), /SegmentService\.track: the client has been shut down/)
  await assert.rejects(a.flush(), /flush: the client has been shut down/)
  // b and c keep working, and a second shutdown of a changes nothing.
  await a.shutdown()
  track(b, 4)
  track(c, 5)
  await b.flush()
  assert.equal(srv.uniqueMessageIds().size, 4)
  assert.equal((await b.shutdown()).closed, false)
  track(c, 6)
  const last = await c.shutdown()
  assert.equal(last.closed, true, "the last owner closes the client")
  assert.equal(last.delivered, 5)
  assert.equal(srv.uniqueMessageIds().size, 5)
  assert.equal(c.stats().closed, true)
})

test("Medusa's per-scope construction (awilix, SCOPED): a scope's shutdown() does not close the client for the rest", async (t) => {
  // awilix 8 as Medusa 1.x uses it (here via medusa-core-utils), registered
  // the way Medusa's plugin loader registers a plugin service.
  const { createContainer, asFunction, asValue, Lifetime } = require("awilix")
  const srv = await startSegmentServer()
  t.after(() => srv.close())
  const logger = captureLogger()
  const opts = fastOptions(srv, { flush_at: 100, flush_interval: 60000 })
  const container = createContainer()
  container.register({
    logger: asValue(logger),
    segmentService: asFunction((cradle) => new SegmentService(cradle, opts), { lifetime: Lifetime.SCOPED }),
  })
  const scoped = []
  for (let i = 0; i < 50; i++) {
    const scope = container.createScope()
    const service = scope.resolve("segmentService")
    assert.equal(scope.resolve("segmentService"), service, "one instance per scope")
    track(service, i)
    scoped.push(service)
  }
  assert.notEqual(scoped[0], scoped[1])
  // A job's scope shuts its instance down; requests in other scopes go on.
  const res = await scoped[0].shutdown({ timeout: 2000 })
  assert.equal(res.closed, false)
  assert.equal(srv.uniqueMessageIds().size, 50)
  track(scoped[1], 50)
  track(container.createScope().resolve("segmentService"), 51)
  const after = await scoped[2].flush()
  assert.equal(after.closed, false)
  assert.equal(after.delivered, 52)
  assert.equal(srv.uniqueMessageIds().size, 52)
  assert.equal(logger.lines.filter((l) => l.level === "error").length, 0, JSON.stringify(logger.lines))
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

/** Every 8-character piece of `secret` found in `text` (any letter case). */
function piecesOf(secret, text) {
  const lower = text.toLowerCase()
  const found = []
  for (let i = 0; i + 8 <= secret.length; i++) {
    const piece = secret.slice(i, i + 8).toLowerCase()
    if (lower.includes(piece)) found.push(piece)
  }
  return found
}

test("a server echoing the key (Authorization, any case, at the 200-character cut) leaks it nowhere", async (t) => {
  const basic = Buffer.from(`${KEY}:`).toString("base64")
  const bodies = [
    (auth) => JSON.stringify({ error: "unauthorized", authorization: auth }),
    () => "x".repeat(195) + KEY + " was refused",
    (auth) => "y".repeat(193) + auth,
    () => `bad key ${KEY.toLowerCase()} / ${KEY.toUpperCase()}`,
  ]
  let n = 0
  const srv = require("node:http").createServer((req, res) => {
    req.resume()
    req.on("end", () => {
      res.writeHead(400, { "content-type": "text/plain" })
      res.end(bodies[n++ % bodies.length](req.headers.authorization))
    })
  })
  await new Promise((r) => srv.listen(0, "127.0.0.1", r))
  t.after(() => srv.close())
  const logger = captureLogger()
  const service = new SegmentService(
    { logger },
    { write_key: KEY, host: `http://127.0.0.1:${srv.address().port}`, flush_at: 1, max_in_flight: 1 }
  )
  const errors = []
  // One request per message (each flushed before the next, so none waits to
  // be merged), each answer one of the bodies (twice).
  for (let i = 0; i < 2 * bodies.length; i++) {
    service.identify({ userId: `u${i}` }, (e) => errors.push(e))
    await service.flush()
  }
  assert.equal(n, 2 * bodies.length, "every echoing answer was read")
  assert.equal(errors.length, 2 * bodies.length)
  assert.ok(errors.every((e) => e instanceof Error))
  const texts = [...errors.map((e) => e.message), ...logger.lines.map((l) => l.msg)]
  assert.ok(texts.some((m) => /HTTP 400 .*\[redacted\]/.test(m)), texts.join("\n"))
  for (const text of texts) {
    assert.deepEqual(piecesOf(KEY, text), [], text)
    assert.deepEqual(piecesOf(basic.replace(/=+$/, ""), text), [], text)
  }
  seen.push(...texts)
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
