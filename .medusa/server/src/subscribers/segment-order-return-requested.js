"use strict"
// Medusa 2.x subscriber for "order.return_requested"; the mapping to Segment calls is in lib/v2/lifecycle.js (via lib/v2/events.js).
Object.defineProperty(exports, "__esModule", { value: true })
const { handler, config } = require("../../../../lib/v2/events").subscriberFor("order.return_requested")
exports.default = handler
exports.config = config
