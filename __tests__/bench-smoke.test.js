"use strict"
// CI proof that `npm run bench` still runs: the smoke run (small N, all
// scenarios, all libraries) completes and ours loses nothing. No timing
// assertions: figures on a shared CI machine mean nothing.

const test = require("node:test")
const assert = require("node:assert")
const { spawnSync } = require("node:child_process")
const fs = require("node:fs")
const os = require("node:os")
const path = require("node:path")

const ROOT = path.join(__dirname, "..")

const json = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "bench-smoke-")), "results.json")
const DOCS = ["README.md", "docs/benchmarks.md", "docs/multi-instance.md"]
const docsBefore = DOCS.map((f) => fs.readFileSync(path.join(ROOT, f), "utf8"))

test("npm run bench -- --smoke completes and loses nothing of ours", { timeout: 180000 }, () => {
  const r = spawnSync(process.execPath, [path.join(ROOT, "bench", "run.js"), "--smoke", "--json", json], {
    cwd: ROOT,
    encoding: "utf8",
    timeout: 170000,
    env: { ...process.env, BENCH_SMOKE: "1" },
  })
  assert.strictEqual(r.status, 0, `bench exited with ${r.status}\n${r.stdout}\n${r.stderr}`)
  assert.match(r.stdout, /### 3k burst/)
  const results = JSON.parse(fs.readFileSync(json, "utf8"))
  assert.deepStrictEqual(results.skipped, {}, "every library ran")
  const ours = results.runs.filter((x) => x.lib === "ours")
  assert.strictEqual(ours.length, 6, "one run of ours per scenario (the crash scenario included)")
  for (const run of ours) {
    assert.ok(!run.error, `${run.scenario}: ${run.error}`)
    assert.strictEqual(run.fig.lost, 0, `${run.scenario}: ours lost ${run.fig.lost}`)
  }
  for (const run of results.runs) assert.ok(!run.error, `${run.lib} ${run.scenario}: ${run.error}`)
})

test("the docs' figures are written from the run's JSON (into a copy of the docs; a smoke run leaves the real ones alone)", () => {
  assert.ok(fs.existsSync(json), "needs the smoke run's JSON")
  DOCS.forEach((f, i) => assert.strictEqual(fs.readFileSync(path.join(ROOT, f), "utf8"), docsBefore[i], `a smoke run does not rewrite ${f}`))
  const results = JSON.parse(fs.readFileSync(json, "utf8"))
  const copy = fs.mkdtempSync(path.join(os.tmpdir(), "bench-figures-"))
  fs.mkdirSync(path.join(copy, "docs"))
  for (const f of DOCS) fs.copyFileSync(path.join(ROOT, f), path.join(copy, f))
  const { writeFigures } = require("../bench/figures")
  assert.deepStrictEqual(writeFigures(results, { root: copy }).sort(), DOCS.slice().sort())
  const block = (f) => {
    const t = fs.readFileSync(path.join(copy, f), "utf8")
    return t.slice(t.indexOf("<!-- BENCH FIGURES"), t.indexOf("<!-- END BENCH FIGURES"))
  }
  const median = (xs) => xs.sort((a, b) => a - b)[xs.length >> 1] // one repetition in a smoke run
  const fig = (scenario, lib, key) => median(results.runs.filter((r) => r.scenario === scenario && r.lib === lib).map((r) => r.fig[key]))
  const bench = block("docs/benchmarks.md")
  assert.match(bench, new RegExp(`on ${results.date.slice(0, 10)} at commit ${results.commit.replace(/[-]/g, "\\-")};`))
  assert.match(bench, /a smoke run/)
  const row = (title) => bench.split("\n").find((l) => l.startsWith(`| ${title}`))
  const burstRow = row("3k burst: main-thread CPU per event")
  assert.ok(burstRow, bench)
  const us = fig("burst", "ours", "main_us_per_event")
  assert.match(burstRow, new RegExp(`\\| ${us >= 10 ? us.toFixed(1) : us.toFixed(2)} µs \\|`), "ours' figure from the JSON")
  const crashRow = row("`kill -9` during an outage")
  assert.match(crashRow, new RegExp(`\\| ${fig("crash", "ours", "lost")} \\| ${fig("crash", "analytics-node", "lost").toLocaleString("en-US")} \\|`))
  const readme = block("README.md")
  assert.match(readme, new RegExp(`then a restart: ${fig("crash", "ours", "lost")} of 3,000 events lost`))
  const spools = block("docs/multi-instance.md")
  if (results.runs.some((r) => r.lib === "ours-redis")) {
    const redisRow = spools.split("\n").find((l) => l.startsWith("| main-thread CPU per event"))
    const cells = redisRow.split("|").map((c) => c.trim()) // "", title, disk spool, Redis spool, spool off, anchor
    const { fmt } = require("../bench/figures")
    assert.strictEqual(cells[3], fmt(fig("burst", "ours-redis", "main_us_per_event")), "the Redis spool's column from the JSON")
    assert.match(spools, /\| nothing lost, any scenario \|/, "the Redis spool's targets")
  } else assert.match(spools, /no Redis spool variant/)
  assert.doesNotMatch(readme + bench + spools, /undefined|NaN/)
  fs.rmSync(copy, { recursive: true, force: true })
})
