"use strict"
// One benchmark run: one library, one scenario, in a fresh process (forked by
// bench/run.js with IPC; argv[2] is the JSON job). Sends the same event to the
// sink, waits until the sink has everything (or goes idle), and reports:
//   main-thread CPU (ns, from /proc/self/task/<pid>/schedstat: Node 20 has no
//   process.threadCpuUsage) and, while sending, the time it waited for a CPU
//   (the same file's second field), process CPU (process.cpuUsage), CPU inside the
//   track() calls, event-loop delay (monitorEventLoopDelay, 1 ms resolution),
//   peak RSS (VmHWM and sampled), timings.

const fs = require("node:fs")
const http = require("node:http")
const v8 = require("node:v8")
const { monitorEventLoopDelay } = require("node:perf_hooks")
const { buildEvent, now } = require("./event")
const { LIBS, quietLogger } = require("./libs")

const job = JSON.parse(process.argv[2])
const SCHEDSTAT = `/proc/self/task/${process.pid}/schedstat`
let schedstatOk = true
const threadCpuNs = () => {
  if (schedstatOk) {
    try {
      return Number(fs.readFileSync(SCHEDSTAT, "utf8").split(" ")[0])
    } catch {
      schedstatOk = false
    }
  }
  // Fallback: utime+stime of the main thread, in clock ticks (10 ms).
  const f = fs.readFileSync(`/proc/self/task/${process.pid}/stat`, "utf8").split(") ")[1].split(" ")
  return (Number(f[11]) + Number(f[12])) * 1e7
}
// Time the main thread was runnable but not running (other threads or
// processes had the CPUs), measured while the driver calls track(): on 2
// cores, delivery work running at the same time (the library's, the
// sink's) delays the event loop beyond the JS thread's own CPU. null
// without schedstat.
const threadWaitNs = () => {
  try {
    return Number(fs.readFileSync(SCHEDSTAT, "utf8").split(" ")[1])
  } catch {
    return null
  }
}
const procCpuUs = () => {
  const u = process.cpuUsage()
  return u.user + u.system
}
const vm = (key) => {
  const m = fs.readFileSync("/proc/self/status", "utf8").match(new RegExp(`^${key}:\\s+(\\d+) kB`, "m"))
  return m ? Number(m[1]) * 1024 : null
}

const tick = () => new Promise((r) => setImmediate(r))
const sleep = (ms) => new Promise((r) => setTimeout(r, ms))

function getJSON(url) {
  return new Promise((resolve, reject) => {
    const req = http.get(url, { agent: false }, (res) => {
      let body = ""
      res.setEncoding("utf8")
      res.on("data", (c) => (body += c))
      res.on("end", () => {
        try {
          resolve(JSON.parse(body))
        } catch (e) {
          reject(e)
        }
      })
    })
    req.on("error", reject)
  })
}

async function main() {
  const lib = LIBS[job.lib]
  const client = lib.make(job.url, job.options || {})
  if (job.mode === "restart") {
    // The start after a crash: whatever the library recovers, delivered.
    await client.finish()
    const stats = client.stats ? safe(() => client.stats()) : null
    process.send({ type: "result", result: { restarted: true, lib_stats: stats } }, () => process.exit(0))
    return
  }
  let seq = 0
  let trackNs = 0
  let buildNs = 0
  let trackErrors = 0
  let measured = 0
  const send = (count) => {
    // Only big chunks are timed on their own (reading the clock costs ~10 µs).
    const timed = count >= 200
    const b0 = timed ? threadCpuNs() : 0
    const events = new Array(count)
    for (let i = 0; i < count; i++) events[i] = buildEvent(seq++)
    const b1 = timed ? threadCpuNs() : 0
    for (let i = 0; i < count; i++) {
      try {
        client.track(events[i])
      } catch (err) {
        trackErrors++
      }
    }
    if (timed) {
      trackNs += threadCpuNs() - b1
      buildNs += b1 - b0
      measured += count
    }
  }

  const eld = monitorEventLoopDelay({ resolution: 1 })
  let rssMax = 0
  let heapMax = 0 // V8 heap: splits a peak RSS into the JS heap and the rest
  const sampler = setInterval(() => {
    const r = process.memoryUsage.rss()
    if (r > rssMax) rssMax = r
    const h = v8.getHeapStatistics().total_heap_size
    if (h > heapMax) heapMax = h
  }, 200)
  sampler.unref()

  const rssStart = process.memoryUsage.rss()
  const thr0 = threadCpuNs()
  const wait0 = threadWaitNs()
  const cpu0 = procCpuUs()
  const t0 = now()
  eld.enable()

  const chunk = job.chunk || 1000
  if (job.mode === "steady") {
    // `rate` events/s for `duration_ms`, sent every 10 ms (catching up on late ticks).
    const total = Math.round((job.rate * job.duration_ms) / 1000)
    while (seq < total) {
      const due = Math.min(total, Math.floor(((now() - t0) * job.rate) / 1000))
      if (due > seq) send(due - seq)
      if (seq < total) await sleep(10)
    }
  } else {
    // burst: chunks of 1,000 with setImmediate between
    while (seq < job.n) {
      send(Math.min(chunk, job.n - seq))
      await tick()
    }
  }
  const tEmitted = now()
  const wait1 = threadWaitNs()
  const total = seq
  if (job.mode === "crash") {
    // Everything is accepted: bench/run.js kills this process (SIGKILL) now.
    process.send({ type: "accepted", sent: total })
    return new Promise(() => {})
  }

  let shutdownMs = null
  if (job.mode === "shutdown") {
    const s0 = now()
    await client.shutdown()
    shutdownMs = now() - s0
  } else {
    await client.finish()
  }
  const tFinished = now()
  let sink = null
  if (job.mode !== "shutdown" && !lib.noSink) {
    sink = await getJSON(`${job.url}/__wait?n=${total}&idle=${job.idle_ms || 1500}&timeout=${job.timeout_ms || 180000}`)
  }
  const tEnd = now()
  eld.disable()
  const thr1 = threadCpuNs()
  const cpu1 = procCpuUs()
  const rssEnd = process.memoryUsage.rss()
  const result = {
    lib: job.lib,
    scenario: job.scenario,
    rep: job.rep,
    sent: total,
    track_errors: trackErrors,
    main_cpu_ns: thr1 - thr0,
    main_wait_ns: wait0 == null || wait1 == null ? null : wait1 - wait0,
    track_cpu_ns: trackNs,
    build_cpu_ns: buildNs,
    timed_events: measured,
    process_cpu_us: cpu1 - cpu0,
    eld_ms: {
      p50: eld.percentile(50) / 1e6,
      p99: eld.percentile(99) / 1e6,
      max: eld.max / 1e6,
    },
    rss: { start: rssStart, end: rssEnd, sampled_max: Math.max(rssMax, rssEnd), hwm: vm("VmHWM") },
    heap_peak: Math.max(heapMax, v8.getHeapStatistics().total_heap_size),
    t0,
    emit_ms: tEmitted - t0,
    finish_ms: tFinished - tEmitted,
    total_ms: tEnd - t0,
    shutdown_ms: shutdownMs,
    sink_wait: sink,
    lib_stats: client.stats ? safe(() => client.stats()) : null,
    logger_calls: quietLogger.calls,
    schedstat: schedstatOk,
  }
  if (!process.send) {
    // Run by hand (e.g. under perf): print the result.
    process.stdout.write(JSON.stringify(result) + "\n")
    if (job.mode !== "shutdown") process.exit(0)
    return
  }
  process.send({ type: "result", result }, () => {
    if (job.mode === "shutdown") {
      // Let the process end on its own, as a store's would after shutdown.
      process.disconnect()
    } else {
      process.exit(0)
    }
  })
}

function safe(f) {
  try {
    return f()
  } catch (err) {
    return { error: err.message }
  }
}

main().catch((err) => {
  if (!process.send) throw err
  process.send({ type: "error", error: String((err && err.stack) || err) }, () => process.exit(1))
})
