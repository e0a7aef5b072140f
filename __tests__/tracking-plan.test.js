"use strict"

// tracking-plan.json: generated from lib/catalog.js (fails when stale), in
// sync with the events the code handles (v1 and 2.x tables), and what the
// default 2.x subscribers build from 2.21.2-shaped data conforms to it.
// The e2e suites validate the messages Segment's side received against it.

const test = require("node:test")
const assert = require("node:assert/strict")
const fs = require("node:fs")

const { text, FILE } = require("../scripts/tracking-plan")
const { EVENTS: CATALOG, FUNNEL, IDENTIFY } = require("../lib/catalog")
const v1 = require("../lib/v1/events")
const v2 = require("../lib/v2/events")
const { checkAll, planValidator } = require("./support/tracking-plan")
const { fakeQuery, container } = require("./medusa-v2/fixtures")
const { recordingLogger } = require("./medusa/fixtures")

test("tracking-plan.json is the one scripts/tracking-plan.js generates from lib/catalog.js (npm run tracking-plan)", () => {
  assert.equal(fs.readFileSync(FILE, "utf8"), text(), "tracking-plan.json is stale: run `npm run tracking-plan`")
})

test("the catalog lists every Medusa event the v1 and 2.x tables handle, and nothing they do not", () => {
  const listed = (v) => new Set([...CATALOG, IDENTIFY].flatMap((e) => e.medusa[v] || []))
  // customer.deleted sends nothing (it stops identifies)
  const silent = new Set(["customer.deleted"])
  assert.deepEqual([...listed("v1")].sort(), Object.keys(v1.EVENTS).sort())
  assert.deepEqual([...listed("v2")].sort(), Object.keys(v2.EVENTS).filter((e) => !silent.has(e)).sort())
  const rules = JSON.parse(fs.readFileSync(FILE, "utf8")).rules
  assert.deepEqual(rules.filter((r) => r.type === "TRACK").map((r) => r.key).sort(), [...CATALOG, ...FUNNEL].map((e) => e.name).sort())
})

test("the validator catches a wrong type, a missing required property and an unplanned property", () => {
  const v = planValidator()
  const ok = { type: "track", event: "Order Cancelled", messageId: "m", properties: { order_id: "o", total: 1 } }
  assert.deepEqual(v(ok), [])
  assert.match(v({ ...ok, properties: { order_id: "o", total: "1" } }).join(), /total must be number,null/)
  assert.match(v({ ...ok, properties: { total: 1 } }).join(), /must have required property 'order_id'/)
  assert.match(v({ ...ok, properties: { order_id: "o", colour: "red" } }).join(), /additionalProperty.*colour/)
  assert.match(v({ ...ok, event: "Order Teleported" }).join(), /not in tracking-plan.json/)
  assert.deepEqual(planValidator({ strict: false })({ ...ok, properties: { order_id: "o", colour: "red" } }), [], "the published plan is open")
})

test("what the 2.x subscribers build from 2.21.2-shaped data conforms to the plan", async () => {
  const logger = recordingLogger()
  const options = { write_key: "wk_plan_0123456789abcdef", host: "http://127.0.0.1:9", flush_interval: 60000, spool_dir: false }
  const runs = [
    ["order.placed", { id: "order_eur" }],
    ["order.placed", { id: "order_usd" }],
    ["shipment.created", { id: "ful_1" }],
    ["shipment.created", { id: "ful_x" }],
    ["order.canceled", { id: "order_eur" }],
    ["order.return_received", { order_id: "order_eur", return_id: "return_1" }],
    ["order.claim_created", { order_id: "order_eur", claim_id: "claim_1" }],
    ["order.exchange_created", { order_id: "order_exch", exchange_id: "oexc_1" }],
    ["order.updated", { id: "order_eur" }],
    ["order.return_requested", { order_id: "order_eur", return_id: "return_1" }],
    ["order.fulfillment_created", { order_id: "order_eur", fulfillment_id: "ful_1" }],
    ["delivery.created", { id: "ful_1" }],
  ]
  const messages = []
  for (const [event, data] of runs) {
    const calls = await v2.buildCalls(event, data, container({ query: fakeQuery(), logger }), options)
    assert.ok(calls.length, `${event} built calls`)
    for (const c of calls) messages.push({ ...JSON.parse(JSON.stringify(c.message)), type: c.method })
  }
  assert.deepEqual(checkAll(messages), [])
})
