"use strict"
// Medusa subscriber for "swap.shipment_created"; the mapping to Segment calls is in lib/v1/events.js.
Object.defineProperty(exports, "__esModule", { value: true })
const { handler, config } = require("../lib/v1/events").subscriberFor("swap.shipment_created")
exports.default = handler
exports.config = config
