// Test-only: appends every event the tests care about to $E2E_EVENT_LOG, so a
// test can tell "Medusa never emitted it" from "the plugin did not send it".
const fs = require("node:fs")

const EVENTS = [
  "order.placed",
  "order.fulfillment_created",
  "shipment.created",
  "order.canceled",
  "order.return_requested",
  "order.return_received",
  "order.claim_created",
  "order.exchange_created",
  "payment.captured",
  "payment.refunded",
  "order.updated",
  "order-edit.confirmed",
  "delivery.created",
  "customer.created",
  "customer.updated",
  "customer.deleted",
  "auth.password_reset",
  "wishlist.product_added",
  "cart.customer_transferred",
  "cart.created",
  "cart.updated",
  "segment.cart-promotions-updated",
  "segment.payment-session-created",
]

exports.default = async function logEvent({ event }) {
  if (!process.env.E2E_EVENT_LOG) return
  const line = { event: event.name, data: event.data, pid: process.pid, role: process.env.E2E_WORKER_MODE || "shared", at: new Date().toISOString() }
  fs.appendFileSync(process.env.E2E_EVENT_LOG, JSON.stringify(line) + "\n")
}

exports.config = { event: EVENTS, context: { subscriberId: "e2e-event-log" } }
