"use strict"

// The 2.x lifecycle events (lib/v2/lifecycle.js) and customers
// (lib/v2/customers.js) on query-graph data shaped like 2.21.2's: properties,
// deterministic messageIds, the refund-vs-return rule, Order Completed on
// capture, identify only on a change (with a stand-in for the segment
// module's claim), and every message valid against tracking-plan.json.

const test = require("node:test")
const assert = require("node:assert/strict")

const { buildCalls } = require("../../lib/v2/events")
const { recordingLogger } = require("../medusa/fixtures")
const { fakeQuery, container, orderEur } = require("./fixtures")
const { checkAll } = require("../support/tracking-plan")

const OPTIONS = { write_key: "wk_lifecycle_unit_0123456789", host: "http://127.0.0.1:9", flush_interval: 60000, spool_dir: false }

/** fakeQuery plus the entities the lifecycle reads (payment, payment_collection, customer): rows filtered by equality. */
function query(extra = {}, base = {}) {
  const q = fakeQuery(base)
  const graph = q.graph
  q.graph = async (args) => {
    if (!extra[args.entity]) return graph(args)
    q.calls.push({ entity: args.entity, fields: [...args.fields], filters: args.filters })
    const rows = extra[args.entity].filter((r) => Object.entries(args.filters || {}).every(([k, v]) => r[k] === v))
    return { data: JSON.parse(JSON.stringify(rows)) }
  }
  return q
}

async function calls(event, data, q, { options = OPTIONS, registrations = {} } = {}) {
  const logger = recordingLogger()
  const out = await buildCalls(event, data, container({ query: q, logger, ...registrations }), options)
  // as the sink sees them (Dates as strings), stripped of what is not sent
  return out.map((c) => ({ ...JSON.parse(JSON.stringify(c.message)), type: c.method }))
}

// read in an order that says nothing (random ids): the message lists them by tracking number
const labels = [
  { id: "flbl_1", tracking_number: "TN-2", tracking_url: "https://track.example/TN-2", label_url: "#" },
  { id: "flbl_2", tracking_number: "TN-1", tracking_url: "https://track.example/TN-1", label_url: "#" },
]
const ful = { id: "ful_9", created_at: "2026-12-02T08:00:00.000Z", shipped_at: null, delivered_at: "2026-12-03T08:00:00.000Z", items: [{ id: "fi_9", line_item_id: "ordli_2", quantity: 1 }], labels, order: { id: "order_eur" } }

test("Fulfillment Created and Order Delivered: the fulfillment's lines and its labels' tracking", async () => {
  const q = query({}, { fulfillment: [ful] })
  const [created] = await calls("order.fulfillment_created", { order_id: "order_eur", fulfillment_id: "ful_9", no_notification: false }, q)
  assert.equal(created.event, "Fulfillment Created")
  assert.equal(created.messageId, "medusa-order.fulfillment_created-ful_9")
  assert.equal(created.timestamp, "2026-12-02T08:00:00.000Z")
  assert.equal(created.properties.fulfillment_id, "ful_9")
  assert.deepEqual(created.properties.products.map((p) => [p.variant, p.quantity]), [["SWEAT-PANTS-M", 1]])
  assert.deepEqual(created.properties.tracking_numbers, ["TN-1", "TN-2"])
  const [delivered] = await calls("delivery.created", { id: "ful_9" }, q)
  assert.equal(delivered.event, "Order Delivered")
  assert.equal(delivered.messageId, "medusa-delivery.created-ful_9")
  assert.equal(delivered.timestamp, "2026-12-03T08:00:00.000Z")
  assert.deepEqual(delivered.properties.tracking_urls, ["https://track.example/TN-1", "https://track.example/TN-2"])
  assert.deepEqual(checkAll([created, delivered]), [])
})

test("Order Updated: order.updated (messageId from updated_at) and order-edit.confirmed (from the order change)", async () => {
  const q = query({}, { order: [{ ...orderEur, updated_at: new Date("2026-12-04T10:00:00.000Z"), version: 3 }] })
  const [u] = await calls("order.updated", { id: "order_eur" }, q)
  assert.equal(u.event, "Order Updated")
  assert.equal(u.messageId, `medusa-order.updated-order_eur-${Date.parse("2026-12-04T10:00:00.000Z")}`)
  assert.equal(u.properties.total, 51.17)
  assert.equal(u.properties.order_version, 3)
  // 2.21.2's payload: the change's actions (ids ordchact_...), no change id
  const [e] = await calls("order-edit.confirmed", { order_id: "order_eur", actions: [{ id: "ordchact_7", order_id: "order_eur", action: "ITEM_ADD", details: { quantity: 1 } }] }, q)
  assert.equal(e.messageId, "medusa-order-edit.confirmed-ordchact_7")
  const [v] = await calls("order-edit.confirmed", { order_id: "order_eur", actions: [] }, q)
  assert.equal(v.messageId, "medusa-order-edit.confirmed-order_eur-v3", "no action: the order's version")
  assert.deepEqual(checkAll([u, e, v]), [])
})

test("Return Requested: the requested lines, total = the refund they would bring", async () => {
  const requested = { id: "return_rq", order_id: "order_eur", refund_amount: null, requested_at: "2026-12-05T09:00:00.000Z", received_at: null, items: [{ id: "ri_1", item_id: "ordli_1", quantity: 1, received_quantity: 0, reason: { id: "rr_1", value: "too_big" } }], shipping_methods: [] }
  const q = query({}, { return: [requested] })
  const [r] = await calls("order.return_requested", { order_id: "order_eur", return_id: "return_rq" }, q)
  assert.equal(r.event, "Return Requested")
  assert.equal(r.messageId, "medusa-order.return_requested-return_rq")
  assert.equal(r.properties.return_id, "return_rq")
  // one T-shirt: 10 - 1 discount = 9 net, + 19% VAT = 10.71
  assert.equal(r.properties.total, 10.71)
  assert.deepEqual(r.properties.products.map((p) => [p.variant, p.quantity, p.reason_value]), [["SHIRT-S", 1, "too_big"]])
  assert.deepEqual(checkAll([r]), [])
})

// order_eur's return_1 (1 T-shirt received) is worth 10.71 (fixtures).
function refundWorld(refunds) {
  const payments = [{ id: "pay_1", amount: 51.17, currency_code: "eur", captured_at: "2026-11-30T09:05:00.000Z", payment_collection_id: "paycol_1", refunds }]
  return query(
    { payment: payments, payment_collection: [{ id: "paycol_1", order: { id: "order_eur" } }] },
    { order: [{ ...orderEur, payment_collections: [{ id: "paycol_1", payments }] }] }
  )
}

test("payment.refunded: a refund that pays out a received return is not a second Order Refunded", async () => {
  const q = refundWorld([{ id: "ref_1", amount: 10.71, created_at: "2026-12-01T00:00:00.000Z" }])
  assert.deepEqual(await calls("payment.refunded", { id: "pay_1" }, q), [])
})

test("payment.refunded: money refunded without a return is Order Refunded with the refunded amount", async () => {
  // the return's 10.71 was paid out by ref_1; ref_2 (5.00) is on top of it
  const q = refundWorld([
    { id: "ref_1", amount: 10.71, created_at: "2026-12-01T00:00:00.000Z" },
    { id: "ref_2", amount: 5, created_at: "2026-12-02T00:00:00.000Z", note: "goodwill", refund_reason: { label: "Goodwill" } },
  ])
  const [r] = await calls("payment.refunded", { id: "pay_1" }, q)
  assert.equal(r.event, "Order Refunded")
  assert.equal(r.messageId, "medusa-payment.refunded-ref_2")
  assert.equal(r.timestamp, "2026-12-02T00:00:00.000Z")
  assert.equal(r.properties.total, 5)
  assert.equal(r.properties.reporting_total, 5)
  assert.equal(r.properties.refund_id, "ref_2")
  assert.equal(r.properties.refund_reason, "Goodwill")
  assert.equal(r.properties.note, "goodwill")
  assert.deepEqual(r.properties.products, [], "a partial refund names no items")
  assert.equal(r.properties.revenue, null)
  assert.deepEqual(checkAll([r]), [])
})

test("payment.refunded: a refund larger than the return's credit reports only the rest", async () => {
  const q = refundWorld([{ id: "ref_3", amount: 20.71, created_at: "2026-12-01T00:00:00.000Z" }])
  const [r] = await calls("payment.refunded", { id: "pay_1" }, q)
  assert.equal(r.properties.total, 10)
})

test("order_completed_on: captured: order.placed sends only the identify, payment.captured the Order Completed", async () => {
  const options = { ...OPTIONS, order_completed_on: "captured" }
  const q = refundWorld([])
  const placed = await calls("order.placed", { id: "order_eur" }, q, { options })
  assert.deepEqual(placed.map((m) => m.type), ["identify"])
  const captured = await calls("payment.captured", { id: "pay_1" }, q, { options })
  const t = captured.find((m) => m.type === "track")
  assert.equal(t.event, "Order Completed")
  assert.equal(t.messageId, "medusa-order.placed-order_eur", "the same id as when sent on order.placed")
  assert.equal(t.timestamp, "2026-11-30T09:05:00.000Z", "at the capture")
  // with the default, payment.captured sends nothing
  assert.deepEqual(await calls("payment.captured", { id: "pay_1" }, q), [])
  assert.deepEqual(checkAll(captured), [])
})

test("customers: identify with rich traits only when they changed, Customer Created, stopped by customer.deleted", async () => {
  const customer = {
    id: "cus_new",
    email: "new@shop.test",
    first_name: "Ada",
    last_name: "Lovelace",
    phone: "+44 1",
    created_at: "2026-12-01T00:00:00.000Z",
    has_account: true,
    addresses: [{ id: "a1", address_1: "1 Main St", city: "London", country_code: "gb", postal_code: "N1", is_default_shipping: true, is_default_billing: false }],
  }
  const q = query({ customer: [customer] }, { order: [{ ...orderEur, customer_id: "cus_new", status: "pending" }, { ...orderEur, id: "o2", customer_id: "cus_new", status: "canceled" }] })
  // stand-in for the segment module's atomic claim (the real one is SQL; the e2e runs it)
  const seen = new Map()
  const stopped = new Set()
  const segment = {
    async claimIdentify(id, hash) {
      if (stopped.has(id) || seen.get(id) === hash) return false
      seen.set(id, hash)
      return true
    },
    async stopIdentify(id) {
      stopped.add(id)
    },
  }
  const registrations = { segment }
  const created = await calls("customer.created", { id: "cus_new" }, q, { registrations })
  assert.deepEqual(created.map((m) => m.type + ":" + (m.event || "")), ["identify:", "track:Customer Created"])
  const id = created[0]
  assert.equal(id.userId, "cus_new")
  assert.deepEqual(id.traits, {
    email: "new@shop.test",
    firstName: "Ada",
    lastName: "Lovelace",
    phone: "+44 1",
    createdAt: "2026-12-01T00:00:00.000Z",
    has_account: true,
    orders_count: 1,
    lifetime_value: 51.17,
    lifetime_value_currency: "EUR",
    default_shipping_address: { street: "1 Main St", street2: null, city: "London", postal_code: "N1", state: null, country: "gb", company: null, phone: null },
    default_billing_address: null,
  })
  assert.match(id.messageId, /^medusa-identify-cus_new-[0-9a-f]{16}$/)
  assert.equal(created[1].messageId, "medusa-customer.created-cus_new")
  assert.deepEqual(created[1].properties, { customer_id: "cus_new", email: "new@shop.test", has_account: true })
  assert.deepEqual(checkAll(created), [])

  assert.deepEqual(await calls("customer.updated", { id: "cus_new" }, q, { registrations }), [], "no change: no identify")
  customer.first_name = "Augusta"
  const changed = await calls("customer.updated", { id: "cus_new" }, q, { registrations })
  assert.equal(changed.length, 1)
  assert.equal(changed[0].traits.firstName, "Augusta")
  assert.notEqual(changed[0].messageId, id.messageId)
  await calls("customer.deleted", { id: "cus_new" }, q, { registrations })
  customer.first_name = "Ada"
  assert.deepEqual(await calls("customer.updated", { id: "cus_new" }, q, { registrations }), [], "after customer.deleted: none")
})

test("without the segment module the identify is still sent (warned once), its messageId from the traits", async () => {
  const customer = { id: "cus_x", email: "x@shop.test", created_at: "2026-12-01T00:00:00.000Z", addresses: [] }
  const q = query({ customer: [customer] }, { order: [] })
  const a = await calls("customer.updated", { id: "cus_x" }, q)
  const b = await calls("customer.updated", { id: "cus_x" }, q)
  assert.equal(a.length, 1)
  assert.equal(a[0].messageId, b[0].messageId, "the same traits: the same messageId (Segment drops the repeat)")
})
