"use strict"
// End-to-end on Medusa 2.21.2 (or E2E_V2_MEDUSA_VERSION): this package, installed from its `npm pack`
// tarball with a plain `npm install` into a real 2.x backend (e2e/v2/: fresh
// PostgreSQL database per run, Medusa's Redis event bus on DB 10), configured
// in both places (plugins: the default subscribers; modules: the Analytics
// provider), driven only through the Store and Admin HTTP APIs. A
// Segment-compatible server on 127.0.0.1 is the sink.
//
//   E2E_KEEP_DB=1   keep the run database
// Backend log and Medusa's own event log: .tmp/e2e-v2-logs/<run>/

const { describe, it, before, after } = require("node:test")
const assert = require("node:assert/strict")

const be = require("../../e2e/backend")
const v2 = require("../../e2e/v2/backend")
const { startRateServer } = require("../../e2e/rate-server")
const { MedusaV2Api, runStory } = require("../../e2e/v2/scenario")
const { startSegmentServer } = require("../support/segment-server")
const { assertExactlyOnce, assertPayloads, expectedKeys, index, one, round2, approx } = require("./expect")
const { checkAll } = require("../support/tracking-plan")

const WRITE_KEY = "e2eV2WriteKey0123456789abcdefXYZ"
const RATES = { USD: 1.1 } // GBP deliberately unknown: the rate service fails for it
const SHUTDOWN_TIMEOUT = 5000

describe(`Medusa ${v2.MEDUSA_VERSION} with the packed package as plugin + Analytics provider (event-bus-redis)`, { timeout: 25 * 60 * 1000 }, () => {
  let seg
  let rates
  let backend
  let api
  let story
  const timing = {}

  before(
    async () => {
      const t0 = Date.now()
      const tarball = await be.packPlugin()
      await v2.prepareBackend({ tarball })
      timing.prepare = Date.now() - t0
      seg = await startSegmentServer({ port: 0 })
      rates = await startRateServer({ rates: RATES })
      const t1 = Date.now()
      backend = await v2.startBackend({
        mode: "plugin",
        eventBus: "redis",
        segmentOptions: {
          write_key: WRITE_KEY,
          host: seg.url,
          flush_at: 5,
          flush_interval: 250,
          reporting_currency: "EUR",
          exchange_rates_api_key: "e2e-rates-key",
          exchange_rates_url: rates.url,
          shutdown_timeout: SHUTDOWN_TIMEOUT,
        },
      })
      timing.start = Date.now() - t1
      api = new MedusaV2Api(backend.url, backend.publishableKey)
    },
    { timeout: 20 * 60 * 1000 }
  )

  after(async () => {
    if (backend && !backend.exited) await backend.stop()
    if (seg) await seg.close()
    if (rates) await rates.close()
    process.stderr.write(`[e2e-v2] timings (ms): ${JSON.stringify(timing)}\n`)
  })

  const ofStory = (s, messages) => {
    const orders = new Set(Object.values(s.orders).map((o) => o.id))
    const customers = new Set(Object.values(s.orders).map((o) => o.placed.customer_id))
    return messages.filter((m) => (m.properties && orders.has(m.properties.order_id)) || (m.type === "identify" && customers.has(m.userId)))
  }

  it("sends identify and every order event once each, with v1's event and property names", { timeout: 5 * 60 * 1000 }, async () => {
    const t0 = Date.now()
    story = await runStory(api, { currencies: ["eur", "usd"], tag: "v2-1" })
    timing.story = Date.now() - t0
    const n = expectedKeys(story).length
    await seg.waitForMessages(n, 60000).catch((err) => {
      throw new Error(`${err.message}\nreceived: ${seg.messages.map((m) => m.event || m.type).join(", ")}\nlogs: ${backend.logDir}`)
    })
    await be.sleep(1500) // a duplicate, if any, would arrive now
    const mine = ofStory(story, seg.messages)
    const by = assertExactlyOnce(mine, story)
    assertPayloads(by, story, { rates: RATES })
    assert.deepEqual(checkAll(mine), [], "every message conforms to tracking-plan.json")
    const emitted = new Set(backend.events().map((e) => e.event))
    for (const ev of ["order.placed", "shipment.created", "order.canceled", "order.return_received", "order.claim_created", "order.exchange_created"])
      assert.ok(emitted.has(ev), `Medusa emitted ${ev}`)
    for (const b of seg.batches) assert.equal(b.headers.authorization, `Basic ${Buffer.from(`${WRITE_KEY}:`).toString("base64")}`)
  })

  // Medusa 2.21.2 leaves return.refund_amount NULL, and line totals read after a
  // return cover only the units kept (1 of 2: the "price" would halve).
  it("Order Refunded carries the refunded amount, and the returned line's net unit price", () => {
    assert.ok(story, "needs the story")
    const { A } = story.orders
    const refunded = one(index(seg.messages), `Order Refunded:${A.id}`)
    const line = A.placed.items.find((i) => i.variant_sku === "TSHIRT-BLACK-S")
    approx(refunded.properties.products[0].price, round2((line.total - line.tax_total) / line.quantity), "returned line's unit price")
    // what Medusa itself says the store owes the customer after the return
    approx(refunded.properties.total, round2(-A.summaryAfterReturn.pending_difference), "the refunded amount")
  })

  // Medusa 2.21.2 leaves order_exchange.difference_due NULL, and its own
  // pending_difference credits the inbound item only once that return is
  // received. v1's meaning: new items - returned items + shipping, with tax,
  // here from Medusa's own line and shipping-method totals.
  it("Swap Confirmed and Swap Shipped carry the exchange's difference due as total", () => {
    assert.ok(story, "needs the story")
    const { D } = story.orders
    const unitTotal = (line) => line.total / line.quantity
    const known = new Set(D.placed.items.map((i) => i.id))
    const hoodie = D.final.items.find((i) => !known.has(i.id))
    const tshirt = D.placed.items[0]
    const placedMethods = new Set(D.placed.shipping_methods.map((m) => m.id))
    const shipping = D.final.shipping_methods.filter((m) => !placedMethods.has(m.id)).reduce((a, m) => a + m.total, 0)
    assert.ok(shipping > 0, "the exchange's outbound shipping method, with its tax")
    const due = round2(unitTotal(hoodie) - unitTotal(tshirt) + shipping)
    const by = index(seg.messages)
    for (const e of ["Swap Confirmed", "Swap Shipped"]) approx(one(by, `${e}:${D.id}`).properties.total, due, `${e} total = difference due`)
  })

  it("user code: container.resolve(Modules.ANALYTICS).track() reaches Segment through the provider", { timeout: 60 * 1000 }, async () => {
    assert.ok(story, "needs the story's customer")
    const actor = story.customer.id
    const res = await api.trackFromUserCode({ event: "Wishlist Shared", actor_id: actor, properties: { items: 2, list: "summer" } })
    assert.deepEqual(res, { tracked: "Wishlist Shared" })
    const until = Date.now() + 30000
    let got = []
    while (!(got = seg.messages.filter((m) => m.event === "Wishlist Shared")).length) {
      assert.ok(Date.now() < until, "Wishlist Shared delivered")
      await be.sleep(100)
    }
    await be.sleep(1000)
    got = seg.messages.filter((m) => m.event === "Wishlist Shared")
    assert.equal(got.length, 1)
    assert.equal(got[0].type, "track")
    assert.equal(got[0].userId, actor)
    assert.deepEqual(got[0].properties, { items: 2, list: "summer" })
  })

  it("fetches the USD rate once, with the API key, and none for EUR", () => {
    const usd = rates.requests.filter((r) => r.symbols === "USD")
    assert.equal(usd.length, 1, `USD->EUR requests: ${usd.length}`)
    assert.equal(usd[0].base, "EUR")
    assert.equal(usd[0].access_key, "e2e-rates-key")
    assert.equal(rates.requests.filter((r) => r.symbols === "EUR").length, 0)
  })

  it("loses nothing while Segment fails for 10 s and the exchange-rate service fails", { timeout: 6 * 60 * 1000 }, async () => {
    rates.setMode("fail")
    const before = seg.uniqueMessageIds().size
    const failedBefore = seg.batches.filter((b) => b.status !== 200).length
    // EUR for A and D; GBP (no rate cached, the service fails) for B and C.
    // The 10 s outage starts at the story's first request to Segment, however
    // slowly the story runs (a loaded CI machine).
    const requests = seg.batches.length
    let storyError = null
    const running = runStory(api, { currencies: ["eur", "gbp"], tag: "v2-2" }).catch((err) => (storyError = err))
    while (seg.batches.length === requests && !storyError) await be.sleep(20)
    seg.failFor(10000, { status: 500 })
    const s2 = await running
    if (storyError) throw storyError
    await seg.waitForMessages(before + expectedKeys(s2).length, 90000).catch((err) => {
      throw new Error(`${err.message}\nlogs: ${backend.logDir}`)
    })
    await be.sleep(1500)
    assert.ok(seg.batches.filter((b) => b.status !== 200).length > failedBefore, "the outage was hit: some batches were answered 500")
    const gbp = rates.requests.filter((r) => r.symbols === "GBP")
    assert.ok(gbp.length >= 1 && gbp.every((r) => r.mode === "fail"), "the GBP rate was asked for and failed")
    const by = assertExactlyOnce(ofStory(s2, seg.messages), s2)
    assertPayloads(by, s2, { rates: {} }) // reporting_* null for GBP, the orders themselves intact
    const completed = one(by, `Order Completed:${s2.orders.C.id}`)
    assert.equal(completed.properties.currency, "GBP")
    assert.equal(completed.properties.reporting_total, null)
    assert.ok(!backend.logs().includes(WRITE_KEY), "the write key never appears in the backend's output")
  })

  it("SIGTERM during a Segment outage: stops within shutdown_timeout and delivers what it can", { timeout: 3 * 60 * 1000 }, async () => {
    seg.failFor(120000, { status: 503 }) // nothing gets through until we say so
    const order = await api.placeOrder({ currency: "eur", email: "stop@e2e.test", items: [{ sku: "TSHIRT-BLACK-M", quantity: 1 }] })
    const isOfOrder = (m) => m.properties && m.properties.order_id === order.id
    const refused = () => seg.batches.filter((b) => b.status === 503 && b.body).flatMap((b) => b.body.batch.filter(isOfOrder))
    const until = Date.now() + 60000
    while (!refused().length) {
      assert.ok(Date.now() < until, "the plugin tried to send Order Completed")
      await be.sleep(100)
    }
    assert.equal(seg.messages.filter(isOfOrder).length, 0, "nothing delivered yet: queued in the plugin, retrying")
    seg.failFor(1500, { status: 503 }) // the outage ends 1.5 s after the stop begins
    const exit = await backend.stop({ graceMs: 60000 })
    timing.stop = exit.ms
    assert.equal(exit.code, 0, `medusa exited cleanly (${JSON.stringify(exit)}); logs: ${backend.logDir}`)
    assert.equal(exit.signal, null, "not killed")
    // Medusa's own shutdown (HTTP server, modules) comes on top of the plugin's bound.
    assert.ok(exit.ms < SHUTDOWN_TIMEOUT + 15000, `stopped within shutdown_timeout (+ Medusa's own shutdown): ${exit.ms} ms`)
    assert.deepEqual(seg.messages.filter(isOfOrder).map((m) => m.event), ["Order Completed"], "queued Order Completed delivered before exit")
    assert.ok(!backend.logs().includes(WRITE_KEY), "the write key never appears in the backend's output")
  })

  it("SIGTERM while Segment stays down: exits 0 within shutdown_timeout and says what it could not deliver (key only in the provider's options)", { timeout: 3 * 60 * 1000 }, async () => {
    const delivery = { flush_at: 5, flush_interval: 250, shutdown_timeout: SHUTDOWN_TIMEOUT }
    const down = await v2.startBackend({
      mode: "plugin",
      eventBus: "redis",
      // the write key and host live in the provider's entry only; the plugin's subscribers use them
      segmentOptions: delivery,
      providerOptions: { write_key: WRITE_KEY, host: seg.url, ...delivery },
    })
    try {
      seg.failFor(10 * 60 * 1000, { status: 503 })
      const downApi = new MedusaV2Api(down.url, down.publishableKey)
      const order = await downApi.placeOrder({ currency: "eur", email: "down@e2e.test", items: [{ sku: "TSHIRT-BLACK-M", quantity: 1 }] })
      const isOfOrder = (m) => m.properties && m.properties.order_id === order.id
      const until = Date.now() + 60000
      while (!seg.batches.some((b) => b.status === 503 && b.body && b.body.batch.some(isOfOrder))) {
        assert.ok(Date.now() < until, "the plugin tried to send Order Completed")
        await be.sleep(100)
      }
      const refused = seg.batches.filter((b) => b.status === 503 && b.body && b.body.batch.some(isOfOrder))
      assert.equal(refused[0].headers.authorization, `Basic ${Buffer.from(`${WRITE_KEY}:`).toString("base64")}`, "the provider's key")
      const exit = await down.stop({ graceMs: 60000 })
      timing.stopDown = exit.ms
      assert.equal(exit.code, 0, `medusa exited cleanly (${JSON.stringify(exit)}); logs: ${down.logDir}`)
      assert.equal(exit.signal, null, "not killed: the flush is bounded")
      assert.ok(exit.ms < SHUTDOWN_TIMEOUT + 15000, `stopped within shutdown_timeout (+ Medusa's own shutdown): ${exit.ms} ms`)
      assert.equal(seg.messages.filter(isOfOrder).length, 0, "Segment never accepted it")
      // identify + Order Completed: counted and logged, not silently lost
      assert.match(down.logs(), /dropped 2 undelivered messages/, "the undelivered messages are counted in Medusa's log")
      assert.ok(!down.logs().includes(WRITE_KEY), "the write key never appears in the backend's output")
    } finally {
      seg.failFor(0, { status: 503 })
      if (!down.exited) await down.stop()
    }
  })
})


