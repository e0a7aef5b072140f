"use strict"

// What the Medusa 2.x subscribers load per event: one query-graph call per
// entity in the event's FIELDS row, exactly those fields; one client per
// options object; a warm exchange-rate cache answers without a lookup. (The
// cost itself is a benchmark figure: bench/medusa-v2.js.)

const test = require("node:test")
const assert = require("node:assert/strict")

const { startSegmentServer } = require("../support/segment-server")
const { startRatesServer } = require("../medusa/harness")
const { recordingLogger } = require("../medusa/fixtures")
const { fakeQuery, container } = require("./fixtures")
const { EVENTS, FIELDS, runEvent } = require("../../lib/v2/events")
const { subscriberClient } = require("../../lib/v2/client")
const SegmentService = require("../../services/segment").default

let srv
let rates
test.before(async () => {
  srv = await startSegmentServer()
  rates = await startRatesServer()
})
test.after(async () => {
  await srv.close()
  await rates.close()
})

let seq = 0
const options = (extra = {}) => ({
  write_key: "wk_v2_loading_7Qe",
  host: srv.url,
  flush_at: 1,
  flush_interval: 30 + seq++,
  exchange_rates_api_key: "rates-key",
  exchange_rates_url: rates.url,
  ...extra,
})

const PAYLOADS = {
  "order.placed": { id: "order_eur" },
  "order.canceled": { id: "order_eur" },
  "shipment.created": { id: "ful_x" },
  "order.return_received": { order_id: "order_eur", return_id: "return_1" },
  "order.claim_created": { order_id: "order_eur", claim_id: "claim_1" },
  "order.exchange_created": { order_id: "order_exch", exchange_id: "oexc_1" },
}

test("every subscribed event has its row of query fields", () => {
  assert.deepEqual(Object.keys(FIELDS).sort(), Object.keys(EVENTS).sort())
  for (const [event, byEntity] of Object.entries(FIELDS)) {
    for (const [entity, fields] of Object.entries(byEntity)) {
      assert.ok(Array.isArray(fields) && fields.length > 0, `${event} ${entity}`)
      assert.equal(new Set(fields).size, fields.length, `${event} ${entity}: no field twice`)
    }
  }
})

test("one query per entity of the event's row, with exactly its fields", async () => {
  for (const [event, data] of Object.entries(PAYLOADS)) {
    const query = fakeQuery()
    const logger = recordingLogger()
    const made = await runEvent(event, data, container({ query, logger }), options())
    assert.ok(made > 0, `${event}: calls made (${JSON.stringify(logger.lines)})`)
    const rows = FIELDS[event]
    const entities = query.calls.map((c) => c.entity)
    assert.equal(new Set(entities).size, entities.length, `${event}: no entity queried twice (${entities})`)
    for (const c of query.calls) assert.deepEqual(c.fields, rows[c.entity], `${event}: ${c.entity} queried with its row's fields`)
  }
})

test("the subscribers build one client per options object, not one per event", () => {
  const opts = options()
  const c = container({ query: fakeQuery(), logger: recordingLogger() })
  const a = subscriberClient(opts, c).segment
  assert.equal(subscriberClient(opts, c).segment, a)
  assert.notEqual(subscriberClient(options(), c).segment, a)
})

test("the reporting rate comes from a warm cache without a lookup; a failure is remembered", async () => {
  const s = new SegmentService({ logger: recordingLogger() }, options())
  assert.equal(s.cachedReportingRate("eur"), 1, "the reporting currency itself")
  assert.equal(s.cachedReportingRate("usd"), undefined, "nothing cached yet: only reportingRate can tell")
  const before = rates.requests.length
  assert.equal(await s.reportingRate("usd"), 1.1)
  assert.equal(s.cachedReportingRate("usd"), 1.1)
  assert.equal(await s.reportingRate("usd"), 1.1)
  assert.equal(rates.requests.length, before + 1, "one lookup for the pair")

  const keyless = new SegmentService({ logger: recordingLogger() }, options({ exchange_rates_api_key: undefined }))
  assert.equal(keyless.cachedReportingRate("usd"), null, "no key: null at once")

  const down = await startRatesServer({ fail: true })
  try {
    const failing = new SegmentService({ logger: recordingLogger() }, options({ exchange_rates_url: down.url, exchange_rates_api_key: "down-key" }))
    assert.equal(await failing.reportingRate("usd"), null)
    assert.equal(failing.cachedReportingRate("usd"), null, "a remembered failure: null without a lookup")
  } finally {
    await down.close()
  }
})

test("a Medusa that cannot read a claim's return in the same query: read separately, the same calls, logged once", async () => {
  const run = async () => {
    const query = fakeQuery()
    query.failOn("order_claim", "return.")
    const logger = recordingLogger()
    const opts = options()
    const made = await runEvent("order.claim_created", PAYLOADS["order.claim_created"], container({ query, logger }), opts)
    return { made, query, logger }
  }
  const first = await run()
  assert.equal(first.made, 2, "the write-off item and the inbound item")
  assert.deepEqual(first.query.calls.map((c) => c.entity), ["order_claim", "order_claim", "order", "return"])
  assert.equal(first.logger.lines.filter(([l, m]) => l === "warn" && /cannot read order_claim with return\.\* in one query/.test(m)).length, 1)
  const again = await run()
  assert.equal(again.made, 2)
  assert.deepEqual(again.query.calls.map((c) => c.entity), ["order_claim", "order", "return"], "not tried again")
  assert.equal(again.logger.lines.filter(([l]) => l === "warn").length, 0)
})
