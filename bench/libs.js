"use strict"
// The three clients under test behind one small interface:
//   make(url) -> { track(msg), finish(): Promise, shutdown(): Promise, stats?() }
// finish() is each library's own "send what you hold" call; the driver then
// waits for the sink anyway, since not every library tracks its requests.

const path = require("node:path")
const fs = require("node:fs")

// BENCH_OURS_ROOT points "ours" at another checkout (e.g. to compare builds).
const ROOT = process.env.BENCH_OURS_ROOT ? path.resolve(process.env.BENCH_OURS_ROOT) : path.join(__dirname, "..")
const WRITE_KEY = "bench-write-key"

const quietLogger = {
  calls: 0,
  info() { this.calls++ },
  warn() { this.calls++ },
  error() { this.calls++ },
  debug() {},
  log() { this.calls++ },
}

const LIBS = {
  // Not a library: track() discards the event. Shows what the driver itself
  // costs (building events, the 1 ms event-loop-delay timer, RSS sampling),
  // which every figure of every library includes.
  floor: {
    label: "driver floor (no-op track)",
    noSink: true,
    available: () => null,
    make() {
      let kept = 0
      return {
        track: (m) => {
          kept += m.properties.total > 0 ? 1 : 0
        },
        finish: async () => kept,
        shutdown: async () => kept,
      }
    },
  },
  // Not a library either: track() only JSON.stringify-es the event and drops
  // the string. The least any client that serializes on the caller's thread
  // (ours does, to cross into Rust) can cost: what it adds to the event loop
  // and to the heap (the strings are garbage the GC must collect).
  stringify: {
    label: "stringify floor (JSON.stringify, discard)",
    noSink: true,
    available: () => null,
    make() {
      let bytes = 0
      return {
        track: (m) => {
          bytes += JSON.stringify(m).length
        },
        finish: async () => bytes,
        shutdown: async () => bytes,
      }
    },
  },
  ours: {
    label: "medusa-plugin-segment-rs",
    available() {
      if (!fs.existsSync(path.join(ROOT, "index.js"))) return "index.js is not in this checkout yet"
      try {
        const mod = require(ROOT)
        if (typeof mod.SegmentService !== "function") return "index.js does not export SegmentService"
      } catch (err) {
        return `require failed: ${err.message}`
      }
      return null
    },
    make(url, extra = {}) {
      const { SegmentService } = require(ROOT)
      // The spool is on, as in Medusa, in the directory bench/run.js gives each driver.
      const spool_dir = process.env.BENCH_SPOOL_DIR || false
      const s = new SegmentService({ logger: quietLogger }, { write_key: WRITE_KEY, host: url, flush_at: 20, spool_dir, ...extra })
      return {
        track: (m) => s.track(m),
        finish: () => s.flush(),
        shutdown: () => s.shutdown({ timeout: 60000 }),
        stats: () => s.stats(),
      }
    },
  },
  // Ours with delivery switched off (`enabled: false`): every event is
  // validated, stringified and handed to the native core, which counts and
  // drops it. What the hand-off costs with no backlog and no HTTP.
  handoff: {
    label: "hand-off floor (ours, enabled: false)",
    noSink: true,
    available: () => LIBS.ours.available(),
    make: (url) => LIBS.ours.make(url, { enabled: false }),
  },
  // Ours without the spool: what the spool costs, beside "ours".
  "ours-nospool": {
    label: "ours, spool off",
    available: () => LIBS.ours.available(),
    make: (url) => LIBS.ours.make(url, { spool_dir: false }),
  },
  // Ours with the Redis spool (spool_url) instead of the disk spool: what
  // writing every event to a Redis stream costs (BENCH_REDIS_URL, default db 13
  // of the local Redis). Runs beside ours in the burst and steady scenarios.
  "ours-redis": {
    label: "ours, Redis spool",
    available() {
      const why = LIBS.ours.available()
      if (why) return why
      const url = process.env.BENCH_REDIS_URL || "redis://127.0.0.1:6379/13"
      const ping = require("node:child_process").spawnSync("redis-cli", ["-u", url, "ping"], { encoding: "utf8" })
      return ping.stdout && ping.stdout.trim() === "PONG" ? null : `no Redis at ${url} (BENCH_REDIS_URL)`
    },
    make: (url) => LIBS.ours.make(url, { spool_dir: false, spool_url: process.env.BENCH_REDIS_URL || "redis://127.0.0.1:6379/13" }),
  },
  "analytics-node": {
    label: "analytics-node@3.5.0",
    available() {
      try {
        const v = require("analytics-node/package.json").version
        return v === "3.5.0" ? null : `analytics-node is ${v}, not 3.5.0`
      } catch (err) {
        return "analytics-node is not installed (npm install)"
      }
    },
    make(url) {
      const Analytics = require("analytics-node")
      const a = new Analytics(WRITE_KEY, { host: url, flushAt: 20 })
      const flush = () => new Promise((resolve) => a.flush(() => resolve()))
      return { track: (m) => a.track(m), finish: flush, shutdown: flush }
    },
  },
  "@segment/analytics-node": {
    label: "@segment/analytics-node@3.1.0",
    available() {
      try {
        const v = require("@segment/analytics-node/package.json").version
        return v === "3.1.0" ? null : `@segment/analytics-node is ${v}, not 3.1.0`
      } catch (err) {
        return "@segment/analytics-node is not installed (npm install)"
      }
    },
    make(url) {
      const { Analytics } = require("@segment/analytics-node")
      const a = new Analytics({ writeKey: WRITE_KEY, host: url, flushAt: 20 })
      return {
        track: (m) => a.track(m),
        finish: () => a.flush(),
        shutdown: () => a.closeAndFlush(),
      }
    },
  },
}

module.exports = { LIBS, quietLogger }
