"use strict"

// Backfill (Medusa 2.x): replays the store's past orders into Segment with the
// calls, original timestamps and deterministic messageIds of live tracking
// (lib/v2/events.js builds every call), so a rerun, or a backfill over
// orders that were tracked live, sends the same messages again at most
// (Segment de-duplicates by messageId) and never a different one.
//
// Orders are read in (created_at, id) order, one page at a time; after each
// page the client is flushed and only then is the cursor saved in the plugin
// module's `segment_backfill` table: a crash or kill re-sends at most the
// page it was in (same messageIds), and a rerun of a finished range continues
// after its cursor (nothing to send unless newer orders arrived).
//
// Paced (orders per second) so that a large store neither hits Segment's
// rate limits nor loads its database more than a steady trickle.

const os = require("node:os")
const { lookup, loggerOf } = require("../container")
const { makeCalls } = require("../order-mapping")
const { eventContext, liveCalls } = require("./events")

const DEFAULTS = { orders_per_second: 20, page_size: 50 }
/** A running run whose heartbeat is older than this belongs to a dead process: it may be resumed. */
const STALE_MS = 2 * 60 * 1000

/**
 * What the data of an order supports, as the live subscribers' event
 * payloads: the events it would have emitted, in the order they happened.
 */
const LIFECYCLE = [
  { event: "order.placed", of: (o) => [{ id: o.id }] },
  {
    event: "shipment.created",
    of: (o) => (o.fulfillments || []).filter((f) => f && f.shipped_at).map((f) => ({ id: f.id })),
  },
  { event: "order.canceled", of: (o) => (o.canceled_at ? [{ id: o.id }] : []) },
  {
    event: "order.return_received",
    of: (o) => (o.returns || []).filter((r) => r && r.received_at).map((r) => ({ order_id: o.id, return_id: r.id })),
  },
]
const PAGE_FIELDS = ["id", "customer_id", "canceled_at", "fulfillments.id", "fulfillments.shipped_at", "returns.id", "returns.received_at"]

function fail(option, what, value) {
  throw new TypeError(`medusa-plugin-segment-rs: invalid backfill option \`${option}\`: ${what} (got ${JSON.stringify(value)})`)
}

function parseDate(option, v) {
  if (v === undefined || v === null || v === "") return null
  const d = v instanceof Date ? v : new Date(String(v))
  if (Number.isNaN(d.getTime())) fail(option, "must be a date such as 2025-01-31 or 2025-01-31T12:00:00Z", v)
  return d
}

function positive(option, v, dflt) {
  if (v === undefined || v === null || v === "") return dflt
  const n = Number(v)
  if (!(Number.isFinite(n) && n > 0)) fail(option, "must be a number > 0", v)
  return n
}

/**
 * The checked parameters of a run. `params`: { from, to, dry_run, restart,
 * orders_per_second, page_size }; the plugin options `backfill_orders_per_second`
 * and `backfill_page_size` are the defaults.
 */
function checkParams(params = {}, pluginOptions = {}) {
  const from = parseDate("from", params.from)
  const to = parseDate("to", params.to)
  if (from && to && from >= to) fail("to", "must be after `from`", params.to)
  const rate = positive("orders_per_second", params.orders_per_second, positive("backfill_orders_per_second", pluginOptions.backfill_orders_per_second, DEFAULTS.orders_per_second))
  const page = Math.floor(positive("page_size", params.page_size, positive("backfill_page_size", pluginOptions.backfill_page_size, DEFAULTS.page_size)))
  return {
    from,
    to,
    rangeKey: `${from ? from.toISOString() : ""}..${to ? to.toISOString() : ""}`,
    dryRun: Boolean(params.dry_run),
    restart: Boolean(params.restart),
    rate,
    page: Math.min(page, 1000),
  }
}

/** `medusa exec` arguments (`from=2025-01-01`, `--to=...`, `dry-run`, `--restart`) as params. */
function parseArgs(args = []) {
  const out = {}
  for (const a of args) {
    const m = /^-{0,2}([a-z_-]+)(?:=(.*))?$/i.exec(String(a))
    if (!m) throw new TypeError(`medusa-plugin-segment-rs backfill: cannot read the argument ${JSON.stringify(a)} (use name=value, e.g. from=2025-01-01)`)
    const key = m[1].replace(/-/g, "_")
    if (!["from", "to", "dry_run", "restart", "orders_per_second", "page_size"].includes(key)) {
      throw new TypeError(`medusa-plugin-segment-rs backfill: unknown argument \`${m[1]}\` (from, to, dry-run, restart, orders-per-second, page-size)`)
    }
    out[key] = m[2] === undefined ? true : m[2]
  }
  return out
}

/** The options of this plugin's entry in medusa-config (`plugins`), or {}. */
function pluginOptionsOf(container) {
  const config = lookup(container, "configModule")
  for (const p of (config && config.plugins) || []) {
    const resolve = typeof p === "string" ? p : p && p.resolve
    if (typeof resolve === "string" && /medusa-plugin-segment-rs/.test(resolve)) return (p && p.options) || {}
  }
  return {}
}

function store(container) {
  const s = lookup(container, "segment")
  if (!s || typeof s.listSegmentBackfills !== "function") {
    throw new Error(
      "medusa-plugin-segment-rs: the plugin module `segment` is not loaded; add the plugin to `plugins` in medusa-config and run `npx medusa db:migrate`"
    )
  }
  return s
}

function pg(container) {
  const knex = lookup(container, "__pg_connection__")
  if (!knex || typeof knex.raw !== "function") throw new Error("the container has no PostgreSQL connection (__pg_connection__)")
  return knex
}

/** A range for people: "all orders", "orders from 2025-01-01", "orders from ... to ...". */
function describeRange(p) {
  if (!p.from && !p.to) return "all orders"
  return `orders${p.from ? ` from ${p.from.toISOString()}` : ""}${p.to ? ` before ${p.to.toISOString()}` : ""}`
}

/** SQL condition + bindings of a range (and cursor), on Medusa's `order` table. */
function where(p, cursor) {
  const sql = [`deleted_at IS NULL`, `is_draft_order = false`]
  const b = []
  if (p.from) {
    sql.push(`created_at >= ?`)
    b.push(p.from)
  }
  if (p.to) {
    sql.push(`created_at < ?`)
    b.push(p.to)
  }
  if (cursor && cursor.created_at) {
    sql.push(`(created_at, id) > (?::timestamptz, ?)`)
    b.push(cursor.created_at, cursor.id)
  }
  return { sql: sql.join(" AND "), b }
}

async function countOrders(knex, p, cursor) {
  const w = where(p, cursor)
  const r = await knex.raw(`SELECT count(*)::int AS n FROM "order" WHERE ${w.sql}`, w.b)
  return r.rows[0].n
}

/** The next page of order ids with their exact (microsecond) created_at, as text. */
async function nextPage(knex, p, cursor) {
  const w = where(p, cursor)
  const r = await knex.raw(
    `SELECT id, to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS created_at
       FROM "order" WHERE ${w.sql} ORDER BY created_at, id LIMIT ?`,
    [...w.b, p.page]
  )
  return r.rows
}

async function loadPage(query, ids) {
  const { data } = await query.graph({ entity: "order", fields: PAGE_FIELDS, filters: { id: ids } })
  const byId = new Map((data || []).map((o) => [o.id, o]))
  return ids.map((id) => byId.get(id)).filter(Boolean)
}

/** The live subscribers' payloads for one order: [{ event, data }]. */
function lifecycleOf(o) {
  const out = []
  for (const l of LIFECYCLE) for (const data of l.of(o)) out.push({ event: l.event, data })
  return out
}

function fmtDuration(s) {
  if (!Number.isFinite(s)) return "?"
  s = Math.round(s)
  const h = Math.floor(s / 3600)
  const m = Math.floor((s % 3600) / 60)
  return h ? `${h}h${String(m).padStart(2, "0")}m` : m ? `${m}m${String(s % 60).padStart(2, "0")}s` : `${s}s`
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms))

/** Runs started by this process: run id -> promise. */
const active = new Map()

/**
 * Dry run: how many orders are in the range (and after the saved cursor of
 * that range) and how many Segment messages they would send, by event.
 * Reads the orders' ids and lifecycle dates only.
 */
async function dryRun(container, params = {}) {
  const p = checkParams(params, pluginOptionsOf(container))
  const knex = pg(container)
  const query = lookup(container, "query")
  const [existing] = await store(container).listSegmentBackfills({ range_key: p.rangeKey })
  const cursor = existing && !p.restart && existing.cursor_created_at ? { created_at: existing.cursor_created_at, id: existing.cursor_order_id } : null
  const counts = {}
  const add = (k, n = 1) => (counts[k] = (counts[k] || 0) + n)
  let orders = 0
  for (let c = cursor; ; ) {
    const rows = await nextPage(knex, { ...p, page: 1000 }, c)
    if (!rows.length) break
    for (const o of await loadPage(query, rows.map((r) => r.id))) {
      orders++
      if (o.customer_id) add("identify")
      for (const { event } of lifecycleOf(o)) add(event)
    }
    const last = rows[rows.length - 1]
    c = { created_at: last.created_at, id: last.id }
  }
  return {
    dry_run: true,
    from: p.from,
    to: p.to,
    orders,
    orders_in_range: await countOrders(knex, p, null),
    already_sent_up_to: cursor ? cursor.created_at : null,
    // identify + one call per Medusa event (an event may map to more, e.g. claims: one per item)
    messages_by_medusa_event: counts,
  }
}

const OWNER = `${os.hostname()}:${process.pid}`

/** Whether a running run's process is gone: its pid is dead on this host, or it has been silent for STALE_MS. */
function ownerGone(run, now = Date.now()) {
  if (!run.heartbeat_at || now - new Date(run.heartbeat_at).getTime() >= STALE_MS) return true
  const [host, pid] = String(run.owner || "").split(":")
  if (host !== os.hostname() || !Number(pid)) return false
  try {
    process.kill(Number(pid), 0)
    return false
  } catch (err) {
    return err.code === "ESRCH"
  }
}

/**
 * The run of this range: created, reset (restart) or picked up. Returns
 * { run } or { run, busy: true } when a live process is running it.
 */
async function claimRun(svc, p) {
  const now = new Date()
  let [run] = await svc.listSegmentBackfills({ range_key: p.rangeKey })
  if (run && (active.has(run.id) || (run.status === "running" && !ownerGone(run)))) return { run, busy: true }
  const fresh = { status: "running", owner: OWNER, started_at: now, heartbeat_at: now, finished_at: null, error: null, progress: null }
  if (!run) {
    run = await svc.createSegmentBackfills({ range_key: p.rangeKey, from_date: p.from, to_date: p.to, counts: {}, ...fresh })
  } else {
    const reset = p.restart ? { cursor_created_at: null, cursor_order_id: null, done: 0, messages: 0, counts: {} } : {}
    run = await svc.updateSegmentBackfills({ id: run.id, ...fresh, ...reset })
  }
  return { run }
}

/** Sends one order's lifecycle; returns the number of calls made. Failures are logged and counted. */
async function sendOrder(o, ctx, counts, logger) {
  let made = 0
  for (const { event, data } of lifecycleOf(o)) {
    try {
      const calls = await liveCalls(event, data, ctx)
      made += makeCalls(ctx.segment, calls, logger, `backfill ${event} ${o.id}`)
      for (const c of calls) {
        const name = c.method === "track" ? c.message.event : c.method
        counts[name] = (counts[name] || 0) + 1
      }
    } catch (err) {
      counts.failed_orders = (counts.failed_orders || 0) + 1
      logger.error(`[segment] backfill: cannot build ${event} of order ${o.id}: ${(err && err.message) || err}`)
    }
  }
  return made
}

/**
 * Sends the range's orders, page by page, from the run's cursor. Resolves
 * with the final run row. Throws only for setup errors (bad params, no
 * module); an order that cannot be built is logged and counted
 * (counts.failed_orders) and the run goes on.
 */
async function execute(container, runId, p, logger) {
  const svc = store(container)
  const knex = pg(container)
  const ctx = eventContext(container, pluginOptionsOf(container))
  const [run] = await svc.listSegmentBackfills({ id: runId })
  let cursor = run.cursor_created_at ? { created_at: run.cursor_created_at, id: run.cursor_order_id } : null
  const remaining = await countOrders(knex, p, cursor)
  let done = run.done
  let messages = run.messages
  const counts = { ...(run.counts || {}) }
  const total = done + remaining
  await svc.updateSegmentBackfills({ id: runId, total })
  logger.info(
    `[segment] backfill of ${describeRange(p)}: ${remaining} orders to send${cursor ? ` (resuming after ${cursor.created_at}, ${done} done before)` : ""}, ` +
      `at most ${p.rate} orders/s`
  )
  // a sign of life while a page waits for Segment (an outage can hold a flush for minutes)
  const beat = setInterval(() => svc.updateSegmentBackfills({ id: runId, heartbeat_at: new Date() }).catch(() => {}), 30000)
  beat.unref()
  const t0 = Date.now()
  let sessionDone = 0
  try {
    for (let rows; (rows = await nextPage(knex, p, cursor)).length; ) {
      for (const o of await loadPage(ctx.query, rows.map((r) => r.id))) messages += await sendOrder(o, ctx, counts, logger)
      // delivered (or given up on and counted) before the cursor moves past them
      await ctx.segment.flush()
      const last = rows[rows.length - 1]
      cursor = { created_at: last.created_at, id: last.id }
      done += rows.length
      sessionDone += rows.length
      // pacing: never ahead of `rate` orders per second since this session started
      const ahead = (sessionDone / p.rate) * 1000 - (Date.now() - t0)
      if (ahead > 0) await sleep(ahead)
      const rate = sessionDone / ((Date.now() - t0) / 1000)
      const eta = (total - done) / rate
      await svc.updateSegmentBackfills({
        id: runId,
        cursor_created_at: cursor.created_at,
        cursor_order_id: cursor.id,
        done,
        messages,
        counts,
        heartbeat_at: new Date(),
        progress: { rate: Math.round(rate * 10) / 10, eta_seconds: Math.round(eta) },
      })
      logger.info(
        `[segment] backfill: ${done}/${total} orders (${total ? Math.floor((done / total) * 100) : 100}%), ${messages} messages, ` +
          `${rate.toFixed(1)} orders/s, ETA ${fmtDuration(eta)}`
      )
    }
  } finally {
    clearInterval(beat)
  }
  const finished = await svc.updateSegmentBackfills({ id: runId, status: "done", finished_at: new Date(), heartbeat_at: new Date(), progress: { rate: 0, eta_seconds: 0 } })
  logger.info(`[segment] backfill of ${describeRange(p)} done: ${done} orders, ${messages} messages (${JSON.stringify(counts)})`)
  return finished
}

/**
 * Starts (or resumes) the run of a range in this process and returns at
 * once: { run, busy, promise }. `promise` resolves with the finished run (or
 * the failed one; a failure is logged and saved on the row, never thrown).
 */
async function startBackfill(container, params = {}) {
  const logger = loggerOf(container)
  const p = checkParams(params, pluginOptionsOf(container))
  const svc = store(container)
  const { run, busy } = await claimRun(svc, p)
  if (busy) return { run, busy: true, promise: active.get(run.id) || Promise.resolve(run) }
  const promise = execute(container, run.id, p, logger)
    .catch(async (err) => {
      logger.error(`[segment] backfill of ${describeRange(p)} failed: ${(err && err.stack) || err}`)
      try {
        return await svc.updateSegmentBackfills({ id: run.id, status: "failed", error: String((err && err.message) || err), heartbeat_at: new Date() })
      } catch (_) {
        return run
      }
    })
    .finally(() => active.delete(run.id))
  active.set(run.id, promise)
  return { run, busy: false, promise }
}

/** The foreground form (`medusa exec`): a dry run, or a run awaited to its end. */
async function runBackfill(container, params = {}) {
  if (params.dry_run) return dryRun(container, params)
  const { run, busy, promise } = await startBackfill(container, params)
  if (busy && !active.has(run.id)) {
    throw new Error(`medusa-plugin-segment-rs: the backfill of ${run.range_key} is running in another process (heartbeat ${new Date(run.heartbeat_at).toISOString()})`)
  }
  return promise
}

/**
 * Runs whose process stopped (running, no heartbeat for STALE_MS: any
 * host) are resumed here from their cursor. Used by the scheduled job.
 */
async function resumeStale(container) {
  const svc = store(container)
  const now = Date.now()
  const runs = await svc.listSegmentBackfills({ status: "running" })
  const resumed = []
  for (const r of runs) {
    if (active.has(r.id) || (r.heartbeat_at && now - new Date(r.heartbeat_at).getTime() < STALE_MS)) continue
    const [from, to] = r.range_key.split("..")
    loggerOf(container).warn(`[segment] backfill ${r.range_key}: its process stopped at ${r.done}/${r.total}; resuming`)
    resumed.push((await startBackfill(container, { from: from || undefined, to: to || undefined })).run)
  }
  return resumed
}

/** The runs, newest first, for the Admin page. */
async function listRuns(container) {
  const runs = await store(container).listSegmentBackfills({}, { order: { created_at: "DESC" }, take: 20 })
  return runs.map((r) => ({ ...r, active_here: active.has(r.id) }))
}

module.exports = { DEFAULTS, LIFECYCLE, checkParams, parseArgs, pluginOptionsOf, dryRun, startBackfill, runBackfill, resumeStale, listRuns, fmtDuration }
