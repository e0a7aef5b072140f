"use strict"
// The benchmark's event: an "Order Completed" track call shaped like the one
// medusa-plugin-segment sends (buildOrder of a 3-item order), ~1.5 KB as JSON
// once a library has added its messageId, timestamp and context.library.
// Built fresh for every call, as a store would.

const { performance } = require("node:perf_hooks")

const now = () => performance.timeOrigin + performance.now()

// Strings as a store has them: read from the database, i.e. flat strings,
// not the rope (cons) strings template literals make, which V8's
// JSON.stringify walks far more slowly. A pool of 1,024 orders' worth,
// materialised once through JSON.parse; each event is still a fresh object.
const POOL = 1024
const pool = JSON.parse(
  JSON.stringify(
    Array.from({ length: POOL }, (_, n) => ({
      order: `order_01HQ7Z${n.toString(36).padStart(8, "0")}RT5K0`,
      cart: `cart_01HQ7Z${n.toString(36).padStart(8, "0")}4N2F`,
      customer: `cus_01HQ7Z${n.toString(36).padStart(6, "0")}JX1`,
      email: `customer${n}@example.com`,
      sm: `sm_01HQ7Z${n.toString(36).padStart(8, "0")}`,
      products: [1, 2, 3].map((i) => ({
        name: `Medusa Sweatshirt ${i}`,
        variant: `SWEAT-${i}-L`,
        sku: `SWEAT-${i}`,
        product_id: `prod_01HQ${n.toString(36).padStart(4, "0")}${i}ABCDEFGHJKMNPQRS`,
      })),
    }))
  )
)

function product(p, i) {
  return {
    name: p.name,
    variant: p.variant,
    sku: p.sku,
    price: 39.5 + i,
    reporting_revenue: 36.21 + i,
    product_id: p.product_id,
    category: "Merch",
    type: "apparel",
    quantity: 1 + (i % 2),
  }
}

function buildEvent(n) {
  const o = pool[n % POOL]
  return {
    userId: o.customer,
    event: "Order Completed",
    timestamp: new Date(),
    properties: {
      checkout_id: o.cart,
      order_id: o.order,
      email: o.email,
      region_id: "reg_01HQ6V3Q8G4D1WXYZ",
      payment_provider: "manual",
      shipping_methods: [{ id: o.sm, shipping_option_id: "so_01HQ6V3QSTANDARD", price: 800, data: {} }],
      shipping_country: "DK",
      shipping_city: "Copenhagen",
      total: 133.5,
      subtotal: 119,
      tax: 23.8,
      discount: 0,
      shipping: 8,
      revenue: 109.7,
      reporting_total: 122.4,
      reporting_subtotal: 109.11,
      reporting_revenue: 100.58,
      reporting_shipping: 7.33,
      reporting_tax: 21.82,
      reporting_discount: 0,
      currency: "USD",
      products: [product(o.products[0], 1), product(o.products[1], 2), product(o.products[2], 3)],
      sent_at: now(),
    },
    context: { ip: "203.0.113.7", user_agent: "Mozilla/5.0 (X11; Linux x86_64) Firefox/126.0" },
  }
}

module.exports = { buildEvent, now }

if (require.main === module) {
  const e = buildEvent(123456)
  console.log(JSON.stringify(e).length, "bytes before library fields")
}
