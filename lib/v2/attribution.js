"use strict"

// Medusa 2.x glue of lib/attribution.js: where the browser's identifiers,
// consent, traits and the shopper's ip/user agent are read for an order or a
// cart, the identify on cart.customer_transferred, and the last step of every
// event's calls (finishCalls).

const { attributionOf, applyAttribution, parseMetadata, serverContext, traitsOf } = require("../attribution")
const { messageId } = require("../order-mapping")
const sqlLoader = require("./sql-loader")

// Read with the order (lib/v2/events.js ORDER / ORDER_LINKS, the customer from the customer module).
// order.metadata is cart.metadata as completeCartWorkflow copied it.
const ORDER_FIELDS = ["metadata", "billing_address.*"]
const ORDER_LINK_FIELDS = ["customer.email", "customer.phone", "customer.first_name", "customer.last_name", "customer.metadata"]

const CART_FIELDS = ["id", "email", "customer_id", "metadata", "shipping_address.*", "billing_address.*"]
const CART_LINK_FIELDS = ["customer.email", "customer.phone", "customer.first_name", "customer.last_name", "customer.metadata"]

/** The attribution source of an order: its metadata (then its cart's), its customer, its addresses. */
function orderSource(o) {
  const cartMeta = (o.cart && o.cart.metadata) || undefined
  return {
    metadata: [o.metadata, cartMeta],
    customerMetadata: o.customer && o.customer.metadata,
    traits: traitsOf({ email: o.email, address: o.shipping_address || o.billing_address, customer: o.customer }),
    server: { ...serverContext(cartMeta), ...serverContext(o.metadata) },
  }
}

function cartSource(c) {
  return {
    metadata: [c.metadata],
    customerMetadata: c.customer && c.customer.metadata,
    traits: traitsOf({ email: c.email, address: c.shipping_address || c.billing_address, customer: c.customer }),
    server: serverContext(c.metadata),
  }
}

/**
 * The last step of an event: its calls with the attribution of the order or
 * cart it is about (ctx.source, set when that was loaded) and consent applied.
 */
function finishCalls(calls, ctx, what) {
  if (!ctx.source || !calls.length) return calls
  const a = attributionOf(ctx.source, ctx.logger)
  return applyAttribution(calls, a, ctx.options, {
    countDropped: (reason, n) => ctx.segment.countDropped(reason, n),
    logger: ctx.logger,
    what,
  })
}

async function loadCart(ctx, id) {
  // one SQL statement (lib/v2/sql-loader.js); undefined: that loader is off here, so the query graph
  const bySql = await sqlLoader.loadCart(ctx, id)
  if (bySql !== undefined) return bySql
  const one = async (fields) => {
    const { data } = await ctx.query.graph({ entity: "cart", fields, filters: { id } })
    return Array.isArray(data) ? data[0] : data
  }
  try {
    return await one([...CART_FIELDS, ...CART_LINK_FIELDS])
  } catch (err) {
    ctx.logger.warn(`[segment] cannot load the customer of cart ${id} (${err && err.message}); consent falls back to the cart's only`)
    return one(CART_FIELDS)
  }
}

const EVENTS = {
  // A guest cart handed to a signed-in customer: tie the browser's anonymousId to the customer.
  "cart.customer_transferred": {
    async calls({ id, customer_id }, ctx) {
      if (!id) throw new Error("the event carries no cart id")
      const cart = await loadCart(ctx, id)
      if (!cart) throw new Error(`cart ${id} not found`)
      const userId = customer_id || cart.customer_id
      ctx.source = cartSource(cart)
      // parsed again in finishCalls; warnings are once per key anyway
      const ids = parseMetadata([cart.metadata], ctx.logger)
      if (!userId || !ids.segment_anonymous_id) return []
      const traits = { ...ctx.source.traits }
      delete traits.address
      return [
        {
          method: "identify",
          message: { userId, traits, messageId: messageId("cart.customer_transferred", cart.id, userId) },
        },
      ]
    },
  },
}

module.exports = { ORDER_FIELDS, ORDER_LINK_FIELDS, CART_FIELDS, CART_LINK_FIELDS, orderSource, cartSource, finishCalls, EVENTS }
