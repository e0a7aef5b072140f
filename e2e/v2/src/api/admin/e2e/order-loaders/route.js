// Test only (__tests__/e2e-v2/sql-loader.test.js): the Segment calls one
// event's payload makes, built once with the order read by SQL and once by
// the query graph (option order_loader), without sending them; and the two
// order objects (customer.*: the identify state forgotten before each). { "event": "order.placed", "data": { "id": "order_..." } }
// -> { sql: { calls, order }, query: { calls, order } }.

const base = JSON.parse(process.env.E2E_SEGMENT_OPTIONS || "{}")
// one options object per loader: the plugin keeps one client per options object
const OPTIONS = { sql: { ...base, order_loader: "sql" }, query: { ...base, order_loader: "query" } }

exports.POST = async function orderLoaders(req, res) {
  const { buildCalls, EVENTS } = require("medusa-plugin-segment-rs/lib/v2/events")
  const { answered } = require("medusa-plugin-segment-rs/lib/v2/sql-loader")
  const { event, data } = req.body || {}
  const container = req.scope
  const out = {}
  for (const loader of ["sql", "query"]) {
    // customer.* claim the identify state: forgotten before each build, so both send the identify
    // (without the plugin's migration there is no state, and both send it anyway)
    if (event.startsWith("customer.") && data && data.id) {
      const pg = container.resolve("__pg_connection__")
      const { rows } = await pg.raw("SELECT to_regclass('segment_identify_state') IS NOT NULL AS there")
      if (rows[0].there) await pg.raw("DELETE FROM segment_identify_state WHERE customer_id = ?", [data.id])
    }
    const before = { ...answered }
    // the order as loadOrder returned it: the calls keep it for the switchboard (not sent)
    const calls = await buildCalls(event, data, container, OPTIONS[loader])
    const order = (calls.find((c) => c.order) || {}).order || null
    // what the SQL loader answered for this build, per kind
    const bySql = Object.fromEntries(Object.keys(answered).filter((k) => answered[k] !== (before[k] || 0)).map((k) => [k, answered[k] - (before[k] || 0)]))
    out[loader] = { calls: calls.map((c) => ({ method: c.method, message: c.message })), order, bySql }
  }
  res.json({ ...out, known: Boolean(EVENTS[event]) })
}
