"use strict"

// Checks of the plugin/provider options, with errors that name the option and
// the fix. The delivery options are checked by the native core
// (normalizeOptions), the reporting options here.

const native = require("../../native.js")
const { CORE_OPTIONS } = require("../../index.js")
const { validateSwitchboard } = require("../switchboard")
const { checkConsentOptions } = require("../attribution")

const PREFIX = "medusa-plugin-segment-rs"

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

function fail(option, what, value) {
  const got = value === undefined ? "" : ` (got ${JSON.stringify(value)})`
  throw new TypeError(`${PREFIX}: invalid option \`${option}\`: ${what}${got}`)
}

function checkReporting(o) {
  if (o.reporting_currency !== undefined && !/^[A-Za-z]{3}$/.test(String(o.reporting_currency))) {
    fail("reporting_currency", "must be a 3-letter ISO 4217 code such as \"EUR\"", o.reporting_currency)
  }
  if (o.use_ga_id !== undefined && typeof o.use_ga_id !== "boolean") {
    fail("use_ga_id", "must be true or false", o.use_ga_id)
  }
  if (o.exchange_rates_api_key !== undefined && o.exchange_rates_api_key !== null && typeof o.exchange_rates_api_key !== "string") {
    fail("exchange_rates_api_key", "must be a string")
  }
  if (o.exchange_rates_url !== undefined && !/^https?:\/\/\S+$/.test(String(o.exchange_rates_url))) {
    fail("exchange_rates_url", "must be an http:// or https:// URL", o.exchange_rates_url)
  }
  for (const k of ["exchange_rates_ttl", "exchange_rates_timeout"]) {
    const v = o[k]
    if (v !== undefined && !(Number.isInteger(v) && v >= 0)) fail(k, "must be a whole number of ms >= 0", v)
  }
}

// the backfill's pacing and the Admin page's editors (docs/backfill.md, docs/admin.md)
function checkBackfillAndAdmin(o) {
  for (const k of ["backfill_orders_per_second", "backfill_page_size"]) {
    const v = o[k]
    if (v !== undefined && !(typeof v === "number" && Number.isFinite(v) && v > 0)) fail(k, "must be a number > 0", v)
  }
  const e = o.admin_editors
  if (e !== undefined && e !== null && !(Array.isArray(e) && e.every((x) => typeof x === "string"))) {
    fail("admin_editors", "must be a list of e-mail addresses, e.g. [\"owner@shop.example\"]", e)
  }
}

/**
 * Throws a TypeError naming the first bad option. A missing write key is not
 * an error (as in v1: the store starts, delivery is disabled and one error is
 * logged).
 */
function validateOptions(options) {
  const o = normalizeOptions(options)
  const picked = {}
  for (const k of CORE_OPTIONS) if (o[k] !== undefined) picked[k] = o[k]
  native.normalizeOptions(JSON.stringify(picked))
  checkReporting(o)
  validateSwitchboard(o) // events, rename, exclude, enrich, event_map, order_completed_on
  checkConsentOptions(o)
  checkBackfillAndAdmin(o)
  return o
}

module.exports = { isBlank, normalizeOptions, validateOptions }
