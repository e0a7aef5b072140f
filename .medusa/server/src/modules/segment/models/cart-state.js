"use strict"
// The funnel's last seen state of each open cart (lib/v2/cart-state.js reads
// and writes it under a row lock; the table is created by
// ../migrations/Migration20261207030000-cart-state.js).
Object.defineProperty(exports, "__esModule", { value: true })
const { model } = require("@medusajs/framework/utils")
exports.SegmentCartState = model.define("segment_cart_state", {
  id: model.text().primaryKey(), // the cart's id
  version: model.number().default(0), // transitions recorded so far; part of each event's messageId
  state: model.json().nullable(), // null: the cart was never seen
})
