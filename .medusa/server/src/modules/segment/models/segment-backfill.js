"use strict"
// One backfill run (lib/v2/backfill.js): its date range, its cursor (the last
// order sent, in (created_at, id) order) and its progress. A rerun of the
// same range continues after the cursor, so it sends nothing twice.
Object.defineProperty(exports, "__esModule", { value: true })
const { model } = require("@medusajs/framework/utils")
exports.SegmentBackfill = model.define("segment_backfill", {
  id: model.id({ prefix: "segbf" }).primaryKey(),
  // the range as asked ("" = open): one run per range
  range_key: model.text().unique(),
  from_date: model.dateTime().nullable(),
  to_date: model.dateTime().nullable(),
  status: model.enum(["queued", "running", "done", "failed"]).default("queued"),
  // the cursor's created_at as text with PostgreSQL's microseconds (a JS Date keeps ms only)
  cursor_created_at: model.text().nullable(),
  cursor_order_id: model.text().nullable(),
  total: model.number().default(0),
  done: model.number().default(0),
  messages: model.number().default(0),
  // messages per Segment call/event name, and orders that failed
  counts: model.json().nullable(),
  // { rate (orders/s), eta_seconds } of the current session
  progress: model.json().nullable(),
  started_at: model.dateTime().nullable(),
  // the process sending it ("host:pid") and its last sign of life
  owner: model.text().nullable(),
  heartbeat_at: model.dateTime().nullable(),
  finished_at: model.dateTime().nullable(),
  error: model.text().nullable(),
})
