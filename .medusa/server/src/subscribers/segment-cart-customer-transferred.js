"use strict"
// Medusa 2.x subscriber for "cart.customer_transferred"; the mapping to Segment calls is in lib/v2/events.js.
Object.defineProperty(exports, "__esModule", { value: true })
const { handler, config } = require("../../../../lib/v2/events").subscriberFor("cart.customer_transferred")
exports.default = handler
exports.config = config
