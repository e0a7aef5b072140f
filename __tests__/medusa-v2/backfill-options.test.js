"use strict"
// The backfill's parameters and `medusa exec` arguments, the Admin API's
// masking of secrets, and the admin extension's shape (no Medusa needed; the
// real runs are in __tests__/e2e-v2/backfill.test.js and admin.test.js).

const test = require("node:test")
const assert = require("node:assert/strict")
const { execFileSync } = require("node:child_process")
const path = require("node:path")

const backfill = require("../../lib/v2/backfill")
const { shownOptions } = require("../../lib/v2/admin-api")

test("backfill parameters: defaults, plugin options, and errors that name the parameter", () => {
  const p = backfill.checkParams({})
  assert.equal(p.rate, 20)
  assert.equal(p.page, 50)
  assert.equal(p.rangeKey, "..")
  assert.equal(p.dryRun, false)
  const q = backfill.checkParams({ from: "2025-01-01", to: "2025-07-01", page_size: 5000 }, { backfill_orders_per_second: 5 })
  assert.equal(q.rate, 5)
  assert.equal(q.page, 1000, "pages are capped")
  assert.equal(q.rangeKey, "2025-01-01T00:00:00.000Z..2025-07-01T00:00:00.000Z")
  assert.throws(() => backfill.checkParams({ from: "last tuesday" }), /`from`: must be a date/)
  assert.throws(() => backfill.checkParams({ from: "2025-07-01", to: "2025-01-01" }), /`to`: must be after `from`/)
  assert.throws(() => backfill.checkParams({ orders_per_second: 0 }), /`orders_per_second`: must be a number > 0/)
  assert.throws(() => backfill.checkParams({}, { backfill_page_size: "many" }), /`backfill_page_size`/)
})

test("the plugin options of the backfill and the Admin page are checked at start-up", () => {
  const { validateOptions } = require("../../lib/v2/options")
  assert.throws(() => validateOptions({ backfill_orders_per_second: 0 }), /`backfill_orders_per_second`: must be a number > 0/)
  assert.throws(() => validateOptions({ backfill_page_size: "50" }), /`backfill_page_size`: must be a number > 0/)
  assert.throws(() => validateOptions({ admin_editors: "owner@shop.example" }), /`admin_editors`: must be a list of e-mail addresses/)
  assert.doesNotThrow(() => validateOptions({ backfill_orders_per_second: 5, backfill_page_size: 10, admin_editors: ["owner@shop.example"] }))
})

test("medusa exec arguments", () => {
  assert.deepEqual(backfill.parseArgs(["from=2025-01-01", "--to=2025-02-01", "dry-run", "--restart", "orders-per-second=5"]), {
    from: "2025-01-01",
    to: "2025-02-01",
    dry_run: true,
    restart: true,
    orders_per_second: "5",
  })
  assert.throws(() => backfill.parseArgs(["form=2025-01-01"]), /unknown argument `form`/)
  assert.throws(() => backfill.parseArgs(["2025-01-01"]), /cannot read the argument/)
})

test("the lifecycle a backfill replays is the live subscribers' events", () => {
  const { EVENTS } = require("../../lib/v2/events")
  for (const l of backfill.LIFECYCLE) assert.ok(EVENTS[l.event], l.event)
  const order = {
    id: "order_1",
    canceled_at: null,
    fulfillments: [{ id: "ful_1", shipped_at: "2025-01-02" }, { id: "ful_2", shipped_at: null }],
    returns: [{ id: "ret_1", received_at: "2025-01-09" }, { id: "ret_2", received_at: null }],
  }
  const payloads = backfill.LIFECYCLE.flatMap((l) => l.of(order).map((data) => [l.event, data]))
  assert.deepEqual(payloads, [
    ["order.placed", { id: "order_1" }],
    ["shipment.created", { id: "ful_1" }],
    ["order.return_received", { order_id: "order_1", return_id: "ret_1" }],
  ])
})

test("the Admin API never shows a secret", () => {
  const shown = shownOptions({ write_key: "wk_secret_123", exchange_rates_api_key: "rates", host: "https://api.segment.io", flush_at: 20 })
  assert.deepEqual(shown, { write_key: "set", exchange_rates_api_key: "set", host: "https://api.segment.io", flush_at: 20 })
  assert.deepEqual(shownOptions({ writeKey: "" }), { writeKey: "not set" })
  assert.equal(shownOptions({}).write_key, "not set")
  // Medusa adds `database` (its URL) to the options object when it loads the plugin's module
  assert.deepEqual(shownOptions({ write_key: "k", database: { clientUrl: "postgres://u:pw@db/x" }, spool_url: "redis://:hunter2@cache:6379/0" }), {
    write_key: "set",
    spool_url: "redis://:***@cache:6379/0",
  })
})

test("the admin extension: the CommonJS twin is up to date and has Medusa's DashboardPlugin shape", () => {
  const root = path.join(__dirname, "..", "..")
  execFileSync(process.execPath, [path.join(root, "scripts", "build-admin.js"), "--check"], { stdio: "pipe" })
  // load the twin with stand-ins for react and @medusajs/ui (the dashboard provides the real ones)
  const Module = require("node:module")
  const orig = Module._load
  Module._load = function (request, ...rest) {
    if (request === "react") return { createElement: () => null, useCallback: (f) => f, useEffect() {}, useState: (v) => [v, () => {}] }
    if (request === "@medusajs/ui") return new Proxy({}, { get: (_, k) => k })
    return orig.call(this, request, ...rest)
  }
  let ext
  try {
    ext = require(path.join(root, ".medusa", "server", "src", "admin", "index.js")).default
  } finally {
    Module._load = orig
  }
  assert.deepEqual(ext.routeModule.routes.map((r) => r.path), ["/segment"])
  assert.equal(typeof ext.routeModule.routes[0].Component, "function")
  assert.deepEqual(ext.menuItemModule.menuItems.map((m) => [m.label, m.path]), [["Segment", "/segment"]])
  // a zone every supported Medusa (>= 2.8.3) has
  assert.deepEqual(ext.widgetModule.widgets.map((w) => w.zone), [["order.details.side.after"]])
  assert.deepEqual(ext.formModule, { customFields: {} })
  assert.deepEqual(ext.displayModule, { displays: {} })
  const pkg = require(path.join(root, "package.json"))
  assert.equal(pkg.exports["./admin"].import, "./.medusa/server/src/admin/index.mjs")
  assert.equal(pkg.exports["./admin"].require, "./.medusa/server/src/admin/index.js")
})
