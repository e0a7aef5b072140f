"use strict"

// What Medusa 1.x (lib/v1/) and 2.x (lib/v2/) map the same way: the
// `properties` of the order, refund, claim and swap events with the names
// and key order of medusa-plugin-segment 1.3.5 (so a store that moves from
// v1 to v2 keeps its dashboards), amounts in the reporting currency,
// deterministic messageIds, the identify of an order's customer, and making
// the calls. Each version's order.js reads its own data (v1: stored minor
// units and Medusa services; v2: query-graph results in major units) and
// hands the values, rounded to the currency's minor unit, to these builders.
//
// `ctx`: { reportingCurrency (upper case), rate (units of the order currency
// per reporting unit, or null) }.

const { currencyCode, roundAmount } = require("./currency")

/** `value` (major units of the order currency) in the reporting currency, or null. */
function reporting(value, ctx) {
  if (ctx.rate === null || ctx.rate === undefined || value === null || value === undefined) return null
  const n = Number(value)
  if (!Number.isFinite(n) || !(ctx.rate > 0)) return null
  return roundAmount(n / ctx.rate, ctx.reportingCurrency)
}

/** reporting_total, reporting_subtotal, ... of an order event's amounts. */
function reportingAmounts(amounts, ctx) {
  const out = {}
  for (const k of ["total", "subtotal", "revenue", "shipping", "tax", "discount"]) {
    out[`reporting_${k}`] = reporting(amounts[k], ctx)
  }
  return out
}

/** v1's `sku`: the variant SKU without its last "-" part ("TSHIRT-S" -> "TSHIRT"). */
function productSku(variantSku) {
  if (!variantSku) return ""
  const parts = String(variantSku).split("-")
  parts.pop()
  return parts.join("-")
}

/**
 * One entry of `products`. `line`: { name, variantSku, productId, category,
 * subtitle, type, price (net, per unit), revenue (net, for `quantity`),
 * quantity }.
 */
function productEntry(line, ctx) {
  return {
    name: line.name,
    variant: line.variantSku || "",
    price: line.price,
    reporting_revenue: reporting(line.revenue, ctx),
    product_id: line.productId === undefined ? null : line.productId,
    category: line.category,
    subtitle: line.subtitle,
    type: line.type,
    sku: productSku(line.variantSku),
    quantity: line.quantity,
  }
}

/**
 * `properties` of Order Completed/Shipped/Cancelled/Refunded. `order`: its
 * id, email, region_id, currency_code and shipping_address; `fields`: {
 * checkoutId, paymentProvider, shippingMethods, amounts: { total, subtotal,
 * revenue, shipping, tax, discount }, coupon, products }.
 */
function orderProperties(order, fields, ctx) {
  const address = order.shipping_address || null
  return {
    checkout_id: fields.checkoutId,
    order_id: order.id,
    email: order.email,
    region_id: order.region_id,
    payment_provider: fields.paymentProvider,
    shipping_methods: fields.shippingMethods,
    shipping_country: address ? address.country_code : null,
    shipping_city: address ? address.city : null,
    ...reportingAmounts(fields.amounts, ctx),
    ...fields.amounts,
    coupon: fields.coupon,
    currency: currencyCode(order.currency_code),
    products: fields.products,
  }
}

/** "Order Refunded": an order's properties with the return's id, shipping methods and amounts. */
function refundProperties(orderProps, returnId, shippingMethods, amounts, ctx) {
  return {
    ...orderProps,
    return_id: returnId,
    shipping_methods: shippingMethods,
    ...amounts,
    ...reportingAmounts(amounts, ctx),
  }
}

/**
 * "Item Claimed" of one claimed line. `c`: { price, currency, orderId,
 * claimId, claimItemId, type, quantity, variant, productId, reason, note, tags }.
 */
function claimItemProperties(c, ctx) {
  return {
    price: c.price,
    reporting_price: reporting(c.price, ctx),
    currency: currencyCode(c.currency),
    order_id: c.orderId,
    claim_id: c.claimId,
    claim_item_id: c.claimItemId,
    type: c.type,
    quantity: c.quantity,
    variant: c.variant,
    product_id: c.productId,
    reason: c.reason,
    note: c.note,
    tags: c.tags,
  }
}

/** One of a swap report's new_items / return_items. */
function swapItem({ name, productId, variant, quantity, price }, ctx) {
  return { name, product_id: productId, variant, quantity, price, reporting_price: reporting(price, ctx) }
}

/** The swap report of 1.3.5 (Swap Created). */
function swapReport({ swapId, orderId, newItems, returnItems, currency }) {
  return { swap_id: swapId, order_id: orderId, new_items: newItems, return_items: returnItems, currency: currencyCode(currency) }
}

/** Swap Confirmed / Swap Shipped: the report plus the difference due (`total`). */
function swapTotalProperties(total, report, ctx) {
  return { reporting_total: reporting(total, ctx), total, ...report }
}

// Deterministic ids: a redelivered event produces the same messageId, which
// Segment de-duplicates.
function messageId(event, ...parts) {
  return ["medusa", event, ...parts.map((p) => String(p))].join("-")
}

/** The identify of an order's customer: email and the shipping address's names. */
function identifyCall(o) {
  const address = o.shipping_address || {}
  return {
    method: "identify",
    message: {
      userId: o.customer_id,
      traits: {
        email: o.email,
        firstName: address.first_name === undefined ? null : address.first_name,
        lastName: address.last_name === undefined ? null : address.last_name,
      },
      messageId: messageId("identify", o.id),
    },
  }
}

/**
 * Makes an event's Segment calls ([{ method, message }]); a call the client
 * refuses is logged and the others still go. Returns the number made.
 */
function makeCalls(segment, calls, logger, what) {
  let made = 0
  for (const { method, message } of calls) {
    try {
      segment[method](message)
      made++
    } catch (err) {
      logger.error(`[segment] ${method} for ${what} rejected: ${err && err.message}`)
    }
  }
  return made
}

module.exports = {
  reporting,
  reportingAmounts,
  productSku,
  productEntry,
  orderProperties,
  refundProperties,
  claimItemProperties,
  swapItem,
  swapReport,
  swapTotalProperties,
  messageId,
  identifyCall,
  makeCalls,
}
