#!/usr/bin/env node
"use strict"
// `npm run demo`: the plugin's real job, with no Segment account and no outside
// service. Starts the local Segment debugger, a throwaway Medusa 1.20.8 backend
// (local PostgreSQL, started when not running) with this package installed
// from its `npm pack` tarball and pointed at the debugger, places and ships an
// order through the store and admin REST APIs, and shows what Segment would
// have received.
//
//   npm run demo               run, print, clean up
//   npm run demo -- --keep     leave the backend and the debugger page running until Ctrl-C
//
// Uses the same harness as the end-to-end tests (e2e/backend.js, e2e/scenario.js).
// The first run installs Medusa into .tmp/medusa-backend (a few minutes); later runs reuse it.

const path = require("node:path")
const be = require("../e2e/backend")
const { MedusaApi } = require("../e2e/scenario")

const ROOT = path.resolve(__dirname, "..")
const keep = process.argv.includes("--keep")
const WRITE_KEY = "DemoWriteKey0123456789abcdefABCD" // any well-formed key: nothing leaves this machine

const log = (msg) => process.stdout.write(`${msg}\n`)
be.setLogger((msg) => log(`  · ${msg}`))

async function startCollector() {
  try {
    const { startDebugger } = require(path.join(ROOT, "debugger.js"))
    const dbg = await startDebugger({ port: 0, print: true, writeKey: WRITE_KEY })
    return { kind: "the local Segment debugger", url: dbg.url, messages: () => dbg.messages(), close: () => dbg.close(), page: dbg.url }
  } catch (err) {
    // Fallback: the test suite's Segment-compatible server (no live page).
    const { startSegmentServer } = require(path.join(ROOT, "__tests__", "support", "segment-server.js"))
    const srv = await startSegmentServer({ port: 0 })
    log(`  · (debugger unavailable: ${err.message}; using the test Segment server)`)
    return { kind: "a local Segment-compatible server", url: srv.url, messages: () => srv.messages, close: () => srv.close(), page: null }
  }
}

async function waitForEvents(collector, events, timeoutMs) {
  const until = Date.now() + timeoutMs
  for (;;) {
    const got = collector.messages()
    if (events.every((e) => got.some((m) => m.event === e))) return got
    if (Date.now() > until) throw new Error(`timed out waiting for ${events.join(", ")}; received: ${got.map((m) => m.event || m.type).join(", ") || "nothing"}`)
    await be.sleep(200)
  }
}

function summary(m) {
  const p = m.properties || {}
  const t = m.traits || {}
  const bits = [m.type.padEnd(8), (m.event || "").padEnd(16), `userId=${m.userId}`]
  if (p.order_id) bits.push(`order_id=${p.order_id}`)
  if (p.total !== undefined) bits.push(`total=${p.total} ${p.currency}`)
  if (p.revenue !== undefined) bits.push(`revenue=${p.revenue}`)
  if (p.products) bits.push(`products=[${p.products.map((x) => `${x.quantity}x ${x.variant}`).join(", ")}]`)
  if (t.email) bits.push(`email=${t.email}`)
  return bits.join("  ")
}

async function main() {
  const t0 = Date.now()
  log("medusa-plugin-segment-rs demo: a real Medusa 1.20.8 backend, a local collector, no Segment account\n")
  const collector = await startCollector()
  log(`1. Collector: ${collector.kind} at ${collector.url}${collector.page ? ` (live page: ${collector.page})` : ""}`)

  log("2. Packing this plugin (npm pack) and installing it into the demo backend")
  const tarball = await be.packPlugin()
  await be.prepareBackend({ tarball })

  log("3. Starting Medusa with the plugin pointed at the collector")
  const backend = await be.startBackend({
    eventBus: "local",
    segmentOptions: { write_key: WRITE_KEY, host: collector.url, flush_at: 1, flush_interval: 200, reporting_currency: "EUR" },
  })
  let ok = false
  try {
    const api = new MedusaApi(backend.url)
    log("4. Placing an order through the store API (cart, items, address, shipping, manual payment)")
    const order = await api.placeOrder({
      currency: "eur",
      email: "demo@example.com",
      items: [
        { sku: "TSHIRT-BLACK-M", quantity: 2 },
        { sku: "HOODIE-GREY-M", quantity: 1 },
      ],
    })
    log(`   order ${order.id}: ${(order.total / 100).toFixed(2)} EUR`)
    log("5. Fulfilling and shipping it through the admin API")
    await api.ship(order.id)
    await waitForEvents(collector, ["Order Completed", "Order Shipped"], 60000)
    await be.sleep(500)
    const received = collector.messages()
    log(`\nReceived by ${collector.kind} — what Segment would have received (${received.length} messages):`)
    for (const m of received) log(`   ${summary(m)}`)
    log(`\n"Order Completed" and "Order Shipped" received. Done in ${((Date.now() - t0) / 1000).toFixed(1)} s.`)
    ok = true
    if (keep) {
      log(`\n--keep: backend at ${backend.url}${collector.page ? `, debugger page at ${collector.page}` : ""}\n(Ctrl-C to stop)`)
      await new Promise((resolve) => process.once("SIGINT", resolve))
    }
  } finally {
    await backend.stop()
    await collector.close()
  }
  process.exitCode = ok ? 0 : 1
}

main().catch((err) => {
  console.error(`demo failed: ${err.stack || err}`)
  process.exit(1)
})
