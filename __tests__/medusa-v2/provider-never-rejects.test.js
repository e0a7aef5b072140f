"use strict"
// The Analytics Module provider never rejects, whatever it is given (Medusa
// 2.8.3-2.12 do not await its calls: a rejection would be unhandled), and its
// log lines are bounded and rate-limited. Delivery goes to the local
// Segment-compatible server.

const test = require("node:test")
const assert = require("node:assert/strict")
const { startSegmentServer } = require("../support/segment-server")
const { recordingLogger, cradle } = require("../medusa/fixtures")
const { SegmentAnalyticsProvider } = require("../../lib/v2/provider")

const WRITE_KEY = "wk_provider_hostile_Zq81"

function hostile() {
  const revoked = Proxy.revocable({}, {})
  revoked.revoke()
  const nullProto = Object.create(null)
  const badString = { toString() { throw new Error("toString, on purpose") } }
  const throwing = { get event() { throw new Error("getter, on purpose") }, actor_id: "u" }
  return [
    revoked.proxy,
    { event: revoked.proxy, actor_id: "u" },
    { event: nullProto, actor_id: nullProto },
    { event: badString, actor_id: badString },
    throwing,
    { get actor_id() { throw new Error("getter") } },
    { event: "E", group: revoked.proxy },
    { event: "E", properties: revoked.proxy, actor_id: "u" },
    { event: Symbol("s"), actor_id: Symbol("a") },
    { event: "x".repeat(1 << 20) },
    { actor_id: "u", group: { get id() { throw new Error("id") } } },
    new Proxy({}, { get() { throw new Error("every read throws") }, has() { throw new Error("has") } }),
    undefined,
    42,
  ]
}

test("track/identify resolve for every hostile input, are counted, and their log lines are bounded and rate-limited", async (t) => {
  const srv = await startSegmentServer()
  t.after(() => srv.close())
  const logger = recordingLogger()
  const provider = new SegmentAnalyticsProvider(cradle({ logger }), { write_key: WRITE_KEY, host: srv.url, flush_interval: 50 })
  const unhandled = []
  const onUnhandled = (r) => unhandled.push(r)
  process.on("unhandledRejection", onUnhandled)
  let calls = 0
  try {
    const results = []
    for (const data of hostile()) {
      results.push(provider.track(data), provider.identify(data))
      calls += 2
    }
    const settled = await Promise.allSettled(results)
    assert.deepEqual(
      settled.filter((r) => r.status !== "fulfilled").map((r) => String(r.reason)),
      [],
      "a call rejected"
    )
    // After shutdown: every call refused, counted, and one line per 10 s.
    await provider.shutdown()
    const after = []
    for (let i = 0; i < 200; i++) after.push(provider.track({ event: "Late", actor_id: "u" }))
    calls += 200
    assert.ok((await Promise.allSettled(after)).every((r) => r.status === "fulfilled"))
    await new Promise((r) => setImmediate(r))
  } finally {
    process.removeListener("unhandledRejection", onUnhandled)
  }
  assert.deepEqual(unhandled, [])
  const errors = logger.lines.filter(([l]) => l === "error").map(([, m]) => m)
  for (const e of errors) {
    assert.ok(e.length < 600, `a log line of ${e.length} characters`)
    assert.ok(!e.includes(WRITE_KEY))
  }
  const late = errors.filter((e) => /Late/.test(e) || /shut down/.test(e))
  assert.equal(late.length, 1, `200 calls after shutdown gave ${late.length} lines`)
  assert.ok(errors.length < 30, `${errors.length} lines for ${calls} refused calls`)
  assert.ok(provider.stats().provider_rejected >= 200 + 20)
})
