"use strict"
// Medusa 2.x subscriber of the cart and checkout events (opt-in); the code is in lib/v2/funnel.js.
Object.defineProperty(exports, "__esModule", { value: true })
const { handler, config } = require("../../../../lib/v2/funnel").subscriber()
exports.default = handler
exports.config = config
