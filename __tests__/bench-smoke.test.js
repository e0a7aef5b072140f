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

test("npm run bench -- --smoke completes and loses nothing of ours", { timeout: 180000 }, () => {
  const json = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "bench-smoke-")), "results.json")
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
