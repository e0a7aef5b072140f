"use strict"

// Medusa 2.x data as `query.graph` returns it (shapes from the 2.21.2 order,
// fulfillment and link modules: line items flattened from order items, totals
// computed, amounts in major units, some as BigNumber objects), and a
// `query` that answers from it and rejects fields the entity does not have.

/** Like @medusajs/utils BigNumber: an object whose valueOf() is the number. */
class BigNumberLike {
  constructor(n) {
    this.numeric_ = n
  }
  valueOf() {
    return this.numeric_
  }
  toJSON() {
    return this.numeric_
  }
}
const bn = (n) => new BigNumberLike(n)

// Top-level fields (and link aliases) of each entity, from the 2.21.2 schemas.
const ORDER_LINE = "id title subtitle variant_id product_id product_title product_subtitle product_type product_collection variant_sku variant_title unit_price quantity tax_lines adjustments detail metadata total subtotal tax_total discount_total discount_tax_total"
const SCHEMA = {
  order:
    "id version status region_id customer_id display_id sales_channel_id email currency_code shipping_address billing_address items shipping_methods transactions credit_lines returns summary metadata canceled_at created_at updated_at item_total item_subtotal item_tax_total total subtotal tax_total discount_total discount_tax_total shipping_total shipping_subtotal shipping_tax_total cart payment_collections promotions fulfillments customer",
  cart: "id region_id customer_id sales_channel_id email currency_code locale metadata completed_at created_at updated_at shipping_address billing_address items shipping_methods customer payment_collection promotions",
  return: "id status order_id location_id refund_amount requested_at received_at created_at order items exchange claim shipping_methods",
  order_claim: "id order_id type refund_amount created_at order claim_items additional_items return return_id shipping_methods",
  order_exchange: "id order_id difference_due created_at order additional_items return return_id shipping_methods",
  fulfillment: "id location_id packed_at shipped_at delivered_at canceled_at provider_id shipping_option_id items labels created_at order",
}
for (const k of Object.keys(SCHEMA)) SCHEMA[k] = new Set(SCHEMA[k].split(" "))
const LINE_FIELDS = new Set(ORDER_LINE.split(" "))

function item(id, title, sku, productId, unit, qty, totals, extra = {}) {
  return {
    id,
    title,
    subtitle: null,
    variant_id: `variant_${id}`,
    product_id: productId,
    product_title: title,
    variant_sku: sku,
    unit_price: unit,
    quantity: qty,
    adjustments: [],
    ...totals,
    ...extra,
  }
}

function address(first, last, country, city) {
  return { id: `addr_${first}`, first_name: first, last_name: last, country_code: country, city, address_1: "Street 1", postal_code: "1000" }
}

/** A registered customer's EUR order with a promotion, 19% tax, standard shipping. */
const orderEur = {
  id: "order_eur",
  email: "jane@example.com",
  currency_code: "eur",
  region_id: "reg_eu",
  customer_id: "cus_jane",
  sales_channel_id: "sc_web",
  metadata: null,
  created_at: new Date("2026-11-30T09:00:00.000Z"),
  canceled_at: new Date("2026-11-30T12:00:00.000Z"),
  total: bn(51.17),
  subtotal: 45,
  tax_total: bn(8.17),
  // a BigNumber copied into a plain object, and a raw value
  discount_total: { numeric_: 2.38, raw_: { value: "2.38", precision: 20 } },
  discount_tax_total: { value: "0.38", precision: 20 },
  item_subtotal: 35,
  shipping_total: "11.9",
  shipping_tax_total: 1.9,
  items: [
    item("ordli_1", "Medusa T-Shirt", "SHIRT-S", "prod_shirt", 10, 2, {
      subtotal: 20, tax_total: 3.42, total: 21.42, discount_total: 2.38, discount_tax_total: 0.38,
    }, {
      product_collection: "Summer", product_subtitle: "Cotton", product_type: "Shirts",
      adjustments: [{ id: "ordliadj_1", code: "SUMMER10", amount: 2, is_tax_inclusive: false }],
      tax_lines: [{ id: "ordlitx_1", code: "VAT", rate: 19 }],
    }),
    item("ordli_2", "Medusa Sweatpants", "SWEAT-PANTS-M", "prod_pants", 15, 1, {
      subtotal: 15, tax_total: 2.85, total: 17.85, discount_total: 0, discount_tax_total: 0,
    }, { tax_lines: [{ id: "ordlitx_2", code: "VAT", rate: 19 }] }),
  ],
  shipping_methods: [{ id: "ordsm_1", name: "Standard Shipping", amount: 10, shipping_option_id: "so_std", adjustments: [] }],
  shipping_address: address("Jane", "Doe", "dk", "Copenhagen"),
  cart: { id: "cart_eur", metadata: { ga_id: "GA1.2.3" } },
  customer: { id: "cus_jane", email: "jane@example.com", phone: null, first_name: "Jane", last_name: "Doe", metadata: null },
  payment_collections: [{ payments: [{ provider_id: "pp_system_default" }] }],
  promotions: [{ code: "SUMMER10" }],
}

/** A guest's USD order: 3 x 14.875, no tax, no shipping (amounts that need rounding). */
const orderUsd = {
  id: "order_usd",
  email: "guest@example.com",
  currency_code: "usd",
  region_id: "reg_us",
  customer_id: "cus_guest",
  sales_channel_id: "sc_web",
  metadata: null,
  created_at: new Date("2026-11-30T09:30:00.000Z"),
  total: 44.625,
  subtotal: 44.625,
  tax_total: 0,
  discount_total: 0,
  discount_tax_total: 0,
  item_subtotal: 44.625,
  shipping_total: 0,
  shipping_tax_total: 0,
  items: [
    item("ordli_u1", "Medusa Hoodie", "HOODIE-L", "prod_hoodie", 14.875, 3, {
      subtotal: 44.625, tax_total: 0, total: 44.625, discount_total: 0, discount_tax_total: 0,
    }),
  ],
  shipping_methods: [],
  shipping_address: address("Gus", "Guest", "us", "Boston"),
  cart: { id: "cart_usd", metadata: null },
  payment_collections: [{ payments: [{ provider_id: "pp_system_default" }] }],
  promotions: [],
}

/** An order with an exchange: ordli_x2 is the exchange's outbound line. */
const orderExch = {
  ...orderEur,
  id: "order_exch",
  cart: { id: "cart_exch", metadata: {} },
  // the exchange's outbound shipping is an order shipping method too, with Medusa's totals
  shipping_methods: [
    ...orderEur.shipping_methods,
    { id: "ordsm_ex", name: "Exchange Shipping", amount: 5, total: 5.95, tax_total: 0.95, shipping_option_id: "so_std", tax_lines: [{ rate: 19 }], adjustments: [] },
  ],
  items: [
    ...orderEur.items,
    item("ordli_x2", "Medusa T-Shirt", "SHIRT-L", "prod_shirt", 10, 1, {
      subtotal: 10, tax_total: 1.9, total: 11.9, discount_total: 0, discount_tax_total: 0,
    }, { tax_lines: [{ id: "ordlitx_x2", code: "VAT", rate: 19 }] }),
  ],
}

const fulfillments = [
  { id: "ful_1", shipped_at: new Date("2026-11-30T10:00:00.000Z"), items: [{ id: "fulit_1", line_item_id: "ordli_1", quantity: 1 }], order: { id: "order_eur" } },
  { id: "ful_x", shipped_at: new Date("2026-12-01T10:00:00.000Z"), items: [{ id: "fulit_x", line_item_id: "ordli_x2", quantity: 1 }], order: { id: "order_exch" } },
]

const returns = [
  {
    id: "return_1",
    order_id: "order_eur",
    // as 2.21.2 leaves it for a return requested and received step by step
    refund_amount: null,
    received_at: new Date("2026-11-30T11:00:00.000Z"),
    items: [{ id: "retitem_1", item_id: "ordli_1", quantity: 1, received_quantity: 1, reason: { id: "rr_small", value: "too_small" }, note: "Too small" }],
    shipping_methods: [],
  },
  {
    id: "return_cl",
    order_id: "order_eur",
    items: [{ id: "retitem_2", item_id: "ordli_1", quantity: 1, received_quantity: 0, reason: { id: "rr_dmg", value: "damaged" }, note: null }],
  },
  {
    id: "return_ex",
    order_id: "order_exch",
    items: [{ id: "retitem_3", item_id: "ordli_1", quantity: 1, received_quantity: 0, reason: null, note: null }],
  },
]

const claims = [
  {
    id: "claim_1",
    order_id: "order_eur",
    type: "replace",
    created_at: new Date("2026-11-30T13:00:00.000Z"),
    return_id: "return_cl",
    claim_items: [
      { id: "claitem_1", item_id: "ordli_2", quantity: 1, reason: "production_failure", note: "Torn seam", is_additional_item: false },
      { id: "claitem_new", item_id: "ordli_9", quantity: 1, reason: null, note: null, is_additional_item: true },
    ],
  },
]

const exchanges = [
  {
    id: "oexc_1",
    order_id: "order_exch",
    // as 2.21.2 leaves it for an exchange confirmed step by step
    difference_due: null,
    created_at: new Date("2026-12-01T09:00:00.000Z"),
    return_id: "return_ex",
    additional_items: [{ id: "oexcitem_1", item_id: "ordli_x2", quantity: 1 }],
    // read through the exchange: no tax lines (as 2.21.2 returns it)
    shipping_methods: [{ id: "ordsm_ex", name: "Exchange Shipping", amount: 5, shipping_option_id: "so_std" }],
  },
]

function data() {
  return {
    order: [orderEur, orderUsd, orderExch],
    return: returns,
    order_claim: claims,
    order_exchange: exchanges,
    fulfillment: fulfillments,
  }
}

function clone(v) {
  if (v instanceof BigNumberLike) return bn(v.numeric_)
  if (v instanceof Date) return new Date(v)
  if (Array.isArray(v)) return v.map(clone)
  if (v && typeof v === "object") return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, clone(x)]))
  return v
}

/**
 * A `query` answering graph() from the fixtures. Rejects unknown entities
 * and fields whose first part the entity does not have (and unknown order
 * line-item fields), like the remote joiner. `failOn(entity, fieldPrefix)`
 * makes matching requests throw.
 */
function fakeQuery(overrides = {}) {
  const db = { ...data(), ...overrides }
  const calls = []
  const failures = []
  return {
    calls,
    failOn(entity, prefix) {
      failures.push({ entity, prefix })
    },
    async graph({ entity, fields, filters }) {
      calls.push({ entity, fields: [...fields], filters })
      const schema = SCHEMA[entity]
      if (!schema) throw new Error(`Service with alias "${entity}" was not found`)
      for (const f of fields) {
        const [head, next] = f.split(".")
        if (f === "*" || schema.has(head)) {
          if (entity === "order" && head === "items" && next && next !== "*" && !LINE_FIELDS.has(next)) {
            throw new Error(`Entity 'OrderLineItem' does not have property '${next}'`)
          }
          continue
        }
        throw new Error(`Entity '${entity}' does not have property '${head}'`)
      }
      for (const fl of failures) {
        if (fl.entity === entity && fields.some((f) => f.startsWith(fl.prefix))) throw new Error(`scripted failure on ${entity}.${fl.prefix}`)
      }
      const rows = (db[entity] || []).filter((r) => Object.entries(filters || {}).every(([k, v]) => r[k] === v))
      // link data only when asked for, as the joiner does
      const asked = new Set(fields.map((f) => f.split(".")[0]))
      const project = (r) => {
        const out = clone(r)
        for (const link of ["cart", "payment_collections", "promotions", "customer"]) if (!asked.has(link)) delete out[link]
        return out
      }
      return { data: rows.map(project), metadata: undefined }
    },
  }
}

/** An awilix-like container (resolve throws for unknown names, as Medusa's). */
function container(registrations) {
  return {
    register() {},
    resolve(name) {
      if (!(name in registrations)) {
        const err = new Error(`Could not resolve '${name}'.`)
        err.name = "AwilixResolutionError"
        throw err
      }
      return registrations[name]
    },
  }
}

module.exports = { bn, fakeQuery, container, orderEur, orderUsd, orderExch }
