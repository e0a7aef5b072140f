"use strict"
// A local exchange-rate service speaking the original plugin's API:
//   GET /latest?symbols=USD&base=EUR&access_key=KEY  ->  { "rates": { "USD": 1.1 } }
// `mode` scripts an outage: "ok", "fail" (HTTP 500) or "hang" (never answers).
const http = require("node:http")

async function startRateServer({ rates = { USD: 1.1 }, mode = "ok", port = 0 } = {}) {
  const requests = []
  const sockets = new Set()
  let current = mode
  const server = http.createServer((req, res) => {
    const url = new URL(req.url, "http://127.0.0.1")
    const entry = {
      path: url.pathname,
      symbols: url.searchParams.get("symbols"),
      base: url.searchParams.get("base"),
      access_key: url.searchParams.get("access_key"),
      mode: current,
    }
    requests.push(entry)
    if (current === "hang") return // the client's timeout has to cope
    if (current === "fail" || url.pathname !== "/latest") {
      res.writeHead(current === "fail" ? 500 : 404, { "content-type": "application/json" })
      return res.end(JSON.stringify({ success: false, error: "scripted failure" }))
    }
    const out = {}
    for (const sym of (entry.symbols || "").split(",").filter(Boolean)) {
      const rate = rates[sym.toUpperCase()]
      if (rate != null) out[sym.toUpperCase()] = rate
    }
    res.writeHead(200, { "content-type": "application/json" })
    res.end(JSON.stringify({ success: true, base: entry.base, date: "2024-01-01", rates: out }))
  })
  server.on("connection", (s) => {
    sockets.add(s)
    s.on("close", () => sockets.delete(s))
  })
  await new Promise((resolve, reject) => {
    server.once("error", reject)
    server.listen(port, "127.0.0.1", resolve)
  })
  return {
    url: `http://127.0.0.1:${server.address().port}`,
    requests,
    setMode(m) {
      current = m
    },
    close() {
      for (const s of sockets) s.destroy()
      return new Promise((resolve) => server.close(() => resolve()))
    },
  }
}

module.exports = { startRateServer }
