// User code, as a store owner would write it: a custom store route that
// tracks through the Analytics Module (whatever provider medusa-config loads).
const { Modules } = require("@medusajs/framework/utils")

exports.POST = async function track(req, res) {
  const analytics = req.scope.resolve(Modules.ANALYTICS)
  const { event, actor_id, properties } = req.body || {}
  await analytics.track({ event, actor_id, properties })
  res.json({ tracked: event })
}
