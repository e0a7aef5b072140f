"use strict"
// Medusa subscriber for "order.items_returned"; the mapping to Segment calls is in lib/v1/events.js.
Object.defineProperty(exports, "__esModule", { value: true })
const { handler, config } = require("../lib/v1/events").subscriberFor("order.items_returned")
exports.default = handler
exports.config = config
