"use strict"
// Medusa subscriber for "order.shipment_created"; the mapping to Segment calls is in lib/v1/events.js.
Object.defineProperty(exports, "__esModule", { value: true })
const { handler, config } = require("../lib/v1/events").subscriberFor("order.shipment_created")
exports.default = handler
exports.config = config
