"use strict"

// Cart and checkout events of the Medusa 2.x plugin (docs/funnel.md), opt-in
// through the plugin option `events`.
//
// Medusa says only "cart X changed" (cart.created / cart.updated carry
// { id }), and nothing at all when a promotion code is applied or removed or a
// payment session is created. So: every signal about a cart -- those two
// events, order.placed (the cart's last look), and two events of our own
// emitted by a store-route middleware (lib/v2/funnel-middleware.js) -- leads
// to one "checkpoint": read the cart, compare it with the state recorded
// last time (lib/v2/cart-state.js), record the new state (a compare-and-swap
// on its version), then send what changed. A redelivered or duplicated event
// finds nothing new; messageIds derive from the cart, the state's version and
// the change.

const { isDeepStrictEqual } = require("node:util")
const { lookup, loggerOf } = require("../container")
const { roundAmount, currencyCode } = require("../currency")
const { makeCalls } = require("../order-mapping")
const { subscriberClient, subscriberOptions } = require("./client")
const { num } = require("./order")
const cartState = require("./cart-state")
// the browser's ids and consent from the cart's metadata (docs/attribution.md), as on the order events
const attribution = require("./attribution")

const FUNNEL_EVENTS = [
  "Product Added",
  "Product Removed",
  "Checkout Started",
  "Checkout Step Completed",
  "Payment Info Entered",
  "Coupon Applied",
  "Coupon Removed",
]
/** Events of our own, emitted on Medusa's event bus by the store-route middleware. */
const PROMOTIONS_EVENT = "segment.cart-promotions-updated" // { id: cart id }
const PAYMENT_SESSION_EVENT = "segment.payment-session-created" // { id: payment collection id }
const SUBSCRIBED = ["cart.created", "cart.updated", "order.placed", PROMOTIONS_EVENT, PAYMENT_SESSION_EVENT]

const STEPS = { 1: "address", 2: "shipping", 3: "payment" }

// What the diff reads: no totals (they make Medusa compute every line's taxes
// and promotions); Checkout Started loads them once per cart.
const CART_FIELDS = [
  "id",
  "email",
  "metadata",
  "currency_code",
  "customer_id",
  "completed_at",
  "shipping_address.address_1",
  "items.id",
  "items.quantity",
  "items.unit_price",
  "items.product_id",
  "items.variant_id",
  "items.variant_sku",
  "items.product_title",
  "items.variant_title",
  "items.title",
  "items.adjustments.code",
  "items.adjustments.amount",
  "shipping_methods.name",
  "shipping_methods.adjustments.code",
  "shipping_methods.adjustments.amount",
  "promotions.id",
  "promotions.code",
  "promotions.is_automatic",
  "payment_collection.payment_sessions.provider_id",
]
const TOTAL_FIELDS = ["id", "total", "subtotal", "tax_total", "discount_total", "shipping_total"]

// ---------------------------------------------------------------- options

function fail(option, what, value) {
  const got = value === undefined ? "" : ` (got ${JSON.stringify(value)})`
  throw new TypeError(`medusa-plugin-segment-rs: invalid option \`${option}\`: ${what}${got}`)
}

/**
 * The funnel events switched on by `options.events`: { funnel: true } for all
 * of them, { "Product Added": true, ... } one by one (an event's own switch
 * wins over `funnel`). Other keys of `events` are not the funnel's business.
 * Throws naming the option when a switch is not a boolean.
 */
function enabledEvents(options) {
  const ev = options && options.events
  if (ev === undefined || ev === null) return new Set()
  if (typeof ev !== "object" || Array.isArray(ev)) {
    fail("events", 'must be an object such as { "funnel": true } or { "Product Added": true }', ev)
  }
  if (ev.funnel !== undefined && typeof ev.funnel !== "boolean") fail("events.funnel", "must be true or false", ev.funnel)
  const on = new Set()
  for (const name of FUNNEL_EVENTS) {
    const v = ev[name]
    if (v !== undefined && typeof v !== "boolean") fail(`events["${name}"]`, "must be true or false", v)
    if (v === true || (v === undefined && ev.funnel === true)) on.add(name)
  }
  return on
}

const enabledCache = new WeakMap()
function enabledIn(options) {
  if (!options || typeof options !== "object") return new Set()
  let on = enabledCache.get(options)
  if (!on) {
    on = enabledEvents(options)
    enabledCache.set(options, on)
  }
  return on
}

/**
 * The switches the module `segment` was loaded with (its loader calls
 * configure() at start-up with the plugin options); null before that.
 */
let configured = null
function configure(options) {
  configured = enabledEvents(options)
  return configured
}

/**
 * The funnel events switched on for a subscriber call. Medusa 2.21.2 hands
 * plugin subscribers empty `pluginOptions`, so: those when they say
 * something, else what the module was loaded with, else the Analytics
 * provider's options (as the order subscribers fall back to them).
 */
function enabledFor(pluginOptions, container) {
  if (pluginOptions && pluginOptions.events !== undefined) return enabledIn(pluginOptions)
  if (configured) return configured
  return enabledIn(subscriberOptions(pluginOptions, container))
}

// ---------------------------------------------------------------- the diff

const money = (v, curr) => roundAmount(num(v) || 0, curr)

function discountsByCode(cart) {
  const out = {}
  const add = (adj) => {
    if (!adj || !adj.code) return
    out[adj.code] = (out[adj.code] || 0) + (num(adj.amount) || 0)
  }
  for (const i of cart.items || []) for (const a of i.adjustments || []) add(a)
  for (const m of cart.shipping_methods || []) for (const a of m.adjustments || []) add(a)
  return out
}

/** What the diff compares, from the cart as the query graph returns it. */
function snapshot(cart) {
  const curr = cart.currency_code
  const items = {}
  for (const i of cart.items || []) {
    items[i.id] = {
      product_id: i.product_id || null,
      variant_id: i.variant_id || null,
      sku: i.variant_sku || null,
      name: i.product_title || i.title || null,
      variant: i.variant_title || null,
      price: money(i.unit_price, curr),
      quantity: num(i.quantity) || 0,
    }
  }
  const discounts = discountsByCode(cart)
  const coupons = {}
  // automatic promotions are the store's, not a code the shopper entered
  for (const p of cart.promotions || []) {
    if (p && p.code && !p.is_automatic) coupons[p.id] = { code: p.code, discount: roundAmount(discounts[p.code] || 0, curr) }
  }
  const sessions = (cart.payment_collection && cart.payment_collection.payment_sessions) || []
  return {
    currency: currencyCode(curr),
    email: cart.email || null,
    address: !!(cart.shipping_address && cart.shipping_address.address_1),
    shipping: (cart.shipping_methods || []).map((m) => m.name).filter(Boolean),
    payment: sessions.map((s) => s.provider_id).filter(Boolean),
    items,
    coupons,
  }
}

const EMPTY = { email: null, address: false, shipping: [], payment: [], items: {}, coupons: {}, started: false, steps: [] }

function productProps(cartId, line, quantity, currency) {
  return {
    cart_id: cartId,
    product_id: line.product_id,
    variant_id: line.variant_id,
    sku: line.sku,
    name: line.name,
    variant: line.variant,
    price: line.price,
    quantity,
    currency,
  }
}

/**
 * The changes from `prev` (null: never seen) to `cart`: { next, changes },
 * changes being [{ event, key, properties }] in the order they happen in a
 * checkout. `next` carries the funnel's history (started, steps) forward.
 * Checkout Started: the first time the cart has a shipping address, a
 * shipping method or a payment session, or its email is set or changed after
 * it was created (a signed-in customer's cart has an email from the start).
 */
function diff(prev, cart) {
  const before = prev || EMPTY
  const now = snapshot(cart)
  const next = { ...now, started: !!before.started, steps: [...(before.steps || [])] }
  const id = cart.id
  const currency = now.currency
  const changes = []
  const add = (event, key, properties) => changes.push({ event, key, properties })

  for (const [lineId, line] of Object.entries(now.items)) {
    const was = before.items[lineId] ? before.items[lineId].quantity : 0
    if (line.quantity > was) add("Product Added", lineId, productProps(id, line, line.quantity - was, currency))
  }
  for (const [lineId, line] of Object.entries(before.items)) {
    const left = now.items[lineId] ? now.items[lineId].quantity : 0
    if (left < line.quantity) add("Product Removed", lineId, productProps(id, now.items[lineId] || line, line.quantity - left, currency))
  }
  for (const [promoId, c] of Object.entries(now.coupons)) {
    if (!before.coupons[promoId]) add("Coupon Applied", promoId, { cart_id: id, coupon_id: promoId, coupon_name: c.code, discount: c.discount, currency })
  }
  for (const [promoId, c] of Object.entries(before.coupons)) {
    if (!now.coupons[promoId]) add("Coupon Removed", promoId, { cart_id: id, coupon_id: promoId, coupon_name: c.code, discount: c.discount, currency })
  }

  const emailSet = prev !== null && now.email !== null && now.email !== before.email
  if (!next.started && (now.address || now.shipping.length > 0 || now.payment.length > 0 || emailSet)) {
    next.started = true
    add("Checkout Started", "", null) // properties need the cart's totals: filled in by checkpoint()
  }
  const step = (n, done) => {
    if (!done || next.steps.includes(n)) return
    next.steps.push(n)
    add("Checkout Step Completed", String(n), {
      cart_id: id,
      checkout_id: id,
      step: n,
      step_name: STEPS[n],
      shipping_method: now.shipping[0] || null,
      payment_method: now.payment[0] || null,
    })
    if (n === 3) {
      add("Payment Info Entered", "", { cart_id: id, checkout_id: id, step: 3, shipping_method: now.shipping[0] || null, payment_method: now.payment[0] })
    }
  }
  step(1, now.address)
  step(2, now.shipping.length > 0)
  step(3, now.payment.length > 0)
  return { next, changes }
}

// (jsonb does not keep key order: compare values)
function sameState(a, b) {
  return a !== null && isDeepStrictEqual(a, b)
}

/** Checkout Started's properties: the cart's totals, coupons and products. */
function checkoutStartedProps(cart, totals, next) {
  const curr = cart.currency_code
  const t = totals || {}
  const total = num(t.total)
  const shipping = num(t.shipping_total)
  const tax = num(t.tax_total)
  const codes = Object.values(next.coupons).map((c) => c.code)
  return {
    cart_id: cart.id,
    checkout_id: cart.id,
    value: money(total, curr),
    // the spec's revenue: without shipping and tax, with discounts
    revenue: money((total || 0) - (shipping || 0) - (tax || 0), curr),
    shipping: money(shipping, curr),
    tax: money(tax, curr),
    discount: money(t.discount_total, curr),
    coupon: codes.length ? codes.join(",") : null,
    currency: next.currency,
    products: Object.values(next.items).map((l) => {
      const p = productProps(cart.id, l, l.quantity, next.currency)
      delete p.cart_id
      delete p.currency
      return p
    }),
  }
}

const SLUG = {
  "Product Added": "added",
  "Product Removed": "removed",
  "Checkout Started": "checkout-started",
  "Checkout Step Completed": "step",
  "Payment Info Entered": "payment-info",
  "Coupon Applied": "coupon-applied",
  "Coupon Removed": "coupon-removed",
}

/** Deterministic: the cart, the version the transition creates, the change. */
function funnelMessageId(cartId, version, event, key) {
  return ["medusa-funnel", cartId, `v${version}`, SLUG[event], key].filter(Boolean).join("-")
}

/**
 * The Segment calls of one transition. Every call carries the anonymousId
 * `cart-<id>` (and the customer's id once the cart has one), so a
 * destination's identity resolution joins the cart's early, anonymous
 * events to the customer. Timestamps are 1 ms apart to keep the order.
 */
function callsFor(cart, changes, version, enabled, now = Date.now()) {
  return changes
    .filter((c) => enabled.has(c.event))
    .map((c, i) => {
      const message = {
        event: c.event,
        anonymousId: `cart-${cart.id}`,
        properties: c.properties,
        timestamp: new Date(now + i),
        messageId: funnelMessageId(cart.id, version, c.event, c.key),
        context: {},
      }
      if (cart.customer_id) message.userId = cart.customer_id
      return { method: "track", message }
    })
}

// ---------------------------------------------------------------- handling

async function graphOne(query, entity, fields, filters) {
  const { data } = await query.graph({ entity, fields, filters })
  return Array.isArray(data) ? data[0] : data
}

/** The cart an event is about, or null. */
async function cartIdOf(event, data, query) {
  if (!data) return null
  if (event === "order.placed") {
    const o = await graphOne(query, "order", ["id", "cart.id"], { id: data.id })
    return (o && o.cart && o.cart.id) || null
  }
  if (event === PAYMENT_SESSION_EVENT) {
    const pc = await graphOne(query, "payment_collection", ["id", "cart.id"], { id: data.id })
    return (pc && pc.cart && pc.cart.id) || null
  }
  return data.id || null
}

/**
 * Reads cart `cartId`, compares it with its recorded state, records the new
 * one and then sends the enabled events of the change; a completed (or
 * deleted) cart is then forgotten. Resolves { calls, changes } (the Segment
 * calls made, and every change seen, enabled or not). Throws on failure (see
 * runFunnel).
 */
async function checkpoint(cartId, { query, pg, segment, logger, enabled }) {
  let source = null // the cart of the transition that was recorded (its metadata: browser ids, consent)
  const out = await cartState.transition(pg, cartId, async (prev, version) => {
    const cart = await graphOne(query, "cart", CART_FIELDS, { id: cartId })
    if (!cart) return { drop: true, calls: [], changes: [] }
    source = attribution.cartSource(cart)
    // a completed cart first seen now: its funnel happened before we were watching
    if (cart.completed_at && prev === null) return { drop: true, calls: [], changes: [] }
    const { next, changes } = diff(prev, cart)
    let calls = []
    if (changes.length) {
      const started = changes.find((c) => c.event === "Checkout Started")
      if (started && enabled.has("Checkout Started")) {
        started.properties = checkoutStartedProps(cart, await graphOne(query, "cart", TOTAL_FIELDS, { id: cartId }), next)
      }
      calls = callsFor(cart, changes, version + 1, enabled)
    }
    if (cart.completed_at) return { drop: true, calls, changes }
    if (sameState(prev, next)) return { calls, changes }
    return { state: next, calls, changes }
  })
  // sent once the transition is recorded: a handler that lost the race sends nothing of it
  const what = `cart ${cartId}`
  const calls = out.calls.length ? attribution.finishCalls(out.calls, { source, logger, options: segment.options_ || {}, segment }, what) : []
  return { calls: calls.length ? makeCalls(segment, calls, logger, what) : 0, changes: out.changes }
}

/** Handles one event. Never throws; resolves the number of Segment calls made. */
async function runFunnel(event, data, container, pluginOptions) {
  const logger = loggerOf(container)
  let cartId = data && data.id
  try {
    const enabled = enabledFor(pluginOptions, container)
    if (enabled.size === 0) return 0
    const query = lookup(container, "query")
    const pg = lookup(container, "__pg_connection__")
    if (!query || !pg) throw new Error("the container has no `query` or `__pg_connection__` (Medusa 2.x)")
    cartId = await cartIdOf(event, data, query)
    if (!cartId) return 0
    const { segment } = subscriberClient(pluginOptions, container)
    const out = await checkpoint(cartId, { query, pg, segment, logger, enabled })
    cartState.maybePrune(pg, logger)
    return out.calls
  } catch (err) {
    logger.error(`[segment] cannot track the funnel of cart ${cartId || "?"} (${event}): ${cartState.explain(err)}`)
    return 0
  }
}

/** The Medusa 2.x subscriber module of the funnel: { handler, config }. */
function subscriber() {
  async function segmentFunnel({ event, container, pluginOptions }) {
    await runFunnel(event && event.name, event && event.data, container, pluginOptions)
  }
  return { handler: segmentFunnel, config: { event: SUBSCRIBED, context: { subscriberId: "segment-funnel" } } }
}

module.exports = {
  FUNNEL_EVENTS,
  PROMOTIONS_EVENT,
  PAYMENT_SESSION_EVENT,
  SUBSCRIBED,
  CART_FIELDS,
  enabledEvents,
  configure,
  configured: () => configured,
  snapshot,
  diff,
  callsFor,
  funnelMessageId,
  checkpoint,
  runFunnel,
  subscriber,
}
