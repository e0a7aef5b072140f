"use strict"

// The Medusa 1.x default subscribers, as one table: Medusa event -> what to load and
// which Segment calls to make. `subscribers/<event>.js` are one-line files
// built from this table by `subscriberFor(event)`.
//
// Each entry's `calls(data, ctx)` returns the Segment calls without making
// them: [{ method: "identify" | "track", message }]. `runEvent` makes them and
// logs (never throws) whatever goes wrong, so a failure here never reaches the
// store's request or the event bus.

const { lookup, loggerOf } = require("../container")
const order = require("./order")
// deterministic messageIds, the customer's identify and making the calls, as on 2.x
const { messageId, identifyCall, makeCalls } = require("../order-mapping")
const { switchboardFor } = require("../switchboard")
// browser identity, traits, the cart's ip/user agent and consent on every call (lib/attribution.js)
const attribution = require("../attribution")

// What 1.3.5 loads for the order events (totals need `select`).
const ORDER_QUERY = {
  select: [
    "shipping_total",
    "discount_total",
    "tax_total",
    "refunded_total",
    "gift_card_total",
    "subtotal",
    "total",
  ],
  relations: [
    "customer",
    "billing_address",
    "shipping_address",
    "discounts",
    "discounts.rule",
    "shipping_methods",
    "payments",
    "fulfillments",
    "items",
    "returns",
    "gift_cards",
    "gift_card_transactions",
    "swaps",
    "swaps.return_order",
    "swaps.payment",
    "swaps.shipping_methods",
    "swaps.shipping_address",
    "swaps.additional_items",
    "swaps.additional_items.variant",
    "swaps.fulfillments",
  ],
}

const SWAP_RELATIONS = [
  "order",
  "additional_items",
  "additional_items.variant",
  "return_order",
  "return_order.items",
  "return_order.shipping_method",
]

function need(ctx, name) {
  const s = ctx.resolve(name)
  if (!s) throw new Error(`${name} is not registered in the container`)
  return s
}

async function loadOrder(ctx, id) {
  const o = await need(ctx, "orderService").retrieve(id, {
    select: [...ORDER_QUERY.select],
    relations: [...ORDER_QUERY.relations],
  })
  ctx.order = o
  return o
}

async function loadSwap(ctx, id) {
  const swap = await need(ctx, "swapService").retrieve(id, { relations: [...SWAP_RELATIONS] })
  ctx.order = swap.order
  return swap
}

/** Builder context for one entity in `currency`. */
async function builderCtx(ctx, currency) {
  const segment = ctx.segment
  return {
    currency,
    reportingCurrency: segment.reportingCurrency_ || "EUR",
    rate: await segment.reportingRate(currency),
    totalsService: ctx.resolve("totalsService"),
    productService: ctx.resolve("productService"),
    lineItemService: ctx.resolve("lineItemService"),
    logger: ctx.logger,
  }
}

/** One track call; its messageId derives from the Medusa event and entity ids. */
function trackCall(medusaEvent, event, userId, timestamp, properties, ...idParts) {
  return {
    method: "track",
    message: { event, userId, properties, timestamp, messageId: messageId(medusaEvent, ...idParts) },
  }
}

async function orderEvent(ctx, eventName, name, o, timestamp) {
  // `order`: what the switchboard's exclude rules and enrich hook see (not sent)
  return { ...trackCall(eventName, name, o.customer_id, timestamp, await ctx.segment.buildOrder(o), o.id), order: o }
}

// The three swap events differ only in name, timestamp and properties.
function swapEntry(medusaEvent, event, build, timestampOf) {
  return {
    async calls({ id, fulfillment_id }, ctx) {
      const swap = await loadSwap(ctx, id)
      const f = fulfillment_id ? await need(ctx, "fulfillmentService").retrieve(fulfillment_id) : null
      const bctx = await builderCtx(ctx, swap.order.currency_code)
      const properties = await build(swap, bctx)
      const idPart = f ? f.id || fulfillment_id : swap.id
      return [{ ...trackCall(medusaEvent, event, swap.order.customer_id, timestampOf(swap, f), properties, idPart), order: swap.order }]
    },
  }
}

const EVENTS = {
  "order.placed": {
    async calls({ id }, ctx) {
      const o = await loadOrder(ctx, id)
      const context = {}
      const integrations = {}
      if (o.cart_id) {
        try {
          const cart = await need(ctx, "cartService").retrieve(o.cart_id, { select: ["context"] })
          const c = (cart && cart.context) || {}
          if (c.ip) context.ip = c.ip
          if (c.user_agent) {
            context.user_agent = c.user_agent
            context.userAgent = c.user_agent
          }
          if (ctx.segment.options_ && ctx.segment.options_.use_ga_id && c.ga_id) {
            integrations["Google Analytics"] = { clientId: c.ga_id }
          }
        } catch (err) {
          ctx.logger.warn(`[segment] cannot read the cart context of order ${o.id}: ${err && err.message}`)
        }
      }
      const track = await orderEvent(ctx, "order.placed", "Order Completed", o, o.created_at)
      track.message.context = context
      track.message.integrations = integrations
      return [{ ...identifyCall(o), order: o }, track]
    },
  },

  "order.shipment_created": {
    async calls({ id, fulfillment_id }, ctx) {
      const o = await loadOrder(ctx, id)
      const f = await need(ctx, "fulfillmentService").retrieve(fulfillment_id, { relations: ["items"] })
      const items = (f.items || []).map((fi) => (o.items || []).find((l) => l.id === fi.item_id)).filter(Boolean)
      const built = { ...o, provider_id: f.provider_id, items }
      const track = await orderEvent(ctx, "order.shipment_created", "Order Shipped", built, f.shipped_at)
      track.message.messageId = messageId("order.shipment_created", f.id || fulfillment_id)
      return [track]
    },
  },

  "order.canceled": {
    async calls({ id }, ctx) {
      const o = await loadOrder(ctx, id)
      return [await orderEvent(ctx, "order.canceled", "Order Cancelled", o, new Date())]
    },
  },

  "order.items_returned": {
    async calls({ id, return_id }, ctx) {
      const o = await loadOrder(ctx, id)
      const ret = await need(ctx, "returnService").retrieve(return_id, {
        relations: ["items", "items.reason", "shipping_method", "shipping_method.shipping_option"],
      })
      let merged = [...(o.items || [])]
      for (const s of o.swaps || []) merged = merged.concat(s.additional_items || [])
      const lines = []
      for (const ri of ret.items || []) {
        const li = merged.find((l) => l.id === ri.item_id)
        if (!li) continue
        const item = { ...li }
        if (ri.reason) item.reason = ri.reason
        if (ri.note) item.note = ri.note
        // what was received (the event fires on receipt), else what was requested
        let quantity = ri.received_quantity
        if (quantity === undefined || quantity === null) quantity = ri.quantity
        if (quantity === undefined || quantity === null) quantity = li.quantity
        lines.push({ item, quantity })
      }
      const bctx = await builderCtx(ctx, o.currency_code)
      const properties = await order.buildRefundProperties(o, ret, lines, bctx)
      return [
        { ...trackCall("order.items_returned", "Order Refunded", o.customer_id, new Date(), properties, ret.id || return_id), order: o },
      ]
    },
  },

  "claim.created": {
    async calls({ id }, ctx) {
      const claim = await need(ctx, "claimService").retrieve(id, {
        relations: ["order", "claim_items", "claim_items.item", "claim_items.tags", "claim_items.variant"],
      })
      ctx.order = claim.order
      const bctx = await builderCtx(ctx, claim.order.currency_code)
      return (claim.claim_items || []).map((ci) => ({
        ...trackCall(
          "claim.created",
          "Item Claimed",
          claim.order.customer_id,
          claim.created_at,
          order.buildClaimItemProperties(claim, ci, bctx),
          ci.id
        ),
        order: claim.order,
      }))
    },
  },

  "swap.created": swapEntry("swap.created", "Swap Created", (s, b) => order.buildSwapReport(s, b), (s) => s.created_at),
  "swap.payment_completed": swapEntry(
    "swap.payment_completed",
    "Swap Confirmed",
    (s, b) => order.buildSwapTotalProperties(s, b),
    (s) => s.confirmed_at
  ),
  "swap.shipment_created": swapEntry(
    "swap.shipment_created",
    "Swap Shipped",
    (s, b) => order.buildSwapTotalProperties(s, b),
    (s, f) => f.shipped_at
  ),
}

/** Context of one event: lookups in the container, the segment service, a logger. */
function eventContext(container) {
  const resolve = (name) => lookup(container, name)
  const logger = loggerOf(container)
  const segment = resolve("segmentService")
  return { resolve, logger, segment }
}

/** The Segment calls for `event` (throws on failure; used by tests). */
async function buildCalls(event, data, container) {
  const entry = EVENTS[event]
  if (!entry) throw new Error(`no Segment mapping for event ${event}`)
  const ctx = eventContext(container)
  if (!ctx.segment) throw new Error("segmentService is not registered in the container")
  const calls = await entry.calls(data || {}, ctx)
  if (!ctx.order || !calls.length) return calls
  const source = await attribution.v1Source(ctx.order, ctx)
  return attribution.applyAttribution(calls, attribution.attributionOf(source, ctx.logger), ctx.segment.options_, {
    countDropped: (reason, n) => ctx.segment.countDropped(reason, n),
    logger: ctx.logger,
    what: `${event} ${(data && data.id) || ""}`,
  })
}

/**
 * Handles one event: builds and makes its Segment calls. Never throws;
 * returns the number of calls made.
 */
async function runEvent(event, data, container) {
  const logger = loggerOf(container)
  try {
    const ctx = eventContext(container)
    if (!ctx.segment) throw new Error("segmentService is not registered in the container")
    const built = await buildCalls(event, data, container)
    // events / exclude / enrich / rename (lib/switchboard.js)
    const calls = await switchboardFor(ctx.segment.options_).apply(built, { event, container }, logger)
    return makeCalls(ctx.segment, calls, logger, `${event} ${data && data.id}`)
  } catch (err) {
    logger.error(`[segment] cannot track ${event} ${(data && data.id) || ""}: ${(err && err.stack) || err}`)
    return 0
  }
}

function kebab(event) {
  return event.replace(/[._]/g, "-")
}

/**
 * The new-style Medusa subscriber of one event. The event name is bound here:
 * event-bus-local calls handlers without `eventName`.
 */
function subscriberFor(event) {
  if (!EVENTS[event]) throw new Error(`no Segment mapping for event ${event}`)
  const handler = async function segmentSubscriber({ data, container }) {
    await runEvent(event, data, container)
  }
  return {
    handler,
    config: { event, context: { subscriberId: `segment-${kebab(event)}` } },
  }
}

module.exports = {
  EVENTS,
  ORDER_QUERY,
  SWAP_RELATIONS,
  buildCalls,
  runEvent,
  subscriberFor,
  builderCtx,
}
