"use strict"

// services/segment.js (segmentService), rounding/currency helpers, the
// exchange-rate cache as seen from JavaScript, and the start-up loader.

const test = require("node:test")
const assert = require("node:assert/strict")

const h = require("./harness")
const { recordingLogger, cradle, makeOrder, item } = require("./fixtures")
const currency = require("../../lib/currency")
const serviceModule = require("../../services/segment.js")
const SegmentService = serviceModule.default

test("currency: minor units, humanizing and rounding", () => {
  assert.equal(currency.decimals("eur"), 2)
  assert.equal(currency.decimals("JPY"), 0)
  assert.equal(currency.decimals("krw"), 0)
  assert.equal(currency.decimals(undefined), 2)
  assert.equal(currency.currencyCode(" usd "), "USD")
  assert.equal(currency.currencyCode(""), null)
  assert.equal(currency.humanize(2950, "eur"), 29.5)
  assert.equal(currency.humanize(1980, "jpy"), 1980)
  assert.equal(currency.humanize(15900, "KRW"), 15900)
  assert.equal(currency.humanize(null, "eur"), 0)
  assert.equal(currency.humanize(undefined, "eur"), null)
  assert.equal(currency.roundAmount(41.2 - 11.7, "EUR"), 29.5)
  assert.equal(currency.roundAmount(1.005, "EUR"), 1.01)
  assert.equal(currency.roundAmount(-1.005, "EUR"), -1.01)
  assert.equal(currency.roundAmount(9400 / 3, "JPY"), 3133)
  assert.equal(currency.roundAmount(-0.004, "EUR"), 0)
  assert.ok(!Object.is(currency.roundAmount(-0.004, "EUR"), -0))
  assert.equal(currency.roundAmount("12.345", "usd"), 12.35)
  assert.equal(currency.roundAmount(NaN, "usd"), null)
  for (const c of ["BIF", "CLP", "DJF", "GNF", "JPY", "KMF", "KRW", "MGA", "PYG", "RWF", "UGX", "VND", "VUV", "XAF", "XOF", "XPF"]) {
    assert.equal(currency.decimals(c.toLowerCase()), 0, c)
  }
})

test("services/segment.js is what Medusa's loader expects", () => {
  assert.equal(serviceModule.__esModule, true)
  assert.equal(typeof SegmentService, "function")
  const s = new SegmentService(cradle({ logger: recordingLogger() }), { write_key: "k", enabled: false })
  for (const m of ["track", "identify", "buildOrder", "getReportingValue", "flush", "shutdown"]) {
    assert.equal(typeof s[m], "function", m)
  }
  assert.deepEqual(s.options_, { write_key: "k", enabled: false })
})

test("Medusa services are looked up only when used (the cradle throws for unknown names)", async () => {
  const logger = recordingLogger()
  const s = new SegmentService(cradle({ logger }), { write_key: "k", enabled: false })
  assert.equal(s.totalsService_, undefined)
  // standalone: line totals from the items themselves
  const order = makeOrder({
    id: "o1",
    currency_code: "eur",
    items: [{ ...item("l1", "Shirt", "S-1", "prod_x", 1000, 2), total: 2000, tax_total: 0 }],
  })
  const p = await s.buildOrder(order)
  assert.equal(p.products[0].price, 10)
  assert.equal(p.products[0].category, undefined)
  assert.equal(p.currency, "EUR")
})

test("getReportingValue: reporting currency needs no request; rounding to its minor unit", async () => {
  const quiet = cradle({ logger: recordingLogger() })
  const s = new SegmentService(quiet, { write_key: "k", enabled: false, reporting_currency: "eur" })
  assert.equal(await s.getReportingValue("eur", 29.500000000000004), 29.5)
  assert.equal(await s.getReportingValue("EUR", 10), 10)
  const j = new SegmentService(quiet, { write_key: "k", enabled: false, reporting_currency: "JPY" })
  assert.equal(await j.getReportingValue("jpy", 3133.33), 3133)
})

test("without exchange_rates_api_key: null, no request, one warning per configuration", async () => {
  const rates = await h.startRatesServer()
  const logger = recordingLogger()
  const options = { write_key: "k", enabled: false, exchange_rates_url: rates.url, reporting_currency: "GBP" }
  for (let i = 0; i < 5; i++) {
    const s = new SegmentService(cradle({ logger }), options)
    assert.equal(await s.getReportingValue("usd", 10), null)
    assert.equal(await s.getReportingValue("gbp", 10), 10)
  }
  assert.equal(rates.requests.length, 0)
  const warnings = logger.lines.filter(([l, m]) => l === "warn" && /exchange_rates_api_key/.test(m))
  assert.equal(warnings.length, 1)
  assert.match(warnings[0][1], /GBP/)
  await rates.close()
})

test("one exchange-rate request per pair, across scoped instances and concurrent callers", async () => {
  const rates = await h.startRatesServer()
  const options = { write_key: "k", enabled: false, exchange_rates_url: rates.url, exchange_rates_api_key: "js-key" }
  const values = await Promise.all(
    Array.from({ length: 40 }, (_, i) => new SegmentService({}, options).getReportingValue("usd", i + 0.5))
  )
  assert.equal(values[0], Math.round((0.5 / 1.1) * 100) / 100)
  assert.equal(values[39], Math.round((39.5 / 1.1) * 100) / 100)
  await new SegmentService({}, options).getReportingValue("jpy", 1000)
  await new SegmentService({}, options).getReportingValue("usd", 1)
  assert.deepEqual(rates.requests, [
    "/latest?symbols=USD&base=EUR&access_key=js-key",
    "/latest?symbols=JPY&base=EUR&access_key=js-key",
  ])
  await rates.close()
})

test("exchange_rates_ttl: an expired rate is fetched again", async () => {
  const rates = await h.startRatesServer()
  const options = { write_key: "k", enabled: false, exchange_rates_url: rates.url, exchange_rates_api_key: "ttl-key", exchange_rates_ttl: 100 }
  const s = new SegmentService({}, options)
  await s.getReportingValue("usd", 1)
  await s.getReportingValue("usd", 1)
  await new Promise((r) => setTimeout(r, 150))
  await s.getReportingValue("usd", 1)
  assert.equal(rates.requests.length, 2)
  await rates.close()
})

test("buildOrder: one rate lookup per order, reporting values null when it fails", async () => {
  const rates = await h.startRatesServer({ fail: true })
  const logger = recordingLogger()
  const sc = h.scenario()
  const s = new SegmentService(cradle({ logger, ...sc.services }), {
    write_key: "k",
    enabled: false,
    exchange_rates_url: rates.url,
    exchange_rates_api_key: "fail-key",
  })
  const p = await s.buildOrder(sc.orders.order_usd)
  assert.equal(rates.requests.length, 1)
  assert.equal(p.reporting_total, null)
  assert.equal(p.total, 137.33)
  assert.equal(await s.getReportingValue("usd", 5), null, "never rejects")
  await rates.close()
})

function loaderContainer(logger, store) {
  const counts = { segmentService: 0 }
  return {
    counts,
    register() {},
    resolve(name) {
      if (name === "logger") return logger
      if (name === "segmentService") {
        counts.segmentService++
        return {}
      }
      if (name === "storeService" && store !== undefined) {
        return { retrieve: async () => (store instanceof Error ? Promise.reject(store) : store) }
      }
      throw new Error(`Could not resolve '${name}'.`)
    },
  }
}

const keyWarnings = (logger) => logger.lines.filter(([l, m]) => l === "warn" && /exchange_rates_api_key/.test(m))

test("loaders/segment.js: warns at start-up about the store's other currencies, constructs segmentService", async () => {
  const loader = require("../../loaders/segment.js")
  assert.equal(loader.__esModule, true)
  const logger = recordingLogger()
  const c = loaderContainer(logger, { default_currency_code: "chf", currencies: [{ code: "chf" }, { code: "usd" }, { code: "jpy" }] })
  await loader.default(c, { write_key: "k", reporting_currency: "CHF", exchange_rates_url: "http://127.0.0.1:1/a" })
  assert.equal(c.counts.segmentService, 1)
  const w = keyWarnings(logger)
  assert.equal(w.length, 1)
  assert.match(w[0][1], /orders in USD, JPY are sent with reporting_\* values null/)
})

test("loaders/segment.js: no warning when every store currency is the reporting currency", async () => {
  const loader = require("../../loaders/segment.js")
  const logger = recordingLogger()
  const options = { write_key: "k", reporting_currency: "SEK", exchange_rates_url: "http://127.0.0.1:1/b" }
  await loader.default(loaderContainer(logger, { default_currency_code: "sek", currencies: [{ code: "sek" }] }), options)
  // nor later, from the service
  new SegmentService(cradle({ logger }), { ...options, enabled: false })
  assert.equal(keyWarnings(logger).length, 0)
})

test("loaders/segment.js: store unreadable -> one generic warning; never throws", async () => {
  const loader = require("../../loaders/segment.js")
  const logger = recordingLogger()
  await loader.default(loaderContainer(logger, new Error("no db")), { write_key: "k", reporting_currency: "NOK" })
  const w = keyWarnings(logger)
  assert.equal(w.length, 1)
  assert.match(w[0][1], /currencies other than NOK/)
})
