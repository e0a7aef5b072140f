"use strict"

// Browser identity and consent on the server's Segment calls (v1 and v2).
//
// The storefront writes the browser's identifiers into cart.metadata (the
// contract below; `medusa-plugin-segment-rs/storefront` reads them from
// analytics.js, the _ga/_fbp/_fbc cookies and the URL). Medusa 2.x copies
// cart.metadata onto the order at checkout. Every Segment call about that
// cart or order then gets:
//   anonymousId                       segment_anonymous_id (userId stays the customer's)
//   properties.fbp / fbc / gclid      Facebook Conversions API, Google Ads
//   properties.client_id / session_id / session_number   GA4 (mapped in the destination)
//   context.traits                    email, phone, names, address (server data, not hashed:
//                                     the destinations normalise and hash)
//   context.ip / context.userAgent    what the server saw (never from the browser's metadata)
//   context.consent.categoryPreferences   segment_consent
//
// Metadata comes from the browser: every value is checked (type, length,
// shape); a bad one is ignored, warned about once per key, and the event is
// still sent. Nothing from metadata replaces a field the server derived.

const crypto = require("node:crypto")
const net = require("node:net")

const PREFIX = "medusa-plugin-segment-rs"
const PRINTABLE = /^[\x21-\x7e]+$/ // visible ASCII, no spaces or control characters
const FB_COOKIE = /^fb\.\d\.\d{1,16}\.[\x21-\x7e]+$/ // fb.<subdomain index>.<ms timestamp>.<id>

/** The storefront contract: cart.metadata key -> check. */
const CONTRACT = {
  segment_anonymous_id: { max: 200, pattern: PRINTABLE, what: "a string of printable characters (analytics.js's anonymous id)" },
  ga_client_id: { max: 64, pattern: /^\d{1,20}\.\d{1,20}$/, what: 'the _ga cookie\'s client id, "<digits>.<digits>"' },
  ga_session_id: { max: 20, pattern: /^\d{1,20}$/, number: true, what: "digits (the _ga_<id> cookie's session id)" },
  ga_session_number: { max: 10, pattern: /^\d{1,10}$/, number: true, what: "digits (the _ga_<id> cookie's session number)" },
  fbp: { max: 256, pattern: FB_COOKIE, what: 'the _fbp cookie, "fb.<n>.<timestamp>.<id>"' },
  fbc: { max: 1024, pattern: FB_COOKIE, what: 'the _fbc cookie, "fb.<n>.<timestamp>.<fbclid>"' },
  gclid: { max: 512, pattern: /^[A-Za-z0-9_-]+$/, what: "letters, digits, _ and - (the gclid URL parameter)" },
  segment_consent: { consent: true, what: "an object of category -> true/false (Segment's categoryPreferences), at most 50 categories" },
}
const CONSENT_CATEGORY = /^[A-Za-z0-9_ .:-]{1,100}$/
const MAX_CATEGORIES = 50

/**
 * Written by the plugin's store middleware at checkout (lib/v2/middlewares.js),
 * never accepted from a store request: what the server saw of the shopper.
 */
const SERVER_CONTEXT_KEY = "segment_context"

// properties added from metadata, and what anonymize strips from a track
const ID_PROPERTIES = ["fbp", "fbc", "gclid", "client_id", "session_id", "session_number"]
const CONSENT_MODES = ["drop", "anonymize"]

// Keys already warned about in this process: one warning per bad key.
const warned = new Set()

function describeValue(v) {
  if (v === null) return "null"
  if (Array.isArray(v)) return `an array of ${v.length}`
  if (typeof v === "string") return `a string of ${v.length} characters`
  return typeof v === "object" ? "an object" : `a ${typeof v}`
}

function warnOnce(logger, key, why, value) {
  if (warned.has(key)) return
  warned.add(key)
  const msg =
    `[segment] cart metadata \`${key}\` ignored: must be ${why} (got ${describeValue(value)}); ` +
    "the event is sent without it. Further bad values of this key are not logged."
  try {
    ;(logger && typeof logger.warn === "function" ? logger : console).warn(msg)
  } catch (_) {
    // a broken logger must not stop the event
  }
}

function checkConsent(v) {
  if (v === null || typeof v !== "object" || Array.isArray(v)) return null
  const keys = Object.keys(v)
  if (keys.length > MAX_CATEGORIES) return null
  const out = {}
  for (const k of keys) {
    if (!CONSENT_CATEGORY.test(k) || typeof v[k] !== "boolean") return null
    out[k] = v[k]
  }
  return out
}

/** One contract value checked: the clean value, or undefined (absent) / null (bad). */
function checkValue(spec, v) {
  if (v === undefined || v === null || v === "") return undefined
  if (spec.consent) return checkConsent(v)
  if (spec.number && typeof v === "number" && Number.isSafeInteger(v) && v >= 0) v = String(v)
  if (typeof v !== "string" || v.length > spec.max || !spec.pattern.test(v)) return null
  return v
}

/**
 * The contract's values from (untrusted) metadata objects, first one wins per
 * key: { segment_anonymous_id, ga_client_id, ..., segment_consent }, only the
 * valid ones. A bad value is warned about once per key (through `logger`).
 */
function parseMetadata(sources, logger) {
  const out = {}
  for (const meta of [].concat(sources)) {
    if (!meta || typeof meta !== "object" || Array.isArray(meta)) continue
    for (const [key, spec] of Object.entries(CONTRACT)) {
      if (out[key] !== undefined || !Object.prototype.hasOwnProperty.call(meta, key)) continue
      const v = checkValue(spec, meta[key])
      if (v === null) warnOnce(logger, key, spec.what, meta[key])
      else if (v !== undefined) out[key] = v
    }
  }
  return out
}

/** What the plugin's middleware recorded: { ip, userAgent } (each only when well-formed). */
function serverContext(meta) {
  const c = meta && typeof meta === "object" ? meta[SERVER_CONTEXT_KEY] : undefined
  if (!c || typeof c !== "object") return {}
  const out = {}
  if (typeof c.ip === "string" && net.isIP(c.ip)) out.ip = c.ip
  if (typeof c.user_agent === "string" && c.user_agent.length <= 1024 && c.user_agent.trim()) out.userAgent = c.user_agent
  return out
}

const str = (v) => (typeof v === "string" && v.trim() ? v : undefined)

/**
 * context.traits from server data: the order's email, the address's phone,
 * names and postal address (the customer's when the address lacks them), as
 * Segment's spec names them. Plain values: the destinations hash.
 */
function traitsOf({ email, address, customer } = {}) {
  const a = address || {}
  const c = customer || {}
  const t = {
    email: str(email) || str(c.email),
    phone: str(a.phone) || str(c.phone),
    firstName: str(a.first_name) || str(c.first_name),
    lastName: str(a.last_name) || str(c.last_name),
  }
  const street = [str(a.address_1), str(a.address_2)].filter(Boolean).join(", ")
  const addr = {
    street: street || undefined,
    city: str(a.city),
    state: str(a.province),
    postalCode: str(a.postal_code),
    country: str(a.country_code) && a.country_code.toUpperCase(),
  }
  if (Object.values(addr).some((v) => v !== undefined)) t.address = addr
  for (const k of Object.keys(t)) if (t[k] === undefined) delete t[k]
  for (const k of Object.keys(addr)) if (addr[k] === undefined) delete addr[k]
  return t
}

/**
 * Everything the calls of one event get:
 *   { ids: contract values, consent: categoryPreferences | undefined,
 *     traits: context.traits, context: { ip, userAgent } }
 * `metadata`: the metadata objects to read, most authoritative first.
 * `customerMetadata`: consent fallback. `server`: the recorded { ip, userAgent }.
 */
function attributionOf({ metadata = [], customerMetadata, traits = {}, server = {} }, logger) {
  const ids = parseMetadata(metadata, logger)
  let consent = ids.segment_consent
  if (consent === undefined && customerMetadata) consent = parseMetadata([customerMetadata], logger).segment_consent
  delete ids.segment_consent
  return { ids, consent, traits, context: server }
}

function setIfAbsent(obj, key, value) {
  if (value !== undefined && obj[key] === undefined) obj[key] = value
}

/** Adds the identity, traits, server context and consent to one call's message (a copy). */
function decorate(call, a, options) {
  const m = { ...call.message, context: { ...(call.message.context || {}) } }
  const { ids } = a
  if (ids.segment_anonymous_id) {
    // the browser's id replaces only the guest fallback ("order-<id>"), never a userId
    m.anonymousId = ids.segment_anonymous_id
  }
  const ctx = m.context
  setIfAbsent(ctx, "ip", a.context.ip)
  setIfAbsent(ctx, "userAgent", a.context.userAgent)
  if (Object.keys(a.traits).length) ctx.traits = { ...a.traits, ...(ctx.traits || {}) }
  if (a.consent) ctx.consent = { categoryPreferences: { ...a.consent } }
  if (call.method === "track") {
    const p = { ...(m.properties || {}) }
    setIfAbsent(p, "fbp", ids.fbp)
    setIfAbsent(p, "fbc", ids.fbc)
    setIfAbsent(p, "gclid", ids.gclid)
    setIfAbsent(p, "client_id", ids.ga_client_id)
    setIfAbsent(p, "session_id", ids.ga_session_id)
    setIfAbsent(p, "session_number", ids.ga_session_number)
    m.properties = p
    if (options && options.use_ga_id && ids.ga_client_id) {
      const integrations = { ...(m.integrations || {}) }
      if (!integrations["Google Analytics"]) integrations["Google Analytics"] = { clientId: ids.ga_client_id }
      m.integrations = integrations
    }
  }
  // the rest of the call (order, customer, medusaEvent) is what the switchboard reads
  return { ...call, message: m }
}

/** A track stripped of everything that identifies the shopper; identify calls have no anonymous form. */
function anonymize(call) {
  if (call.method !== "track") return null
  const m = { ...call.message }
  delete m.userId
  // a fresh id per message: Segment needs one, and nothing may link it to the shopper
  m.anonymousId = crypto.randomUUID()
  const p = { ...(m.properties || {}) }
  for (const k of ["email", ...ID_PROPERTIES]) delete p[k]
  m.properties = p
  const ctx = { ...(m.context || {}) }
  for (const k of ["traits", "ip", "userAgent", "user_agent"]) delete ctx[k]
  m.context = ctx
  if (m.integrations && m.integrations["Google Analytics"]) {
    m.integrations = { ...m.integrations }
    delete m.integrations["Google Analytics"]
  }
  return { ...call, message: m }
}

/**
 * The calls of one event with attribution applied, and consent enforced when
 * `consent_category` is set and the shopper's preference for it is false:
 * `consent_mode` "drop" leaves the calls out, "anonymize" (the default) sends
 * the tracks stripped of identifiers and leaves the identifies out. What is
 * left out is counted (`stats().dropped.consent`, through `countDropped`) and
 * logged.
 */
function applyAttribution(calls, a, options, { countDropped, logger, what } = {}) {
  const o = options || {}
  const decorated = calls.map((c) => decorate(c, a, o))
  const cat = o.consent_category
  if (!cat || !a.consent || a.consent[cat] !== false) return decorated
  const mode = o.consent_mode || "anonymize"
  const out = mode === "drop" ? [] : decorated.map(anonymize).filter(Boolean)
  const left = decorated.length - out.length
  if (left > 0) {
    if (typeof countDropped === "function") countDropped("consent", left)
    try {
      ;(logger || console).info(
        `[segment] ${left} call(s) for ${what || "an event"} not sent: consent category "${cat}" is false (consent_mode ${mode})`
      )
    } catch (_) {
      // a broken logger must not stop the event
    }
  }
  return out
}

/**
 * Medusa 1.x: the order's cart (the context Medusa recorded from the request
 * that created it: ip, user_agent), the contract keys from the order's
 * metadata, the cart's metadata or the cart's context (1.x's store API sets
 * `context`, not `metadata`), the customer's metadata, the addresses. One
 * cart query per event.
 */
async function v1Source(o, ctx) {
  let cart = null
  const carts = ctx.resolve("cartService")
  if (o.cart_id && carts) {
    try {
      cart = await carts.retrieve(o.cart_id, { select: ["id", "context", "metadata"] })
    } catch (err) {
      ctx.logger.warn(`[segment] cannot read the cart of order ${o.id}: ${err && err.message}`)
    }
  }
  const c = (cart && cart.context) || {}
  const server = serverContext({ [SERVER_CONTEXT_KEY]: { ip: c.ip, user_agent: c.user_agent } })
  return {
    metadata: [o.metadata, cart && cart.metadata, c],
    customerMetadata: o.customer && o.customer.metadata,
    traits: traitsOf({ email: o.email, address: o.shipping_address || o.billing_address, customer: o.customer }),
    server,
  }
}

function fail(option, what, value) {
  const got = value === undefined ? "" : ` (got ${JSON.stringify(value)})`
  throw new TypeError(`${PREFIX}: invalid option \`${option}\`: ${what}${got}`)
}

/** Start-up checks of the consent options; throws a TypeError naming the option. */
function checkConsentOptions(o) {
  if (!o) return
  const cat = o.consent_category
  if (cat !== undefined && cat !== null && (typeof cat !== "string" || !CONSENT_CATEGORY.test(cat))) {
    fail("consent_category", 'must be the name of a consent category, such as "analytics"', cat)
  }
  if (o.consent_mode !== undefined && o.consent_mode !== null) {
    if (!CONSENT_MODES.includes(o.consent_mode)) fail("consent_mode", 'must be "drop" or "anonymize"', o.consent_mode)
    if (!cat) fail("consent_mode", "has no effect without `consent_category`; set the category it applies to, e.g. \"analytics\"", o.consent_mode)
  }
}

module.exports = {
  CONTRACT,
  SERVER_CONTEXT_KEY,
  ID_PROPERTIES,
  parseMetadata,
  serverContext,
  traitsOf,
  attributionOf,
  applyAttribution,
  checkConsentOptions,
  v1Source,
  _resetWarnings: () => warned.clear(),
}
