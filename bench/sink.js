"use strict"
// A lean fake of Segment's batch API for benchmarks, meant to run in its own
// process (forked by bench/run.js, or standalone: `node bench/sink.js` prints
// {"url"} and serves until killed).
//
// POST /v1/batch (gzip or plain JSON): parses the body, counts messages and
// unique messageIds, and computes delivery latency from `properties.sent_at`
// (ms since the epoch as performance.timeOrigin + performance.now(), written
// by the driver when it built the event). Scripted faults, configured with
// the IPC message {type: "reset", config}:
//   outage_ms:  every request fails (503) for this long after the first one;
//   down:       every request fails (503) until the IPC message {type: "up"};
//   flaky:      {p503, p429, preset, retry_after, seed}: each request fails
//               at random (seeded) with a 503, a 429 + Retry-After, or a
//               destroyed socket;
// GET /__wait?n=N&idle=MS&timeout=MS: long-poll, answers when N unique
//   messageIds have arrived, or when no request came for `idle` ms, or after
//   `timeout` ms (the driver uses it to end its measurement; one request).
// GET /__stats: the counts as JSON.
// IPC {type: "stats"} -> {type: "stats", ...counts, latency percentiles}.

const http = require("node:http")
const zlib = require("node:zlib")
const { performance } = require("node:perf_hooks")

const now = () => performance.timeOrigin + performance.now()

function mulberry32(seed) {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

let state
let config = {}
let rand = Math.random
let waiters = []
let open = 0 // currently open client connections
let cpuAtReset = process.cpuUsage()

function reset(cfg = {}) {
  config = cfg
  rand = mulberry32(cfg.flaky && cfg.flaky.seed != null ? cfg.flaky.seed : 42)
  for (const w of waiters) clearTimeout(w.timer)
  waiters = []
  cpuAtReset = process.cpuUsage()
  state = {
    // (open connections carry over a reset; the maximum starts again from them)
    requests: 0,
    ok_requests: 0,
    failed: { 503: 0, 429: 0, reset: 0, 400: 0 },
    messages: 0,
    ids: new Set(),
    latencies: [],
    bytes: 0,
    first_request_at: null,
    last_request_at: null,
    last_new_at: null,
    reached_at: null, // when `expect` unique ids had arrived
    expect: cfg.expect || 0,
    max_open_connections: open,
    connections: 0,
    scan_mismatch: 0,
  }
}
reset()

function snapshot() {
  const lat = state.latencies.slice().sort((a, b) => a - b)
  const pct = (p) => (lat.length ? lat[Math.min(lat.length - 1, Math.floor((p / 100) * lat.length))] : null)
  return {
    requests: state.requests,
    ok_requests: state.ok_requests,
    failed: state.failed,
    messages: state.messages,
    unique: state.ids.size,
    duplicates: state.messages - state.ids.size,
    bytes: state.bytes,
    first_request_at: state.first_request_at,
    last_request_at: state.last_request_at,
    last_new_at: state.last_new_at,
    reached_at: state.reached_at,
    latency_ms: { p50: pct(50), p99: pct(99), max: lat.length ? lat[lat.length - 1] : null },
    max_open_connections: state.max_open_connections,
    connections: state.connections,
    scan_mismatch: state.scan_mismatch,
    cpu_us: (({ user, system }) => user + system)(process.cpuUsage(cpuAtReset)),
  }
}

function checkWaiters() {
  if (!waiters.length) return
  const t = now()
  waiters = waiters.filter((w) => {
    const idle = state.last_request_at == null ? t - w.since : t - state.last_request_at
    const done = state.ids.size >= w.n || (w.idle > 0 && idle >= w.idle && t - w.since >= w.idle) || t >= w.deadline
    if (!done) return true
    clearTimeout(w.timer)
    w.res.writeHead(200, { "content-type": "application/json" })
    w.res.end(JSON.stringify(snapshot()))
    return false
  })
}
setInterval(checkWaiters, 50).unref()

function reply(res, status, headers) {
  res.writeHead(status, { "content-type": "application/json", ...headers })
  res.end(status === 200 ? '{"success":true}' : '{"error":"scripted failure"}')
}

function pickFault(t) {
  if (config.down) return { status: 503 }
  if (config.outage_ms && t - state.first_request_at < config.outage_ms) return { status: 503 }
  const f = config.flaky
  if (f) {
    const r = rand()
    if (r < f.p503) return { status: 503 }
    if (r < f.p503 + f.p429) return { status: 429, retry_after: f.retry_after }
    if (r < f.p503 + f.p429 + f.preset) return { reset: true }
  }
  return null
}

// Pulls {messageId, properties: {sent_at}} out of a batch body without a
// full parse: each message's top-level "messageId" and the driver's
// "sent_at" (a key no library writes).
function scan(text) {
  const out = []
  let i = 0
  for (;;) {
    i = text.indexOf('"messageId":"', i)
    if (i < 0) break
    i += 13
    const j = text.indexOf('"', i)
    out.push({ messageId: text.slice(i, j), properties: {} })
    i = j
  }
  let k = 0
  let p = 0
  for (;;) {
    p = text.indexOf('"sent_at":', p)
    if (p < 0 || k >= out.length) break
    p += 10
    out[k++].properties.sent_at = parseFloat(text.slice(p, p + 24))
  }
  return out
}

function ingest(batch, t) {
  let fresh = 0
  for (const m of batch) {
    state.messages++
    const id = m && m.messageId
    if (id == null || state.ids.has(id)) continue
    state.ids.add(id)
    fresh++
    const sent = m.properties && m.properties.sent_at
    if (typeof sent === "number") state.latencies.push(t - sent)
  }
  if (fresh) {
    state.last_new_at = t
    if (state.expect && state.reached_at == null && state.ids.size >= state.expect) state.reached_at = t
  }
}

const server = http.createServer((req, res) => {
  if (req.method === "GET") {
    const u = new URL(req.url, "http://x")
    if (u.pathname === "/__stats") {
      res.writeHead(200, { "content-type": "application/json" })
      return res.end(JSON.stringify(snapshot()))
    }
    if (u.pathname === "/__wait") {
      const t = now()
      const timeout = Number(u.searchParams.get("timeout") || 120000)
      const w = {
        n: Number(u.searchParams.get("n") || 0),
        idle: Number(u.searchParams.get("idle") || 0),
        since: t,
        deadline: t + timeout,
        res,
      }
      w.timer = setTimeout(checkWaiters, timeout + 5)
      waiters.push(w)
      return checkWaiters()
    }
    res.writeHead(404)
    return res.end()
  }
  const t0 = now()
  state.requests++
  if (state.first_request_at == null) state.first_request_at = t0
  state.last_request_at = t0
  const chunks = []
  req.on("data", (c) => chunks.push(c))
  req.on("error", () => {})
  req.on("end", () => {
    const t = now()
    state.last_request_at = t
    const fault = pickFault(t)
    if (fault && fault.reset) {
      state.failed.reset++
      req.socket.destroy()
      return
    }
    if (fault) {
      state.failed[fault.status] = (state.failed[fault.status] || 0) + 1
      return reply(res, fault.status, fault.retry_after != null ? { "retry-after": String(fault.retry_after) } : {})
    }
    let raw = chunks.length === 1 ? chunks[0] : Buffer.concat(chunks)
    let batch
    try {
      state.bytes += raw.length
      if (req.headers["content-encoding"] === "gzip") raw = zlib.gunzipSync(raw)
      const text = raw.toString("utf8")
      // Every 25th body is parsed in full and checked against the fast scan
      // (the scan alone keeps the sink's cost per event low).
      if (state.requests % 25 === 1 || config.parse) {
        const body = JSON.parse(text)
        batch = body && Array.isArray(body.batch) ? body.batch : null
        if (!batch) throw new Error("no batch")
        const fast = scan(text)
        if (fast.length !== batch.length || fast.some((m, i) => m.messageId !== batch[i].messageId)) {
          state.scan_mismatch++
        }
      } else {
        batch = scan(text)
        if (!batch.length) throw new Error("no messages")
      }
    } catch {
      state.failed[400]++
      return reply(res, 400, {})
    }
    state.ok_requests++
    ingest(batch, t)
    reply(res, 200)
    if (waiters.length && state.ids.size >= waiters[0].n) checkWaiters()
  })
})
server.keepAliveTimeout = 30000
server.headersTimeout = 60000
server.maxRequestsPerSocket = 0
server.on("connection", (socket) => {
  state.connections++
  open++
  if (open > state.max_open_connections) state.max_open_connections = open
  socket.on("close", () => open--)
})
server.on("clientError", (err, socket) => socket.destroy())

server.listen(Number(process.env.SINK_PORT || 0), "127.0.0.1", () => {
  const port = server.address().port
  const url = `http://127.0.0.1:${port}`
  if (process.send) {
    process.send({ type: "ready", url })
    process.on("message", (msg) => {
      if (msg.type === "reset") {
        reset(msg.config)
        process.send({ type: "reset-ok" })
      } else if (msg.type === "up") {
        config.down = false
        process.send({ type: "up-ok" })
      } else if (msg.type === "stats") {
        process.send({ type: "stats", stats: snapshot() })
      } else if (msg.type === "exit") {
        process.exit(0)
      }
    })
    process.on("disconnect", () => process.exit(0))
  } else {
    process.stdout.write(JSON.stringify({ url }) + "\n")
  }
})
