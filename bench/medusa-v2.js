"use strict"
// The Medusa 2.x figure: what handling `order.placed` costs the Medusa
// process, per order, with this package's v2 subscriber (identify + "Order
// Completed", on the native client) against Medusa's Segment guide
// (a subscriber running a workflow: query graph step + a step calling the
// Analytics Module, whose provider wraps @segment/analytics-node; our own
// equivalent of the guide's code lives in e2e/v2/src/{modules/segment-docs,
// workflows,subscribers/docs-order-placed.js}).
//
// Same backend (e2e/v2, Medusa 2.21.2, event-bus-local), same orders: each
// integration gets a fresh backend, the same N orders are placed through the
// Store API, then `order.placed` is re-emitted R times for them (a bench-only
// admin route) while a probe preloaded into Medusa (e2e/v2/bench-probe.js)
// reads the process's CPU time and event-loop delay. A run with no Segment
// integration is the floor: the integration's cost is the difference.
//
//   node bench/medusa-v2.js [--smoke]       (also: npm run bench -- --medusa-v2)
// Needs PostgreSQL (and installs Medusa 2.21.2 into the cache on first use,
// like the v2 e2e tests).

const fs = require("node:fs")
const path = require("node:path")
const be = require("../e2e/backend")
const v2 = require("../e2e/v2/backend")
const { MedusaV2Api } = require("../e2e/v2/scenario")
const { startSegmentServer } = require("../__tests__/support/segment-server")

const WRITE_KEY = "BenchWriteKey0123456789abcdefXYZ"
const FLUSH_AT = 15
const FLUSH_INTERVAL = 1000

async function waitUntil(check, timeoutMs, what) {
  const until = Date.now() + timeoutMs
  while (!(await check())) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`)
    await be.sleep(100)
  }
}

async function probe(backend, file) {
  fs.rmSync(file, { force: true })
  process.kill(backend.pid, "SIGUSR2")
  await waitUntil(() => fs.existsSync(file) && fs.statSync(file).size > 0, 5000, "the probe")
  return JSON.parse(fs.readFileSync(file, "utf8"))
}

/** One integration: fresh backend, N orders, R re-emissions measured. */
async function measure(mode, { orders, rounds, print }) {
  const seg = await startSegmentServer({ port: 0, keepBodies: false })
  const probeFile = path.join(be.ROOT, ".tmp", `bench-v2-probe-${process.pid}.json`)
  fs.mkdirSync(path.dirname(probeFile), { recursive: true })
  const backend = await v2.startBackend({
    mode,
    eventBus: "local",
    segmentOptions: { write_key: WRITE_KEY, host: seg.url, flush_at: FLUSH_AT, flush_interval: FLUSH_INTERVAL },
    env: { E2E_PROBE_FILE: probeFile, NODE_OPTIONS: `--require ${path.join(be.ROOT, "e2e", "loopback.js")} --require ${path.join(be.ROOT, "e2e", "v2", "bench-probe.js")}` },
  })
  // messages per order.placed: ours identify + track; the guide's one track; none 0
  const perOrder = mode === "plugin" ? 2 : mode === "docs" ? 1 : 0
  const emitted = () => backend.events().filter((e) => e.event === "order.placed").length
  try {
    const api = new MedusaV2Api(backend.url, backend.publishableKey)
    const { token } = await api.registerCustomer({ email: `bench-${mode}@e2e.test` })
    const ids = []
    for (let i = 0; i < orders; i++) {
      const order = await api.placeOrder({ currency: i % 2 ? "usd" : "eur", token, items: [{ sku: "TSHIRT-BLACK-M", quantity: 1 + (i % 3) }, { sku: "HOODIE-GREY-M", quantity: 1 }] })
      ids.push(order.id)
    }
    // warm-up: one re-emission of every order, fully handled and delivered
    let expectEvents = orders * 2
    let expectMessages = orders * 2 * perOrder
    await api.admin("POST", "/bench/emit", { event: "order.placed", ids })
    await waitUntil(() => emitted() >= expectEvents && seg.messages.length >= expectMessages, 120000, `warm-up of ${mode}`)
    await be.sleep(FLUSH_INTERVAL + 500)
    const before = await probe(backend, probeFile)
    const t0 = Date.now()
    for (let r = 0; r < rounds; r++) {
      await api.admin("POST", "/bench/emit", { event: "order.placed", ids })
      expectEvents += orders
      expectMessages += orders * perOrder
      await waitUntil(() => emitted() >= expectEvents && seg.messages.length >= expectMessages, 120000, `round ${r + 1} of ${mode}`)
    }
    await be.sleep(FLUSH_INTERVAL + 500) // the last batch is sent
    const after = await probe(backend, probeFile)
    const handled = orders * rounds
    const result = {
      mode,
      handled,
      cpu_ms_per_order: (after.cpu_ms - before.cpu_ms) / handled,
      wall_s: (Date.now() - t0) / 1000,
      eld: after.eld,
      delivered: seg.messages.length,
      expected: expectMessages,
    }
    print(`  ${mode}: ${handled} order.placed handled, ${result.cpu_ms_per_order.toFixed(2)} CPU ms each (floor included), delivered ${result.delivered}/${result.expected}`)
    return result
  } finally {
    await backend.stop()
    await seg.close()
    fs.rmSync(probeFile, { force: true })
  }
}

async function run({ smoke = false, print = console.log } = {}) {
  print("\n### Medusa 2.x level: cost of handling order.placed in the Medusa process (2.21.2, event-bus-local)\n")
  let tarball
  try {
    tarball = await be.packPlugin()
    await v2.prepareBackend({ tarball })
  } catch (err) {
    print(`skipped: cannot prepare the Medusa 2.21.2 backend: ${err.message.split("\n")[0]}`)
    return { skipped: err.message }
  }
  const orders = smoke ? 4 : 10
  const rounds = smoke ? 3 : 10
  const out = {}
  for (const mode of ["none", "plugin", "docs"]) out[mode] = await measure(mode, { orders, rounds, print })
  const floor = out.none.cpu_ms_per_order
  const cost = (m) => out[m].cpu_ms_per_order - floor
  const f = (x) => (Math.abs(x) >= 100 ? x.toFixed(0) : Math.abs(x) >= 10 ? x.toFixed(1) : x.toFixed(2))
  const ratio = (a, b) => (b > 0 ? `${(a / b).toFixed(1)}x` : a > 0 ? "0 vs n" : "n/a")
  print(`\n${orders} orders placed through the Store API, order.placed re-emitted ${rounds} times for them (${orders * rounds} handled per integration)\n`)
  print("| figure | ours (plugin subscriber) | Segment guide (workflow + @segment/analytics-node) | guide / ours |")
  print("|---|---:|---:|---:|")
  print(`| Medusa CPU ms per order.placed, integration only (minus the ${f(floor)} ms floor) | ${f(cost("plugin"))} | ${f(cost("docs"))} | ${ratio(cost("docs"), cost("plugin"))} |`)
  print(`| Medusa CPU ms per order.placed, whole process | ${f(out.plugin.cpu_ms_per_order)} | ${f(out.docs.cpu_ms_per_order)} | ${ratio(out.docs.cpu_ms_per_order, out.plugin.cpu_ms_per_order)} |`)
  print(`| event-loop delay p99 / max (ms); floor ${f(out.none.eld.p99)} / ${f(out.none.eld.max)} | ${f(out.plugin.eld.p99)} / ${f(out.plugin.eld.max)} | ${f(out.docs.eld.p99)} / ${f(out.docs.eld.max)} | ${ratio(out.docs.eld.p99, out.plugin.eld.p99)} (p99) |`)
  print(`| Segment calls per order | identify + Order Completed | one track "order.placed" | |`)
  return out
}

module.exports = { run }

if (require.main === module) {
  run({ smoke: process.argv.includes("--smoke") }).catch((err) => {
    console.error(err.stack || err)
    process.exit(1)
  })
}
