"use strict"
// The throwaway Medusa 2.x backend (2.21.2 unless E2E_V2_MEDUSA_VERSION names
// another: `npm run test:matrix`) of the v2 end-to-end tests
// (__tests__/e2e-v2/), `npm run demo:v2` and bench/medusa-v2.js.
//
//   const v2 = require("./e2e/v2/backend")
//   const tarball = await be.packPlugin()                 // e2e/backend.js: npm pack (main + platform package)
//   await v2.prepareBackend({ tarball })                  // cached install + plugin from the tarball
//   const backend = await v2.startBackend({ segmentOptions })
//   ... backend.url, backend.publishableKey, backend.events() ...
//   await backend.stop()
//
// The install lives outside the clone, in ~/.cache/medusa-plugin-segment-rs/
// medusa-v2-<hash of e2e/v2/package.json and the Node major> (or
// $E2E_V2_BACKEND_DIR), so a fresh clone (CI) reuses it; the plugin is re-packed
// and reinstalled from its tarball on every run. Each run gets a fresh
// PostgreSQL database (segv2e_run_*) cloned from a migrated + seeded template
// (segv2e_tmpl_*). The event bus is Medusa's Redis module on Redis DB 10.

const { spawn } = require("node:child_process")
const fs = require("node:fs")
const os = require("node:os")
const path = require("node:path")
const be = require("../backend")

const { ROOT, run, psql, sha, pidAlive, sleep, freePort } = be
const TEMPLATE_DIR = __dirname
const PROJECT_FILES = ["medusa-config.js", "tsconfig.json", "src"]
const REDIS_URL = process.env.E2E_V2_REDIS_URL || "redis://127.0.0.1:6379/10"
const PG = "postgres://postgres@127.0.0.1:5432"
// E2E_V2_DB_PREFIX (letters and digits, then one "_") keeps parallel checkouts' databases apart.
const DB_PREFIX = process.env.E2E_V2_DB_PREFIX || "segv2e_"

const say = (msg) => be.say(msg)
const MEDUSA_PACKAGES = ["@medusajs/cli", "@medusajs/framework", "@medusajs/medusa"]
const TEMPLATE_PACKAGE = JSON.parse(fs.readFileSync(path.join(TEMPLATE_DIR, "package.json"), "utf8"))
/** The Medusa version installed: e2e/v2/package.json's, or E2E_V2_MEDUSA_VERSION's (the matrix). */
const MEDUSA_VERSION = process.env.E2E_V2_MEDUSA_VERSION || TEMPLATE_PACKAGE.dependencies["@medusajs/medusa"]
/** What a store of that version has besides (create-medusa-app's starter of the time). */
const DEV_PINS = { "2.8.3": { "@swc/core": "1.5.7" } } // 2.8.3 asks for exactly that swc as a peer
/** e2e/v2/package.json, with the Medusa packages at MEDUSA_VERSION (unchanged bytes by default). */
function packageJson() {
  const text = fs.readFileSync(path.join(TEMPLATE_DIR, "package.json"))
  if (MEDUSA_VERSION === TEMPLATE_PACKAGE.dependencies["@medusajs/medusa"]) return text
  const pkg = JSON.parse(text)
  for (const name of MEDUSA_PACKAGES) pkg.dependencies[name] = MEDUSA_VERSION
  Object.assign(pkg.devDependencies, DEV_PINS[MEDUSA_VERSION])
  return JSON.stringify(pkg, null, 2) + "\n"
}
const installKey = () => sha(packageJson(), process.versions.node.split(".")[0]).slice(0, 12)
const CACHE_ROOT = path.join(process.env.XDG_CACHE_HOME || path.join(os.homedir(), ".cache"), "medusa-plugin-segment-rs")
const backendDir = () => process.env.E2E_V2_BACKEND_DIR || path.join(CACHE_ROOT, `medusa-v2-${installKey()}`)

function copyProjectFiles(dir) {
  for (const f of PROJECT_FILES) {
    fs.rmSync(path.join(dir, f), { recursive: true, force: true })
    fs.cpSync(path.join(TEMPLATE_DIR, f), path.join(dir, f), { recursive: true })
  }
}

/**
 * Installs Medusa (MEDUSA_VERSION) into the cache dir (once per package.json and Node
 * major; older installs are removed) and the plugin from `tarball` with a
 * plain `npm install`, as a store owner would.
 */
async function prepareBackend({ tarball, withPlugin = true, extraPackages = [] } = {}) {
  await be.ensurePostgres()
  const dir = backendDir()
  const stampFile = path.join(dir, ".e2e-install-stamp")
  const installed =
    fs.existsSync(stampFile) &&
    fs.readFileSync(stampFile, "utf8") === installKey() &&
    fs.existsSync(path.join(dir, "node_modules", "@medusajs", "medusa", "package.json"))
  if (!installed) {
    // (only for the default version: the matrix's other versions sit beside it)
    if (!process.env.E2E_V2_BACKEND_DIR && !process.env.E2E_V2_MEDUSA_VERSION && fs.existsSync(CACHE_ROOT)) {
      for (const old of fs.readdirSync(CACHE_ROOT)) {
        if (old.startsWith("medusa-v2-") && path.join(CACHE_ROOT, old) !== dir) fs.rmSync(path.join(CACHE_ROOT, old), { recursive: true, force: true })
      }
    }
    fs.mkdirSync(dir, { recursive: true })
    fs.rmSync(stampFile, { force: true })
    fs.writeFileSync(path.join(dir, "package.json"), packageJson())
    say(`installing Medusa ${MEDUSA_VERSION} into ${dir} (first run: a few minutes)`)
    const { ms } = await run("npm", ["install", "--prefer-offline", "--no-audit", "--no-fund"], { cwd: dir })
    fs.writeFileSync(stampFile, installKey())
    say(`Medusa ${MEDUSA_VERSION} installed in ${(ms / 1000).toFixed(1)} s`)
  }
  copyProjectFiles(dir)
  if (withPlugin) {
    if (!tarball) throw new Error("prepareBackend: tarball is required (see packPlugin() in e2e/backend.js)")
    // A plain install (no --legacy-peer-deps): the peer range must accept Medusa 2.x.
    // main package + this machine's platform package (packPlugin() returns both)
    // extraPackages: installed in the same command (a later `npm install` removes what it was not given)
    const { ms } = await run("npm", ["install", "--no-save", "--prefer-offline", "--no-audit", "--no-fund", ...extraPackages, ...[].concat(tarball)], { cwd: dir })
    say(`plugin installed from its tarball in ${(ms / 1000).toFixed(1)} s`)
  }
  return dir
}

function baseEnv(extra = {}) {
  return {
    MEDUSA_DISABLE_TELEMETRY: "true",
    DO_NOT_TRACK: "1",
    NODE_OPTIONS: `--require ${path.join(__dirname, "..", "loopback.js")}`,
    E2E_V2_MODE: "none",
    ...extra,
  }
}

function medusaCli(args, env, opts = {}) {
  const dir = backendDir()
  return run(process.execPath, [path.join(dir, "node_modules", "@medusajs", "cli", "cli.js"), ...args], { cwd: dir, env: baseEnv(env), ...opts })
}

const dbExists = (name) => psql(`SELECT 1 FROM pg_database WHERE datname = '${name}'`) === "1"
const databases = (prefix) => psql(`SELECT datname FROM pg_database WHERE datname LIKE '${prefix}%'`).split("\n").filter(Boolean)

/**
 * A migrated + seeded database to clone per run; built once per (install,
 * seed). The template is built with no Segment integration and no Redis
 * (E2E_V2_MODE=none): neither adds tables, so medusa-config is not in the key.
 */
async function templateDatabase() {
  const key = sha(installKey(), fs.readFileSync(path.join(TEMPLATE_DIR, "src", "scripts", "seed.js"))).slice(0, 12)
  const name = `${DB_PREFIX}tmpl_${key}`
  if (dbExists(name)) return name
  for (const old of databases(`${DB_PREFIX}tmpl_`)) {
    try {
      psql(`DROP DATABASE IF EXISTS "${old}"`)
    } catch {}
  }
  const building = `${name}_build_${process.pid}`
  psql(`DROP DATABASE IF EXISTS "${building}"`)
  psql(`CREATE DATABASE "${building}"`)
  say("migrating and seeding the v2 template database (once per install/seed change)")
  const env = { DATABASE_URL: `${PG}/${building}` }
  const t0 = Date.now()
  try {
    await medusaCli(["db:migrate"], env, { timeoutMs: 10 * 60 * 1000 })
    await medusaCli(["exec", "./src/scripts/seed.js"], env, { timeoutMs: 5 * 60 * 1000 })
  } catch (err) {
    psql(`DROP DATABASE IF EXISTS "${building}" WITH (FORCE)`)
    throw err
  }
  try {
    psql(`ALTER DATABASE "${building}" RENAME TO "${name}"`)
  } catch (err) {
    psql(`DROP DATABASE IF EXISTS "${building}"`)
    if (!dbExists(name)) throw err
  }
  say(`v2 template database ready in ${((Date.now() - t0) / 1000).toFixed(1)} s`)
  return name
}

/**
 * The template plus an order history of `orders` orders over `months` months
 * (src/scripts/seed-history.js, through Medusa's workflows); built once per
 * (template, history script, size) and cached like the template.
 */
async function historyDatabase(orders, months = 6) {
  const base = await templateDatabase()
  const key = sha(base, fs.readFileSync(path.join(TEMPLATE_DIR, "src", "scripts", "seed-history.js")), `${orders}/${months}`).slice(0, 10)
  const name = `${DB_PREFIX}hist${orders}_${key}`
  if (dbExists(name)) return name
  for (const old of databases(`${DB_PREFIX}hist${orders}_`)) {
    try {
      psql(`DROP DATABASE IF EXISTS "${old}"`)
    } catch {}
  }
  const building = `${name}_build_${process.pid}`
  psql(`DROP DATABASE IF EXISTS "${building}"`)
  psql(`CREATE DATABASE "${building}" TEMPLATE "${base}"`)
  say(`seeding an order history of ${orders} orders (once per size/script change)`)
  const t0 = Date.now()
  try {
    await medusaCli(["exec", "./src/scripts/seed-history.js", String(orders), String(months)], { DATABASE_URL: `${PG}/${building}` }, { timeoutMs: 60 * 60 * 1000 })
  } catch (err) {
    psql(`DROP DATABASE IF EXISTS "${building}" WITH (FORCE)`)
    throw err
  }
  psql(`ALTER DATABASE "${building}" RENAME TO "${name}"`)
  say(`history of ${orders} orders seeded in ${((Date.now() - t0) / 1000).toFixed(1)} s`)
  return name
}

/**
 * The admin dashboard with this package's extension, built by `medusa build
 * --admin-only` (needs @medusajs/admin-sdk: prepareBackend({ extraPackages }))
 * and cached per install + extension source; linked as <backend>/public/admin,
 * where `medusa start` serves it. Returns { cached, ms }.
 */
async function buildAdmin() {
  const dir = backendDir()
  const ext = fs.readFileSync(path.join(dir, "node_modules", "medusa-plugin-segment-rs", ".medusa", "server", "src", "admin", "index.mjs"))
  const key = sha(installKey(), ext).slice(0, 12)
  const builds = path.join(dir, ".admin-builds")
  const target = path.join(builds, key)
  const cached = fs.existsSync(path.join(target, "index.html"))
  const t0 = Date.now()
  if (!cached) {
    fs.rmSync(builds, { recursive: true, force: true })
    fs.rmSync(path.join(dir, ".medusa", "admin"), { recursive: true, force: true })
    say("building the Medusa admin with the plugin's extension (once per install/extension change)")
    await medusaCli(["build", "--admin-only"], { E2E_V2_MODE: "plugin", E2E_V2_ADMIN: "1" }, { timeoutMs: 20 * 60 * 1000 })
    fs.mkdirSync(builds, { recursive: true })
    fs.renameSync(path.join(dir, ".medusa", "admin"), target)
    say(`admin built in ${((Date.now() - t0) / 1000).toFixed(1)} s`)
  }
  fs.mkdirSync(path.join(dir, "public"), { recursive: true })
  fs.rmSync(path.join(dir, "public", "admin"), { recursive: true, force: true })
  fs.symlinkSync(target, path.join(dir, "public", "admin"))
  return { cached, ms: Date.now() - t0 }
}

/**
 * The template migrated with this package too (its module `segment`'s
 * tables), built once per template and set of the installed package's
 * migration files.
 */
async function pluginTemplateDatabase(base, env) {
  const modules = path.join(backendDir(), "node_modules", "medusa-plugin-segment-rs", ".medusa", "server", "src", "modules")
  const files = []
  const walk = (d) => {
    for (const f of fs.existsSync(d) ? fs.readdirSync(d).sort() : []) {
      const p = path.join(d, f)
      if (fs.statSync(p).isDirectory()) walk(p)
      else if (/[\\/]migrations[\\/]/.test(p)) files.push(path.relative(modules, p), fs.readFileSync(p))
    }
  }
  walk(modules)
  const name = `${DB_PREFIX}tmplp_${sha(base, ...files).slice(0, 12)}`
  if (dbExists(name)) return name
  for (const old of databases(`${DB_PREFIX}tmplp_`)) {
    try {
      psql(`DROP DATABASE IF EXISTS "${old}"`)
    } catch {}
  }
  const building = `${name}_build_${process.pid}`
  psql(`DROP DATABASE IF EXISTS "${building}"`)
  psql(`CREATE DATABASE "${building}" TEMPLATE "${base}"`)
  const t0 = Date.now()
  try {
    await medusaCli(["db:migrate", "--skip-scripts"], { DATABASE_URL: `${PG}/${building}`, E2E_V2_MODE: "plugin", ...env }, { timeoutMs: 5 * 60 * 1000 })
    psql(`ALTER DATABASE "${building}" RENAME TO "${name}"`)
  } catch (err) {
    psql(`DROP DATABASE IF EXISTS "${building}" WITH (FORCE)`)
    if (!dbExists(name)) throw err
  }
  say(`plugin migrations run into a template database in ${((Date.now() - t0) / 1000).toFixed(1)} s (once per migration change)`)
  return name
}

/**
 * A fresh database for one run (a copy of `from`, else of the template);
 * databases of earlier runs whose process is gone are dropped. migrate: with
 * this package's tables (`medusa db:migrate` with the plugin; the base
 * template has none).
 */
async function createRunDatabase({ from, migrate = false, env = {}, history } = {}) {
  // history: with an order history of that many orders (historyDatabase)
  let template = from || (history ? await historyDatabase(history) : await templateDatabase())
  if (migrate && !from) template = await pluginTemplateDatabase(template, env)
  for (const old of databases(`${DB_PREFIX}run_`)) {
    const pid = Number(old.split("_")[2])
    if ((pid && pid !== process.pid && pidAlive(pid)) || old === from) continue
    try {
      psql(`DROP DATABASE IF EXISTS "${old}"`)
    } catch {}
  }
  const name = `${DB_PREFIX}run_${process.pid}_${Date.now().toString(36)}`
  psql(`CREATE DATABASE "${name}" TEMPLATE "${template}"`)
  return name
}

/** Deletes the run's bullmq keys from Redis DB 10. */
function dropQueue(queueName) {
  try {
    const { execFileSync } = require("node:child_process")
    const keys = execFileSync("redis-cli", ["-u", REDIS_URL, "--scan", "--pattern", `*${queueName}*`], { encoding: "utf8" })
      .split("\n")
      .filter(Boolean)
    if (keys.length) execFileSync("redis-cli", ["-u", REDIS_URL, "del", ...keys], { stdio: "ignore" })
  } catch {}
}

/**
 * Starts `medusa start` on 127.0.0.1 with a fresh database.
 * mode: "plugin" (this package: plugin + provider), "docs" (the docs' example
 * provider + workflow, bench only) or "none".
 * eventBus: "redis" (Medusa's event-bus-redis on DB 10) or "local".
 * migrate: the database has this package's tables (the base template has
 * none; see pluginTemplateDatabase).
 * history: the database starts with an order history of that many orders (historyDatabase).
 * workerModes: one Medusa process per entry, each with that workerMode; the
 * first serves the API. ["shared", "worker"] (Redis bus): two processes
 * consuming the same events.
 * fromDatabase / keepDatabase: start from a copy of a kept run's database / keep this run's.
 */
async function startBackend({ mode = "plugin", eventBus = "redis", segmentOptions = {}, providerOptions, env = {}, logDir, database, migrate = false, workerModes = ["shared"], fromDatabase, keepDatabase = false, history } = {}) {
  if (eventBus === "redis") await be.ensureRedis()
  if (workerModes.length > 1 && eventBus !== "redis") throw new Error("startBackend: several processes need eventBus \"redis\"")
  // database: reuse an earlier run's database (a restart; stop it with { keepDb: true }).
  // fromDatabase: a stopped run's database (keepDatabase) to start from a copy of, e.g. the bench's orders.
  // The plugin template is migrated with neutral options (a test's bad options must fail its start, not the template).
  const dbName = database || (await createRunDatabase({ from: fromDatabase, migrate, history, env: { E2E_SEGMENT_OPTIONS: "{}" } }))
  const runId = dbName.slice(`${DB_PREFIX}run_`.length) + (database ? `-r${Date.now().toString(36)}` : "")
  if (!logDir) {
    const logsRoot = path.join(ROOT, ".tmp", "e2e-v2-logs")
    if (fs.existsSync(logsRoot)) {
      const old = fs
        .readdirSync(logsRoot)
        .map((d) => ({ d, t: fs.statSync(path.join(logsRoot, d)).mtimeMs }))
        .sort((a, b) => b.t - a.t)
      for (const { d } of old.slice(19)) fs.rmSync(path.join(logsRoot, d), { recursive: true, force: true })
    }
    logDir = path.join(logsRoot, runId)
  }
  fs.mkdirSync(logDir, { recursive: true })
  const eventLog = path.join(logDir, "events.jsonl")
  fs.writeFileSync(eventLog, "")
  const queueName = `segv2e-events-${runId}`
  const runEnv = {
    DATABASE_URL: `${PG}/${dbName}`,
    E2E_V2_MODE: mode,
    E2E_EVENT_BUS: eventBus,
    E2E_REDIS_URL: REDIS_URL,
    E2E_QUEUE_NAME: queueName,
    E2E_SEGMENT_OPTIONS: JSON.stringify(segmentOptions),
    ...(providerOptions ? { E2E_PROVIDER_OPTIONS: JSON.stringify(providerOptions) } : {}),
    E2E_EVENT_LOG: eventLog,
  }
  const cleanup = () => {
    if (!process.env.E2E_KEEP_DB && !keepDatabase) {
      try {
        psql(`DROP DATABASE IF EXISTS "${dbName}" WITH (FORCE)`)
      } catch {}
    }
    if (eventBus === "redis") dropQueue(queueName)
  }
  const dir = backendDir()
  const started = Date.now()
  // E2E_V2_NODE_ARGS: extra node flags for the Medusa process (e.g. "--cpu-prof --cpu-prof-dir=DIR", not allowed in NODE_OPTIONS)
  const nodeArgs = (process.env.E2E_V2_NODE_ARGS || "").split(" ").filter(Boolean)
  /** One `medusa start` process; logs to server.log (the first) or <workerMode>-<i>.log. */
  const spawnMedusa = (port, workerMode, i) => {
    const logFile = path.join(logDir, i === 0 ? "server.log" : `${workerMode}-${i}.log`)
    const out = fs.openSync(logFile, "a")
    const child = spawn(process.execPath, [...nodeArgs, path.join(dir, "node_modules", "@medusajs", "cli", "cli.js"), "start", "-p", String(port), "-H", "127.0.0.1"], {
      cwd: dir,
      env: { ...process.env, ...baseEnv({ ...runEnv, E2E_WORKER_MODE: workerMode, ...env }) },
      stdio: ["ignore", out, out],
    })
    fs.closeSync(out)
    const p = { child, port, workerMode, logFile, exited: null }
    p.exitPromise = new Promise((resolve) =>
      child.on("exit", (code, signal) => {
        p.exited = { code, signal, at: Date.now() }
        resolve(p.exited)
      })
    )
    return p
  }
  const procs = []
  for (const [i, workerMode] of workerModes.entries()) procs.push(spawnMedusa(await freePort(), workerMode, i))
  const [main] = procs
  const url = `http://127.0.0.1:${main.port}`
  const logs = () => fs.readFileSync(main.logFile, "utf8")
  const until = Date.now() + 240000
  const pending = new Set(procs)
  while (pending.size) {
    const dead = procs.find((p) => p.exited)
    if (dead || Date.now() > until) {
      for (const p of procs) if (!p.exited) p.child.kill("SIGKILL")
      await Promise.all(procs.map((p) => p.exitPromise))
      cleanup()
      const who = dead || [...pending][0]
      throw new Error(
        `medusa 2.x (${who.workerMode}) did not become ready (${dead ? `exited ${JSON.stringify(dead.exited)}` : "timeout"}):\n` +
          fs.readFileSync(who.logFile, "utf8").split("\n").slice(-40).join("\n")
      )
    }
    for (const p of [...pending]) if (await fetch(`http://127.0.0.1:${p.port}/health`).then((r) => r.ok, () => false)) pending.delete(p)
    if (pending.size) await sleep(250)
  }
  const publishableKey = psql(`SELECT token FROM api_key WHERE type = 'publishable' LIMIT 1`, dbName)
  say(`medusa ${MEDUSA_VERSION} (${mode}, event bus ${eventBus}, ${workerModes.join(" + ")}) ready at ${url} in ${((Date.now() - started) / 1000).toFixed(1)} s; logs in ${path.relative(ROOT, logDir)}`)

  return {
    url,
    dbName,
    logDir,
    pid: main.child.pid,
    pids: procs.map((p) => p.child.pid),
    publishableKey,
    /** Events Medusa emitted, as the backend's own logging subscriber saw them. */
    events() {
      return fs
        .readFileSync(eventLog, "utf8")
        .split("\n")
        .filter(Boolean)
        .map((l) => JSON.parse(l))
    },
    logs,
    /**
     * `medusa exec <script> ...args` on this backend's database and options,
     * as a child process (output appended to <logDir>/exec.log): { child, done }.
     */
    exec(script, args = [], extraEnv = {}) {
      const execLog = fs.openSync(path.join(logDir, "exec.log"), "a")
      const c = spawn(process.execPath, [path.join(dir, "node_modules", "@medusajs", "cli", "cli.js"), "exec", script, ...args], {
        cwd: dir,
        env: { ...process.env, ...baseEnv({ ...runEnv, ...env, ...extraEnv }) },
        stdio: ["ignore", execLog, execLog],
      })
      fs.closeSync(execLog)
      const done = new Promise((resolve) => c.on("exit", (code, signal) => resolve({ code, signal })))
      return { child: c, done }
    },
    /** A `medusa` CLI command (e.g. ["user", "-e", ..., "-p", ...]) on this backend's database. */
    cli: (args) => medusaCli(args, { ...runEnv, ...env }),
    execLog: () => (fs.existsSync(path.join(logDir, "exec.log")) ? fs.readFileSync(path.join(logDir, "exec.log"), "utf8") : ""),
    get exited() {
      return main.exited
    },
    /** The processes after the first, e.g. the worker of ["server", "worker"] ({ child, exited, exitPromise, logFile }). */
    others: procs.slice(1),
    /**
     * SIGTERM (Medusa's graceful shutdown: HTTP server, then the modules'
     * shutdown hooks), SIGKILL after graceMs; resolves { code, signal, ms }
     * of the first process. The API process first: the others drain what it enqueued.
     */
    async stop({ graceMs = 30000, keepDb = false } = {}) {
      const t0 = Date.now()
      for (const p of procs) {
        if (p.exited) continue
        p.child.kill("SIGTERM")
        const t = setTimeout(() => p.child.kill("SIGKILL"), graceMs)
        await p.exitPromise
        clearTimeout(t)
      }
      if (keepDb) {
        if (eventBus === "redis") dropQueue(queueName)
      } else cleanup()
      return { code: main.exited.code, signal: main.exited.signal, ms: main.exited.at - t0 }
    },
  }
}

module.exports = { prepareBackend, startBackend, historyDatabase, buildAdmin, backendDir, REDIS_URL, PG, MEDUSA_VERSION, DB_PREFIX }
