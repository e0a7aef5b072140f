"use strict"
// End-to-end on Medusa 2.21.2: browser identity and consent. A shopper's
// visit in headless Chromium (real analytics.js, the GA4/Meta cookies, a
// landing URL with gclid/fbclid) gives the cart metadata built by
// medusa-plugin-segment-rs/storefront; the storefront sends it with the cart
// through the Store API, the order goes through the Admin API, and the local
// Segment-compatible server must receive every call about that order with the
// browser's ids, the consent, the traits and the shopper's ip/user agent,
// exactly once. Then: consent false under consent_mode "drop" and
// "anonymize" (a second backend), and a bad metadata value.
//
// Backend log and Medusa's own event log: .tmp/e2e-v2-logs/<run>/

const { checkAll } = require("../support/tracking-plan")
const { describe, it, before, after } = require("node:test")
const assert = require("node:assert/strict")

const be = require("../../e2e/backend")
const v2 = require("../../e2e/v2/backend")
const { MedusaV2Api } = require("../../e2e/v2/scenario")
const { startSegmentServer } = require("../support/segment-server")
const storefront = require("../support/storefront-page")

const WRITE_KEY = "e2eV2AttributionKey0123456789abc"
const ADDRESS = {
  first_name: "Grace",
  last_name: "Hopper",
  address_1: "Unter den Linden 1",
  city: "Berlin",
  country_code: "de",
  postal_code: "10117",
  province: "be",
  phone: "+49301234567",
}
const TRAITS = {
  email: null, // set per order
  phone: "+49301234567",
  firstName: "Grace",
  lastName: "Hopper",
  address: { street: "Unter den Linden 1", city: "Berlin", state: "be", postalCode: "10117", country: "DE" },
}

const options = (mode) => ({
  write_key: WRITE_KEY,
  flush_at: 5,
  flush_interval: 250,
  consent_category: "analytics",
  consent_mode: mode,
})

const skip = storefront.chromiumMissing()

describe("Medusa 2.21.2: a storefront's browser ids and consent reach Segment on every call about the order", { skip, timeout: 40 * 60 * 1000 }, () => {
  let seg
  let backend
  let api
  let visit
  const timing = {}

  before(
    async () => {
      const t0 = Date.now()
      visit = await storefront.storefrontVisit()
      timing.browser = Date.now() - t0
      await v2.prepareBackend({ tarball: await be.packPlugin() })
      seg = await startSegmentServer({ port: 0 })
      const t1 = Date.now()
      backend = await v2.startBackend({ mode: "plugin", eventBus: "redis", segmentOptions: { ...options("drop"), host: seg.url } })
      timing.start = Date.now() - t1
      api = new MedusaV2Api(backend.url, backend.publishableKey)
    },
    { timeout: 25 * 60 * 1000 }
  )

  after(async () => {
    if (backend && !backend.exited) await backend.stop()
    if (seg) await seg.close()
    process.stderr.write(`[e2e-v2 attribution] timings (ms): ${JSON.stringify(timing)}\n`)
  })

  const ofOrder = (id) => seg.messages.filter((m) => (m.properties && m.properties.order_id === id) || (m.messageId || "").endsWith(`-${id}`))
  async function waitFor(what, pred, timeoutMs = 60000) {
    const until = Date.now() + timeoutMs
    for (;;) {
      const got = seg.messages.filter(pred)
      if (got.length) return got
      if (Date.now() > until) throw new Error(`timed out waiting for ${what}; received: ${seg.messages.map((m) => m.event || m.type).join(", ")}; logs: ${backend.logDir}`)
      await be.sleep(100)
    }
  }
  const shopper = () => ({ "user-agent": visit.userAgent })

  it("the browser helper ran in Chromium: analytics.js's id and every contract key", () => {
    assert.deepEqual(visit.errors, [])
    assert.deepEqual(visit.outside, [], "the page stayed on the loopback")
    assert.match(visit.anonymousId, /^[0-9a-f-]{36}$/)
    assert.deepEqual(Object.keys(visit.metadata).sort(), [
      "fbc", "fbp", "ga_client_id", "ga_session_id", "ga_session_number", "gclid", "segment_anonymous_id", "segment_consent",
    ])
  })

  it("identify, Order Completed, Fulfillment Created, Shipped, Return Requested and Refunded carry the browser's ids, consent, traits, ip and user agent, once each", { timeout: 5 * 60 * 1000 }, async () => {
    const { customer, token } = await api.registerCustomer({ email: "grace@attribution.test", first_name: "Grace", last_name: "Hopper" })
    // a browser trying to set what only the server may: removed by the plugin's store middleware
    const metadata = { ...visit.metadata, segment_context: { ip: "6.6.6.6", user_agent: "spoofed" } }
    const placed = await api.placeOrder({
      currency: "eur",
      token,
      address: ADDRESS,
      metadata,
      headers: shopper(),
      items: [{ sku: "TSHIRT-BLACK-S", quantity: 2 }],
    })
    await api.capture(placed.id)
    const { order } = await api.fulfilAndShip(placed.id)
    const line = order.items[0]
    await api.returnItems(placed.id, [{ id: line.id, quantity: 1 }])

    const names = ["identify", "Order Completed", "Fulfillment Created", "Order Shipped", "Return Requested", "Order Refunded"]
    await waitFor("the six calls", () => names.every((n) => ofOrder(placed.id).some((m) => (m.event || m.type) === n)))
    await be.sleep(1500) // a duplicate, if any, would arrive now
    const mine = ofOrder(placed.id)
    assert.deepEqual(mine.map((m) => m.event || m.type).sort(), [...names].sort(), "each exactly once")

    const m0 = visit.metadata
    for (const m of mine) {
      const what = m.event || m.type
      assert.equal(m.userId, customer.id, `${what}: userId`)
      assert.equal(m.anonymousId, visit.anonymousId, `${what}: the browser's anonymousId`)
      assert.deepEqual(m.context.consent, { categoryPreferences: storefront.CONSENT }, `${what}: consent`)
      assert.deepEqual(m.context.traits, { ...TRAITS, email: "grace@attribution.test" }, `${what}: traits`)
      assert.equal(m.context.ip, "127.0.0.1", `${what}: the ip Medusa saw at checkout, not the browser's claim`)
      assert.equal(m.context.userAgent, visit.userAgent, `${what}: Chromium's user agent`)
      if (m.type !== "track") continue
      const p = m.properties
      assert.deepEqual(
        { fbp: p.fbp, fbc: p.fbc, gclid: p.gclid, client_id: p.client_id, session_id: p.session_id, session_number: p.session_number },
        { fbp: m0.fbp, fbc: m0.fbc, gclid: m0.gclid, client_id: m0.ga_client_id, session_id: m0.ga_session_id, session_number: m0.ga_session_number },
        `${what}: ad and GA ids`
      )
      assert.equal(p.gclid, storefront.LANDING.gclid)
    }
    assert.deepEqual(checkAll(mine), [], "every message conforms to tracking-plan.json")
    const stored = await api.admin("GET", `/orders/${placed.id}?fields=metadata`)
    assert.deepEqual(stored.order.metadata.segment_context, { ip: "127.0.0.1", user_agent: visit.userAgent }, "recorded at checkout on the order")
    assert.ok(!backend.logs().includes(WRITE_KEY))
  })

  it("cart.customer_transferred: an identify ties the guest cart's anonymousId to the customer", { timeout: 2 * 60 * 1000 }, async () => {
    const { regions, variants } = await api.loadCatalog()
    const spoof = { ip: "6.6.6.6", user_agent: "spoofed" }
    const { cart } = await api.store(
      "POST",
      "/carts",
      { region_id: regions.eur.id, email: "guest@attribution.test", items: [{ variant_id: variants["TSHIRT-BLACK-M"].id, quantity: 1 }], metadata: { ...visit.metadata, segment_context: spoof } },
      { headers: shopper() }
    )
    assert.equal(cart.metadata.segment_context, undefined, "the store middleware removed the browser's segment_context (create)")
    assert.equal(cart.metadata.fbp, visit.metadata.fbp)
    const updated = await api.store("POST", `/carts/${cart.id}`, { metadata: { segment_context: spoof } }, { headers: shopper() })
    assert.equal(updated.cart.metadata.segment_context, undefined, "and on update")
    const { customer, token } = await api.registerCustomer({ email: "lin@attribution.test", first_name: "Lin", last_name: "Chen" })
    await api.transferCart(cart.id, token, shopper())
    const got = await waitFor("the transfer identify", (m) => m.type === "identify" && (m.messageId || "").startsWith(`medusa-cart.customer_transferred-${cart.id}`))
    await be.sleep(1000)
    assert.equal(seg.messages.filter((m) => (m.messageId || "").startsWith(`medusa-cart.customer_transferred-${cart.id}`)).length, 1)
    const m = got[0]
    assert.equal(m.userId, customer.id)
    assert.equal(m.anonymousId, visit.anonymousId)
    assert.equal(m.traits.email, "lin@attribution.test")
    assert.deepEqual(m.context.consent, { categoryPreferences: storefront.CONSENT })
    assert.ok(backend.events().some((e) => e.event === "cart.customer_transferred"), "Medusa emitted cart.customer_transferred")
  })

  it("a bad metadata value: warned about once, left out, the event still sent", { timeout: 2 * 60 * 1000 }, async () => {
    const metadata = { ...visit.metadata, fbp: "x".repeat(300), gclid: "<not a gclid>" }
    const placed = await api.placeOrder({ currency: "eur", email: "bad@attribution.test", address: ADDRESS, metadata, headers: shopper(), items: [{ sku: "TSHIRT-BLACK-M", quantity: 1 }] })
    const [t] = await waitFor("Order Completed", (m) => m.event === "Order Completed" && m.properties.order_id === placed.id)
    assert.equal(t.properties.fbp, undefined)
    assert.equal(t.properties.gclid, undefined)
    assert.equal(t.properties.fbc, visit.metadata.fbc, "the valid keys still there")
    assert.equal(t.anonymousId, visit.anonymousId)
    const logs = backend.logs()
    assert.equal(logs.split("cart metadata `fbp` ignored").length - 1, 1, "one warning for fbp")
    assert.equal(logs.split("cart metadata `gclid` ignored").length - 1, 1, "one warning for gclid")
    assert.ok(!logs.includes("xxxxxxxxxx"), "the bad value itself is not logged")
  })

  it("consent_mode drop: a shopper who refused analytics produces no Segment call; logged", { timeout: 2 * 60 * 1000 }, async () => {
    const metadata = { ...visit.metadata, segment_consent: { analytics: false, advertising: false } }
    const placed = await api.placeOrder({ currency: "eur", email: "no@attribution.test", address: ADDRESS, metadata, headers: shopper(), items: [{ sku: "TSHIRT-BLACK-M", quantity: 1 }] })
    const until = Date.now() + 60000
    while (!/call\(s\) for order\.placed \S+ not sent: consent category "analytics" is false \(consent_mode drop\)/.test(backend.logs())) {
      assert.ok(Date.now() < until, `the drop is logged; logs: ${backend.logDir}`)
      await be.sleep(200)
    }
    await be.sleep(1500)
    assert.equal(ofOrder(placed.id).length, 0, "nothing about that order")
    assert.ok(backend.events().some((e) => e.event === "order.placed" && e.data.id === placed.id), "Medusa emitted order.placed")
  })

  it("consent_mode anonymize: the order goes without any identifier, no identify", { timeout: 8 * 60 * 1000 }, async () => {
    await backend.stop()
    const t0 = Date.now()
    backend = await v2.startBackend({ mode: "plugin", eventBus: "redis", segmentOptions: { ...options("anonymize"), host: seg.url } })
    timing.start2 = Date.now() - t0
    api = new MedusaV2Api(backend.url, backend.publishableKey)
    const { token } = await api.registerCustomer({ email: "anon@attribution.test" })
    const metadata = { ...visit.metadata, segment_consent: { analytics: false, advertising: true } }
    const placed = await api.placeOrder({ currency: "eur", token, address: ADDRESS, metadata, headers: shopper(), items: [{ sku: "TSHIRT-BLACK-M", quantity: 1 }] })
    const [t] = await waitFor("Order Completed", (m) => m.event === "Order Completed" && m.properties.order_id === placed.id)
    await be.sleep(1500)
    assert.deepEqual(ofOrder(placed.id).map((m) => m.type), ["track"], "no identify")
    assert.equal(t.userId, undefined)
    assert.notEqual(t.anonymousId, visit.anonymousId)
    assert.ok(!JSON.stringify(t).includes(visit.anonymousId), "the browser's id appears nowhere")
    for (const k of ["email", "fbp", "fbc", "gclid", "client_id", "session_id", "session_number"]) assert.equal(t.properties[k], undefined, k)
    assert.equal(t.context.traits, undefined)
    assert.equal(t.context.userAgent, undefined)
    assert.ok(!JSON.stringify(t).includes("anon@attribution.test"), "the email appears nowhere")
    assert.deepEqual(t.context.consent, { categoryPreferences: { analytics: false, advertising: true } })
    assert.ok(t.properties.total > 0, "the order's figures are kept")
  })
})
