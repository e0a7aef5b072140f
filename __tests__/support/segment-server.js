"use strict"
// A real HTTP server on 127.0.0.1 that speaks Segment's tracking API
// (POST /v1/batch and the single-call paths, gzip bodies, Basic auth), with
// scripted failures so tests can play an outage, rate limits or resets, and
// hostile answers: redirects, any Retry-After text, endless bodies.
// Run standalone (`node segment-server.js --port 0`) it prints {"url"} and
// serves until killed, so benchmarks can keep it in its own process.

const http = require("node:http")
const zlib = require("node:zlib")

const SINGLE_PATHS = new Set(["track", "identify", "page", "screen", "group", "alias"])

async function startSegmentServer({ port = 0, host = "127.0.0.1", keepBodies = true } = {}) {
  const messages = []
  const batches = []
  const ids = new Set()
  const faults = [] // queued one-shot faults, consumed by the next requests
  let window = null // { until, fault }
  let waiters = []
  const redirected = [] // requests that followed a redirect to /__ok

  const nextFault = () => {
    if (window && Date.now() < window.until) return window.fault
    return faults.shift() || null
  }

  const notify = () => {
    waiters = waiters.filter((w) => {
      if (ids.size < w.n) return true
      clearTimeout(w.timer)
      w.resolve(messages)
      return false
    })
  }

  let active = 0 // requests being answered now, and the most at once
  let maxActive = 0
  const server = http.createServer((req, res) => {
    const at = Date.now() // when the request arrived
    active++
    maxActive = Math.max(maxActive, active)
    let counted = true
    const done = () => {
      if (counted) active--
      counted = false
    }
    res.on("close", done)
    const chunks = []
    req.on("data", (c) => chunks.push(c))
    req.on("end", () => {
      // Where scripted redirects point: answers 2xx to anything, stores nothing.
      if ((req.url || "").startsWith("/__ok")) {
        redirected.push({ method: req.method, headers: req.headers, bytes: Buffer.concat(chunks).length })
        return reply(res, 200, { success: true })
      }
      const fault = nextFault()
      if (fault && fault.reset) {
        batches.push({ at, headers: req.headers, body: null, status: "reset" })
        req.socket.destroy()
        return
      }
      let raw = Buffer.concat(chunks)
      let body
      try {
        if (req.headers["content-encoding"] === "gzip") raw = zlib.gunzipSync(raw)
        body = JSON.parse(raw.toString("utf8"))
      } catch (err) {
        return reply(res, 400, { error: `invalid body: ${err.message}` })
      }
      const record = { at, headers: req.headers, body: keepBodies ? body : null, status: 0 }
      batches.push(record)
      if (fault && !fault.endless) {
        record.status = fault.status
        const headers = { ...fault.headers }
        if (fault.retryAfter != null) headers["retry-after"] = String(fault.retryAfter)
        if (fault.redirectTo != null) headers.location = `${url}${fault.redirectTo}`
        return reply(res, fault.status, fault.body != null ? fault.body : { error: "scripted failure" }, headers)
      }
      const path = (req.url || "").split("?")[0]
      let received
      if (path === "/v1/batch" || path === "/v1/import") received = body.batch
      else if (SINGLE_PATHS.has(path.slice(4)) && path.startsWith("/v1/"))
        received = [{ type: path.slice(4), ...body }]
      if (req.method !== "POST" || !Array.isArray(received)) {
        record.status = 404
        return reply(res, 404, { error: "not found" })
      }
      record.status = fault ? fault.status : 200
      for (const m of received) {
        messages.push(m)
        if (m && m.messageId) ids.add(m.messageId)
      }
      if (fault) endless(res, fault.status)
      else reply(res, 200, { success: true })
      notify()
    })
  })

  await new Promise((resolve, reject) => {
    server.once("error", reject)
    server.listen(port, host, resolve)
  })
  const url = `http://${host}:${server.address().port}`

  return {
    url,
    messages,
    batches,
    /** Requests that followed a scripted redirect (`redirectTo: "/__ok..."`). */
    redirected,
    uniqueMessageIds: () => new Set(ids),
    /** The most requests this server was answering at once. */
    maxConcurrent: () => maxActive,
    /**
     * The next `n` requests get `fault` instead of a plain 200:
     * {status, retryAfter?, headers?, body?, redirectTo?} (retryAfter is sent as
     * given, any text), {reset: true}, or {status, endless: true}: the
     * messages are stored, then a body that never ends is streamed.
     */
    failNext(n, fault) {
      for (let i = 0; i < n; i++) faults.push(fault)
    },
    /** Every request fails with `fault` for the next `ms` milliseconds. */
    failFor(ms, fault) {
      window = { until: Date.now() + ms, fault }
    },
    /** Resolves once `n` distinct messageIds were received; rejects after `timeoutMs`. */
    waitForMessages(n, timeoutMs = 10000) {
      return new Promise((resolve, reject) => {
        const w = { n, resolve }
        w.timer = setTimeout(() => {
          waiters = waiters.filter((x) => x !== w)
          reject(new Error(`timed out waiting for ${n} messages; got ${ids.size}`))
        }, timeoutMs)
        waiters.push(w)
        notify()
      })
    },
    close() {
      for (const w of waiters) clearTimeout(w.timer)
      waiters = []
      server.closeAllConnections()
      return new Promise((resolve) => server.close(() => resolve()))
    },
  }
}

function reply(res, status, body, headers = {}) {
  res.writeHead(status, { "content-type": "application/json", ...headers })
  res.end(typeof body === "string" ? body : JSON.stringify(body))
}

/** A response body that never ends: 64 KB chunks as fast as the client reads. */
function endless(res, status) {
  res.writeHead(status, { "content-type": "application/json" })
  const chunk = Buffer.alloc(64 * 1024, "x")
  const pump = () => {
    while (!res.destroyed && res.write(chunk));
  }
  res.on("drain", pump)
  res.on("error", () => {})
  pump()
}

module.exports = { startSegmentServer }

if (require.main === module) {
  const arg = process.argv.indexOf("--port")
  const port = arg > 0 ? Number(process.argv[arg + 1]) : 0
  startSegmentServer({ port, keepBodies: false }).then((srv) => {
    process.stdout.write(JSON.stringify({ url: srv.url }) + "\n")
    // Counts on demand, for benchmarks that run the sink in its own process.
    process.on("SIGUSR2", () =>
      process.stderr.write(
        JSON.stringify({ messages: srv.messages.length, unique: srv.uniqueMessageIds().size }) + "\n"
      )
    )
  })
}
