"use strict"
// What the last identify this backend sent for a customer was (a hash of its
// traits), and whether identifies stopped (customer.deleted). lib/v2/customers.js.
Object.defineProperty(exports, "__esModule", { value: true })
const { model } = require("@medusajs/framework/utils")
const SegmentIdentifyState = model.define("segment_identify_state", {
  id: model.id({ prefix: "segid" }).primaryKey(),
  customer_id: model.text().unique(),
  traits_hash: model.text(),
  stopped: model.boolean().default(false),
})
exports.SegmentIdentifyState = SegmentIdentifyState
exports.default = SegmentIdentifyState
