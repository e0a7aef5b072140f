"use strict"
// The throwaway Medusa 1.x backend (1.20.8 unless E2E_MEDUSA_VERSION names
// another: `npm run test:matrix`) used by the end-to-end tests
// (__tests__/e2e/) and by `npm run demo`. Written once, used by both.
//
//   const be = require("./e2e/backend")
//   const tarball = await be.packPlugin()          // npm pack (runs `prepare`): [main, platform]
//   await be.prepareBackend({ tarball })           // cached install + plugin from the tarball
//   const backend = await be.startBackend({ eventBus: "local", segmentOptions })
//   ... backend.url (http://127.0.0.1:PORT), backend.events() ...
//   await backend.stop()
//
// The backend lives in .tmp/medusa-backend (gitignored). Its dependencies are
// installed once and reused while e2e/backend/package.json is unchanged; the
// plugin is re-packed and reinstalled from its tarball on every run. Each run
// gets a fresh PostgreSQL database cloned from a migrated + seeded template.

const { spawn, execFileSync } = require("node:child_process")
const crypto = require("node:crypto")
const fs = require("node:fs")
const net = require("node:net")
const path = require("node:path")

const ROOT = path.resolve(__dirname, "..")
const TEMPLATE_DIR = path.join(__dirname, "backend")
const BACKEND_DIR = process.env.E2E_BACKEND_DIR || path.join(ROOT, ".tmp", "medusa-backend")
const PACK_DIR = path.join(ROOT, ".tmp", "pack")
const PG = { host: "127.0.0.1", port: 5432, user: "postgres" }
const REDIS_URL = process.env.E2E_REDIS_URL || "redis://127.0.0.1:6379"
// E2E_DB_PREFIX (letters, digits and "_", ending in "_") keeps parallel checkouts' databases apart.
const DB_PREFIX = process.env.E2E_DB_PREFIX || "medusa_e2e_"
const TEMPLATE_PACKAGE = JSON.parse(fs.readFileSync(path.join(TEMPLATE_DIR, "package.json"), "utf8"))
/** The Medusa version installed: e2e/backend/package.json's, or E2E_MEDUSA_VERSION's (the matrix). */
const MEDUSA_VERSION = process.env.E2E_MEDUSA_VERSION || TEMPLATE_PACKAGE.dependencies["@medusajs/medusa"]
/**
 * What a store on that version needs besides. Medusa 1.18.0 today installs
 * broken in two ways, with or without this plugin:
 *  - its loaders call utils.SearchUtils.isSearchService, which @medusajs/utils
 *    dropped after 1.11.2, and it asks for ^1.11.0 (npm picks 1.11.11):
 *    pinned with an npm override;
 *  - it requires @medusajs/types without depending on it (a devDependency),
 *    and its medusa-test-utils (^1.1.40, now 1.1.45) peer-depends on
 *    @medusajs/medusa >1.19, so npm installs a 2.x Medusa beside it whose
 *    @medusajs/types 2.x lands at the top, where 1.18.0 reads the missing
 *    MODULE_RESOURCE_TYPE: the store depends on @medusajs/types 1.11 itself.
 */
const PINS = {
  "1.18.0": { overrides: { "@medusajs/utils": "1.11.2" }, dependencies: { "@medusajs/types": "^1.11.7" } },
}
/** e2e/backend/package.json with @medusajs/medusa at MEDUSA_VERSION (unchanged bytes by default). */
function packageJson() {
  const text = fs.readFileSync(path.join(TEMPLATE_DIR, "package.json"))
  if (MEDUSA_VERSION === TEMPLATE_PACKAGE.dependencies["@medusajs/medusa"]) return text
  const pkg = JSON.parse(text)
  pkg.dependencies["@medusajs/medusa"] = MEDUSA_VERSION
  const pins = PINS[MEDUSA_VERSION] || {}
  Object.assign(pkg.dependencies, pins.dependencies)
  if (pins.overrides) pkg.overrides = pins.overrides
  return JSON.stringify(pkg, null, 2) + "\n"
}
const LOGGED_EVENTS = [
  "order.placed",
  "order.shipment_created",
  "order.canceled",
  "order.return_requested",
  "order.items_returned",
  "order.return_action_required",
  "claim.created",
  "swap.created",
  "swap.payment_completed",
  "swap.shipment_created",
  "customer.created",
]

let say = (msg) => process.stderr.write(`[e2e] ${msg}\n`)
function setLogger(fn) {
  say = fn
}

function sha(...parts) {
  const h = crypto.createHash("sha256")
  for (const p of parts) h.update(p)
  return h.digest("hex")
}

/** Runs a command; resolves { stdout, stderr, ms }; rejects with the output tail on failure. */
function run(cmd, args, { cwd = ROOT, env = {}, timeoutMs = 20 * 60 * 1000 } = {}) {
  const started = Date.now()
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd, env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "pipe"] })
    let stdout = ""
    let stderr = ""
    child.stdout.on("data", (d) => (stdout += d))
    child.stderr.on("data", (d) => (stderr += d))
    const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs)
    child.on("error", reject)
    child.on("close", (code) => {
      clearTimeout(timer)
      const ms = Date.now() - started
      if (code === 0) return resolve({ stdout, stderr, ms })
      const tail = (stdout + "\n" + stderr).split("\n").slice(-40).join("\n")
      reject(new Error(`${cmd} ${args.join(" ")} exited with ${code} after ${ms} ms:\n${tail}`))
    })
  })
}

function psql(sql, db = "postgres") {
  return execFileSync(
    "psql",
    ["-h", PG.host, "-p", String(PG.port), "-U", PG.user, "-d", db, "-v", "ON_ERROR_STOP=1", "-tAc", sql],
    { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] }
  ).trim()
}

function pgReady() {
  try {
    execFileSync("pg_isready", ["-q", "-h", PG.host, "-p", String(PG.port)], { stdio: "ignore" })
    return true
  } catch {
    return false
  }
}

/** Starts the local PostgreSQL cluster when it is not running (Debian's pg_ctlcluster). */
async function ensurePostgres() {
  if (pgReady()) return
  const versions = fs.existsSync("/etc/postgresql") ? fs.readdirSync("/etc/postgresql") : []
  if (!versions.length) throw new Error("PostgreSQL is not running on 127.0.0.1:5432 and no cluster was found in /etc/postgresql")
  say(`starting PostgreSQL ${versions[0]}`)
  execFileSync("pg_ctlcluster", ["--skip-systemctl-redirect", versions[0], "main", "start"], { stdio: "inherit" })
  for (let i = 0; i < 60 && !pgReady(); i++) await sleep(500)
  if (!pgReady()) throw new Error("PostgreSQL did not become ready on 127.0.0.1:5432")
}

/** Starts a local Redis when none answers on 127.0.0.1:6379. */
async function ensureRedis() {
  const ping = () => {
    try {
      return execFileSync("redis-cli", ["-u", REDIS_URL, "ping"], { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] }).trim() === "PONG"
    } catch {
      return false
    }
  }
  if (ping()) return
  say("starting redis-server on 127.0.0.1:6379")
  execFileSync("redis-server", ["--daemonize", "yes", "--bind", "127.0.0.1", "--port", "6379", "--save", "", "--appendonly", "no"], { stdio: "inherit" })
  for (let i = 0; i < 40 && !ping(); i++) await sleep(250)
  if (!ping()) throw new Error("Redis did not become ready on 127.0.0.1:6379")
}

/**
 * `npm pack` of the plugin as users get it (runs `prepare`, which builds the
 * release addon), plus this machine's platform package holding that addon
 * (the main package ships no binary). Returns both tarballs, to install together.
 */
async function packPlugin() {
  fs.mkdirSync(PACK_DIR, { recursive: true })
  for (const f of fs.readdirSync(PACK_DIR)) if (f.endsWith(".tgz")) fs.rmSync(path.join(PACK_DIR, f))
  const { stdout, ms } = await run("npm", ["pack", "--pack-destination", PACK_DIR, "--json"], { cwd: ROOT })
  const info = JSON.parse(stdout.slice(stdout.indexOf("[")))
  const tarball = path.join(PACK_DIR, info[0].filename)
  say(`packed ${path.relative(ROOT, tarball)} (${info[0].entryCount} files, ${info[0].size} bytes) in ${ms} ms`)
  const { packPlatform, hostPlatform } = require("../scripts/stage-packages")
  const host = hostPlatform()
  const platform = packPlatform(host, PACK_DIR, path.join(ROOT, `segment.${host}.node`))
  if (!platform.hasBinary) throw new Error(`packPlugin: no segment.${host}.node after npm pack (prepare runs npm run build)`)
  fs.rmSync(path.join(PACK_DIR, "staging"), { recursive: true, force: true })
  return [tarball, platform.tarball]
}

function writeSubscriberLoggers(dir) {
  // Test-only subscribers of the backend itself (project `dist/subscribers`):
  // each appends the events Medusa emits to $E2E_EVENT_LOG, so a test can tell
  // "Medusa never emitted it" from "the plugin did not send it". One file per
  // event, because on event-bus-local a handler is not told the event name.
  const subs = path.join(dir, "dist", "subscribers")
  fs.rmSync(subs, { recursive: true, force: true })
  fs.mkdirSync(subs, { recursive: true })
  fs.writeFileSync(path.join(subs, "customer.js"), CUSTOM_TRACKING_SUBSCRIBER)
  for (const event of LOGGED_EVENTS) {
    const id = event.replace(/[^a-z]+/g, "-")
    fs.writeFileSync(
      path.join(subs, `e2e-log-${id}.js`),
      `"use strict"
Object.defineProperty(exports, "__esModule", { value: true })
const fs = require("fs")
exports.default = async function ({ data }) {
  if (!process.env.E2E_EVENT_LOG) return
  fs.appendFileSync(process.env.E2E_EVENT_LOG, JSON.stringify({ event: ${JSON.stringify(event)}, data, pid: process.pid, role: process.env.E2E_WORKER_MODE || "shared", at: new Date().toISOString() }) + "\\n")
}
exports.config = { event: ${JSON.stringify(event)}, context: { subscriberId: "e2e-log-${id}" } }
`
    )
  }
}

// The seed docs' "Add Custom Tracking" example, compiled to CommonJS as a
// user's build would emit it (a legacy class subscriber), unchanged otherwise.
const CUSTOM_TRACKING_SUBSCRIBER = `"use strict"
Object.defineProperty(exports, "__esModule", { value: true })
class CustomerSubscriber {
  constructor({ segmentService, eventBusService }) {
    this.handleCustomer = async (data) => {
      const customerData = data
      delete customerData["password_hash"]

      this.segmentService.track({
        event: "Customer Created",
        userId: data.id,
        properties: customerData,
      })
    }
    this.segmentService = segmentService

    eventBusService.subscribe(
      "customer.created",
      this.handleCustomer
    )
  }
}
// (harness only: without the plugin there is no segmentService to inject)
if (process.env.E2E_WITH_PLUGIN !== "0") {
  exports.default = CustomerSubscriber
} else {
  exports.default = async () => {}
  exports.config = { event: "customer.created", context: { subscriberId: "e2e-custom-tracking-off" } }
}
`

/**
 * Installs the backend into BACKEND_DIR (cached while e2e/backend/package.json
 * and the Node major are unchanged) and the plugin from `tarball`.
 */
async function prepareBackend({ tarball, withPlugin = true } = {}) {
  await ensurePostgres()
  fs.mkdirSync(BACKEND_DIR, { recursive: true })
  const pkg = packageJson()
  const stamp = sha(pkg, process.versions.node.split(".")[0])
  const stampFile = path.join(BACKEND_DIR, ".e2e-install-stamp")
  const installed =
    fs.existsSync(stampFile) &&
    fs.readFileSync(stampFile, "utf8") === stamp &&
    fs.existsSync(path.join(BACKEND_DIR, "node_modules", "@medusajs", "medusa", "package.json"))
  fs.copyFileSync(path.join(TEMPLATE_DIR, "medusa-config.js"), path.join(BACKEND_DIR, "medusa-config.js"))
  fs.copyFileSync(path.join(TEMPLATE_DIR, "seed.json"), path.join(BACKEND_DIR, "seed.json"))
  writeSubscriberLoggers(BACKEND_DIR)
  if (!installed) {
    fs.rmSync(stampFile, { force: true })
    fs.writeFileSync(path.join(BACKEND_DIR, "package.json"), pkg)
    say(`installing Medusa ${MEDUSA_VERSION} into ${path.relative(ROOT, BACKEND_DIR)} (first run: a few minutes)`)
    const { ms } = await run("npm", ["install", "--prefer-offline", "--no-audit", "--no-fund"], { cwd: BACKEND_DIR })
    fs.writeFileSync(stampFile, stamp)
    say(`backend installed in ${(ms / 1000).toFixed(1)} s`)
  }
  if (withPlugin) {
    if (!tarball) throw new Error("prepareBackend: tarball is required (see packPlugin())")
    // A plain install of the tarball, as a user would run it (no --legacy-peer-deps).
    const { ms } = await run("npm", ["install", "--no-save", "--prefer-offline", "--no-audit", "--no-fund", ...[].concat(tarball)], { cwd: BACKEND_DIR })
    say(`plugin installed from its tarball in ${(ms / 1000).toFixed(1)} s`)
  }
  return BACKEND_DIR
}

function medusaCli(args, env, opts = {}) {
  return run(process.execPath, [path.join(BACKEND_DIR, "node_modules", "@medusajs", "medusa", "cli.js"), ...args], {
    cwd: BACKEND_DIR,
    env: baseEnv(env),
    ...opts,
  })
}

function baseEnv(extra = {}) {
  return {
    MEDUSA_DISABLE_TELEMETRY: "true",
    DO_NOT_TRACK: "1",
    NODE_OPTIONS: `--require ${path.join(__dirname, "loopback.js")}`,
    ...extra,
  }
}

const dbUrl = (name) => `postgres://${PG.user}@${PG.host}:${PG.port}/${name}`
const dbExists = (name) => psql(`SELECT 1 FROM pg_database WHERE datname = '${name}'`) === "1"

/** A migrated + seeded database to clone per run; built once per (package.json, seed, config). */
async function templateDatabase() {
  const key = sha(
    packageJson(),
    fs.readFileSync(path.join(TEMPLATE_DIR, "seed.json")),
    fs.readFileSync(path.join(TEMPLATE_DIR, "medusa-config.js"))
  ).slice(0, 12)
  const name = `${DB_PREFIX}tmpl_${key}`
  if (dbExists(name)) return name
  // Other templates are stale: drop them.
  for (const old of psql(`SELECT datname FROM pg_database WHERE datname LIKE '${DB_PREFIX}tmpl_%'`).split("\n").filter(Boolean)) {
    try {
      psql(`DROP DATABASE IF EXISTS "${old}"`)
    } catch {}
  }
  const building = `${name}_build_${process.pid}`
  psql(`DROP DATABASE IF EXISTS "${building}"`)
  psql(`CREATE DATABASE "${building}"`)
  say("migrating and seeding the template database (once per seed/config change)")
  const { ms } = await medusaCli(["seed", "-f", "./seed.json", "-m"], { DATABASE_URL: dbUrl(building), E2E_WITH_PLUGIN: "0" }, { timeoutMs: 5 * 60 * 1000 })
  try {
    psql(`ALTER DATABASE "${building}" RENAME TO "${name}"`)
  } catch (err) {
    // another checkout built the same template meanwhile: use theirs
    psql(`DROP DATABASE IF EXISTS "${building}"`)
    if (!dbExists(name)) throw err
  }
  say(`template database ready in ${(ms / 1000).toFixed(1)} s`)
  return name
}

function pidAlive(pid) {
  try {
    process.kill(pid, 0)
    return true
  } catch (e) {
    return e.code === "EPERM"
  }
}

/** A fresh database for one run; databases of earlier runs whose process is gone are dropped. */
async function createRunDatabase() {
  const template = await templateDatabase()
  for (const old of psql(`SELECT datname FROM pg_database WHERE datname LIKE '${DB_PREFIX}run_%'`).split("\n").filter(Boolean)) {
    const pid = Number(old.slice(`${DB_PREFIX}run_`.length).split("_")[0])
    if (pid && pid !== process.pid && pidAlive(pid)) continue
    try {
      psql(`DROP DATABASE IF EXISTS "${old}"`)
    } catch {}
  }
  const name = `${DB_PREFIX}run_${process.pid}_${Date.now().toString(36)}`
  psql(`CREATE DATABASE "${name}" TEMPLATE "${template}"`)
  return name
}

function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer()
    srv.once("error", reject)
    srv.listen(0, "127.0.0.1", () => {
      const { port } = srv.address()
      srv.close(() => resolve(port))
    })
  })
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms))

/** One `medusa start` process; resolves once `ready` says so. */
function startProcess({ role, port, env, logFile }) {
  const out = fs.openSync(logFile, "a")
  const child = spawn(
    process.execPath,
    [path.join(BACKEND_DIR, "node_modules", "@medusajs", "medusa", "cli.js"), "start", "-p", String(port)],
    { cwd: BACKEND_DIR, env: { ...process.env, ...baseEnv(env) }, stdio: ["ignore", out, out], detached: false }
  )
  fs.closeSync(out)
  const proc = { role, port, child, logFile, exited: null }
  proc.exitPromise = new Promise((resolve) =>
    child.on("exit", (code, signal) => {
      proc.exited = { code, signal }
      resolve(proc.exited)
    })
  )
  return proc
}

async function waitFor(proc, check, timeoutMs) {
  const deadline = Date.now() + timeoutMs
  while (Date.now() < deadline) {
    if (proc.exited) break
    if (await check().catch(() => false)) return
    await sleep(250)
  }
  const tail = fs.readFileSync(proc.logFile, "utf8").split("\n").slice(-40).join("\n")
  throw new Error(`medusa ${proc.role} did not become ready (${proc.exited ? `exited ${JSON.stringify(proc.exited)}` : "timeout"}):\n${tail}`)
}

async function stopProcess(proc, graceMs = 20000) {
  if (proc.exited) return proc.exited
  proc.child.kill("SIGTERM")
  const t = setTimeout(() => proc.child.kill("SIGKILL"), graceMs)
  const res = await proc.exitPromise
  clearTimeout(t)
  return res
}

/**
 * Starts the backend on 127.0.0.1.
 * eventBus "local": one `medusa start` (worker_mode shared).
 * eventBus "redis": a server (worker_mode "server", serves the API, enqueues
 * events) and a separate worker process (worker_mode "worker", runs the
 * subscribers), sharing a per-run bullmq queue.
 */
async function startBackend({ eventBus = "local", segmentOptions = {}, withPlugin = true, env = {}, logDir } = {}) {
  if (eventBus === "redis") await ensureRedis()
  const dbName = await createRunDatabase()
  const runId = dbName.slice(`${DB_PREFIX}run_`.length)
  if (!logDir) {
    const logsRoot = path.join(ROOT, ".tmp", "e2e-logs")
    // keep the logs of the last 20 runs
    if (fs.existsSync(logsRoot)) {
      const old = fs.readdirSync(logsRoot).map((d) => ({ d, t: fs.statSync(path.join(logsRoot, d)).mtimeMs })).sort((a, b) => b.t - a.t)
      for (const { d } of old.slice(19)) fs.rmSync(path.join(logsRoot, d), { recursive: true, force: true })
    }
    logDir = path.join(logsRoot, runId)
  }
  fs.mkdirSync(logDir, { recursive: true })
  const eventLog = path.join(logDir, "events.jsonl")
  fs.writeFileSync(eventLog, "")
  const common = {
    DATABASE_URL: dbUrl(dbName),
    E2E_EVENT_BUS: eventBus,
    E2E_QUEUE_NAME: `e2e-events-${runId}`,
    E2E_REDIS_URL: REDIS_URL,
    E2E_SEGMENT_OPTIONS: JSON.stringify(segmentOptions),
    E2E_WITH_PLUGIN: withPlugin ? "1" : "0",
    E2E_EVENT_LOG: eventLog,
    ...env,
  }
  const procs = []
  const started = Date.now()
  const port = await freePort()
  const url = `http://127.0.0.1:${port}`
  const health = async () => (await fetch(`${url}/health`)).ok
  try {
    if (eventBus === "redis") {
      const server = startProcess({ role: "server", port, env: { ...common, E2E_WORKER_MODE: "server" }, logFile: path.join(logDir, "server.log") })
      procs.push(server)
      const worker = startProcess({ role: "worker", port: await freePort(), env: { ...common, E2E_WORKER_MODE: "worker" }, logFile: path.join(logDir, "worker.log") })
      procs.push(worker)
      const ready = (p) => async () => /Server is ready on port/.test(fs.readFileSync(p.logFile, "utf8"))
      await Promise.all([waitFor(server, health, 180000), waitFor(worker, ready(worker), 180000)])
    } else {
      const server = startProcess({ role: "shared", port, env: { ...common, E2E_WORKER_MODE: "shared" }, logFile: path.join(logDir, "server.log") })
      procs.push(server)
      await waitFor(server, health, 180000)
    }
  } catch (err) {
    await Promise.all(procs.map((p) => stopProcess(p, 3000)))
    throw err
  }
  say(`medusa (${eventBus}${eventBus === "redis" ? ": server + worker" : ""}) ready at ${url} in ${((Date.now() - started) / 1000).toFixed(1)} s; logs in ${path.relative(ROOT, logDir)}`)

  return {
    url,
    dbName,
    logDir,
    processes: procs,
    /** Events Medusa emitted and the backend's own logging subscribers saw. */
    events() {
      return fs
        .readFileSync(eventLog, "utf8")
        .split("\n")
        .filter(Boolean)
        .map((l) => JSON.parse(l))
    },
    logs() {
      return procs.map((p) => `--- ${p.role} ---\n` + fs.readFileSync(p.logFile, "utf8")).join("\n")
    },
    /** SIGTERM (Medusa's graceful shutdown), then drops the run database unless keepDb. */
    async stop({ keepDb = !!process.env.E2E_KEEP_DB } = {}) {
      // The server first: the worker must drain what the server enqueued.
      for (const p of procs) await stopProcess(p)
      if (!keepDb) {
        try {
          psql(`DROP DATABASE IF EXISTS "${dbName}"`)
        } catch {}
      }
      if (eventBus === "redis") {
        try {
          const keys = execFileSync("redis-cli", ["-u", REDIS_URL, "--scan", "--pattern", `*${common.E2E_QUEUE_NAME}*`], { encoding: "utf8" })
            .split("\n")
            .filter(Boolean)
          if (keys.length) execFileSync("redis-cli", ["-u", REDIS_URL, "del", ...keys], { stdio: "ignore" })
        } catch {}
      }
      return procs.map((p) => ({ role: p.role, ...p.exited }))
    },
  }
}

module.exports = {
  ROOT,
  BACKEND_DIR,
  MEDUSA_VERSION,
  setLogger,
  say: (msg) => say(msg),
  run,
  psql,
  sha,
  pidAlive,
  ensurePostgres,
  ensureRedis,
  packPlugin,
  prepareBackend,
  startBackend,
  freePort,
  sleep,
}
