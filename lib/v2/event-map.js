"use strict"

// Option `event_map` (Medusa 2.x): any Medusa event (a review or wishlist
// plugin's) -> a Segment track, declared in the plugin options:
//
//   event_map: {
//     "product_review.created": {
//       event: "Product Reviewed",          // the Segment event
//       entity: "product_review",           // optional: load it through the query graph ...
//       fields: ["id", "rating", "content", "product_id", "customer_id"],  // ... with these fields
//       id_from: "id",                      // the payload field holding the entity id (default "id")
//       properties: { review_id: "id", rating: "rating", product_id: "product_id" },  // default: every loaded field
//       user_id: "customer_id",             // field path of the userId, in the loaded record, else in the payload
//                                           // (without one: anonymousId "<medusa event>-<id>")
//     },
//   }
//
// Without `entity` the properties come from the event's payload. messageId:
// medusa-<medusa event>-<id>. The subscriptions are made when the application
// starts (the `segment` module's onApplicationStart hook), for exactly the
// mapped events. auth.* events are refused by the option check.

const { pick } = require("../switchboard")
const { NEVER_FORWARD } = require("../catalog")
const { messageId } = require("../order-mapping")

/** The mapping entry of one event_map key: { calls(data, ctx) } as in lib/v2/events.js. */
function mapEntry(medusaEvent, spec, graphOne) {
  return {
    async calls(data, ctx) {
      const id = pick(data, spec.id_from || "id")
      let record = data
      if (spec.entity) {
        if (id === undefined || id === null) throw new Error(`the ${medusaEvent} payload has no ${spec.id_from || "id"}`)
        record = await graphOne(ctx, spec.entity, spec.fields, { id })
        if (!record) throw new Error(`${spec.entity} ${id} not found`)
      }
      let properties
      if (spec.properties) {
        properties = {}
        for (const [name, path] of Object.entries(spec.properties)) {
          const v = pick(record, path)
          if (v !== undefined) properties[name] = v
        }
      } else {
        properties = { ...record }
      }
      let userId = spec.user_id ? pick(record, spec.user_id) : undefined
      if (spec.user_id && (userId === undefined || userId === null)) userId = pick(data, spec.user_id)
      const who = userId ? { userId: String(userId) } : { anonymousId: `${medusaEvent}-${id}` }
      const timestamp = (record && (record.created_at || record.updated_at)) || new Date()
      return [{ method: "track", message: { event: spec.event, ...who, properties, timestamp, messageId: messageId(medusaEvent, id) } }]
    },
  }
}

/** The Medusa application's container (the module's own container has no query graph). */
function appContainer() {
  return require("@medusajs/framework").container
}

/**
 * Subscribes to every event_map event on the event bus (from the `segment`
 * module's container). Never throws: a failure is logged.
 */
async function subscribeAll(moduleContainer, options) {
  const map = (options && options.event_map) || {}
  const names = Object.keys(map).filter((n) => !NEVER_FORWARD.test(n))
  if (!names.length) return 0
  let logger = console
  try {
    logger = moduleContainer.logger || console
    const bus = moduleContainer.event_bus
    if (!bus || typeof bus.subscribe !== "function") throw new Error("no event bus")
    const events = require("./events")
    for (const name of names) {
      const entry = mapEntry(name, map[name], events.graphOne)
      const subscriber = async (event) => {
        await events.runEvent(name, event && event.data, appContainer(), options, entry)
      }
      bus.subscribe(name, subscriber, { subscriberId: `segment-event-map-${name.replace(/[^A-Za-z0-9]+/g, "-")}` })
    }
    logger.info(`[segment] event_map: subscribed to ${names.join(", ")}`)
    return names.length
  } catch (err) {
    logger.error(`[segment] event_map: cannot subscribe (${(err && err.message) || err}); the mapped events are not sent`)
    return 0
  }
}

module.exports = { mapEntry, subscribeAll }
