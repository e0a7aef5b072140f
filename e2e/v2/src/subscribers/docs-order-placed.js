// Bench only: the guide's order.placed subscriber, which runs its workflow.
// Listens only in E2E_V2_MODE=docs (elsewhere to an event nobody emits).
const { trackOrderPlacedWorkflow } = require("../workflows/track-order-placed")

exports.default = async function orderPlacedHandler({ event, container }) {
  await trackOrderPlacedWorkflow(container).run({ input: { id: event.data.id } })
}

exports.config = { event: process.env.E2E_V2_MODE === "docs" ? "order.placed" : "e2e.docs-example-off" }
