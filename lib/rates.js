"use strict"

const { currencyCode } = require("./currency")

// One native ExchangeRates (its cache and in-flight requests) per process and
// configuration: Medusa constructs the scoped segmentService over and over.
const shared = new Map()
// Start-up warnings already given, per configuration.
const warned = new Set()

let nativeModule
function native() {
  if (!nativeModule) nativeModule = require("../native.js")
  return nativeModule
}

function positiveInt(v) {
  const n = Number(v)
  return Number.isFinite(n) && n >= 0 ? Math.min(Math.floor(n), 0xffffffff) : undefined
}

/** The reporting settings of the plugin options, normalised. */
function reportingSettings(options = {}) {
  return {
    reportingCurrency: currencyCode(options.reporting_currency) || "EUR",
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

/** Warns once per process and configuration about settings that null reporting_*. */
function warnAboutReporting(options, logger) {
  const s = reportingSettings(options)
  const key = keyOf(s) + s.reportingCurrency
  if (warned.has(key)) return
  warned.add(key)
  if (!s.apiKey) {
    logger.warn(
      `segment: exchange_rates_api_key is not set, so orders in currencies other than ` +
        `${s.reportingCurrency} (reporting_currency) are sent with reporting_* values null; ` +
        `no exchange-rate requests are made`
    )
  }
}

module.exports = { ratesFor, reportingSettings, warnAboutReporting }
