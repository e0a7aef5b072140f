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
const { messageId, identifyCall, makeCalls } = require("../events")
const order = require("./order")
const lifecycle = require("./lifecycle")
const { switchboardFor } = require("../switchboard")
// browser identity, traits, shopper context and consent on every call (lib/attribution.js)
const attribution = require("./attribution")

// What the builders read. Asking for a total makes the order module compute
// all totals and load items/shipping methods with their adjustments and tax lines.
const ORDER_FIELDS = [
  "id",
  "email",
  "currency_code",
  "region_id",
  "customer_id",
  "sales_channel_id",
  "metadata",
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
]
// Through module links (order-cart, order-payment-collection). The coupon is
// read from the line adjustments (their code is the promotion's), which saves
// the order-promotion link's query.
const ORDER_LINK_FIELDS = ["cart.id", "cart.metadata", "payment_collections.payments.provider_id"]
const RETURN_FIELDS = ["id", "order_id", "refund_amount", "received_at", "items.*", "items.reason.*"]
const CLAIM_FIELDS = ["id", "order_id", "type", "created_at", "return_id", "claim_items.*"]
const EXCHANGE_FIELDS = ["id", "order_id", "difference_due", "created_at", "return_id", "additional_items.*"]
const FULFILLMENT_FIELDS = ["id", "shipped_at", "items.*", "labels.*", "order.id"]


async function graphOne(ctx, entity, fields, filters) {
  const { data } = await ctx.query.graph({ entity, fields, filters })
  return Array.isArray(data) ? data[0] : data
}

async function graphAll(ctx, entity, fields, filters) {
  const { data } = await ctx.query.graph({ entity, fields, filters })
  return Array.isArray(data) ? data : data ? [data] : []
}

/** The order with its link data; without the links when a link is not there (logged). */
async function loadOrder(ctx, id) {
  if (!id) throw new Error("the event carries no order id")
  let o
  try {
    o = await graphOne(ctx, "order", [...ORDER_FIELDS, ...attribution.ORDER_FIELDS, ...ORDER_LINK_FIELDS, ...attribution.ORDER_LINK_FIELDS], { id })
  } catch (err) {
    ctx.logger.warn(
      `[segment] cannot load the cart or payments of order ${id} (${err && err.message}); ` +
        "checkout_id and payment_provider are left empty"
    )
    o = await graphOne(ctx, "order", [...ORDER_FIELDS, ...attribution.ORDER_FIELDS], { id })
  }
  if (!o) throw new Error(`order ${id} not found`)
  ctx.source = attribution.orderSource(o)
  return o
}

async function loadReturnItems(ctx, returnId) {
  if (!returnId) return []
  const r = await graphOne(ctx, "return", ["id", "items.*", "items.reason.*"], { id: returnId })
  return (r && r.items) || []
}

/**
 * The shipping methods of a return or exchange, with their tax lines when
 * those can be read; [] when none can be.
 */
async function loadShipping(ctx, entity, id) {
  if (!id) return []
  const tries = [["id", "shipping_methods.*", "shipping_methods.tax_lines.*", "shipping_methods.adjustments.*"], ["id", "shipping_methods.*"]]
  for (const fields of tries) {
    try {
      const r = await graphOne(ctx, entity, fields, { id })
      return (r && r.shipping_methods) || []
    } catch (_) {
      // next, with fewer fields
    }
  }
  return []
}

/** The exchange with its inbound items, and its shipping when the difference due must be computed. */
async function loadExchange(ctx, exchange) {
  const out = { ...exchange, return: { items: await loadReturnItems(ctx, exchange.return_id) } }
  if (order.num(exchange.difference_due) === null) out.shipping_methods = await loadShipping(ctx, "order_exchange", exchange.id)
  return out
}

/**
 * A cancelled order with the amounts it was placed with. Cancelling writes a
 * refund credit line (reference "payment_collection") that 2.x subtracts
 * from `total`: on 2.8.3-2.13 it is every payment's amount (total reads 0),
 * on 2.14+ what was refunded (0 unless a payment was captured). Adding those
 * back gives "Order Cancelled" one meaning on every 2.x, v1's: the value of
 * the order cancelled. Other credit lines (store credit at checkout) stay.
 */
async function asPlaced(ctx, o) {
  let lines
  try {
    const found = await graphOne(ctx, "order", ["id", "credit_lines.amount", "credit_lines.reference"], { id: o.id })
    lines = (found && found.credit_lines) || []
  } catch (err) {
    ctx.logger.warn(`[segment] cannot read the credit lines of cancelled order ${o.id} (${err && err.message}); total is Medusa's`)
    return o
  }
  const refunded = lines.filter((l) => l && l.reference === "payment_collection").reduce((a, l) => a + (order.num(l.amount) || 0), 0)
  return refunded ? { ...o, total: (order.num(o.total) || 0) + refunded } : o
}

/** Builder context for an order's currency. */
async function builderCtx(ctx, currency) {
  return { reportingCurrency: ctx.segment.reportingCurrency_ || "EUR", rate: await ctx.segment.reportingRate(currency) }
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

const EVENTS = {
  // With option order_completed_on: "captured", Order Completed waits for payment.captured (lib/v2/lifecycle.js).
  "order.placed": {
    async calls({ id }, ctx) {
      const o = await loadOrder(ctx, id)
      if (ctx.options.order_completed_on === "captured") return o.customer_id ? [withOrder(identifyCall(o), o)] : []
      return orderCompleted(ctx, o, o.created_at)
    },
  },

  // data.id is the fulfillment's id; an exchange's outbound items are shipped as order fulfillments.
  "shipment.created": {
    async calls({ id }, ctx) {
      const f = await graphOne(ctx, "fulfillment", FULFILLMENT_FIELDS, { id })
      if (!f) throw new Error(`fulfillment ${id} not found`)
      if (!f.order || !f.order.id) throw new Error(`fulfillment ${id} belongs to no order`)
      const o = await loadOrder(ctx, f.order.id)
      const bctx = await builderCtx(ctx, o.currency_code)
      const shipped = new Set((f.items || []).map((fi) => fi.line_item_id))
      const exchanges = await graphAll(ctx, "order_exchange", EXCHANGE_FIELDS, { order_id: o.id })
      const ex = exchanges.find((e) => (e.additional_items || []).some((a) => shipped.has(a.item_id)))
      const mid = messageId("shipment.created", f.id)
      if (ex) {
        const props = order.buildSwapTotalProperties(o, await loadExchange(ctx, ex), bctx)
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
      const o = await loadOrder(ctx, id)
      const bctx = await builderCtx(ctx, o.currency_code)
      const props = order.buildOrderProperties(await asPlaced(ctx, o), bctx, o)
      return [track(o, "Order Cancelled", props, o.canceled_at, messageId("order.canceled", o.id))]
    },
  },

  "order.return_received": {
    async calls({ order_id, return_id }, ctx) {
      const ret = await graphOne(ctx, "return", RETURN_FIELDS, { id: return_id })
      if (!ret) throw new Error(`return ${return_id} not found`)
      const o = await loadOrder(ctx, order_id || ret.order_id)
      const bctx = await builderCtx(ctx, o.currency_code)
      const props = order.buildRefundProperties(o, ret, bctx, o, await loadShipping(ctx, "return", ret.id))
      return [track(o, "Order Refunded", props, ret.received_at, messageId("order.return_received", ret.id))]
    },
  },

  // One "Item Claimed" per claimed line: the claim's write-off items and its inbound (returned) items.
  "order.claim_created": {
    async calls({ order_id, claim_id }, ctx) {
      const claim = await graphOne(ctx, "order_claim", CLAIM_FIELDS, { id: claim_id })
      if (!claim) throw new Error(`claim ${claim_id} not found`)
      const o = await loadOrder(ctx, order_id || claim.order_id)
      const bctx = await builderCtx(ctx, o.currency_code)
      const claimed = [
        ...(claim.claim_items || []).filter((ci) => !ci.is_additional_item),
        ...(await loadReturnItems(ctx, claim.return_id)),
      ]
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
      const found = await graphOne(ctx, "order_exchange", EXCHANGE_FIELDS, { id: exchange_id })
      if (!found) throw new Error(`exchange ${exchange_id} not found`)
      const ex = await loadExchange(ctx, found)
      const o = await loadOrder(ctx, order_id || ex.order_id)
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
Object.assign(EVENTS, lifecycle.entries({ loadOrder, loadShipping, graphOne, graphAll, builderCtx, track, orderCompleted }))
// identify on customer changes, Customer Created (lib/v2/customers.js)
Object.assign(EVENTS, require("./customers").entries({ graphOne, graphAll }))

/** Context of one event: the query graph, the shared client, the options, a logger. */
function eventContext(container, pluginOptions) {
  const { segment, logger } = subscriberClient(pluginOptions, container)
  const query = lookup(container, "query")
  if (!query || typeof query.graph !== "function") throw new Error("the container has no `query` (Medusa 2.x)")
  return { query, segment, logger, container, options: segment.options_ || {} }
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

module.exports = { EVENTS, ORDER_FIELDS, ORDER_LINK_FIELDS, messageId, eventContext, liveCalls, buildCalls, runEvent, subscriberFor, graphOne, graphAll }
