"use strict"

// The Analytics Module provider, loaded and called the way Medusa 2.x's
// analytics module does it (loaders/providers.js, provider-service.js of
// @medusajs/analytics 2.21.2): resolve `<pkg>/providers/segment` from the
// project, take `(default ?? module).services`, call the static
// validateOptions, then `new klass(cradle, options ?? {})`; track/identify
// are called without awaiting (2.8.3-2.12); shutdown() on app shutdown.
// Delivery goes over real HTTP to the local Segment-compatible server.

const test = require("node:test")
const assert = require("node:assert/strict")
const fs = require("node:fs")
const os = require("node:os")
const path = require("node:path")

const { startSegmentServer } = require("../support/segment-server")
const { recordingLogger, cradle } = require("../medusa/fixtures")

const ROOT = path.join(__dirname, "..", "..")
const WRITE_KEY = "wk_provider_test_Zq81"

let srv
let project
test.before(async () => {
  srv = await startSegmentServer()
  // a project that has the package installed, as Medusa resolves it (resolveFromProject)
  project = fs.mkdtempSync(path.join(os.tmpdir(), "segment-v2-project-"))
  fs.mkdirSync(path.join(project, "node_modules"))
  fs.symlinkSync(ROOT, path.join(project, "node_modules", "medusa-plugin-segment-rs"), "dir")
})
test.after(async () => {
  await srv.close()
  fs.rmSync(project, { recursive: true, force: true })
})

/** What @medusajs/analytics does with `providers: [{ resolve, id, options }]`. */
async function loadProvider({ resolve, id, options }, registrations) {
  const mod = require(require.resolve(resolve, { paths: [project] }))
  const loaded = mod.default ?? mod
  assert.ok(Array.isArray(loaded.services) && loaded.services.length > 0, "services exported")
  const klass = loaded.services[0]
  await klass.validateOptions?.(options)
  const key = `aly_${klass.identifier}_${id}`
  return { key, provider: new klass(cradle(registrations), options ?? {}) }
}

function opts(extra = {}) {
  return { write_key: WRITE_KEY, host: srv.url, flush_at: 1, flush_interval: 50, ...extra }
}

test("the package exports the provider where Medusa resolves it", async () => {
  const logger = recordingLogger()
  const { key, provider } = await loadProvider(
    { resolve: "medusa-plugin-segment-rs/providers/segment", id: "segment", options: opts() },
    { logger }
  )
  assert.equal(key, "aly_segment_segment")
  assert.equal(provider.getIdentifier(), "segment")
  for (const m of ["track", "identify", "shutdown"]) assert.equal(typeof provider[m], "function")
})

test("track/identify/group map like Medusa's Segment guide and arrive over HTTP", async () => {
  const logger = recordingLogger()
  const { provider } = await loadProvider(
    { resolve: "medusa-plugin-segment-rs/providers/segment", id: "segment", options: opts() },
    { logger }
  )
  const before = srv.messages.length
  // the module does not await these (2.8.3-2.12)
  provider.track({ event: "Product Viewed", actor_id: "cus_1", properties: { product_id: "prod_1", timestamp: "2026-01-02T03:04:05.000Z" } })
  provider.track({ event: "Guest Browsed", properties: { anonymousId: "anon_9", page: "/shop" } })
  provider.track({ event: "Team Order", group: { type: "company", id: "comp_1" }, properties: { n: 1 } })
  provider.identify({ actor_id: "cus_1", properties: { traits: { email: "a@b.c" }, ip: "10.0.0.1" } })
  provider.identify({ actor_id: "cus_2", properties: { email: "b@b.c", first_name: "Bo" } })
  provider.identify({ group: { type: "company", id: "comp_1" }, actor_id: "cus_1", properties: { traits: { name: "ACME" } } })
  await srv.waitForMessages(before + 6)
  const got = srv.messages.slice(before)
  const find = (type, pred) => got.find((m) => m.type === type && pred(m))

  const viewed = find("track", (m) => m.event === "Product Viewed")
  assert.equal(viewed.userId, "cus_1")
  assert.deepEqual(viewed.properties, { product_id: "prod_1", timestamp: "2026-01-02T03:04:05.000Z" })
  assert.equal(new Date(viewed.timestamp).toISOString(), "2026-01-02T03:04:05.000Z")

  const guest = find("track", (m) => m.event === "Guest Browsed")
  assert.equal(guest.anonymousId, "anon_9")
  assert.equal(guest.userId, undefined)

  const team = find("track", (m) => m.event === "Team Order")
  assert.equal(team.userId, "comp_1", "no actor: the group id is the user, as in the guide")
  assert.equal(team.context.groupId, "comp_1")

  const id1 = find("identify", (m) => m.userId === "cus_1")
  assert.deepEqual(id1.traits, { email: "a@b.c" })
  assert.equal(id1.context.ip, "10.0.0.1")
  const id2 = find("identify", (m) => m.userId === "cus_2")
  assert.deepEqual(id2.traits, { email: "b@b.c", first_name: "Bo" }, "without `traits` the properties are the traits")

  const group = find("group", () => true)
  assert.equal(group.groupId, "comp_1")
  assert.equal(group.userId, "cus_1")
  assert.deepEqual(group.traits, { group_type: "company", name: "ACME" })

  for (const m of got) assert.ok(m.messageId && m.timestamp && m.context.library, "enriched by the core")
  assert.equal(srv.batches.at(-1).headers.authorization, "Basic " + Buffer.from(WRITE_KEY + ":").toString("base64"))
})

test("bad calls resolve (never an unhandled rejection), are counted and logged without the key", async () => {
  const logger = recordingLogger()
  const { provider } = await loadProvider(
    { resolve: "medusa-plugin-segment-rs/providers/segment", id: "segment", options: opts() },
    { logger }
  )
  const unhandled = []
  const onUnhandled = (r) => unhandled.push(r)
  process.on("unhandledRejection", onUnhandled)
  try {
    const results = await Promise.allSettled([
      provider.track({ event: "No Actor", properties: {} }),
      provider.track({ actor_id: "cus_1", properties: {} }),
      provider.track(null),
      provider.identify({ properties: { traits: {} } }),
      provider.identify({ group: { type: "company" }, actor_id: "cus_1" }),
      provider.track({ event: "Too Big", actor_id: "cus_1", properties: { blob: "x".repeat(40 * 1024) } }),
    ])
    assert.deepEqual(results.map((r) => r.status), Array(6).fill("fulfilled"))
    await new Promise((r) => setImmediate(r))
  } finally {
    process.removeListener("unhandledRejection", onUnhandled)
  }
  assert.deepEqual(unhandled, [])
  assert.equal(provider.stats().provider_rejected, 6)
  const errors = logger.lines.filter(([l]) => l === "error").map(([, m]) => m)
  assert.equal(errors.length, 6)
  assert.match(errors[0], /track "No Actor".*needs an actor_id, a group\.id or properties\.anonymousId/)
  assert.match(errors[1], /needs an "event"/)
  assert.match(errors[5], /32 KB/)
  for (const e of errors) assert.ok(!e.includes(WRITE_KEY), "no write key in logs")
})

test("validateOptions names the bad option; the guide's `writeKey` is accepted", async () => {
  const { SegmentAnalyticsProvider: P } = require("../../lib/v2/provider")
  assert.throws(() => P.validateOptions({ write_key: "k", flush_at: "x" }), /invalid option `flush_at`/)
  assert.throws(() => P.validateOptions({ write_key: "k", host: "ftp://x" }), /invalid option `host`/)
  assert.throws(() => P.validateOptions({ write_key: "k", reporting_currency: "euro" }), /invalid option `reporting_currency`/)
  assert.throws(() => P.validateOptions({ write_key: "k", exchange_rates_url: "nope" }), /invalid option `exchange_rates_url`/)
  assert.throws(() => P.validateOptions({ write_key: "a", writeKey: "b" }), /`write_key` and `writeKey`/)
  for (const bad of [{ flush_at: 0 }, { write_key: 5 }]) {
    try {
      P.validateOptions({ writeKey: WRITE_KEY, ...bad })
      assert.fail("should throw")
    } catch (err) {
      assert.ok(!String(err.message).includes(WRITE_KEY), "no write key in the error")
    }
  }
  P.validateOptions(undefined)
  P.validateOptions({ writeKey: "k" })

  // the guide's config as is delivers
  const logger = recordingLogger()
  const { provider } = await loadProvider(
    {
      resolve: "medusa-plugin-segment-rs/providers/segment",
      id: "segment",
      options: { writeKey: WRITE_KEY, host: srv.url, flush_at: 1, flush_interval: 50 },
    },
    { logger }
  )
  const before = srv.uniqueMessageIds().size
  await provider.track({ event: "Guide Config", actor_id: "cus_g" })
  await srv.waitForMessages(before + 1)
  assert.ok(srv.messages.some((m) => m.event === "Guide Config" && m.userId === "cus_g"))
  assert.ok(!util().inspect(provider, { depth: 5 }).includes(WRITE_KEY), "the key is not in inspect(provider)")
})

test("a missing write key does not stop start-up: one error names it, calls are counted", async () => {
  const logger = recordingLogger()
  const { provider } = await loadProvider(
    { resolve: "medusa-plugin-segment-rs/providers/segment", id: "segment", options: { flush_interval: 77 } },
    { logger }
  )
  await provider.track({ event: "Nowhere", actor_id: "cus_1" })
  const errors = logger.lines.filter(([l]) => l === "error").map(([, m]) => m)
  assert.equal(errors.length, 1)
  assert.match(errors[0], /write_key/)
  const s = provider.stats()
  assert.equal(s.disabled_reason, "write_key is missing")
  assert.equal(s.accepted, 1)
})

test("shutdown() during an outage returns within shutdown_timeout and counts what it could not deliver", async (t) => {
  const logger = recordingLogger()
  const { provider } = await loadProvider(
    {
      resolve: "medusa-plugin-segment-rs/providers/segment",
      id: "segment",
      options: opts({ shutdown_timeout: 300, flush_interval: 10000, flush_at: 100, min_retry_delay: 50 }),
    },
    { logger }
  )
  srv.failFor(60000, { status: 503 })
  try {
    provider.track({ event: "During Outage", actor_id: "cus_1" })
    const t0 = process.hrtime.bigint()
    await provider.shutdown()
    const ms = Number(process.hrtime.bigint() - t0) / 1e6
    t.diagnostic(`shutdown() during the outage took ${ms.toFixed(0)} ms (shutdown_timeout 300)`)
    const s = provider.stats()
    assert.equal(s.accepted, 1)
    assert.equal(s.delivered, 0)
    assert.equal(s.accepted, s.delivered + s.failed + Object.values(s.dropped).reduce((a, b) => a + b, 0) + s.queued)
    assert.equal(Object.values(s.dropped).reduce((a, b) => a + b, 0), 1, "the undelivered message is counted as dropped")
    assert.ok(logger.lines.some(([l, m]) => l === "error" && /flush timed out: dropped 1 undelivered message/.test(m)), JSON.stringify(logger.lines))
  } finally {
    srv.failFor(0, null)
  }
})

function util() {
  return require("node:util")
}
