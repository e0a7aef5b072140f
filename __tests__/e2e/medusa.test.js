"use strict"
// End-to-end: the plugin, installed from its `npm pack` tarball into a real
// Medusa 1.20.8 backend (PostgreSQL on 127.0.0.1), driven through the store
// and admin REST APIs; a Segment-compatible server on 127.0.0.1 is the sink.
// Runs once per event bus: event-bus-local (one process) and
// event-bus-redis (a server process and a separate worker process).
//
//   E2E_BUSES=local node --test __tests__/e2e/     only one bus
//   E2E_KEEP_DB=1                                  keep the run databases
//   E2E_PLUGIN_OPTIONS='{"max_retries":0}'         extra plugin options (experiments)
// Backend logs and Medusa's own event log: .tmp/e2e-logs/<run>/

const { describe, it, before, after } = require("node:test")
const assert = require("node:assert/strict")

const be = require("../../e2e/backend")
const { startRateServer } = require("../../e2e/rate-server")
const { MedusaApi, runStory } = require("../../e2e/scenario")
const { startSegmentServer } = require("../support/segment-server")
const { assertExactlyOnce, assertPayloads, index, one, humanize } = require("./expect")

const BUSES = (process.env.E2E_BUSES || "local,redis").split(",").filter(Boolean)
const WRITE_KEY = "e2e0123456789abcdefWRITEKEY"
const RATES = { USD: 1.1 } // JPY deliberately unknown to the rate server's healthy mode
const STORY_CALLS = 17 // identify x4 + the eight tracks of the story (see expect.js)
const CUSTOMERS = 4 // the seed docs' custom tracking: one "Customer Created" per customer

let tarball
const timing = {}

before(
  async () => {
    const t0 = Date.now()
    tarball = await be.packPlugin()
    timing.pack = Date.now() - t0
    const t1 = Date.now()
    await be.prepareBackend({ tarball })
    timing.install = Date.now() - t1
  },
  { timeout: 20 * 60 * 1000 }
)

/** Messages that belong to one story: its orders, its customers. */
function messagesOf(story, messages) {
  const orders = new Set(Object.values(story.orders).map((o) => o.id))
  const customers = new Set(Object.values(story.orders).map((o) => o.order.customer_id))
  return messages.filter(
    (m) => (m.properties && orders.has(m.properties.order_id)) || (m.type === "identify" && customers.has(m.userId)) || (m.event === "Customer Created" && customers.has(m.userId))
  )
}

for (const bus of BUSES) {
  describe(`Medusa ${be.MEDUSA_VERSION} with the packed plugin, event-bus-${bus}${bus === "redis" ? " (server + separate worker)" : ""}`, { timeout: 8 * 60 * 1000 }, () => {
    let seg
    let rates
    let backend
    let api
    let story1

    before(async () => {
      seg = await startSegmentServer({ port: 0 })
      rates = await startRateServer({ rates: RATES })
      const t0 = Date.now()
      backend = await be.startBackend({
        eventBus: bus,
        segmentOptions: {
          write_key: WRITE_KEY,
          host: seg.url,
          flush_at: 5,
          flush_interval: 250,
          use_ga_id: true,
          reporting_currency: "EUR",
          exchange_rates_api_key: "e2e-rates-key",
          exchange_rates_url: rates.url,
          // for experiments, e.g. E2E_PLUGIN_OPTIONS='{"max_retries":0}' shows the outage test failing
          ...JSON.parse(process.env.E2E_PLUGIN_OPTIONS || "{}"),
        },
      })
      timing[`${bus}.start`] = Date.now() - t0
      api = new MedusaApi(backend.url)
      await api.setupFixtures()
    })

    after(async () => {
      if (backend) {
        const exits = await backend.stop()
        for (const e of exits) assert.equal(e.code, 0, `medusa ${e.role} exited cleanly on SIGTERM (${JSON.stringify(e)}); logs: ${backend.logDir}`)
      }
      if (seg) await seg.close()
      if (rates) await rates.close()
      process.stderr.write(`[e2e] timings (ms): ${JSON.stringify(timing)}\n`)
    })

    it("sends identify and all eight tracks once each, with the documented properties", { timeout: 3 * 60 * 1000 }, async () => {
      const t0 = Date.now()
      story1 = await runStory(api, { currencies: ["eur", "usd"], tag: `${bus}-1` })
      timing[`${bus}.story1`] = Date.now() - t0
      await seg.waitForMessages(STORY_CALLS + CUSTOMERS, 60000).catch((err) => {
        throw new Error(`${err.message}\nreceived: ${seg.messages.map((m) => m.event || m.type).join(", ")}\nlogs: ${backend.logDir}`)
      })
      await be.sleep(1500) // a duplicate, if any, would arrive now
      timing[`${bus}.delivered1`] = Date.now() - t0
      const mine = messagesOf(story1, seg.messages)
      const by = assertExactlyOnce(mine, story1)
      assertPayloads(by, story1, { rates: RATES })
      // what Medusa emitted (backend's own logging subscribers) matches
      const emitted = backend.events().map((e) => e.event)
      for (const ev of ["order.placed", "order.shipment_created", "order.canceled", "order.items_returned", "claim.created", "swap.created", "swap.payment_completed", "swap.shipment_created"])
        assert.ok(emitted.includes(ev), `Medusa emitted ${ev}`)
      if (bus === "redis") {
        const roles = new Set(backend.events().map((e) => e.role))
        assert.deepEqual([...roles], ["worker"], "subscribers ran in the worker process only")
      }
    })

    it("runs the seed docs' custom tracking subscriber unchanged (customer.created -> segmentService.track)", () => {
      assert.ok(story1, "needs the first story")
      const customers = Object.values(story1.orders).map((o) => o.order.customer_id)
      const created = seg.messages.filter((m) => m.event === "Customer Created" && customers.includes(m.userId))
      assert.equal(created.length, CUSTOMERS)
      for (const m of created) {
        assert.equal(m.properties.id, m.userId)
        assert.ok(!("password_hash" in m.properties), "password_hash removed by the subscriber")
      }
    })

    it("fetches each exchange rate at most once per process, with the API key, not once per amount", () => {
      const usd = rates.requests.filter((r) => r.symbols === "USD")
      const processes = bus === "redis" ? 2 : 1
      assert.ok(usd.length >= 1 && usd.length <= processes, `USD->EUR requests: ${usd.length}`)
      for (const r of usd) {
        assert.equal(r.path, "/latest")
        assert.equal(r.base, "EUR")
        assert.equal(r.access_key, "e2e-rates-key")
      }
      assert.equal(rates.requests.filter((r) => r.symbols === "EUR").length, 0, "no request for the reporting currency itself")
    })

    it("tracks an order without a shipping address (null address fields, no crash)", { timeout: 60 * 1000 }, async () => {
      const received = seg.uniqueMessageIds().size
      const order = await api.placeOrder({ currency: "eur", email: `noaddr+${bus}@e2e.test`, address: null, items: [{ sku: "TSHIRT-BLACK-S", quantity: 1 }] })
      assert.equal(order.shipping_address_id, null)
      await seg.waitForMessages(received + 3, 30000) // Customer Created, identify, Order Completed
      const completed = seg.messages.filter((m) => m.event === "Order Completed" && m.properties.order_id === order.id)
      assert.equal(completed.length, 1)
      assert.equal(completed[0].properties.shipping_country, null)
      assert.equal(completed[0].properties.shipping_city, null)
      assert.equal(completed[0].properties.total, order.total / 100)
      const identify = seg.messages.filter((m) => m.type === "identify" && m.userId === order.customer_id)
      assert.equal(identify.length, 1)
      assert.equal(identify[0].traits.email, order.email)
    })

    it("loses nothing while the exchange-rate service fails and Segment fails for 10 s", { timeout: 4 * 60 * 1000 }, async () => {
      rates.setMode("fail")
      const received = seg.uniqueMessageIds().size
      const failedBefore = seg.batches.filter((b) => b.status !== 200).length
      seg.failFor(10000, { status: 500 })
      const t0 = Date.now()
      // EUR for A and D, JPY (a new pair, so no cached rate; zero-decimal) for B and C
      const story2 = await runStory(api, { currencies: ["eur", "jpy"], tag: `${bus}-2` })
      timing[`${bus}.story2`] = Date.now() - t0
      await seg.waitForMessages(received + STORY_CALLS + CUSTOMERS, 90000).catch((err) => {
        throw new Error(`${err.message}\nlogs: ${backend.logDir}`)
      })
      await be.sleep(1500)
      timing[`${bus}.delivered2`] = Date.now() - t0
      const failed = seg.batches.filter((b) => b.status !== 200).length - failedBefore
      assert.ok(failed > 0, "the outage was hit: some batches were answered 500")
      const jpyLookups = rates.requests.filter((r) => r.symbols === "JPY")
      assert.ok(jpyLookups.length >= 1 && jpyLookups.every((r) => r.mode === "fail"), "JPY rate was asked for and failed")

      const mine = messagesOf(story2, seg.messages)
      const by = assertExactlyOnce(mine, story2)
      // same payloads, with reporting_* null where no rate could be had
      assertPayloads(by, story2, { rates: {} })
      const { C } = story2.orders
      const claimed = one(by, `track:Item Claimed:${C.id}`)
      const line = C.order.items.find((i) => i.variant.sku === "TSHIRT-BLACK-M")
      assert.equal(claimed.properties.currency, "JPY")
      assert.equal(claimed.properties.price, humanize(line.unit_price, "jpy"), "zero-decimal currency: JPY 3200 stays 3200")
      assert.equal(claimed.properties.reporting_price, null)
      const completed = one(by, `track:Order Completed:${C.id}`)
      assert.equal(completed.properties.reporting_total, null)
      assert.ok(Number.isInteger(completed.properties.total), "JPY totals are whole yen")
      assert.ok(!backend.logs().includes(WRITE_KEY), "the write key never appears in the backend's output")
    })

    it("delivers what is still queued when Medusa stops (SIGTERM during a Segment outage)", { timeout: 2 * 60 * 1000 }, async () => {
      seg.failFor(120000, { status: 503 }) // nothing gets through until we say so
      const order = await api.placeOrder({ currency: "eur", email: `stop+${bus}@e2e.test`, items: [{ sku: "TSHIRT-BLACK-M", quantity: 1 }] })
      const until = Date.now() + 30000
      while (!backend.events().some((e) => e.event === "order.placed" && e.data.id === order.id)) {
        assert.ok(Date.now() < until, "Medusa emitted order.placed")
        await be.sleep(100)
      }
      const isOfOrder = (m) => (m.properties && m.properties.order_id === order.id) || (m.type === "identify" && m.userId === order.customer_id)
      const ofOrder = () => seg.messages.filter(isOfOrder)
      // Wait until the sink has refused both: they are queued in the plugin, retrying.
      const refused = () => new Set(seg.batches.filter((b) => b.status === 503 && b.body).flatMap((b) => b.body.batch.filter(isOfOrder).map((m) => m.event || m.type)))
      while (refused().size < 2) {
        assert.ok(Date.now() < until, `the plugin sent identify + Order Completed (refused so far: ${[...refused()]})`)
        await be.sleep(100)
      }
      assert.equal(ofOrder().length, 0, "nothing delivered yet: the messages are queued in the plugin")
      seg.failFor(1500, { status: 503 }) // the outage ends 1.5 s after the stop begins
      const exits = await backend.stop()
      for (const e of exits) assert.equal(e.code, 0, `medusa ${e.role} exited cleanly (${JSON.stringify(e)})`)
      const got = ofOrder()
      assert.deepEqual(got.map((m) => m.event || m.type).sort(), ["Order Completed", "identify"], "queued identify + Order Completed delivered before exit")
    })
  })
}

// `index` is exported for ad-hoc debugging from a REPL.
module.exports = { index }
