"use strict"
// End-to-end on Medusa 2.21.2 (or E2E_V2_MEDUSA_VERSION): the order read with
// one SQL statement (option order_loader "sql", the default) gives the same
// Segment calls as the order read through Medusa's query graph ("query"), for
// every event Medusa emitted during the e2e story (a registered customer's
// order shipped and part-returned, a guest order cancelled, one claimed, one
// exchanged and its new item shipped; the seed's taxes and shipping). Both
// are built inside the running backend by a test-only admin route
// (e2e/v2/src/api/admin/e2e/order-loaders/route.js), from the same records.
//
// Backend logs and Medusa's event log: .tmp/e2e-v2-logs/<run>/

const { describe, it, before, after } = require("node:test")
const assert = require("node:assert/strict")

const be = require("../../e2e/backend")
const v2 = require("../../e2e/v2/backend")
const { MedusaV2Api, runStory, ADDRESSES } = require("../../e2e/v2/scenario")
const { startSegmentServer } = require("../support/segment-server")
const { FIELDS } = require("../../lib/v2/events")

const WRITE_KEY = "e2eSqlLoaderWriteKey0123456789ab"

/** The fields of `sql` that `query` has too (the SQL loader reads every column; the query graph those asked for). */
function project(sql, query) {
  if (Array.isArray(query)) return Array.isArray(sql) ? query.map((q, i) => project(sql[i], q)) : sql
  if (query && typeof query === "object") {
    if (!sql || typeof sql !== "object") return sql
    return Object.fromEntries(Object.keys(query).map((k) => [k, project(sql[k], query[k])]))
  }
  return sql
}

describe(`Medusa ${v2.MEDUSA_VERSION}: the SQL order loader gives the query graph's calls`, { timeout: 25 * 60 * 1000 }, () => {
  let seg
  let backend
  let api
  let story

  before(
    async () => {
      await v2.prepareBackend({ tarball: await be.packPlugin() })
      seg = await startSegmentServer({ port: 0 })
      backend = await v2.startBackend({
        mode: "plugin",
        eventBus: "redis",
        segmentOptions: { write_key: WRITE_KEY, host: seg.url, flush_at: 5, flush_interval: 250, reporting_currency: "EUR" },
      })
      api = new MedusaV2Api(backend.url, backend.publishableKey)
      story = await runStory(api, { currencies: ["eur", "usd"], tag: "sql" })
    },
    { timeout: 20 * 60 * 1000 }
  )

  after(async () => {
    if (backend && !backend.exited) await backend.stop()
    if (seg) await seg.close()
  })

  it("every order event of the story: the same calls, whole properties, and the same order fields", async () => {
    // the events whose calls are built from loadOrder, and the customer's (its orders' totals: the identify's lifetime value)
    const orderEvents = new Set([...Object.keys(FIELDS).filter((e) => FIELDS[e].order && !e.startsWith("customer.")), "customer.created", "customer.updated"])
    const emitted = backend.events().filter((e) => orderEvents.has(e.event))
    const seen = new Set(emitted.map((e) => e.event))
    for (const ev of ["order.placed", "order.canceled", "shipment.created", "order.return_received", "order.claim_created", "order.exchange_created", "customer.created"]) {
      assert.ok(seen.has(ev), `the story emitted ${ev}`)
    }
    // what each event reads by SQL (the rest through the query graph)
    const BY_SQL = {
      "shipment.created": ["fulfillment", "order", "exchange"],
      "order.fulfillment_created": ["fulfillment", "order"],
      "order.return_received": ["return", "order"],
      "order.return_requested": ["return", "order"],
      "order.claim_created": ["claim", "order"],
      "order.exchange_created": ["exchange", "order"],
      "customer.created": ["customer"],
      "customer.updated": ["customer"],
    }
    let compared = 0
    for (const { event, data } of emitted) {
      const got = await api.admin("POST", "/e2e/order-loaders", { event, data })
      const what = `${event} ${JSON.stringify(data)}`
      assert.deepEqual(got.query.bySql, {}, `${what}: order_loader "query" reads nothing by SQL`)
      if (got.query.calls.length) {
        for (const kind of BY_SQL[event] || ["order"]) assert.ok(got.sql.bySql[kind] > 0, `${what}: the ${kind} was read by SQL (${JSON.stringify(got.sql.bySql)})`)
      }
      assert.deepEqual(got.sql.calls, got.query.calls, `${what}: the same Segment calls`)
      if (got.query.order) {
        assert.ok(got.sql.order && got.sql.order.display_id !== undefined, `${what}: the order was read by SQL (it has every column)`)
        assert.deepEqual(project(got.sql.order, got.query.order), got.query.order, `${what}: every field the query graph gave, equal`)
      }
      compared += got.sql.calls.length
    }
    process.stderr.write(`[e2e-v2 sql-loader] ${emitted.length} events (${[...seen].sort().join(", ")}), ${compared} calls compared\n`)
    assert.ok(compared >= 10, `calls compared: ${compared}`)
    assert.doesNotMatch(backend.logs(), /SQL order loader/, "the SQL loader neither failed nor was turned off")
  })

  it("cart.customer_transferred: the cart read by SQL gives the query graph's identify", async () => {
    const { regions, variants } = await api.loadCatalog()
    const guestCart = async (anonymousId, address) => {
      const { cart } = await api.store("POST", "/carts", {
        region_id: regions.eur.id,
        items: [{ variant_id: variants["TSHIRT-BLACK-M"].id, quantity: 1 }],
        metadata: { segment_anonymous_id: anonymousId },
      })
      if (address) await api.store("POST", `/carts/${cart.id}`, { shipping_address: { ...address, phone: "+49 30 1234" }, billing_address: address })
      return cart
    }
    // one with addresses (their name and phone win over the customer's), one without (the customer's traits)
    const carts = [await guestCart("anon-sql-cart-1", ADDRESSES.eur), await guestCart("anon-sql-cart-2")]
    const { customer, token } = await api.registerCustomer({ email: "sql-cart@e2e.test", first_name: "Kai", last_name: "Sato" })
    for (const c of carts) await api.transferCart(c.id, token)
    const deadline = Date.now() + 30000
    let emitted = []
    while (Date.now() < deadline) {
      emitted = backend.events().filter((e) => e.event === "cart.customer_transferred" && carts.some((c) => c.id === e.data.id))
      if (emitted.length === carts.length) break
      await be.sleep(200)
    }
    assert.equal(emitted.length, carts.length, "Medusa emitted cart.customer_transferred for both carts")
    const traits = []
    for (const { event, data } of emitted) {
      const got = await api.admin("POST", "/e2e/order-loaders", { event, data })
      assert.deepEqual(got.query.bySql, {}, `${data.id}: order_loader "query" reads nothing by SQL`)
      assert.deepEqual(got.sql.bySql, { cart: 1 }, `${data.id}: the cart was read by SQL`)
      assert.equal(got.sql.calls.length, 1, `${data.id}: one identify`)
      assert.deepEqual(got.sql.calls, got.query.calls, `${data.id}: the same Segment calls`)
      assert.equal(got.sql.calls[0].message.userId, customer.id)
      traits.push(got.sql.calls[0].message.traits)
    }
    const byPhone = traits.find((t) => t.phone)
    assert.deepEqual(byPhone, { email: "sql-cart@e2e.test", phone: "+49 30 1234", firstName: "Grace", lastName: "Hopper" }, "the address's name and phone")
    assert.ok(traits.some((t) => !t.phone && t.firstName === "Kai"), `the customer's name when the cart has no address: ${JSON.stringify(traits)}`)
  })
})
