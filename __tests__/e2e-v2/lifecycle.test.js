"use strict"
// End-to-end on Medusa 2.21.2 (Store/Admin APIs only, event-bus-redis, a
// Segment-compatible server on 127.0.0.1): the order lifecycle events, the
// customer identify with its state in the plugin's `segment` module (tables
// made by `medusa db:migrate`), every switchboard option, an event_map entry,
// auth.* never forwarded; then a restart on the same database. Every message
// received is validated against tracking-plan.json.
//
// Backend logs and Medusa's event log: .tmp/e2e-v2-logs/<run>/

const { describe, it, before, after } = require("node:test")
const assert = require("node:assert/strict")
const path = require("node:path")

const be = require("../../e2e/backend")
const v2 = require("../../e2e/v2/backend")
const { LifecycleApi } = require("../../e2e/v2/lifecycle-scenario")
const { startSegmentServer } = require("../support/segment-server")
const { checkAll } = require("../support/tracking-plan")
const { round2, approx } = require("./expect")

const WRITE_KEY = "e2eLifecycleWriteKey0123456789ab"
const OPTIONS_MODULE = path.join(__dirname, "..", "..", "e2e", "v2", "lifecycle-options.js")
const BASE = { write_key: WRITE_KEY, flush_at: 5, flush_interval: 250, reporting_currency: "EUR", shutdown_timeout: 5000 }
// JSON options of the first backend (exclude.emails, enrich and event_map come from lifecycle-options.js)
const FIRST = {
  ...BASE,
  order_completed_on: "captured",
  rename: { "Customer Created": "Signed Up" },
  events: { "Order Cancelled": false },
}
const LABELS = [
  { tracking_number: "TN-100", tracking_url: "https://track.example/TN-100", label_url: "#" },
  { tracking_number: "TN-101", tracking_url: "https://track.example/TN-101", label_url: "#" },
]

describe("Medusa 2.21.2: order lifecycle, customer identify with state, switchboard, event_map", { timeout: 30 * 60 * 1000 }, () => {
  let seg
  let backend
  let api
  const s = {} // what the flows did
  const timing = {}

  before(
    async () => {
      const t0 = Date.now()
      await v2.prepareBackend({ tarball: await be.packPlugin() })
      seg = await startSegmentServer({ port: 0 })
      const t1 = Date.now()
      backend = await v2.startBackend({
        mode: "plugin",
        eventBus: "redis",
        migrate: true,
        segmentOptions: { ...FIRST, host: seg.url },
        env: { E2E_SEGMENT_OPTIONS_MODULE: OPTIONS_MODULE },
      })
      timing.prepare = t1 - t0
      timing.start = Date.now() - t1
      api = new LifecycleApi(backend.url, backend.publishableKey)
    },
    { timeout: 20 * 60 * 1000 }
  )

  after(async () => {
    if (backend && !backend.exited) await backend.stop()
    if (seg) await seg.close()
    process.stderr.write(`[e2e-v2 lifecycle] timings (ms): ${JSON.stringify(timing)}\n`)
  })

  const ofOrder = (id) => seg.messages.filter((m) => m.properties && m.properties.order_id === id)
  const named = (id, event) => ofOrder(id).filter((m) => m.event === event)
  const customerIdentifies = () => seg.messages.filter((m) => m.type === "identify" && m.messageId.startsWith(`medusa-identify-${s.customer.id}-`))
  const emitted = (event, pred = () => true) => backend.events().filter((e) => e.event === event && pred(e.data || {}))
  /** Waits until `done()` (a truthy value) or fails with `what`. */
  async function until(what, done, ms = 60000) {
    const end = Date.now() + ms
    for (;;) {
      const v = done()
      if (v) return v
      if (Date.now() > end) throw new Error(`timed out waiting for ${what}; received: ${seg.messages.map((m) => m.event || m.type).join(", ")}; logs: ${backend.logDir}`)
      await be.sleep(200)
    }
  }
  /** Waits for Medusa to emit `event` (n times) and then for the plugin's calls to settle. */
  async function settle(event, n = 1, pred) {
    await until(`${n} x ${event} emitted`, () => emitted(event, pred).length >= n)
    await be.sleep(2500)
  }

  it("runs the flows through the Store and Admin APIs", { timeout: 10 * 60 * 1000 }, async () => {
    const t0 = Date.now()
    // a customer signs up and edits their profile (the second edit changes nothing)
    const reg = await api.registerCustomer({ email: "ada+lc@e2e.test" })
    s.customer = reg.customer
    s.token = reg.token
    await settle("customer.created", 1, (d) => d.id === s.customer.id)
    await api.updateMe(s.token, { first_name: "Adah" })
    await settle("customer.updated", 1, (d) => d.id === s.customer.id)
    await api.updateMe(s.token, { first_name: "Adah" })
    await settle("customer.updated", 2, (d) => d.id === s.customer.id)
    s.profileIdentifies = customerIdentifies().map((m) => m.traits)

    // L: the customer's order: captured, fulfilled, shipped with labels, delivered, updated, returned + refunded
    const L = (s.L = await api.placeOrder({ currency: "eur", token: s.token, items: [{ sku: "TSHIRT-BLACK-S", quantity: 2 }, { sku: "HOODIE-GREY-M", quantity: 1 }] }))
    await api.capture(L.id)
    const { fulfillment } = await api.fulfil(L.id)
    s.fulfillment = fulfillment
    await api.shipWithLabels(L.id, fulfillment, LABELS)
    await api.markDelivered(L.id, fulfillment.id)
    await api.updateOrder(L.id, { metadata: { gift_note: "happy birthday" } })
    const placedL = await api.getOrder(L.id)
    s.placedL = placedL
    const tshirt = placedL.items.find((i) => i.variant_sku === "TSHIRT-BLACK-S")
    s.return_id = (await api.returnItems(L.id, [{ id: tshirt.id, quantity: 1 }])).return_id
    const owed = -(await api.summary(L.id)).pending_difference
    s.owedL = owed
    assert.ok(owed > 0, `the store owes the customer for the return (${owed})`)
    s.refundL = await api.refund(L.id, owed) // pays out the received return

    // R: a refund without a return
    const R = (s.R = await api.placeOrder({ currency: "eur", email: "rita@e2e.test", items: [{ sku: "TSHIRT-BLACK-M", quantity: 1 }] }))
    await api.capture(R.id)
    s.refundR = await api.refund(R.id, 5)

    // E: an order edit (adds a hoodie), confirmed
    const E = (s.E = await api.placeOrder({ currency: "eur", email: "eve@e2e.test", items: [{ sku: "TSHIRT-BLACK-M", quantity: 1 }] }))
    await api.capture(E.id)
    await api.editOrderAddItem(E.id, { sku: "HOODIE-GREY-M", quantity: 1 })

    // T: a test order (flag from the cart's metadata); X: an excluded email; C: cancelled ("Order Cancelled" switched off)
    s.T = await api.placeOrderWithMetadata({ currency: "eur", email: "tess@e2e.test", items: [{ sku: "TSHIRT-BLACK-M", quantity: 1 }] }, { segment_test: true })
    await api.capture(s.T.id)
    s.X = await api.placeOrder({ currency: "eur", email: "xavier@excluded.e2e.test", items: [{ sku: "TSHIRT-BLACK-M", quantity: 1 }] })
    await api.capture(s.X.id)
    s.C = await api.placeOrder({ currency: "eur", email: "cal@e2e.test", items: [{ sku: "TSHIRT-BLACK-M", quantity: 1 }] })
    await api.cancel(s.C.id)

    // a wishlist plugin's event (event_map), and a password reset (auth.*: never forwarded)
    const { variants } = await api.loadCatalog()
    s.product = variants["TSHIRT-BLACK-S"].product
    await api.emit("wishlist.product_added", [s.product.id])
    await api.resetPassword("ada+lc@e2e.test")

    await settle("payment.refunded", 2)
    await settle("order.canceled", 1, (d) => d.id === s.C.id)
    await settle("auth.password_reset", 1)
    await settle("wishlist.product_added", 1)
    // the customer changes their phone: an identify with the order count and lifetime value of order L
    await api.updateMe(s.token, { phone: "+49 30 1234" })
    await settle("customer.updated", 3, (d) => d.id === s.customer.id)
    s.finalL = await api.getOrder(L.id)
    timing.flows = Date.now() - t0
  })

  it("Order Completed when the payment is captured (order_completed_on: captured), identify at order.placed", () => {
    const L = s.L
    const done = named(L.id, "Order Completed")
    assert.equal(done.length, 1)
    assert.equal(done[0].messageId, `medusa-order.placed-${L.id}`)
    const payment = s.placedL.payment_collections[0].payments[0]
    assert.equal(new Date(done[0].timestamp).toISOString(), new Date(payment.captured_at).toISOString(), "at the capture")
    assert.equal(seg.messages.filter((m) => m.messageId === `medusa-identify-${L.id}`).length, 1)
  })

  it("Fulfillment Created, Order Shipped with the labels' tracking (enriched), Order Delivered (enrich failed: the original)", () => {
    const L = s.L
    const [created] = named(L.id, "Fulfillment Created")
    assert.equal(named(L.id, "Fulfillment Created").length, 1)
    assert.equal(created.messageId, `medusa-order.fulfillment_created-${s.fulfillment.id}`)
    assert.equal(created.properties.fulfillment_id, s.fulfillment.id)
    assert.deepEqual(created.properties.products.map((p) => [p.variant, p.quantity]).sort(), [["HOODIE-GREY-M", 1], ["TSHIRT-BLACK-S", 2]])

    const shipped = named(L.id, "Order Shipped")
    assert.equal(shipped.length, 1)
    assert.deepEqual(shipped[0].properties.tracking_numbers, ["TN-100", "TN-101"])
    assert.deepEqual(shipped[0].properties.tracking_urls, ["https://track.example/TN-100", "https://track.example/TN-101"])
    assert.deepEqual(shipped[0].properties.enriched, { event: "shipment.created", order_display_id: L.id.slice(0, 6) }, "enrich ran, async, with the order")

    const delivered = named(L.id, "Order Delivered")
    assert.equal(delivered.length, 1)
    assert.equal(delivered[0].messageId, `medusa-delivery.created-${s.fulfillment.id}`)
    const f = s.placedL.fulfillments.find((x) => x.id === s.fulfillment.id)
    assert.equal(new Date(delivered[0].timestamp).toISOString(), new Date(f.delivered_at).toISOString())
    assert.deepEqual(delivered[0].properties.tracking_numbers, ["TN-100", "TN-101"])
    assert.ok(!("enriched" in delivered[0].properties), "enrich threw: the original message was sent")
    assert.match(backend.logs(), /enrich\(Order Delivered\) failed, the message is sent as built: e2e: enrich fails on purpose/)
  })

  it("Order Updated: one per order.updated of the order, and one for the confirmed order edit", () => {
    const L = s.L
    const updates = emitted("order.updated", (d) => d.id === L.id).length
    assert.ok(updates >= 1, "Medusa emitted order.updated for the admin edit")
    const mine = named(L.id, "Order Updated")
    assert.equal(new Set(mine.map((m) => m.messageId)).size, mine.length, "distinct messageIds")
    assert.equal(mine.length, updates, "one Order Updated per order.updated")
    const gift = mine.find((m) => m.messageId.startsWith(`medusa-order.updated-${L.id}-`))
    assert.ok(gift)

    const E = s.E
    const edits = named(E.id, "Order Updated").filter((m) => m.messageId.startsWith("medusa-order-edit.confirmed-"))
    assert.equal(edits.length, 1)
    const [confirmed] = emitted("order-edit.confirmed", (d) => d.order_id === E.id)
    assert.equal(edits[0].messageId, `medusa-order-edit.confirmed-${confirmed.data.actions[0].id}`)
    assert.ok(edits[0].properties.order_version >= 2, "the order's version after the edit")
    assert.deepEqual(edits[0].properties.products.map((p) => p.variant).sort(), ["HOODIE-GREY-M", "TSHIRT-BLACK-M"], "after the edit")
  })

  it("Return Requested, then one Order Refunded for a return that is also refunded", () => {
    const L = s.L
    const requested = named(L.id, "Return Requested")
    assert.equal(requested.length, 1)
    assert.equal(requested[0].messageId, `medusa-order.return_requested-${s.return_id}`)
    assert.equal(requested[0].properties.return_id, s.return_id)
    const refunded = named(L.id, "Order Refunded")
    assert.equal(refunded.length, 1, "the return's refund is not a second Order Refunded")
    assert.equal(refunded[0].messageId, `medusa-order.return_received-${s.return_id}`)
    approx(refunded[0].properties.total, round2(s.owedL), "the refunded amount")
    assert.equal(emitted("payment.refunded", (d) => d.id === s.refundL.payment_id).length, 1, "Medusa emitted payment.refunded for it")
    assert.match(backend.logs(), /pays out a received return, already sent as Order Refunded/)
  })

  it("Order Refunded from payment.refunded for money refunded without a return", async () => {
    const R = await api.getOrder(s.R.id)
    const refunded = named(R.id, "Order Refunded")
    assert.equal(refunded.length, 1)
    const refund = s.refundR.payment.refunds[0]
    assert.equal(refunded[0].messageId, `medusa-payment.refunded-${refund.id}`)
    assert.equal(refunded[0].properties.total, 5)
    assert.equal(refunded[0].properties.reporting_total, 5)
    assert.equal(refunded[0].properties.refund_id, refund.id)
    assert.equal(refunded[0].userId, R.customer_id, "the order's customer (2.x guests have a customer record)")
  })

  it("customer sign-up: identify with the traits + Customer Created (renamed Signed Up); one identify per change", () => {
    const c = s.customer
    const ids = s.profileIdentifies
    assert.equal(ids.length, 2, `sign-up and one change (the second update changed nothing): ${ids.map((t) => t.firstName)}`)
    assert.deepEqual(ids.map((t) => t.firstName), ["Ada", "Adah"])
    assert.equal(ids[0].email, "ada+lc@e2e.test")
    assert.equal(ids[0].has_account, true)
    assert.equal(ids[0].orders_count, 0)
    assert.equal(ids[0].lifetime_value, 0)
    assert.equal(ids[0].lifetime_value_currency, "EUR")
    assert.equal(emitted("customer.updated", (d) => d.id === c.id).length, 3, "Medusa emitted the three updates")
    const all = customerIdentifies()
    assert.equal(all.length, 3, "the phone change: one more")
    assert.equal(all[2].traits.phone, "+49 30 1234")
    assert.equal(all[2].traits.orders_count, 1, "order L")
    approx(all[2].traits.lifetime_value, round2(s.finalL.total), "lifetime value: order L's total (EUR)")
    const signedUp = seg.messages.filter((m) => m.event === "Signed Up" && m.userId === c.id)
    assert.equal(signedUp.length, 1)
    assert.equal(signedUp[0].messageId, `medusa-customer.created-${c.id}`)
    assert.equal(seg.messages.filter((m) => m.event === "Customer Created").length, 0, "renamed")
  })

  it("exclude (test order, email) and events (Order Cancelled off): nothing about those orders", () => {
    for (const k of ["T", "X", "C"]) assert.deepEqual(ofOrder(s[k].id).map((m) => m.event), [], `order ${k}`)
    assert.ok(emitted("payment.captured", (d) => true).length >= 5)
    assert.ok(emitted("order.canceled", (d) => d.id === s.C.id).length === 1, "Medusa emitted order.canceled")
    const log = backend.logs()
    assert.match(log, /not sent: excluded test_order/)
    assert.match(log, /not sent: excluded email/)
  })

  it("event_map: a wishlist plugin's event becomes a track with query-graph fields", () => {
    const got = seg.messages.filter((m) => m.event === "Product Added to Wishlist")
    assert.equal(got.length, 1)
    assert.deepEqual(got[0].properties, { product_id: s.product.id, name: s.product.title, handle: s.product.handle })
    assert.equal(got[0].anonymousId, `wishlist.product_added-${s.product.id}`)
    assert.equal(got[0].messageId, `medusa-wishlist.product_added-${s.product.id}`)
  })

  it("auth.*: the password reset token reaches Segment in no message", () => {
    const [reset] = emitted("auth.password_reset")
    assert.ok(reset && reset.data.token, "Medusa emitted auth.password_reset with a token")
    const all = JSON.stringify(seg.batches.map((b) => b.body))
    assert.ok(!all.includes(reset.data.token), "the token is in no batch")
    assert.equal(seg.messages.filter((m) => /password|auth/i.test(m.event || "")).length, 0)
  })

  it("every message received conforms to tracking-plan.json", () => {
    const messages = seg.messages.map((m) => {
      if (!m.properties || !("enriched" in m.properties)) return m
      const { enriched, ...rest } = m.properties // added by this test's enrich hook
      return { ...m, properties: rest }
    })
    assert.ok(messages.length > 10, `${messages.length} messages`)
    assert.deepEqual(checkAll(messages, { renamed: { "Signed Up": "Customer Created" }, skip: (m) => m.event === "Product Added to Wishlist" }), [])
  })

  it("after a restart on the same database: no identify without a change, one with; events by Medusa name; sales channel excluded; customer.deleted", { timeout: 8 * 60 * 1000 }, async () => {
    const exit = await backend.stop({ keepDb: true })
    assert.equal(exit.code, 0)
    const channel = be.psql("SELECT id FROM sales_channel ORDER BY created_at LIMIT 1", backend.dbName)
    assert.match(channel, /^sc_/)
    const t0 = Date.now()
    backend = await v2.startBackend({
      mode: "plugin",
      eventBus: "redis",
      database: backend.dbName,
      segmentOptions: { ...BASE, host: seg.url, events: { "order.updated": false }, exclude: { sales_channel_ids: [channel] } },
    })
    timing.restart = Date.now() - t0
    api = new LifecycleApi(backend.url, backend.publishableKey)
    const c = s.customer
    const identifies = customerIdentifies
    const before = seg.messages.length

    await api.updateMe(s.token, { phone: "+49 30 1234" }) // no change
    await settle("customer.updated", 1, (d) => d.id === c.id)
    assert.equal(identifies().length, 3, "no identify after the restart: the state survived it")
    await api.updateMe(s.token, { last_name: "Byron" })
    await settle("customer.updated", 2, (d) => d.id === c.id)
    assert.equal(identifies().length, 4)
    assert.equal(identifies()[3].traits.lastName, "Byron")

    await api.updateOrder(s.L.id, { metadata: { gift_note: "changed" } })
    await settle("order.updated", 1, (d) => d.id === s.L.id)
    const S = await api.placeOrder({ currency: "eur", email: "sal@e2e.test", items: [{ sku: "TSHIRT-BLACK-M", quantity: 1 }] })
    await settle("order.placed", 1, (d) => d.id === S.id)
    assert.deepEqual(seg.messages.slice(before).filter((m) => m.type === "track").map((m) => m.event), [], "order.updated switched off; the sales channel excluded")
    assert.match(backend.logs(), /not sent: excluded sales_channel/)

    await api.deleteCustomer(c.id)
    await settle("customer.deleted", 1, (d) => d.id === c.id)
    assert.equal(be.psql(`SELECT stopped FROM segment_identify_state WHERE customer_id = '${c.id}'`, backend.dbName), "t")
    assert.deepEqual(checkAll(seg.messages.slice(before)), [])
    assert.ok(!backend.logs().includes(WRITE_KEY), "the write key never appears in the backend's output")
  })

  it("a bad switchboard option stops the start, with an error naming the option", { timeout: 5 * 60 * 1000 }, async () => {
    let bad = null
    await assert.rejects(
      (async () => {
        bad = await v2.startBackend({ mode: "plugin", eventBus: "redis", segmentOptions: { ...BASE, host: seg.url, exclude: { emails: "qa@shop.test" } } })
      })(),
      /invalid option `exclude.emails`: must be an array of RegExps or strings/
    )
    if (bad && !bad.exited) await bad.stop()
  })
})
