#!/usr/bin/env node
"use strict"
// `npm run test:matrix [-- <version>...]`: the end-to-end tests against every
// Medusa version the package claims, one after the other:
//   2.x (__tests__/e2e-v2/): 2.8.3 (the peer range's floor), 2.14.2, 2.21.2
//   1.x (__tests__/e2e/):    1.18.0 (utils and types pinned, see PINS in
//                            e2e/backend.js; local event bus only), 1.20.8
// Each version gets its own install (MATRIX_DIR/<major>-<version>, default
// ~/.cache/medusa-plugin-segment-rs/matrix; a few minutes the first time,
// reused after) and its own database prefix, so it never touches the default
// e2e install or another checkout's databases. Prints one line per version.
//
//   MATRIX_DIR=/path        where the installs live
//   MATRIX_DB_PREFIX=segmx  database name prefix (letters/digits), + v<version>_
//   E2E_BUSES=local         v1: one event bus instead of both (faster)

const { spawn } = require("node:child_process")
const os = require("node:os")
const path = require("node:path")

const ROOT = path.join(__dirname, "..")
const MATRIX = [
  { major: 2, version: "2.8.3" },
  { major: 2, version: "2.14.2" },
  { major: 2, version: "2.21.2" },
  // The v1 e2e's Redis run is a server process plus a worker process
  // (worker_mode), which Medusa has only since 1.20: 1.18.0 runs on the
  // local event bus.
  { major: 1, version: "1.18.0", env: { E2E_BUSES: "local" } },
  { major: 1, version: "1.20.8" },
]
const DIR = process.env.MATRIX_DIR || path.join(process.env.XDG_CACHE_HOME || path.join(os.homedir(), ".cache"), "medusa-plugin-segment-rs", "matrix")
const PREFIX = (process.env.MATRIX_DB_PREFIX || "segmx").replace(/[^a-z0-9]/gi, "").toLowerCase()

function envFor({ major, version, env = {} }) {
  const prefix = `${PREFIX}v${version.replace(/\./g, "")}_`
  // No dot in the directory name: MikroORM 6.4 (Medusa 2.8.3) takes a working
  // directory ending in ".3" for a file and then cannot find its migrator.
  const dir = path.join(DIR, `v${major}-${version.replace(/\./g, "_")}`)
  if (major === 2) return { E2E_V2_MEDUSA_VERSION: version, E2E_V2_BACKEND_DIR: dir, E2E_V2_DB_PREFIX: prefix }
  return { E2E_MEDUSA_VERSION: version, E2E_BACKEND_DIR: dir, E2E_DB_PREFIX: prefix, ...env }
}

function runOne(entry) {
  const dir = entry.major === 2 ? "__tests__/e2e-v2/" : "__tests__/e2e/"
  const t0 = Date.now()
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ["--test", "--test-reporter=spec", dir], {
      cwd: ROOT,
      env: { ...process.env, ...envFor(entry) },
      stdio: "inherit",
    })
    child.on("exit", (code, signal) => resolve({ ...entry, ok: code === 0, code, signal, ms: Date.now() - t0 }))
  })
}

async function main() {
  const wanted = process.argv.slice(2)
  for (const w of wanted) {
    if (!MATRIX.some((e) => e.version === w)) {
      console.error(`test:matrix: unknown version ${w}; the matrix: ${MATRIX.map((e) => e.version).join(", ")}`)
      process.exit(2)
    }
  }
  const entries = MATRIX.filter((e) => !wanted.length || wanted.includes(e.version))
  const t0 = Date.now()
  const results = []
  for (const e of entries) {
    console.log(`\n# test:matrix: Medusa ${e.version} (${e.major === 2 ? "__tests__/e2e-v2" : "__tests__/e2e"}), install in ${envFor(e)[e.major === 2 ? "E2E_V2_BACKEND_DIR" : "E2E_BACKEND_DIR"]}`)
    results.push(await runOne(e))
  }
  console.log("\n# test:matrix results")
  console.log("# medusa    result  seconds")
  for (const r of results) {
    console.log(`# ${r.version.padEnd(9)} ${(r.ok ? "pass" : "FAIL").padEnd(7)} ${(r.ms / 1000).toFixed(0).padStart(7)}`)
  }
  console.log(`# total ${((Date.now() - t0) / 1000).toFixed(0)} s`)
  process.exit(results.every((r) => r.ok) ? 0 : 1)
}

main()
