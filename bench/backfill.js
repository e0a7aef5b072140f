"use strict"
// Backfill throughput and the load it adds to the store's database, on a real
// Medusa 2.21.2 backend with a seeded history (e2e/v2/src/scripts/
// seed-history.js, cached as a template database) and a local
// Segment-compatible server:
//
//   node bench/backfill.js [--orders 1000] [--rates 1000,20] [--no-install]
//
// For each rate (orders per second; 1000 = as fast as it goes) the whole
// history is sent again (`restart`) by the shipped `medusa exec` script, and
// the run database's pg_stat_database counters are read before and after.
// Anchor: the same counters over an idle interval of the running backend.
// Prints orders/s, messages/s, Segment requests, and per order: DB active
// time, transactions, rows read; DB busy % = DB active time / wall time
// (the DB counters include the process's boot: a few hundred ms of queries).

const be = require("../e2e/backend")
const v2 = require("../e2e/v2/backend")
const { startSegmentServer } = require("../__tests__/support/segment-server")

const arg = (name, dflt) => {
  const i = process.argv.indexOf(`--${name}`)
  return i > 0 ? process.argv[i + 1] : dflt
}
const ORDERS = Number(arg("orders", 1000))
const RATES = String(arg("rates", "1000,20")).split(",").map(Number)
const SCRIPT = "./node_modules/medusa-plugin-segment-rs/.medusa/server/src/scripts/segment-backfill.js"
const sleep = (ms) => new Promise((r) => setTimeout(r, ms))

function dbStats(db) {
  const [active, xact, returned, fetched, hit, read] = be
    .psql(`SELECT active_time, xact_commit + xact_rollback, tup_returned, tup_fetched, blks_hit, blks_read FROM pg_stat_database WHERE datname = '${db}'`)
    .split("|")
    .map(Number)
  return { active, xact, rows: returned + fetched, blocks: hit + read }
}

function delta(a, b) {
  const out = {}
  for (const k of Object.keys(a)) out[k] = b[k] - a[k]
  return out
}

async function main() {
  // --no-install: the backend dir already has this package (e.g. a test just installed it)
  if (!process.argv.includes("--no-install")) await v2.prepareBackend({ tarball: await be.packPlugin() })
  await v2.historyDatabase(ORDERS)
  const seg = await startSegmentServer({ port: 0, keepBodies: true })
  const backend = await v2.startBackend({
    mode: "plugin",
    eventBus: "redis",
    history: ORDERS,
    migrate: true,
    segmentOptions: { write_key: "benchBackfillWriteKey0123456789abc", host: seg.url },
  })
  const rows = []
  try {
    // pg_stat_database is updated when a backend reports (at most every ~1 s): settle first
    await sleep(3000)
    const idle0 = dbStats(backend.dbName)
    const t0 = Date.now()
    await sleep(10000)
    const idle = { wallMs: Date.now() - t0, ...delta(idle0, dbStats(backend.dbName)) }
    rows.push({ run: "anchor: idle backend", wallMs: idle.wallMs, ...idle })
    for (const rate of RATES) {
      const before = dbStats(backend.dbName)
      const batches0 = seg.batches.length
      const messages0 = seg.messages.length
      const t = Date.now()
      const { code } = await backend.exec(SCRIPT, ["restart", `orders-per-second=${rate}`]).done
      if (code !== 0) throw new Error(`backfill exited ${code}:\n${backend.execLog().slice(-3000)}`)
      const processMs = Date.now() - t
      // the run's own time (the process also boots Medusa): from its row
      const wallMs = Number(be.psql(`SELECT round(extract(epoch FROM finished_at - started_at) * 1000) FROM segment_backfill`, backend.dbName))
      await sleep(1500)
      rows.push({
        run: `backfill, orders-per-second=${rate}`,
        wallMs,
        processMs,
        messages: seg.messages.length - messages0,
        requests: seg.batches.length - batches0,
        ...delta(before, dbStats(backend.dbName)),
      })
    }
  } finally {
    await backend.stop()
    await seg.close()
  }
  const idleRate = rows[0]
  console.log(`\nBackfill of ${ORDERS} orders (Medusa 2.21.2, PostgreSQL ${be.psql("SHOW server_version")}, load average ${require("os").loadavg()[0].toFixed(1)})\n`)
  console.log("wall s: the run from its start to its end (the `medusa exec` process, which also boots Medusa, in brackets)\n")
  console.log("| run | wall s | orders/s | messages/s | Segment requests | DB active ms/order | xacts/order | rows read/order | DB busy % |")
  console.log("|---|---|---|---|---|---|---|---|---|")
  for (const r of rows) {
    const anchor = r === idleRate
    const per = (v) => (anchor ? "–" : (v / ORDERS).toFixed(1))
    console.log(
      `| ${r.run} | ${(r.wallMs / 1000).toFixed(1)}${r.processMs ? ` (${(r.processMs / 1000).toFixed(1)})` : ""} | ${anchor ? "–" : (ORDERS / (r.wallMs / 1000)).toFixed(1)} | ${anchor ? "–" : (r.messages / (r.wallMs / 1000)).toFixed(1)} | ${anchor ? "–" : r.requests} | ${per(r.active)} | ${per(r.xact)} | ${per(r.rows)} | ${((r.active / r.wallMs) * 100).toFixed(1)} |`
    )
  }
}

main().catch((err) => {
  console.error(err)
  process.exit(1)
})
