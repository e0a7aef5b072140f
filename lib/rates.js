"use strict"

const { currencyCode } = require("./currency")
const { defaultOf } = require("./options")

// One native ExchangeRates (its cache and in-flight requests) per process and
// configuration: Medusa constructs the scoped segmentService over and over.
const shared = new Map()
// Start-up warnings already given, per configuration.
const warned = new Set()

let nativeModule
function native() {
  if (!nativeModule) nativeModule = require("./load-native.js")
  return nativeModule
}

function positiveInt(v) {
  const n = Number(v)
  return Number.isFinite(n) && n >= 0 ? Math.min(Math.floor(n), 0xffffffff) : undefined
}

/** The reporting settings of the plugin options, normalised. */
function reportingSettings(options = {}) {
  return {
    reportingCurrency: currencyCode(options.reporting_currency) || defaultOf("reporting_currency"),
    apiKey: typeof options.exchange_rates_api_key === "string" && options.exchange_rates_api_key
      ? options.exchange_rates_api_key
      : undefined,
    url: typeof options.exchange_rates_url === "string" && options.exchange_rates_url.trim()
      ? options.exchange_rates_url.trim()
      : undefined,
    ttlMs: positiveInt(options.exchange_rates_ttl),
    timeoutMs: positiveInt(options.exchange_rates_timeout),
  }
}

function keyOf(s) {
  return JSON.stringify([s.url || "", s.apiKey || "", s.ttlMs, s.timeoutMs])
}

/**
 * The shared native ExchangeRates for these options, or null when no
 * exchange_rates_api_key is set (then no request is ever made).
 */
function ratesFor(options) {
  const s = reportingSettings(options)
  if (!s.apiKey) return null
  const key = keyOf(s)
  let r = shared.get(key)
  if (!r) {
    const { ExchangeRates } = native()
    r = new ExchangeRates({ url: s.url, apiKey: s.apiKey, ttlMs: s.ttlMs, timeoutMs: s.timeoutMs })
    shared.set(key, r)
  }
  return r
}

/**
 * Warns once per process and configuration when orders in other currencies
 * will get reporting_* null because no exchange_rates_api_key is set.
 * `storeCurrencies` (codes, when known): no warning if none differs from the
 * reporting currency.
 */
function warnAboutReporting(options, logger, storeCurrencies) {
  const s = reportingSettings(options)
  const key = keyOf(s) + s.reportingCurrency
  if (warned.has(key)) return
  warned.add(key)
  if (s.apiKey) return
  let which = `currencies other than ${s.reportingCurrency}`
  if (Array.isArray(storeCurrencies)) {
    const other = [...new Set(storeCurrencies.map(currencyCode).filter((c) => c && c !== s.reportingCurrency))]
    if (other.length === 0) return
    which = other.join(", ")
  }
  logger.warn(
    `[segment] exchange_rates_api_key is not set, so orders in ${which} are sent with ` +
      `reporting_* values null (reporting_currency ${s.reportingCurrency}); no exchange-rate requests are made`
  )
}

module.exports = { ratesFor, reportingSettings, warnAboutReporting }
