"use strict"

// The plugin's Admin API (Medusa 2.x), behind Medusa's admin authentication
// (every route under /admin is): what the Admin page shows and does.
//
//   GET  /admin/segment           delivery counters, last errors, events, options (secrets masked), backfill runs
//   POST /admin/segment/test      sends one test event and answers with Segment's answer
//   GET  /admin/segment/backfill  backfill runs with progress
//   POST /admin/segment/backfill  { from?, to?, dry_run?, restart? }: dry run (counts), or starts a run
//                                 in the background and answers 202 at once
//
// POSTs need an admin: a logged-in user (actor_type "user"); when the plugin
// option `admin_editors` (a list of e-mail addresses) is set, only those
// users. Everyone else with Admin API access gets the page read-only.

const { lookup, loggerOf } = require("../container")
const { subscriberOptions, clientFor } = require("./client")
const backfill = require("./backfill")

/** Option names whose values never leave the server. */
const SECRET = /key|secret|token|password|auth/i
/** What Medusa adds to a plugin's options when it loads the plugin's module (holds the database URL). */
const INJECTED = new Set(["database", "resources"])

/** A URL's password (redis://user:pw@host) masked; other values as they are. */
function maskUrl(v) {
  return typeof v === "string" ? v.replace(/^([a-z][a-z0-9+.-]*:\/\/[^/:@]*):[^/@]*@/i, "$1:***@") : v
}

/** One client per process and options (the native client underneath is the subscribers' own). */
const clients = new WeakMap()
function clientOf(container) {
  const pluginOptions = backfill.pluginOptionsOf(container)
  let c = clients.get(pluginOptions)
  if (!c) {
    c = clientFor(subscriberOptions(pluginOptions, container), loggerOf(container))
    clients.set(pluginOptions, c)
  }
  return { client: c, pluginOptions }
}

/** The options as the page shows them: secrets as "set"/"not set", the rest as configured. */
function shownOptions(options) {
  const out = {}
  for (const [k, v] of Object.entries(options || {})) {
    if (INJECTED.has(k)) continue
    if (SECRET.test(k) || k === "writeKey") out[k] = v ? "set" : "not set"
    else out[k] = typeof v === "function" ? "(a function)" : maskUrl(v)
  }
  if (!("write_key" in out) && !("writeKey" in out)) out.write_key = "not set"
  return out
}

/** Medusa 2.x event -> the Segment calls it can make, from the catalog (lib/catalog.js, tracking-plan.json). */
function segmentCallsByEvent() {
  const catalog = require("../catalog")
  const out = {}
  const add = (names, e) => {
    for (const m of (e.medusa && e.medusa.v2) || []) (out[m] = out[m] || []).push(...names)
  }
  for (const e of [...catalog.EVENTS, ...catalog.FUNNEL]) add([e.name], e)
  add(["identify"], catalog.IDENTIFY)
  return out
}

async function userEmail(req) {
  const ctx = req.auth_context || {}
  if (ctx.actor_type !== "user" || !ctx.actor_id) return null
  try {
    const query = lookup(req.scope, "query")
    const { data } = await query.graph({ entity: "user", fields: ["id", "email"], filters: { id: ctx.actor_id } })
    return (data && data[0] && data[0].email) || ""
  } catch (_) {
    return ""
  }
}

/** Whether this request may send a test event or start a backfill. */
async function canEdit(req, pluginOptions) {
  const email = await userEmail(req)
  if (email === null) return false
  const editors = pluginOptions.admin_editors
  if (editors === undefined || editors === null) return true
  if (!Array.isArray(editors)) return false
  return editors.map((e) => String(e).toLowerCase()).includes(String(email).toLowerCase())
}

function send(res, status, body) {
  res.status(status).json(body)
}

async function getOverview(req, res) {
  const { client, pluginOptions } = clientOf(req.scope)
  let runs = []
  let backfillError = null
  try {
    runs = await backfill.listRuns(req.scope)
  } catch (err) {
    backfillError = err.message
  }
  send(res, 200, {
    stats: client.stats(),
    recent_errors: client.recentErrors(),
    events: Object.entries(segmentCallsByEvent())
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([e, calls]) => ({ medusa_event: e, segment_calls: [...new Set(calls)] })),
    options: shownOptions(pluginOptions),
    backfill: { runs, defaults: backfill.checkParams({}, pluginOptions), error: backfillError },
    can_edit: await canEdit(req, pluginOptions),
  })
}

async function postTest(req, res) {
  const { client, pluginOptions } = clientOf(req.scope)
  if (!(await canEdit(req, pluginOptions))) return send(res, 403, { message: "Only admins can send a test event." })
  const messageId = `medusa-admin-test-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 8)}`
  const started = Date.now()
  const settled = new Promise((resolve) => {
    try {
      client.track(
        {
          event: "Segment Test Event",
          anonymousId: `medusa-admin-${(req.auth_context && req.auth_context.actor_id) || "user"}`,
          properties: { source: "medusa-plugin-segment-rs admin page" },
          messageId,
        },
        (err) => resolve(err ? { ok: false, answer: err.message } : { ok: true, answer: "Segment accepted the event (HTTP 2xx)" })
      )
    } catch (err) {
      resolve({ ok: false, answer: `not sent: ${err.message}` })
    }
  })
  client.flush().catch(() => {})
  const timeout = new Promise((resolve) =>
    setTimeout(() => resolve({ ok: false, answer: "no answer from Segment within 20 s (still queued; see the counters)" }), 20000).unref()
  )
  const result = await Promise.race([settled, timeout])
  send(res, 200, { ...result, message_id: messageId, ms: Date.now() - started, stats: client.stats() })
}

async function getBackfill(req, res) {
  send(res, 200, { runs: await backfill.listRuns(req.scope) })
}

async function postBackfill(req, res) {
  const pluginOptions = backfill.pluginOptionsOf(req.scope)
  if (!(await canEdit(req, pluginOptions))) return send(res, 403, { message: "Only admins can start a backfill." })
  const body = req.body || {}
  const params = { from: body.from, to: body.to, dry_run: body.dry_run, restart: body.restart, orders_per_second: body.orders_per_second }
  try {
    backfill.checkParams(params, pluginOptions)
  } catch (err) {
    return send(res, 400, { message: err.message })
  }
  if (params.dry_run) return send(res, 200, await backfill.dryRun(req.scope, params))
  // runs in this process after the answer: the request does not wait for it
  const { run, busy } = await backfill.startBackfill(req.scope, params)
  send(res, busy ? 409 : 202, { run, busy, message: busy ? "This range is already being sent." : "Started." })
}

/** Wraps a handler: an error becomes a 500 with its message (never the store's problem). */
function route(fn) {
  return async (req, res) => {
    try {
      await fn(req, res)
    } catch (err) {
      loggerOf(req.scope).error(`[segment] admin API ${req.method} ${req.path}: ${(err && err.stack) || err}`)
      if (!res.headersSent) send(res, 500, { message: String((err && err.message) || err) })
    }
  }
}

module.exports = {
  shownOptions,
  getOverview: route(getOverview),
  postTest: route(postTest),
  getBackfill: route(getBackfill),
  postBackfill: route(postBackfill),
}
