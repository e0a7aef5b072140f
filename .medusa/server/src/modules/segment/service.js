"use strict"
// The `segment` module's service: MedusaService over every model in ./models,
// plus what lib/v2/segment-module.js adds (identify state with an atomic SQL
// claim, the event_map subscriptions at start).
Object.defineProperty(exports, "__esModule", { value: true })
const { MedusaService } = require("@medusajs/framework/utils")
const models = require("./models")
const { withSegmentModule } = require("../../../../../lib/v2/segment-module")
exports.default = withSegmentModule(MedusaService(models))
