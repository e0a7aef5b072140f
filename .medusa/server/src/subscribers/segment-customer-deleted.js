"use strict"
// Medusa 2.x subscriber for "customer.deleted"; the mapping to Segment calls is in lib/v2/customers.js (via lib/v2/events.js).
Object.defineProperty(exports, "__esModule", { value: true })
const { handler, config } = require("../../../../lib/v2/events").subscriberFor("customer.deleted")
exports.default = handler
exports.config = config
