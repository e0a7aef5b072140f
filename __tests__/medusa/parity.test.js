"use strict"

// Parity with medusa-plugin-segment 1.3.5: both plugins handle the same
// events with the same Medusa services (deterministic in-process objects),
// against a real exchange-rate HTTP server on 127.0.0.1. Ours delivers to a
// local Segment-compatible server. Properties must be equal except for the
// fixes listed in the README, each asserted explicitly here.

const test = require("node:test")
const assert = require("node:assert/strict")

const { startSegmentServer } = require("../support/segment-server")
const h = require("./harness")

const NOW_TOLERANCE_MS = 60_000

/** Paths where two JSON values differ ("a.b[0].c"). */
function diffPaths(a, b, path = "", out = []) {
  if (a === b) return out
  const ta = Array.isArray(a) ? "array" : a === null ? "null" : typeof a
  const tb = Array.isArray(b) ? "array" : b === null ? "null" : typeof b
  if (ta !== tb || (ta !== "object" && ta !== "array")) {
    out.push(path || "(root)")
    return out
  }
  if (ta === "array") {
    const n = Math.max(a.length, b.length)
    for (let i = 0; i < n; i++) diffPaths(a[i], b[i], `${path}[${i}]`, out)
    return out
  }
  const keys = new Set([...Object.keys(a), ...Object.keys(b)])
  for (const k of keys) diffPaths(a[k], b[k], path ? `${path}.${k}` : k, out)
  return out
}

function recent(ts) {
  return Math.abs(Date.parse(ts) - Date.now()) < NOW_TOLERANCE_MS
}

const OPTIONS = { reporting_currency: "EUR", exchange_rates_api_key: "parity-key", use_ga_id: true }

test("parity with medusa-plugin-segment 1.3.5", async (t) => {
  const rates = await h.startRatesServer()
  const segmentServer = await startSegmentServer({ port: 0 })
  const options = { ...OPTIONS, exchange_rates_url: rates.url }
  const orig = h.setupOriginal(h.scenario(), rates.url, options)
  const ours = h.setupOurs(h.scenario(), { ...options, host: segmentServer.url, flush_at: 1 })
  const figures = []

  // Runs one event through both; returns wire payloads and rate requests.
  async function both(event, data) {
    orig.sent.length = 0
    ours.sent.length = 0
    let origError = null
    const r0 = rates.requests.length
    try {
      await orig.handlers[event](data)
    } catch (err) {
      origError = err
    }
    const r1 = rates.requests.length
    await ours.handlers[event](data)
    const r2 = rates.requests.length
    figures.push({ event, id: data.id, originalRateRequests: r1 - r0, ourRateRequests: r2 - r1 })
    return { o: h.wire(orig.sent), n: h.wire(ours.sent), origError }
  }

  // Differences between a 1.3.5 call and ours, ignoring the added messageId
  // and context.traits (attribution: docs/attribution.md; checked below).
  function callDiff(o, n) {
    const { messageId, ...rest } = n[1]
    if (rest.context) {
      const { traits, ...context } = rest.context
      assert.equal(typeof traits, "object", "context.traits on every call about an order")
      // 1.3.5 sent the cart's ip/user agent on Order Completed only; ours on every call about the order
      if (o[1] && o[1].context) rest.context = context
      else delete rest.context
    }
    assert.equal(o[0], n[0], "same method")
    assert.match(messageId, /^medusa-/)
    return diffPaths(o[1], rest).sort()
  }

  await t.test("order.placed, EUR (reporting currency), discount code: revenue rounded", async () => {
    const { o, n, origError } = await both("order.placed", { id: "order_eur" })
    assert.equal(origError, null)
    assert.equal(n.length, 2)
    assert.deepEqual(callDiff(o[0], n[0]), [], "identify equal")
    assert.deepEqual(callDiff(o[1], n[1]), ["context.userAgent", "properties.revenue"])
    assert.equal(o[1][1].properties.revenue, 29.500000000000004)
    assert.equal(n[1][1].properties.revenue, 29.5)
    assert.equal(n[1][1].context.userAgent, n[1][1].context.user_agent)
    assert.equal(n[1][1].properties.coupon, "SUMMER10")
    assert.deepEqual(n[1][1].integrations, { "Google Analytics": { clientId: "GA1.2.1234.5678" } })
  })

  await t.test("order.placed, USD, three items: equal but for context.userAgent", async () => {
    const { o, n } = await both("order.placed", { id: "order_usd" })
    assert.deepEqual(callDiff(o[0], n[0]), [])
    assert.deepEqual(callDiff(o[1], n[1]), ["context.userAgent"])
    assert.equal(n[1][1].properties.reporting_total, 124.85)
    assert.equal(n[1][1].properties.products.length, 3)
    assert.deepEqual(n[1][1].context.traits, {
      email: "order_usd@example.com",
      firstName: "Ada",
      lastName: "Lovelace",
      address: { city: "Copenhagen", country: "DK" },
    })
  })

  await t.test("order.placed, JPY (zero-decimal): unit prices rounded to whole yen", async () => {
    const { o, n } = await both("order.placed", { id: "order_jpy" })
    assert.deepEqual(callDiff(o[0], n[0]), [])
    assert.deepEqual(callDiff(o[1], n[1]), ["context.userAgent", "properties.products[0].price"])
    assert.equal(o[1][1].properties.products[0].price, 3133.33)
    assert.equal(n[1][1].properties.products[0].price, 3133)
    assert.equal(n[1][1].properties.total, 13288)
    assert.equal(n[1][1].properties.currency, "JPY")
  })

  await t.test("order.placed, KRW without shipping address: tracked with null fields", async () => {
    const { o, n, origError } = await both("order.placed", { id: "order_krw" })
    assert.match(String(origError), /country_code/, "1.3.5 crashes")
    assert.deepEqual(o, [], "1.3.5 sends nothing")
    assert.deepEqual(n[0][1].traits, { email: "order_krw@example.com", firstName: null, lastName: null })
    assert.equal(n[1][1].properties.shipping_country, null)
    assert.equal(n[1][1].properties.shipping_city, null)
    // the rest is what 1.3.5's buildOrder gives for the same order with an empty address
    const sc = h.scenario()
    const order = { ...sc.orders.order_krw, shipping_address: {} }
    const expected = h.wire(await orig.segment.buildOrder(order))
    assert.deepEqual(diffPaths(expected, n[1][1].properties).sort(), ["shipping_city", "shipping_country"])
  })

  await t.test("order.shipment_created, JPY: fulfilled items, JPY rounding", async () => {
    const { o, n } = await both("order.shipment_created", { id: "order_jpy", fulfillment_id: "ful_jpy" })
    assert.deepEqual(callDiff(o[0], n[0]), ["properties.products[0].price"])
    assert.equal(n[0][1].event, "Order Shipped")
    assert.equal(n[0][1].timestamp, "2026-11-21T09:00:00.000Z")
  })

  await t.test("order.shipment_created, USD, one of three lines shipped: equal", async () => {
    const { o, n } = await both("order.shipment_created", { id: "order_usd", fulfillment_id: "ful_usd" })
    assert.deepEqual(callDiff(o[0], n[0]), [])
    assert.deepEqual(
      n[0][1].properties.products.map((p) => p.name),
      ["Cap"]
    )
  })

  await t.test("order.canceled: 1.3.5 crashes; ours sends Order Cancelled", async () => {
    const { o, n, origError } = await both("order.canceled", { id: "order_usd" })
    assert.ok(origError, "1.3.5 fails: it loads the order without relations")
    assert.deepEqual(o, [])
    assert.equal(n.length, 1)
    assert.equal(n[0][1].event, "Order Cancelled")
    assert.equal(n[0][1].userId, "cus_order_usd")
    assert.ok(recent(n[0][1].timestamp))
    // properties are 1.3.5's buildOrder of the fully loaded order
    const expected = h.wire(await orig.segment.buildOrder(h.scenario().orders.order_usd))
    assert.deepEqual(n[0][1].properties, expected)
  })

  await t.test("order.items_returned, DKK: returned quantities, refunded amount, return shipping", async () => {
    const sc = h.scenario()
    const { o, n } = await both("order.items_returned", { id: "order_dkk", return_id: "ret_dkk" })
    const op = o[0][1].properties
    const np = n[0][1].properties
    assert.equal(n[0][1].event, "Order Refunded")
    assert.equal(o[0][1].event, "Order Refunded")
    assert.ok(recent(n[0][1].timestamp))
    const changed = diffPaths(op, np).sort()
    assert.deepEqual(changed, [
      "discount",
      "products[0].quantity",
      "products[0].reporting_revenue",
      "products[1].quantity",
      "products[1].reporting_revenue",
      "reporting_discount",
      "reporting_revenue",
      "reporting_shipping",
      "reporting_subtotal",
      "reporting_tax",
      "reporting_total",
      "return_id",
      "revenue",
      "shipping",
      "shipping_methods[0]",
      "subtotal",
      "tax",
      "total",
    ])
    // 1.3.5: the whole order and the ordered quantities
    assert.equal(op.total, 1042.63)
    assert.deepEqual(op.products.map((p) => p.quantity), [2, 3])
    assert.deepEqual(op.shipping_methods, [])
    // ours: what was returned
    assert.deepEqual(np.products.map((p) => p.quantity), [1, 1])
    assert.deepEqual(np.products.map((p) => [p.reason_id, p.reason_value, p.note]), [
      ["rr_big", "too_big", "Runs large"],
      ["rr_dmg", "damaged", undefined],
    ])
    assert.equal(np.total, sc.returns.ret_dkk.refund_amount / 100)
    assert.equal(np.subtotal, 348)
    assert.equal(np.discount, 3.3)
    assert.equal(np.revenue, 344.7)
    assert.equal(np.tax, 86.18)
    assert.equal(np.shipping, -49)
    assert.deepEqual(np.shipping_methods, [{ id: "sm_ret_dkk", shipping_option_id: "so_ret", price: -49, data: {} }])
    assert.equal(np.reporting_total, Math.round((np.total / h.RATES.DKK) * 100) / 100)
    assert.equal(np.reporting_shipping, -6.57)
    assert.equal(np.products[0].reporting_revenue, Math.round((249 / h.RATES.DKK) * 100) / 100)
    assert.equal(np.return_id, "ret_dkk")
    // unit prices and the order's identity are 1.3.5's
    assert.deepEqual(np.products.map((p) => p.price), op.products.map((p) => p.price))
  })

  await t.test("claim.created, EUR: equal but for the added currency", async () => {
    const { o, n } = await both("claim.created", { id: "claim_eur" })
    assert.equal(n.length, 2)
    for (let i = 0; i < 2; i++) {
      assert.deepEqual(callDiff(o[i], n[i]), ["properties.currency"])
      assert.equal(n[i][1].properties.currency, "EUR")
    }
    assert.deepEqual(n[0][1].properties.tags, [{ id: "tag_1", value: "quality" }])
  })

  await t.test("claim.created, JPY: price humanized per currency", async () => {
    const { o, n } = await both("claim.created", { id: "claim_jpy" })
    assert.deepEqual(callDiff(o[0], n[0]), ["properties.currency", "properties.price", "properties.reporting_price"])
    assert.equal(o[0][1].properties.price, 19.8, "1.3.5 divides yen by 100")
    assert.equal(n[0][1].properties.price, 1980)
    assert.equal(n[0][1].properties.reporting_price, Math.round((1980 / h.RATES.JPY) * 100) / 100)
  })

  for (const [event, data, name] of [
    ["swap.created", { id: "swap_usd" }, "Swap Created"],
    ["swap.payment_completed", { id: "swap_usd" }, "Swap Confirmed"],
    ["swap.shipment_created", { id: "swap_usd", fulfillment_id: "ful_swap" }, "Swap Shipped"],
  ]) {
    await t.test(`${event}: equal but for the upper-case currency`, async () => {
      const { o, n } = await both(event, data)
      assert.deepEqual(callDiff(o[0], n[0]), ["properties.currency"])
      assert.equal(o[0][1].properties.currency, "usd")
      assert.equal(n[0][1].properties.currency, "USD")
      assert.equal(n[0][1].event, name)
    })
  }

  await t.test("ours delivered every call to the Segment server, once, as built", async () => {
    await ours.segment.flush()
    const received = new Map(segmentServer.messages.map((m) => [m.messageId, m]))
    assert.equal(received.size, segmentServer.messages.length, "no duplicates")
    assert.equal(received.size, ours.all.length)
    for (const [method, m] of h.wire(ours.all)) {
      const got = received.get(m.messageId)
      assert.ok(got, `${method} ${m.messageId} received`)
      assert.equal(got.type, method)
      assert.deepEqual(got.properties, m.properties)
      assert.deepEqual(got.traits, m.traits)
      assert.equal(got.userId, m.userId)
      // identify has no timestamp of its own (as in 1.3.5): the client sets it
      if (m.timestamp !== undefined) assert.equal(got.timestamp, m.timestamp)
      else assert.ok(recent(got.timestamp))
      assert.equal(got.context.userAgent, m.context && m.context.userAgent)
    }
    const completed = segmentServer.messages.filter((m) => m.event === "Order Completed")
    assert.equal(completed.length, 4)
    assert.equal(completed.find((m) => m.properties.order_id === "order_eur").properties.revenue, 29.5)
  })

  const sum = (k) => figures.reduce((a, f) => a + f[k], 0)
  t.diagnostic(
    `exchange-rate requests for ${figures.length} events: 1.3.5 ${sum("originalRateRequests")}, ours ${sum("ourRateRequests")}`
  )
  for (const f of figures) {
    t.diagnostic(`${f.event} ${f.id}: 1.3.5 ${f.originalRateRequests} requests, ours ${f.ourRateRequests}`)
  }

  await ours.segment.shutdown({ timeout: 2000 }).catch(() => {})
  await segmentServer.close()
  await rates.close()
})

test("an exchange-rate failure loses the event in 1.3.5, not in ours", async () => {
  const rates = await h.startRatesServer({ fail: true })
  const options = { ...OPTIONS, exchange_rates_url: rates.url, exchange_rates_api_key: "failing-key" }
  const orig = h.setupOriginal(h.scenario(), rates.url, options)
  const ours = h.setupOurs(h.scenario(), { ...options, enabled: false })

  await assert.rejects(orig.handlers["order.placed"]({ id: "order_usd" }))
  assert.deepEqual(orig.sent, [], "1.3.5: identify and track lost")
  const r0 = rates.requests.length

  await ours.handlers["order.placed"]({ id: "order_usd" })
  assert.equal(rates.requests.length - r0, 1, "one request for the order")
  const track = ours.sent.find(([m]) => m === "track")[1]
  const p = track.properties
  for (const k of ["reporting_total", "reporting_subtotal", "reporting_revenue", "reporting_shipping", "reporting_tax", "reporting_discount"]) {
    assert.equal(p[k], null, k)
  }
  assert.ok(p.products.every((x) => x.reporting_revenue === null))
  assert.equal(p.total, 137.33, "the rest is there")
  assert.equal(ours.sent[0][0], "identify")
  const warnings = ours.logger.lines.filter(([l, m]) => l === "warn" && /USD->EUR/.test(m))
  assert.equal(warnings.length, 1)
  assert.doesNotMatch(warnings[0][1], /failing-key/)

  // a second order within the failure window: no request, no new warning
  await ours.handlers["order.canceled"]({ id: "order_usd" })
  assert.equal(rates.requests.length - r0, 1)
  assert.equal(ours.logger.lines.filter(([l, m]) => l === "warn" && /USD->EUR/.test(m)).length, 1)
  await ours.segment.shutdown({ timeout: 1000 }).catch(() => {})
  await rates.close()
})
