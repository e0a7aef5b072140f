// Preloaded into the bench's Medusa process (E2E_PROBE_FILE set): on SIGUSR2
// writes this process's CPU time and the event-loop delay histogram since the
// last SIGUSR2 to $E2E_PROBE_FILE, then resets the histogram.
const fs = require("node:fs")
const { monitorEventLoopDelay } = require("node:perf_hooks")

/** CPU ms per thread name (/proc/self/task/*): JS main thread, libuv pool, V8, native runtime threads. */
function threadCpu() {
  const out = {}
  const tick = 1000 / 100 // USER_HZ
  try {
    for (const t of fs.readdirSync("/proc/self/task")) {
      const stat = fs.readFileSync(`/proc/self/task/${t}/stat`, "utf8")
      const name = stat.slice(stat.indexOf("(") + 1, stat.lastIndexOf(")"))
      const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ")
      out[name] = (out[name] || 0) + (Number(f[11]) + Number(f[12])) * tick
    }
  } catch {}
  return out
}

if (process.env.E2E_PROBE_FILE) {
  const h = monitorEventLoopDelay({ resolution: 10 })
  h.enable()
  process.on("SIGUSR2", () => {
    const cpu = process.cpuUsage()
    const ms = (ns) => ns / 1e6
    const out = {
      cpu_ms: (cpu.user + cpu.system) / 1000,
      eld: { mean: ms(h.mean), p50: ms(h.percentile(50)), p99: ms(h.percentile(99)), max: ms(h.max), count: h.count },
    }
    out.threads = threadCpu()
    h.reset()
    fs.writeFileSync(process.env.E2E_PROBE_FILE, JSON.stringify(out))
  })
}
