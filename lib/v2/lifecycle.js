"use strict"

// The order lifecycle beyond v1's events (Medusa 2.x): Order Updated, Order
// Refunded from payment.refunded, Order Delivered, Return Requested,
// Fulfillment Created, and Order Completed on payment capture. Entries of the
// same shape as lib/v2/events.js's table (which merges them in); names and
// properties are declared in lib/catalog.js (and so in tracking-plan.json).
//
// Refunds and returns: a received return is reported as Order Refunded
// (v1's meaning, messageId medusa-order.return_received-<return id>). A
// payment.refunded that pays out a received return must not be a second
// Order Refunded, and a refund without a return must be one. Medusa 2.x does
// not link a refund to a return, so the plugin compares amounts, from the
// database only (so a redelivered event decides the same way): the credit of
// the order's received returns (the totals their Order Refunded carried)
// minus what earlier refunds of the order already paid out is what this
// refund can be paying for a return; only the rest of the refund is reported
// (Order Refunded, total = that rest, messageId
// medusa-payment.refunded-<refund id>). A refund issued before its return
// is received counts as a refund without a return.

const order = require("./order")
const { messageId, reporting } = require("../order-mapping")
const { roundAmount } = require("../currency")
const sqlLoader = require("./sql-loader")

const FULFILLMENT_FIELDS = ["id", "created_at", "shipped_at", "delivered_at", "items.*", "labels.*", "order.id"]
const RETURN_FIELDS = ["id", "order_id", "status", "refund_amount", "created_at", "requested_at", "received_at", "items.*", "items.reason.*"]
const PAYMENT_FIELDS = ["id", "amount", "currency_code", "captured_at", "payment_collection_id", "refunds.*", "refunds.refund_reason.*"]

const time = (t) => (t ? new Date(t).getTime() : 0)

/**
 * tracking_numbers / tracking_urls of a fulfillment's labels, sorted by
 * tracking number: labels created together share created_at and have random
 * ids, so no stored order says which came first, and a message must not
 * differ between two reads of the same fulfillment.
 */
function tracking(f) {
  const number = (l) => String((l && l.tracking_number) || "")
  const labels = ((f && f.labels) || []).slice().sort((a, b) => number(a).localeCompare(number(b)))
  const list = (k) => labels.map((l) => l && l[k]).filter((v) => typeof v === "string" && v)
  return { tracking_numbers: list("tracking_number"), tracking_urls: list("tracking_url") }
}

/** The fulfillment's lines as builder lines: [{ item, quantity }]. */
function fulfilledLines(o, f) {
  const byId = new Map((o.items || []).map((i) => [i.id, i]))
  return (f.items || []).filter((fi) => byId.has(fi.line_item_id)).map((fi) => ({ item: byId.get(fi.line_item_id), quantity: order.num(fi.quantity) }))
}

/**
 * The payment, the order it belongs to (payment -> payment collection ->
 * order link) and, when read by SQL, every payment of that order with its
 * refunds (`orderPayments`; else undefined: read when needed).
 */
async function orderOfPayment(h, ctx, event, paymentId) {
  const bySql = await sqlLoader.loadPayment(ctx, paymentId)
  let p = bySql && bySql.payment
  let orderId = bySql && bySql.order_id
  if (bySql === undefined) {
    p = await h.graphOne(ctx, "payment", h.FIELDS[event].payment, { id: paymentId })
    const pc = p && (await h.graphOne(ctx, "payment_collection", ["id", "order.id"], { id: p.payment_collection_id }))
    orderId = pc && pc.order && pc.order.id
  }
  if (!p) throw new Error(`payment ${paymentId} not found`)
  if (!orderId) throw new Error(`payment ${paymentId} belongs to no order`)
  return { payment: p, order: await h.loadOrder(ctx, h.orderFields(ctx, event), orderId), orderPayments: bySql ? bySql.order_payments : undefined }
}

/** Every payment of the order (captured_at, canceled_at, refunds): as read with the payment, else through the query graph. */
async function paymentsOf(h, ctx, orderId, known) {
  if (known) return known
  const o = await h.graphOne(ctx, "order", ["id", "payment_collections.payments.captured_at", "payment_collections.payments.canceled_at", "payment_collections.payments.refunds.*"], { id: orderId })
  return ((o && o.payment_collections) || []).flatMap((pc) => (pc && pc.payments) || []).filter(Boolean)
}

/** What each received return of the order was reported as refunding (the totals of their Order Refunded). */
async function returnCredit(h, ctx, o, bctx) {
  // with their shipping in the same query (FIELDS["payment.refunded"].return)
  const returns = await h.loadReturns(ctx, h.FIELDS["payment.refunded"].return, { order_id: o.id })
  let credit = 0
  for (const r of returns.filter((x) => x.received_at)) {
    const props = order.buildRefundProperties(o, r, bctx, o, await h.shippingOf(ctx, "return", r))
    credit += props.total || 0
  }
  return credit
}

function entries(h) {
  const { loadOrder, track } = h

  /** A fulfillment event: the fulfillment's lines, its id and tracking. */
  function fulfillmentEntry(medusaEvent, name, idOf, timeOf) {
    return {
      async calls(data, ctx) {
        const id = idOf(data)
        const fields = h.FIELDS[medusaEvent]
        const f = await h.loadFulfillment(ctx, fields.fulfillment, id)
        if (!f) throw new Error(`fulfillment ${id} not found`)
        const orderId = data.order_id || (f.order && f.order.id)
        if (!orderId) throw new Error(`fulfillment ${id} belongs to no order`)
        const o = await loadOrder(ctx, fields.order, orderId)
        const bctx = await h.builderCtx(ctx, o.currency_code)
        const props = { ...order.buildOrderProperties(o, bctx, o, fulfilledLines(o, f)), fulfillment_id: f.id, ...tracking(f) }
        return [track(o, name, props, timeOf(f), messageId(medusaEvent, f.id))]
      },
    }
  }

  /** Order Updated; `mid(order)` makes its messageId from the order's updated_at / version (read with it). */
  async function orderUpdated(ctx, event, orderId, mid) {
    const o = await loadOrder(ctx, h.FIELDS[event].order, orderId)
    const bctx = await h.builderCtx(ctx, o.currency_code)
    const props = { ...order.buildOrderProperties(o, bctx, o), order_version: order.num(o.version) }
    return [track(o, "Order Updated", props, o.updated_at || new Date(), mid(o))]
  }

  return {
    // data.id: the order. Each update is its own message: the id carries updated_at.
    "order.updated": {
      async calls({ id }, ctx) {
        return orderUpdated(ctx, "order.updated", id, (v) => messageId("order.updated", id, time(v.updated_at)))
      },
    },

    // data: { order_id, actions } (the confirmed change's actions; their ids are the change's)
    "order-edit.confirmed": {
      async calls({ order_id, actions }, ctx) {
        const first = (actions || []).find((a) => a && a.id)
        return orderUpdated(ctx, "order-edit.confirmed", order_id, (v) => messageId("order-edit.confirmed", first ? first.id : `${order_id}-v${v.version}`))
      },
    },

    // data: { order_id, return_id }; total: the refund the requested units would bring
    "order.return_requested": {
      async calls({ order_id, return_id }, ctx) {
        const fields = h.FIELDS["order.return_requested"]
        const [ret] = await h.loadReturns(ctx, fields.return, { id: return_id })
        if (!ret) throw new Error(`return ${return_id} not found`)
        const o = await loadOrder(ctx, fields.order, order_id || ret.order_id)
        const bctx = await h.builderCtx(ctx, o.currency_code)
        const props = order.buildRefundProperties(o, ret, bctx, o, await h.shippingOf(ctx, "return", ret))
        return [track(o, "Return Requested", props, ret.requested_at || ret.created_at, messageId("order.return_requested", ret.id))]
      },
    },

    "order.fulfillment_created": fulfillmentEntry("order.fulfillment_created", "Fulfillment Created", (d) => d.fulfillment_id, (f) => f.created_at),
    "delivery.created": fulfillmentEntry("delivery.created", "Order Delivered", (d) => d.id, (f) => f.delivered_at),

    // data.id: the payment. See the top of this file.
    "payment.refunded": {
      async calls({ id }, ctx) {
        const { payment, order: o, orderPayments } = await orderOfPayment(h, ctx, "payment.refunded", id)
        const refunds = payment.refunds || []
        if (!refunds.length) throw new Error(`payment ${id} has no refund`)
        const refund = refunds.reduce((a, b) => (time(b.created_at) > time(a.created_at) || (time(b.created_at) === time(a.created_at) && b.id > a.id) ? b : a))
        const bctx = await h.builderCtx(ctx, o.currency_code)
        const curr = o.currency_code
        const amount = order.num(refund.amount) || 0
        const earlier = (await paymentsOf(h, ctx, o.id, orderPayments)).flatMap((p) => p.refunds || []).filter(
          (r) => r.id !== refund.id && (time(r.created_at) < time(refund.created_at) || (time(r.created_at) === time(refund.created_at) && r.id < refund.id))
        )
        const paidBefore = earlier.reduce((a, r) => a + (order.num(r.amount) || 0), 0)
        const forReturns = Math.max(0, (await returnCredit(h, ctx, o, bctx)) - paidBefore)
        const rest = roundAmount(amount - forReturns, curr)
        if (!(rest > 0)) {
          ctx.logger.info(`[segment] refund ${refund.id} of order ${o.id} pays out a received return, already sent as Order Refunded`)
          return []
        }
        const full = Math.abs(rest - (order.num(o.total) || 0)) < 0.005
        const props = order.buildOrderProperties(o, bctx, o, full ? undefined : [])
        const amounts = { total: rest, subtotal: null, revenue: null, shipping: null, tax: null, discount: null }
        for (const [k, v] of Object.entries(amounts)) {
          props[k] = v
          props[`reporting_${k}`] = v === null ? null : reporting(v, bctx)
        }
        props.refund_id = refund.id
        props.refund_reason = (refund.refund_reason && (refund.refund_reason.label || refund.refund_reason.code)) || undefined
        props.note = refund.note || undefined
        return [track(o, "Order Refunded", props, refund.created_at, messageId("payment.refunded", refund.id))]
      },
    },

    // With order_completed_on: "captured": Order Completed once every payment of the order is captured.
    "payment.captured": {
      async calls({ id }, ctx) {
        if (ctx.options.order_completed_on !== "captured") return []
        const { order: o, orderPayments } = await orderOfPayment(h, ctx, "payment.captured", id)
        const all = (await paymentsOf(h, ctx, o.id, orderPayments)).filter((p) => !p.canceled_at)
        if (all.some((p) => !p.captured_at)) return []
        const captured = all.reduce((a, p) => Math.max(a, time(p.captured_at)), 0)
        // the identify went with order.placed
        return h.orderCompleted(ctx, o, captured ? new Date(captured) : new Date(), { identify: false })
      },
    },
  }
}

module.exports = { entries, tracking, FULFILLMENT_FIELDS, RETURN_FIELDS, PAYMENT_FIELDS }
