"use strict"
// Shared bits of the core tests: a capturing logger and fast options.

const { SegmentService } = require("../..")

/** A Medusa-like logger that records every line. */
function captureLogger() {
  const lines = []
  const rec = (level) => (msg) => lines.push({ level, msg: String(msg) })
  return { lines, info: rec("info"), warn: rec("warn"), error: rec("error") }
}

/** Options that keep tests fast: short interval and backoff. */
function fastOptions(srv, extra = {}) {
  return {
    write_key: "wk_test_SECRET_do_not_print",
    host: srv.url,
    flush_interval: 50,
    min_retry_delay: 20,
    max_retry_delay: 200,
    ...extra,
  }
}

function makeService(srv, extra = {}, logger = captureLogger()) {
  const service = new SegmentService({ logger }, fastOptions(srv, extra))
  return { service, logger }
}

function track(service, i, extra = {}) {
  service.track({ userId: `user-${i}`, event: "Order Completed", properties: { i }, ...extra })
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms))

module.exports = { captureLogger, fastOptions, makeService, track, sleep }
