#!/usr/bin/env node
"use strict"
// The figures the docs show, written from a bench run's JSON, so no number in
// them is copied by hand: the headline table of docs/benchmarks.md, the
// three claims of README.md and the spools' table of docs/multi-instance.md,
// each between BENCH FIGURES markers.
//
//   npm run bench                           a full run writes them at its end
//   node bench/figures.js results.json      writes them from a saved run
//   node bench/figures.js results.json --print   prints them, writes nothing
//
// A smoke run or a subset (--scenarios, --libs, --reps) writes nothing unless
// asked (--docs): its figures are not the ones the docs describe.

const fs = require("node:fs")
const path = require("node:path")

const ROOT = path.join(__dirname, "..")
const BEGIN = "BENCH FIGURES: written by `npm run bench` (bench/figures.js) from its JSON; do not edit by hand"
const END = "END BENCH FIGURES"
const ANCHORS = ["analytics-node", "@segment/analytics-node"]

const median = (xs) => {
  const s = xs.slice().sort((a, b) => a - b)
  const m = s.length >> 1
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2
}

function fmt(x) {
  if (x == null || Number.isNaN(x)) return "–"
  const a = Math.abs(x)
  if (a === 0) return "0"
  if (Number.isInteger(x)) return x.toLocaleString("en-US")
  if (a >= 1000) return Math.round(x).toLocaleString("en-US")
  if (a >= 100) return x.toFixed(0)
  if (a >= 10) return x.toFixed(1)
  if (a >= 1) return x.toFixed(2)
  return x.toFixed(3)
}

/** Median of `key` over the runs of `lib` in `scenario` (null when none). */
function med(results, scenario, lib, key) {
  const xs = results.runs
    .filter((r) => r.scenario === scenario && r.lib === lib && r.fig && r.fig[key] != null && !Number.isNaN(r.fig[key]))
    .map((r) => r.fig[key])
  return xs.length ? median(xs) : null
}

function ratio(ours, anchor, higherBetter) {
  if (ours == null || anchor == null || anchor === 0 || ours === 0) return ""
  const r = ours / anchor
  if (higherBetter) return `${r.toFixed(2)}×`
  return r >= 1 ? `${r.toFixed(2)}×` : `1/${fmt(1 / r)}`
}

/** The libraries' labels, as the run names them (bench/libs.js). */
function label(lib) {
  try {
    return require("./libs").LIBS[lib].label
  } catch {
    return lib
  }
}

/** Where and when: "2026-12-02, commit e2b9b99, <machine>, Node v20". */
function provenance(results) {
  const date = (results.date || (results.header || []).find((h) => h.startsWith("date: ")) || "").replace(/^date: /, "").slice(0, 10)
  const machine = ((results.header || []).find((h) => h.startsWith("machine: ")) || "").replace(/^machine: /, "")
  const node = ((results.header || []).find((h) => h.startsWith("node ")) || "").split(",")[0]
  const runs = results.runs.length
  return { date, commit: results.commit || "unknown commit", machine, node, runs, smoke: !!results.smoke, elapsed: results.elapsed_s }
}

/** The headline table of docs/benchmarks.md. */
function benchmarksBlock(results) {
  const p = provenance(results)
  const anchors = ANCHORS.filter((a) => results.runs.some((r) => r.lib === a))
  const better = (scenario, key, higherBetter) => {
    const xs = anchors.map((a) => med(results, scenario, a, key)).filter((x) => x != null)
    if (!xs.length) return null
    return higherBetter ? Math.max(...xs) : Math.min(...xs)
  }
  const scen = (name) => results.runs.some((r) => r.scenario === name)
  const rows = []
  const row = (title, scenario, key, unit, higherBetter) => {
    if (!scen(scenario)) return
    const o = med(results, scenario, "ours", key)
    const cells = anchors.map((a) => fmt(med(results, scenario, a, key)))
    rows.push([title, `${fmt(o)}${unit}`, ...cells, ratio(o, better(scenario, key, higherBetter), higherBetter)])
  }
  const n = (scenario) => {
    const r = results.runs.find((x) => x.scenario === scenario && x.raw && x.raw.sent)
    return r ? `${fmt(r.raw.sent / 1000)}k` : ""
  }
  row(`${n("burst")} burst: main-thread CPU per event`, "burst", "main_us_per_event", " µs")
  row(`${n("burst")} burst: process CPU per 10k delivered`, "burst", "proc_cpu_s_per_10k", " s")
  row(`${n("burst")} burst: event-loop delay p99`, "burst", "eld_p99_ms", " ms")
  row(`${n("burst")} burst: end to end`, "burst", "eps", " events/s", true)
  row(`${n("burst")} burst: peak RSS`, "burst", "rss_peak_mb", " MB")
  row(`flaky sink, ${n("flaky")}: end to end`, "flaky", "eps", " events/s", true)
  row(`flaky sink: flush call after the last \`track()\``, "flaky", "finish_ms", " ms")
  row(`outage, ${n("outage")}: lost`, "outage", "lost", "")
  row(`\`kill -9\` during an outage, then a restart: lost of ${n("crash")}`, "crash", "lost", "")
  const ours = results.runs.filter((r) => r.lib === "ours")
  const lost = ours.reduce((s, r) => s + (r.fig && r.fig.lost ? r.fig.lost : 0), 0)
  const failed = ours.filter((r) => r.error).length
  rows.push([`lost in any scenario (${ours.length} runs of ours${failed ? `, ${failed} failed` : ""})`, fmt(lost), ...anchors.map(() => ""), ""])
  const header = ["figure (medians)", label("ours"), ...anchors.map(label), "ours ÷ better anchor"]
  const lines = [
    `\`npm run bench${p.smoke ? " -- --smoke" : ""}\` on ${p.date} at commit ${p.commit}; ${p.machine}; ${p.node}; ${p.runs} runs` +
      (p.elapsed ? ` in ${fmt(p.elapsed)} s` : "") +
      (p.smoke ? " (a smoke run: small N, one repetition; not comparable with a full run)" : "") +
      ".",
    "",
    `| ${header.join(" | ")} |`,
    `|---|${header.slice(1).map(() => "---:").join("|")}|`,
    ...rows.map((r) => `| ${r.join(" | ")} |`),
  ]
  const spool = ["main_us_per_event", "proc_cpu_s_per_10k", "eld_p99_ms", "rss_peak_mb"].map((k) => [med(results, "burst", "ours", k), med(results, "burst", "ours-nospool", k)])
  if (spool.every(([a, b]) => a != null && b != null)) {
    lines.push(
      "",
      `The spool's cost in the same run (burst, "ours, spool off"): ${fmt(spool[0][1])} against ${fmt(spool[0][0])} µs main-thread CPU per event, ` +
        `${fmt(spool[1][1])} against ${fmt(spool[1][0])} s process CPU per 10k, event-loop p99 ${fmt(spool[2][1])} against ${fmt(spool[2][0])} ms, ` +
        `peak RSS ${fmt(spool[3][1])} against ${fmt(spool[3][0])} MB.`
    )
  }
  return lines.join("\n")
}

/** The three claims of README.md. */
function readmeBlock(results) {
  const p = provenance(results)
  const anchor = "@segment/analytics-node"
  const crash = results.runs.find((r) => r.scenario === "crash" && r.raw && r.raw.sent)
  const sent = crash ? crash.raw.sent : null
  const lostOf = (lib) => med(results, "crash", lib, "lost")
  const burst = (lib, k) => med(results, "burst", lib, k)
  return [
    `Why switch (figures from \`npm run bench${p.smoke ? " -- --smoke" : ""}\` on ${p.date}, commit ${p.commit}, ${p.machine}; ` +
      `method and every figure in [docs/benchmarks.md](docs/benchmarks.md)):`,
    "",
    `- **It never loses an accepted event.** A \`kill -9\` during a Segment outage,`,
    `  then a restart: ${fmt(lostOf("ours"))} of ${fmt(sent)} events lost, against ${ANCHORS.map((a) => fmt(lostOf(a))).join(" and ")} for ${label(ANCHORS[0])} and ${label(ANCHORS[1])}.`,
    `  Retries ride out a multi-minute outage; a shutdown flushes what is queued;`,
    `  whatever is dropped is counted and logged.`,
    `- **It costs the store's process little.** In a ${fmt((results.runs.find((r) => r.scenario === "burst" && r.raw && r.raw.sent) || { raw: { sent: 0 } }).raw.sent)}-event "Order Completed" burst:`,
    `  ${fmt(burst("ours", "main_us_per_event"))} µs of main-thread CPU per event against ${fmt(burst(anchor, "main_us_per_event"))} µs for`,
    `  \`${label(anchor)}\`, and an event-loop p99 of ${fmt(burst("ours", "eld_p99_ms"))} ms against ${fmt(burst(anchor, "eld_p99_ms"))} ms.`,
  ].join("\n")
}

/** The spools side by side in the burst, and the Redis spool's targets (docs/multi-instance.md). */
function spoolsBlock(results) {
  const p = provenance(results)
  const cols = [
    ["ours", "disk spool"],
    ["ours-redis", "Redis spool"],
    ["ours-nospool", "spool off"],
  ].filter(([lib]) => results.runs.some((r) => r.scenario === "burst" && r.lib === lib))
  if (!cols.some(([lib]) => lib === "ours-redis")) return "(the run had no Redis spool variant: Redis was not reachable, or `--libs` left it out)"
  const anchors = ANCHORS.filter((a) => results.runs.some((r) => r.scenario === "burst" && r.lib === a))
  const better = (key, higherBetter) => {
    const xs = anchors.map((a) => ({ a, v: med(results, "burst", a, key) })).filter((x) => x.v != null)
    if (!xs.length) return null
    return xs.sort((x, y) => (higherBetter ? y.v - x.v : x.v - y.v))[0]
  }
  const rows = [
    ["main-thread CPU per event (µs)", "main_us_per_event"],
    ["process CPU per 10k delivered (s)", "proc_cpu_s_per_10k"],
    ["event-loop delay p99 (ms)", "eld_p99_ms"],
    ["events/s end to end", "eps", true],
    ["peak RSS (MB)", "rss_peak_mb"],
    ["lost", "lost"],
  ].map(([title, key, higherBetter]) => {
    const b = better(key, higherBetter)
    return [title, ...cols.map(([lib]) => fmt(med(results, "burst", lib, key))), b ? `${fmt(b.v)} (${label(b.a)})` : "–"]
  })
  const header = ["burst, medians", ...cols.map(([, name]) => name), "better anchor"]
  const lines = [
    `\`npm run bench${p.smoke ? " -- --smoke" : ""}\` on ${p.date} at commit ${p.commit}; ${p.machine}; Redis on the same machine.`,
    "",
    `| ${header.join(" | ")} |`,
    `|---|${header.slice(1).map(() => "---:").join("|")}|`,
    ...rows.map((r) => `| ${r.join(" | ")} |`),
  ]
  const targets = results.targets_by_lib && results.targets_by_lib["ours-redis"]
  if (targets && targets.length) {
    lines.push("", "The Redis spool against the better anchor, same run:", "", "| target | figure | ratio | wanted | |", "|---|---|---|---|---|")
    lines.push(...targets.map((t) => `| ${t.join(" | ")} |`))
  }
  return lines.join("\n")
}

const TARGETS = [
  { file: "docs/benchmarks.md", open: `<!-- ${BEGIN} -->`, close: `<!-- ${END} -->`, body: benchmarksBlock },
  { file: "README.md", open: `<!-- ${BEGIN} -->`, close: `<!-- ${END} -->`, body: readmeBlock },
  { file: "docs/multi-instance.md", open: `<!-- ${BEGIN} -->`, close: `<!-- ${END} -->`, body: spoolsBlock },
]

/**
 * Replaces each target's block ({ file, open, close, body }) with body(results);
 * `root`: where the files are (tests use a copy); `print`: show, write nothing.
 */
function writeBlocks(targets, results, { root = ROOT, print = false } = {}) {
  const written = []
  for (const t of targets) {
    const full = path.join(root, t.file)
    const text = fs.readFileSync(full, "utf8")
    const a = text.indexOf(t.open)
    const b = text.indexOf(t.close)
    if (a < 0 || b < a) throw new Error(`${t.file}: the markers ${t.open} ... ${t.close} are missing`)
    const block = t.body(results)
    if (print) {
      console.log(`--- ${t.file}\n${block}\n`)
      continue
    }
    fs.writeFileSync(full, text.slice(0, a) + t.open + "\n" + block + "\n" + text.slice(b))
    written.push(t.file)
  }
  return written
}

/** The core bench's figures (README.md and docs/benchmarks.md) from a run of bench/run.js. */
const writeFigures = (results, opts) => writeBlocks(TARGETS, results, opts)

/** The commit measured, "-dirty" when the checkout has changes. */
function commitOf() {
  const git = (args) => require("node:child_process").spawnSync("git", args, { cwd: ROOT, encoding: "utf8" })
  const head = git(["rev-parse", "--short", "HEAD"])
  if (head.status !== 0) return "unknown commit"
  const dirty = git(["status", "--porcelain", "--untracked-files=no"]).stdout.trim() !== ""
  return head.stdout.trim() + (dirty ? "-dirty" : "")
}

module.exports = { writeFigures, writeBlocks, commitOf, benchmarksBlock, readmeBlock, spoolsBlock, TARGETS, median, fmt }

if (require.main === module) {
  const file = process.argv[2]
  if (!file) {
    console.error("usage: node bench/figures.js <results.json> [--print]")
    process.exit(2)
  }
  const results = JSON.parse(fs.readFileSync(file, "utf8"))
  const written = writeFigures(results, { print: process.argv.includes("--print") })
  for (const f of written) console.log(`figures: wrote ${f}`)
}
