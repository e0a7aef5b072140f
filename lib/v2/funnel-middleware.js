"use strict"

// The honest hooks for what Medusa 2.x emits no event about: applying or
// removing a promotion code (POST/DELETE /store/carts/:id/promotions) and
// creating a payment session (POST /store/payment-collections/:id/payment-sessions).
// A middleware on those store routes waits for the response; when the route
// succeeded it emits an event of our own on Medusa's event bus, which the
// funnel subscriber handles like cart.updated (in the worker, when there is one).
// The request itself is never delayed or failed by this.

const { lookup, loggerOf } = require("../container")
const funnel = require("./funnel")

function emitAfterSuccess(eventName) {
  return function segmentFunnelHook(req, res, next) {
    const id = req.params && req.params.id
    // (known once the module `segment` is loaded; until then, emit: the subscriber decides)
    const configured = funnel.configured()
    if (id && !(configured && configured.size === 0)) {
      res.on("finish", () => {
        if (res.statusCode < 200 || res.statusCode >= 300) return
        const bus = lookup(req.scope, "event_bus")
        if (!bus) return
        Promise.resolve()
          .then(() => bus.emit({ name: eventName, data: { id } }))
          .catch((err) => loggerOf(req.scope).warn(`[segment] cannot emit ${eventName} for ${id}: ${err && err.message}`))
      })
    }
    next()
  }
}

const routes = [
  { matcher: "/store/carts/:id/promotions", methods: ["POST", "DELETE"], middlewares: [emitAfterSuccess(funnel.PROMOTIONS_EVENT)] },
  {
    matcher: "/store/payment-collections/:id/payment-sessions",
    methods: ["POST"],
    middlewares: [emitAfterSuccess(funnel.PAYMENT_SESSION_EVENT)],
  },
]

module.exports = { routes, emitAfterSuccess }
