// Bench only (E2E_V2_MODE=docs): the guide's workflow — load the order
// through the query graph, then a step that tracks it through the Analytics
// Module under the Medusa event's name.
const { createStep, createWorkflow, StepResponse, transform } = require("@medusajs/framework/workflows-sdk")
const { useQueryGraphStep } = require("@medusajs/medusa/core-flows")
const { Modules } = require("@medusajs/framework/utils")

const trackEventStep = createStep("docs-track-event", async (input, { container }) => {
  await container.resolve(Modules.ANALYTICS).track(input)
  return new StepResponse()
})

const trackOrderPlacedWorkflow = createWorkflow("docs-track-order-placed", (input) => {
  const { data: orders } = useQueryGraphStep({
    entity: "order",
    fields: ["*", "customer.*", "items.*"],
    filters: { id: input.id },
  })
  const event = transform({ orders }, ({ orders }) => ({
    event: "order.placed",
    actor_id: orders[0].customer_id,
    properties: {
      order_id: orders[0].id,
      total: orders[0].total,
      currency: orders[0].currency_code,
      items: orders[0].items.map((i) => ({ variant_id: i.variant_id, product_id: i.product_id, quantity: i.quantity })),
      customer_id: orders[0].customer_id,
    },
  }))
  trackEventStep(event)
})

module.exports = { trackOrderPlacedWorkflow }
