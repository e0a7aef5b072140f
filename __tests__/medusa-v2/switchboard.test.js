"use strict"

// The switchboard (lib/switchboard.js): option checks that name the option,
// and each option applied to calls as the subscribers build them; the drops
// counted in a client's stats(). Then through a real 2.x subscriber file,
// delivering over HTTP to the local Segment-compatible server.

const test = require("node:test")
const assert = require("node:assert/strict")

const { validateSwitchboard, Switchboard } = require("../../lib/switchboard")
const { validateOptions } = require("../../lib/v2/options")
const { drops } = require("../../lib/drops")
const { SegmentService } = require("../../index.js")
const { startSegmentServer } = require("../support/segment-server")
const { recordingLogger } = require("../medusa/fixtures")
const { fakeQuery, container, orderEur } = require("./fixtures")
const { runEvent } = require("../../lib/v2/events")

const track = (event, extra = {}) => ({ method: "track", message: { event, userId: "cus_1", properties: { order_id: "order_1", email: "jane@shop.test" }, messageId: `m-${event}` }, ...extra })
const identify = () => ({ method: "identify", message: { userId: "cus_1", traits: { email: "jane@shop.test" }, messageId: "m-id" } })
const quiet = recordingLogger()

test("bad switchboard options are refused at start-up, naming the option and the fix", () => {
  const bad = [
    [{ events: [] }, /`events`: must be an object/],
    [{ events: { "order.updated": "no" } }, /`events\["order.updated"\]`: must be true or false/],
    [{ rename: { "Order Completed": "" } }, /`rename\["Order Completed"\]`: must be a non-empty string/],
    [{ exclude: { email: [] } }, /`exclude.email`: is not an exclude rule; use one of emails, sales_channel_ids, test_orders/],
    [{ exclude: { emails: "a@b.c" } }, /`exclude.emails`: must be an array/],
    [{ exclude: { emails: [42] } }, /`exclude.emails\[0\]`: must be a RegExp or a non-empty string/],
    [{ exclude: { sales_channel_ids: [""] } }, /`exclude.sales_channel_ids\[0\]`/],
    [{ exclude: { test_orders: "yes" } }, /`exclude.test_orders`: must be true or false/],
    [{ enrich: "add ip" }, /`enrich`: must be a function/],
    [{ enrich_timeout: 0 }, /`enrich_timeout`: must be a whole number of ms > 0/],
    [{ order_completed_on: "paid" }, /`order_completed_on`: must be "placed".*or "captured"/],
    [{ event_map: { "review.created": { entity: "review", fields: ["id"] } } }, /`event_map\["review.created"\].event`: must be the Segment event name/],
    [{ event_map: { "review.created": { event: "Product Reviewed", entity: "review" } } }, /`event_map\["review.created"\].fields`: must be a non-empty array/],
    [{ event_map: { "auth.password_reset": { event: "Password Reset" } } }, /`event_map\["auth.password_reset"\]`: auth.\* events carry tokens/],
    [{ event_map: { "review.created": { event: "Product Reviewed", properties: { rating: 5 } } } }, /`event_map\["review.created"\].properties\["rating"\]`: must be a field path/],
  ]
  for (const [options, re] of bad) {
    assert.throws(() => validateSwitchboard(options), re, JSON.stringify(options))
    // the 2.x plugin's own check (first event, and the segment module's loader at start-up) is the same
    assert.throws(() => validateOptions(options), re)
  }
  const good = {
    events: { "order.updated": false, "Order Delivered": false, identify: true, "Product Added": true, funnel: true, "Product Reviewd": true },
    rename: { "Order Completed": "Purchase" },
    exclude: { emails: [/@example\.com$/i, "qa@shop.test"], sales_channel_ids: ["sc_pos"], test_orders: true },
    enrich: (m) => m,
    enrich_timeout: 500,
    order_completed_on: "captured",
    event_map: { "review.created": { event: "Product Reviewed", entity: "review", fields: ["id", "rating"], user_id: "customer_id", properties: { rating: "rating" } } },
  }
  // keys that name no event of this plugin are returned (logged as a warning), not refused
  assert.deepEqual(validateSwitchboard(good), ["Product Reviewd"])
})

test("events: off by Medusa event or by Segment name; identify too; counted as dropped.disabled", async () => {
  const before = drops().disabled || 0
  const sb = new Switchboard({ events: { "order.updated": false, "Order Delivered": false, identify: false } })
  const out = await sb.apply([track("Order Updated"), track("Order Delivered"), identify(), track("Order Completed")], { event: "order.updated" }, quiet)
  assert.deepEqual(out, [])
  const out2 = await sb.apply([identify(), track("Order Completed")], { event: "order.placed" }, quiet)
  assert.deepEqual(out2.map((c) => c.message.event), ["Order Completed"])
  assert.equal((drops().disabled || 0) - before, 5)
})

test("rename changes the name sent, after events and exclude have seen the original", async () => {
  const sb = new Switchboard({ rename: { "Order Completed": "Purchase" }, events: { Purchase: false } })
  const [call] = await sb.apply([track("Order Completed")], { event: "order.placed" }, quiet)
  assert.equal(call.message.event, "Purchase")
  assert.equal(call.message.messageId, "m-Order Completed", "the messageId stays")
})

test("exclude: emails (RegExp or exact string), sales channels, test orders flagged in metadata", async () => {
  const sb = new Switchboard({ exclude: { emails: [/@example\.com$/i, "QA@shop.test"], sales_channel_ids: ["sc_pos"] } })
  const order = (o) => ({ id: "order_1", email: "jane@shop.test", sales_channel_id: "sc_web", metadata: null, ...o })
  const before = drops()
  const cases = [
    [order({ email: "Bob@EXAMPLE.com" }), 0],
    [order({ email: "qa@shop.test" }), 0],
    [order({ sales_channel_id: "sc_pos" }), 0],
    [order({ metadata: { segment_test: true } }), 0],
    [order({ metadata: { segment_test: "true" } }), 1], // only the boolean true flags a test order
    [order({}), 1],
  ]
  for (const [o, n] of cases) {
    const out = await sb.apply([track("Order Completed", { order: o })], { event: "order.placed" }, quiet)
    assert.equal(out.length, n, JSON.stringify(o))
  }
  const after = drops()
  const diff = (k) => (after[k] || 0) - (before[k] || 0)
  assert.deepEqual([diff("excluded_email"), diff("excluded_sales_channel"), diff("excluded_test_order")], [2, 1, 1])
  // test_orders: false keeps flagged orders
  const keep = new Switchboard({ exclude: { test_orders: false } })
  assert.equal((await keep.apply([track("Order Completed", { order: order({ metadata: { segment_test: true } }) })], { event: "order.placed" }, quiet)).length, 1)
  // without an order, the message's own email decides (identify traits, properties)
  assert.equal((await sb.apply([{ method: "identify", message: { userId: "u", traits: { email: "x@example.com" } } }], { event: "customer.updated" }, quiet)).length, 0)
})

test("enrich: sync or async, sees the order and the container; its errors and time-outs send the original", async () => {
  const seen = []
  const logger = recordingLogger()
  const sb = new Switchboard({
    enrich_timeout: 200,
    enrich(message, { event, method, order, container }) {
      seen.push({ event, method, order: order && order.id, container })
      if (message.event === "Order Completed") message.properties.channel = "web"
      if (message.event === "Order Shipped") return Promise.resolve({ ...message, properties: { ...message.properties, carrier: "dhl" } })
      if (message.event === "Order Updated") throw new Error("boom")
      if (message.event === "Order Cancelled") return new Promise(() => {}) // never settles
      if (message.event === "Order Refunded") return null // dropped by the hook
      return undefined
    },
  })
  const c = { name: "container" }
  const calls = ["Order Completed", "Order Shipped", "Order Updated", "Order Cancelled", "Order Refunded"].map((e) => track(e, { order: { id: "order_9" } }))
  const before = drops().enrich || 0
  const t0 = Date.now()
  const out = await sb.apply(calls, { event: "x", container: c }, logger)
  assert.ok(Date.now() - t0 < 5000, "the time-out bounds the hook")
  const by = Object.fromEntries(out.map((o) => [o.message.event, o.message.properties]))
  assert.equal(by["Order Completed"].channel, "web")
  assert.equal(by["Order Shipped"].carrier, "dhl")
  assert.deepEqual(by["Order Updated"], { order_id: "order_1", email: "jane@shop.test" }, "error: the original")
  assert.deepEqual(by["Order Cancelled"], { order_id: "order_1", email: "jane@shop.test" }, "time-out: the original")
  assert.ok(!("Order Refunded" in by))
  assert.equal((drops().enrich || 0) - before, 1)
  assert.equal(calls[0].message.properties.channel, undefined, "the hook gets a copy: the built message is untouched")
  assert.deepEqual(seen[0], { event: "x", method: "track", order: "order_9", container: c })
  const warnings = logger.lines.filter(([l]) => l === "warn").map(([, m]) => m).join("\n")
  assert.match(warnings, /enrich\(Order Updated\) failed, the message is sent as built: boom/)
  assert.match(warnings, /enrich\(Order Cancelled\) failed.*enrich_timeout \(200 ms\)/)
})

test("stats(): the switchboard's drops are dropped.<reason>, and accepted still adds up", async () => {
  const svc = new SegmentService({ logger: quiet }, { write_key: "wk_sb_stats", host: "http://127.0.0.1:9", flush_interval: 60000, spool_dir: false })
  try {
    const s = svc.stats()
    const mine = drops()
    for (const [k, n] of Object.entries(mine)) assert.ok(s.dropped[k] >= n, `dropped.${k}`)
    const sum = Object.values(s.dropped).reduce((a, b) => a + b, 0)
    assert.equal(s.accepted, s.delivered + s.failed + sum + s.queued)
  } finally {
    await svc.shutdown({ timeout: 100 })
  }
})

test("through a 2.x subscriber: exclude, enrich and rename on a real delivery", async (t) => {
  const srv = await startSegmentServer()
  t.after(() => srv.close())
  const logger = recordingLogger()
  const query = fakeQuery({
    order: [
      { ...orderEur, id: "order_sb_test", metadata: { segment_test: true } },
      { ...orderEur, id: "order_sb_ok", sales_channel_id: "sc_web", metadata: {} },
    ],
  })
  const options = {
    write_key: "wk_sb_subscriber",
    host: srv.url,
    flush_at: 1,
    flush_interval: 20,
    rename: { "Order Completed": "Purchase" },
    events: { identify: false },
    enrich: async (m, { order }) => ({ ...m, properties: { ...m.properties, sales_channel_id: order.sales_channel_id } }),
  }
  const c = container({ query, logger })
  assert.equal(await runEvent("order.placed", { id: "order_sb_test" }, c, options), 0, "a test order: nothing sent")
  assert.equal(await runEvent("order.placed", { id: "order_sb_ok" }, c, options), 1, "identify switched off, the track sent")
  await srv.waitForMessages(1, 10000)
  await new Promise((r) => setTimeout(r, 300))
  assert.deepEqual(srv.messages.map((m) => [m.type, m.event, m.properties.order_id, m.properties.sales_channel_id]), [["track", "Purchase", "order_sb_ok", "sc_web"]])
})

test("exclude reads the sales channel and metadata of an order loaded without them (one query)", async () => {
  const sb = new Switchboard({ exclude: { sales_channel_ids: ["sc_pos"] } })
  const asked = []
  const orderDetails = async (id) => {
    asked.push(id)
    return { sales_channel_id: "sc_pos", metadata: null }
  }
  const order = { id: "order_lean", email: "a@shop.test" }
  const out = await sb.apply([track("Order Shipped", { order }), track("Order Shipped", { order })], { event: "shipment.created", orderDetails }, quiet)
  assert.deepEqual(out, [])
  assert.deepEqual(asked, ["order_lean"], "asked once: the order object keeps what was read")
})
