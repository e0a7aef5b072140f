"use strict"
// The Medusa 2.x figures: what handling each event the plugin subscribes to
// costs the Medusa 2.21.2 process, per event: this package's subscribers
// against no Segment integration at all (the floor) and, for order.placed,
// against Medusa's Segment guide (a subscriber running a workflow: query
// graph step + a step calling the Analytics Module, whose provider wraps
// @segment/analytics-node; our own equivalent of the guide's code lives in
// e2e/v2/src/{modules/segment-docs,workflows,subscribers/docs-order-placed.js}).
//
// Method. One backend (e2e/v2, event-bus-local, no integration, the
// plugin's tables migrated) runs the e2e story through the Store and Admin
// APIs (an order shipped and part returned, one cancelled, one claimed, one
// exchanged and its new item shipped), a few fresh orders, and what the
// chosen events need (e2e/v2/bench-records.js: payments captured and
// refunded, deliveries, a requested return, an order edit, customers signed
// up, edited and deleted, guest carts transferred, open carts); its database
// is kept. Each variant then gets a fresh backend on a copy of that database,
// so every variant handles the same records. Per event: one warm-up round
// (every payload handled and delivered; the messages per event are counted
// there), then ROUNDS rounds re-emitting the event with the payloads Medusa
// emitted for those records (a bench-only admin route), each round waiting
// until the Medusa process is idle again, while a probe preloaded into Medusa
// (e2e/v2/bench-probe.js) reads the process's CPU time and event-loop delay
// between the first and the last round. Where the plugin keeps state (the
// funnel's carts, the last identify of a customer), that state is set one
// change back before each round, so each event does the work of a real one.
// cpu_ms = Medusa process CPU ms per event (all threads; the floor is not
// subtracted), p99_ms = event-loop delay p99 over that window. Variants
// rotate from one repetition to the next; medians with the min–max over
// repetitions.
//
//   node bench/medusa-v2.js [--smoke] [--reps N] [--json FILE] [--docs] [--events order.placed,...]
//                           [--variants none,ours,guide,ours_funnel,ours_captured,ours_off] [--cpu-prof DIR]
// Variants: none (the floor), ours (default options), guide (order.placed),
// ours_funnel (events: { funnel: true }; the funnel's events and order.placed),
// ours_captured (order_completed_on: "captured"; payment.captured), ours_off
// (enabled: false; only when asked for). --smoke: 2 rounds, the first six
// events unless --events names others.
//   (also: npm run bench -- --medusa-v2)
// --docs: writes the table and the issue-20 targets into docs/benchmarks.md
// and the README's Medusa line, between their MEDUSA 2.X FIGURES markers.
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
const { LifecycleApi } = require("../e2e/v2/lifecycle-scenario")
const benchRecords = require("../e2e/v2/bench-records")
const { startSegmentServer } = require("../__tests__/support/segment-server")
const { startRateServer } = require("../e2e/rate-server")
const { partsTable } = require("./profile-summary")
const { writeBlocks, commitOf } = require("./figures")

const WRITE_KEY = "BenchWriteKey0123456789abcdefXYZ"
const FLUSH_AT = 15
const FLUSH_INTERVAL = 1000

// What makes a re-emitted event do the work of a real one where the plugin
// keeps state: run from this process (psql, not in the Medusa process's CPU)
// before every emit. Without them a re-emitted cart or customer event would
// find nothing new and send nothing. The tables are there in every variant
// (the records' database is migrated with the plugin); the rows only where
// the plugin ran.
const quoted = (ids) => ids.map((id) => `'${String(id).replace(/'/g, "''")}'`).join(", ")

/**
 * The funnel's recorded state of `carts(records)` (segment_cart_state), one
 * change back: `change(state)` gives the state before the change the event
 * is to report; no `change`: the state is deleted (the cart is seen for the
 * first time). `snapshot` reads the states once, after a first, unmeasured
 * round has recorded them.
 */
function funnelRewind(carts, change) {
  const rewind = { carts }
  if (!change) {
    rewind.apply = ({ db, records }) => be.psql(`DELETE FROM segment_cart_state WHERE id IN (${quoted(carts(records))})`, db)
    return rewind
  }
  rewind.snapshot = ({ db, records }) =>
    JSON.parse(be.psql(`SELECT coalesce(json_agg(json_build_object('id', id, 'state', state)), '[]') FROM segment_cart_state WHERE id IN (${quoted(carts(records))})`, db))
  rewind.apply = ({ db, saved }) => {
    if (!saved.length) return
    const rows = JSON.stringify(saved.map(({ id, state }) => ({ id, state: change(state) }))).replace(/'/g, "''")
    be.psql(`UPDATE segment_cart_state s SET state = x.state FROM jsonb_to_recordset('${rows}'::jsonb) AS x(id text, state jsonb) WHERE s.id = x.id`, db)
  }
  return rewind
}

/** The last identify of the payloads' customers (segment_identify_state): "forget" (never identified) or "changed" (other traits). */
function identifyRewind(how) {
  const sql = {
    forget: (ids) => `DELETE FROM segment_identify_state WHERE customer_id IN (${ids}) AND NOT stopped`,
    changed: (ids) => `UPDATE segment_identify_state SET traits_hash = 'bench-rewound' WHERE customer_id IN (${ids}) AND NOT stopped`,
  }[how]
  return { apply: ({ db, base }) => be.psql(sql(quoted(base.map((d) => d.id))), db) }
}

/** The cart's state without its last line: the event reports one Product Added. */
function withoutLastLine(state) {
  const keys = Object.keys(state.items || {}).sort()
  const items = { ...state.items }
  delete items[keys[keys.length - 1]]
  return { ...state, items }
}

/**
 * The events measured, with their payloads from the records: one row per
 * event a subscriber the package ships handles (add a row when one is added,
 * and the event to e2e/v2/src/subscribers/e2e-event-log.js). `guide`: the
 * guide has a pattern for this event; `funnel`: the funnel subscriber (opt-in)
 * handles it too; `needs`: the part of the records it needs
 * (e2e/v2/bench-records.js); `smoke`: in the --smoke run; `rewind`: see
 * above. Payloads are repeated up to PER_ROUND per round. `r.logged(event)`:
 * the distinct payloads Medusa emitted for `event` while the records were made.
 */
const EVENTS = [
  { event: "order.placed", guide: true, funnel: true, smoke: true, payloads: (r) => [...Object.values(r.orders), ...r.extra].map((o) => ({ id: o.id })) },
  {
    event: "shipment.created",
    smoke: true,
    payloads: (r) => [r.orders.A.fulfillment_id, r.orders.C.fulfillment_id, r.orders.D.fulfillment_id, r.orders.D.exchange_fulfillment_id].map((id) => ({ id })),
  },
  { event: "order.canceled", smoke: true, payloads: (r) => [{ id: r.orders.B.id }] },
  { event: "order.return_received", smoke: true, payloads: (r) => [{ order_id: r.orders.A.id, return_id: r.orders.A.return_id }] },
  { event: "order.claim_created", smoke: true, payloads: (r) => [{ order_id: r.orders.C.id, claim_id: r.orders.C.claim_id }] },
  { event: "order.exchange_created", smoke: true, payloads: (r) => [{ order_id: r.orders.D.id, exchange_id: r.orders.D.exchange_id }] },
  // lib/v2/lifecycle.js
  { event: "order.updated", needs: "lifecycle", payloads: (r) => r.logged("order.updated") },
  { event: "order-edit.confirmed", needs: "lifecycle", payloads: (r) => r.logged("order-edit.confirmed") },
  { event: "order.return_requested", needs: "lifecycle", payloads: (r) => r.logged("order.return_requested") },
  { event: "order.fulfillment_created", needs: "lifecycle", payloads: (r) => r.logged("order.fulfillment_created") },
  { event: "delivery.created", needs: "lifecycle", payloads: (r) => r.logged("delivery.created") },
  // ours: does nothing with order_completed_on "placed" (the default); ours_captured: Order Completed
  { event: "payment.captured", needs: "lifecycle", payloads: (r) => r.logged("payment.captured") },
  { event: "payment.refunded", needs: "lifecycle", payloads: (r) => r.logged("payment.refunded") },
  // lib/v2/customers.js: every event finds traits it has not sent (a new or changed customer)
  { event: "customer.created", needs: "customers", payloads: (r) => r.logged("customer.created", (d) => r.customers.kept.includes(d.id)), rewind: identifyRewind("forget") },
  { event: "customer.updated", needs: "customers", payloads: (r) => r.logged("customer.updated", (d) => r.customers.kept.includes(d.id)), rewind: identifyRewind("changed") },
  { event: "customer.deleted", needs: "customers", payloads: (r) => r.logged("customer.deleted", (d) => r.customers.deleted.includes(d.id)) },
  // lib/v2/attribution.js
  { event: "cart.customer_transferred", needs: "transfers", payloads: (r) => r.logged("cart.customer_transferred") },
  // lib/v2/funnel.js (ours_funnel): each event reports one change, as in a shopper's session
  {
    event: "cart.created",
    funnel: true,
    needs: "carts",
    payloads: (r) => r.logged("cart.created", (d) => r.carts.items.includes(d.id)),
    rewind: funnelRewind((r) => r.carts.items), // first sight of a cart of two lines: 2 Product Added
  },
  {
    event: "cart.updated",
    funnel: true,
    needs: "carts",
    payloads: (r) => r.logged("cart.updated", (d) => r.carts.items.includes(d.id)),
    rewind: funnelRewind((r) => r.carts.items, withoutLastLine), // a line added
  },
  {
    event: "segment.cart-promotions-updated",
    funnel: true,
    needs: "carts",
    payloads: (r) => r.carts.checkout.map((c) => ({ id: c.cart_id })),
    rewind: funnelRewind((r) => r.carts.checkout.map((c) => c.cart_id), (s) => ({ ...s, coupons: {} })), // a code applied
  },
  {
    event: "segment.payment-session-created",
    funnel: true,
    needs: "carts",
    payloads: (r) => r.carts.checkout.map((c) => ({ id: c.payment_collection_id })),
    // the payment step done: Checkout Step Completed + Payment Info Entered
    rewind: funnelRewind((r) => r.carts.checkout.map((c) => c.cart_id), (s) => ({ ...s, payment: [], steps: (s.steps || []).filter((n) => n !== 3) })),
  },
]
const PER_ROUND = 4

/**
 * What runs in the Medusa process; `only`: the events a variant is measured
 * on (its backend is not started when none is chosen). Not in the default
 * set: "ours_off", ours with `enabled: false` (loads and builds every call,
 * the client drops them).
 */
const VARIANTS = {
  none: { mode: "none" },
  ours: { mode: "plugin" },
  guide: { mode: "docs", only: (e) => e.guide },
  // the funnel switched on: its subscriber and, on order.placed, the order subscriber too
  ours_funnel: { mode: "plugin", options: { events: { funnel: true } }, only: (e) => e.funnel },
  // Order Completed sent on payment capture instead of order.placed
  ours_captured: { mode: "plugin", options: { order_completed_on: "captured" }, only: (e) => e.event === "payment.captured" },
  ours_off: { mode: "plugin", options: { enabled: false } },
  // ours reading the order through the query graph instead of one SQL statement (option order_loader)
  ours_query: { mode: "plugin", options: { order_loader: "query" } },
}
const DEFAULT_VARIANTS = ["none", "ours", "guide", "ours_funnel", "ours_captured"]

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

/**
 * CPU ticks (10 ms) the process has used, all threads but V8's profiler
 * (--cpu-prof: its sampling thread never rests), read from outside it (/proc).
 */
function cpuTicks(pid) {
  let ticks = 0
  for (const t of fs.readdirSync(`/proc/${pid}/task`)) {
    let stat
    try {
      stat = fs.readFileSync(`/proc/${pid}/task/${t}/stat`, "utf8")
    } catch {
      continue // the thread ended
    }
    if (stat.includes("(v8:ProfEvntProc)")) continue
    const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ")
    ticks += Number(f[11]) + Number(f[12])
  }
  return ticks
}

/**
 * Waits until the Medusa process has used at most one tick of CPU over
 * `quietMs`: what it was handling is done. Medusa's local event bus does not
 * say when its subscribers are done, and an event that sends nothing (no
 * change to report) leaves no other trace. A process that is busy but
 * starved by a loaded machine still gets several ticks in that time.
 * `ticks`: how many are allowed (more while V8's profiler samples the process).
 */
async function waitIdle(pid, { quietMs = 400, ticks = 1, timeoutMs = 120000, what = "the Medusa process to be idle" } = {}) {
  const until = Date.now() + timeoutMs
  let from = cpuTicks(pid)
  let since = Date.now()
  while (Date.now() - since < quietMs) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`)
    await be.sleep(100)
    const now = cpuTicks(pid)
    if (now - from > ticks) {
      from = now
      since = Date.now()
    }
  }
}

/** Which parts of the records the events need (e2e/v2/bench-records.js). */
const partsFor = (events) => new Set(events.map((e) => e.needs).filter(Boolean))

/**
 * The records every variant works on, in a kept database migrated with the
 * plugin (its state tables; nothing else reads them): the e2e story, a few
 * fresh orders, and the parts of e2e/v2/bench-records.js the chosen events
 * need. `logged(event, keep)`: the distinct payloads Medusa emitted for that
 * event meanwhile (throws when there is none).
 */
async function prepareRecords({ print, extraOrders, parts }) {
  const backend = await v2.startBackend({ mode: "none", eventBus: "local", keepDatabase: true, migrate: true })
  try {
    const api = new LifecycleApi(backend.url, backend.publishableKey)
    const tag = "bench"
    const r = await runStory(api, { currencies: ["eur", "usd"], tag })
    const bench = await api.registerCustomer({ email: "bench@e2e.test" })
    r.extra = []
    for (let i = 0; i < extraOrders; i++) {
      const items = [{ sku: "TSHIRT-BLACK-M", quantity: 1 + (i % 3) }, { sku: "HOODIE-GREY-M", quantity: 1 }]
      r.extra.push(await api.placeOrder({ currency: i % 2 ? "usd" : "eur", token: bench.token, items }))
    }
    const made = [`${Object.keys(r.orders).length} story orders (shipped + returned, cancelled, claimed, exchanged) and ${extraOrders} fresh orders`]
    if (parts.has("lifecycle")) {
      r.lifecycle = await benchRecords.lifecycle(api, r, { tag })
      made.push("4 orders through capture, fulfilment, shipment, delivery, refund, a requested return, an order edit")
    }
    if (parts.has("customers")) {
      r.customers = await benchRecords.customers(api, bench, { tag })
      made.push(`${r.customers.kept.length} customers signed up and edited, ${r.customers.deleted.length} deleted`)
    }
    if (parts.has("transfers")) {
      r.transfers = await benchRecords.transfers(api, bench.token, { tag })
      made.push(`${r.transfers.length} guest carts transferred to a customer`)
    }
    if (parts.has("carts")) {
      r.carts = await benchRecords.carts(api, { tag })
      made.push(`${r.carts.items.length} open carts of two lines, ${r.carts.checkout.length} at the payment step with a promotion code`)
    }
    await waitIdle(backend.pid, { quietMs: 1000, what: "the records' last events" })
    const log = backend.events()
    r.logged = (event, keep = () => true) => {
      const seen = new Map()
      for (const e of log) if (e.event === event && keep(e.data)) seen.set(JSON.stringify(e.data), e.data)
      if (!seen.size) throw new Error(`the records' event log has no ${event} to re-emit`)
      return [...seen.values()]
    }
    print(`  records: ${made.join("; ")}`)
    return { records: r, dbName: backend.dbName }
  } finally {
    await backend.stop()
  }
}

/** One variant on a fresh backend: every event of `events` it applies to, measured. */
async function measureVariant(key, { records, dbName, events, rounds, rep, print, rates, profileDir }) {
  const variant = VARIANTS[key]
  const mine = events.filter((e) => !variant.only || variant.only(e))
  if (!mine.length) return {}
  const seg = await startSegmentServer({ port: 0, keepBodies: false })
  const probeFile = path.join(be.ROOT, ".tmp", `bench-v2-probe-${process.pid}.json`)
  fs.mkdirSync(path.dirname(probeFile), { recursive: true })
  const backend = await v2.startBackend({
    mode: variant.mode,
    eventBus: "local",
    fromDatabase: dbName,
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
  const db = backend.dbName
  const idle = (opts = {}) => waitIdle(backend.pid, { ticks: profileDir ? 4 : 1, ...opts })
  try {
    const api = new MedusaV2Api(backend.url, backend.publishableKey)
    for (const e of mine) {
      const base = e.payloads(records)
      const data = Array.from({ length: Math.max(PER_ROUND, base.length) }, (_, i) => base[i % base.length])
      const emitted = () => backend.events().filter((x) => x.event === e.event).length
      let expectEvents = emitted()
      const emit = async () => {
        await api.admin("POST", "/bench/emit", { event: e.event, data })
        expectEvents += data.length
      }
      const handled = async (what) => {
        await waitUntil(() => emitted() >= expectEvents, 120000, what)
        await idle({ what })
      }
      const rw = e.rewind
      let saved = []
      if (rw && rw.snapshot) {
        // a first round, not measured, records the state that each round then goes one change back from
        await emit()
        await handled(`the first round of ${key} ${e.event}`)
        await settle(seg) // its messages are not the warm-up's
        saved = rw.snapshot({ db, records })
      }
      const rewind = () => rw && rw.apply({ db, records, base, saved })
      // warm-up: every payload handled, its messages delivered (how many: counted, not assumed)
      const logFrom = backend.logs().length
      rewind()
      const m0 = seg.messages.length
      await emit()
      await handled(`the warm-up of ${key} ${e.event}`)
      await settle(seg)
      // a payload the plugin cannot handle would measure its error path: stop instead
      const failed = backend
        .logs()
        .slice(logFrom)
        .split("\n")
        .filter((l) => l.includes("[segment] cannot track"))
      if (failed.length) throw new Error(`${key} ${e.event}: the plugin failed on the bench's payloads:\n${failed.slice(0, 3).join("\n")}`)
      const perRound = seg.messages.length - m0
      let expectMessages = seg.messages.length
      const before = await probe(backend, probeFile)
      for (let r = 0; r < rounds; r++) {
        rewind()
        await emit()
        expectMessages += perRound
        const what = `round ${r + 1} of ${key} ${e.event}`
        await waitUntil(() => emitted() >= expectEvents && seg.messages.length >= expectMessages, 120000, what)
        await idle({ what })
      }
      await be.sleep(FLUSH_INTERVAL + 300) // the last batch is sent; nothing is left running
      await idle({ quietMs: 1000 })
      const after = await probe(backend, probeFile)
      const n = data.length * rounds
      const fig = {
        cpu_ms: (after.cpu_ms - before.cpu_ms) / n,
        p99_ms: after.eld.p99,
        max_ms: after.eld.max,
        threads_ms: threadGroups(before.threads, after.threads, n),
        messages_per_event: perRound / data.length,
        handled: n,
      }
      if (profileDir) {
        const file = path.join(profileDir, `${key}-${e.event}-${rep}.cpuprofile`)
        fs.renameSync(`${probeFile}.cpuprofile`, file)
        fig.profile = file
      }
      out[e.event] = fig
      print(`  ${key} ${e.event}: ${n} handled, ${fig.cpu_ms.toFixed(2)} CPU ms each, event-loop p99 ${fig.p99_ms.toFixed(1)} ms, ${+fig.messages_per_event.toFixed(2)} Segment message(s) per event`)
    }
    return out
  } finally {
    await backend.stop()
    await seg.close()
    fs.rmSync(probeFile, { force: true })
    fs.rmSync(`${probeFile}.cpuprofile`, { force: true })
  }
}

/** Waits until the messages are in: none new for a flush interval and a bit. */
async function settle(seg) {
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

// The Medusa process's threads by what runs on them (e2e/v2/bench-probe.js names
// them from /proc/self/task: the JS thread by its id; Node 20 leaves V8's
// platform workers and libuv's pool named "node").
const THREAD_GROUPS = [
  ["js", "the JS thread", (name) => name === "(js)"],
  ["node", "V8's workers and libuv's pool (GC, compilers, fs)", (name) => name === "node"],
  ["native", "this package's native threads (delivery, spool)", (name) => /^(segment-|tokio-)/.test(name)],
  ["other", "other threads", () => true],
]

/** CPU ms per event of each thread group between two probe readings (10 ms ticks). */
function threadGroups(before = {}, after = {}, n) {
  const out = Object.fromEntries(THREAD_GROUPS.map(([k]) => [k, 0]))
  for (const name of new Set([...Object.keys(before), ...Object.keys(after)])) {
    const [k] = THREAD_GROUPS.find(([, , test]) => test(name))
    out[k] += ((after[name] || 0) - (before[name] || 0)) / n
  }
  return out
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
        value: {
          cpu_ms_range: [cpu.min, cpu.max],
          p99_ms_range: [p99.min, p99.max],
          messages_per_event: median(list.map((x) => x.messages_per_event)),
          threads_ms: list.every((x) => x.threads_ms) ? Object.fromEntries(THREAD_GROUPS.map(([k]) => [k, median(list.map((x) => x.threads_ms[k]))])) : null,
        },
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
    print(`| ${event} | ${f(fl.cpu_ms)}${range(fl.detail.cpu_ms_range, 0)} / ${f(fl.p99_ms)} | ${above(o, fl)} | ${above(g, fl)} | ${ratio(oc, gc)} | ${p99(o, fl)} | ${p99(g, fl)} | ${ratio(op, gp)} | ${messages(o)} |`)
    for (const [key, what] of Object.entries(OTHER_OURS)) {
      if (v[key]) print(`| ${event}, ours ${what} | | ${above(v[key], fl)} | | | ${p99(v[key], fl)} | | | ${messages(v[key])} |`)
    }
  }
}

/** Where the CPU above the floor ran: per thread group, ours (default options) minus the floor, medians. */
function printThreads(sum, reps, print) {
  const rows = Object.entries(sum).filter(([, v]) => v.floor && v.ours && v.floor.detail.threads_ms && v.ours.detail.threads_ms)
  if (!rows.length) return
  print(`\nWhere that CPU ran: CPU ms per event above the floor, by thread of the Medusa process (ours, default options; medians of ${reps} run(s); 10 ms ticks over 40+ events)\n`)
  print(`| Medusa event | ${THREAD_GROUPS.map(([, label]) => label).join(" | ")} |`)
  print(`|---|${THREAD_GROUPS.map(() => "---:").join("|")}|`)
  for (const [event, v] of rows) {
    const a = v.ours.detail.threads_ms
    const b = v.floor.detail.threads_ms
    print(`| ${event} | ${THREAD_GROUPS.map(([k]) => f(a[k] - b[k])).join(" | ")} |`)
  }
}

/** The variants of ours beside the default, as the table names them. */
const OTHER_OURS = {
  ours_funnel: "with the funnel on",
  ours_captured: 'with order_completed_on: "captured"',
  ours_query: 'with order_loader: "query"',
  ours_off: "with enabled: false",
}
const messages = (v) => (v ? String(+v.detail.messages_per_event.toFixed(2)) : "")

function printProfiles(runs, print) {
  for (const [event, byVariant] of Object.entries(runs)) {
    const floor = (byVariant.none || [])[0]
    for (const key of ["ours", "guide", ...Object.keys(OTHER_OURS)]) {
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

async function run({ smoke = false, reps, print = console.log, variants, events, json, cpuProf, docs = false } = {}) {
  const load0 = require("node:os").loadavg()
  const commit = commitOf()
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
  const keys = variants || DEFAULT_VARIANTS
  for (const k of keys) if (!VARIANTS[k]) throw new Error(`--variants: unknown variant ${k} (known: ${Object.keys(VARIANTS).join(", ")})`)
  for (const name of events || []) {
    if (!EVENTS.some((e) => e.event === name)) throw new Error(`--events: unknown event ${name} (known: ${EVENTS.map((e) => e.event).join(", ")})`)
  }
  // --smoke: the first six events unless --events says otherwise (the others need records that take minutes)
  const chosen = events ? EVENTS.filter((e) => events.includes(e.event)) : EVENTS.filter((e) => !smoke || e.smoke)
  if (cpuProf) fs.mkdirSync(cpuProf, { recursive: true })
  const rates = await startRateServer({ rates: { USD: 1.1 } })
  const t00 = Date.now()
  let prepared
  try {
    prepared = await prepareRecords({ print, extraOrders: smoke ? 2 : 4, parts: partsFor(chosen) })
  } catch (err) {
    await rates.close()
    throw err
  }
  const recordsMs = Date.now() - t00
  print(`  records prepared in ${(recordsMs / 60000).toFixed(1)} min`)
  const runs = Object.fromEntries(chosen.map((e) => [e.event, Object.fromEntries(keys.map((k) => [k, []]))]))
  const repMs = []
  const t0 = Date.now()
  try {
    for (const e of chosen) e.payloads(prepared.records) // every chosen event has payloads, before any variant starts
    for (let rep = 0; rep < reps; rep++) {
      const r0 = Date.now()
      // rotate the order of the variants from one repetition to the next, and
      // the events' (by a share of the list): something that happens at some
      // time into a Medusa process's life (seen: about 0.9 s of CPU once, a
      // minute or so after start, in the floor too) then falls on other events
      const order = keys.map((_, i) => keys[(i + rep) % keys.length])
      const shift = Math.floor((rep * chosen.length) / reps)
      const evOrder = chosen.map((_, i) => chosen[(i + shift) % chosen.length])
      for (const k of order) {
        const got = await measureVariant(k, { records: prepared.records, dbName: prepared.dbName, events: evOrder, rounds, rep, print, rates, profileDir: cpuProf })
        for (const [event, fig] of Object.entries(got)) runs[event][k].push(fig)
      }
      repMs.push(Date.now() - r0)
      print(`  repetition ${rep + 1} of ${reps}: ${(repMs[rep] / 60000).toFixed(1)} min`)
    }
  } finally {
    await rates.close()
    try {
      be.psql(`DROP DATABASE IF EXISTS "${prepared.dbName}" WITH (FORCE)`)
    } catch {}
  }
  const sum = summarize(runs)
  const load = require("node:os").loadavg()
  print(`\n${rounds} rounds of ${PER_ROUND}+ events per event and variant, ${reps} run(s) per variant, variants rotated; ${((Date.now() - t0) / 60000).toFixed(1)} min; load average now ${load.map((x) => x.toFixed(2)).join(" ")}`)
  printTable(sum, reps, print)
  printThreads(sum, reps, print)
  if (cpuProf) printProfiles(runs, print)
  let alone
  if (!smoke) {
    alone = await clientOnly()
    print(`\nOur Segment client alone, outside Medusa (identify + Order Completed per order, delivery included): ${f(alone.cpu_ms_per_order)} CPU ms per order (${alone.orders} orders, ${alone.delivered} messages delivered)`)
  }
  if (json) fs.writeFileSync(json, JSON.stringify(sum, null, 2) + "\n")
  const result = { figures: sum, runs, rounds, reps, client_only: alone, loadavg: load, load_start: load0, records_ms: recordsMs, rep_ms: repMs, commit, date: new Date(t00).toISOString() }
  if (docs) for (const file of writeBlocks(DOC_TARGETS, result)) print(`figures written to ${file}`)
  return result
}

// ---- the figures the docs show (--docs), so no number is copied by hand ----

const DOC_BEGIN = "MEDUSA 2.X FIGURES: written by `node bench/medusa-v2.js --docs` from its run; do not edit by hand"
const DOC_END = "END MEDUSA 2.X FIGURES"
const TARGET_MS = 5 // issue 20: every subscriber but order.placed, CPU ms per event above the floor

const aboveFloor = (v, fl, key = "cpu_ms") => (v && fl ? v[key] - fl[key] : null)

/** Where and when a run was measured. */
function provenance(r) {
  const os = require("node:os")
  const cpus = os.cpus()
  return (
    `\`node bench/medusa-v2.js --reps ${r.reps} --docs\` on ${r.date.slice(0, 10)} at commit ${r.commit}; ` +
    `${cpus.length} × ${(cpus[0] || { model: "unknown CPU" }).model.trim()}, Node ${process.version}; ` +
    `load average ${r.load_start[0].toFixed(2)} at the start, ${r.loadavg[0].toFixed(2)} at the end; ` +
    `records prepared in ${(r.records_ms / 60000).toFixed(1)} min, ${r.reps} repetition(s) of ${r.rep_ms.map((m) => (m / 60000).toFixed(1)).join(" and ")} min`
  )
}

/** The issue-20 targets, judged on a run's medians. */
function targetRows(sum) {
  const rows = []
  const p = sum["order.placed"]
  if (p && p.floor && p.ours && p.guide) {
    for (const [what, key] of [["Medusa CPU per `order.placed` above the floor", "cpu_ms"], ["event-loop p99 above the floor during `order.placed`", "p99_ms"]]) {
      const o = aboveFloor(p.ours, p.floor, key)
      const g = aboveFloor(p.guide, p.floor, key)
      const r = g > 0 ? o / g : null
      rows.push([`${what} ≤ 0.5× the guide's`, `${f(o)} vs ${f(g)} ms: ${r === null ? "n/a" : r.toFixed(2) + "×"}`, r !== null && r <= 0.5 ? "holds" : "misses"])
    }
  }
  const over = []
  let n = 0
  for (const [event, v] of Object.entries(sum)) {
    if (event === "order.placed" || !v.ours || !v.floor) continue
    n++
    const a = aboveFloor(v.ours, v.floor)
    if (a > TARGET_MS) over.push(`\`${event}\` ${f(a)}`)
  }
  rows.push([
    `every other subscriber (default options) ≤ ${TARGET_MS} ms CPU per event above the floor`,
    over.length ? `${n - over.length} of ${n} hold; over: ${over.join(", ")} ms` : `all ${n} hold`,
    over.length ? "misses" : "holds",
  ])
  return rows
}

function docsBlock(r) {
  const lines = [provenance(r) + ".", ""]
  const add = (line) => lines.push(...line.replace(/^\n/, "").split("\n"))
  printTable(r.figures, r.reps, add)
  printThreads(r.figures, r.reps, (line) => add("\n" + line))
  lines.push("", "Targets (issue 20) on this run's medians:", "", "| target | figure | |", "|---|---|---|")
  for (const row of targetRows(r.figures)) lines.push(`| ${row.join(" | ")} |`)
  if (r.client_only) lines.push("", `Our Segment client alone, outside Medusa (an identify and an "Order Completed" per order, delivery included): ${f(r.client_only.cpu_ms_per_order)} CPU ms per order.`)
  return lines.join("\n")
}

function readmeBlock(r) {
  const p = r.figures["order.placed"]
  if (!p || !p.ours || !p.guide) return "- **Inside Medusa too**: see [docs/benchmarks.md](docs/benchmarks.md#medusa-2x)."
  const o = aboveFloor(p.ours, p.floor)
  const g = aboveFloor(p.guide, p.floor)
  return [
    `- **Inside Medusa too.** In a Medusa 2.21.2 backend (${r.date.slice(0, 10)}, commit ${r.commit}), an \`order.placed\``,
    `  costs the Medusa process ${f(o)} CPU ms above no integration at all, for an identify and "Order Completed"`,
    `  with every v1 property, against ${f(g)} ms for the Segment guide's subscriber (one track, five properties);`,
    `  every other event: [docs/benchmarks.md](docs/benchmarks.md#medusa-2x).`,
  ].join("\n")
}

const DOC_TARGETS = [
  { file: "docs/benchmarks.md", open: `<!-- ${DOC_BEGIN} -->`, close: `<!-- ${DOC_END} -->`, body: docsBlock },
  { file: "README.md", open: `<!-- ${DOC_BEGIN} -->`, close: `<!-- ${DOC_END} -->`, body: readmeBlock },
]

module.exports = { run, clientOnly, VARIANTS, EVENTS, targetRows, DOC_TARGETS }

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
    docs: process.argv.includes("--docs"),
  }).catch((err) => {
    console.error(err.stack || err)
    process.exit(1)
  })
}
