"use strict"

// The default subscribers of the Medusa 2.x plugin, as one table: 2.x event
// -> what to load through the query graph and which Segment calls to make.
// `.medusa/server/src/subscribers/<event>.js` are one-line files built from
// this table by `subscriberFor(event)`. Names and properties are v1's (see
// lib/v2/order.js); the README lists the differences per event.
//
// `runEvent` never throws: a failure is logged and the event bus and the
// store's request never see it.

const { lookup, loggerOf } = require("../container")
const { subscriberClient } = require("./client")
// messageIds and the customer's identify as on v1 (deterministic ids: Segment de-duplicates a redelivered event)
const { messageId, identifyCall, makeCalls } = require("../order-mapping")
const order = require("./order")
const lifecycle = require("./lifecycle")
const { switchboardFor } = require("../switchboard")
// browser identity, traits, shopper context and consent on every call (lib/attribution.js)
const attribution = require("./attribution")
const customers = require("./customers")
// the order read with one SQL statement (option order_loader, default "sql"; the query graph otherwise)
const sqlLoader = require("./sql-loader")

// What each event's Segment calls read, as data: per Medusa event, the
// query-graph fields of each entity it loads (FIELDS below). A property that
// needs more data gets its field here and is read in lib/v2/order.js (or the
// event's entry); nothing else is loaded. One query per entity and event; the
// order's link fields (cart., payment_collections., customer.) are read from
// the link tables and modules after the order query when Medusa's modules are
// there (loadOrder).

// The order, for every event's properties. Asking for a total makes the order
// module compute all totals, for which it loads the items and shipping
// methods with their adjustments and tax lines in any case (so listing their
// fields one by one would not load less).
const ORDER = [
  "id",
  "email",
  "currency_code",
  "region_id",
  "customer_id",
  "sales_channel_id", // the switchboard's rules
  "created_at",
  "canceled_at",
  "total",
  "subtotal",
  "tax_total",
  "discount_total",
  "discount_tax_total",
  "item_subtotal",
  "shipping_total",
  "shipping_tax_total",
  "items.*",
  "items.tax_lines.*",
  "items.adjustments.*",
  "shipping_methods.*",
  "shipping_methods.tax_lines.*",
  "shipping_methods.adjustments.*",
  "shipping_address.*",
  // attribution (lib/v2/attribution.js): the order's metadata (the cart's, as
  // completing the cart copied it: the browser ids, consent, shopper context), billing address
  ...attribution.ORDER_FIELDS,
]
// Through module links (order-cart, order-payment-collection, order-customer):
// checkout_id, payment_provider, the customer's traits and consent metadata
// (attribution). The cart's metadata only when an event reads it (use_ga_id:
// see orderCompleted); otherwise order.metadata is its copy. The coupon is
// read from the line adjustments (their code is the promotion's), which saves
// the order-promotion link's query.
const ORDER_LINKS = ["cart.id", "payment_collections.payments.provider_id", ...attribution.ORDER_LINK_FIELDS]
const ORDER_ROW = [...ORDER, ...ORDER_LINKS]
// A return's received items, with their reasons.
const RETURN_ITEMS = ["id", "items.*", "items.reason.*"]
// Shipping methods with what their total needs (tax lines, adjustments).
const SHIPPING = ["shipping_methods.*", "shipping_methods.tax_lines.*", "shipping_methods.adjustments.*"]
const EXCHANGE = ["id", "order_id", "difference_due", "created_at", "return_id", "additional_items.*"]

const FIELDS = {
  "order.placed": { order: ORDER_ROW },
  // credit lines: the amounts it was placed with (asPlaced)
  "order.canceled": { order: [...ORDER_ROW, "credit_lines.amount", "credit_lines.reference"] },
  "shipment.created": {
    fulfillment: ["id", "shipped_at", "items.*", "labels.*", "order.id"],
    order: ORDER_ROW,
    // the order's exchanges (is this the shipment of one's outbound items?),
    // with what Swap Shipped reads: inbound items and shipping
    order_exchange: [...EXCHANGE, ...RETURN_ITEMS.map((f) => `return.${f}`), ...SHIPPING],
  },
  "order.return_received": {
    return: ["id", "order_id", "refund_amount", "received_at", "items.*", "items.reason.*", ...SHIPPING],
    order: ORDER_ROW,
  },
  "order.claim_created": {
    order_claim: ["id", "order_id", "type", "created_at", "return_id", "claim_items.*", ...RETURN_ITEMS.map((f) => `return.${f}`)],
    order: ORDER_ROW,
  },
  "order.exchange_created": {
    order_exchange: [...EXCHANGE, ...RETURN_ITEMS.map((f) => `return.${f}`), ...SHIPPING],
    order: ORDER_ROW,
  },
  // lib/v2/lifecycle.js: Order Updated carries the order's version
  "order.updated": { order: [...ORDER_ROW, "version", "updated_at"] },
  "order-edit.confirmed": { order: [...ORDER_ROW, "version", "updated_at"] },
  "order.return_requested": { return: [...lifecycle.RETURN_FIELDS, ...SHIPPING], order: ORDER_ROW },
  "order.fulfillment_created": { fulfillment: lifecycle.FULFILLMENT_FIELDS, order: ORDER_ROW },
  "delivery.created": { fulfillment: lifecycle.FULFILLMENT_FIELDS, order: ORDER_ROW },
  // the order's received returns (their credit) with their shipping
  "payment.refunded": { payment: lifecycle.PAYMENT_FIELDS, order: ORDER_ROW, return: [...lifecycle.RETURN_FIELDS, ...SHIPPING] },
  "payment.captured": { payment: lifecycle.PAYMENT_FIELDS, order: ORDER_ROW },
  // lib/v2/customers.js: the customer and its orders' totals; customer.deleted reads nothing
  "customer.created": { customer: customers.CUSTOMER_FIELDS, order: customers.ORDER_FIELDS },
  "customer.updated": { customer: customers.CUSTOMER_FIELDS, order: customers.ORDER_FIELDS },
  "customer.deleted": {},
  // lib/v2/attribution.js
  "cart.customer_transferred": { cart: [...attribution.CART_FIELDS, ...attribution.CART_LINK_FIELDS] },
}

async function graphOne(ctx, entity, fields, filters) {
  const { data } = await ctx.query.graph({ entity, fields, filters })
  return Array.isArray(data) ? data[0] : data
}

async function graphAll(ctx, entity, fields, filters) {
  const { data } = await ctx.query.graph({ entity, fields, filters })
  return Array.isArray(data) ? data : data ? [data] : []
}

/** The fields of `entity` without those read through `prefix` (a relation that could not be read). */
const without = (fields, prefix) => fields.filter((f) => !f.startsWith(prefix))

/** Queries (entity and fields) that failed once with a relation, read without it since. */
const unreadable = new Set()

/**
 * One query of `entity` with `fields`; when it fails, the same without the
 * fields read through the relations in `optional`, so that what those add is
 * loaded separately or left empty and the event still goes. `warn(err)` is
 * told of every failure; without `warn`, a query that failed is logged once
 * and not tried again in this process (a Medusa version that cannot read that
 * relation).
 */
async function graphOneOr(ctx, entity, fields, filters, optional, warn) {
  return readOr(ctx, graphOne, entity, fields, filters, optional, warn)
}

async function graphAllOr(ctx, entity, fields, filters, optional) {
  return readOr(ctx, graphAll, entity, fields, filters, optional)
}

async function readOr(ctx, read, entity, fields, filters, optional, warn) {
  const key = `${entity} ${fields.join(",")}`
  if (!unreadable.has(key)) {
    try {
      return await read(ctx, entity, fields, filters)
    } catch (err) {
      if (warn) warn(err)
      else {
        unreadable.add(key)
        ctx.logger.warn(`[segment] cannot read ${entity} with ${optional.join(" ")}* in one query (${err && err.message}); reading them separately`)
      }
    }
  }
  return read(ctx, entity, optional.reduce(without, fields), filters)
}

/**
 * The order with its link data (`cart`, `payment_collections`, `customer`, as
 * the query graph returns them); without the links when they cannot be read
 * (logged). Sets the event's attribution source (ctx.source).
 */
async function loadOrder(ctx, fields, id) {
  if (!id) throw new Error("the event carries no order id")
  // undefined: the SQL loader cannot answer here (off, failed once, or a field it does not read)
  const bySql = await sqlLoader.loadOrder(ctx, fields, id)
  if (bySql !== undefined) {
    if (!bySql) throw new Error(`order ${id} not found`)
    ctx.source = attribution.orderSource(bySql)
    return inOrder(bySql, LISTS.order)
  }
  const warn = (err) =>
    ctx.logger.warn(
      `[segment] cannot load the cart, payments or customer of order ${id} (${err && err.message}); ` +
        "checkout_id and payment_provider are left empty, and the customer's traits"
    )
  // credit lines (order.canceled) cannot be read on every 2.x: logged once, read without
  const own = (fs) => (fs.some((f) => f.startsWith("credit_lines.")) ? graphOneOr(ctx, "order", fs, { id }, ["credit_lines."]) : graphOne(ctx, "order", fs, { id }))
  let o
  if (ctx.paymentModule && fields.some(isLinkField)) {
    // the order, then its links read directly (see orderLinks)
    const found = await own(fields.filter((f) => !isLinkField(f)))
    const links = found
      ? await orderLinks(ctx, found, fields).catch((err) => {
          warn(err)
          return {}
        })
      : {}
    o = found && Object.assign(found, links)
  } else {
    try {
      o = await graphOne(ctx, "order", fields, { id })
    } catch (err) {
      if (!fields.some(isLinkField)) throw err
      warn(err)
      o = await own(fields.filter((f) => !isLinkField(f)))
    }
  }
  if (!o) throw new Error(`order ${id} not found`)
  ctx.source = attribution.orderSource(o)
  return inOrder(o, LISTS.order)
}

const at = (t) => (t ? new Date(t).getTime() : 0)
const byCreation = (a, b) => at(a && a.created_at) - at(b && b.created_at) || String(a && a.id).localeCompare(String(b && b.id))

// The lists of each record whose order a property shows (products,
// shipping_methods, coupon, the lines of a shipment, return or exchange),
// put in one order, by created_at then id, however the record was read: the
// query graph returns them in the order of the database's plan (Medusa sets
// none), which can differ between two reads of the same record.
const LISTS = {
  order: ["items", "items.adjustments", "shipping_methods", "shipping_methods.adjustments"],
  fulfillment: ["items", "labels"],
  exchange: ["additional_items", "shipping_methods", "return.items"],
  return: ["items", "shipping_methods"],
  claim: ["claim_items", "return.items"],
}

/** Sorts the lists of `rec` at `paths` ("items", "items.adjustments": each item's) by creation; returns `rec`. */
function inOrder(rec, paths) {
  const sortAt = (v, [head, ...rest]) => {
    const x = v && v[head]
    if (Array.isArray(x)) {
      if (rest.length) for (const el of x) sortAt(el, rest)
      else x.sort(byCreation)
    } else if (x && rest.length) sortAt(x, rest)
  }
  for (const p of paths) sortAt(rec, p.split("."))
  return rec
}

/** The fulfillment `id` with `fields`: by SQL when that loader answers, else through the query graph. */
async function loadFulfillment(ctx, fields, id) {
  const bySql = await sqlLoader.loadFulfillment(ctx, fields, id)
  const f = bySql !== undefined ? bySql : await graphOne(ctx, "fulfillment", fields, { id })
  return f && inOrder(f, LISTS.fulfillment)
}

/**
 * Exchanges with `fields`: the one `{ id }` or all of an order `{ order_id }`,
 * by SQL when that loader answers, else through the query graph (an array).
 */
async function loadExchanges(ctx, fields, filter) {
  let list = await sqlLoader.loadExchanges(ctx, fields, filter)
  if (list === undefined) list = await graphAllOr(ctx, "order_exchange", fields, filter, ["return.", "shipping_methods."])
  return list.map((ex) => inOrder(ex, LISTS.exchange))
}

/** Returns with `fields` ({ id } or { order_id }): by SQL when that loader answers, else the query graph (an array). */
async function loadReturns(ctx, fields, filter) {
  let list = await sqlLoader.loadReturns(ctx, fields, filter)
  if (list === undefined) list = await graphAllOr(ctx, "return", fields, filter, ["shipping_methods."])
  return list.map((r) => inOrder(r, LISTS.return))
}

/** The claim `id` with `fields`: by SQL when that loader answers, else the query graph. */
async function loadClaim(ctx, fields, id) {
  const list = await sqlLoader.loadClaims(ctx, fields, { id })
  const c = list !== undefined ? list[0] : await graphOneOr(ctx, "order_claim", fields, { id }, ["return."])
  return c && inOrder(c, LISTS.claim)
}

const LINKS = ["cart.", "payment_collections.", "customer."]
const isLinkField = (f) => LINKS.some((l) => f.startsWith(l))

/**
 * The order's cart, payments and customer, in the shape the query graph gives
 * them, read from the two link tables and the payment, cart and customer
 * modules: the query graph's traversal of the same links costs about two and
 * a half times as much CPU (measured: docs/benchmarks.md#medusa-2x). The cart
 * module is asked only when a field other than the cart's id is wanted; the
 * customer's only when the order has one (its id is on the order).
 */
async function orderLinks(ctx, o, fields) {
  const id = o.id
  const [carts, collections] = await Promise.all([
    graphAll(ctx, "order_cart", ["cart_id"], { order_id: id }),
    graphAll(ctx, "order_payment_collection", ["payment_collection_id"], { order_id: id }),
  ])
  const out = {}
  const reads = []
  const sub = (prefix) => fields.filter((f) => f.startsWith(prefix)).map((f) => f.slice(prefix.length))
  const cartId = carts.length ? carts[0].cart_id : undefined
  const cartFields = sub("cart.").filter((f) => f !== "id")
  if (cartId) {
    out.cart = { id: cartId }
    if (cartFields.length) {
      reads.push(ctx.cartModule.listCarts({ id: cartId }, { select: ["id", ...cartFields] }).then(([c]) => c && (out.cart = c)))
    }
  }
  const customerFields = sub("customer.")
  if (customerFields.length && o.customer_id) {
    reads.push(
      ctx.customerModule.listCustomers({ id: o.customer_id }, { select: ["id", ...customerFields] }).then(([c]) => {
        out.customer = c || null
      })
    )
  }
  const pcIds = collections.map((c) => c.payment_collection_id).filter(Boolean)
  if (pcIds.length) {
    reads.push(
      ctx.paymentModule.listPayments({ payment_collection_id: pcIds }, { select: ["id", "provider_id", "payment_collection_id"] }).then((payments) => {
        out.payment_collections = pcIds.map((pc) => ({ id: pc, payments: payments.filter((p) => p.payment_collection_id === pc) }))
      })
    )
  }
  await Promise.all(reads)
  return out
}

/** A return's items, when the entity that refers to it did not bring them. */
async function returnItems(ctx, owner) {
  if (owner.return && Array.isArray(owner.return.items)) return owner.return.items
  if (!owner.return_id) return []
  const r = await graphOne(ctx, "return", RETURN_ITEMS, { id: owner.return_id })
  return (r && r.items) || []
}

/**
 * The shipping methods of a return or exchange as loaded with it, else read
 * on their own (with their tax lines when those can be read); [] when none can be.
 */
async function shippingOf(ctx, entity, owner) {
  if (Array.isArray(owner.shipping_methods)) return owner.shipping_methods
  if (!owner.id) return []
  for (const fields of [["id", ...SHIPPING], ["id", "shipping_methods.*"]]) {
    try {
      const r = await graphOne(ctx, entity, fields, { id: owner.id })
      return (r && r.shipping_methods) || []
    } catch (_) {
      // next, with fewer fields
    }
  }
  return []
}

/** The exchange with its inbound items, and its shipping when the difference due must be computed. */
async function withReturn(ctx, exchange) {
  const out = { ...exchange, return: { items: await returnItems(ctx, exchange) } }
  if (order.num(exchange.difference_due) === null) out.shipping_methods = await shippingOf(ctx, "order_exchange", exchange)
  return out
}

/**
 * Builder context for an order's currency: synchronous when the rate needs
 * no wait (the reporting currency, no key, a warm exchange-rate cache), a
 * promise otherwise.
 */
function builderCtx(ctx, currency) {
  const seg = ctx.segment
  const make = (rate) => ({ reportingCurrency: seg.reportingCurrency_ || "EUR", rate })
  const now = seg.cachedReportingRate(currency)
  return now !== undefined ? make(now) : seg.reportingRate(currency).then(make)
}

/**
 * A cancelled order with the amounts it was placed with. Cancelling writes a
 * refund credit line (reference "payment_collection") that 2.x subtracts
 * from `total`: on 2.8.3-2.13 it is every payment's amount (total reads 0),
 * on 2.14+ what was refunded (0 unless a payment was captured). Adding those
 * back gives "Order Cancelled" one meaning on every 2.x, v1's: the value of
 * the order cancelled. Other credit lines (store credit at checkout) stay.
 * The credit lines are read with the order (FIELDS["order.canceled"]); when
 * they could not be, total is Medusa's (logged by loadOrder).
 */
function asPlaced(o) {
  if (!Array.isArray(o.credit_lines)) return o
  const refunded = o.credit_lines.filter((l) => l && l.reference === "payment_collection").reduce((a, l) => a + (order.num(l.amount) || 0), 0)
  return refunded ? { ...o, total: (order.num(o.total) || 0) + refunded } : o
}

/** userId of an order's calls; a guest order without a customer falls back to an anonymousId. */
function who(o) {
  return o.customer_id ? { userId: o.customer_id } : { anonymousId: `order-${o.id}` }
}

// `order`: what the switchboard's exclude rules and enrich hook see (not sent)
function track(o, event, properties, timestamp, id) {
  return { method: "track", order: o, message: { event, ...who(o), properties, timestamp: timestamp || new Date(), messageId: id } }
}

function withOrder(call, o) {
  return { ...call, order: o }
}

/**
 * identify (unless `identify` is false) + Order Completed of an order
 * (messageId medusa-order.placed-<id>, whichever event sends it).
 */
async function orderCompleted(ctx, o, timestamp, { identify = true } = {}) {
  const bctx = await builderCtx(ctx, o.currency_code)
  const t = track(o, "Order Completed", order.buildOrderProperties(o, bctx, o), timestamp, messageId("order.placed", o.id))
  // 2.x carts have no context (ip, user agent); a ga_id can be kept in the cart's metadata
  const meta = (o.cart && o.cart.metadata) || {}
  t.message.context = {}
  t.message.integrations = {}
  if (ctx.options.use_ga_id && meta.ga_id) t.message.integrations["Google Analytics"] = { clientId: meta.ga_id }
  const calls = []
  if (o.customer_id && identify) calls.push(withOrder(identifyCall(o), o))
  calls.push(t)
  return calls
}

/** The order fields of `event`, with the cart's metadata when use_ga_id reads it (Order Completed). */
function orderFields(ctx, event) {
  const fields = FIELDS[event].order
  return ctx.options.use_ga_id ? [...fields, "cart.metadata"] : fields
}

const EVENTS = {
  // With option order_completed_on: "captured", Order Completed waits for payment.captured (lib/v2/lifecycle.js).
  "order.placed": {
    async calls({ id }, ctx) {
      const o = await loadOrder(ctx, orderFields(ctx, "order.placed"), id)
      if (ctx.options.order_completed_on === "captured") return o.customer_id ? [withOrder(identifyCall(o), o)] : []
      return orderCompleted(ctx, o, o.created_at)
    },
  },

  // data.id is the fulfillment's id; an exchange's outbound items are shipped as order fulfillments.
  "shipment.created": {
    async calls({ id }, ctx) {
      const fields = FIELDS["shipment.created"]
      const f = await loadFulfillment(ctx, fields.fulfillment, id)
      if (!f) throw new Error(`fulfillment ${id} not found`)
      if (!f.order || !f.order.id) throw new Error(`fulfillment ${id} belongs to no order`)
      const o = await loadOrder(ctx, fields.order, f.order.id)
      const bctx = await builderCtx(ctx, o.currency_code)
      const shipped = new Set((f.items || []).map((fi) => fi.line_item_id))
      const exchanges = await loadExchanges(ctx, fields.order_exchange, { order_id: o.id })
      const ex = exchanges.find((e) => (e.additional_items || []).some((a) => shipped.has(a.item_id)))
      const mid = messageId("shipment.created", f.id)
      if (ex) {
        const props = order.buildSwapTotalProperties(o, await withReturn(ctx, ex), bctx)
        return [track(o, "Swap Shipped", props, f.shipped_at, mid)]
      }
      const byId = new Map((o.items || []).map((i) => [i.id, i]))
      const lines = (f.items || [])
        .filter((fi) => byId.has(fi.line_item_id))
        .map((fi) => ({ item: byId.get(fi.line_item_id), quantity: order.num(fi.quantity) }))
      const props = { ...order.buildOrderProperties(o, bctx, o, lines), fulfillment_id: f.id, ...lifecycle.tracking(f) }
      return [track(o, "Order Shipped", props, f.shipped_at, mid)]
    },
  },

  "order.canceled": {
    async calls({ id }, ctx) {
      const o = await loadOrder(ctx, FIELDS["order.canceled"].order, id)
      const bctx = await builderCtx(ctx, o.currency_code)
      const props = order.buildOrderProperties(asPlaced(o), bctx, o)
      return [track(o, "Order Cancelled", props, o.canceled_at, messageId("order.canceled", o.id))]
    },
  },

  "order.return_received": {
    async calls({ order_id, return_id }, ctx) {
      const fields = FIELDS["order.return_received"]
      const [ret] = await loadReturns(ctx, fields.return, { id: return_id })
      if (!ret) throw new Error(`return ${return_id} not found`)
      const o = await loadOrder(ctx, fields.order, order_id || ret.order_id)
      const bctx = await builderCtx(ctx, o.currency_code)
      const props = order.buildRefundProperties(o, ret, bctx, o, await shippingOf(ctx, "return", ret))
      return [track(o, "Order Refunded", props, ret.received_at, messageId("order.return_received", ret.id))]
    },
  },

  // One "Item Claimed" per claimed line: the claim's write-off items and its inbound (returned) items.
  "order.claim_created": {
    async calls({ order_id, claim_id }, ctx) {
      const fields = FIELDS["order.claim_created"]
      const claim = await loadClaim(ctx, fields.order_claim, claim_id)
      if (!claim) throw new Error(`claim ${claim_id} not found`)
      const o = await loadOrder(ctx, fields.order, order_id || claim.order_id)
      const bctx = await builderCtx(ctx, o.currency_code)
      const claimed = [...(claim.claim_items || []).filter((ci) => !ci.is_additional_item), ...(await returnItems(ctx, claim))]
      return claimed.map((c) =>
        track(
          o,
          "Item Claimed",
          order.buildClaimItemProperties(o, claim, c, bctx),
          claim.created_at,
          messageId("order.claim_created", c.id)
        )
      )
    },
  },

  // An exchange is confirmed when it is created in 2.x (the request is
  // confirmed), and its difference is settled on the order's payment
  // collection: "Swap Confirmed" goes with "Swap Created".
  "order.exchange_created": {
    async calls({ order_id, exchange_id }, ctx) {
      const fields = FIELDS["order.exchange_created"]
      const [found] = await loadExchanges(ctx, fields.order_exchange, { id: exchange_id })
      if (!found) throw new Error(`exchange ${exchange_id} not found`)
      const ex = await withReturn(ctx, found)
      const o = await loadOrder(ctx, fields.order, order_id || ex.order_id)
      const bctx = await builderCtx(ctx, o.currency_code)
      const mid = messageId("order.exchange_created", ex.id)
      return [
        track(o, "Swap Created", order.buildSwapReport(o, ex, bctx), ex.created_at, mid),
        track(o, "Swap Confirmed", order.buildSwapTotalProperties(o, ex, bctx), ex.created_at, `${mid}-confirmed`),
      ]
    },
  },

  ...attribution.EVENTS,
}

// Order Updated/Delivered/Refunded (payment), Return Requested, Fulfillment Created, Order Completed on capture
Object.assign(EVENTS, lifecycle.entries({ FIELDS, loadOrder, loadFulfillment, loadReturns, orderFields, shippingOf, graphOne, graphOneOr, graphAll, graphAllOr, builderCtx, track, orderCompleted }))
// identify on customer changes, Customer Created (lib/v2/customers.js)
Object.assign(EVENTS, customers.entries({ graphOne, graphAll }))

/** Context of one event: the query graph, the shared client, the options, a logger. */
function eventContext(container, pluginOptions) {
  const { segment, logger } = subscriberClient(pluginOptions, container)
  const query = lookup(container, "query")
  if (!query || typeof query.graph !== "function") throw new Error("the container has no `query` (Medusa 2.x)")
  const ctx = { query, segment, logger, container, options: segment.options_ || {} }
  // the modules behind the order's links, when all are there (loadOrder)
  const cartModule = lookup(container, "cart")
  const paymentModule = lookup(container, "payment")
  const customerModule = lookup(container, "customer")
  const can = (m, method) => m && typeof m[method] === "function"
  if (can(cartModule, "listCarts") && can(paymentModule, "listPayments") && can(customerModule, "listCustomers")) {
    Object.assign(ctx, { cartModule, paymentModule, customerModule })
  }
  return ctx
}

/** The Segment calls for `event` (throws on failure; used by tests). */
async function buildCalls(event, data, container, pluginOptions) {
  const entry = EVENTS[event]
  if (!entry) throw new Error(`no Segment mapping for event ${event}`)
  const ctx = eventContext(container, pluginOptions)
  return attribution.finishCalls(await entry.calls(data || {}, ctx), ctx, `${event} ${describe(data)}`)
}

function describe(data) {
  if (!data) return ""
  return data.id || data.return_id || data.claim_id || data.exchange_id || data.order_id || ""
}

/**
 * The calls live tracking makes for one event, not made yet: the mapping's,
 * then identity, traits and consent (lib/v2/attribution.js), then events /
 * exclude / enrich / rename (lib/switchboard.js). Throws on failure. The
 * backfill (lib/v2/backfill.js) sends past orders through this too.
 */
async function liveCalls(event, data, ctx, entry = EVENTS[event]) {
  const built = attribution.finishCalls(await entry.calls(data || {}, ctx), ctx, `${event} ${describe(data)}`)
  const orderDetails = async (id) => {
    const o = await graphOne(ctx, "order", ["id", "sales_channel_id", "metadata"], { id })
    return { sales_channel_id: (o && o.sales_channel_id) || null, metadata: (o && o.metadata) || null }
  }
  return switchboardFor(ctx.options).apply(built, { event, container: ctx.container, orderDetails }, ctx.logger)
}

/**
 * Handles one event: builds and makes its Segment calls. Never throws;
 * returns the number of calls made. `entry`: the mapping (default: the table's).
 */
async function runEvent(event, data, container, pluginOptions, entry = EVENTS[event]) {
  const logger = loggerOf(container)
  try {
    const ctx = eventContext(container, pluginOptions)
    return makeCalls(ctx.segment, await liveCalls(event, data, ctx, entry), logger, `${event} ${describe(data)}`)
  } catch (err) {
    logger.error(`[segment] cannot track ${event} ${describe(data)}: ${(err && err.stack) || err}`)
    return 0
  }
}

/** The Medusa 2.x subscriber module of one event: { default: handler, config }. */
function subscriberFor(event) {
  if (!EVENTS[event]) throw new Error(`no Segment mapping for event ${event}`)
  async function segmentSubscriber({ event: e, container, pluginOptions }) {
    await runEvent(event, e && e.data, container, pluginOptions)
  }
  return { handler: segmentSubscriber, config: { event, context: { subscriberId: `segment-${event.replace(/[._]/g, "-")}` } } }
}

module.exports = { EVENTS, FIELDS, ORDER_FIELDS: ORDER, ORDER_LINK_FIELDS: ORDER_LINKS, messageId, eventContext, liveCalls, buildCalls, runEvent, subscriberFor, graphOne, graphAll }
