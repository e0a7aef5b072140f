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
  // lib/v2/lifecycle.js, through the same rows
  "order.updated": { id: "order_eur" },
  "order.return_requested": { order_id: "order_eur", return_id: "return_1" },
  "order.fulfillment_created": { order_id: "order_eur", fulfillment_id: "ful_x" },
  "delivery.created": { id: "ful_x" },
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

/**
 * The order's links as Medusa 2.x keeps them: the link tables (query-graph
 * entities order_cart, order_payment_collection) and the cart, payment and
 * customer modules, from the same fixtures the query graph's traversal answers from.
 */
function linkedStore() {
  const { orderEur, orderUsd } = require("./fixtures")
  const orders = [orderEur, orderUsd]
  const carts = orders.map((o) => ({ ...o.cart }))
  const customers = orders.filter((o) => o.customer).map((o) => ({ ...o.customer }))
  const payments = orders.flatMap((o, i) => o.payment_collections[0].payments.map((p, j) => ({ id: `pay_${i}_${j}`, payment_collection_id: `pc_${o.id}`, ...p })))
  const calls = []
  return {
    calls,
    overrides: {
      order_cart: orders.map((o) => ({ id: `oc_${o.id}`, order_id: o.id, cart_id: o.cart.id })),
      order_payment_collection: orders.map((o) => ({ id: `opc_${o.id}`, order_id: o.id, payment_collection_id: `pc_${o.id}` })),
    },
    cart: {
      async listCarts(filters, config) {
        calls.push(["listCarts", filters, config])
        return carts.filter((c) => c.id === filters.id).map((c) => Object.fromEntries(config.select.map((k) => [k, c[k]])))
      },
    },
    payment: {
      async listPayments(filters, config) {
        calls.push(["listPayments", filters, config])
        return payments.filter((p) => filters.payment_collection_id.includes(p.payment_collection_id))
      },
    },
    customer: {
      async listCustomers(filters, config) {
        calls.push(["listCustomers", filters, config])
        return customers.filter((c) => c.id === filters.id).map((c) => Object.fromEntries(config.select.map((k) => [k, c[k]])))
      },
    },
  }
}

test("with the cart and payment modules there, the links come from the link tables: the same calls, no link traversal", async () => {
  // each run delivers to its own server: only its messages, nothing late from another test
  const messages = async (c, opts) => {
    const own = await startSegmentServer()
    try {
      const made = await runEvent("order.placed", { id: "order_eur" }, c, { ...opts, host: own.url })
      const until = Date.now() + 10000
      while (own.messages.length < made && Date.now() < until) await new Promise((r) => setTimeout(r, 10))
      const pick = ({ type, event, userId, properties, traits, integrations, messageId }) => ({ type, event, userId, properties, traits, integrations, messageId })
      return own.messages.map(pick).sort((a, b) => a.type.localeCompare(b.type))
    } finally {
      await own.close()
    }
  }
  const opts = options({ use_ga_id: true })
  const traversal = await messages(container({ query: fakeQuery(), logger: recordingLogger() }), opts)

  const store = linkedStore()
  const query = fakeQuery(store.overrides)
  const direct = await messages(container({ query, logger: recordingLogger(), cart: store.cart, payment: store.payment, customer: store.customer }), opts)
  assert.equal(direct.length, 2)
  assert.deepEqual(direct, traversal)
  assert.deepEqual(query.calls.map((c) => c.entity), ["order", "order_cart", "order_payment_collection"])
  assert.ok(!query.calls[0].fields.some((f) => /^(cart|payment_collections|customer)\./.test(f)), "no link traversal")
  assert.deepEqual(store.calls.map(([m]) => m).sort(), ["listCarts", "listCustomers", "listPayments"], "the cart for its metadata (use_ga_id), the customer (traits, consent), the payments")

  // without use_ga_id nothing reads the cart's metadata: the link table's cart_id is enough
  const lean = linkedStore()
  const q2 = fakeQuery(lean.overrides)
  const got = await messages(container({ query: q2, logger: recordingLogger(), cart: lean.cart, payment: lean.payment, customer: lean.customer }), options())
  assert.equal(got.find((m) => m.type === "track").properties.checkout_id, "cart_eur")
  assert.deepEqual(lean.calls.map(([m]) => m).sort(), ["listCustomers", "listPayments"])
})
