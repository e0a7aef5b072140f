#!/usr/bin/env node
"use strict"
// node bench/attribution.js [--n 20000]
// What attribution adds per Medusa 2.x event, in-process: reading and
// checking the cart.metadata contract and decorating the event's calls
// (lib/attribution.js), against building the same Order Completed's
// properties (lib/v2/order.js) in the same run as the anchor. No I/O: the
// middleware's one cart read + write at checkout is not in these figures.

const { performance } = require("node:perf_hooks")
const attribution = require("../lib/attribution")
const v2attr = require("../lib/v2/attribution")
const { buildOrderProperties } = require("../lib/v2/order")
const { orderEur } = require("../__tests__/medusa-v2/fixtures")

const argv = process.argv.slice(2)
const N = Number(argv[argv.indexOf("--n") + 1]) || 20000
const META = {
  segment_anonymous_id: "7f9c2a6e-3b1d-4e4f-9a8b-2c1d0e9f8a7b",
  ga_client_id: "1234567890.1733500000",
  ga_session_id: "1733580000",
  ga_session_number: "3",
  fbp: "fb.1.1733500000000.1098765432",
  fbc: "fb.1.1733580000000.IwAR2xYzAbC-_dEf",
  gclid: "Cj0KCQiA-abc_DEF123",
  segment_consent: { analytics: true, advertising: true },
  segment_context: { ip: "203.0.113.7", user_agent: "Mozilla/5.0 (X11; Linux x86_64) Chrome/131.0" },
}
const order = { ...orderEur, metadata: META, cart: { id: "cart_eur", metadata: META } }
const ctx = { reportingCurrency: "EUR", rate: 1 }
const silent = { warn() {}, info() {} }

function perEvent(fn) {
  for (let i = 0; i < 2000; i++) fn() // warm-up
  const t0 = performance.now()
  for (let i = 0; i < N; i++) fn()
  return ((performance.now() - t0) * 1000) / N // µs
}

const anchor = perEvent(() => buildOrderProperties(order, ctx, order))
const props = buildOrderProperties(order, ctx, order)
const calls = () => [
  { method: "identify", message: { userId: "cus_1", traits: { email: "a@b.c" }, messageId: "m1" } },
  { method: "track", message: { event: "Order Completed", userId: "cus_1", properties: props, messageId: "m2" } },
]
const attr = perEvent(() => attribution.applyAttribution(calls(), attribution.attributionOf(v2attr.orderSource(order), silent), {}, {}))
const anon = perEvent(() =>
  attribution.applyAttribution(calls(), attribution.attributionOf(v2attr.orderSource({ ...order, metadata: { ...META, segment_consent: { analytics: false } } }), silent), { consent_category: "analytics" }, { logger: silent })
)
console.log(`per Order Completed event (identify + track), ${N} iterations, Node ${process.version}:`)
console.log(`  build the order's properties (anchor) ${anchor.toFixed(2)} µs`)
console.log(`  attribution: parse + decorate          ${attr.toFixed(2)} µs  (${(attr / anchor).toFixed(2)} x anchor)`)
console.log(`  attribution with consent anonymize     ${anon.toFixed(2)} µs  (${(anon / anchor).toFixed(2)} x anchor)`)
