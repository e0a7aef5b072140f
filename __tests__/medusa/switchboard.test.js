"use strict"

// The switchboard on the Medusa 1.x plugin: the options of segmentService
// (the plugin's options) apply to the v1 subscribers' calls, and the start-up
// loader refuses a bad one naming it.

const test = require("node:test")
const assert = require("node:assert/strict")

const h = require("./harness")
const { recordingLogger, cradle } = require("./fixtures")
const loader = require("../../loaders/segment").default

function setup(options) {
  const sc = h.scenario()
  return { sc, ...h.setupOurs(sc, { enabled: false, ...options }) }
}

test("v1: events off (by Medusa and by Segment name), rename, exclude by email, enrich with the order", async () => {
  const seen = []
  const { handlers, sent } = setup({
    events: { identify: false, "order.canceled": false },
    rename: { "Order Completed": "Purchase" },
    exclude: { emails: [/^order_usd@/] },
    enrich: (m, { event, order }) => {
      seen.push([event, order && order.id])
      m.properties.region = order.region_id || "none"
    },
  })
  await handlers["order.placed"]({ id: "order_eur" })
  await handlers["order.placed"]({ id: "order_usd" })
  await handlers["order.canceled"]({ id: "order_eur" })
  assert.deepEqual(sent.map(([method, m]) => [method, m.event, m.properties.order_id]), [["track", "Purchase", "order_eur"]])
  assert.ok(sent[0][1].properties.region, "enriched")
  assert.deepEqual(seen, [["order.placed", "order_eur"]])
})

test("v1: the start-up loader refuses a bad switchboard option, naming it", async () => {
  const logger = recordingLogger()
  await assert.rejects(loader(cradle({ logger }), { exclude: { emails: "qa@shop.test" } }), /invalid option `exclude.emails`: must be an array/)
  await loader(cradle({ logger }), { events: { "Order Teleported": false } })
  assert.ok(logger.lines.some(([l, m]) => l === "warn" && /events\["Order Teleported"\] names no event/.test(m)))
})
