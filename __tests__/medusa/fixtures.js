"use strict"

// Deterministic in-process stand-ins for the Medusa services both plugin
// versions use, and orders/returns/claims/swaps in several currencies.
// `retrieve` honours `relations` like Medusa does: a relation not asked for
// is not loaded (this is what makes 1.3.5's "Order Cancelled" crash).

const ORDER_RELATIONS = [
  "customer",
  "billing_address",
  "shipping_address",
  "discounts",
  "shipping_methods",
  "payments",
  "fulfillments",
  "items",
  "returns",
  "gift_cards",
  "gift_card_transactions",
  "swaps",
  "region",
]

const clone = (v) => structuredClone(v)

const PRODUCTS = {
  prod_shirt: { id: "prod_shirt", subtitle: "Organic cotton", collection: { title: "Summer" }, type: { value: "Shirts" } },
  prod_mug: { id: "prod_mug", subtitle: null, collection: null, type: { value: "Kitchen" } },
  prod_cap: { id: "prod_cap", subtitle: "One size", collection: { title: "Accessories" }, type: null },
}

function item(id, title, sku, product_id, unit_price, quantity, discount = 0) {
  return { id, title, unit_price, quantity, discount, variant: { id: `var_${id}`, sku, product_id } }
}

// line totals like Medusa's TotalsService: tax on the discounted amount
function lineTotals(li, order) {
  const subtotal = li.unit_price * li.quantity
  const discount_total = li.discount || 0
  const tax_total = Math.round(((subtotal - discount_total) * (order.tax_rate || 0)) / 100)
  return {
    unit_price: li.unit_price,
    quantity: li.quantity,
    subtotal,
    discount_total,
    tax_total,
    total: subtotal - discount_total + tax_total,
    original_total: subtotal + Math.round((subtotal * (order.tax_rate || 0)) / 100),
  }
}

function makeOrder(o) {
  const order = {
    object: "order",
    status: "pending",
    region_id: `reg_${o.currency_code}`,
    email: `${o.id}@example.com`,
    customer_id: `cus_${o.id}`,
    cart_id: `cart_${o.id}`,
    created_at: new Date("2026-11-20T10:00:00.000Z"),
    payments: [{ id: `pay_${o.id}`, provider_id: "manual" }],
    shipping_methods: [{ id: `sm_${o.id}`, shipping_option_id: "so_std", price: o.shipping_total || 0, data: {} }],
    discounts: [],
    swaps: [],
    shipping_address: {
      first_name: "Ada",
      last_name: "Lovelace",
      city: "Copenhagen",
      country_code: "dk",
    },
    shipping_total: 0,
    ...o,
  }
  // totals as Medusa stores/decorates them, unless given
  let subtotal = 0
  let discount = 0
  let tax = 0
  for (const li of order.items) {
    const t = lineTotals(li, order)
    subtotal += t.subtotal
    discount += t.discount_total
    tax += t.tax_total
  }
  const shippingTax = Math.round((order.shipping_total * (order.tax_rate || 0)) / 100)
  order.subtotal ??= subtotal
  order.discount_total ??= discount
  order.tax_total ??= tax + shippingTax
  order.total ??= subtotal - discount + order.shipping_total + tax + shippingTax
  order.gift_card_total ??= 0
  order.refunded_total ??= 0
  return order
}

function scenario() {
  const orders = {
    // EUR (= reporting currency), discount code, revenue would be 29.500000000000004
    order_eur: makeOrder({
      id: "order_eur",
      currency_code: "eur",
      tax_rate: 25,
      shipping_total: 500,
      discounts: [{ id: "disc_1", code: "SUMMER10", rule: { type: "percentage", value: 10 } }],
      items: [
        item("li_eur_1", "Shirt", "SHIRT-M-BLUE", "prod_shirt", 1500, 2, 300),
        item("li_eur_2", "Mug", "MUG", "prod_mug", 800, 1, 0),
      ],
      total: 4120,
      tax_total: 1170,
    }),
    // USD, three items, rate 1.1 to EUR
    order_usd: makeOrder({
      id: "order_usd",
      currency_code: "usd",
      tax_rate: 8,
      shipping_total: 995,
      items: [
        item("li_usd_1", "Shirt", "SHIRT-L-RED", "prod_shirt", 2999, 3, 0),
        item("li_usd_2", "Cap", "CAP-ONE", "prod_cap", 1250, 1, 125),
        item("li_usd_3", "Mug", "MUG", "prod_mug", 799, 2, 0),
      ],
    }),
    // JPY: zero-decimal currency (amounts stored in yen)
    order_jpy: makeOrder({
      id: "order_jpy",
      currency_code: "jpy",
      tax_rate: 10,
      shipping_total: 700,
      discounts: [{ id: "disc_2", code: "WELCOME", rule: { type: "fixed", value: 500 } }],
      items: [
        item("li_jpy_1", "Shirt", "SHIRT-S-WHITE", "prod_shirt", 3300, 3, 500),
        item("li_jpy_2", "Cap", "CAP-ONE", "prod_cap", 1980, 1, 0),
      ],
    }),
    // KRW, zero-decimal, no shipping address (1.3.5 crashes on it)
    order_krw: makeOrder({
      id: "order_krw",
      currency_code: "krw",
      tax_rate: 10,
      shipping_total: 3000,
      shipping_address: null,
      items: [item("li_krw_1", "Mug", "MUG", "prod_mug", 15900, 2, 0)],
    }),
    // DKK with a return of part of a line, with reasons and notes
    order_dkk: makeOrder({
      id: "order_dkk",
      currency_code: "dkk",
      tax_rate: 25,
      shipping_total: 4900,
      items: [
        item("li_dkk_1", "Shirt", "SHIRT-M-GREEN", "prod_shirt", 24900, 2, 0),
        item("li_dkk_2", "Cap", "CAP-ONE", "prod_cap", 9900, 3, 990),
      ],
    }),
  }
  // a swap on the USD order, its additional item is part of order.swaps
  orders.order_usd.swaps = [
    {
      id: "swap_usd",
      additional_items: [item("li_swap_1", "Shirt", "SHIRT-XL-RED", "prod_shirt", 2999, 1, 0)],
    },
  ]

  const fulfillments = {
    ful_eur: { id: "ful_eur", provider_id: "manual", shipped_at: new Date("2026-11-21T08:00:00.000Z"), items: [{ item_id: "li_eur_1", quantity: 2 }] },
    ful_jpy: { id: "ful_jpy", provider_id: "manual", shipped_at: new Date("2026-11-21T09:00:00.000Z"), items: [{ item_id: "li_jpy_1", quantity: 3 }, { item_id: "li_jpy_2", quantity: 1 }] },
    ful_usd: { id: "ful_usd", provider_id: "manual", shipped_at: new Date("2026-11-21T10:00:00.000Z"), items: [{ item_id: "li_usd_2", quantity: 1 }] },
    ful_swap: { id: "ful_swap", provider_id: "manual", shipped_at: new Date("2026-11-23T10:00:00.000Z"), items: [{ item_id: "li_swap_1", quantity: 1 }] },
  }

  const reasons = {
    too_big: { id: "rr_big", value: "too_big", label: "Too big" },
    damaged: { id: "rr_dmg", value: "damaged", label: "Damaged" },
  }
  const returns = {
    ret_dkk: {
      id: "ret_dkk",
      order_id: "order_dkk",
      refund_amount: 38188, // 311.25 + 119.63 returned, minus 49 return shipping
      shipping_method: { id: "sm_ret_dkk", shipping_option_id: "so_ret", price: 4900, data: {} },
      items: [
        { item_id: "li_dkk_1", quantity: 1, received_quantity: 1, reason_id: "rr_big", reason: reasons.too_big, note: "Runs large" },
        { item_id: "li_dkk_2", quantity: 1, received_quantity: 1, reason_id: "rr_dmg", reason: reasons.damaged, note: null },
      ],
    },
    ret_jpy: {
      id: "ret_jpy",
      order_id: "order_jpy",
      refund_amount: 3080,
      shipping_method: null,
      items: [{ item_id: "li_jpy_2", quantity: 1, received_quantity: 1, reason: null, note: null }],
    },
  }

  const claims = {
    claim_eur: {
      id: "claim_eur",
      type: "replace",
      order_id: "order_eur",
      created_at: new Date("2026-11-22T10:00:00.000Z"),
      claim_items: [
        { id: "ci_1", item_id: "li_eur_1", quantity: 1, reason: "production_failure", note: "Hole in sleeve", tags: [{ id: "tag_1", value: "quality" }] },
        { id: "ci_2", item_id: "li_eur_2", quantity: 1, reason: "other", note: null, tags: [] },
      ],
    },
    claim_jpy: {
      id: "claim_jpy",
      type: "refund",
      order_id: "order_jpy",
      created_at: new Date("2026-11-22T11:00:00.000Z"),
      claim_items: [{ id: "ci_3", item_id: "li_jpy_2", quantity: 1, reason: "wrong_item", note: "Got a mug", tags: [] }],
    },
  }

  const swaps = {
    swap_usd: {
      id: "swap_usd",
      order_id: "order_usd",
      difference_due: 1234,
      created_at: new Date("2026-11-22T12:00:00.000Z"),
      confirmed_at: new Date("2026-11-22T12:05:00.000Z"),
      additional_items: orders.order_usd.swaps[0].additional_items,
      return_order: { id: "ret_swap", items: [{ item_id: "li_usd_1", quantity: 1 }], shipping_method: null },
    },
  }

  const allItems = () => {
    const m = new Map()
    for (const o of Object.values(orders)) {
      for (const li of o.items) m.set(li.id, li)
      for (const s of o.swaps || []) for (const li of s.additional_items) m.set(li.id, li)
    }
    return m
  }

  const calls = []
  const log = (name, args) => calls.push([name, ...args])

  function onlyRelations(entity, relations, known) {
    const out = clone(entity)
    const asked = new Set((relations || []).map((r) => r.split(".")[0]))
    for (const k of known) if (!asked.has(k)) delete out[k]
    return out
  }

  const services = {
    totalsService: {
      getLineItemTotals(li, order) {
        log("getLineItemTotals", [li.id])
        return Promise.resolve(lineTotals(li, order))
      },
    },
    productService: {
      retrieve(id) {
        log("product.retrieve", [id])
        if (!PRODUCTS[id]) return Promise.reject(new Error(`Product ${id} not found`))
        return Promise.resolve(clone(PRODUCTS[id]))
      },
    },
    orderService: {
      retrieve(id, config = {}) {
        log("order.retrieve", [id])
        if (!orders[id]) return Promise.reject(new Error(`Order ${id} not found`))
        return Promise.resolve(onlyRelations(orders[id], config.relations, ORDER_RELATIONS))
      },
    },
    cartService: {
      retrieve(id) {
        log("cart.retrieve", [id])
        return Promise.resolve({
          id,
          context: { ip: "203.0.113.7", user_agent: "Mozilla/5.0 (X11; Linux x86_64) Firefox/130.0", ga_id: "GA1.2.1234.5678" },
        })
      },
    },
    fulfillmentService: {
      retrieve(id, config = {}) {
        log("fulfillment.retrieve", [id])
        return Promise.resolve(onlyRelations(fulfillments[id], config.relations, ["items"]))
      },
    },
    returnService: {
      retrieve(id, config = {}) {
        log("return.retrieve", [id])
        return Promise.resolve(onlyRelations(returns[id], config.relations, ["items", "shipping_method"]))
      },
    },
    claimService: {
      retrieve(id, config = {}) {
        log("claim.retrieve", [id])
        const c = clone(claims[id])
        const items = allItems()
        c.order = clone(orders[c.order_id])
        for (const ci of c.claim_items) {
          ci.item = clone(items.get(ci.item_id))
          ci.variant = clone(ci.item.variant)
        }
        return Promise.resolve(onlyRelations(c, config.relations, ["order", "claim_items"]))
      },
    },
    swapService: {
      retrieve(id, config = {}) {
        log("swap.retrieve", [id])
        const s = clone(swaps[id])
        s.order = clone(orders[s.order_id])
        return Promise.resolve(onlyRelations(s, config.relations, ["order", "additional_items", "return_order"]))
      },
    },
    lineItemService: {
      retrieve(id) {
        log("lineItem.retrieve", [id])
        return Promise.resolve(clone(allItems().get(id)))
      },
    },
  }

  return { orders, fulfillments, returns, claims, swaps, services, calls, lineTotals, PRODUCTS }
}

/** Medusa-like logger that records. */
function recordingLogger() {
  const lines = []
  const rec = (level) => (msg) => lines.push([level, String(msg)])
  return { lines, info: rec("info"), warn: rec("warn"), error: rec("error"), debug: rec("debug"), log: rec("log") }
}

/**
 * A container like Medusa's cradle: a proxy that throws for unknown names.
 */
function cradle(registrations) {
  return new Proxy(registrations, {
    get(target, name) {
      if (typeof name === "symbol") return undefined
      if (!(name in target)) {
        const err = new Error(`Could not resolve '${String(name)}'.`)
        err.name = "AwilixResolutionError"
        throw err
      }
      return target[name]
    },
  })
}

module.exports = { scenario, recordingLogger, cradle, makeOrder, item, PRODUCTS }
