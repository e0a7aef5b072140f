"use strict"

// The event table (lib/v1/events.js) and the eight subscriber files built from it.

const test = require("node:test")
const assert = require("node:assert/strict")
const fs = require("node:fs")
const path = require("node:path")

const h = require("./harness")
const { recordingLogger } = require("./fixtures")
const { EVENTS, buildCalls, subscriberFor } = require("../../lib/v1/events")

const SEED_EVENTS = [
  "order.placed",
  "order.shipment_created",
  "claim.created",
  "order.items_returned",
  "order.canceled",
  "swap.created",
  "swap.shipment_created",
  "swap.payment_completed",
]

test("the table covers exactly the eight events of the docs", () => {
  assert.deepEqual(Object.keys(EVENTS).sort(), [...SEED_EVENTS].sort())
})

test("subscriber files: new-style Medusa subscribers, one per event, from the table", () => {
  const dir = path.join(__dirname, "../../subscribers")
  const files = fs.readdirSync(dir).sort()
  assert.deepEqual(files, Object.values(h.SUBSCRIBER_FILES).map((f) => `${f}.js`).sort())
  const ids = new Set()
  for (const [event, file] of Object.entries(h.SUBSCRIBER_FILES)) {
    const mod = require(path.join(dir, file))
    assert.equal(mod.__esModule, true, file)
    assert.equal(typeof mod.default, "function", file)
    assert.equal(mod.config.event, event, file)
    assert.match(mod.config.context.subscriberId, /^segment-/)
    ids.add(mod.config.context.subscriberId)
    // thin: no logic of their own
    assert.ok(fs.readFileSync(path.join(dir, `${file}.js`), "utf8").split("\n").length < 10, file)
  }
  assert.equal(ids.size, 8, "unique subscriber ids")
})

test("subscriberFor rejects unknown events", () => {
  assert.throws(() => subscriberFor("order.updated"), /no Segment mapping/)
})

/** Our service on the fixture services, capturing calls (delivery disabled). */
function setup(options = {}) {
  const sc = h.scenario()
  const ours = h.setupOurs(sc, { enabled: false, ...options })
  return { sc, ...ours }
}

const byEvent = {
  "order.placed": [{ id: "order_eur" }, [["identify", undefined], ["track", "Order Completed"]], "cus_order_eur", "2026-11-20T10:00:00.000Z"],
  "order.shipment_created": [{ id: "order_eur", fulfillment_id: "ful_eur" }, [["track", "Order Shipped"]], "cus_order_eur", "2026-11-21T08:00:00.000Z"],
  "order.canceled": [{ id: "order_eur" }, [["track", "Order Cancelled"]], "cus_order_eur", "now"],
  "order.items_returned": [{ id: "order_dkk", return_id: "ret_dkk" }, [["track", "Order Refunded"]], "cus_order_dkk", "now"],
  "claim.created": [{ id: "claim_eur" }, [["track", "Item Claimed"], ["track", "Item Claimed"]], "cus_order_eur", "2026-11-22T10:00:00.000Z"],
  "swap.created": [{ id: "swap_usd" }, [["track", "Swap Created"]], "cus_order_usd", "2026-11-22T12:00:00.000Z"],
  "swap.payment_completed": [{ id: "swap_usd" }, [["track", "Swap Confirmed"]], "cus_order_usd", "2026-11-22T12:05:00.000Z"],
  "swap.shipment_created": [{ id: "swap_usd", fulfillment_id: "ful_swap" }, [["track", "Swap Shipped"]], "cus_order_usd", "2026-11-23T10:00:00.000Z"],
}

for (const [event, [data, expected, userId, timestamp]] of Object.entries(byEvent)) {
  test(`${event}: calls, names, userId, timestamp`, async () => {
    const { container } = setup()
    const calls = await buildCalls(event, data, container)
    assert.deepEqual(
      calls.map((c) => [c.method, c.message.event]),
      expected
    )
    const ids = new Set()
    for (const { message } of calls) {
      assert.equal(message.userId, userId)
      ids.add(message.messageId)
      if (message.event === undefined) continue // identify has no timestamp in 1.3.5
      const ts = new Date(message.timestamp).getTime()
      if (timestamp === "now") assert.ok(Math.abs(ts - Date.now()) < 60_000)
      else assert.equal(new Date(message.timestamp).toISOString(), timestamp)
      assert.equal(typeof message.properties, "object")
    }
    assert.equal(ids.size, calls.length, "distinct messageIds")
    // deterministic: a redelivered event gets the same ids
    const again = await buildCalls(event, data, container)
    assert.deepEqual(again.map((c) => c.message.messageId), calls.map((c) => c.message.messageId))
  })
}

test("order.placed: context (ip, user_agent, userAgent) and integrations with use_ga_id", async () => {
  const { container } = setup({ use_ga_id: true })
  const [identify, track] = await buildCalls("order.placed", { id: "order_usd" }, container)
  assert.deepEqual(identify.message.traits, { email: "order_usd@example.com", firstName: "Ada", lastName: "Lovelace" })
  assert.deepEqual(track.message.context, {
    ip: "203.0.113.7",
    user_agent: "Mozilla/5.0 (X11; Linux x86_64) Firefox/130.0",
    userAgent: "Mozilla/5.0 (X11; Linux x86_64) Firefox/130.0",
    traits: { email: "order_usd@example.com", firstName: "Ada", lastName: "Lovelace", address: { city: "Copenhagen", country: "DK" } },
  })
  assert.deepEqual(track.message.integrations, { "Google Analytics": { clientId: "GA1.2.1234.5678" } })
  const { container: c2 } = setup({ use_ga_id: false })
  const [, t2] = await buildCalls("order.placed", { id: "order_usd" }, c2)
  assert.deepEqual(t2.message.integrations, {})
})

test("order.placed: a failing cart lookup still tracks, with empty context", async () => {
  const { container, sc, logger } = setup()
  sc.services.cartService.retrieve = () => Promise.reject(new Error("cart gone"))
  const calls = await buildCalls("order.placed", { id: "order_eur" }, container)
  assert.equal(calls.length, 2)
  assert.equal(calls[1].message.context.ip, undefined)
  assert.equal(calls[1].message.context.userAgent, undefined)
  assert.ok(logger.lines.some(([l, m]) => l === "warn" && /cart gone/.test(m)))
})

test("order.shipment_created: only the fulfilled lines", async () => {
  const { container } = setup()
  const [call] = await buildCalls("order.shipment_created", { id: "order_usd", fulfillment_id: "ful_usd" }, container)
  assert.deepEqual(call.message.properties.products.map((p) => [p.name, p.quantity]), [["Cap", 1]])
})

test("order.canceled loads the relations it reads", async () => {
  const { container, sc } = setup()
  const seen = []
  const real = sc.services.orderService.retrieve
  sc.services.orderService.retrieve = (id, config) => {
    seen.push(config)
    return real(id, config)
  }
  const [call] = await buildCalls("order.canceled", { id: "order_usd" }, container)
  for (const r of ["items", "payments", "shipping_address", "discounts", "shipping_methods"]) {
    assert.ok(seen[0].relations.includes(r), r)
  }
  assert.equal(call.message.properties.payment_provider, "manual")
  assert.equal(call.message.properties.products.length, 3)
})

test("order.items_returned: a swap's item can be returned; unknown lines are skipped", async () => {
  const { container, sc } = setup()
  sc.returns.ret_swapitem = {
    id: "ret_swapitem",
    refund_amount: 2999,
    shipping_method: null,
    items: [
      { item_id: "li_swap_1", quantity: 1, reason: null, note: "changed my mind" },
      { item_id: "li_missing", quantity: 1 },
    ],
  }
  const [call] = await buildCalls("order.items_returned", { id: "order_usd", return_id: "ret_swapitem" }, container)
  const p = call.message.properties
  assert.deepEqual(p.products.map((x) => [x.variant, x.quantity, x.note]), [["SHIRT-XL-RED", 1, "changed my mind"]])
  assert.deepEqual(p.shipping_methods, [])
  assert.equal(p.shipping, 0)
  assert.equal(p.total, 29.99)
})

test("claim.created: one Item Claimed per claim item with the claim's fields", async () => {
  const { container } = setup()
  const calls = await buildCalls("claim.created", { id: "claim_eur" }, container)
  assert.deepEqual(calls[0].message.properties, {
    price: 15,
    reporting_price: 15,
    currency: "EUR",
    order_id: "order_eur",
    claim_id: "claim_eur",
    claim_item_id: "ci_1",
    type: "replace",
    quantity: 1,
    variant: "SHIRT-M-BLUE",
    product_id: "prod_shirt",
    reason: "production_failure",
    note: "Hole in sleeve",
    tags: [{ id: "tag_1", value: "quality" }],
  })
})

test("a handler never throws: failures are logged", async () => {
  const { handlers, sc, logger, sent } = setup()
  sc.services.orderService.retrieve = () => Promise.reject(new Error("database is down"))
  await handlers["order.placed"]({ id: "order_eur" }) // resolves
  assert.deepEqual(sent, [])
  assert.ok(logger.lines.some(([l, m]) => l === "error" && /order\.placed/.test(m) && /database is down/.test(m)))
})

test("a rejected Segment call is logged; the other calls of the event still go", async () => {
  const { handlers, segment, logger } = setup()
  const made = []
  segment.identify = () => {
    throw new Error("identify: userId or anonymousId is required")
  }
  segment.track = (m) => made.push(m.event)
  await handlers["order.placed"]({ id: "order_eur" })
  assert.deepEqual(made, ["Order Completed"])
  assert.ok(logger.lines.some(([l, m]) => l === "error" && /identify/.test(m)))
})

test("a missing segmentService or Medusa service is logged, not thrown", async () => {
  const logger = recordingLogger()
  const mod = require("../../subscribers/order-placed.js")
  await mod.default({ data: { id: "x" }, container: h.awilixLike({ logger }) })
  assert.ok(logger.lines.some(([l, m]) => l === "error" && /segmentService is not registered/.test(m)))
  const { handlers, logger: l2 } = setup()
  // no claimService in this container
  const c = h.awilixLike({ logger: l2, segmentService: setup().segment })
  await require("../../subscribers/claim-created.js").default({ data: { id: "claim_eur" }, container: c })
  assert.ok(l2.lines.some(([l, m]) => l === "error" && /claimService is not registered/.test(m)))
  assert.ok(handlers)
})

test("order.items_returned: the received quantity wins over the requested one", async () => {
  const { container, sc } = setup()
  sc.returns.ret_dkk.items[1].quantity = 3
  sc.returns.ret_dkk.items[1].received_quantity = 2
  delete sc.returns.ret_dkk.items[0].received_quantity
  const [call] = await buildCalls("order.items_returned", { id: "order_dkk", return_id: "ret_dkk" }, container)
  assert.deepEqual(call.message.properties.products.map((p) => p.quantity), [1, 2])
  // 2 of 3 caps: 2/3 of the line's discounted net amount (297 - 9.90) = 191.40
  assert.equal(call.message.properties.revenue, 249 + 191.4)
})
