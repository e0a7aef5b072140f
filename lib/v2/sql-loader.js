"use strict"

// The order of an event read with one SQL statement over the PostgreSQL
// connection Medusa 2.x registers in its container (a knex instance, the one
// Medusa's modules share), instead of the query graph: the query graph's
// layers (remote joiner, module service, MikroORM) cost several times the
// query itself (docs/benchmarks.md#medusa-2x). The result has the shape the
// query graph gives lib/v2/events.js's loadOrder (the order with its items,
// shipping methods, addresses, credit lines and totals; the cart, payment
// collections and customer of its links), so lib/v2/order.js maps it
// unchanged; __tests__/e2e-v2/sql-loader.test.js proves the Segment calls equal.
// A fulfillment, exchanges, returns, a claim, a payment with its order's
// refunds, a customer with its orders' totals, and a cart with its
// addresses and customer are read the same way (loadFulfillment,
// loadExchanges, loadReturns, loadClaims, loadPayment, loadCustomer, loadCart).
//
// What Medusa's order module does, repeated here (2.21.2,
// @medusajs/order utils/base-repository-find.js and transform-order.js):
// - the lines and shipping methods of the order's current version
//   (order_item / order_shipping rows with the order's version), their
//   adjustments of that version, and credit lines of that version;
// - a line is the order_line_item with the order_item's quantity, and its
//   unit price / metadata when the order_item has its own;
// - soft-deleted rows (deleted_at) are not read.
// The totals are Medusa's own: decorateCartTotals from
// @medusajs/framework/utils, the function the order module applies.
//
// Used only when every table and column it reads is there (checked once per
// process) and option `order_loader` is not "query". Any failure is logged
// once and the process reads orders through the query graph from then on.

const { lookup } = require("../container")

const PG_CONNECTION = "__pg_connection__" // ContainerRegistrationKeys.PG_CONNECTION

// What the statement reads: table -> columns (besides `deleted_at`, read on every table).
const REQUIRED = {
  order: ["id", "version", "customer_id", "currency_code", "shipping_address_id", "billing_address_id", "status"],
  order_address: ["id"],
  order_item: ["order_id", "item_id", "version", "quantity", "raw_quantity", "unit_price", "raw_unit_price", "compare_at_unit_price", "raw_compare_at_unit_price", "metadata", "return_received_quantity", "return_dismissed_quantity"],
  order_line_item: ["id", "unit_price", "raw_unit_price", "is_tax_inclusive", "metadata"],
  order_line_item_tax_line: ["item_id", "rate", "raw_rate"],
  order_line_item_adjustment: ["item_id", "version", "amount", "raw_amount", "is_tax_inclusive", "code"],
  order_shipping: ["order_id", "shipping_method_id", "version", "exchange_id", "return_id"],
  order_shipping_method: ["id", "amount", "raw_amount", "is_tax_inclusive"],
  order_shipping_method_tax_line: ["shipping_method_id", "rate", "raw_rate"],
  order_shipping_method_adjustment: ["shipping_method_id", "version", "amount", "raw_amount", "code"],
  order_credit_line: ["order_id", "version", "amount", "raw_amount", "reference"],
  order_cart: ["id", "order_id", "cart_id"],
  cart: ["id", "metadata", "email", "customer_id", "shipping_address_id", "billing_address_id"],
  // cart.customer_transferred (the cart's addresses)
  cart_address: ["id"],
  order_payment_collection: ["id", "order_id", "payment_collection_id"],
  payment: ["id", "payment_collection_id", "provider_id", "amount", "currency_code", "captured_at", "canceled_at"],
  // payment.refunded / payment.captured
  refund: ["id", "payment_id", "amount", "created_at", "refund_reason_id", "note"],
  refund_reason: ["id", "label"],
  customer: ["id", "email", "phone", "first_name", "last_name", "metadata", "created_at", "has_account"],
  // customer.created / customer.updated (the customer's addresses and orders)
  customer_address: ["id", "customer_id", "is_default_shipping", "is_default_billing", "address_1", "address_2", "city", "postal_code", "province", "country_code", "company", "phone"],
  // a fulfillment (shipment.created, order.fulfillment_created, delivery.created)
  fulfillment: ["id"],
  fulfillment_item: ["id", "fulfillment_id", "line_item_id", "quantity"],
  fulfillment_label: ["id", "fulfillment_id", "tracking_number", "tracking_url"],
  order_fulfillment: ["id", "order_id", "fulfillment_id"],
  // an order's exchanges (shipment.created, order.exchange_created)
  order_exchange: ["id", "order_id", "return_id", "difference_due", "created_at"],
  order_exchange_item: ["id", "exchange_id", "item_id", "quantity"],
  return: ["id", "order_id", "refund_amount", "received_at"],
  return_item: ["id", "return_id", "item_id", "quantity", "reason_id"],
  return_reason: ["id", "value"],
  // returns (order.return_received, order.return_requested, payment.refunded) and claims (order.claim_created)
  order_claim: ["id", "order_id", "return_id", "type", "created_at"],
  order_claim_item: ["id", "claim_id", "item_id", "quantity", "reason", "is_additional_item"],
}

// Fields of the query graph's order this loader answers (lib/v2/events.js
// FIELDS): the order's columns and totals, and these relations and links.
// A field outside them (a later FIELDS row) makes loadOrder use the query graph.
const TOTALS = new Set([
  "total", "subtotal", "tax_total", "discount_total", "discount_tax_total", "discount_subtotal", "original_total",
  "original_tax_total", "original_subtotal", "item_total", "item_subtotal", "item_tax_total", "item_discount_total",
  "original_item_total", "original_item_subtotal", "original_item_tax_total", "shipping_total", "shipping_subtotal",
  "shipping_tax_total", "shipping_discount_total", "original_shipping_tax_total", "original_shipping_subtotal",
  "original_shipping_total", "credit_line_total", "credit_line_tax_total", "credit_line_subtotal",
])
const RELATIONS = new Set([
  "items.*", "items.tax_lines.*", "items.adjustments.*",
  "shipping_methods.*", "shipping_methods.tax_lines.*", "shipping_methods.adjustments.*",
  "shipping_address.*", "billing_address.*",
])
const LINKS = new Set(["cart.id", "cart.metadata", "payment_collections.payments.provider_id", "customer.email", "customer.phone", "customer.first_name", "customer.last_name", "customer.metadata"])

// Shipping methods of the order's current version, as JSON rows (the order's or, with exchange_id, an exchange's).
const shippingRows = (where) => `(
    SELECT json_agg(json_build_object(
      'detail', to_json(os), 'method', to_json(sm),
      'tax_lines', (SELECT json_agg(t ORDER BY t.id) FROM order_shipping_method_tax_line t WHERE t.shipping_method_id = sm.id AND t.deleted_at IS NULL),
      'adjustments', (SELECT json_agg(j ORDER BY j.id) FROM order_shipping_method_adjustment j WHERE j.shipping_method_id = sm.id AND j.version = os.version AND j.deleted_at IS NULL)
    ) ORDER BY os.id)
    FROM order_shipping os JOIN order_shipping_method sm ON sm.id = os.shipping_method_id AND sm.deleted_at IS NULL
    WHERE ${where} AND os.version = o.version AND os.deleted_at IS NULL)`

// The lines, shipping methods and credit lines of order `o`'s current version, as JSON.
const ORDER_ITEMS = `(
    SELECT json_agg(json_build_object(
      'detail', to_json(oi), 'item', to_json(li),
      'tax_lines', (SELECT json_agg(t ORDER BY t.id) FROM order_line_item_tax_line t WHERE t.item_id = li.id AND t.deleted_at IS NULL),
      'adjustments', (SELECT json_agg(j ORDER BY j.id) FROM order_line_item_adjustment j WHERE j.item_id = li.id AND j.version = oi.version AND j.deleted_at IS NULL)
    ) ORDER BY oi.id)
    FROM order_item oi JOIN order_line_item li ON li.id = oi.item_id AND li.deleted_at IS NULL
    WHERE oi.order_id = o.id AND oi.version = o.version AND oi.deleted_at IS NULL)`
const ORDER_CREDIT_LINES = `(SELECT json_agg(c ORDER BY c.id) FROM order_credit_line c WHERE c.order_id = o.id AND c.version = o.version AND c.deleted_at IS NULL)`

// Rows of each relation as JSON, built by PostgreSQL: the JS side parses one value.
const ORDER_SQL = `
SELECT json_build_object(
  'order', to_json(o),
  'shipping_address', (SELECT to_json(a) FROM order_address a WHERE a.id = o.shipping_address_id AND a.deleted_at IS NULL),
  'billing_address', (SELECT to_json(a) FROM order_address a WHERE a.id = o.billing_address_id AND a.deleted_at IS NULL),
  'items', ${ORDER_ITEMS},
  'shipping_methods', ${shippingRows("os.order_id = o.id")},
  'credit_lines', ${ORDER_CREDIT_LINES},
  'cart', (
    SELECT json_build_object('id', l.cart_id, 'found', c.id IS NOT NULL, 'metadata', c.metadata)
    FROM order_cart l LEFT JOIN cart c ON c.id = l.cart_id AND c.deleted_at IS NULL
    WHERE l.order_id = o.id AND l.deleted_at IS NULL ORDER BY l.id LIMIT 1),
  'payment_collections', (
    SELECT json_agg(json_build_object('id', l.payment_collection_id, 'payments', (
      SELECT coalesce(json_agg(json_build_object('id', p.id, 'provider_id', p.provider_id, 'payment_collection_id', p.payment_collection_id, 'payment_collection', json_build_object('id', p.payment_collection_id)) ORDER BY p.id), '[]'::json)
      FROM payment p WHERE p.payment_collection_id = l.payment_collection_id AND p.deleted_at IS NULL)) ORDER BY l.id)
    FROM order_payment_collection l WHERE l.order_id = o.id AND l.deleted_at IS NULL AND l.payment_collection_id IS NOT NULL),
  'customer', (
    SELECT json_build_object('id', c.id, 'email', c.email, 'phone', c.phone, 'first_name', c.first_name, 'last_name', c.last_name, 'metadata', c.metadata)
    FROM customer c WHERE c.id = o.customer_id AND c.deleted_at IS NULL)
) AS row
FROM "order" o WHERE o.id = ? AND o.deleted_at IS NULL`

// A payment with its refunds (and their reasons), the order its collection
// belongs to, and every payment of that order with its refunds
// (payment.refunded, payment.captured).
const REFUNDS_OF = (payment) => `(
    SELECT json_agg(json_build_object('refund', to_json(r), 'reason', (SELECT to_json(rr) FROM refund_reason rr WHERE rr.id = r.refund_reason_id AND rr.deleted_at IS NULL)) ORDER BY r.id)
    FROM refund r WHERE r.payment_id = ${payment}.id AND r.deleted_at IS NULL)`
const PAYMENT_COLUMNS = (p) => `'id', ${p}.id, 'amount', ${p}.amount, 'currency_code', ${p}.currency_code, 'captured_at', ${p}.captured_at, 'canceled_at', ${p}.canceled_at, 'payment_collection_id', ${p}.payment_collection_id`
const PAYMENT_SQL = `
SELECT json_build_object(
  'payment', json_build_object(${PAYMENT_COLUMNS("p")}, 'refunds', ${REFUNDS_OF("p")}),
  'order_id', l.order_id,
  'order_payments', (
    SELECT json_agg(json_build_object(${PAYMENT_COLUMNS("p2")}, 'refunds', ${REFUNDS_OF("p2")}) ORDER BY p2.id)
    FROM order_payment_collection l2 JOIN payment p2 ON p2.payment_collection_id = l2.payment_collection_id AND p2.deleted_at IS NULL
    WHERE l2.order_id = l.order_id AND l2.deleted_at IS NULL)
) AS row
FROM payment p
LEFT JOIN LATERAL (SELECT order_id FROM order_payment_collection WHERE payment_collection_id = p.payment_collection_id AND deleted_at IS NULL ORDER BY id LIMIT 1) l ON true
WHERE p.id = ? AND p.deleted_at IS NULL`

// A customer with its addresses, and each of its orders that is not
// cancelled with what Medusa's totals need (customer.created/updated: the
// identify's orders_count and lifetime value).
const CUSTOMER_SQL = `
SELECT json_build_object(
  'customer', json_build_object('id', c.id, 'email', c.email, 'first_name', c.first_name, 'last_name', c.last_name, 'phone', c.phone, 'created_at', c.created_at, 'has_account', c.has_account),
  'addresses', (SELECT json_agg(a ORDER BY a.id) FROM customer_address a WHERE a.customer_id = c.id AND a.deleted_at IS NULL),
  'orders', (
    SELECT json_agg(json_build_object('order', to_json(o), 'items', ${ORDER_ITEMS}, 'shipping_methods', ${shippingRows("os.order_id = o.id")}, 'credit_lines', ${ORDER_CREDIT_LINES}) ORDER BY o.id)
    FROM "order" o WHERE o.customer_id = c.id AND o.deleted_at IS NULL AND o.status <> 'canceled')
) AS row
FROM customer c WHERE c.id = ? AND c.deleted_at IS NULL`

// A cart with its addresses and customer (cart.customer_transferred: lib/v2/attribution.js).
const CART_SQL = `
SELECT json_build_object(
  'cart', json_build_object('id', c.id, 'email', c.email, 'customer_id', c.customer_id, 'metadata', c.metadata),
  'shipping_address', (SELECT to_json(a) FROM cart_address a WHERE a.id = c.shipping_address_id AND a.deleted_at IS NULL),
  'billing_address', (SELECT to_json(a) FROM cart_address a WHERE a.id = c.billing_address_id AND a.deleted_at IS NULL),
  'customer', (SELECT json_build_object('id', cu.id, 'email', cu.email, 'phone', cu.phone, 'first_name', cu.first_name, 'last_name', cu.last_name, 'metadata', cu.metadata)
    FROM customer cu WHERE cu.id = c.customer_id AND cu.deleted_at IS NULL)
) AS row
FROM cart c WHERE c.id = ? AND c.deleted_at IS NULL`

// A fulfillment with its items, labels and order (the order-fulfillment link).
const FULFILLMENT_SQL = `
SELECT json_build_object(
  'fulfillment', to_json(f),
  'items', (SELECT json_agg(i ORDER BY i.id) FROM fulfillment_item i WHERE i.fulfillment_id = f.id AND i.deleted_at IS NULL),
  'labels', (SELECT json_agg(l ORDER BY l.id) FROM fulfillment_label l WHERE l.fulfillment_id = f.id AND l.deleted_at IS NULL),
  'order_id', (SELECT l.order_id FROM order_fulfillment l WHERE l.fulfillment_id = f.id AND l.deleted_at IS NULL ORDER BY l.id LIMIT 1)
) AS row
FROM fulfillment f WHERE f.id = ? AND f.deleted_at IS NULL`
const FULFILLMENT_RELATIONS = new Set(["items.*", "labels.*", "order.id"])

// A return's items with their reasons (`r`: the return's alias).
const RETURN_ITEMS = `(
      SELECT json_agg(json_build_object('item', to_json(ri), 'reason', (SELECT to_json(rr) FROM return_reason rr WHERE rr.id = ri.reason_id AND rr.deleted_at IS NULL)) ORDER BY ri.id)
      FROM return_item ri WHERE ri.return_id = r.id AND ri.deleted_at IS NULL)`

// Exchanges (by id, or all of an order) with their outbound items, their
// return's items with reasons, and their shipping methods of the order's version.
const exchangeSql = (column) => `
SELECT coalesce(json_agg(json_build_object(
  'exchange', to_json(e),
  'additional_items', (SELECT json_agg(i ORDER BY i.id) FROM order_exchange_item i WHERE i.exchange_id = e.id AND i.deleted_at IS NULL),
  'return', (
    SELECT json_build_object('row', to_json(r), 'items', ${RETURN_ITEMS})
    FROM "return" r WHERE r.id = e.return_id AND r.deleted_at IS NULL),
  'shipping_methods', ${shippingRows("os.exchange_id = e.id")}
) ORDER BY e.id), '[]'::json) AS row
FROM order_exchange e JOIN "order" o ON o.id = e.order_id AND o.deleted_at IS NULL
WHERE e.${column} = ? AND e.deleted_at IS NULL`
const EXCHANGE_BY_ID_SQL = exchangeSql("id")
const EXCHANGES_OF_ORDER_SQL = exchangeSql("order_id")
// Returns (by id, or all of an order) with their items and reasons, and their shipping methods of the order's version.
const returnSql = (column) => `
SELECT coalesce(json_agg(json_build_object(
  'return', to_json(r),
  'items', ${RETURN_ITEMS},
  'shipping_methods', ${shippingRows("os.return_id = r.id")}
) ORDER BY r.id), '[]'::json) AS row
FROM "return" r JOIN "order" o ON o.id = r.order_id AND o.deleted_at IS NULL
WHERE r.${column} = ? AND r.deleted_at IS NULL`
const RETURN_BY_ID_SQL = returnSql("id")
const RETURNS_OF_ORDER_SQL = returnSql("order_id")
const RETURN_RELATIONS = new Set(["items.*", "items.reason.*", "shipping_methods.*", "shipping_methods.tax_lines.*", "shipping_methods.adjustments.*"])

// A claim with its claimed (not additional) items and its return's items and reasons.
const CLAIM_SQL = `
SELECT coalesce(json_agg(json_build_object(
  'claim', to_json(c),
  'claim_items', (SELECT json_agg(ci ORDER BY ci.id) FROM order_claim_item ci WHERE ci.claim_id = c.id AND ci.deleted_at IS NULL AND NOT ci.is_additional_item),
  'return', (
    SELECT json_build_object('row', to_json(r), 'items', ${RETURN_ITEMS})
    FROM "return" r WHERE r.id = c.return_id AND r.deleted_at IS NULL)
)), '[]'::json) AS row
FROM order_claim c JOIN "order" o ON o.id = c.order_id AND o.deleted_at IS NULL
WHERE c.id = ? AND c.deleted_at IS NULL`
const CLAIM_RELATIONS = new Set(["claim_items.*", "return.id", "return.items.*", "return.items.reason.*"])

const EXCHANGE_RELATIONS = new Set([
  "additional_items.*", "return.id", "return.items.*", "return.items.reason.*",
  "shipping_methods.*", "shipping_methods.tax_lines.*", "shipping_methods.adjustments.*",
])

// Per PG connection: { ready: Promise<{ totals, orderColumns } | null>, off: reason }
const states = new WeakMap()

function say(ctx, text) {
  try {
    ctx.logger.warn(`[segment] ${text}; orders are read through Medusa's query graph from now on (option order_loader: "query" chooses that from the start)`)
  } catch (_) {
    // a broken logger must not break the event
  }
}

/** Medusa's totals helpers, from the store's @medusajs/framework; null when it cannot be loaded. */
function medusaTotals() {
  for (const paths of [undefined, [process.cwd()]]) {
    try {
      const file = paths ? require.resolve("@medusajs/framework/utils", { paths }) : require.resolve("@medusajs/framework/utils")
      const u = require(file)
      if (typeof u.decorateCartTotals === "function" && typeof u.createRawPropertiesFromBigNumber === "function") return u
    } catch (_) {
      // next place
    }
  }
  return null
}

/** The tables and columns the statement needs, read once: null when they are all there, else what is missing. */
async function missingColumns(pg) {
  const tables = Object.keys(REQUIRED)
  const { rows } = await pg.raw(
    `SELECT table_name, column_name FROM information_schema.columns WHERE table_schema = current_schema() AND table_name IN (${tables.map(() => "?").join(", ")})`,
    tables
  )
  const have = new Map()
  for (const r of rows) {
    if (!have.has(r.table_name)) have.set(r.table_name, new Set())
    have.get(r.table_name).add(r.column_name)
  }
  const missing = []
  for (const [t, cols] of Object.entries(REQUIRED)) {
    const got = have.get(t)
    if (!got) missing.push(`table ${t}`)
    else for (const c of [...cols, "deleted_at"]) if (!got.has(c)) missing.push(`${t}.${c}`)
  }
  return { missing, columns: have }
}

function stateOf(ctx, pg) {
  let s = states.get(pg)
  if (!s) {
    s = { off: null }
    s.ready = (async () => {
      const totals = medusaTotals()
      if (!totals) throw new Error("@medusajs/framework/utils (decorateCartTotals) cannot be loaded")
      const { missing, columns } = await missingColumns(pg)
      if (missing.length) throw new Error(`the database lacks ${missing.slice(0, 5).join(", ")}${missing.length > 5 ? ", ..." : ""}`)
      return {
        totals,
        orderColumns: columns.get("order"),
        fulfillmentColumns: columns.get("fulfillment"),
        exchangeColumns: columns.get("order_exchange"),
        returnColumns: columns.get("return"),
        claimColumns: columns.get("order_claim"),
      }
    })().catch((err) => {
      turnOff(ctx, s, `the SQL order loader cannot be used (${err && err.message})`)
      return null
    })
    states.set(pg, s)
  }
  return s
}

function turnOff(ctx, s, reason) {
  if (s.off) return
  s.off = reason
  say(ctx, reason)
}

/** Whether this loader answers `fields` (lib/v2/events.js FIELDS' order rows), given the order table's columns. */
function answers(fields, orderColumns) {
  return fields.every((f) => RELATIONS.has(f) || LINKS.has(f) || f.startsWith("credit_lines.") || TOTALS.has(f) || (!f.includes(".") && orderColumns.has(f)))
}

const DATE = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d/
/** Timestamps as Date, as MikroORM gives them (JSON has them as strings). */
function dates(row) {
  if (!row) return row
  for (const k of Object.keys(row)) {
    const v = row[k]
    if (typeof v === "string" && k.endsWith("_at") && DATE.test(v)) row[k] = new Date(v)
  }
  return row
}

/**
 * The order's object as the order module formats it (transform-order.js
 * formatOrder: lines from order_item + order_line_item, shipping methods
 * from order_shipping + order_shipping_method), with Medusa's totals.
 */
function formatOrder(row, totals) {
  const o = dates(row.order)
  o.shipping_address = dates(row.shipping_address) || null
  o.billing_address = dates(row.billing_address) || null
  o.items = (row.items || []).map(({ detail, item, tax_lines, adjustments }) => {
    dates(detail)
    return {
      ...dates(item),
      tax_lines: (tax_lines || []).map(dates),
      adjustments: (adjustments || []).map(dates),
      quantity: detail.quantity,
      raw_quantity: detail.raw_quantity,
      unit_price: detail.unit_price ?? item.unit_price,
      raw_unit_price: detail.raw_unit_price ?? item.raw_unit_price,
      compare_at_unit_price: detail.compare_at_unit_price ?? item.compare_at_unit_price,
      raw_compare_at_unit_price: detail.raw_compare_at_unit_price ?? item.raw_compare_at_unit_price,
      metadata: detail.metadata ?? item.metadata,
      line_item_metadata: item.metadata,
      detail,
    }
  })
  o.shipping_methods = (row.shipping_methods || []).map(shippingMethod)
  o.credit_lines = (row.credit_lines || []).map(dates)
  totals.decorateCartTotals(o)
  totals.createRawPropertiesFromBigNumber(o)
  return o
}

/** The order's link data, as lib/v2/events.js orderLinks gives it for `fields`. */
function addLinks(o, row, fields) {
  if (row.cart) {
    o.cart = fields.includes("cart.metadata") && row.cart.found ? { id: row.cart.id, metadata: row.cart.metadata } : { id: row.cart.id }
  }
  const customerFields = fields.filter((f) => f.startsWith("customer.")).map((f) => f.slice("customer.".length))
  if (customerFields.length && o.customer_id) {
    const c = row.customer
    o.customer = c ? Object.fromEntries(["id", ...customerFields].map((k) => [k, c[k]])) : null
  }
  if (row.payment_collections && row.payment_collections.length && fields.some((f) => f.startsWith("payment_collections."))) {
    o.payment_collections = row.payment_collections
  }
  return o
}

/** The usable state of this loader for `ctx` (undefined: not chosen or not usable). */
async function ready(ctx) {
  if (ctx.options && ctx.options.order_loader === "query") return undefined
  const pg = lookup(ctx.container, PG_CONNECTION)
  if (!pg || typeof pg.raw !== "function") return undefined
  const s = stateOf(ctx, pg)
  if (s.off) return undefined
  const r = await s.ready
  return r && !s.off ? { ...r, pg, s } : undefined
}

/** Statements answered per kind in this process (order, fulfillment, exchange, return, claim): what the e2e test checks was read by SQL. */
const answered = {}

/** One row of `sql` for `id`: the row, null when there is none, undefined when the statement failed (logged, off from now on). */
async function readRow(ctx, r, sql, id, what) {
  try {
    const { rows } = await r.pg.raw(sql, [id])
    answered[what] = (answered[what] || 0) + 1
    return rows.length ? rows[0].row : null
  } catch (err) {
    turnOff(ctx, r.s, `the SQL order loader failed on ${what} ${id} (${err && err.message})`)
    return undefined
  }
}

/**
 * The order `id` with `fields`, read with one SQL statement: the order
 * object, null when there is no such order, or undefined when this loader
 * cannot answer (not chosen, not usable here, or it failed: logged once,
 * then off for this process); the caller then uses the query graph.
 */
async function loadOrder(ctx, fields, id) {
  const r = await ready(ctx)
  if (!r || !answers(fields, r.orderColumns)) return undefined
  const row = await readRow(ctx, r, ORDER_SQL, id, "order")
  return row ? addLinks(formatOrder(row, r.totals), row, fields) : row
}

/** Whether `fields` of a fulfillment are its columns, items, labels and order id. */
function answersFulfillment(fields, columns) {
  return fields.every((f) => FULFILLMENT_RELATIONS.has(f) || (!f.includes(".") && columns.has(f)))
}

/**
 * The fulfillment `id` with `fields` (its items, labels and `order: { id }`),
 * as the query graph gives it; null / undefined as loadOrder.
 */
async function loadFulfillment(ctx, fields, id) {
  const r = await ready(ctx)
  if (!r || !answersFulfillment(fields, r.fulfillmentColumns)) return undefined
  const row = await readRow(ctx, r, FULFILLMENT_SQL, id, "fulfillment")
  if (!row) return row
  const f = dates(row.fulfillment)
  f.items = (row.items || []).map(dates)
  f.labels = (row.labels || []).map(dates)
  if (fields.includes("order.id")) f.order = row.order_id ? { id: row.order_id } : null
  return f
}

/** A shipping method as the order module formats it: the method with its tax lines and adjustments, `order_id`, `detail` (the order_shipping row). */
function shippingMethod({ detail, method, tax_lines, adjustments }) {
  return {
    ...dates(method),
    tax_lines: (tax_lines || []).map(dates),
    adjustments: (adjustments || []).map(dates),
    order_id: detail.order_id,
    detail: dates(detail),
  }
}

/** Whether `fields` are columns of the entity (`columns`) or among its `relations`. */
const answersOf = (relations) => (fields, columns) => fields.every((f) => relations.has(f) || (!f.includes(".") && columns.has(f)))
const answersExchange = answersOf(EXCHANGE_RELATIONS)
const answersReturn = answersOf(RETURN_RELATIONS)
const answersClaim = answersOf(CLAIM_RELATIONS)

const returnItems = (items) => (items || []).map(({ item, reason }) => ({ ...dates(item), reason: dates(reason) || null }))
const returnOf = (row) => (row ? { ...dates(row.row), items: returnItems(row.items) } : null)

function formatExchange(row) {
  const e = dates(row.exchange)
  e.additional_items = (row.additional_items || []).map(dates)
  e.return = returnOf(row.return)
  e.shipping_methods = (row.shipping_methods || []).map(shippingMethod)
  return e
}

function formatReturn(row) {
  const r = dates(row.return)
  r.items = returnItems(row.items)
  r.shipping_methods = (row.shipping_methods || []).map(shippingMethod)
  return r
}

function formatClaim(row) {
  const c = dates(row.claim)
  c.claim_items = (row.claim_items || []).map(dates)
  c.return = returnOf(row.return)
  return c
}

/**
 * Records of `kind` with `fields`, by SQL: by id (`{ id }`) or all of an
 * order (`{ order_id }`, exchanges and returns); an array (empty when none),
 * or undefined as loadOrder.
 */
async function loadRelated(ctx, kind, fields, filter) {
  const r = await ready(ctx)
  const k = RELATED[kind]
  if (!r || !k.answers(fields, r[k.columns])) return undefined
  const [sql, id] = filter.id ? [k.byId, filter.id] : [k.ofOrder, filter.order_id]
  if (!sql || !id) return undefined
  const rows = await readRow(ctx, r, sql, id, kind)
  return rows === undefined ? undefined : (rows || []).map(k.format)
}

const RELATED = {
  exchange: { answers: answersExchange, columns: "exchangeColumns", byId: EXCHANGE_BY_ID_SQL, ofOrder: EXCHANGES_OF_ORDER_SQL, format: formatExchange },
  return: { answers: answersReturn, columns: "returnColumns", byId: RETURN_BY_ID_SQL, ofOrder: RETURNS_OF_ORDER_SQL, format: formatReturn },
  claim: { answers: answersClaim, columns: "claimColumns", byId: CLAIM_SQL, format: formatClaim },
}

/**
 * The customer `id` with its addresses, and its orders that are not
 * cancelled (currency_code and Medusa's totals), read with one statement:
 * { customer, orders }, null when there is no such customer, undefined as
 * loadOrder.
 */
async function loadCustomer(ctx, id) {
  const r = await ready(ctx)
  if (!r) return undefined
  const row = await readRow(ctx, r, CUSTOMER_SQL, id, "customer")
  if (!row) return row
  const customer = { ...dates(row.customer), addresses: (row.addresses || []).map(dates) }
  return { customer, orders: (row.orders || []).map((o) => formatOrder(o, r.totals)) }
}

/**
 * The cart `id` with its addresses and customer, as the query graph gives
 * it for lib/v2/attribution.js CART_FIELDS and CART_LINK_FIELDS: the cart,
 * null when there is none, undefined as loadOrder.
 */
async function loadCart(ctx, id) {
  const r = await ready(ctx)
  if (!r) return undefined
  const row = await readRow(ctx, r, CART_SQL, id, "cart")
  if (!row) return row
  return { ...row.cart, shipping_address: dates(row.shipping_address), billing_address: dates(row.billing_address), customer: row.customer }
}

/** A payment as the query graph gives it with `refunds.*` and `refunds.refund_reason.*`. */
function formatPayment(p) {
  const refunds = (p.refunds || []).map(({ refund, reason }) => ({ ...dates(refund), refund_reason: dates(reason) || null }))
  return { ...dates(p), refunds }
}

/**
 * The payment `id` with its refunds, the id of the order its collection
 * belongs to, and every payment of that order with its refunds, read with
 * one statement: { payment, order_id, order_payments }, null when there is
 * no such payment, undefined as loadOrder.
 */
async function loadPayment(ctx, id) {
  const r = await ready(ctx)
  if (!r) return undefined
  const row = await readRow(ctx, r, PAYMENT_SQL, id, "payment")
  if (!row) return row
  return { payment: formatPayment(row.payment), order_id: row.order_id || null, order_payments: (row.order_payments || []).map(formatPayment) }
}

const loadExchanges = (ctx, fields, filter) => loadRelated(ctx, "exchange", fields, filter)
const loadReturns = (ctx, fields, filter) => loadRelated(ctx, "return", fields, filter)
const loadClaims = (ctx, fields, filter) => loadRelated(ctx, "claim", fields, filter)

module.exports = { answered, loadOrder, loadFulfillment, loadCart, loadCustomer, loadPayment, loadExchanges, loadReturns, loadClaims, answers, answersFulfillment, answersExchange, answersReturn, answersClaim, formatOrder, REQUIRED, ORDER_SQL, FULFILLMENT_SQL }
