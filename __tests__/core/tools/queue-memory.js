"use strict"
// What a backlog of tiny messages costs in memory, against what
// `max_queue_bytes` charges for it: tracks `events` 27-byte-ish track calls
// ({"userId":"u","event":"E"} as JSON) while Segment does not answer (a
// server that accepts connections and never replies), then prints the RSS
// it took and the RSS per queued message.
//
//   node __tests__/core/tools/queue-memory.js [events=3000000] [max_queue_bytes=67108864]

const net = require("node:net")
const fs = require("node:fs")
const { SegmentService } = require("../../..")

const events = Number(process.argv[2] || 3e6)
const maxQueueBytes = Number(process.argv[3] || 64 * 1024 * 1024)
const mb = (b) => (b / 1048576).toFixed(1)
const hwm = () => Number(fs.readFileSync("/proc/self/status", "utf8").match(/^VmHWM:\s+(\d+)/m)[1]) * 1024
const tick = () => new Promise((r) => setImmediate(r))

async function main() {
  // A black hole: connections are accepted, requests never answered.
  const sockets = []
  const hole = net.createServer((s) => sockets.push(s.on("error", () => {})))
  await new Promise((r) => hole.listen(0, "127.0.0.1", r))
  const quiet = { info() {}, warn() {}, error() {} }
  const service = new SegmentService(
    { logger: quiet },
    { write_key: "k", host: `http://127.0.0.1:${hole.address().port}`, max_queue_bytes: maxQueueBytes, timeout: 60000 }
  )
  service.track({ userId: "u", event: "E" }) // load the addon, start the runtime
  await new Promise((r) => setTimeout(r, 200))
  global.gc && global.gc()
  const rss0 = process.memoryUsage.rss()
  const heap0 = process.memoryUsage().heapTotal
  for (let i = 0; i < events; ) {
    for (const end = Math.min(events, i + 1000); i < end; i++) service.track({ userId: "u", event: "E" })
    await tick()
  }
  await new Promise((r) => setTimeout(r, 1500)) // let the worker batch the inbox
  global.gc && global.gc()
  const s = service.stats()
  const rss1 = process.memoryUsage.rss()
  const grew = Math.max(rss1, hwm()) - rss0
  const json = Buffer.byteLength(JSON.stringify({ userId: "u", event: "E" }))
  console.log(
    JSON.stringify({
      events,
      json_bytes: json,
      max_queue_bytes: maxQueueBytes,
      queued: s.queued,
      queued_bytes: s.queued_bytes,
      dropped: s.dropped,
      rss_start_mb: +mb(rss0),
      rss_now_mb: +mb(rss1),
      peak_rss_growth_mb: +mb(grew),
      growth_over_max_queue_bytes: +(grew / maxQueueBytes).toFixed(2),
      // (RSS also holds the V8 heap the burst's garbage grew)
      js_heap_growth_mb: +mb(process.memoryUsage().heapTotal - heap0),
      rss_per_queued_message: Math.round((rss1 - rss0) / Math.max(1, s.queued)),
    })
  )
  for (const s of sockets) s.destroy()
  hole.close()
  process.exit(0)
}

main()
