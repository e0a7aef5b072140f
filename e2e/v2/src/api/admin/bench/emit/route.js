// Bench only: re-emits a Medusa event for existing records, so the bench
// measures the subscribers' cost on the same records without creating new
// ones: { "event": "order.placed", "ids": [...] } (data { id }) or
// { "event": "order.return_received", "data": [{ order_id, return_id }, ...] }.
const { Modules } = require("@medusajs/framework/utils")

exports.POST = async function emit(req, res) {
  const { event, ids, data } = req.body || {}
  const payloads = data || ids.map((id) => ({ id }))
  const bus = req.scope.resolve(Modules.EVENT_BUS)
  await bus.emit(payloads.map((d) => ({ name: event, data: d })))
  res.json({ emitted: payloads.length })
}
