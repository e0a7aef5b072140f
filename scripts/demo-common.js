"use strict"

// What `npm run demo` (Medusa 1.x) and `npm run demo:v2` (Medusa 2.x) share:
// the local collector standing in for Segment, waiting for events, and the
// one-line summary of each message received.

const path = require("node:path")
const be = require("../e2e/backend")

const ROOT = path.resolve(__dirname, "..")
const WRITE_KEY = "DemoWriteKey0123456789abcdefABCD" // any well-formed key: nothing leaves this machine

const log = (msg) => process.stdout.write(`${msg}\n`)
be.setLogger((msg) => log(`  · ${msg}`))

async function startCollector() {
  try {
    const { startDebugger } = require(path.join(ROOT, "debugger.js"))
    const dbg = await startDebugger({ port: 0, print: true, writeKey: WRITE_KEY })
    return { kind: "the local Segment debugger", url: dbg.url, messages: () => dbg.messages(), close: () => dbg.close(), page: dbg.url }
  } catch (err) {
    // Fallback: the test suite's Segment-compatible server (no live page).
    const { startSegmentServer } = require(path.join(ROOT, "__tests__", "support", "segment-server.js"))
    const srv = await startSegmentServer({ port: 0 })
    log(`  · (debugger unavailable: ${err.message}; using the test Segment server)`)
    return { kind: "a local Segment-compatible server", url: srv.url, messages: () => srv.messages, close: () => srv.close(), page: null }
  }
}

async function waitForEvents(collector, events, timeoutMs) {
  const until = Date.now() + timeoutMs
  for (;;) {
    const got = collector.messages()
    if (events.every((e) => got.some((m) => m.event === e))) return got
    if (Date.now() > until) throw new Error(`timed out waiting for ${events.join(", ")}; received: ${got.map((m) => m.event || m.type).join(", ") || "nothing"}`)
    await be.sleep(200)
  }
}

function summary(m) {
  const p = m.properties || {}
  const t = m.traits || {}
  const bits = [m.type.padEnd(8), (m.event || "").padEnd(16), `userId=${m.userId}`]
  if (p.order_id) bits.push(`order_id=${p.order_id}`)
  if (!p.order_id && m.type === "track") bits.push(`properties=${JSON.stringify(p)}`)
  if (p.total !== undefined) bits.push(`total=${p.total} ${p.currency}`)
  if (p.revenue !== undefined) bits.push(`revenue=${p.revenue}`)
  if (p.products) bits.push(`products=[${p.products.map((x) => `${x.quantity}x ${x.variant}`).join(", ")}]`)
  if (t.email) bits.push(`email=${t.email}`)
  return bits.join("  ")
}

module.exports = { WRITE_KEY, log, startCollector, waitForEvents, summary }
