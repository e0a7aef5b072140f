"use strict"
// What the Segment sink must have received for the story of e2e/v2/scenario.js,
// computed independently of the plugin from the orders as Medusa's Admin API
// returns them (2.x amounts are major units; the plugin rounds per currency).
const assert = require("node:assert/strict")

const round2 = (v) => Number(Math.round(Number(v + "e2")) + "e-2")
const approx = (actual, expected, what) =>
  assert.ok(
    actual === expected || (typeof actual === "number" && typeof expected === "number" && Math.abs(actual - expected) < 1e-9),
    `${what}: expected ${expected}, got ${actual}`
  )
const sameTime = (actual, expected, what) => assert.equal(new Date(actual).toISOString(), new Date(expected).toISOString(), `${what}: timestamp`)

/** Sink messages by key: "identify:<userId>", "<event>:<order_id>"; user-code events by "<event>:<userId>". */
function index(messages) {
  const by = new Map()
  for (const m of messages) {
    const p = m.properties || {}
    // per fulfillment / return where an order has several
    const own = m.event === "Fulfillment Created" || m.event === "Order Delivered" ? p.fulfillment_id : m.event === "Return Requested" ? p.return_id : null
    // 2.x: customer.created/updated identifies (messageId medusa-identify-<customer>-<traits hash>) besides the order's
    const kind = m.type === "identify" && String(m.messageId).startsWith(`medusa-identify-${m.userId}-`) ? "identify-customer" : "identify"
    const key = m.type === "identify" ? `${kind}:${m.userId}` : `${m.event}:${own || p.order_id || m.userId}`
    if (!by.has(key)) by.set(key, [])
    by.get(key).push(m)
  }
  return by
}

/** The calls the story must produce (v2 event -> Segment call, see the README's table). */
function expectedKeys(story) {
  const { A, B, C, D } = story.orders
  const keys = []
  for (const o of [A, B, C, D]) keys.push(`identify:${o.placed.customer_id}`, `Order Completed:${o.id}`)
  for (const o of [A, C, D]) keys.push(`Order Shipped:${o.id}`)
  keys.push(`Order Cancelled:${B.id}`, `Order Refunded:${A.id}`, `Item Claimed:${C.id}`)
  keys.push(`Swap Created:${D.id}`, `Swap Confirmed:${D.id}`, `Swap Shipped:${D.id}`)
  // 2.x only (docs/medusa-v2.md): one per fulfillment, and the return's request
  for (const f of [A.fulfillment_id, C.fulfillment_id, D.fulfillment_id, D.exchange_fulfillment_id]) keys.push(`Fulfillment Created:${f}`)
  keys.push(`Return Requested:${A.return_id}`)
  // the registered customer's sign-up (customer.created); its profile is not changed afterwards
  keys.push(`identify-customer:${story.customer.id}`)
  return keys
}

/** Every expected call arrived exactly once, and nothing else about these orders did. */
function assertExactlyOnce(messages, story) {
  const expected = expectedKeys(story)
  const by = index(messages)
  const missing = expected.filter((k) => !by.has(k))
  const dup = [...by].filter(([k, v]) => v.length > 1 || !expected.includes(k)).map(([k, v]) => `${k} x${v.length}`)
  assert.deepEqual({ missing, unexpectedOrDuplicated: dup }, { missing: [], unexpectedOrDuplicated: [] })
  const ids = messages.map((m) => m.messageId)
  assert.equal(new Set(ids).size, ids.length, "every messageId is unique")
  return by
}

const one = (by, key) => {
  const list = by.get(key)
  assert.ok(list && list.length === 1, `exactly one ${key} (got ${list ? list.length : 0})`)
  return list[0]
}

/** amount in the order's currency -> reporting (EUR); rate = units per EUR, null = none could be had. */
const reportingOf = (value, currency, rate) => (currency === "eur" ? round2(value) : rate == null ? null : round2(value / rate))

/** The order-level properties every order event carries (v1's names). */
function checkOrderProps(p, order, { rate, lines } = {}) {
  const c = order.currency_code
  const where = order.id
  assert.equal(p.order_id, order.id)
  assert.match(String(p.checkout_id), /^cart_/, `${where} checkout_id is the cart`)
  assert.equal(p.email, order.email)
  assert.equal(p.region_id, order.region_id)
  assert.equal(p.currency, c.toUpperCase(), `${where} currency upper-case`)
  assert.equal(p.payment_provider, "pp_system_default")
  approx(p.total, round2(order.total), `${where} total (major units, rounded)`)
  approx(p.tax, round2(order.tax_total), `${where} tax`)
  approx(p.revenue, round2(order.total - order.tax_total), `${where} revenue = total - tax`)
  approx(p.reporting_total, reportingOf(round2(order.total), c, rate), `${where} reporting_total`)
  approx(p.reporting_tax, reportingOf(round2(order.tax_total), c, rate), `${where} reporting_tax`)
  assert.equal(p.shipping_country, order.shipping_address.country_code)
  assert.equal(p.shipping_city, order.shipping_address.city)
  assert.deepEqual(
    p.shipping_methods.map((m) => m.name),
    order.shipping_methods.map((m) => m.name)
  )
  const chosen = lines || order.items.map((item) => ({ item, quantity: item.quantity }))
  assert.equal(p.products.length, chosen.length, `${where} products`)
  for (const { item, quantity } of chosen) {
    const prod = p.products.find((x) => x.variant === item.variant_sku)
    assert.ok(prod, `${where} product ${item.variant_sku}`)
    assert.equal(prod.name, item.title)
    assert.equal(prod.sku, item.variant_sku.split("-").slice(0, -1).join("-"))
    assert.equal(prod.product_id, item.product_id)
    assert.equal(prod.category, "Apparel")
    assert.equal(prod.type, item.variant_sku.startsWith("TSHIRT") ? "Shirts" : "Hoodies")
    assert.equal(prod.subtitle, item.variant_sku.startsWith("TSHIRT") ? "Organic cotton" : "Heavyweight")
    assert.equal(prod.quantity, quantity)
    approx(prod.price, round2((item.total - item.tax_total) / item.quantity), `${where} ${item.variant_sku} price (net, per unit)`)
  }
}

/** The documented payloads of the story's calls. rates: { USD: 1.1 } (units per EUR). */
function assertPayloads(by, story, { rates }) {
  const { A, B, C, D } = story.orders
  const rateOf = (o) => (o.placed.currency_code === "eur" ? 1 : rates[o.placed.currency_code.toUpperCase()] ?? null)

  for (const o of [A, B, C, D]) {
    const order = o.placed
    const id = one(by, `identify:${order.customer_id}`)
    assert.equal(id.traits.email, order.email)
    assert.equal(id.traits.firstName, order.shipping_address.first_name)
    assert.equal(id.traits.lastName, order.shipping_address.last_name)
    const m = one(by, `Order Completed:${o.id}`)
    assert.equal(m.messageId, `medusa-order.placed-${o.id}`)
    assert.equal(m.userId, order.customer_id)
    sameTime(m.timestamp, order.created_at, "Order Completed")
    checkOrderProps(m.properties, order, { rate: rateOf(o) })
  }

  for (const o of [A, C]) {
    const m = one(by, `Order Shipped:${o.id}`)
    assert.equal(m.messageId, `medusa-shipment.created-${o.fulfillment_id}`)
    const f = o.final.fulfillments.find((x) => x.id === o.fulfillment_id)
    sameTime(m.timestamp, f.shipped_at, "Order Shipped")
    assert.equal(m.userId, o.placed.customer_id)
    assert.equal(m.properties.order_id, o.id)
    const shipped = f.items.map((fi) => ({ item: o.placed.items.find((i) => i.id === fi.line_item_id), quantity: fi.quantity }))
    assert.deepEqual(
      m.properties.products.map((p) => [p.variant, p.quantity]).sort(),
      shipped.map((l) => [l.item.variant_sku, l.quantity]).sort(),
      "Order Shipped lists the shipped lines"
    )
  }

  const cancelled = one(by, `Order Cancelled:${B.id}`)
  assert.equal(B.final.status, "canceled")
  assert.equal(cancelled.userId, B.placed.customer_id)
  assert.equal(cancelled.messageId, `medusa-order.canceled-${B.id}`)
  assert.equal(cancelled.properties.currency, B.placed.currency_code.toUpperCase())
  // the order's amounts as placed, on every 2.x (2.8.3-2.13 subtract the cancellation's credit line from total)
  checkOrderProps(cancelled.properties, B.placed, { rate: rateOf(B) })

  const refunded = one(by, `Order Refunded:${A.id}`)
  assert.equal(refunded.userId, A.placed.customer_id)
  assert.equal(refunded.properties.return_id, A.return_id)
  assert.equal(refunded.messageId, `medusa-order.return_received-${A.return_id}`)
  assert.equal(refunded.properties.products.length, 1, "only the returned line")
  const rp = refunded.properties.products[0]
  assert.equal(rp.variant, "TSHIRT-BLACK-S")
  assert.equal(rp.quantity, 1, "the returned quantity, not the ordered 2")
  assert.equal(rp.reason_value, "too_big")
  assert.equal(refunded.properties.currency, A.placed.currency_code.toUpperCase())

  const claimed = one(by, `Item Claimed:${C.id}`)
  const line = C.placed.items.find((i) => i.variant_sku === "TSHIRT-BLACK-M")
  const cp = claimed.properties
  assert.equal(claimed.userId, C.placed.customer_id)
  assert.equal(cp.claim_id, C.claim_id)
  assert.equal(cp.type, "refund")
  assert.equal(cp.quantity, 1)
  assert.equal(cp.variant, "TSHIRT-BLACK-M")
  assert.equal(cp.product_id, line.product_id)
  assert.equal(cp.currency, C.placed.currency_code.toUpperCase())
  approx(cp.price, round2(line.unit_price), "claimed item price")
  approx(cp.reporting_price, reportingOf(round2(line.unit_price), C.placed.currency_code, rateOf(C)), "claimed item reporting_price")

  const created = one(by, `Swap Created:${D.id}`)
  const confirmed = one(by, `Swap Confirmed:${D.id}`)
  const shipped = one(by, `Swap Shipped:${D.id}`)
  assert.equal(shipped.messageId, `medusa-shipment.created-${D.exchange_fulfillment_id}`)
  for (const m of [created, confirmed, shipped]) {
    const p = m.properties
    assert.equal(m.userId, D.placed.customer_id)
    assert.equal(p.swap_id, D.exchange_id)
    assert.equal(p.order_id, D.id)
    assert.equal(p.currency, D.placed.currency_code.toUpperCase())
    assert.deepEqual(p.new_items.map((x) => [x.variant, x.quantity]), [["HOODIE-GREY-M", 1]])
    assert.deepEqual(p.return_items.map((x) => [x.variant, x.quantity]), [["TSHIRT-BLACK-M", 1]])
  }
}

module.exports = { index, expectedKeys, assertExactlyOnce, assertPayloads, checkOrderProps, one, round2, reportingOf, approx }
