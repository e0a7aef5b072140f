"use strict"
// node bench/profile-summary.js FILE.cpuprofile [N]: self and total time per
// function from a V8 CPU profile (as written by --cpu-prof), top N.
// node bench/profile-summary.js --by-part FILE.cpuprofile [BASE.cpuprofile] [--per N]:
// self time per part of the process (this package's files, Medusa's query
// graph, the ORM, the pg driver, logging, GC, Node's promise/timer machinery...),
// optionally minus a baseline profile (the no-integration floor) and divided
// by N (events handled). Self time, because an `await` cuts the stack: what
// the query graph does for our subscriber runs under Medusa's frames alone.
const fs = require("node:fs")

const load = (file) => JSON.parse(fs.readFileSync(file, "utf8"))

/** Our package's files, as installed (node_modules/medusa-plugin-segment-rs/...) or from the repo. */
const OURS = [
  [/lib\/v2\/sql-loader\.js$/, "ours: SQL loader (the statements' JSON shaped into records)"],
  [/lib\/(order-mapping|currency|catalog|attribution)\.js$|lib\/v[12]\/(order|lifecycle|customers|attribution)\.js$/, "ours: mapping (amounts, rounding, currency, products)"],
  [/lib\/v[12]\/(events|event-map)\.js$/, "ours: subscriber (loading, calls)"],
  [/lib\/v2\/(funnel|cart-state|segment-module)\.js$/, "ours: plugin state (funnel carts, identify state)"],
  [/medusa-plugin-segment-rs\/index\.js$|lib\/client\/|native\.js$|load-native\.js$/, "ours: client JS (checks, JSON, hand-off)"],
  [/lib\/spool\.js$/, "ours: spool JS"],
  [/lib\/v2\/(client|options)\.js$|services\/segment\.js$|lib\/(rates|container|options|switchboard|drops|medusa-service)\.js$/, "ours: client and options per event, rates"],
]

const NODE_ASYNC = /^(processTicksAndRejections|runMicrotasks|listOnTimeout|processTimers|processImmediate|runNextTicks|emitHook|emitInitScript|emitBeforeScript|emitAfterScript|promiseInitHook|promiseBeforeHook|promiseAfterHook|promiseResolveHook|destroyHook|AsyncResource|runInAsyncScope|triggerAsyncId|executionAsyncId)/

/** The part of the process a frame belongs to. */
function partOf(frame) {
  const { url, functionName } = frame
  if (functionName === "(garbage collector)") return "GC"
  if (functionName === "(idle)") return "(idle)"
  if (functionName === "(program)") return "V8/native, not attributed (program)"
  // the package as installed; not its own dependencies, nor a path that merely has its name (the bench's Medusa lives in ~/.cache/medusa-plugin-segment-rs/)
  const own = url.match(/node_modules\/medusa-plugin-segment-rs\/(.*)$/)
  if (own && !own[1].includes("node_modules/")) {
    for (const [re, name] of OURS) if (re.test(url)) return name
    return "ours: other"
  }
  if (!url) {
    if (NODE_ASYNC.test(functionName)) return "Node: promises, timers, async hooks"
    // the inspector session the profile is taken through (bench-probe.js)
    if (functionName === "dispatch") return "the profiler itself (inspector dispatch)"
    if (/^(writeBuffer|writev|writeUtf8String|writeLatin1String|readStart|readStop|onStreamRead|close|shutdown)$/.test(functionName)) return "Node: sockets, streams, HTTP"
    return "V8 builtins (JSON, RegExp, Array, ...)"
  }
  if (url.startsWith("node:")) {
    if (/^node:internal\/(process\/task_queues|timers|async_hooks|process\/promises)|^node:timers|^node:async_hooks/.test(url) || NODE_ASYNC.test(functionName)) {
      return "Node: promises, timers, async hooks"
    }
    if (/^node:(internal\/)?(net|stream|streams|http|_http|dns|tls|dgram|buffer|internal\/stream_base_commons)/.test(url)) return "Node: sockets, streams, HTTP"
    if (/^node:(internal\/)?fs/.test(url)) return "Node: fs (the e2e event log)"
    return "Node: other"
  }
  const m = url.match(/.*node_modules\/((@[^/]+\/)?[^/]+)\//)
  const pkg = m ? m[1] : "app code"
  if (/^(winston|logform|@colors|colors|triple-beam|readable-stream|winston-transport|ora|cli-spinners)$/.test(pkg)) return "logging (winston)"
  if (pkg === "@medusajs/query" || pkg === "@medusajs/modules-sdk") return "Medusa query graph (remote joiner, links)"
  if (pkg === "@medusajs/orchestration") return "Medusa orchestration (workflows)"
  if (pkg === "@medusajs/order") return "Medusa order module (totals, services)"
  // decorateCartTotals and the BigNumber helpers (the SQL loader calls them as the order module does)
  if (pkg === "@medusajs/utils" && /\/dist\/totals\//.test(url)) return "Medusa totals math (@medusajs/utils totals)"
  if (pkg === "@medusajs/utils" || pkg === "@medusajs/framework") return "Medusa utils/framework (module services, DI)"
  if (pkg === "@medusajs/workflows-sdk" || pkg === "@medusajs/workflow-engine-inmemory") return "Medusa workflows"
  if (pkg.startsWith("@medusajs/")) return `Medusa other (${pkg})`
  if (pkg.startsWith("@mikro-orm/")) return "MikroORM"
  if (/^(knex|pg|pg-protocol|pg-types|postgres-.*|pg-pool|pg-connection-string|tarn)$/.test(pkg)) return "knex + pg driver"
  if (pkg === "bignumber.js") return "bignumber.js (Medusa's totals)"
  if (/^(awilix)$/.test(pkg)) return "awilix (DI)"
  if (/^(express|router|body-parser|raw-body|on-finished|finalhandler|send|qs|cookie.*|cors|morgan|path-to-regexp|iconv-lite|type-is|content-type|depd|debug)$/.test(pkg)) return "HTTP framework (express, body parsing)"
  if (pkg === "@segment/analytics-node" || pkg.startsWith("@segment/") || pkg === "@lukeed/uuid" || pkg === "node-fetch") return "the guide's client (@segment/analytics-node)"
  return `other packages (${pkg})`
}

/** Self ms per part, and the sampled total (without idle). */
function byPart(prof) {
  const byId = new Map(prof.nodes.map((n) => [n.id, n]))
  const out = new Map()
  let total = 0
  for (let i = 0; i < prof.samples.length; i++) {
    const n = byId.get(prof.samples[i])
    const part = partOf(n.callFrame)
    const ms = (prof.timeDeltas[i] || 0) / 1000
    out.set(part, (out.get(part) || 0) + ms)
    if (part !== "(idle)") total += ms
  }
  out.delete("(idle)")
  return { parts: out, total }
}

/**
 * Rows { part, ms } of `prof` (minus `base` when given), divided by `per`,
 * sorted by cost; the first row is the total.
 */
function partsTable(prof, base, per = 1) {
  const a = byPart(prof)
  const b = base ? byPart(base) : { parts: new Map(), total: 0 }
  const names = new Set([...a.parts.keys(), ...b.parts.keys()])
  const rows = [...names].map((part) => ({ part, ms: ((a.parts.get(part) || 0) - (b.parts.get(part) || 0)) / per }))
  rows.sort((x, y) => y.ms - x.ms)
  return [{ part: "total sampled (JS thread, idle excluded)", ms: (a.total - b.total) / per }, ...rows]
}

function functions(prof, top) {
  const byId = new Map(prof.nodes.map((n) => [n.id, n]))
  const dt = new Map()
  for (let i = 0; i < prof.samples.length; i++) {
    const d = prof.timeDeltas[i] || 0
    dt.set(prof.samples[i], (dt.get(prof.samples[i]) || 0) + d)
  }
  const parent = new Map()
  for (const n of prof.nodes) for (const c of n.children || []) parent.set(c, n.id)
  const self = new Map()
  const total = new Map()
  const key = (n) => `${n.callFrame.functionName || "(anonymous)"} ${n.callFrame.url.split("/").slice(-2).join("/")}:${n.callFrame.lineNumber + 1}`
  let all = 0
  for (const [id, t] of dt) {
    all += t
    const n = byId.get(id)
    self.set(key(n), (self.get(key(n)) || 0) + t)
    const seen = new Set()
    for (let cur = id; cur != null; cur = parent.get(cur)) {
      const k = key(byId.get(cur))
      if (seen.has(k)) continue
      seen.add(k)
      total.set(k, (total.get(k) || 0) + t)
    }
  }
  const show = (m, label) => {
    console.log(`\n${label} (of ${(all / 1000).toFixed(0)} ms sampled)`)
    for (const [k, t] of [...m].sort((a, b) => b[1] - a[1]).slice(0, top))
      console.log(`${(t / 1000).toFixed(1).padStart(9)} ms ${((100 * t) / all).toFixed(1).padStart(5)}%  ${k}`)
  }
  show(self, "self time")
  show(total, "total time")
}

module.exports = { partOf, byPart, partsTable }

if (require.main === module) {
  const args = process.argv.slice(2)
  if (args[0] === "--by-part") {
    const i = args.indexOf("--per")
    const per = i > 0 ? Number(args[i + 1]) : 1
    const files = args.slice(1).filter((a, j) => !(i > 0 && (j + 1 === i || j + 1 === i + 1)))
    const rows = partsTable(load(files[0]), files[1] ? load(files[1]) : null, per)
    const own = rows[0].ms - (rows.find((r) => r.part.startsWith("the profiler")) || { ms: 0 }).ms
    console.log(`${own.toFixed(3).padStart(10)} ms          sampled, the profiler's own work left out`)
    for (const r of rows.slice(1)) console.log(`${r.ms.toFixed(3).padStart(10)} ms ${((100 * r.ms) / own).toFixed(1).padStart(6)}%  ${r.part}`)
  } else {
    functions(load(args[0]), Number(args[1] || 25))
  }
}
