"use strict"
// What the funnel (docs/funnel.md) costs the Medusa process per cart.updated,
// with the method of bench/medusa-v2.js: the same backend (e2e/v2, Medusa
// 2.21.2, event-bus-local, the plugin's tables migrated), the same carts,
// cart.updated re-emitted for them (a bench-only admin route) while a probe
// preloaded into Medusa (e2e/v2/bench-probe.js) reads the process's CPU time
// and event-loop delay. The floor is the plugin with the funnel off (its
// subscriber returns at once); the funnel's cost is the difference.
//
// Two kinds of rounds with the funnel on:
//   unchanged  the cart's state is already recorded: read it and the cart, compare, nothing sent
//   changed    the recorded states are deleted first: every cart is new, so each
//              event also records the state and sends a Product Added per line
//
//   node bench/funnel-v2.js [--smoke] [--carts N] [--rounds R]
// Needs PostgreSQL and Redis is not used; installs Medusa 2.21.2 into the cache on first use.

const fs = require("node:fs")
const path = require("node:path")
const be = require("../e2e/backend")
const v2 = require("../e2e/v2/backend")
const { MedusaV2Api } = require("../e2e/v2/scenario")
const { startSegmentServer } = require("../__tests__/support/segment-server")

const WRITE_KEY = "BenchWriteKey0123456789abcdefXYZ"
const FLUSH_INTERVAL = 1000
const LINES = 2

async function waitUntil(check, timeoutMs, what) {
  const until = Date.now() + timeoutMs
  while (!(await check())) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`)
    await be.sleep(100)
  }
}

async function probe(backend, file) {
  fs.rmSync(file, { force: true })
  process.kill(backend.pid, "SIGUSR2")
  await waitUntil(() => fs.existsSync(file) && fs.statSync(file).size > 0, 5000, "the probe")
  return JSON.parse(fs.readFileSync(file, "utf8"))
}

const VARIANTS = [
  { key: "off", options: {} },
  { key: "on", options: { events: { funnel: true } } },
]

/** One variant: fresh backend, N carts, R rounds of each kind; CPU ms per cart.updated handled. */
async function measure(variant, { carts, rounds, print }) {
  const seg = await startSegmentServer({ port: 0, keepBodies: false })
  const probeFile = path.join(be.ROOT, ".tmp", `bench-funnel-probe-${process.pid}.json`)
  fs.mkdirSync(path.dirname(probeFile), { recursive: true })
  const backend = await v2.startBackend({
    mode: "plugin",
    eventBus: "local",
    migrate: true,
    segmentOptions: { write_key: WRITE_KEY, host: seg.url, flush_at: 20, flush_interval: FLUSH_INTERVAL, ...variant.options },
    env: { E2E_PROBE_FILE: probeFile, NODE_OPTIONS: `--require ${path.join(be.ROOT, "e2e", "loopback.js")} --require ${path.join(be.ROOT, "e2e", "v2", "bench-probe.js")}` },
  })
  const updates = () => backend.events().filter((e) => e.event === "cart.updated").length
  const states = () => Number(be.psql("SELECT count(*) FROM segment_cart_state", backend.dbName))
  try {
    const api = new MedusaV2Api(backend.url, backend.publishableKey)
    const { regions, variants } = await api.loadCatalog()
    const ids = []
    for (let i = 0; i < carts; i++) {
      const items = [
        { variant_id: variants["TSHIRT-BLACK-M"].id, quantity: 1 + (i % 3) },
        { variant_id: variants["HOODIE-GREY-M"].id, quantity: 1 },
      ].slice(0, LINES)
      const { cart } = await api.store("POST", "/carts", { region_id: regions.eur.id, items })
      ids.push(cart.id)
    }
    let seen = updates()
    const round = async (kind) => {
      if (kind === "changed") be.psql("DELETE FROM segment_cart_state", backend.dbName)
      const before = seg.messages.length
      await api.admin("POST", "/bench/emit", { event: "cart.updated", ids })
      seen += carts
      await waitUntil(() => updates() >= seen, 120000, `cart.updated x${carts}`)
      if (variant.key === "on") {
        if (kind === "changed") await waitUntil(() => seg.messages.length >= before + carts * LINES, 120000, "Product Added")
        await waitUntil(() => states() === carts, 60000, "the recorded states")
      }
      await be.sleep(500) // the last handlers finish (the log subscriber runs beside ours)
    }
    // warm-up: the first sight of every cart (and its Product Added)
    await round("changed")
    await be.sleep(FLUSH_INTERVAL + 500)
    const result = {}
    for (const kind of ["unchanged", "changed"]) {
      const a = await probe(backend, probeFile)
      for (let r = 0; r < rounds; r++) await round(kind)
      await be.sleep(FLUSH_INTERVAL + 500)
      const b = await probe(backend, probeFile)
      result[kind] = { cpu: (b.cpu_ms - a.cpu_ms) / (carts * rounds), p99: b.eld.p99, max: b.eld.max }
      print(`  funnel ${variant.key}, ${kind}: ${carts * rounds} cart.updated handled, ${result[kind].cpu.toFixed(2)} CPU ms each (floor included), event-loop delay p99 ${b.eld.p99.toFixed(1)} ms`)
    }
    result.delivered = seg.messages.length
    return result
  } finally {
    await backend.stop()
    await seg.close()
    fs.rmSync(probeFile, { force: true })
  }
}

const median = (xs) => {
  const s = xs.slice().sort((a, b) => a - b)
  return s.length % 2 ? s[s.length >> 1] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2
}

async function run({ smoke = false, carts, rounds, reps, print = console.log } = {}) {
  print("\n### Medusa 2.x funnel: cost of handling cart.updated in the Medusa process (2.21.2, event-bus-local)\n")
  const tarball = await be.packPlugin()
  await v2.prepareBackend({ tarball })
  carts = carts || (smoke ? 4 : 20)
  rounds = rounds || (smoke ? 2 : 5)
  reps = reps || (smoke ? 1 : 2)
  const runs = { off: [], on: [] }
  for (let rep = 0; rep < reps; rep++) {
    const order = rep % 2 ? [...VARIANTS].reverse() : VARIANTS
    for (const v of order) runs[v.key].push(await measure(v, { carts, rounds, print }))
  }
  const f = (x) => (Math.abs(x) >= 100 ? x.toFixed(0) : Math.abs(x) >= 10 ? x.toFixed(1) : x.toFixed(2))
  const cpu = (k, kind) => median(runs[k].map((r) => r[kind].cpu))
  print(`\n${carts} carts of ${LINES} lines, cart.updated re-emitted ${rounds} times per kind (${carts * rounds} handled per kind), ${reps} run(s) per variant; medians\n`)
  print("| cart.updated | funnel off (floor) | funnel on | funnel's cost | on / off |")
  print("|---|---:|---:|---:|---:|")
  for (const kind of ["unchanged", "changed"]) {
    const off = cpu("off", kind)
    const on = cpu("on", kind)
    print(`| ${kind === "unchanged" ? "nothing changed (read state and cart, compare)" : `every cart new (+ record, ${LINES} Product Added)`} | ${f(off)} ms | ${f(on)} ms | ${f(on - off)} ms | ${(on / off).toFixed(1)}x |`)
  }
  const p99 = (k) => median(runs[k].map((r) => r.changed.p99))
  print(`\nEvent-loop delay p99 (changed rounds): off ${f(p99("off"))} ms, on ${f(p99("on"))} ms`)
  return { runs, carts, rounds, reps }
}

module.exports = { run, measure, VARIANTS }

if (require.main === module) {
  const args = process.argv.slice(2)
  const num = (name) => {
    const i = args.indexOf(name)
    return i >= 0 ? Number(args[i + 1]) : undefined
  }
  run({ smoke: args.includes("--smoke"), carts: num("--carts"), rounds: num("--rounds"), reps: num("--reps") }).catch((err) => {
    console.error(err)
    process.exit(1)
  })
}
