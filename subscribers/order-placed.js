"use strict"
// Medusa subscriber for "order.placed"; the mapping to Segment calls is in lib/events.js.
Object.defineProperty(exports, "__esModule", { value: true })
const { handler, config } = require("../lib/events").subscriberFor("order.placed")
exports.default = handler
exports.config = config
