#!/usr/bin/env node
"use strict"
// `npm run demo:v2`: `npm run demo` on Medusa 2.x. No Segment account and no
// outside service: starts the local Segment debugger, a throwaway Medusa
// 2.21.2 backend (local PostgreSQL and Redis, started when not running) with
// this package installed from its `npm pack` tarball and configured in both
// places (plugin + Analytics provider) pointed at the debugger, places and
// ships an order through the Store and Admin APIs, tracks one event from user
// code through the Analytics Module, and shows what Segment would have received.
//
//   npm run demo:v2               run, print, clean up
//   npm run demo:v2 -- --keep     leave the backend and the debugger page running until Ctrl-C
//
// Uses the harness of the v2 end-to-end tests (e2e/v2/). The first run installs
// Medusa 2.21.2 into ~/.cache/medusa-plugin-segment-rs (a few minutes); later runs reuse it.

const { WRITE_KEY, log, startCollector, waitForEvents, summary } = require("./demo-common")
const be = require("../e2e/backend")
const v2 = require("../e2e/v2/backend")
const { MedusaV2Api } = require("../e2e/v2/scenario")

const keep = process.argv.includes("--keep")

async function main() {
  const t0 = Date.now()
  log("medusa-plugin-segment-rs demo: a real Medusa 2.21.2 backend, a local collector, no Segment account\n")
  const collector = await startCollector()
  log(`1. Collector: ${collector.kind} at ${collector.url}${collector.page ? ` (live page: ${collector.page})` : ""}`)

  log("2. Packing this package (npm pack) and installing it into the demo backend with a plain npm install")
  const tarball = await be.packPlugin()
  await v2.prepareBackend({ tarball })

  log("3. Starting Medusa 2.x: plugins: [medusa-plugin-segment-rs], modules: [analytics with provider medusa-plugin-segment-rs/providers/segment]")
  const backend = await v2.startBackend({
    mode: "plugin",
    eventBus: "redis",
    segmentOptions: { write_key: WRITE_KEY, host: collector.url, flush_at: 1, flush_interval: 200, reporting_currency: "EUR" },
  })
  let ok = false
  try {
    const api = new MedusaV2Api(backend.url, backend.publishableKey)
    log("4. A customer registers and places an order through the Store API (cart, address, shipping, payment session, complete)")
    const { customer, token } = await api.registerCustomer({ email: "demo@example.com" })
    const order = await api.placeOrder({
      currency: "eur",
      token,
      items: [
        { sku: "TSHIRT-BLACK-M", quantity: 2 },
        { sku: "HOODIE-GREY-M", quantity: 1 },
      ],
    })
    log(`   order ${order.id}: ${order.total} EUR as Medusa stores it`)
    log("5. Fulfilling and shipping it through the Admin API")
    await api.fulfilAndShip(order.id)
    log("6. User code: a store route calls container.resolve(Modules.ANALYTICS).track(...)")
    await api.trackFromUserCode({ event: "Wishlist Shared", actor_id: customer.id, properties: { items: 2 } })
    await waitForEvents(collector, ["Order Completed", "Order Shipped", "Wishlist Shared"], 60000)
    await be.sleep(500)
    const received = collector.messages()
    log(`\nReceived by ${collector.kind} — what Segment would have received (${received.length} messages):`)
    for (const m of received) log(`   ${summary(m)}`)
    log(`\n"Order Completed", "Order Shipped" and the user-code event received. Done in ${((Date.now() - t0) / 1000).toFixed(1)} s.`)
    ok = true
    if (keep) {
      log(`\n--keep: backend at ${backend.url} (publishable key ${backend.publishableKey})${collector.page ? `, debugger page at ${collector.page}` : ""}\n(Ctrl-C to stop)`)
      await new Promise((resolve) => process.once("SIGINT", resolve))
    }
  } finally {
    await backend.stop()
    await collector.close()
  }
  process.exitCode = ok ? 0 : 1
}

main().catch((err) => {
  console.error(`demo:v2 failed: ${err.stack || err}`)
  process.exit(1)
})
