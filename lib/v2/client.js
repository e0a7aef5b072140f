"use strict"

// The Segment client of a Medusa 2.x process. Provider, subscribers and user
// code all get theirs here; the native client underneath is shared per
// process and configuration by index.js (equal delivery options, one client),
// so plugin options and provider options may be the same object or differ.

const SegmentService = require("../../services/segment").default
const { lookup, loggerOf } = require("../container")

/** Options of the analytics provider, when one was built: the subscribers' fallback. */
let providerOptions = null

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

/**
 * A SegmentService for these options. `logger`: Medusa's logger (a v2
 * container has no `.logger` property, so it is passed explicitly).
 */
function clientFor(options, logger) {
  return new SegmentService({ logger }, normalizeOptions(options))
}

function rememberProviderOptions(options) {
  providerOptions = normalizeOptions(options)
}

/**
 * The options the default subscribers deliver with: the plugin options; when
 * they have no write key and the analytics provider has one, the provider's
 * options under the plugin's own (so the key need be configured only once).
 */
function subscriberOptions(pluginOptions, container) {
  const own = normalizeOptions(pluginOptions)
  if (!isBlank(own.write_key)) return own
  // resolving the analytics module builds the provider if it was not built yet
  if (providerOptions === null) lookup(container, "analytics")
  if (providerOptions === null || isBlank(providerOptions.write_key)) return own
  const merged = { ...providerOptions }
  for (const [k, v] of Object.entries(own)) if (v !== undefined) merged[k] = v
  merged.write_key = providerOptions.write_key
  return merged
}

/** The subscribers' client and logger for one event. */
function subscriberClient(pluginOptions, container) {
  const logger = loggerOf(container)
  return { segment: clientFor(subscriberOptions(pluginOptions, container), logger), logger }
}

module.exports = { normalizeOptions, clientFor, rememberProviderOptions, subscriberOptions, subscriberClient }
