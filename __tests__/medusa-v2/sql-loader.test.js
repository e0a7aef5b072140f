"use strict"

// The SQL order loader's guards (lib/v2/sql-loader.js): it answers every
// order row of the events' field table, it is skipped with order_loader
// "query", and when it cannot be used it says so once and the query graph
// answers from then on. That its orders give the query graph's calls is
// proven on a real Medusa: __tests__/e2e-v2/sql-loader.test.js.

const test = require("node:test")
const assert = require("node:assert/strict")

const { recordingLogger } = require("../medusa/fixtures")
const { fakeQuery, container } = require("./fixtures")
const { FIELDS, buildCalls } = require("../../lib/v2/events")
const sqlLoader = require("../../lib/v2/sql-loader")
const { validateOptions } = require("../../lib/v2/options")

let seq = 0
const options = (extra = {}) => ({ write_key: "wk_v2_sql_loader_4Rt", host: "http://127.0.0.1:9", flush_interval: 60 + seq++, ...extra })

// the order table's columns (2.21.2)
const ORDER_COLUMNS = new Set(
  "id display_id custom_display_id region_id customer_id version sales_channel_id status is_draft_order email currency_code locale no_notification metadata canceled_at shipping_address_id billing_address_id created_at updated_at deleted_at".split(" ")
)

test("the SQL loader answers the order, fulfillment, exchange, return and claim rows of every event, with use_ga_id's cart metadata too", () => {
  for (const [event, row] of Object.entries(FIELDS)) {
    if (!row.order || event.startsWith("customer.")) continue
    assert.ok(sqlLoader.answers(row.order, ORDER_COLUMNS), `${event}: ${row.order.filter((f) => !sqlLoader.answers([f], ORDER_COLUMNS))}`)
    assert.ok(sqlLoader.answers([...row.order, "cart.metadata"], ORDER_COLUMNS), `${event} with use_ga_id`)
  }
  const exchangeColumns = new Set("id order_id return_id order_version display_id no_notification difference_due allow_backorder created_by metadata canceled_at created_at updated_at deleted_at".split(" "))
  const returnColumns = new Set("id order_id order_version display_id status location_id no_notification refund_amount created_by metadata requested_at received_at canceled_at exchange_id claim_id created_at updated_at deleted_at".split(" "))
  const claimColumns = new Set("id order_id return_id order_version display_id type no_notification refund_amount created_by canceled_at metadata created_at updated_at deleted_at".split(" "))
  const fulfillmentColumns = new Set("id location_id packed_at shipped_at delivered_at canceled_at created_at updated_at deleted_at".split(" "))
  for (const [event, row] of Object.entries(FIELDS)) {
    if (row.fulfillment) assert.ok(sqlLoader.answersFulfillment(row.fulfillment, fulfillmentColumns), `${event}: fulfillment`)
    if (row.order_exchange) assert.ok(sqlLoader.answersExchange(row.order_exchange, exchangeColumns), `${event}: exchanges`)
    if (row.return) assert.ok(sqlLoader.answersReturn(row.return, returnColumns), `${event}: returns`)
    if (row.order_claim) assert.ok(sqlLoader.answersClaim(row.order_claim, claimColumns), `${event}: claim`)
  }
  assert.equal(sqlLoader.answers(["id", "items.variant.product.*"], ORDER_COLUMNS), false, "a relation it does not read: the query graph")
  assert.equal(sqlLoader.answers(["id", "no_such_column"], ORDER_COLUMNS), false)
})

/** A PG connection (knex) that records its statements and answers with `answer(sql)`. */
function recordingPg(answer) {
  const statements = []
  return {
    statements,
    async raw(sql, bindings) {
      statements.push({ sql, bindings })
      return answer(sql, bindings)
    },
  }
}

test('order_loader "query": the PG connection is not touched', async () => {
  const pg = recordingPg(() => {
    throw new Error("must not be called")
  })
  const query = fakeQuery()
  const logger = recordingLogger()
  const calls = await buildCalls("order.placed", { id: "order_eur" }, container({ query, logger, __pg_connection__: pg }), options({ order_loader: "query" }))
  assert.equal(calls.filter((c) => c.method === "track").length, 1)
  assert.equal(pg.statements.length, 0)
  assert.deepEqual(query.calls.map((c) => c.entity), ["order"])
  assert.deepEqual(logger.lines.filter(([l, m]) => l === "warn" && /SQL order loader/.test(m)), [])
})

test("a loader that cannot be used is logged once, and the query graph answers every event, the same calls", async () => {
  // no database tables (or, here, no @medusajs/framework to total with): off for this connection
  const pg = recordingPg((sql) => {
    if (/information_schema/.test(sql)) return { rows: [] }
    throw new Error("the order statement must not run")
  })
  const logger = recordingLogger()
  const opts = options()
  const viaQuery = await buildCalls("order.placed", { id: "order_eur" }, container({ query: fakeQuery(), logger: recordingLogger() }), options({ order_loader: "query" }))
  for (let i = 0; i < 3; i++) {
    const query = fakeQuery()
    const calls = await buildCalls("order.placed", { id: "order_eur" }, container({ query, logger, __pg_connection__: pg }), opts)
    assert.deepEqual(
      calls.map((c) => c.message.properties || c.message.traits),
      viaQuery.map((c) => c.message.properties || c.message.traits)
    )
    assert.deepEqual(query.calls.map((c) => c.entity), ["order"], "the query graph read the order")
  }
  const warns = logger.lines.filter(([l]) => l === "warn")
  assert.equal(warns.length, 1, JSON.stringify(warns))
  assert.match(warns[0][1], /SQL order loader cannot be used \((.+)\); orders are read through Medusa's query graph from now on/)
  assert.ok(pg.statements.length <= 1, "checked at most once")
  assert.ok(!pg.statements.some((s) => /FROM "order" o/.test(s.sql)))
})

test("option order_loader: sql or query; anything else is an error naming it", () => {
  assert.doesNotThrow(() => validateOptions({ order_loader: "sql" }))
  assert.doesNotThrow(() => validateOptions({ order_loader: "query" }))
  assert.throws(() => validateOptions({ order_loader: "raw" }), /invalid option `order_loader`: must be "sql" .* or "query"/)
})

test("a statement that fails (a schema that changed under the running process): logged once, the query graph answers from then on", async (t) => {
  // Medusa's totals helpers where the loader looks for them (the store's
  // @medusajs/framework, from its directory); this test never reaches them
  const fs = require("node:fs")
  const os = require("node:os")
  const path = require("node:path")
  const store = fs.mkdtempSync(path.join(os.tmpdir(), "sql-loader-store-"))
  const pkg = path.join(store, "node_modules", "@medusajs", "framework")
  fs.mkdirSync(pkg, { recursive: true })
  fs.writeFileSync(path.join(pkg, "package.json"), JSON.stringify({ name: "@medusajs/framework", exports: { "./utils": "./utils.js" } }))
  fs.writeFileSync(path.join(pkg, "utils.js"), "exports.decorateCartTotals = (o) => o\nexports.createRawPropertiesFromBigNumber = (o) => o\n")
  const cwd = process.cwd()
  process.chdir(store)
  t.after(() => {
    process.chdir(cwd)
    fs.rmSync(store, { recursive: true, force: true })
  })

  const columns = Object.entries(sqlLoader.REQUIRED).flatMap(([table, cols]) => [...cols, "deleted_at", ...(table === "order" ? ORDER_COLUMNS : [])].map((c) => ({ table_name: table, column_name: c })))
  const pg = recordingPg((sql) => {
    if (/information_schema/.test(sql)) return { rows: columns }
    throw new Error('column oi.raw_quantity does not exist')
  })
  const logger = recordingLogger()
  const opts = options()
  const viaQuery = await buildCalls("order.placed", { id: "order_eur" }, container({ query: fakeQuery(), logger: recordingLogger() }), options({ order_loader: "query" }))
  for (let i = 0; i < 2; i++) {
    const query = fakeQuery()
    const calls = await buildCalls("order.placed", { id: "order_eur" }, container({ query, logger, __pg_connection__: pg }), opts)
    assert.deepEqual(
      calls.map((c) => c.message.properties || c.message.traits),
      viaQuery.map((c) => c.message.properties || c.message.traits)
    )
    assert.deepEqual(query.calls.map((c) => c.entity), ["order"])
  }
  const orderStatements = pg.statements.filter((s) => /FROM "order" o WHERE o.id = \?/.test(s.sql))
  assert.equal(orderStatements.length, 1, "tried once")
  assert.deepEqual(orderStatements[0].bindings, ["order_eur"], "parameterised")
  const warns = logger.lines.filter(([l, m]) => l === "warn" && /SQL order loader/.test(m))
  assert.equal(warns.length, 1, JSON.stringify(warns))
  assert.match(warns[0][1], /the SQL order loader failed on order order_eur \(column oi\.raw_quantity does not exist\); orders are read through Medusa's query graph from now on/)
})
