"use strict"
// The Medusa-level figure: exchange-rate requests and wall time to build one
// order's properties (buildOrder: 3 items, order in USD, reporting currency
// EUR) with a local exchange-rate server answering after 20 ms, this
// package's services/segment.js against medusa-plugin-segment@1.3.5's.
//
// Each service runs in its own fresh process: one cold order (nothing
// cached), then sequential warm orders. 1.3.5's service has the exchange-rate
// host written into it; its own axios is pointed at the local server (the
// requests are still real HTTP requests, counted by the server).
//
// 1.3.5 is found as the devDependency alias `medusa-plugin-segment-v1.3.5`,
// else in bench/.fixtures (`npm run bench -- --medusa-fixture` explains how).

const { fork } = require("node:child_process")
const http = require("node:http")
const fs = require("node:fs")
const path = require("node:path")
const { performance } = require("node:perf_hooks")

const ROOT = process.env.BENCH_OURS_ROOT ? path.resolve(process.env.BENCH_OURS_ROOT) : path.join(__dirname, "..")
const RATE_LATENCY_MS = 20
const RATES = { USD: 1.0842, GBP: 0.8581, DKK: 7.4589, JPY: 162.31 }

function locate135() {
  const candidates = [
    () => require.resolve("medusa-plugin-segment-v1.3.5/services/segment.js", { paths: [ROOT] }),
    () => require.resolve("medusa-plugin-segment/services/segment.js", { paths: [path.join(__dirname, ".fixtures")] }),
  ]
  for (const c of candidates) {
    try {
      const file = c()
      const pkg = JSON.parse(fs.readFileSync(path.join(path.dirname(file), "..", "package.json"), "utf8"))
      if (pkg.version === "1.3.5") return { file }
    } catch {}
  }
  return {
    error:
      "medusa-plugin-segment@1.3.5 is not installed (devDependency alias medusa-plugin-segment-v1.3.5, or: " +
      "mkdir -p bench/.fixtures && cd bench/.fixtures && npm init -y && npm install --legacy-peer-deps medusa-plugin-segment@1.3.5)",
  }
}

function locateOurs() {
  const file = path.join(ROOT, "services", "segment.js")
  if (!fs.existsSync(file)) return { error: "services/segment.js is not in this checkout yet" }
  return { file }
}

// ------------------------------------------------------------ rate server
function startRateServer() {
  let count = 0
  const server = http.createServer((req, res) => {
    const u = new URL(req.url, "http://x")
    if (u.pathname === "/__count") {
      res.writeHead(200, { "content-type": "application/json" })
      return res.end(JSON.stringify({ count }))
    }
    count++
    const base = (u.searchParams.get("base") || "EUR").toUpperCase()
    const symbols = (u.searchParams.get("symbols") || Object.keys(RATES).join(",")).toUpperCase().split(",")
    const rates = {}
    for (const s of symbols) if (RATES[s]) rates[s] = RATES[s]
    setTimeout(() => {
      res.writeHead(200, { "content-type": "application/json" })
      res.end(JSON.stringify({ success: true, base, date: "2026-11-28", rates }))
    }, RATE_LATENCY_MS)
  })
  return new Promise((resolve) =>
    server.listen(0, "127.0.0.1", () => resolve({ server, url: `http://127.0.0.1:${server.address().port}` }))
  )
}

// ------------------------------------------------------------ fixtures
function order(n) {
  const items = [1, 2, 3].map((i) => ({
    id: `item_${n}_${i}`,
    title: `Medusa Sweatshirt ${i}`,
    quantity: i,
    unit_price: 3950 + i * 100,
    variant: { sku: `SWEAT-${i}-L`, product_id: `prod_${i}` },
  }))
  return {
    id: `order_${n}`,
    cart_id: `cart_${n}`,
    email: "customer@example.com",
    region_id: "reg_us",
    currency_code: "usd",
    subtotal: 24050,
    total: 29462,
    tax_total: 4812,
    discount_total: 0,
    shipping_total: 800,
    discounts: [],
    payments: [{ provider_id: "manual" }],
    shipping_methods: [{ id: "sm_1", shipping_option_id: "so_1", price: 800 }],
    shipping_address: { country_code: "us", city: "Boston", first_name: "Ada", last_name: "Lovelace" },
    customer_id: "cus_1",
    items,
  }
}

const container = () => {
  const logger = { info() {}, warn() {}, error() {}, debug() {}, log() {} }
  return {
    logger,
    totalsService: {
      getLineItemTotals: async (item) => {
        const total = Math.round(item.unit_price * item.quantity * 1.2)
        return { total, tax_total: total - item.unit_price * item.quantity, subtotal: item.unit_price * item.quantity }
      },
    },
    productService: {
      retrieve: async (id) => ({ id, title: "Sweatshirt", subtitle: "Organic cotton", collection: { title: "Merch" }, type: { value: "apparel" } }),
    },
  }
}

// ------------------------------------------------------------ child: one service
async function child(job) {
  const getCount = () =>
    new Promise((resolve, reject) =>
      http
        .get(`${job.rates}/__count`, { agent: false }, (res) => {
          let b = ""
          res.on("data", (c) => (b += c))
          res.on("end", () => resolve(JSON.parse(b).count))
        })
        .on("error", reject)
    )
  if (job.which === "v135") {
    // Point 1.3.5's hard-coded exchange-rate host at the local server.
    const axios = require(require.resolve("axios", { paths: [path.dirname(job.file)] }))
    const get = axios.get
    axios.get = (url, ...rest) => get.call(axios, url.replace(/^https?:\/\/api\.exchangeratesapi\.io/, job.rates), ...rest)
  }
  let mod
  try {
    mod = require(job.file)
  } catch (err) {
    // medusa-interfaces' BaseService requires @medusajs/medusa, which a
    // plugin's dev install may lack; buildOrder never uses BaseService, so a
    // bare class stands in for it.
    if (job.which !== "v135" || !/@medusajs\/medusa/.test(err.message)) throw err
    const mi = require.resolve("medusa-interfaces", { paths: [path.dirname(job.file)] })
    for (const k of Object.keys(require.cache)) if (k.includes("medusa-interfaces")) delete require.cache[k]
    require.cache[mi] = { id: mi, filename: mi, loaded: true, exports: { BaseService: class BaseService {} } }
    delete require.cache[job.file]
    mod = require(job.file)
  }
  const Service = mod.default || mod.SegmentService || mod
  const options = {
    write_key: "bench-write-key",
    host: job.sink,
    reporting_currency: "EUR",
    exchange_rates_api_key: "bench-rates-key",
    exchange_rates_url: job.rates,
  }
  const phases = []
  const time = async (label, count) => {
    const c0 = await getCount()
    const walls = []
    let props
    for (let i = 0; i < count; i++) {
      // Medusa builds a scoped service per request: a new instance each time.
      const svc = new Service(container(), options)
      const t0 = performance.now()
      props = await svc.buildOrder(order(i))
      walls.push(performance.now() - t0)
    }
    const c1 = await getCount()
    phases.push({ label, orders: count, requests_per_order: (c1 - c0) / count, walls })
    return props
  }
  const props = await time("cold", 1)
  await time("warm", job.warm)
  process.send({ type: "result", result: { phases, sample: { reporting_total: props.reporting_total, reporting_revenue: props.reporting_revenue, products: props.products.length } } }, () =>
    process.exit(0)
  )
}

// ------------------------------------------------------------ parent
async function run({ smoke = false, print = console.log, sinkUrl = "http://127.0.0.1:9" } = {}) {
  print("\n### Medusa level: buildOrder of one order (3 items, USD, reporting EUR; rate server with 20 ms latency)\n")
  const ours = locateOurs()
  const v135 = locate135()
  const missing = [ours.error && `ours: ${ours.error}`, v135.error && `1.3.5: ${v135.error}`].filter(Boolean)
  if (missing.length) {
    print(`skipped: ${missing.join("; ")}`)
    return { skipped: missing }
  }
  const rates = await startRateServer()
  const warm = smoke ? 5 : 30
  const out = {}
  try {
    for (const [which, file] of [
      ["ours", ours.file],
      ["v135", v135.file],
    ]) {
      const r = await new Promise((resolve) => {
        const c = fork(__filename, ["--child", JSON.stringify({ which, file, rates: rates.url, sink: sinkUrl, warm })], {
          execArgv: [],
          stdio: ["ignore", "pipe", "pipe", "ipc"],
        })
        let res = null
        let log = ""
        c.stdout.on("data", (d) => (log += d))
        c.stderr.on("data", (d) => (log += d))
        c.on("message", (m) => (res = m.result))
        const timer = setTimeout(() => c.kill("SIGKILL"), 60000)
        c.on("exit", () => {
          clearTimeout(timer)
          resolve(res || { error: log.slice(-2000) || "no result" })
        })
      })
      out[which] = r
    }
  } finally {
    rates.server.close()
  }
  const med = (xs) => {
    const s = xs.slice().sort((a, b) => a - b)
    return s.length % 2 ? s[s.length >> 1] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2
  }
  const f = (x) => (x >= 100 ? x.toFixed(0) : x >= 10 ? x.toFixed(1) : x.toFixed(2))
  const rows = []
  const cellOf = (r, label, what) => {
    if (r.error) return "error"
    const p = r.phases.find((x) => x.label === label)
    if (what === "req") return String(p.requests_per_order)
    return p.walls.length > 1 ? `${f(med(p.walls))} (${f(Math.min(...p.walls))}–${f(Math.max(...p.walls))})` : f(p.walls[0])
  }
  rows.push(["exchange-rate requests, first order", cellOf(out.ours, "cold", "req"), cellOf(out.v135, "cold", "req")])
  rows.push(["wall time, first order (ms)", cellOf(out.ours, "cold", "wall"), cellOf(out.v135, "cold", "wall")])
  rows.push([`exchange-rate requests per order, next ${warm}`, cellOf(out.ours, "warm", "req"), cellOf(out.v135, "warm", "req")])
  rows.push([`wall time per order, next ${warm} (ms)`, cellOf(out.ours, "warm", "wall"), cellOf(out.v135, "warm", "wall")])
  if (!out.ours.error && !out.v135.error) {
    rows.push(["reporting_total (same rate, sanity)", String(out.ours.sample.reporting_total), String(out.v135.sample.reporting_total)])
  }
  print("| figure | ours (services/segment.js) | medusa-plugin-segment@1.3.5 |")
  print("|---|---:|---:|")
  for (const r of rows) print(`| ${r.join(" | ")} |`)
  for (const [k, r] of Object.entries(out)) if (r.error) print(`${k} failed:\n${r.error}`)
  return out
}

module.exports = { run }

if (require.main === module) {
  const i = process.argv.indexOf("--child")
  if (i > 0) child(JSON.parse(process.argv[i + 1]))
  else run({ smoke: process.argv.includes("--smoke") })
}
