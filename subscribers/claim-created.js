"use strict"
// Medusa subscriber for "claim.created"; the mapping to Segment calls is in lib/v1/events.js.
Object.defineProperty(exports, "__esModule", { value: true })
const { handler, config } = require("../lib/v1/events").subscriberFor("claim.created")
exports.default = handler
exports.config = config
