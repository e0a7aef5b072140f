// Bench only: re-emits a Medusa event for existing records, e.g.
// { "event": "order.placed", "ids": [...] }, so the bench measures the
// subscribers' cost on the same orders without placing new ones.
const { Modules } = require("@medusajs/framework/utils")

exports.POST = async function emit(req, res) {
  const { event, ids } = req.body || {}
  const bus = req.scope.resolve(Modules.EVENT_BUS)
  await bus.emit(ids.map((id) => ({ name: event, data: { id } })))
  res.json({ emitted: ids.length })
}
