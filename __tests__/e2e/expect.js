"use strict"
// Assertions of the e2e suite: what the Segment sink must have received for
// the story of e2e/scenario.js, computed independently of the plugin from the
// orders as Medusa's admin API returns them.
const assert = require("node:assert/strict")
const { USER_AGENT, ATTRIBUTION } = require("../../e2e/scenario")

const ZERO_DECIMAL = new Set("bif clp djf gnf jpy kmf krw mga pyg rwf ugx vnd vuv xaf xof xpf".split(" "))
const humanize = (amount, currency) => (ZERO_DECIMAL.has(currency.toLowerCase()) ? amount : amount / 100)
const round = (v, currency = "eur") => {
  const d = ZERO_DECIMAL.has(currency.toLowerCase()) ? 0 : 2
  return Number(Math.round(Number(v + `e${d}`)) + `e-${d}`)
}
const approx = (actual, expected, what) =>
  assert.ok(
    actual === expected || (typeof actual === "number" && typeof expected === "number" && Math.abs(actual - expected) < 1e-9),
    `${what}: expected ${expected}, got ${actual}`
  )
const sameTime = (actual, expected, what) =>
  assert.equal(new Date(actual).toISOString(), new Date(expected).toISOString(), `${what}: timestamp`)

/** Messages of the sink, grouped: key "track:Order Completed:<order_id>" / "identify:<userId>". */
function index(messages) {
  const by = new Map()
  for (const m of messages) {
    const id = m.properties && (m.properties.order_id || undefined)
    const key = m.type === "identify" ? `identify:${m.userId}` : `${m.type}:${m.event}:${id || m.userId}`
    if (!by.has(key)) by.set(key, [])
    by.get(key).push(m)
  }
  return by
}

/**
 * Every expected call arrived exactly once (no loss, no duplicate) and
 * nothing else from the plugin did. Returns the index.
 */
function assertExactlyOnce(messages, story, { extraEvents = ["Customer Created"] } = {}) {
  const { A, B, C, D } = story.orders
  const customers = [A, B, C, D].map((o) => o.order.customer_id)
  const expected = new Map()
  const add = (k, n = 1) => expected.set(k, (expected.get(k) || 0) + n)
  for (const [i, o] of [A, B, C, D].entries()) {
    add(`identify:${customers[i]}`)
    add(`track:Order Completed:${o.id}`)
  }
  for (const o of [A, C, D]) add(`track:Order Shipped:${o.id}`)
  add(`track:Order Cancelled:${B.id}`)
  add(`track:Order Refunded:${A.id}`)
  add(`track:Item Claimed:${C.id}`)
  add(`track:Swap Created:${D.id}`)
  add(`track:Swap Confirmed:${D.id}`)
  add(`track:Swap Shipped:${D.id}`)
  const by = index(messages.filter((m) => !extraEvents.includes(m.event)))
  const got = new Map([...by].map(([k, v]) => [k, v.length]))
  const missing = [...expected].filter(([k, n]) => (got.get(k) || 0) < n).map(([k]) => k)
  const dup = [...got].filter(([k, n]) => n > (expected.get(k) || 0)).map(([k, n]) => `${k} x${n}`)
  assert.deepEqual({ missing, unexpectedOrDuplicated: dup }, { missing: [], unexpectedOrDuplicated: [] })
  const ids = messages.map((m) => m.messageId)
  assert.equal(new Set(ids).size, ids.length, "every messageId is unique")
  return index(messages)
}

const one = (by, key) => {
  const list = by.get(key)
  assert.ok(list && list.length === 1, `exactly one ${key} (got ${list ? list.length : 0})`)
  return list[0]
}

/** rate: units of the order currency per EUR (null: no rate could be had). */
function reportingOf(value, currency, rate) {
  if (currency.toUpperCase() === "EUR") return round(value, "eur")
  if (rate == null) return null
  return round(value / rate, "eur")
}

function checkOrderProps(p, order, { rate, items } = {}) {
  const c = order.currency_code
  const where = `${order.id}`
  assert.equal(p.order_id, order.id)
  assert.equal(p.checkout_id, order.cart_id, `${where} checkout_id`)
  assert.equal(p.email, order.email)
  assert.equal(p.region_id, order.region_id)
  assert.equal(p.currency, c.toUpperCase(), `${where} currency upper-case`)
  // provider_id of each payment, joined: a swap's payment joins the order's
  // payments, so an order whose event is handled after its swap was paid
  // (event-bus-local dispatches in batches) lists "manual,manual".
  assert.match(p.payment_provider, /^manual(,manual)*$/, `${where} payment_provider`)
  const total = round(humanize(order.total, c), c)
  const tax = round(humanize(order.tax_total, c), c)
  approx(p.total, total, `${where} total`)
  approx(p.subtotal, round(humanize(order.subtotal, c), c), `${where} subtotal`)
  approx(p.tax, tax, `${where} tax`)
  approx(p.discount, round(humanize(order.discount_total, c), c), `${where} discount`)
  approx(p.shipping, round(humanize(order.shipping_total, c), c), `${where} shipping`)
  approx(p.revenue, round(total - tax, c), `${where} revenue = total - tax, rounded`)
  approx(p.reporting_total, reportingOf(total, c, rate), `${where} reporting_total`)
  approx(p.reporting_revenue, reportingOf(round(total - tax, c), c, rate), `${where} reporting_revenue`)
  for (const k of ["subtotal", "shipping", "tax", "discount"]) {
    const r = `reporting_${k}`
    assert.ok(r in p, `${where} has ${r}`)
    approx(p[r], reportingOf(p[k], c, rate), `${where} ${r}`)
  }
  assert.equal(p.shipping_country, order.shipping_address.country_code)
  assert.equal(p.shipping_city, order.shipping_address.city)
  assert.ok(Array.isArray(p.shipping_methods))
  const lines = items || order.items
  assert.equal(p.products.length, lines.length, `${where} products`)
  for (const item of lines) {
    const prod = p.products.find((x) => x.variant === item.variant.sku)
    assert.ok(prod, `${where} product ${item.variant.sku}`)
    assert.equal(prod.name, item.title)
    assert.equal(prod.sku, item.variant.sku.split("-").slice(0, -1).join("-"))
    assert.equal(prod.product_id, item.variant.product_id)
    assert.equal(prod.category, "Apparel")
    assert.equal(prod.type, item.variant.sku.startsWith("TSHIRT") ? "Shirts" : "Hoodies")
    assert.equal(prod.subtitle, item.variant.sku.startsWith("TSHIRT") ? "Organic cotton" : "Heavyweight")
    assert.equal(prod.quantity, item.quantity)
    const lineTotal = humanize(item.total - item.tax_total, c)
    approx(prod.price, round(lineTotal / item.quantity, c), `${where} ${item.variant.sku} price`)
    approx(prod.reporting_revenue, reportingOf(lineTotal, c, rate), `${where} ${item.variant.sku} reporting_revenue`)
  }
  return p
}

/** The documented payloads of all the story's calls (first phase: rates available). */
function assertPayloads(by, story, { rates }) {
  const { A, B, C, D } = story.orders
  const rateOf = (o) => (o.order.currency_code === "eur" ? 1 : rates[o.order.currency_code.toUpperCase()] ?? null)

  // identify + Order Completed, for all four orders
  for (const o of [A, B, C, D]) {
    const order = o.order
    const id = one(by, `identify:${order.customer_id}`)
    assert.equal(id.traits.email, order.email)
    assert.equal(id.traits.firstName, order.shipping_address.first_name)
    assert.equal(id.traits.lastName, order.shipping_address.last_name)
    const m = one(by, `track:Order Completed:${order.id}`)
    assert.equal(m.userId, order.customer_id)
    sameTime(m.timestamp, order.created_at, "Order Completed")
    checkOrderProps(m.properties, order, { rate: rateOf(o) })
    assert.equal(m.context.user_agent, USER_AGENT, "context.user_agent (1.3.5's name)")
    assert.equal(m.context.userAgent, USER_AGENT, "context.userAgent (Segment's spec name)")
    assert.ok(typeof m.context.ip === "string" && m.context.ip.length > 0, "context.ip")
  }
  const mA = one(by, `track:Order Completed:${A.id}`)
  assert.equal(mA.properties.coupon, "E2E10")
  assert.ok(mA.properties.discount > 0, "A has a discount")
  assert.deepEqual(mA.integrations["Google Analytics"], { clientId: "GA1.2.1111.2222" }, "use_ga_id")
  // attribution (docs/attribution.md): A's cart context carried the storefront contract
  for (const key of [`identify:${A.order.customer_id}`, `track:Order Completed:${A.id}`, `track:Order Shipped:${A.id}`, `track:Order Refunded:${A.id}`]) {
    const m = one(by, key)
    assert.equal(m.anonymousId, ATTRIBUTION.segment_anonymous_id, `${key}: the browser's anonymousId`)
    assert.deepEqual(m.context.consent, { categoryPreferences: ATTRIBUTION.segment_consent }, `${key}: consent`)
    assert.equal(m.context.traits.email, A.order.email, `${key}: context.traits`)
    assert.equal(m.context.userAgent, USER_AGENT, `${key}: the cart's recorded user agent`)
    if (m.type === "track") assert.deepEqual([m.properties.fbp, m.properties.gclid], [ATTRIBUTION.fbp, ATTRIBUTION.gclid], key)
  }

  // Order Shipped: the fulfilled items, at the fulfillment's shipped_at
  for (const o of [A, C, D]) {
    const m = one(by, `track:Order Shipped:${o.id}`)
    const f = o.order.fulfillments.find((x) => x.id === o.fulfillment_id)
    sameTime(m.timestamp, f.shipped_at, "Order Shipped")
    assert.equal(m.userId, o.order.customer_id)
    const items = o.order.items.filter((i) => f.items.some((fi) => fi.item_id === i.id))
    checkOrderProps(m.properties, o.order, { rate: rateOf(o), items })
  }

  // Order Cancelled (1.3.5 never sent it)
  const cancelled = one(by, `track:Order Cancelled:${B.id}`)
  assert.equal(B.order.status, "canceled")
  assert.equal(cancelled.userId, B.order.customer_id)
  assert.equal(cancelled.properties.order_id, B.id)
  assert.equal(cancelled.properties.currency, B.order.currency_code.toUpperCase())

  // Order Refunded: on order.items_returned, with the returned quantity, the
  // return reason and note, the refunded amount and the return shipping method
  const refunded = one(by, `track:Order Refunded:${A.id}`)
  const ret = A.order.returns.find((r) => r.id === A.return_id)
  const c = A.order.currency_code
  assert.equal(refunded.userId, A.order.customer_id)
  assert.equal(refunded.properties.products.length, 1, "only the returned line")
  const rp = refunded.properties.products[0]
  assert.equal(rp.variant, "TSHIRT-BLACK-S")
  assert.equal(rp.quantity, 1, "the returned quantity, not the ordered 2")
  assert.equal(rp.reason_value, "too_big")
  assert.ok(rp.reason_id && rp.reason_id.startsWith("rr_"), "reason_id")
  assert.equal(rp.note, "runs large")
  approx(refunded.properties.total, round(humanize(ret.refund_amount, c), c), "refunded amount")
  assert.equal(refunded.properties.shipping_methods.length, 1, "the return's shipping method")
  approx(refunded.properties.shipping_methods[0].price, -round(humanize(A.return_option.amount, c), c), "return shipping price")
  assert.equal(refunded.properties.currency, c.toUpperCase())

  // Item Claimed: one per claim item
  const claimed = one(by, `track:Item Claimed:${C.id}`)
  const claim = C.order.claims.find((x) => x.id === C.claim_id)
  const claimedLine = C.order.items.find((i) => i.variant.sku === "TSHIRT-BLACK-M")
  const cc = C.order.currency_code
  assert.equal(claimed.userId, C.order.customer_id)
  sameTime(claimed.timestamp, claim.created_at, "Item Claimed")
  const cp = claimed.properties
  assert.equal(cp.claim_id, claim.id)
  assert.equal(cp.order_id, C.id)
  assert.equal(cp.type, "refund")
  assert.equal(cp.quantity, 1)
  assert.equal(cp.variant, "TSHIRT-BLACK-M")
  assert.equal(cp.product_id, claimedLine.variant.product_id)
  assert.equal(cp.reason, "production_failure")
  assert.equal(cp.note, "seam came apart")
  assert.deepEqual(cp.tags.map((t) => t.value), ["seam"])
  approx(cp.price, humanize(claimedLine.unit_price, cc), "claim price humanized per currency")
  approx(cp.reporting_price, reportingOf(humanize(claimedLine.unit_price, cc), cc, rateOf(C)), "claim reporting_price")

  // Swaps
  const swap = D.order.swaps.find((s) => s.id === D.swap_id)
  const dc = D.order.currency_code
  const created = one(by, `track:Swap Created:${D.id}`)
  sameTime(created.timestamp, swap.created_at, "Swap Created")
  const confirmed = one(by, `track:Swap Confirmed:${D.id}`)
  sameTime(confirmed.timestamp, swap.confirmed_at, "Swap Confirmed")
  const shipped = one(by, `track:Swap Shipped:${D.id}`)
  const sf = swap.fulfillments.find((f) => f.id === D.swap_fulfillment_id)
  sameTime(shipped.timestamp, sf.shipped_at, "Swap Shipped")
  for (const m of [created, confirmed, shipped]) {
    assert.equal(m.userId, D.order.customer_id)
    const p = m.properties
    assert.equal(p.swap_id, swap.id)
    assert.equal(p.order_id, D.id)
    assert.equal(p.currency, dc.toUpperCase())
    assert.equal(p.new_items.length, 1)
    assert.equal(p.new_items[0].variant, "HOODIE-GREY-M")
    assert.equal(p.new_items[0].quantity, 1)
    approx(p.new_items[0].price, humanize(swap.additional_items[0].unit_price, dc), "swap new item price")
    assert.equal(p.return_items.length, 1)
    assert.equal(p.return_items[0].variant, "TSHIRT-BLACK-M")
    assert.equal(p.return_items[0].quantity, 1)
  }
  for (const m of [confirmed, shipped]) {
    approx(m.properties.total, round(humanize(swap.difference_due, dc), dc), "swap total = difference due")
    approx(m.properties.reporting_total, reportingOf(round(humanize(swap.difference_due, dc), dc), dc, rateOf(D)), "swap reporting_total")
  }
}

module.exports = { assertExactlyOnce, assertPayloads, checkOrderProps, index, one, humanize, round, reportingOf }
