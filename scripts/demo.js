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

const { WRITE_KEY, log, startCollector, waitForEvents, summary } = require("./demo-common")
const be = require("../e2e/backend")
const { MedusaApi } = require("../e2e/scenario")

const keep = process.argv.includes("--keep")

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
