"use strict"

// Checks of the plugin/provider options, with errors that name the option and
// the fix. The delivery options are checked by the native core
// (normalizeOptions), the reporting options here.

const native = require("../load-native")
const { OPTIONS, CORE_OPTIONS, checkOption, warnUnknownOptions } = require("../options")
const { validateSwitchboard } = require("../switchboard")
const { checkConsentOptions } = require("../attribution")

function isBlank(v) {
  return v === undefined || v === null || v === ""
}

/**
 * The options with Medusa's Segment guide spelling accepted: `writeKey` is
 * taken as `write_key`. Throws when both are set and differ.
 */
function normalizeOptions(options) {
  if (options === undefined || options === null) return {}
  if (typeof options !== "object" || Array.isArray(options)) {
    throw new TypeError("medusa-plugin-segment-rs: options must be an object")
  }
  if (isBlank(options.writeKey)) return options
  if (!isBlank(options.write_key) && options.write_key !== options.writeKey) {
    throw new TypeError(
      "medusa-plugin-segment-rs: options `write_key` and `writeKey` are both set and differ; keep one (`write_key`)"
    )
  }
  const out = { ...options, write_key: options.writeKey }
  delete out.writeKey
  return out
}

/** The options the JS reads (`check` in lib/options.js), in table order. */
function checkReporting(o) {
  for (const row of OPTIONS) {
    const err = checkOption(row.name, o[row.name])
    if (err) throw err
  }
}

/**
 * Throws a TypeError naming the first bad option. A missing write key is not
 * an error (as in v1: the store starts, delivery is disabled and one error is
 * logged). With a `logger`, unknown options are warned about (once per name).
 */
function validateOptions(options, logger) {
  if (logger) warnUnknownOptions(options, logger)
  const o = normalizeOptions(options)
  const picked = {}
  for (const k of CORE_OPTIONS) if (o[k] !== undefined) picked[k] = o[k]
  native.normalizeOptions(JSON.stringify(picked))
  checkReporting(o)
  validateSwitchboard(o) // events, rename, exclude, enrich, event_map, order_completed_on
  checkConsentOptions(o)
  return o
}

module.exports = { isBlank, normalizeOptions, validateOptions }
