"use strict"
// Plugin options JSON cannot carry (RegExps, functions) for the lifecycle e2e
// (__tests__/e2e-v2/lifecycle.test.js), added to E2E_SEGMENT_OPTIONS by
// e2e/v2/medusa-config.js through E2E_SEGMENT_OPTIONS_MODULE.
module.exports = {
  exclude: { emails: [/@excluded\.e2e\.test$/i] },
  // async, sees the order; throws for one event (the original must be sent)
  async enrich(message, { event, order }) {
    await new Promise((r) => setTimeout(r, 5))
    if (message.event === "Order Delivered") throw new Error("e2e: enrich fails on purpose")
    if (message.event === "Order Shipped") message.properties.enriched = { event, order_display_id: order && order.id ? order.id.slice(0, 6) : null }
    return message
  },
  event_map: {
    // a wishlist plugin's event, emitted on Medusa's bus with { id: product id, customer_id }
    "wishlist.product_added": {
      event: "Product Added to Wishlist",
      entity: "product",
      fields: ["id", "title", "handle"],
      properties: { product_id: "id", name: "title", handle: "handle" },
      user_id: "customer_id",
    },
  },
}
