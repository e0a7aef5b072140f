"use strict"
// Medusa subscriber for "swap.payment_completed"; the mapping to Segment calls is in lib/v1/events.js.
Object.defineProperty(exports, "__esModule", { value: true })
const { handler, config } = require("../lib/v1/events").subscriberFor("swap.payment_completed")
exports.default = handler
exports.config = config
