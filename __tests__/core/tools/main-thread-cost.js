"use strict"
// Main-thread CPU per track() of a ~1.5 KB "Order Completed" event, against
// the cost of building and JSON.stringify-ing the same object, plus an
// end-to-end burst against the Segment test server in its own process.
// Main-thread CPU is read from /proc/self/task/<pid>/stat (Linux only).
//
//   node __tests__/core/tools/main-thread-cost.js [events=100000] [chunk=1000]

const fs = require("node:fs")
const path = require("node:path")
const { spawn } = require("node:child_process")
const { monitorEventLoopDelay } = require("node:perf_hooks")
const { SegmentService } = require("../../..")

function order(i) {
  const products = []
  for (let k = 0; k < 4; k++) {
    products.push({
      name: `Medusa Sweatshirt ${k}`, variant: `SWEAT-S-${k}`, sku: "SWEAT", price: 42.5,
      reporting_revenue: 39.1, product_id: `prod_01H${k}${i}`, category: "Apparel",
      subtitle: "Soft", type: "Shirt", quantity: 1,
    })
  }
  return {
    userId: `cus_01HXYZ${i % 100}`, event: "Order Completed", timestamp: new Date(),
    properties: {
      checkout_id: `cart_01H${i}`, order_id: `order_01H${i}`, email: "someone@example.com",
      region_id: "reg_01H", payment_provider: "manual", shipping_methods: [{ id: "sm_1", price: 1000 }],
      shipping_country: "dk", shipping_city: "Copenhagen", total: 180, subtotal: 170, tax: 10,
      discount: 0, shipping: 10, revenue: 170, reporting_total: 180, reporting_subtotal: 170,
      reporting_revenue: 170, reporting_shipping: 10, reporting_tax: 10, reporting_discount: 0,
      currency: "EUR", products,
    },
    context: { ip: "10.0.0.1", user_agent: "Mozilla/5.0 (X11; Linux x86_64)" },
  }
}

const TICK_US = 1e4 // USER_HZ = 100
function mainThreadCpuUs() {
  const stat = fs.readFileSync(`/proc/self/task/${process.pid}/stat`, "utf8")
  const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ")
  return (Number(f[11]) + Number(f[12])) * TICK_US
}

async function main() {
  const N = Number(process.argv[2] || 100000)
  const CHUNK = Number(process.argv[3] || 1000)
  console.log(`event size: ${JSON.stringify(order(0)).length} bytes of JSON`)

  // 1. Synchronous cost, delivery disabled (nothing else competes for the thread).
  let sink = 0
  const M = 200000
  const measure = (label, fn) => {
    const c0 = mainThreadCpuUs()
    for (let i = 0; i < M; i++) fn(i)
    console.log(`${label.padEnd(36)} ${((mainThreadCpuUs() - c0) / M).toFixed(2)} µs main-thread CPU`)
  }
  for (let round = 0; round < 2; round++) {
    const s = new SegmentService({}, { write_key: `k${round}`, enabled: false, max_queue_bytes: 2 ** 40 })
    measure("build object + JSON.stringify", (i) => (sink += JSON.stringify(order(i)).length))
    measure("track(build object)", (i) => s.track(order(i)))
  }

  // 2. End-to-end burst against the test server in its own process.
  const server = spawn(process.execPath, [path.join(__dirname, "../../support/segment-server.js"), "--port", "0"], {
    stdio: ["ignore", "pipe", "inherit"],
  })
  const url = await new Promise((r) => server.stdout.once("data", (d) => r(JSON.parse(d).url)))
  const s = new SegmentService({}, { write_key: "bench", host: url })
  const h = monitorEventLoopDelay({ resolution: 1 })
  h.enable()
  let peak = 0
  const rss = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 20)
  const t0 = process.hrtime.bigint()
  const c0 = mainThreadCpuUs()
  for (let c = 0; c < N / CHUNK; c++) {
    for (let i = 0; i < CHUNK; i++) s.track(order(c * CHUNK + i))
    await new Promise((r) => setImmediate(r))
  }
  const cpu = mainThreadCpuUs() - c0
  const res = await s.flush()
  const secs = Number(process.hrtime.bigint() - t0) / 1e9
  h.disable()
  clearInterval(rss)
  console.log(
    `burst of ${N} in chunks of ${CHUNK}: ${(cpu / N).toFixed(2)} µs main-thread CPU per track(); ` +
      `${Math.round(N / secs)} events/s end to end; delivered ${res.delivered}, dropped ${JSON.stringify(res.dropped)}, ` +
      `${res.requests} requests; event-loop delay p99 ${(h.percentile(99) / 1e6).toFixed(1)} ms, ` +
      `max ${(h.max / 1e6).toFixed(1)} ms; peak RSS ${Math.round(peak / 1e6)} MB`
  )
  await s.shutdown()
  server.kill()
}

main()
