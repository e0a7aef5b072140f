#!/usr/bin/env node
"use strict"
// npm run bench [-- --smoke] [--reps N] [--scenarios burst,steady] [--libs ours,analytics-node]
//               [--json FILE] [--no-medusa] [--no-ceiling] [--cpu-prof] [--medusa-v2] [--docs | --no-docs]
// A full run (no --smoke and no subset) writes the figures the docs show
// (bench/figures.js: README.md and docs/benchmarks.md); --docs forces it,
// --no-docs skips it.
// --medusa-v2 adds the Medusa 2.x figure (bench/medusa-v2.js: a real 2.21.2
// backend, our v2 subscriber against Medusa's Segment guide; needs PostgreSQL).
// --cpu-prof writes each driver's V8 CPU profile to .tmp/prof/.
// Compares this package's SegmentService with analytics-node@3.5.0 and
// @segment/analytics-node@3.1.0: one sink process (bench/sink.js), one fresh
// driver process per (library, scenario, repetition), libraries alternating
// A B C A B C. Prints medians (min–max) and ratios; BENCH_SMOKE=1 = --smoke.

const { fork } = require("node:child_process")
const fs = require("node:fs")
const os = require("node:os")
const path = require("node:path")
const { LIBS } = require("./libs")

const argv = process.argv.slice(2)
const flag = (name) => argv.includes(`--${name}`)
const opt = (name, def) => {
  const i = argv.indexOf(`--${name}`)
  return i >= 0 && argv[i + 1] != null ? argv[i + 1] : def
}
const SMOKE = flag("smoke") || process.env.BENCH_SMOKE === "1"

const FLAKY = { p503: 0.1, p429: 0.05, preset: 0.05, retry_after: 1, seed: 7 }
const SCENARIOS = SMOKE
  ? {
      burst: { title: "3k burst (smoke)", mode: "burst", n: 3000, reps: 1, floor: true },
      steady: { title: "steady 2,000/s for 1 s (smoke)", mode: "steady", rate: 2000, duration_ms: 1000, reps: 1, floor: true },
      outage: { title: "1 s outage, 1k burst (smoke)", mode: "burst", n: 1000, reps: 1, sink: { outage_ms: 1000 }, idle_ms: 2500 },
      flaky: { title: "flaky sink, 1k burst (smoke)", mode: "burst", n: 1000, reps: 1, sink: { flaky: FLAKY }, idle_ms: 2500 },
      shutdown: { title: "shutdown right after a 1k burst (smoke)", mode: "shutdown", n: 1000, reps: 1 },
      crash: { title: "kill -9 100 ms after a 3k burst during an outage (503), then a restart (smoke)", mode: "crash", n: 3000, reps: 1, sink: { down: true } },
    }
  : {
      burst: { title: "100k burst (chunks of 1,000, setImmediate between)", mode: "burst", n: 100000, reps: 5, floor: true },
      steady: { title: "steady 2,000/s for 10 s", mode: "steady", rate: 2000, duration_ms: 10000, reps: 3, floor: true },
      outage: { title: "3 s outage (503) from the first request, 20k burst", mode: "burst", n: 20000, reps: 3, sink: { outage_ms: 3000 }, idle_ms: 3000 },
      flaky: { title: "flaky sink (10% 503, 5% 429 Retry-After: 1, 5% reset), 10k burst", mode: "burst", n: 10000, reps: 3, sink: { flaky: FLAKY }, idle_ms: 3000 },
      shutdown: { title: "shutdown right after a 20k burst", mode: "shutdown", n: 20000, reps: 3 },
      crash: { title: "kill -9 100 ms after a 20k burst during an outage (503), then a restart", mode: "crash", n: 20000, reps: 3, sink: { down: true } },
    }

const reps = opt("reps")
const onlyScenarios = opt("scenarios") ? opt("scenarios").split(",") : Object.keys(SCENARIOS)
// The floors are not libraries: they run beside the libraries, never as anchors.
const FLOORS = ["floor", "stringify", "handoff", "ours-nospool", "ours-redis"]
const wantedLibs = opt("libs") ? opt("libs").split(",") : Object.keys(LIBS).filter((l) => !FLOORS.includes(l))
const jsonOut = opt("json")

const log = (...a) => process.stderr.write(a.join(" ") + "\n")
const sleep = (ms) => new Promise((r) => setTimeout(r, ms))

// ---------------------------------------------------------------- sink
function startSink() {
  return new Promise((resolve, reject) => {
    const child = fork(path.join(__dirname, "sink.js"), [], { execArgv: [], stdio: ["ignore", "inherit", "inherit", "ipc"] })
    const pending = []
    child.on("message", (m) => {
      if (m.type === "ready") resolve({ child, url: m.url, request })
      else if (pending.length) pending.shift()(m)
    })
    child.on("error", reject)
    function request(msg) {
      return new Promise((res) => {
        pending.push(res)
        child.send(msg)
      })
    }
  })
}

async function settle(sink, idleMs, maxMs) {
  // Until the sink saw no request for idleMs (catches late retries and duplicates).
  const t0 = Date.now()
  for (;;) {
    const { stats } = await sink.request({ type: "stats" })
    const last = stats.last_request_at
    const nowMs = performance.timeOrigin + performance.now()
    if (last == null || nowMs - last >= idleMs || Date.now() - t0 > maxMs) return stats
    await sleep(100)
  }
}

// ---------------------------------------------------------------- one run
/** How long after the burst the crash scenario kills the driver: the spool's guarantee (README). */
const CRASH_AFTER_MS = 100

function runChild(script, job, timeoutMs) {
  return new Promise((resolve) => {
    const child = fork(path.join(__dirname, script), [JSON.stringify(job)], {
      execArgv: job.execArgv || [],
      stdio: ["ignore", "pipe", "pipe", "ipc"],
      env: { ...process.env, ...(job.env || {}) },
    })
    let out = ""
    const keep = (c) => {
      out += c
      if (out.length > 8000) out = out.slice(-8000)
    }
    child.stdout.on("data", keep)
    child.stderr.on("data", keep)
    let result = null
    let error = null
    child.on("message", (m) => {
      if (m.type === "result") result = m.result
      else if (m.type === "error") error = m.error
      else if (m.type === "accepted") {
        // The crash scenario: kill -9 shortly after the burst was accepted.
        result = { sent: m.sent, crashed: true }
        setTimeout(() => child.kill("SIGKILL"), CRASH_AFTER_MS)
      }
    })
    const started = Date.now()
    let resultAt = null
    const timer = setTimeout(() => {
      error = error || `killed after ${timeoutMs} ms`
      child.kill("SIGKILL")
    }, timeoutMs)
    child.on("message", () => (resultAt = resultAt || Date.now()))
    child.on("exit", (code, signal) => {
      clearTimeout(timer)
      if (!result && !error) error = `exited with ${code ?? signal} before reporting`
      resolve({ result, error, output: out, exit_after_result_ms: resultAt ? Date.now() - resultAt : null, wall_ms: Date.now() - started })
    })
  })
}

async function runOne(sink, libName, scenarioName, sc, rep) {
  await sink.request({ type: "reset", config: { expect: sc.n || Math.round((sc.rate * sc.duration_ms) / 1000), ...(sc.sink || {}) } })
  const job = { lib: libName, scenario: scenarioName, rep, url: sink.url, ...sc }
  if (flag("cpu-prof")) {
    const dir = path.join(__dirname, "..", ".tmp", "prof")
    job.execArgv = ["--cpu-prof", `--cpu-prof-dir=${dir}`, `--cpu-prof-name=${libName.replace(/\W/g, "_")}-${scenarioName}-${rep}.cpuprofile`]
  }
  // ours: a fresh spool directory per driver (and its restart)
  const spoolDir = fs.mkdtempSync(path.join(os.tmpdir(), "segment-bench-spool-"))
  job.env = { ...(job.env || {}), BENCH_SPOOL_DIR: spoolDir }
  const run = await runChild("driver.js", job, 300000)
  if (sc.mode === "crash") {
    // Segment is back; the restart: a library that kept anything delivers it now.
    await sink.request({ type: "up" })
    const restart = await runChild("driver.js", { ...job, mode: "restart" }, 120000)
    const stats = await settle(sink, 1500, 60000)
    fs.rmSync(spoolDir, { recursive: true, force: true })
    const sent = run.result ? run.result.sent : 0
    const replayed = restart.result && restart.result.lib_stats && restart.result.lib_stats.spool ? restart.result.lib_stats.spool.replayed : 0
    const fig = { lost: sent - stats.unique, duplicates: stats.duplicates, replayed }
    log(`  ${libName.padEnd(24)} ${scenarioName}#${rep}: ${sent} accepted, killed ${CRASH_AFTER_MS} ms later; ${stats.unique} delivered after the restart, ${fig.lost} lost`)
    return { lib: libName, scenario: scenarioName, rep, fig, raw: { sent }, sink: stats }
  }
  const stats = await settle(sink, sc.mode === "shutdown" ? 1500 : 300, 60000)
  fs.rmSync(spoolDir, { recursive: true, force: true })
  if (run.error) {
    log(`  ${libName} ${scenarioName}#${rep}: ERROR ${run.error}\n${run.output.split("\n").slice(-15).join("\n")}`)
    return { lib: libName, scenario: scenarioName, rep, error: run.error, sink: stats }
  }
  const r = run.result
  // What the driver measures in its own process, for libraries and floors alike.
  const own = {
    main_us_per_event: r.main_cpu_ns / 1000 / r.sent,
    main_wait_ms: r.main_wait_ns == null ? null : r.main_wait_ns / 1e6,
    track_us_per_event: r.timed_events ? r.track_cpu_ns / 1000 / r.timed_events : null,
    eld_p50_ms: r.eld_ms.p50,
    eld_p99_ms: r.eld_ms.p99,
    eld_max_ms: r.eld_ms.max,
    rss_peak_mb: (r.rss.hwm || r.rss.sampled_max) / 1048576,
    heap_peak_mb: r.heap_peak / 1048576,
  }
  if (LIBS[libName].noSink) {
    log(`  ${libName.padEnd(24)} ${scenarioName}#${rep}: ${fmt(own.main_us_per_event)} µs main/event, ELD p99 ${fmt(own.eld_p99_ms)} ms, RSS ${fmt(own.rss_peak_mb)} MB`)
    return { lib: libName, scenario: scenarioName, rep, fig: own, raw: r }
  }
  const delivered = stats.unique
  const doneAt = stats.reached_at || stats.last_new_at
  const fig = {
    ...own,
    build_us_per_event: r.timed_events ? r.build_cpu_ns / 1000 / r.timed_events : null,
    proc_cpu_s_per_10k: delivered ? (r.process_cpu_us / 1e6 / delivered) * 1e4 : null,
    eps: doneAt ? delivered / ((doneAt - r.t0) / 1000) : null,
    latency_p99_ms: stats.latency_ms.p99,
    lost: r.sent - delivered,
    duplicates: stats.duplicates,
    shutdown_ms: r.shutdown_ms,
    finish_ms: sc.mode === "shutdown" ? null : r.finish_ms,
    exit_after_shutdown_ms: sc.mode === "shutdown" ? run.exit_after_result_ms : null,
    requests: stats.requests,
    connections: stats.connections,
    max_open_connections: stats.max_open_connections,
  }
  log(
    `  ${libName.padEnd(24)} ${scenarioName}#${rep}: ${r.sent} sent, ${delivered} delivered, ` +
      `${fmt(fig.main_us_per_event)} µs main/event, ${fmt(fig.eps)} ev/s, ELD p99 ${fmt(fig.eld_p99_ms)} ms, ` +
      `RSS ${fmt(fig.rss_peak_mb)} MB, ${(run.wall_ms / 1000).toFixed(1)} s`
  )
  return { lib: libName, scenario: scenarioName, rep, fig, raw: r, sink: stats }
}

// ---------------------------------------------------------------- stats/printing
// (the same median and number format as the figures the docs show)
const { median, fmt, commitOf } = require("./figures")
function summary(runs, key) {
  const xs = runs.map((r) => r.fig && r.fig[key]).filter((x) => x != null && !Number.isNaN(x))
  if (!xs.length) return null
  return { median: median(xs), min: Math.min(...xs), max: Math.max(...xs), n: xs.length }
}
/** A library's peak RSS less the driver floor's median: what the library adds. */
function aboveFloor(runs, floorRuns) {
  const lib = summary(runs, "rss_peak_mb")
  const floor = summary(floorRuns, "rss_peak_mb")
  if (!lib || !floor) return null
  return { median: lib.median - floor.median, min: lib.min - floor.median, max: lib.max - floor.median, n: lib.n }
}
const cell = (s) => (s ? (s.n > 1 && s.min !== s.max ? `${fmt(s.median)} (${fmt(s.min)}–${fmt(s.max)})` : fmt(s.median)) : "–")

const FIGURES = [
  ["main_us_per_event", "main-thread CPU per event, whole run (µs)", "lower"],
  ["track_us_per_event", "CPU inside track() (µs/event)", "lower"],
  ["proc_cpu_s_per_10k", "process CPU per 10k delivered (s)", "lower"],
  ["eld_p50_ms", "event-loop delay p50 (ms)", "lower"],
  ["eld_p99_ms", "event-loop delay p99 (ms)", "lower"],
  ["eld_max_ms", "event-loop delay max (ms)", "lower"],
  ["main_wait_ms", "main thread waiting for a CPU while calling track() (ms)", "lower"],
  ["rss_peak_mb", "peak RSS (MB, VmHWM)", "lower"],
  ["heap_peak_mb", "of which V8 heap, peak (MB, sampled)", "lower"],
  ["eps", "end to end (events/s)", "higher"],
  ["latency_p99_ms", "delivery latency p99 (ms)", "lower"],
  ["lost", "lost", "lower"],
  ["duplicates", "duplicated", "lower"],
  ["finish_ms", "flush call after the last track() (ms)", "lower"],
  ["shutdown_ms", "shutdown call (ms)", "lower"],
  ["exit_after_shutdown_ms", "process exit after shutdown (ms)", "lower"],
  ["requests", "HTTP requests", "lower"],
  ["connections", "TCP connections opened", "lower"],
  ["max_open_connections", "max open connections", "lower"],
]

function table(header, rows) {
  const lines = [`| ${header.join(" | ")} |`, `|${header.map((h, i) => (i ? "---:" : "---")).join("|")}|`]
  for (const r of rows) lines.push(`| ${r.join(" | ")} |`)
  return lines.join("\n")
}

function ratio(ours, anchor) {
  if (!ours || !anchor) return "–"
  if (anchor.median === 0 && ours.median === 0) return "="
  if (anchor.median === 0) return "∞"
  if (ours.median === 0) return `0 vs ${fmt(anchor.median)}`
  const r = ours.median / anchor.median
  return r >= 10 ? `${r.toFixed(0)}×` : r >= 1 ? `${r.toFixed(2)}×` : `1/${fmt(1 / r)}`
}

// ---------------------------------------------------------------- main
async function main() {
  const cpu = os.cpus()
  const header = [
    `# npm run bench${SMOKE ? " -- --smoke" : ""}`,
    `date: ${new Date().toISOString()}`,
    `machine: ${cpu[0] ? cpu[0].model : "?"}, ${cpu.length} cores, ${Math.round(os.totalmem() / 2 ** 30)} GB, ${os.type()} ${os.release()}`,
    `node ${process.version}, load average at start ${os.loadavg().map((x) => x.toFixed(2)).join(" ")}`,
  ]
  console.log(header.join("\n"))

  const libs = []
  const skipped = {}
  for (const name of wantedLibs) {
    if (!LIBS[name]) throw new Error(`unknown library ${name}; known: ${Object.keys(LIBS).join(", ")}`)
    const why = LIBS[name].available()
    if (why) {
      skipped[name] = why
      console.log(`skipping ${LIBS[name].label}: ${why}`)
    } else libs.push(name)
  }
  // The floors run where they mean something (burst, steady; the driver
  // floor everywhere, for the RSS above it), unless libraries were picked by hand.
  const libsFor = (sc) => (opt("libs") ? libs : sc.floor ? [...FLOORS, ...libs] : ["floor", ...libs])
  const anchors = libs.filter((l) => l !== "ours" && !FLOORS.includes(l))
  const sink = await startSink()
  const results = { header, date: new Date().toISOString(), commit: commitOf(), smoke: SMOKE, skipped, runs: [], ceiling: null, medusa: null }

  if (!flag("no-ceiling")) {
    const n = SMOKE ? 4000 : 100000
    await sink.request({ type: "reset", config: {} })
    const c = await runChild("ceiling.js", { url: sink.url, n, inflight: 4 }, 120000)
    const { stats } = await sink.request({ type: "stats" })
    await sink.request({ type: "reset", config: {} })
    if (c.result) {
      // What one core of the sink absorbs: events per second of the sink's CPU.
      c.result.sink_cpu_eps = stats.unique / (stats.cpu_us / 1e6)
      results.ceiling = c.result
      console.log(
        `sink ceiling: ${fmt(c.result.sink_cpu_eps)} events per second of sink CPU; ` +
          `${fmt(c.result.eps)} events/s from a minimal keep-alive client (4 in flight, ${n} events) sharing the 2 cores`
      )
    } else console.log(`sink ceiling: failed: ${c.error}`)
  }

  const started = Date.now()
  for (const sName of onlyScenarios) {
    const sc = SCENARIOS[sName]
    if (!sc) throw new Error(`unknown scenario ${sName}; known: ${Object.keys(SCENARIOS).join(", ")}`)
    const n = Number(reps || sc.reps)
    log(`scenario ${sName}: ${sc.title}, ${n} repetition(s)`)
    for (let rep = 1; rep <= n; rep++) {
      for (const lib of libsFor(sc)) results.runs.push(await runOne(sink, lib, sName, sc, rep))
    }
  }
  results.elapsed_s = (Date.now() - started) / 1000

  // ---- print
  const out = []
  out.push("")
  out.push(`Medians (min–max) over the repetitions; ratios are ours ÷ anchor (lower is better except events/s).`)
  for (const sName of onlyScenarios) {
    const sc = SCENARIOS[sName]
    out.push("", `### ${sc.title}`, "")
    const by = (lib) => results.runs.filter((r) => r.scenario === sName && r.lib === lib)
    const cols = libsFor(sc)
    const hdr = ["figure", ...cols.map((l) => LIBS[l].label)]
    if (libs.includes("ours")) for (const a of anchors) hdr.push(`ours ÷ ${a}`)
    const rows = []
    for (const [key, label] of FIGURES) {
      const sums = cols.map((l) => summary(by(l), key))
      if (sums.every((s) => s == null)) continue
      const row = [label, ...sums.map(cell)]
      if (libs.includes("ours")) {
        const o = sums[cols.indexOf("ours")]
        for (const a of anchors) row.push(ratio(o, sums[cols.indexOf(a)]))
      }
      rows.push(row)
      if (key === "rss_peak_mb" && cols.includes("floor")) {
        const above = cols.map((l) => (FLOORS.includes(l) ? null : aboveFloor(by(l), by("floor"))))
        const extra = ["peak RSS above the driver floor (MB)", ...above.map(cell)]
        if (libs.includes("ours")) for (const a of anchors) extra.push(ratio(above[cols.indexOf("ours")], above[cols.indexOf(a)]))
        rows.push(extra)
      }
    }
    const errors = cols.map((l) => by(l).filter((r) => r.error).length)
    if (errors.some((e) => e)) rows.push(["failed runs", ...errors.map(String)])
    out.push(table(hdr, rows))
  }
  if (results.ceiling)
    out.push(
      "",
      `Sink ceiling: ${fmt(results.ceiling.sink_cpu_eps)} events per second of sink CPU (one core); ` +
        `a minimal keep-alive client reached ${fmt(results.ceiling.eps)} events/s on the shared 2 cores.`
    )

  // ---- targets: ours, and its spool variants when they ran (same anchors, same run)
  const variants = ["ours", "ours-redis", "ours-nospool"].filter((v) => libs.includes(v) || (!opt("libs") && results.runs.some((r) => r.lib === v)))
  if (libs.includes("ours") && libs.length > 1) results.targets_by_lib = {}
  for (const lib of libs.includes("ours") && libs.length > 1 ? variants : []) {
    const burstRuns = (l) => results.runs.filter((r) => r.scenario === "burst" && r.lib === l)
    const burst = (l, key) =>
      key === "rss_above_floor_mb" ? aboveFloor(burstRuns(l), burstRuns("floor")) : summary(burstRuns(l), key)
    const best = (key, dir) => {
      const xs = anchors.map((a) => ({ a, s: burst(a, key) })).filter((x) => x.s)
      if (!xs.length) return null
      return xs.sort((p, q) => (dir === "lower" ? p.s.median - q.s.median : q.s.median - p.s.median))[0]
    }
    const targets = []
    const check = (label, key, dir, factor, extra) => {
      const o = burst(lib, key)
      const b = best(key, dir)
      if (!o || !b) return
      const r = o.median / b.s.median
      const ok = dir === "lower" ? r <= factor : r >= factor || (extra && extra(o))
      const want = dir === "lower" ? `≤ 1/${fmt(1 / factor)}` : `≥ ${factor}×`
      targets.push([label, `${fmt(o.median)} vs ${fmt(b.s.median)} (${LIBS[b.a].label})`, ratio(o, b.s), want, ok ? "holds" : "misses"])
    }
    if (onlyScenarios.includes("burst")) {
      check("main-thread CPU per event (burst)", "main_us_per_event", "lower", 1 / 10)
      check("process CPU per 10k delivered (burst)", "proc_cpu_s_per_10k", "lower", 1 / 5)
      check("event-loop delay p99 (burst)", "eld_p99_ms", "lower", 1 / 10)
      check("peak RSS (burst)", "rss_peak_mb", "lower", 1 / 2)
      check("peak RSS above the driver floor (burst)", "rss_above_floor_mb", "lower", 1 / 2)
      check("end-to-end events/s (burst)", "eps", "higher", 3, (o) => results.ceiling && o.median >= 0.8 * results.ceiling.sink_cpu_eps)
      if (results.ceiling && targets.length) targets[targets.length - 1][1] += `; sink ceiling ${fmt(results.ceiling.sink_cpu_eps)}`
    }
    const oursRuns = results.runs.filter((r) => r.lib === lib)
    const lostTotal = oursRuns.reduce((s, r) => s + (r.fig ? r.fig.lost : r.sink ? 0 : 0), 0)
    const failed = oursRuns.filter((r) => r.error).length
    targets.push([
      "nothing lost, any scenario",
      `${lostTotal} lost over ${oursRuns.length} runs${failed ? `, ${failed} failed` : ""}`,
      "",
      "0",
      lostTotal === 0 && !failed ? "holds" : "misses",
    ])
    const who = lib === "ours" ? "ours" : LIBS[lib].label
    out.push("", `### Targets (${who} against the better anchor, medians of the burst runs)`, "")
    out.push(table(["target", "figure", "ratio", "wanted", ""], targets))
    if (lib === "ours") results.targets = targets
    results.targets_by_lib[lib] = targets
  }
  out.push("", `(${results.runs.length} runs in ${fmt(results.elapsed_s)} s; load average at the end ${os.loadavg().map((x) => x.toFixed(2)).join(" ")})`)
  console.log(out.join("\n"))

  if (!flag("no-medusa")) {
    try {
      results.medusa = await require("./medusa").run({ smoke: SMOKE, print: console.log, sinkUrl: sink.url })
    } catch (err) {
      console.log(`\nMedusa-level figure: failed: ${err.message}`)
    }
  }

  if (flag("medusa-v2")) {
    try {
      results.medusa_v2 = await require("./medusa-v2").run({ smoke: SMOKE, print: console.log })
    } catch (err) {
      console.log(`\nMedusa 2.x figure: failed: ${err.message}`)
    }
  }

  sink.child.kill()
  const file = jsonOut || path.join(__dirname, "..", ".tmp", `bench-${new Date().toISOString().replace(/[:.]/g, "-")}.json`)
  fs.mkdirSync(path.dirname(file), { recursive: true })
  fs.writeFileSync(file, JSON.stringify(results, null, 2))
  log(`results: ${file}`)
  const full = !SMOKE && !opt("scenarios") && !opt("libs") && !reps
  if ((full || flag("docs")) && !flag("no-docs")) {
    for (const f of require("./figures").writeFigures(results)) log(`figures written to ${f}`)
  }
}

main().catch((err) => {
  console.error(err)
  process.exit(1)
})
