"use strict"

// The SegmentService Medusa uses: `segmentService` in a Medusa 1.x container
// (services/segment.js) and the client of the 2.x subscribers
// (lib/v2/client.js). The delivery (queue, batches, retries, flush) is the
// core client's (lib/client/service.js); this layer adds what
// medusa-plugin-segment's service had: buildOrder, getReportingValue and the
// reporting currency.
//
// Medusa builds it as `new SegmentService(cradle, pluginOptions)`, once per
// resolution scope; everything expensive (native client, exchange-rate cache)
// is shared per process and configuration, and the Medusa services it uses
// are looked up in the cradle only when needed (the cradle throws for unknown
// names, and standalone use has none).

Object.defineProperty(exports, "__esModule", { value: true })

const { SegmentService: CoreSegmentService } = require("./client/service")
const { lookup, loggerOf } = require("./container")
const { currencyCode, roundAmount, roundTo } = require("./currency")
const { ratesFor, reportingSettings, warnAboutReporting } = require("./rates")
const { reporting } = require("./order-mapping")
const { buildOrderProperties } = require("./v1/order")
const { withMedusaSpoolDefault } = require("./spool")

class SegmentService extends CoreSegmentService {
  /**
   * @param {object} container Medusa cradle, or {} outside Medusa
   * @param {object} options   plugin options (see medusa-config.example.js)
   */
  constructor(container, options) {
    // In Medusa the spool is on by default: the store's Redis, else disk (lib/spool.js); options_ stays as given.
    super(container || {}, withMedusaSpoolDefault(options || {}, container))
    const opts = options || {}
    this.options_ = opts
    Object.defineProperty(this, "container_", { value: container || {}, enumerable: false })
    this.reportingCurrency_ = reportingSettings(opts).reportingCurrency
    this.rates_ = ratesFor(opts)
    warnAboutReporting(opts, this.logger_ || loggerOf(this.container_))
  }

  // Medusa services, resolved on use.
  get totalsService_() {
    return lookup(this.container_, "totalsService")
  }

  get productService_() {
    return lookup(this.container_, "productService")
  }

  get lineItemService_() {
    return lookup(this.container_, "lineItemService")
  }

  /** Logger used by this layer (the container's, else console). */
  get log_() {
    return loggerOf(this.container_)
  }

  /**
   * Units of `currency` per one unit of the reporting currency; 1 for the
   * reporting currency itself; null when no rate can be had (no API key, the
   * exchange-rate service failing or unreachable).
   */
  async reportingRate(currency) {
    const now = this.cachedReportingRate(currency)
    if (now !== undefined) return now
    const from = currencyCode(currency)
    let rate = null
    try {
      rate = await this.rates_.getRate(from, this.reportingCurrency_)
    } catch (err) {
      this.log_.warn(`segment: exchange rate ${from}->${this.reportingCurrency_} failed: ${err && err.message}`)
    }
    for (const w of this.rates_.takeWarnings()) this.log_.warn(w)
    return typeof rate === "number" && rate > 0 ? rate : null
  }

  /**
   * reportingRate's answer when it needs no wait: the reporting currency
   * itself, no exchange_rates_api_key, or a rate (or failure) the exchange-rate
   * cache holds; undefined when only reportingRate can tell.
   */
  cachedReportingRate(currency) {
    const from = currencyCode(currency)
    if (!from) return null
    if (from === this.reportingCurrency_) return 1
    if (!this.rates_) return null
    const rate = this.rates_.cachedRate(from, this.reportingCurrency_)
    if (typeof rate !== "number") return undefined
    return rate > 0 ? rate : null
  }

  /**
   * `value` (major units of `currency`) in the reporting currency, rounded to
   * its minor unit; null when no exchange rate can be had. Never rejects.
   */
  async getReportingValue(currency, value) {
    const rate = await this.reportingRate(currency)
    return reporting(value, { rate, reportingCurrency: this.reportingCurrency_ })
  }

  /** The `properties` of the order events for `order` (one rate lookup per order). */
  async buildOrder(order) {
    const rate = await this.reportingRate(order.currency_code)
    return buildOrderProperties(order, {
      currency: order.currency_code,
      reportingCurrency: this.reportingCurrency_,
      rate,
      totalsService: this.totalsService_,
      productService: this.productService_,
      logger: this.log_,
    })
  }

  /** 1.3.5's helper: rounds to 2 decimals. */
  rounded_(v) {
    return roundTo(v, 2)
  }

  /** Rounds to the minor unit of `currency`. */
  roundAmount(value, currency) {
    return roundAmount(value, currency)
  }
}

exports.default = SegmentService
exports.SegmentService = SegmentService
