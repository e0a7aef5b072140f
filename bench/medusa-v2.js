"use strict"
// The Medusa 2.x figures: what handling each event the plugin subscribes to
// costs the Medusa 2.21.2 process, per event: this package's subscribers
// against no Segment integration at all (the floor) and, for order.placed,
// against Medusa's Segment guide (a subscriber running a workflow: query
// graph step + a step calling the Analytics Module, whose provider wraps
// @segment/analytics-node; our own equivalent of the guide's code lives in
// e2e/v2/src/{modules/segment-docs,workflows,subscribers/docs-order-placed.js}).
//
// Method. One backend (e2e/v2, event-bus-local, no integration) runs the e2e
// story through the Store and Admin APIs (an order shipped and part
// returned, one cancelled, one claimed, one exchanged and its new item
// shipped) plus a few fresh orders; its database is kept. Each variant then
// gets a fresh backend on a copy of that database, so every variant handles
// the same records. Per event: one warm-up round (every payload handled and
// delivered), then ROUNDS rounds re-emitting the event for the same records
// (a bench-only admin route), while a probe preloaded into Medusa
// (e2e/v2/bench-probe.js) reads the process's CPU time and event-loop delay
// between the first and the last round. cpu_ms = Medusa process CPU ms per
// event (all threads; the floor is not subtracted), p99_ms = event-loop delay
// p99 over that window. Variants rotate from one repetition to the next;
// medians with the min–max over repetitions.
//
//   node bench/medusa-v2.js [--smoke] [--reps N] [--json FILE] [--variants none,ours,guide,ours_off]
//                           [--events order.placed,...] [--cpu-prof DIR]
//   (also: npm run bench -- --medusa-v2)
// --cpu-prof DIR: also profiles the JS thread over each measured window
// (V8 sampling profiler, 500 µs) and writes DIR/<variant>-<event>-<rep>.cpuprofile
// plus a split of the cost by part of the process (bench/profile-summary.js
// --by-part), ours minus the floor. Profiling slows the process: its runs'
// figures are not the benchmark's.
// Needs PostgreSQL (and installs Medusa 2.21.2 into the cache on first use,
// like the v2 e2e tests).

const fs = require("node:fs")
const path = require("node:path")
const be = require("../e2e/backend")
const v2 = require("../e2e/v2/backend")
const { MedusaV2Api, runStory } = require("../e2e/v2/scenario")
const { startSegmentServer } = require("../__tests__/support/segment-server")
const { startRateServer } = require("../e2e/rate-server")
const { partsTable } = require("./profile-summary")

const WRITE_KEY = "BenchWriteKey0123456789abcdefXYZ"
const FLUSH_AT = 15
const FLUSH_INTERVAL = 1000

/**
 * The events measured, with their payloads from the stored records: one row
 * per subscriber the package ships (add a row when one is added, and the
 * event to e2e/v2/src/subscribers/e2e-event-log.js). `guide`: the guide has a
 * pattern for this event. Payloads are repeated up to PER_ROUND per round.
 */
const EVENTS = [
  { event: "order.placed", guide: true, payloads: (s) => [...Object.values(s.orders), ...s.extra].map((o) => ({ id: o.id })) },
  {
    event: "shipment.created",
    payloads: (s) => [s.orders.A.fulfillment_id, s.orders.C.fulfillment_id, s.orders.D.fulfillment_id, s.orders.D.exchange_fulfillment_id].map((id) => ({ id })),
  },
  { event: "order.canceled", payloads: (s) => [{ id: s.orders.B.id }] },
  { event: "order.return_received", payloads: (s) => [{ order_id: s.orders.A.id, return_id: s.orders.A.return_id }] },
  { event: "order.claim_created", payloads: (s) => [{ order_id: s.orders.C.id, claim_id: s.orders.C.claim_id }] },
  { event: "order.exchange_created", payloads: (s) => [{ order_id: s.orders.D.id, exchange_id: s.orders.D.exchange_id }] },
]
const PER_ROUND = 4

/**
 * What runs in the Medusa process. "ours_off" (not in the default set):
 * ours with `enabled: false`: loads and builds every call, the client drops them.
 */
const VARIANTS = {
  none: { mode: "none" },
  ours: { mode: "plugin", sends: true },
  ours_off: { mode: "plugin", options: { enabled: false } },
  // ours reading the order through the query graph instead of one SQL statement (option order_loader)
  ours_query: { mode: "plugin", sends: true, options: { order_loader: "query" } },
  guide: { mode: "docs", sends: true, only: (e) => e.guide },
}

async function waitUntil(check, timeoutMs, what) {
  const until = Date.now() + timeoutMs
  while (!(await check())) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`)
    await be.sleep(50)
  }
}

async function probe(backend, file) {
  fs.rmSync(file, { force: true })
  process.kill(backend.pid, "SIGUSR2")
  await waitUntil(() => fs.existsSync(file) && fs.statSync(file).size > 0, 20000, "the probe")
  return JSON.parse(fs.readFileSync(file, "utf8"))
}

function probeEnv(probeFile, profile) {
  const req = (f) => `--require ${path.join(be.ROOT, "e2e", f)}`
  return { E2E_PROBE_FILE: probeFile, E2E_PROBE_PROFILE: profile ? "1" : "0", NODE_OPTIONS: `${req("loopback.js")} ${req("v2/bench-probe.js")}` }
}

/** The records every variant works on: the e2e story and a few fresh orders, in a kept database. */
async function prepareRecords({ print, extraOrders }) {
  const backend = await v2.startBackend({ mode: "none", eventBus: "local", keepDatabase: true })
  try {
    const api = new MedusaV2Api(backend.url, backend.publishableKey)
    const story = await runStory(api, { currencies: ["eur", "usd"], tag: "bench" })
    const { token } = await api.registerCustomer({ email: "bench@e2e.test" })
    story.extra = []
    for (let i = 0; i < extraOrders; i++) {
      const items = [{ sku: "TSHIRT-BLACK-M", quantity: 1 + (i % 3) }, { sku: "HOODIE-GREY-M", quantity: 1 }]
      story.extra.push(await api.placeOrder({ currency: i % 2 ? "usd" : "eur", token, items }))
    }
    print(`  records: ${Object.keys(story.orders).length} story orders (shipped + returned, cancelled, claimed, exchanged) and ${extraOrders} fresh orders`)
    return { story, dbName: backend.dbName }
  } finally {
    await backend.stop()
  }
}

/** One variant on a fresh backend: every event of `events`, measured. */
async function measureVariant(key, { records, events, rounds, rep, print, rates, profileDir }) {
  const variant = VARIANTS[key]
  const seg = await startSegmentServer({ port: 0, keepBodies: false })
  const probeFile = path.join(be.ROOT, ".tmp", `bench-v2-probe-${process.pid}.json`)
  fs.mkdirSync(path.dirname(probeFile), { recursive: true })
  const backend = await v2.startBackend({
    mode: variant.mode,
    eventBus: "local",
    fromDatabase: records.dbName,
    segmentOptions: {
      write_key: WRITE_KEY,
      host: seg.url,
      flush_at: FLUSH_AT,
      flush_interval: FLUSH_INTERVAL,
      // USD orders are reported in EUR through the exchange-rate cache, as a store would
      exchange_rates_api_key: "bench-rates-key",
      exchange_rates_url: rates.url,
      ...(variant.options || {}),
    },
    env: probeEnv(probeFile, Boolean(profileDir)),
  })
  const out = {}
  try {
    const api = new MedusaV2Api(backend.url, backend.publishableKey)
    for (const e of events) {
      if (variant.only && !variant.only(e)) continue
      const base = e.payloads(records.story)
      const data = Array.from({ length: Math.max(PER_ROUND, base.length) }, (_, i) => base[i % base.length])
      const emitted = () => backend.events().filter((x) => x.event === e.event).length
      // warm-up: every payload handled, its messages delivered (how many: counted, not assumed)
      let expectEvents = emitted() + data.length
      const m0 = seg.messages.length
      await api.admin("POST", "/bench/emit", { event: e.event, data })
      await waitUntil(() => emitted() >= expectEvents, 120000, `warm-up of ${key} ${e.event}`)
      await settle(seg, variant.sends, m0)
      const perRound = seg.messages.length - m0
      let expectMessages = seg.messages.length
      const before = await probe(backend, probeFile)
      for (let r = 0; r < rounds; r++) {
        await api.admin("POST", "/bench/emit", { event: e.event, data })
        expectEvents += data.length
        expectMessages += perRound
        await waitUntil(() => emitted() >= expectEvents && seg.messages.length >= expectMessages, 120000, `round ${r + 1} of ${key} ${e.event}`)
      }
      await be.sleep(FLUSH_INTERVAL + 300) // the last batch is sent; nothing is left running
      const after = await probe(backend, probeFile)
      const handled = data.length * rounds
      const fig = {
        cpu_ms: (after.cpu_ms - before.cpu_ms) / handled,
        p99_ms: after.eld.p99,
        max_ms: after.eld.max,
        native_ms: (((after.threads || {})["segment-rs"] || 0) - ((before.threads || {})["segment-rs"] || 0)) / handled,
        messages_per_event: perRound / data.length,
        handled,
      }
      if (profileDir) {
        const file = path.join(profileDir, `${key}-${e.event}-${rep}.cpuprofile`)
        fs.renameSync(`${probeFile}.cpuprofile`, file)
        fig.profile = file
      }
      out[e.event] = fig
      print(`  ${key} ${e.event}: ${handled} handled, ${fig.cpu_ms.toFixed(2)} CPU ms each, event-loop p99 ${fig.p99_ms.toFixed(1)} ms, ${fig.messages_per_event} Segment message(s) per event`)
    }
    return out
  } finally {
    await backend.stop()
    await seg.close()
    fs.rmSync(probeFile, { force: true })
    fs.rmSync(`${probeFile}.cpuprofile`, { force: true })
  }
}

/**
 * Waits until the variant's messages are in: at least one when it sends
 * (`from`: the count before), then none new for a flush interval and a bit.
 */
async function settle(seg, sends, from) {
  if (sends) await waitUntil(() => seg.messages.length > from, 120000, "the first Segment message")
  let n = -1
  while (n !== seg.messages.length) {
    n = seg.messages.length
    await be.sleep(FLUSH_INTERVAL + 300)
  }
}

/**
 * Our Segment client alone, outside Medusa, in a child process: per order an
 * identify and an "Order Completed" with the properties our subscriber sends,
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
  const s = new SegmentService({ logger }, opts)
  s.track({ event: "warm-up", userId: "u" })
  await be.sleep(FLUSH_INTERVAL + 500)
  const c0 = process.cpuUsage()
  for (let i = 0; i < orders; i++) {
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
const f = (x) => (Math.abs(x) >= 100 ? x.toFixed(0) : Math.abs(x) >= 10 ? x.toFixed(1) : x.toFixed(2))

/** { median, min, max } of one figure over the repetitions. */
function spread(list, k) {
  const xs = list.map((x) => x[k])
  return { median: median(xs), min: Math.min(...xs), max: Math.max(...xs) }
}

/** The --json shape: { event: { variant: { cpu_ms, p99_ms, ... } } }, medians; min/max beside them. */
function summarize(runs) {
  const out = {}
  for (const [event, byVariant] of Object.entries(runs)) {
    out[event] = {}
    for (const [variant, list] of Object.entries(byVariant)) {
      if (!list.length) continue
      const cpu = spread(list, "cpu_ms")
      const p99 = spread(list, "p99_ms")
      // cpu_ms and p99_ms are the --json shape; the rest is for the printed table
      const v = { cpu_ms: cpu.median, p99_ms: p99.median }
      Object.defineProperty(v, "detail", {
        enumerable: false,
        value: { cpu_ms_range: [cpu.min, cpu.max], p99_ms_range: [p99.min, p99.max], messages_per_event: median(list.map((x) => x.messages_per_event)) },
      })
      out[event][variant === "none" ? "floor" : variant] = v
    }
  }
  return out
}

function printTable(sum, reps, print) {
  const range = (r, floor) => (reps > 1 ? ` (${f(r[0] - floor)}–${f(r[1] - floor)})` : "")
  const above = (v, floor) => (v ? `${f(v.cpu_ms - floor.cpu_ms)}${range(v.detail.cpu_ms_range, floor.cpu_ms)}` : "")
  const p99 = (v, floor) => (v ? `${f(v.p99_ms - floor.p99_ms)}${range(v.detail.p99_ms_range, floor.p99_ms)}` : "")
  const ratio = (a, b) => (a && b && b > 0 ? `${(a / b).toFixed(2)}` : "")
  print("\nCPU ms per event above the floor, and event-loop delay p99 above the floor's (ms); medians" + (reps > 1 ? ` (min–max) of ${reps} runs` : " of 1 run") + "\n")
  print("| Medusa event | floor CPU / p99 | ours CPU | guide CPU | ours ÷ guide (CPU) | ours p99 | guide p99 | ours ÷ guide (p99) | Segment messages per event (ours) |")
  print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
  for (const [event, v] of Object.entries(sum)) {
    const fl = v.floor
    if (!fl) continue
    const o = v.ours
    const g = v.guide
    const oc = o && o.cpu_ms - fl.cpu_ms
    const gc = g && g.cpu_ms - fl.cpu_ms
    const op = o && o.p99_ms - fl.p99_ms
    const gp = g && g.p99_ms - fl.p99_ms
    print(`| ${event} | ${f(fl.cpu_ms)}${range(fl.detail.cpu_ms_range, 0)} / ${f(fl.p99_ms)} | ${above(o, fl)} | ${above(g, fl)} | ${ratio(oc, gc)} | ${p99(o, fl)} | ${p99(g, fl)} | ${ratio(op, gp)} | ${o ? o.detail.messages_per_event : ""} |`)
    if (v.ours_off) print(`| ${event}, ours with enabled: false | | ${above(v.ours_off, fl)} | | | ${p99(v.ours_off, fl)} | | | |`)
    if (v.ours_query) print(`| ${event}, ours with order_loader: "query" | | ${above(v.ours_query, fl)} | | ${ratio(v.ours_query.cpu_ms - fl.cpu_ms, gc)} | ${p99(v.ours_query, fl)} | | | |`)
  }
}

function printProfiles(runs, print) {
  for (const [event, byVariant] of Object.entries(runs)) {
    const floor = (byVariant.none || [])[0]
    for (const key of ["ours", "guide", "ours_off"]) {
      const run = (byVariant[key] || [])[0]
      if (!run || !run.profile || !floor || !floor.profile) continue
      const load = (p) => JSON.parse(fs.readFileSync(p, "utf8"))
      const rows = partsTable(load(run.profile), load(floor.profile), run.handled)
      // shares of what the process did, without the profiler's own work
      const own = rows[0].ms - (rows.find((r) => r.part.startsWith("the profiler")) || { ms: 0 }).ms
      print(`\n${key} ${event}: sampled JS-thread ms per event by part of the process, minus the floor's, and share (profiled runs: slower than the figures)`)
      print(`${own.toFixed(2).padStart(8)}         sampled, the profiler's own work left out`)
      for (const r of rows.slice(1)) if (Math.abs(r.ms) >= 0.02) print(`${r.ms.toFixed(2).padStart(8)} ${((100 * r.ms) / own).toFixed(1).padStart(6)}%  ${r.part}`)
    }
  }
}

async function run({ smoke = false, reps, print = console.log, variants, events, json, cpuProf } = {}) {
  print("\n### Medusa 2.x level: what each subscribed event costs the Medusa process (2.21.2, event-bus-local)\n")
  let tarball
  try {
    tarball = await be.packPlugin()
    await v2.prepareBackend({ tarball })
  } catch (err) {
    print(`skipped: cannot prepare the Medusa 2.21.2 backend: ${err.message.split("\n")[0]}`)
    return { skipped: err.message }
  }
  const rounds = smoke ? 2 : 10
  reps = reps || (smoke ? 1 : 2)
  const keys = variants || ["none", "ours", "guide"]
  for (const k of keys) if (!VARIANTS[k]) throw new Error(`--variants: unknown variant ${k} (known: ${Object.keys(VARIANTS).join(", ")})`)
  const chosen = events ? EVENTS.filter((e) => events.includes(e.event)) : EVENTS
  if (cpuProf) fs.mkdirSync(cpuProf, { recursive: true })
  const rates = await startRateServer({ rates: { USD: 1.1 } })
  const records = await prepareRecords({ print, extraOrders: smoke ? 2 : 4 })
  const runs = Object.fromEntries(chosen.map((e) => [e.event, Object.fromEntries(keys.map((k) => [k, []]))]))
  const t0 = Date.now()
  try {
    for (let rep = 0; rep < reps; rep++) {
      // rotate the order of the variants from one repetition to the next
      const order = keys.map((_, i) => keys[(i + rep) % keys.length])
      for (const k of order) {
        const got = await measureVariant(k, { records, events: chosen, rounds, rep, print, rates, profileDir: cpuProf })
        for (const [event, fig] of Object.entries(got)) runs[event][k].push(fig)
      }
    }
  } finally {
    await rates.close()
    try {
      be.psql(`DROP DATABASE IF EXISTS "${records.dbName}" WITH (FORCE)`)
    } catch {}
  }
  const sum = summarize(runs)
  const load = require("node:os").loadavg()
  print(`\n${rounds} rounds of ${PER_ROUND}+ events per event and variant, ${reps} run(s) per variant, variants rotated; ${((Date.now() - t0) / 60000).toFixed(1)} min; load average now ${load.map((x) => x.toFixed(2)).join(" ")}`)
  printTable(sum, reps, print)
  if (cpuProf) printProfiles(runs, print)
  let alone
  if (!smoke) {
    alone = await clientOnly()
    print(`\nOur Segment client alone, outside Medusa (identify + Order Completed per order, delivery included): ${f(alone.cpu_ms_per_order)} CPU ms per order (${alone.orders} orders, ${alone.delivered} messages delivered)`)
  }
  if (json) fs.writeFileSync(json, JSON.stringify(sum, null, 2) + "\n")
  return { figures: sum, runs, rounds, reps, client_only: alone, loadavg: load }
}

module.exports = { run, clientOnly, VARIANTS, EVENTS }

if (require.main === module && process.argv[2] === "--client-only-child") {
  clientOnlyChild(process.argv[3], Number(process.argv[4]))
} else if (require.main === module) {
  const arg = (name) => {
    const i = process.argv.indexOf(name)
    return i > 0 ? process.argv[i + 1] : undefined
  }
  const list = (name) => (arg(name) ? arg(name).split(",").filter(Boolean) : undefined)
  run({
    smoke: process.argv.includes("--smoke"),
    reps: arg("--reps") ? Number(arg("--reps")) : undefined,
    json: arg("--json"),
    variants: list("--variants"),
    events: list("--events"),
    cpuProf: arg("--cpu-prof") ? path.resolve(arg("--cpu-prof")) : undefined,
  }).catch((err) => {
    console.error(err.stack || err)
    process.exit(1)
  })
}
