"use strict"

// Runs medusa-plugin-segment 1.3.5 (devDependency `medusa-plugin-segment-v1.3.5`,
// an npm alias of the registry's 1.3.5) and this plugin on the same events,
// with the same in-process Medusa services, and captures their Segment calls.

const http = require("node:http")
const path = require("node:path")
const Module = require("node:module")

const { scenario, recordingLogger, cradle } = require("./fixtures")

// ---------------------------------------------------------------------------
// exchange-rate service on 127.0.0.1 (same API as the original's service)

const RATES = { USD: 1.1, JPY: 160, KRW: 1450, DKK: 7.46, EUR: 1, GBP: 0.85 }

async function startRatesServer({ rates = RATES, fail = false } = {}) {
  const requests = []
  const state = { fail }
  const server = http.createServer((req, res) => {
    const url = new URL(req.url, "http://127.0.0.1")
    requests.push(url.pathname + url.search)
    if (state.fail) {
      res.writeHead(503, { "content-type": "application/json" })
      return res.end('{"error":"down"}')
    }
    const key = url.searchParams.get("access_key")
    if (!key || key === "undefined") {
      // like the real service: 200 with an error body
      res.writeHead(200, { "content-type": "application/json" })
      return res.end('{"success":false,"error":{"code":101,"type":"missing_access_key"}}')
    }
    const from = url.searchParams.get("symbols")
    const base = url.searchParams.get("base")
    const r = rates[from] !== undefined && rates[base] !== undefined ? rates[from] / rates[base] : undefined
    res.writeHead(200, { "content-type": "application/json" })
    res.end(JSON.stringify({ success: true, base, date: "2026-11-28", rates: r === undefined ? {} : { [from]: r } }))
  })
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve))
  const url = `http://127.0.0.1:${server.address().port}`
  return {
    url,
    requests,
    setFail(v) {
      state.fail = v
    },
    close: () => new Promise((resolve) => server.close(resolve)),
  }
}

// ---------------------------------------------------------------------------
// 1.3.5

const ORIGINAL_HOST = "https://api.exchangeratesapi.io"
let original

/**
 * Loads 1.3.5's service and subscribers. Two adaptations, neither touching
 * what it computes:
 * - `medusa-interfaces` 1.3.7 (its peer) requires `@medusajs/medusa` at load
 *   time, which this package does not install; 1.3.5 only uses its
 *   `BaseService` as an empty superclass, so that one module is stubbed.
 * - its exchange-rate requests (axios, hard-coded host) are redirected to the
 *   local rates server, so no test traffic leaves 127.0.0.1.
 */
function loadOriginal(ratesUrl) {
  if (!original) {
    const dir = path.dirname(require.resolve("medusa-plugin-segment-v1.3.5/package.json"))
    const mi = require.resolve("medusa-interfaces", { paths: [dir] })
    const stub = new Module(mi)
    stub.filename = mi
    stub.loaded = true
    stub.exports = { BaseService: class BaseService {} }
    require.cache[mi] = stub
    const axios = require(require.resolve("axios", { paths: [dir] }))
    const target = { url: null }
    axios.interceptors.request.use((config) => {
      if (config.url && config.url.startsWith(ORIGINAL_HOST)) {
        config.url = target.url + config.url.slice(ORIGINAL_HOST.length)
      } else {
        throw new Error(`unexpected request from 1.3.5: ${config.url}`)
      }
      return config
    })
    original = {
      target,
      Service: require(path.join(dir, "services/segment.js")).default,
      OrderSubscriber: require(path.join(dir, "subscribers/order.js")).default,
      SwapSubscriber: require(path.join(dir, "subscribers/swap.js")).default,
    }
  }
  original.target.url = ratesUrl
  return original
}

/** 1.3.5 wired to `sc.services`; returns { segment, handlers, sent }. */
function setupOriginal(sc, ratesUrl, options) {
  const { Service, OrderSubscriber, SwapSubscriber } = loadOriginal(ratesUrl)
  const segment = new Service(
    { totalsService: sc.services.totalsService, productService: sc.services.productService },
    { write_key: "parity-test-key", ...options }
  )
  const sent = []
  // capture instead of analytics-node's network client
  segment.analytics_ = {
    track: (m) => sent.push(["track", m]),
    identify: (m) => sent.push(["identify", m]),
  }
  const handlers = {}
  const eventBusService = {
    subscribe(event, fn) {
      handlers[event] = fn
    },
  }
  const deps = { ...sc.services, segmentService: segment, eventBusService }
  new OrderSubscriber(deps)
  new SwapSubscriber(deps)
  return { segment, handlers, sent }
}

// ---------------------------------------------------------------------------
// ours

const SUBSCRIBER_FILES = {
  "order.placed": "order-placed",
  "order.shipment_created": "order-shipment-created",
  "order.canceled": "order-canceled",
  "order.items_returned": "order-items-returned",
  "claim.created": "claim-created",
  "swap.created": "swap-created",
  "swap.payment_completed": "swap-payment-completed",
  "swap.shipment_created": "swap-shipment-created",
}

/** An awilix-like root container, as Medusa hands to new-style subscribers. */
function awilixLike(registrations) {
  return {
    register() {},
    resolve(name) {
      if (!(name in registrations)) throw new Error(`Could not resolve '${name}'.`)
      return registrations[name]
    },
  }
}

/** Ours wired to `sc.services`; returns { segment, handlers, sent, all, logger, container }. */
function setupOurs(sc, options) {
  const SegmentService = require("../../services/segment.js").default
  const logger = recordingLogger()
  const registrations = { ...sc.services, logger }
  const segment = new SegmentService(cradle(registrations), { write_key: "parity-test-key", ...options })
  registrations.segmentService = segment
  const sent = [] // reset by callers between events
  const all = [] // every call made
  for (const method of ["track", "identify"]) {
    const real = segment[method].bind(segment)
    segment[method] = (m, cb) => {
      sent.push([method, m])
      all.push([method, m])
      return real(m, cb)
    }
  }
  const container = awilixLike(registrations)
  const handlers = {}
  for (const [event, file] of Object.entries(SUBSCRIBER_FILES)) {
    const mod = require(`../../subscribers/${file}.js`)
    // event-bus-local passes no eventName
    handlers[event] = (data) => mod.default({ data, eventName: undefined, container, pluginOptions: options })
  }
  return { segment, handlers, sent, all, logger, container }
}

/** JSON round trip: what Segment receives. */
const wire = (v) => JSON.parse(JSON.stringify(v))

module.exports = {
  RATES,
  SUBSCRIBER_FILES,
  startRatesServer,
  setupOriginal,
  setupOurs,
  awilixLike,
  wire,
  scenario,
}
