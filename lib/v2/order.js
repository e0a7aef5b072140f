"use strict"

// Segment `properties` from Medusa 2.x query-graph results, with the property
// names and meanings of v1 (the shapes are in lib/order-mapping.js, shared
// with lib/v1/order.js), so a store that moves from v1 to v2 keeps its
// dashboards. 2.x amounts are major units (no division by 100); every amount
// is rounded to the currency's minor unit.
//
// `ctx`: { reportingCurrency, rate } as in lib/order-mapping.js (rate = units
// of the order currency per reporting unit, or null).

const { roundAmount } = require("../currency")
const mapping = require("../order-mapping")

/**
 * A 2.x amount as a number, or null: a number, a numeric string, a BigNumber
 * (its toJSON() is the number), a copy of one ({ numeric_, raw_ }), or a raw
 * value ({ value, precision }).
 */
function num(v) {
  if (v === undefined || v === null || v === "") return null
  let n = v
  if (typeof v === "object") {
    if (typeof v.toJSON === "function") n = v.toJSON()
    else if (v.numeric_ !== undefined) n = v.numeric_
    else if (v.raw_ && v.raw_.value !== undefined) n = v.raw_.value
    else n = v.value
  }
  n = Number(n)
  return Number.isFinite(n) ? n : null
}

function money(v, curr) {
  return roundAmount(num(v), curr)
}

function sub(a, b) {
  const x = num(a)
  const y = num(b)
  if (x === null) return null
  return x - (y === null ? 0 : y)
}

/**
 * Per-unit amounts of a line: { subtotal, discount, tax, net, total }
 * (unrounded). 2.x computes a line's `total`, `subtotal`, ... for the
 * quantity not yet returned, so after a return they no longer describe the
 * units bought; these are computed the way Medusa does (unit price, tax
 * lines, adjustments) for one unit of the full quantity.
 */
function unitAmounts(item) {
  const qty = num(item.quantity) || 0
  const price = num(item.unit_price)
  if (price === null) {
    // no unit price loaded: the line totals are all there is
    const net = qty ? (sub(item.total, item.tax_total) || 0) / qty : 0
    const tax = qty ? (num(item.tax_total) || 0) / qty : 0
    return { subtotal: qty ? (num(item.subtotal) || 0) / qty : 0, discount: 0, tax, net, total: net + tax }
  }
  const rate = (item.tax_lines || []).reduce((a, t) => a + (num(t && t.rate) || 0), 0) / 100
  const subtotal = item.is_tax_inclusive ? price / (1 + rate) : price
  let discount = 0
  for (const adj of item.adjustments || []) {
    const a = num(adj && adj.amount)
    if (a !== null) discount += adj.is_tax_inclusive ? a / (1 + rate) : a
  }
  const unitDiscount = qty ? discount / qty : 0
  const net = subtotal - unitDiscount
  const tax = net * rate
  return { subtotal, discount: unitDiscount, tax, net, total: net + tax }
}

/**
 * What a shipping method of a return or exchange costs, with tax: Medusa's
 * own total of the same method on the order when there is one, else
 * computed from its amount, tax lines and adjustments.
 */
function shippingTotal(method, order) {
  const own = (order.shipping_methods || []).find((m) => m.id === method.id)
  const total = num(own && own.total)
  if (total !== null) return total
  const m = { ...method, ...(own || {}) }
  return unitAmounts({
    quantity: 1,
    unit_price: m.amount,
    is_tax_inclusive: m.is_tax_inclusive,
    tax_lines: m.tax_lines || method.tax_lines,
    adjustments: m.adjustments || method.adjustments,
  }).total
}

/**
 * One entry of `products`. `quantity` (optional) overrides the line's
 * quantity (shipped or returned quantity); revenue is for that quantity.
 */
function productEntry(item, curr, ctx, quantity) {
  const q = quantity === undefined ? num(item.quantity) || 0 : quantity
  const unit = unitAmounts(item)
  return mapping.productEntry(
    {
      name: item.title,
      variantSku: item.variant_sku,
      productId: item.product_id,
      category: item.product_collection || undefined,
      subtitle: item.product_subtitle || undefined,
      type: item.product_type || undefined,
      price: roundAmount(unit.net, curr),
      revenue: roundAmount(unit.net * q, curr),
      quantity: q,
    },
    ctx
  )
}

/** The order's shipping methods as v1 named them: { id, name, shipping_option_id, price }. */
function shippingMethods(order, curr) {
  return (order.shipping_methods || []).map((m) => ({
    id: m.id,
    name: m.name,
    shipping_option_id: m.shipping_option_id,
    price: money(m.amount, curr),
  }))
}

/** The first promotion code applied to the order (v1: the first discount's code). */
function couponOf(order) {
  for (const line of [...(order.items || []), ...(order.shipping_methods || [])]) {
    for (const a of line.adjustments || []) if (a && a.code) return a.code
  }
  return undefined
}

function paymentProviders(extras) {
  const ids = []
  for (const pc of (extras && extras.payment_collections) || []) {
    for (const p of (pc && pc.payments) || []) if (p && p.provider_id) ids.push(p.provider_id)
  }
  return ids.join(",")
}

/**
 * `properties` of Order Completed/Shipped/Cancelled/Refunded.
 * `extras`: link data { cart, payment_collections } when loaded.
 * `lines` (optional): [{ item, quantity }] instead of all of the order's items.
 */
function buildOrderProperties(order, ctx, extras, lines) {
  const curr = order.currency_code
  const amounts = {
    total: money(order.total, curr),
    // v1's subtotal is the items' (2.x `subtotal` includes shipping)
    subtotal: money(order.item_subtotal !== undefined ? order.item_subtotal : order.subtotal, curr),
    revenue: money(sub(order.total, order.tax_total), curr),
    // v1's shipping and discount are without tax
    shipping: money(sub(order.shipping_total, order.shipping_tax_total), curr),
    tax: money(order.tax_total, curr),
    discount: money(sub(order.discount_total, order.discount_tax_total), curr),
  }
  const chosen = lines || (order.items || []).map((item) => ({ item, quantity: undefined }))
  return mapping.orderProperties(
    order,
    {
      checkoutId: extras && extras.cart ? extras.cart.id : undefined,
      paymentProvider: paymentProviders(extras),
      shippingMethods: shippingMethods(order, curr),
      amounts,
      coupon: couponOf(order),
      products: chosen.map((l) => productEntry(l.item, curr, ctx, l.quantity)),
    },
    ctx
  )
}

/**
 * "Order Refunded" on a received return: the order's fields, `products` are
 * the returned lines with the received quantities (and reason_id,
 * reason_value, note), the amounts are those of the returned units;
 * shipping = minus the return shipping; `total` = the return's
 * refund_amount when Medusa set one, else the returned units with tax minus
 * the return shipping with tax.
 * `ret`: { id, refund_amount, items: [{ item_id, quantity, received_quantity, reason, note }] }
 * `returnShipping`: the return's shipping methods, when loaded.
 */
function buildRefundProperties(order, ret, ctx, extras, returnShipping) {
  const curr = order.currency_code
  const byId = new Map((order.items || []).map((i) => [i.id, i]))
  const lines = []
  for (const ri of ret.items || []) {
    const item = byId.get(ri.item_id) || ri.item
    if (!item) continue
    let quantity = num(ri.received_quantity)
    if (!quantity) quantity = num(ri.quantity)
    lines.push({ item, quantity, ri })
  }
  const props = buildOrderProperties(order, ctx, extras, lines)
  const sum = { subtotal: 0, discount: 0, tax: 0, net: 0, total: 0 }
  lines.forEach((l, i) => {
    const unit = unitAmounts(l.item)
    for (const k of Object.keys(sum)) sum[k] += unit[k] * l.quantity
    const p = props.products[i]
    if (l.ri.reason) {
      p.reason_id = l.ri.reason.id
      p.reason_value = l.ri.reason.value
    }
    if (l.ri.note) p.note = l.ri.note
  })
  const methods = (returnShipping || []).map((m) => ({
    id: m.id,
    name: m.name,
    shipping_option_id: m.shipping_option_id,
    price: -(money(m.amount, curr) || 0),
  }))
  const shipping = roundAmount(methods.reduce((a, m) => a + m.price, 0), curr)
  const shippingWithTax = (returnShipping || []).reduce((a, m) => a + shippingTotal(m, order), 0)
  const refund = num(ret.refund_amount)
  const amounts = {
    total: roundAmount(refund !== null ? refund : sum.total - shippingWithTax, curr),
    subtotal: roundAmount(sum.subtotal, curr),
    revenue: roundAmount(sum.net, curr),
    shipping,
    tax: roundAmount(sum.tax, curr),
    discount: roundAmount(sum.discount, curr),
  }
  return mapping.refundProperties(props, ret.id, methods, amounts, ctx)
}

/**
 * "Item Claimed" of one claimed line. `claimed`: { id, item_id, quantity,
 * reason, note } (a claim item, or an inbound return item of the claim).
 */
function buildClaimItemProperties(order, claim, claimed, ctx) {
  const curr = order.currency_code
  const item = (order.items || []).find((i) => i.id === claimed.item_id) || claimed.item || {}
  let reason = claimed.reason
  if (reason && typeof reason === "object") reason = reason.value
  return mapping.claimItemProperties(
    {
      price: money(item.unit_price, curr),
      currency: curr,
      orderId: order.id,
      claimId: claim.id,
      claimItemId: claimed.id,
      type: claim.type,
      quantity: num(claimed.quantity),
      variant: item.variant_sku || null,
      productId: item.product_id || null,
      reason: reason === undefined ? null : reason,
      note: claimed.note === undefined ? null : claimed.note,
      tags: [],
    },
    ctx
  )
}

function swapItem(item, quantity, curr, ctx) {
  return mapping.swapItem(
    {
      name: item.title,
      productId: item.product_id || null,
      variant: item.variant_sku || null,
      quantity,
      price: money(item.unit_price, curr),
    },
    ctx
  )
}

/**
 * v1's swap report for an exchange: swap_id, order_id, new_items (outbound),
 * return_items (inbound), currency.
 */
function buildSwapReport(order, exchange, ctx) {
  const curr = order.currency_code
  const byId = new Map((order.items || []).map((i) => [i.id, i]))
  const line = (x) => byId.get(x.item_id) || x.item || {}
  const returned = (exchange.return && exchange.return.items) || []
  return mapping.swapReport({
    swapId: exchange.id,
    orderId: order.id,
    newItems: (exchange.additional_items || []).map((x) => swapItem(line(x), num(x.quantity), curr, ctx)),
    returnItems: returned.map((x) => swapItem(line(x), num(x.quantity), curr, ctx)),
    currency: curr,
  })
}

/**
 * What the customer pays (negative: gets back) for an exchange: Medusa's
 * difference_due when set (2.x sets it only for exchanges created in one
 * step), else the outbound units minus the inbound units, with tax, plus the
 * exchange's shipping.
 */
function differenceDue(order, exchange) {
  const set = num(exchange.difference_due)
  if (set !== null) return set
  const byId = new Map((order.items || []).map((i) => [i.id, i]))
  const value = (x) => {
    const item = byId.get(x.item_id) || x.item
    return item ? unitAmounts(item).total * (num(x.quantity) || 0) : 0
  }
  let due = 0
  for (const x of exchange.additional_items || []) due += value(x)
  for (const x of (exchange.return && exchange.return.items) || []) due -= value(x)
  for (const m of exchange.shipping_methods || []) due += shippingTotal(m, order)
  return due
}

/** Swap Confirmed / Swap Shipped: the report plus the difference due. */
function buildSwapTotalProperties(order, exchange, ctx) {
  const total = roundAmount(differenceDue(order, exchange), order.currency_code)
  return mapping.swapTotalProperties(total, buildSwapReport(order, exchange, ctx), ctx)
}

module.exports = {
  num,
  unitAmounts,
  buildOrderProperties,
  buildRefundProperties,
  buildClaimItemProperties,
  buildSwapReport,
  buildSwapTotalProperties,
}
