"use strict"

// Runs once at Medusa start-up (plugin loaders run after services and
// subscribers are registered): constructs segmentService so configuration
// problems (missing write_key, no exchange_rates_api_key) are reported when
// the backend starts, not at the first order.

Object.defineProperty(exports, "__esModule", { value: true })

const { lookup, loggerOf } = require("../lib/container")
const { warnAboutReporting } = require("../lib/rates")
const { validateSwitchboard } = require("../lib/switchboard")
const { checkConsentOptions } = require("../lib/attribution")

/** Currency codes of the store, or null when they cannot be read. */
async function storeCurrencies(container) {
  try {
    const storeService = lookup(container, "storeService")
    if (!storeService) return null
    const store = await storeService.retrieve({ relations: ["currencies"] })
    const codes = (store.currencies || []).map((c) => c.code)
    if (store.default_currency_code) codes.push(store.default_currency_code)
    return codes
  } catch (_) {
    return null
  }
}

exports.default = async function segmentStartup(container, options) {
  const logger = loggerOf(container)
  // a misconfigured switchboard stops the start with an error naming the option
  for (const k of validateSwitchboard(options || {})) logger.warn(`[segment] option events["${k}"] names no event this plugin sends`)
  try {
    checkConsentOptions(options)
  } catch (err) {
    // as with a missing write key, v1 starts: a bad consent_mode is applied as "anonymize" (nothing identifying is sent)
    logger.error(`[segment] ${err.message}; until it is fixed, events whose consent category is false are sent anonymized`)
  }
  try {
    warnAboutReporting(options || {}, logger, await storeCurrencies(container))
    // constructing the service logs a missing write_key once
    lookup(container, "segmentService")
  } catch (err) {
    logger.warn(`[segment] start-up check failed: ${err && err.message}`)
  }
}
