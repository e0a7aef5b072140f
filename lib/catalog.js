"use strict"

// Every Segment call the plugin can make, as data: which Medusa events (v1 and
// 2.x) produce it and the properties (or traits) it carries, with their JSON
// types. The code reads it (the switchboard checks `events`/`rename` keys
// against it, the 2.x lifecycle table names its events from it) and
// scripts/tracking-plan.js turns it into tracking-plan.json (Segment
// Protocols rules). __tests__/tracking-plan.test.js fails when the JSON is
// stale, and the e2e messages are validated against it.

const S = "string"
const N = "number"
const NS = ["string", "null"]
const NN = ["number", "null"]

// One entry of `products` (lib/order-mapping.js productEntry)
const PRODUCT = {
  name: NS,
  variant: NS,
  price: NN,
  reporting_revenue: NN,
  product_id: NS,
  category: NS,
  subtitle: NS,
  type: NS,
  sku: NS,
  quantity: NN,
  reason_id: NS,
  reason_value: NS,
  note: NS,
}

const SHIPPING_METHOD = { id: NS, name: NS, shipping_option_id: NS, price: NN }

const MONEY = ["total", "subtotal", "revenue", "shipping", "tax", "discount"]

// Order Completed/Shipped/Cancelled/Refunded/... (buildOrderProperties)
const ORDER = {
  checkout_id: NS,
  order_id: S,
  email: NS,
  region_id: NS,
  payment_provider: NS,
  shipping_methods: { type: "array", items: { type: "object", properties: SHIPPING_METHOD } },
  shipping_country: NS,
  shipping_city: NS,
  ...Object.fromEntries(MONEY.map((k) => [`reporting_${k}`, NN])),
  ...Object.fromEntries(MONEY.map((k) => [k, NN])),
  coupon: NS,
  currency: NS,
  products: { type: "array", items: { type: "object", properties: PRODUCT } },
}

const SWAP_ITEM = { name: NS, product_id: NS, variant: NS, quantity: NN, price: NN, reporting_price: NN }
const SWAP = {
  swap_id: S,
  order_id: S,
  new_items: { type: "array", items: { type: "object", properties: SWAP_ITEM } },
  return_items: { type: "array", items: { type: "object", properties: SWAP_ITEM } },
  currency: NS,
}
const SWAP_TOTAL = { reporting_total: NN, total: NN, ...SWAP }

const ADDRESS = { street: NS, street2: NS, city: NS, postal_code: NS, state: NS, country: NS, company: NS, phone: NS }

// identify traits (lib/order-mapping.js identifyCall, lib/v2/customers.js)
const TRAITS = {
  email: NS,
  firstName: NS,
  lastName: NS,
  phone: NS,
  createdAt: NS,
  has_account: ["boolean", "null"],
  orders_count: NN,
  lifetime_value: NN,
  lifetime_value_currency: NS,
  default_shipping_address: { type: ["object", "null"], properties: ADDRESS },
  default_billing_address: { type: ["object", "null"], properties: ADDRESS },
}

const TRACKING = { tracking_numbers: { type: "array", items: { type: S } }, tracking_urls: { type: "array", items: { type: S } } }

/**
 * The events. `medusa`: { v1: [...], v2: [...] } Medusa events that produce
 * it; `properties`: name -> JSON type(s) or a schema; `required`: property
 * names always present; `v2only`: not sent by the 1.x plugin.
 */
const EVENTS = [
  {
    name: "Order Completed",
    description: "An order was placed (option order_completed_on: \"placed\", the default) or its payment captured (\"captured\"; 2.x).",
    medusa: { v1: ["order.placed"], v2: ["order.placed", "payment.captured"] },
    properties: ORDER,
    required: ["order_id"],
  },
  {
    name: "Order Updated",
    description: "The order was changed: edited by an admin (order.updated) or an order edit was confirmed (order-edit.confirmed).",
    medusa: { v2: ["order.updated", "order-edit.confirmed"] },
    properties: { ...ORDER, order_version: NN },
    required: ["order_id"],
    v2only: true,
  },
  {
    name: "Order Cancelled",
    description: "The order was cancelled.",
    medusa: { v1: ["order.canceled"], v2: ["order.canceled"] },
    properties: ORDER,
    required: ["order_id"],
  },
  {
    name: "Order Refunded",
    description:
      "Money went back to the customer: a received return (properties of the returned units), or a refund of the payment that no received return accounts for (2.x, payment.refunded: the refunded amount).",
    medusa: { v1: ["order.items_returned"], v2: ["order.return_received", "payment.refunded"] },
    properties: { ...ORDER, return_id: NS, refund_id: NS, refund_reason: NS, note: NS },
    required: ["order_id"],
  },
  {
    name: "Return Requested",
    description: "A return was requested; total is the refund the returned units would bring.",
    medusa: { v2: ["order.return_requested"] },
    properties: { ...ORDER, return_id: S },
    required: ["order_id", "return_id"],
    v2only: true,
  },
  {
    name: "Fulfillment Created",
    description: "Order lines were fulfilled (not yet shipped); products are the fulfilled lines.",
    medusa: { v2: ["order.fulfillment_created"] },
    properties: { ...ORDER, fulfillment_id: S, ...TRACKING },
    required: ["order_id", "fulfillment_id"],
    v2only: true,
  },
  {
    name: "Order Shipped",
    description: "A fulfillment was shipped; products are the shipped lines, with the tracking numbers and URLs of its labels (2.x).",
    medusa: { v1: ["order.shipment_created"], v2: ["shipment.created"] },
    properties: { ...ORDER, fulfillment_id: NS, ...TRACKING },
    required: ["order_id"],
  },
  {
    name: "Order Delivered",
    description: "A fulfillment was marked as delivered; products are its lines.",
    medusa: { v2: ["delivery.created"] },
    properties: { ...ORDER, fulfillment_id: S, ...TRACKING },
    required: ["order_id", "fulfillment_id"],
    v2only: true,
  },
  {
    name: "Item Claimed",
    description: "One claimed line of a claim.",
    medusa: { v1: ["claim.created"], v2: ["order.claim_created"] },
    properties: {
      price: NN,
      reporting_price: NN,
      currency: NS,
      order_id: S,
      claim_id: S,
      claim_item_id: S,
      type: NS,
      quantity: NN,
      variant: NS,
      product_id: NS,
      reason: NS,
      note: NS,
      tags: { type: "array" },
    },
    required: ["order_id", "claim_id"],
  },
  {
    name: "Swap Created",
    description: "A swap (2.x: an exchange) was created.",
    medusa: { v1: ["swap.created"], v2: ["order.exchange_created"] },
    properties: SWAP,
    required: ["swap_id", "order_id"],
  },
  {
    name: "Swap Confirmed",
    description: "A swap was paid (2.x: with the exchange's creation).",
    medusa: { v1: ["swap.payment_completed"], v2: ["order.exchange_created"] },
    properties: SWAP_TOTAL,
    required: ["swap_id", "order_id"],
  },
  {
    name: "Swap Shipped",
    description: "A swap's (exchange's) new items were shipped.",
    medusa: { v1: ["swap.shipment_created"], v2: ["shipment.created"] },
    properties: SWAP_TOTAL,
    required: ["swap_id", "order_id"],
  },
  {
    name: "Customer Created",
    description: "A customer was created (sign-up, or by an admin).",
    medusa: { v2: ["customer.created"] },
    properties: { customer_id: S, email: NS, has_account: ["boolean", "null"] },
    required: ["customer_id"],
    v2only: true,
  },
]

// The browser's ad and GA ids, on every track about an order whose cart
// carried them (lib/attribution.js; docs/attribution.md)
const ATTRIBUTION = { fbp: S, fbc: S, gclid: S, client_id: S, session_id: S, session_number: S }
for (const e of EVENTS) e.properties = { ...e.properties, ...ATTRIBUTION }

/** The identify call: with each order (v1, 2.x), on customer changes and when a cart is transferred to a customer (2.x). */
const IDENTIFY = {
  description:
    "The customer's traits: with each order, (2.x) when customer.created/updated changed them since the last identify sent, and when a guest cart is transferred to a signed-in customer (ties the browser's anonymousId to the userId).",
  medusa: { v1: ["order.placed"], v2: ["order.placed", "customer.created", "customer.updated", "cart.customer_transferred"] },
  traits: TRAITS,
}

// The opt-in cart and checkout events (lib/v2/funnel.js, docs/funnel.md): from
// cart.created/cart.updated, the store-route hooks and order.placed, through a
// per-cart state; switched on with events: { funnel: true } or by name.
const FUNNEL_PRODUCT = { cart_id: S, product_id: NS, variant_id: NS, sku: NS, name: NS, variant: NS, price: NN, quantity: N, currency: NS }
const FUNNEL_COUPON = { cart_id: S, coupon_id: S, coupon_name: NS, discount: NN, currency: NS }
const FUNNEL_STEP = {
  cart_id: S,
  checkout_id: S,
  step: N,
  step_name: NS,
  shipping_method: NS,
  payment_method: NS,
}
const FUNNEL_SOURCE = "Medusa 2.x: cart.created, cart.updated, the promotion and payment-session store routes (opt-in: events.funnel)"
const FUNNEL = [
  ["Product Added", "A line item was added to a cart or its quantity raised (quantity: the units added).", FUNNEL_PRODUCT],
  ["Product Removed", "A line item was removed from a cart or its quantity lowered (quantity: the units removed).", FUNNEL_PRODUCT],
  ["Coupon Applied", "A promotion code was applied to a cart.", FUNNEL_COUPON],
  ["Coupon Removed", "A promotion code was removed from a cart.", FUNNEL_COUPON],
  [
    "Checkout Started",
    "The first time a cart has a shipping address, a shipping method or a payment session, or its email is set after creation.",
    {
      cart_id: S,
      checkout_id: S,
      value: NN,
      revenue: NN,
      shipping: NN,
      tax: NN,
      discount: NN,
      coupon: NS,
      currency: NS,
      products: { type: "array", items: { type: "object", properties: FUNNEL_PRODUCT } },
    },
  ],
  ["Checkout Step Completed", "Step 1 address, 2 shipping method, 3 payment session: once per cart and step.", FUNNEL_STEP],
  ["Payment Info Entered", "The cart's first payment session was created (with step 3).", FUNNEL_STEP],
].map(([name, description, properties]) => ({ name, description: `${description} Sent on: ${FUNNEL_SOURCE}.`, properties, required: ["cart_id"] }))
for (const e of FUNNEL) e.properties = { ...e.properties, ...ATTRIBUTION }

/** Medusa events whose payloads carry secrets (tokens, codes): never forwarded, not even by event_map. */
const NEVER_FORWARD = /^auth\./

const BY_NAME = new Map(EVENTS.map((e) => [e.name, e]))

/** Every Medusa event name (v1 and 2.x) the plugin listens to. */
function medusaEvents() {
  const out = new Set()
  for (const e of [...EVENTS, IDENTIFY]) for (const list of Object.values(e.medusa)) for (const m of list) out.add(m)
  return out
}

module.exports = { EVENTS, FUNNEL, IDENTIFY, BY_NAME, NEVER_FORWARD, medusaEvents, ORDER }
