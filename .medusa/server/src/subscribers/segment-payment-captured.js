"use strict"
// Medusa 2.x subscriber for "payment.captured"; the mapping to Segment calls is in lib/v2/lifecycle.js (via lib/v2/events.js).
Object.defineProperty(exports, "__esModule", { value: true })
const { handler, config } = require("../../../../lib/v2/events").subscriberFor("payment.captured")
exports.default = handler
exports.config = config
