"use strict"

// Runs once at Medusa start-up (plugin loaders run after services and
// subscribers are registered): constructs segmentService so configuration
// problems (missing write_key, no exchange_rates_api_key) are reported when
// the backend starts, not at the first order.

Object.defineProperty(exports, "__esModule", { value: true })

const { lookup, loggerOf } = require("../lib/container")
const { warnAboutReporting } = require("../lib/rates")

exports.default = async function segmentStartup(container, options) {
  warnAboutReporting(options || {}, loggerOf(container))
  // constructing the service logs a missing write_key once
  lookup(container, "segmentService")
}
