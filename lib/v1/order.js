"use strict"

// Builders of the Segment `properties` for Medusa 1.x orders, returns, claims
// and swaps. Same property names and values as medusa-plugin-segment 1.3.5
// for the same data (the shapes are in lib/order-mapping.js, shared with
// 2.x), except for the fixes listed in the README (amounts rounded to the
// currency's minor unit, upper-case currencies, null instead of a crash for
// missing addresses/variants, returned quantities and amounts in refunds).
//
// `ctx` carries what the builders need:
//   currency            order currency (any case)
//   reportingCurrency   upper-case reporting currency
//   rate                units of `currency` per one reporting unit, or null
//   totalsService, productService, lineItemService   Medusa services (optional)
//   logger

const { humanize, roundAmount } = require("../currency")
const mapping = require("../order-mapping")

function sub(a, b) {
  if (a === null || a === undefined || b === null || b === undefined) return null
  return a - b
}

/** Totals of one line item: {total, tax_total, subtotal, discount_total}. */
async function lineTotals(item, order, ctx) {
  if (ctx.totalsService && typeof ctx.totalsService.getLineItemTotals === "function") {
    return ctx.totalsService.getLineItemTotals(item, order, { include_tax: true })
  }
  // standalone use (no Medusa container): Medusa's decorated line items
  if (item.total !== undefined && item.total !== null) return item
  const subtotal = (Number(item.unit_price) || 0) * (Number(item.quantity) || 0)
  return { subtotal, total: subtotal, tax_total: 0, discount_total: 0 }
}

async function productOf(productId, ctx) {
  if (!productId || !ctx.productService || typeof ctx.productService.retrieve !== "function") return {}
  try {
    return (await ctx.productService.retrieve(productId, { relations: ["collection", "type"] })) || {}
  } catch (err) {
    ctx.logger && ctx.logger.warn(`[segment] cannot load product ${productId}: ${err && err.message}`)
    return {}
  }
}

/**
 * One entry of `products`. `returned` (optional): the quantity returned of
 * this line, for "Order Refunded".
 */
async function productEntry(item, order, ctx, returned) {
  const curr = order.currency_code
  const totals = (await lineTotals(item, order, ctx)) || {}
  const lineTotal = (Number(totals.total) || 0) - (Number(totals.tax_total) || 0)
  const lineQuantity = Number(item.quantity) || 0
  const quantity = returned === undefined ? item.quantity : returned
  const share = returned === undefined || !lineQuantity ? 1 : returned / lineQuantity

  const v = item.variant || null
  const productId = v ? v.product_id : undefined
  const product = await productOf(productId, ctx)

  const entry = mapping.productEntry(
    {
      name: item.title,
      variantSku: v ? v.sku : undefined,
      productId,
      category: product.collection ? product.collection.title : undefined,
      subtitle: product.subtitle,
      type: product.type ? product.type.value : undefined,
      price: lineQuantity ? roundAmount(humanize(lineTotal, curr) / lineQuantity, curr) : null,
      revenue: humanize(lineTotal * share, curr),
      quantity,
    },
    ctx
  )
  if (item.reason) {
    entry.reason_id = item.reason.id
    entry.reason_value = item.reason.value
  }
  if (item.note) entry.note = item.note
  // not part of the payload: used by the refund builder
  Object.defineProperty(entry, "_totals", { value: { totals, share }, enumerable: false })
  return entry
}

/** `properties` of the order events (Order Completed/Shipped/Cancelled/Refunded). */
async function buildOrderProperties(order, ctx, returnedQuantities) {
  const curr = order.currency_code
  const subtotal = humanize(order.subtotal, curr)
  const total = humanize(order.total, curr)
  const tax = humanize(order.tax_total, curr)
  const discount = humanize(order.discount_total, curr)
  const shipping = humanize(order.shipping_total, curr)
  const revenue = roundAmount(sub(total, tax), curr)

  let coupon
  if (order.discounts && order.discounts.length) {
    coupon = order.discounts[0] && order.discounts[0].code
  }
  const items = order.items || []
  const products = await Promise.all(
    items.map((item) =>
      productEntry(item, order, ctx, returnedQuantities ? returnedQuantities.get(item.id) : undefined)
    )
  )

  return mapping.orderProperties(
    order,
    {
      checkoutId: order.cart_id,
      paymentProvider: (order.payments || []).map((p) => p.provider_id).join(","),
      shippingMethods: order.shipping_methods,
      amounts: { total, subtotal, revenue, shipping, tax, discount },
      coupon,
      products,
    },
    ctx
  )
}

/**
 * "Order Refunded": the order's fields, but `products` are the returned lines
 * with the returned quantities, the amounts are those of the return (`total`
 * = the refunded amount) and `shipping_methods` is the return's method.
 *
 * `lines`: [{ item (order/swap line item, with reason/note), quantity }]
 */
async function buildRefundProperties(order, ret, lines, ctx) {
  const curr = order.currency_code
  const returned = new Map(lines.map((l) => [l.item.id, l.quantity]))
  const props = await buildOrderProperties(
    { ...order, items: lines.map((l) => l.item), shipping_methods: [] },
    ctx,
    returned
  )

  let subtotal = 0
  let tax = 0
  let discount = 0
  let revenue = 0
  for (const p of props.products) {
    const { totals, share } = p._totals
    subtotal += (Number(totals.subtotal) || 0) * share
    tax += (Number(totals.tax_total) || 0) * share
    discount += (Number(totals.discount_total) || 0) * share
    revenue += ((Number(totals.total) || 0) - (Number(totals.tax_total) || 0)) * share
  }

  const method = ret.shipping_method || null
  const shippingMethods = []
  let shipping = 0
  if (method) {
    shipping = method.price ? -humanize(method.price, curr) : 0
    shippingMethods.push({ ...method, price: shipping })
  }
  const total = humanize(ret.refund_amount, curr)
  const amounts = {
    total,
    subtotal: humanize(subtotal, curr),
    revenue: humanize(revenue, curr),
    shipping,
    tax: humanize(tax, curr),
    discount: humanize(discount, curr),
  }
  return mapping.refundProperties(props, ret.id, shippingMethods, amounts, ctx)
}

/** "Item Claimed" properties of one claim item. */
function buildClaimItemProperties(claim, ci, ctx) {
  const order = claim.order || {}
  const curr = order.currency_code
  const price = humanize(ci.item ? ci.item.unit_price : undefined, curr)
  const v = ci.variant || null
  return mapping.claimItemProperties(
    {
      price,
      currency: curr,
      orderId: claim.order_id,
      claimId: claim.id,
      claimItemId: ci.id,
      type: claim.type,
      quantity: ci.quantity,
      variant: v ? v.sku : null,
      productId: v ? v.product_id : null,
      reason: ci.reason,
      note: ci.note,
      tags: (ci.tags || []).map((t) => ({ id: t.id, value: t.value })),
    },
    ctx
  )
}

function swapItem(item, quantity, curr, ctx) {
  const v = item.variant || null
  return mapping.swapItem(
    {
      name: item.title,
      productId: v ? v.product_id : null,
      variant: v ? v.sku : null,
      quantity,
      price: humanize(item.unit_price, curr),
    },
    ctx
  )
}

/** The swap report of 1.3.5 (swap_id, order_id, new_items, return_items, currency). */
async function buildSwapReport(swap, ctx) {
  const curr = swap.order.currency_code
  const newItems = (swap.additional_items || []).map((i) => swapItem(i, i.quantity, curr, ctx))
  const returnLines = (swap.return_order && swap.return_order.items) || []
  const returnItems = await Promise.all(
    returnLines.map(async (ri) => {
      let item = ri.item
      if (!item || !item.variant) {
        if (ctx.lineItemService && typeof ctx.lineItemService.retrieve === "function") {
          item = await ctx.lineItemService.retrieve(ri.item_id, { relations: ["variant"] })
        }
      }
      return swapItem(item || {}, ri.quantity, curr, ctx)
    })
  )
  return mapping.swapReport({ swapId: swap.id, orderId: swap.order_id, newItems, returnItems, currency: curr })
}

/** Swap Confirmed / Swap Shipped: the report plus the difference due. */
async function buildSwapTotalProperties(swap, ctx) {
  const report = await buildSwapReport(swap, ctx)
  const total = humanize(swap.difference_due, swap.order.currency_code)
  return mapping.swapTotalProperties(total, report, ctx)
}

module.exports = {
  buildOrderProperties,
  buildRefundProperties,
  buildClaimItemProperties,
  buildSwapReport,
  buildSwapTotalProperties,
}
