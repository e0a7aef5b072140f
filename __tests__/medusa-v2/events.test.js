"use strict"

// The Medusa 2.x default subscribers: each subscriber file is loaded and
// called as @medusajs/framework's SubscriberLoader does ({ event: { name,
// data }, container, pluginOptions }), reads 2.x-shaped query-graph data, and
// delivers over real HTTP to the local Segment-compatible server. The
// properties are checked whole, with the v1 names.

const test = require("node:test")
const assert = require("node:assert/strict")
const fs = require("node:fs")
const path = require("node:path")

const { startSegmentServer } = require("../support/segment-server")
const { startRatesServer } = require("../medusa/harness")
const { recordingLogger } = require("../medusa/fixtures")
const { fakeQuery, container, bn, orderEur } = require("./fixtures")

const SUBSCRIBERS = path.join(__dirname, "..", "..", ".medusa", "server", "src", "subscribers")
const WRITE_KEY = "wk_v2_events_Lm40"

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

/** The subscriber files as Medusa 2.x loads them: event (or, for several events, subscriberId) -> handler. */
function loadSubscribers() {
  const out = {}
  for (const f of fs.readdirSync(SUBSCRIBERS)) {
    if (!f.endsWith(".js") || f.startsWith("_")) continue
    const mod = require(path.join(SUBSCRIBERS, f))
    assert.equal(typeof mod.default, "function", `${f}: default export is the handler`)
    const events = mod.config && [].concat(mod.config.event)
    assert.ok(events && events.length && events.every((e) => typeof e === "string"), `${f}: config.event`)
    out[events.length === 1 ? events[0] : mod.config.context.subscriberId] = mod.default
  }
  return out
}

let seq = 0
/** A fresh configuration (its own native client) per test, delivering to the local server. */
function pluginOptions(extra = {}) {
  return {
    write_key: WRITE_KEY,
    host: srv.url,
    flush_at: 1,
    flush_interval: 20 + seq++,
    exchange_rates_api_key: "rates-key",
    exchange_rates_url: rates.url,
    ...extra,
  }
}

/** Resolves once the server has received `n` messages in all (ids may repeat). */
async function receivedCount(n, timeoutMs = 10000) {
  const until = Date.now() + timeoutMs
  while (srv.messages.length < n) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${n} messages; got ${srv.messages.length}`)
    await new Promise((r) => setTimeout(r, 10))
  }
}

/** Emits `name` with `data` to our subscriber; returns the Segment messages it produced. */
async function emit(name, data, { query = fakeQuery(), options = pluginOptions(), expect = 0 } = {}) {
  const logger = recordingLogger()
  const subscribers = loadSubscribers()
  const before = srv.messages.length
  await subscribers[name]({ event: { name, data }, container: container({ query, logger }), pluginOptions: options })
  await receivedCount(before + expect)
  return { got: srv.messages.slice(before), logger, query }
}

test("the order, customer and funnel subscribers load as Medusa 2.x expects them", () => {
  assert.deepEqual(Object.keys(loadSubscribers()).sort(), [
    "cart.customer_transferred",
    "customer.created",
    "customer.deleted",
    "customer.updated",
    "delivery.created",
    "order-edit.confirmed",
    "order.canceled",
    "order.claim_created",
    "order.exchange_created",
    "order.fulfillment_created",
    "order.placed",
    "order.return_received",
    "order.return_requested",
    "order.updated",
    "payment.captured",
    "payment.refunded",
    "segment-funnel",
    "shipment.created",
  ])
})

const EUR_ORDER_PROPERTIES = {
  checkout_id: "cart_eur",
  order_id: "order_eur",
  email: "jane@example.com",
  region_id: "reg_eu",
  payment_provider: "pp_system_default",
  shipping_methods: [{ id: "ordsm_1", name: "Standard Shipping", shipping_option_id: "so_std", price: 10 }],
  shipping_country: "dk",
  shipping_city: "Copenhagen",
  reporting_total: 51.17,
  reporting_subtotal: 35,
  reporting_revenue: 43,
  reporting_shipping: 10,
  reporting_tax: 8.17,
  reporting_discount: 2,
  total: 51.17,
  subtotal: 35,
  revenue: 43,
  shipping: 10,
  tax: 8.17,
  discount: 2,
  coupon: "SUMMER10",
  currency: "EUR",
  products: [
    { name: "Medusa T-Shirt", variant: "SHIRT-S", price: 9, reporting_revenue: 18, product_id: "prod_shirt", category: "Summer", subtitle: "Cotton", type: "Shirts", sku: "SHIRT", quantity: 2 },
    { name: "Medusa Sweatpants", variant: "SWEAT-PANTS-M", price: 15, reporting_revenue: 15, product_id: "prod_pants", sku: "SWEAT-PANTS", quantity: 1 },
  ],
}

test("order.placed (registered customer, EUR): identify + Order Completed with v1's properties", async () => {
  const { got, query } = await emit("order.placed", { id: "order_eur" }, { expect: 2, options: pluginOptions({ use_ga_id: true }) })
  assert.equal(got.length, 2)
  const identify = got.find((m) => m.type === "identify")
  assert.equal(identify.userId, "cus_jane")
  assert.deepEqual(identify.traits, { email: "jane@example.com", firstName: "Jane", lastName: "Doe" })
  assert.equal(identify.messageId, "medusa-identify-order_eur")

  const t = got.find((m) => m.type === "track")
  assert.equal(t.event, "Order Completed")
  assert.equal(t.userId, "cus_jane")
  assert.equal(t.messageId, "medusa-order.placed-order_eur")
  assert.equal(new Date(t.timestamp).toISOString(), "2026-11-30T09:00:00.000Z")
  assert.deepEqual(t.properties, EUR_ORDER_PROPERTIES)
  assert.deepEqual(t.integrations, { "Google Analytics": { clientId: "GA1.2.3" } })
  // one query for the order and its links
  assert.deepEqual(query.calls.map((c) => c.entity), ["order"])
})

test("order.placed (guest, USD): amounts rounded per currency, reporting_* through the exchange-rate cache", async () => {
  const { got } = await emit("order.placed", { id: "order_usd" }, { expect: 2 })
  const t = got.find((m) => m.type === "track")
  const p = t.properties
  assert.equal(t.userId, "cus_guest")
  assert.equal(p.currency, "USD")
  assert.equal(p.total, 44.63, "44.625 -> 44.63")
  assert.equal(p.subtotal, 44.63)
  assert.equal(p.revenue, 44.63)
  assert.equal(p.products[0].price, 14.88, "14.875 -> 14.88")
  assert.equal(p.products[0].quantity, 3)
  assert.equal(p.reporting_total, 40.57, "44.63 USD at 1.1 USD/EUR")
  assert.equal(p.products[0].reporting_revenue, 40.57)
  assert.equal(p.coupon, undefined)
  assert.equal(p.checkout_id, "cart_usd")
  assert.ok(!("integrations" in t) || Object.keys(t.integrations).length === 0, "use_ga_id off: no GA integration")
})

test("an order without a customer: no identify, the track is anonymous", async () => {
  const query = fakeQuery({
    order: [{ ...require("./fixtures").orderUsd, id: "order_anon", customer_id: null }],
  })
  const { got } = await emit("order.placed", { id: "order_anon" }, { query, expect: 1 })
  assert.equal(got.length, 1)
  assert.equal(got[0].anonymousId, "order-order_anon")
})

test("shipment.created (fulfillment id): Order Shipped with the shipped lines", async () => {
  const { got } = await emit("shipment.created", { id: "ful_1", no_notification: false }, { expect: 1 })
  assert.equal(got.length, 1)
  const t = got[0]
  assert.equal(t.event, "Order Shipped")
  assert.equal(t.messageId, "medusa-shipment.created-ful_1")
  assert.equal(new Date(t.timestamp).toISOString(), "2026-11-30T10:00:00.000Z")
  assert.deepEqual(t.properties, {
    ...EUR_ORDER_PROPERTIES,
    products: [{ ...EUR_ORDER_PROPERTIES.products[0], quantity: 1, reporting_revenue: 9 }],
    fulfillment_id: "ful_1",
    tracking_numbers: [],
    tracking_urls: [],
  })
})

test("shipment.created of an exchange's outbound items: Swap Shipped", async () => {
  const { got } = await emit("shipment.created", { id: "ful_x" }, { expect: 1 })
  assert.equal(got.length, 1)
  assert.equal(got[0].event, "Swap Shipped")
  assert.equal(got[0].messageId, "medusa-shipment.created-ful_x")
  // difference due (2.21.2 leaves it null): outbound 11.90 - inbound 10.71 (9 net + 19% VAT) + shipping 5.95 (5 + 19% VAT)
  assert.deepEqual(got[0].properties, {
    reporting_total: 7.14,
    total: 7.14,
    swap_id: "oexc_1",
    order_id: "order_exch",
    new_items: [{ name: "Medusa T-Shirt", product_id: "prod_shirt", variant: "SHIRT-L", quantity: 1, price: 10, reporting_price: 10 }],
    return_items: [{ name: "Medusa T-Shirt", product_id: "prod_shirt", variant: "SHIRT-S", quantity: 1, price: 10, reporting_price: 10 }],
    currency: "EUR",
  })
})

test("order.canceled: Order Cancelled at canceled_at", async () => {
  const { got } = await emit("order.canceled", { id: "order_eur" }, { expect: 1 })
  assert.equal(got[0].event, "Order Cancelled")
  assert.equal(got[0].messageId, "medusa-order.canceled-order_eur")
  assert.equal(new Date(got[0].timestamp).toISOString(), "2026-11-30T12:00:00.000Z")
  assert.deepEqual(got[0].properties, EUR_ORDER_PROPERTIES)
})

test("order.canceled: the amounts as placed on every 2.x (2.8.3-2.13 subtract the cancellation's credit line from total)", async () => {
  // 2.8.3 writes a refund credit line of every payment's amount and reads total 0;
  // 2.14+ one of what was refunded. A store credit from checkout stays subtracted.
  const cancelled = (credit, store) => ({
    ...orderEur,
    total: bn(51.17 - credit - store),
    credit_lines: [
      { id: "ordcl_1", amount: bn(credit), reference: "payment_collection", reference_id: "pay_col_1" },
      ...(store ? [{ id: "ordcl_2", amount: store, reference: "store_credit", reference_id: "sc_1" }] : []),
    ],
  })
  for (const [credit, store, total] of [[51.17, 0, 51.17], [0, 0, 51.17], [51.17, 5, 46.17]]) {
    const { got } = await emit("order.canceled", { id: "order_eur" }, { query: fakeQuery({ order: [cancelled(credit, store)] }), expect: 1 })
    assert.equal(got[0].properties.total, total, `credit ${credit}, store credit ${store}`)
    assert.equal(got[0].properties.revenue, Math.round((total - 8.17) * 100) / 100)
    assert.equal(got[0].properties.tax, 8.17)
  }
})

test("order.return_received: Order Refunded with the returned lines and the refund", async () => {
  const { got } = await emit("order.return_received", { order_id: "order_eur", return_id: "return_1" }, { expect: 1 })
  const t = got[0]
  assert.equal(t.event, "Order Refunded")
  assert.equal(t.messageId, "medusa-order.return_received-return_1")
  assert.deepEqual(t.properties, {
    ...EUR_ORDER_PROPERTIES,
    return_id: "return_1",
    shipping_methods: [],
    total: 10.71,
    subtotal: 10,
    revenue: 9,
    shipping: 0,
    tax: 1.71,
    discount: 1,
    reporting_total: 10.71,
    reporting_subtotal: 10,
    reporting_revenue: 9,
    reporting_shipping: 0,
    reporting_tax: 1.71,
    reporting_discount: 1,
    products: [
      { ...EUR_ORDER_PROPERTIES.products[0], quantity: 1, reporting_revenue: 9, reason_id: "rr_small", reason_value: "too_small", note: "Too small" },
    ],
  })
})

test("order.claim_created: one Item Claimed per claimed line (write-off and inbound)", async () => {
  const { got } = await emit("order.claim_created", { order_id: "order_eur", claim_id: "claim_1" }, { expect: 2 })
  assert.equal(got.length, 2)
  const byId = Object.fromEntries(got.map((m) => [m.messageId, m]))
  const a = byId["medusa-order.claim_created-claitem_1"]
  assert.equal(a.event, "Item Claimed")
  assert.deepEqual(a.properties, {
    price: 15,
    reporting_price: 15,
    currency: "EUR",
    order_id: "order_eur",
    claim_id: "claim_1",
    claim_item_id: "claitem_1",
    type: "replace",
    quantity: 1,
    variant: "SWEAT-PANTS-M",
    product_id: "prod_pants",
    reason: "production_failure",
    note: "Torn seam",
    tags: [],
  })
  const b = byId["medusa-order.claim_created-retitem_2"]
  assert.equal(b.properties.variant, "SHIRT-S")
  assert.equal(b.properties.reason, "damaged")
  assert.equal(b.properties.price, 10)
})

test("order.exchange_created: Swap Created + Swap Confirmed", async () => {
  const { got } = await emit("order.exchange_created", { order_id: "order_exch", exchange_id: "oexc_1" }, { expect: 2 })
  const created = got.find((m) => m.event === "Swap Created")
  const confirmed = got.find((m) => m.event === "Swap Confirmed")
  assert.equal(created.messageId, "medusa-order.exchange_created-oexc_1")
  assert.equal(confirmed.messageId, "medusa-order.exchange_created-oexc_1-confirmed")
  assert.deepEqual(Object.keys(created.properties), ["swap_id", "order_id", "new_items", "return_items", "currency"])
  assert.equal(confirmed.properties.total, 7.14)
  assert.equal(confirmed.properties.reporting_total, 7.14)
  assert.equal(created.properties.new_items[0].variant, "SHIRT-L")
  assert.equal(created.userId, "cus_jane")
})

test("a redelivered event sends the same messageIds (Segment de-duplicates them)", async () => {
  const options = pluginOptions()
  const first = await emit("order.exchange_created", { order_id: "order_exch", exchange_id: "oexc_1" }, { options, expect: 2 })
  const again = await emit("order.exchange_created", { order_id: "order_exch", exchange_id: "oexc_1" }, { options, expect: 2 })
  assert.deepEqual(again.got.map((m) => m.messageId).sort(), first.got.map((m) => m.messageId).sort())
})

test("failures never throw into the event bus: logged, nothing sent", async () => {
  const query = fakeQuery()
  query.failOn("order", "id")
  const { got, logger } = await emit("order.placed", { id: "order_eur" }, { query })
  assert.equal(got.length, 0)
  const errors = logger.lines.filter(([l]) => l === "error")
  assert.equal(errors.length, 1)
  assert.match(errors[0][1], /cannot track order\.placed order_eur/)
  assert.ok(!errors[0][1].includes(WRITE_KEY))

  const missing = await emit("order.canceled", { id: "order_nope" })
  assert.match(missing.logger.lines.find(([l]) => l === "error")[1], /order order_nope not found/)

  const bad = await emit("order.placed", { id: "order_eur" }, { options: pluginOptions({ reporting_currency: "euro" }) })
  assert.equal(bad.got.length, 0)
  assert.match(bad.logger.lines.find(([l]) => l === "error")[1], /invalid option `reporting_currency`: must be a 3-letter ISO 4217 code/)

  const noQuery = recordingLogger()
  await loadSubscribers()["order.placed"]({ event: { data: { id: "x" } }, container: container({ logger: noQuery }), pluginOptions: pluginOptions() })
  assert.match(noQuery.lines.find(([l]) => l === "error")[1], /no `query`/)
})

test("links that cannot be read leave checkout_id/payment_provider empty; the event still goes", async () => {
  const query = fakeQuery()
  query.failOn("order", "cart.")
  const { got, logger } = await emit("order.canceled", { id: "order_eur" }, { query, expect: 1 })
  assert.equal(got.length, 1)
  assert.equal(got[0].properties.checkout_id, undefined)
  assert.equal(got[0].properties.payment_provider, "")
  assert.equal(got[0].properties.coupon, "SUMMER10", "from the line adjustments")
  assert.equal(got[0].properties.total, 51.17)
  assert.ok(logger.lines.some(([l, m]) => l === "warn" && /checkout_id and payment_provider/.test(m)))
})

test("a failing exchange-rate service: reporting_* null, the event is delivered", async () => {
  const down = await startRatesServer({ fail: true })
  try {
    const options = pluginOptions({ exchange_rates_url: down.url, exchange_rates_api_key: "down-key" })
    const { got } = await emit("order.placed", { id: "order_usd" }, { options, expect: 2 })
    const t = got.find((m) => m.type === "track")
    assert.equal(t.properties.total, 44.63)
    assert.equal(t.properties.reporting_total, null)
  } finally {
    await down.close()
  }
})

test("the write key configured only on the provider is used by the subscribers; one native client", async () => {
  const { SegmentAnalyticsProvider } = require("../../lib/v2/provider")
  const shared = pluginOptions()
  const logger = recordingLogger()
  const provider = new SegmentAnalyticsProvider({ logger }, shared)
  const subscriberOpts = { reporting_currency: "EUR", exchange_rates_api_key: "rates-key", exchange_rates_url: rates.url }
  const { got } = await emit("order.canceled", { id: "order_eur" }, { options: subscriberOpts, expect: 1 })
  assert.equal(got.length, 1)
  await provider.track({ event: "User Code", actor_id: "cus_jane" })
  await new (require("../../services/segment").default)({}, shared).flush()
  // the provider's client counted both: the subscriber's message and the user-code call
  assert.equal(provider.stats().accepted, 2)
  assert.equal(srv.batches.at(-1).headers.authorization, "Basic " + Buffer.from(WRITE_KEY + ":").toString("base64"))
})

test("Order Refunded after Medusa reduced the line's totals to the kept quantity: unit price and amounts of the returned units", async () => {
  const { orderEur } = require("./fixtures")
  // what 2.21.2 returns after 1 of the 2 shirts was received back: totals for the 1 kept
  const after = {
    ...orderEur,
    items: [
      {
        ...orderEur.items[0],
        subtotal: 10, tax_total: 1.71, total: 10.71, discount_total: 1.19, discount_tax_total: 0.19,
        detail: { quantity: 2, return_received_quantity: 1, return_dismissed_quantity: 0 },
      },
      orderEur.items[1],
    ],
  }
  const query = fakeQuery({ order: [after] })
  const { got } = await emit("order.return_received", { order_id: "order_eur", return_id: "return_1" }, { query, expect: 1 })
  const p = got[0].properties
  assert.equal(p.products[0].price, 9, "net unit price of the units bought")
  assert.equal(p.products[0].quantity, 1)
  assert.equal(p.products[0].reporting_revenue, 9)
  assert.deepEqual([p.total, p.subtotal, p.revenue, p.tax, p.discount, p.shipping], [10.71, 10, 9, 1.71, 1, 0])
})

test("refund and difference due: Medusa's values when set; return shipping is deducted", () => {
  const order = require("../../lib/v2/order")
  const { orderEur, orderExch } = require("./fixtures")
  const ctx = { reportingCurrency: "EUR", rate: 1 }
  const ret = { id: "return_x", refund_amount: 8, items: [{ id: "ri", item_id: "ordli_1", quantity: 1, received_quantity: 1 }] }
  assert.equal(order.buildRefundProperties(orderEur, ret, ctx, orderEur, []).total, 8, "refund_amount when Medusa set one")
  const shipped = order.buildRefundProperties(orderEur, { ...ret, refund_amount: null }, ctx, orderEur, [
    { id: "ordsm_r", name: "Return Shipping", amount: 3, shipping_option_id: "so_ret", tax_lines: [{ rate: 19 }] },
  ])
  assert.equal(shipped.shipping, -3, "v1's shipping: without tax")
  assert.equal(shipped.total, 7.14, "10.71 returned - 3.57 return shipping with tax")
  assert.deepEqual(shipped.shipping_methods, [{ id: "ordsm_r", name: "Return Shipping", shipping_option_id: "so_ret", price: -3 }])
  const ex = { id: "oexc_9", difference_due: 4.2, additional_items: [], return: { items: [] } }
  assert.equal(order.buildSwapTotalProperties(orderExch, ex, ctx).total, 4.2, "difference_due when Medusa set one")
})

test("unit amounts follow Medusa's line totals: tax-inclusive prices, tax-inclusive adjustments, several tax lines", () => {
  const { unitAmounts } = require("../../lib/v2/order")
  const r = (x) => Math.round(x * 1e6) / 1e6
  // 11.90 incl. 19% VAT, 1.19 incl.-tax discount per 1: net 9, tax 1.71
  const inc = unitAmounts({
    quantity: 1, unit_price: 11.9, is_tax_inclusive: true,
    tax_lines: [{ rate: 19 }], adjustments: [{ amount: 1.19, is_tax_inclusive: true }],
  })
  assert.deepEqual([r(inc.subtotal), r(inc.discount), r(inc.net), r(inc.tax), r(inc.total)], [10, 1, 9, 1.71, 10.71])
  const two = unitAmounts({ quantity: 4, unit_price: 5, tax_lines: [{ rate: 5 }, { rate: 2.5 }], adjustments: [{ amount: 2 }] })
  assert.deepEqual([r(two.net), r(two.tax)], [4.5, 0.3375])
})
