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
// integration is the floor: the integration's cost is the difference. Ours
// also runs with `enabled: false` (loads the order and builds the calls, the
// client drops them), which splits its cost between Medusa's query graph and
// the Segment client. Two repetitions (one with --smoke), variants rotated.
//
//   node bench/medusa-v2.js [--smoke] [--reps N]   (also: npm run bench -- --medusa-v2)
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

/**
 * What runs in the Medusa process. "ours, enabled: false": our subscriber
 * loads the order and builds every call, and the client drops them: the
 * difference to "ours" is the Segment client's share.
 */
const VARIANTS = [
  { key: "none", mode: "none", perOrder: 0 },
  { key: "ours", mode: "plugin", perOrder: 2 }, // identify + Order Completed
  { key: "ours_off", mode: "plugin", perOrder: 0, options: { enabled: false } },
  { key: "guide", mode: "docs", perOrder: 1 }, // one track "order.placed"
]

/** One variant: fresh backend, N orders, R re-emissions measured. */
async function measure(variant, { orders, rounds, print }) {
  const seg = await startSegmentServer({ port: 0, keepBodies: false })
  const probeFile = path.join(be.ROOT, ".tmp", `bench-v2-probe-${process.pid}.json`)
  fs.mkdirSync(path.dirname(probeFile), { recursive: true })
  const backend = await v2.startBackend({
    mode: variant.mode,
    eventBus: "local",
    segmentOptions: { write_key: WRITE_KEY, host: seg.url, flush_at: FLUSH_AT, flush_interval: FLUSH_INTERVAL, ...(variant.options || {}) },
    env: { E2E_PROBE_FILE: probeFile, NODE_OPTIONS: `--require ${path.join(be.ROOT, "e2e", "loopback.js")} --require ${path.join(be.ROOT, "e2e", "v2", "bench-probe.js")}` },
  })
  const emitted = () => backend.events().filter((e) => e.event === "order.placed").length
  try {
    const api = new MedusaV2Api(backend.url, backend.publishableKey)
    const { token } = await api.registerCustomer({ email: `bench-${variant.key}@e2e.test` })
    const ids = []
    for (let i = 0; i < orders; i++) {
      const order = await api.placeOrder({ currency: i % 2 ? "usd" : "eur", token, items: [{ sku: "TSHIRT-BLACK-M", quantity: 1 + (i % 3) }, { sku: "HOODIE-GREY-M", quantity: 1 }] })
      ids.push(order.id)
    }
    // warm-up: one re-emission of every order, fully handled and delivered
    let expectEvents = orders * 2
    let expectMessages = orders * 2 * variant.perOrder
    await api.admin("POST", "/bench/emit", { event: "order.placed", ids })
    await waitUntil(() => emitted() >= expectEvents && seg.messages.length >= expectMessages, 120000, `warm-up of ${variant.key}`)
    await be.sleep(FLUSH_INTERVAL + 500)
    const before = await probe(backend, probeFile)
    for (let r = 0; r < rounds; r++) {
      await api.admin("POST", "/bench/emit", { event: "order.placed", ids })
      expectEvents += orders
      expectMessages += orders * variant.perOrder
      await waitUntil(() => emitted() >= expectEvents && seg.messages.length >= expectMessages, 120000, `round ${r + 1} of ${variant.key}`)
    }
    await be.sleep(FLUSH_INTERVAL + 500) // the last batch is sent
    const after = await probe(backend, probeFile)
    const handled = orders * rounds
    const threads = {}
    for (const [name, ms] of Object.entries(after.threads || {})) threads[name] = (ms - ((before.threads || {})[name] || 0)) / handled
    const result = { cpu: (after.cpu_ms - before.cpu_ms) / handled, p99: after.eld.p99, max: after.eld.max, delivered: seg.messages.length, expected: expectMessages, threads }
    print(`  ${variant.key}: ${handled} order.placed handled, ${result.cpu.toFixed(2)} CPU ms each (floor included), event-loop delay p99 ${result.p99.toFixed(1)} ms, delivered ${result.delivered}/${result.expected}`)
    if (result.delivered !== result.expected) throw new Error(`${variant.key}: delivered ${result.delivered} of ${result.expected}`)
    return result
  } finally {
    await backend.stop()
    await seg.close()
    fs.rmSync(probeFile, { force: true })
  }
}

/**
 * Our Segment client alone, outside Medusa, in a child process: per order a
 * new SegmentService (as each subscriber call gets one), an identify and an
 * "Order Completed" with the properties our subscriber sent in the e2e run,
 * delivered to a sink in this process. CPU of the child, delivery threads included.
 */
async function clientOnly({ orders = 500 } = {}) {
  const seg = await startSegmentServer({ port: 0, keepBodies: false })
  try {
    const { fork } = require("node:child_process")
    return await new Promise((resolve, reject) => {
      const c = fork(__filename, ["--client-only-child", seg.url, String(orders)], { stdio: ["ignore", "inherit", "inherit", "ipc"] })
      c.on("message", (m) => resolve({ ...m, delivered: seg.messages.length }))
      c.on("exit", (code) => code && reject(new Error(`client-only child exited ${code}`)))
    })
  } finally {
    await seg.close()
  }
}

async function clientOnlyChild(url, orders) {
  const SegmentService = require("../services/segment").default
  const opts = { write_key: WRITE_KEY, host: url, flush_at: FLUSH_AT, flush_interval: FLUSH_INTERVAL }
  const logger = { info() {}, warn() {}, error: console.error, debug() {} }
  const products = [1, 2].map((i) => ({ name: "Medusa T-Shirt", variant: `TSHIRT-BLACK-${i}`, price: 12.45, reporting_revenue: 24.9, product_id: "prod_01", category: "Apparel", subtitle: "Organic cotton", type: "Shirts", sku: "TSHIRT-BLACK", quantity: 2 }))
  const properties = (i) => ({ checkout_id: `cart_${i}`, order_id: `order_${i}`, email: "ada@e2e.test", region_id: "reg_01", payment_provider: "pp_system_default", shipping_methods: [{ id: "ordsm_1", name: "Standard Shipping", shipping_option_id: "so_1", price: 4.95 }], shipping_country: "de", shipping_city: "Berlin", reporting_total: 83, reporting_subtotal: 64.8, reporting_revenue: 69.75, reporting_shipping: 4.95, reporting_tax: 13.25, reporting_discount: 0, total: 83, subtotal: 64.8, revenue: 69.75, shipping: 4.95, tax: 13.25, discount: 0, currency: "EUR", products })
  new SegmentService({ logger }, opts).track({ event: "warm-up", userId: "u" })
  await be.sleep(FLUSH_INTERVAL + 500)
  const c0 = process.cpuUsage()
  for (let i = 0; i < orders; i++) {
    const s = new SegmentService({ logger }, { ...opts })
    s.identify({ userId: `cus_${i}`, traits: { email: "ada@e2e.test", firstName: "Grace", lastName: "Hopper" }, messageId: `medusa-identify-order_${i}` })
    s.track({ event: "Order Completed", userId: `cus_${i}`, properties: properties(i), timestamp: new Date(), messageId: `medusa-order.placed-order_${i}` })
    if (i % 10 === 9) await be.sleep(20) // events come in small groups, as in the Medusa runs
  }
  await be.sleep(FLUSH_INTERVAL + 1000) // everything delivered
  const c = process.cpuUsage(c0)
  process.send({ cpu_ms_per_order: (c.user + c.system) / 1000 / orders, orders }, () => process.exit(0))
}

const median = (xs) => {
  const s = xs.slice().sort((a, b) => a - b)
  return s.length % 2 ? s[s.length >> 1] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2
}

async function run({ smoke = false, reps, print = console.log } = {}) {
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
  reps = reps || (smoke ? 1 : 2)
  const runs = Object.fromEntries(VARIANTS.map((v) => [v.key, []]))
  for (let rep = 0; rep < reps; rep++) {
    // rotate the order of the variants from one repetition to the next
    const order = VARIANTS.map((_, i) => VARIANTS[(i + rep) % VARIANTS.length])
    for (const v of order) runs[v.key].push(await measure(v, { orders, rounds, print }))
  }
  const m = {}
  for (const [k, list] of Object.entries(runs)) {
    m[k] = { cpu: median(list.map((x) => x.cpu)), p99: median(list.map((x) => x.p99)), max: median(list.map((x) => x.max)), range: [Math.min(...list.map((x) => x.cpu)), Math.max(...list.map((x) => x.cpu))] }
  }
  const f = (x) => (Math.abs(x) >= 100 ? x.toFixed(0) : Math.abs(x) >= 10 ? x.toFixed(1) : x.toFixed(2))
  const cell = (k) => `${f(m[k].cpu - m.none.cpu)}${reps > 1 ? ` (${f(m[k].range[0] - m.none.cpu)}–${f(m[k].range[1] - m.none.cpu)})` : ""}`
  const ratio = (a, b) => (b > 0 ? `${(a / b).toFixed(1)}x` : "n/a")
  print(`\n${orders} orders placed through the Store API, order.placed re-emitted ${rounds} times for them (${orders * rounds} handled per run), ${reps} run(s) per variant, variants rotated; medians (min–max)\n`)
  print("| figure | ours (plugin subscriber) | Segment guide (workflow + @segment/analytics-node) | guide / ours |")
  print("|---|---:|---:|---:|")
  print(`| Medusa CPU ms per order.placed, minus the ${f(m.none.cpu)} ms floor | ${cell("ours")} | ${cell("guide")} | ${ratio(m.guide.cpu - m.none.cpu, m.ours.cpu - m.none.cpu)} |`)
  print(`| of which loading the order and building the calls (ours with enabled: false) | ${cell("ours_off")} | | |`)
  print(`| of which delivery on (ours minus ours with enabled: false) | ${f(m.ours.cpu - m.ours_off.cpu)} | | |`)
  const native = median(runs.ours.map((x) => (x.threads && x.threads["segment-rs"]) || 0))
  print(`| of which our native delivery thread (segment-rs; the rest is on Medusa's JS thread) | ${f(native)} | | |`)
  print(`| event-loop delay p99 / max (ms); floor ${f(m.none.p99)} / ${f(m.none.max)} | ${f(m.ours.p99)} / ${f(m.ours.max)} | ${f(m.guide.p99)} / ${f(m.guide.max)} | ${ratio(m.guide.p99, m.ours.p99)} (p99) |`)
  print("| Segment calls per order | identify + Order Completed | one track named \"order.placed\" | |")
  const alone = await clientOnly()
  print(`\nOur Segment client alone, outside Medusa (a new SegmentService + identify + Order Completed per order, delivery included): ${f(alone.cpu_ms_per_order)} CPU ms per order (${alone.orders} orders, ${alone.delivered} messages delivered)`)
  return { runs, medians: m, orders, rounds, reps, client_only: alone }
}

module.exports = { run, measure, clientOnly, VARIANTS }

if (require.main === module && process.argv[2] === "--client-only-child") {
  clientOnlyChild(process.argv[3], Number(process.argv[4]))
} else if (require.main === module) {
  const i = process.argv.indexOf("--reps")
  run({ smoke: process.argv.includes("--smoke"), reps: i > 0 ? Number(process.argv[i + 1]) : undefined }).catch((err) => {
    console.error(err.stack || err)
    process.exit(1)
  })
}
