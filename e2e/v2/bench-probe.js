// Preloaded into the bench's Medusa process (E2E_PROBE_FILE set): on SIGUSR2
// writes this process's CPU time and the event-loop delay histogram since the
// last SIGUSR2 to $E2E_PROBE_FILE, then resets the histogram.
// With E2E_PROBE_PROFILE=1 it also profiles the JS thread between two
// SIGUSR2s (V8's sampling profiler, 500 µs) and writes that window's profile
// to $E2E_PROBE_FILE.cpuprofile first: the profile covers exactly the
// measured rounds, not Medusa's start-up or the orders being placed.
const fs = require("node:fs")
const { monitorEventLoopDelay } = require("node:perf_hooks")

/** CPU ms per thread name (/proc/self/task/*): JS main thread, libuv pool, V8, native runtime threads. */
function threadCpu() {
  const out = {}
  const tick = 1000 / 100 // USER_HZ
  try {
    for (const t of fs.readdirSync("/proc/self/task")) {
      const stat = fs.readFileSync(`/proc/self/task/${t}/stat`, "utf8")
      // the JS thread by its id (its name is the process's); the others by name: V8's workers, libuv's pool, segment-rs
      const name = Number(t) === process.pid ? "(js)" : stat.slice(stat.indexOf("(") + 1, stat.lastIndexOf(")"))
      const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ")
      out[name] = (out[name] || 0) + (Number(f[11]) + Number(f[12])) * tick
    }
  } catch {}
  return out
}

/** Starts V8's profiler; stop(cb) hands the profile of the window to cb. */
function profiler() {
  const inspector = require("node:inspector")
  const session = new inspector.Session()
  session.connect()
  session.post("Profiler.enable")
  session.post("Profiler.setSamplingInterval", { interval: 500 })
  session.post("Profiler.start")
  return {
    stop(cb) {
      session.post("Profiler.stop", (err, res) => {
        session.disconnect()
        cb(err ? null : res.profile)
      })
    },
  }
}

if (process.env.E2E_PROBE_FILE) {
  const h = monitorEventLoopDelay({ resolution: 10 })
  h.enable()
  let prof = null
  process.on("SIGUSR2", () => {
    const cpu = process.cpuUsage()
    const ms = (ns) => ns / 1e6
    const out = {
      cpu_ms: (cpu.user + cpu.system) / 1000,
      eld: { mean: ms(h.mean), p50: ms(h.percentile(50)), p99: ms(h.percentile(99)), max: ms(h.max), count: h.count },
    }
    out.threads = threadCpu()
    h.reset()
    const write = () => fs.writeFileSync(process.env.E2E_PROBE_FILE, JSON.stringify(out))
    if (process.env.E2E_PROBE_PROFILE !== "1") return write()
    const running = prof
    prof = null
    const next = () => {
      prof = profiler()
      write()
    }
    if (!running) return next()
    running.stop((profile) => {
      if (profile) fs.writeFileSync(`${process.env.E2E_PROBE_FILE}.cpuprofile`, JSON.stringify(profile))
      next()
    })
  })
}
