"use strict"
// End-to-end on Medusa 2.21.2: the cart and checkout events (docs/funnel.md).
// The packed package installed into a real 2.x backend (e2e/v2/), its module
// `segment` migrated by `medusa db:migrate`, Medusa's Redis event bus; a
// storefront journey through the Store API (e2e/v2/funnel.js) and a
// Segment-compatible server on 127.0.0.1 as the sink. Twice: one Medusa
// process, then two processes (API + subscribers, and a worker) consuming
// the same events, with cart.updated re-emitted ten times at the quantity
// change so that both race for the same transition.
//
//   E2E_FUNNEL_TOPOLOGIES=one|two   run one topology only
// Logs: .tmp/e2e-v2-logs/<run>/ (server.log, worker-1.log, events.jsonl)

const { checkAll } = require("../support/tracking-plan")
const { describe, it, before, after } = require("node:test")
const assert = require("node:assert/strict")
const fs = require("node:fs")
const path = require("node:path")

const be = require("../../e2e/backend")
const v2 = require("../../e2e/v2/backend")
const { MedusaV2Api } = require("../../e2e/v2/scenario")
const { createPromotion, runJourney } = require("../../e2e/v2/funnel")
const { startSegmentServer } = require("../support/segment-server")
const { round2, approx } = require("./expect")

const WRITE_KEY = "e2eV2FunnelKey0123456789abcdefXYZ"
const FUNNEL = new Set(["Product Added", "Product Removed", "Checkout Started", "Checkout Step Completed", "Payment Info Entered", "Coupon Applied", "Coupon Removed"])
const TOPOLOGIES = [
  { key: "one", name: "one Medusa process", workerModes: ["shared"] },
  { key: "two", name: "two processes (API + subscribers, and a worker) consuming cart.updated", workerModes: ["shared", "worker"] },
].filter((t) => !process.env.E2E_FUNNEL_TOPOLOGIES || process.env.E2E_FUNNEL_TOPOLOGIES.split(",").includes(t.key))

const line = (cart, variantId) => cart.items.find((i) => i.variant_id === variantId)
const discountOf = (cart, code) => round2(cart.items.flatMap((i) => i.adjustments || []).filter((a) => a.code === code).reduce((s, a) => s + Number(a.amount), 0))

/** What the sink must hold for the journey, one entry per message: [key, properties to check]. */
function expected(j, promo) {
  const s = j.steps
  const tshirt = line(s.created, j.tshirtLine.variant_id)
  const hoodie = line(s.hoodie, j.hoodieLine.variant_id)
  const product = (l, quantity) => ({
    cart_id: j.cart_id,
    product_id: l.product_id,
    variant_id: l.variant_id,
    sku: l.variant_sku,
    name: l.product_title,
    variant: l.variant_title,
    price: round2(Number(l.unit_price)),
    quantity,
    currency: "EUR",
  })
  const coupon = { cart_id: j.cart_id, coupon_id: promo.id, coupon_name: promo.code, discount: discountOf(s.applied, promo.code), currency: "EUR" }
  const shippingName = s.shipping.shipping_methods[0].name
  const step = (n, name, shipping, payment) => ({ cart_id: j.cart_id, checkout_id: j.cart_id, step: n, step_name: name, shipping_method: shipping, payment_method: payment })
  return [
    [`Product Added:${tshirt.variant_id}:1`, product(tshirt, 1)],
    [`Product Added:${hoodie.variant_id}:1`, product(hoodie, 1)],
    [`Product Added:${tshirt.variant_id}:2`, product(tshirt, 2)],
    [`Product Removed:${hoodie.variant_id}:1`, product(hoodie, 1)],
    ["Coupon Applied", coupon],
    ["Coupon Removed", coupon],
    ["Checkout Started", null],
    ["Checkout Step Completed:1", step(1, "address", null, null)],
    ["Checkout Step Completed:2", step(2, "shipping", shippingName, null)],
    ["Checkout Step Completed:3", step(3, "payment", shippingName, "pp_system_default")],
    ["Payment Info Entered", { cart_id: j.cart_id, checkout_id: j.cart_id, step: 3, shipping_method: shippingName, payment_method: "pp_system_default" }],
  ]
}

function keyOf(m) {
  const p = m.properties || {}
  if (m.event === "Product Added" || m.event === "Product Removed") return `${m.event}:${p.variant_id}:${p.quantity}`
  if (m.event === "Checkout Step Completed") return `${m.event}:${p.step}`
  return m.event
}

describe("Medusa 2.21.2: cart and checkout events from a storefront journey", { timeout: 30 * 60 * 1000 }, () => {
  let seg
  before(
    async () => {
      const tarball = await be.packPlugin()
      await v2.prepareBackend({ tarball })
      seg = await startSegmentServer({ port: 0 })
    },
    { timeout: 20 * 60 * 1000 }
  )
  after(async () => {
    if (seg) await seg.close()
  })

  for (const topo of TOPOLOGIES) {
    it(`each funnel event exactly once, with the spec's properties: ${topo.name}`, { timeout: 10 * 60 * 1000 }, async () => {
      const backend = await v2.startBackend({
        mode: "plugin",
        eventBus: "redis",
        migrate: true,
        workerModes: topo.workerModes,
        segmentOptions: { write_key: WRITE_KEY, host: seg.url, flush_at: 5, flush_interval: 200, events: { funnel: true } },
      })
      try {
        const api = new MedusaV2Api(backend.url, backend.publishableKey)
        const promo = await createPromotion(api, `WELCOME-${topo.key.toUpperCase()}`)
        // ten more cart.updated for the cart at once, right after the store's own
        const burst = (id) => api.admin("POST", "/bench/emit", { event: "cart.updated", ids: Array(10).fill(id) })
        const j = await runJourney(api, { promoCode: promo.code, email: `funnel-${topo.key}@e2e.test`, afterQuantity: burst })
        const want = expected(j, promo)
        const ofCart = () => seg.messages.filter((m) => m.type === "track" && FUNNEL.has(m.event) && m.properties && m.properties.cart_id === j.cart_id)
        const until = Date.now() + 90000
        while (ofCart().length < want.length && Date.now() < until) await be.sleep(200)
        // events handled late would arrive now; so would a duplicate
        await be.sleep(2000)
        const got = ofCart()
        const keys = got.map(keyOf).sort()
        assert.deepEqual(keys, want.map(([k]) => k).sort(), `the funnel of cart ${j.cart_id}, once each (logs: ${backend.logDir})`)
        assert.equal(new Set(got.map((m) => m.messageId)).size, got.length, "distinct messageIds")
        assert.deepEqual(checkAll(got), [], "every funnel message conforms to tracking-plan.json")
        const byKey = new Map(got.map((m) => [keyOf(m), m]))
        for (const [k, props] of want) if (props) assert.deepEqual(byKey.get(k).properties, props, k)

        // Checkout Started: the cart's totals right after the address step, as the Store API shows them
        const started = byKey.get("Checkout Started").properties
        const atAddress = j.steps.address
        approx(started.value, round2(atAddress.total), "value")
        approx(started.tax, round2(atAddress.tax_total), "tax")
        approx(started.shipping, round2(atAddress.shipping_total), "shipping")
        approx(started.discount, round2(atAddress.discount_total), "discount")
        approx(started.revenue, round2(atAddress.total - atAddress.shipping_total - atAddress.tax_total), "revenue")
        assert.equal(started.currency, "EUR")
        assert.equal(started.coupon, null, "the code was removed before checkout")
        assert.deepEqual(started.products.map((p) => [p.variant_id, p.quantity]), [[j.tshirtLine.variant_id, 3]])

        // identity: the cart's anonymousId throughout; the (guest) customer's id once the email made one
        for (const m of got) assert.equal(m.anonymousId, `cart-${j.cart_id}`)
        const customerId = j.steps.address.customer_id
        assert.ok(customerId, "Medusa gives the guest cart a customer with the email")
        assert.equal(byKey.get("Payment Info Entered").userId, customerId)

        // Medusa emitted what the plugin relies on; the hooks' own events came from the middleware
        const log = backend.events()
        const count = (name) => log.filter((e) => e.event === name && (e.data.id === j.cart_id || name === "segment.payment-session-created")).length
        assert.ok(count("cart.updated") >= 15, "the store's cart.updated (5) and the burst's (10)")
        assert.equal(count("segment.cart-promotions-updated"), 2, "apply + remove")
        assert.equal(count("segment.payment-session-created"), 1)
        if (topo.workerModes.length > 1) {
          const roles = new Set(log.filter((e) => e.event === "cart.updated" && e.data.id === j.cart_id).map((e) => e.role))
          assert.deepEqual([...roles].sort(), ["shared", "worker"], "both processes handled this cart's cart.updated")
        }

        // the completed cart's state is gone; a late cart.updated for it sends nothing
        const stateRows = () => Number(be.psql(`SELECT count(*) FROM segment_cart_state WHERE id = '${j.cart_id}'`, backend.dbName))
        const gone = Date.now() + 30000
        while (stateRows() !== 0 && Date.now() < gone) await be.sleep(200)
        assert.equal(stateRows(), 0, "the completed cart's state was pruned")
        const before = ofCart().length
        await api.admin("POST", "/bench/emit", { event: "cart.updated", ids: [j.cart_id, j.cart_id] })
        await be.sleep(3000)
        assert.equal(ofCart().length, before, "nothing new for a completed cart")
        const logs = fs.readdirSync(backend.logDir).filter((f) => f.endsWith(".log")).map((f) => fs.readFileSync(path.join(backend.logDir, f), "utf8"))
        assert.doesNotMatch(logs.join("\n"), /cannot track the funnel|cannot emit segment/)
      } finally {
        await backend.stop()
      }
    })
  }
})
