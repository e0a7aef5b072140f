"use strict"

// The Segment clients of the Medusa 2.x provider and subscribers. The native
// client underneath is shared per process and configuration
// (lib/client/handle.js: equal delivery options, one client, also with
// `new SegmentService()` in user code), so plugin and provider options may be
// one object or differ.

const { SegmentService: CoreSegmentService } = require("../client/service")
const SegmentService = require("../medusa-service").default
const { lookup, loggerOf } = require("../container")
const { withMedusaSpoolDefault } = require("../spool")
const { isBlank, normalizeOptions, validateOptions } = require("./options")

/** Options of the analytics provider, when one was built: the subscribers' fallback. */
let providerOptions = null
/** Plugin options object -> { own: its checked form } or { err } (Medusa passes the same object to every event). */
const checked = new WeakMap()
/** Checked plugin options -> { provider, merged }: them under the provider's, once per provider options. */
const mergedFor = new WeakMap()
/** Options object (as subscriberOptions returns it) -> the subscribers' SegmentService for it. */
const services = new WeakMap()

/**
 * A SegmentService for these options. `logger`: Medusa's logger (a v2
 * container has no `.logger` property, so it is passed explicitly).
 */
function clientFor(options, logger) {
  return new SegmentService({ logger }, normalizeOptions(options))
}

/**
 * The plain client (no reporting-currency layer): what the provider needs.
 * With Medusa's spool default, as the subscribers' SegmentService applies it,
 * so equal options still mean one native client.
 */
function coreClientFor(options, logger) {
  return new CoreSegmentService({ logger }, withMedusaSpoolDefault(normalizeOptions(options)))
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
  // Validated once per options object (Medusa passes the same one to every
  // event): a bad option's error, like an unknown option's warning, is
  // worked out at the first event only.
  const isObj = pluginOptions && typeof pluginOptions === "object"
  let result = isObj ? checked.get(pluginOptions) : undefined
  if (result === undefined) {
    try {
      result = { own: validateOptions(pluginOptions, loggerOf(container)) }
    } catch (err) {
      result = { err }
    }
    if (isObj) checked.set(pluginOptions, result)
  }
  if (result.err) throw result.err
  const own = result.own
  if (!isBlank(own.write_key)) return own
  // resolving the analytics module builds the provider if it was not built yet
  if (providerOptions === null) lookup(container, "analytics")
  if (providerOptions === null || isBlank(providerOptions.write_key)) return own
  const known = mergedFor.get(own)
  if (known && known.provider === providerOptions) return known.merged
  const merged = { ...providerOptions }
  for (const [k, v] of Object.entries(own)) if (v !== undefined) merged[k] = v
  merged.write_key = providerOptions.write_key
  mergedFor.set(own, { provider: providerOptions, merged })
  return merged
}

/**
 * The subscribers' client and logger for one event. The client is built once
 * per options object, not per event: building one checks the options, and
 * looks up the shared native client and exchange-rate cache.
 */
function subscriberClient(pluginOptions, container) {
  const logger = loggerOf(container)
  const options = subscriberOptions(pluginOptions, container)
  let segment = services.get(options)
  if (segment === undefined) {
    segment = clientFor(options, logger)
    services.set(options, segment)
  }
  return { segment, logger }
}

module.exports = { clientFor, coreClientFor, rememberProviderOptions, subscriberOptions, subscriberClient }
