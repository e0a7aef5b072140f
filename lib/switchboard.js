"use strict"

// The switchboard: what a store decides about the calls the plugin makes,
// between building them and handing them to the client (v1 and 2.x alike).
//
//   events:   { "<Medusa event>" | "<Segment event>" | "identify": false }  switch off (true: switch on an opt-in event)
//   rename:   { "Order Completed": "Purchase" }                              Segment name -> name sent
//   exclude:  { emails: [RegExp | string], sales_channel_ids: [string], test_orders: true }
//             test_orders: drop what concerns an order whose metadata.segment_test is true
//   enrich:   (message, { event, method, order, customer, container }) => message | undefined | null
//             sync or async; undefined: send the (possibly changed) message; null: drop it;
//             an error or a time-out (enrich_timeout ms, default 1000): logged, the original is sent
//   event_map: see lib/v2/event-map.js (2.x)
//
// Order: events -> exclude -> enrich -> rename. Whatever is not sent is
// counted in stats().dropped.<reason> (lib/drops.js): `disabled`,
// `excluded_email`, `excluded_sales_channel`, `excluded_test_order`, `enrich`.

const { EVENTS, FUNNEL, NEVER_FORWARD, medusaEvents } = require("./catalog")
const { countDrop } = require("./drops")

const PREFIX = "medusa-plugin-segment-rs"
const DEFAULT_ENRICH_TIMEOUT = 1000
const EXCLUDE_KEYS = ["emails", "sales_channel_ids", "test_orders"]
const TEST_FLAG = "segment_test"

function isPlainObject(v) {
  return v !== null && typeof v === "object" && !Array.isArray(v) && !(v instanceof RegExp)
}

function fail(option, what, value) {
  let got = ""
  if (value !== undefined) {
    try {
      got = ` (got ${value instanceof RegExp ? String(value) : JSON.stringify(value)})`
    } catch (_) {
      got = ` (got ${typeof value})`
    }
  }
  throw new TypeError(`${PREFIX}: invalid option \`${option}\`: ${what}${got}`)
}

/** Names `events` keys may use: Medusa events, Segment events, "identify", event_map entries. */
function knownNames(options) {
  const names = new Set(["identify", "funnel", ...medusaEvents(), ...EVENTS.map((e) => e.name), ...FUNNEL.map((e) => e.name)])
  const map = options && isPlainObject(options.event_map) ? options.event_map : {}
  for (const [medusa, entry] of Object.entries(map)) {
    names.add(medusa)
    if (entry && typeof entry.event === "string") names.add(entry.event)
  }
  return names
}

/**
 * Throws a TypeError naming the first bad switchboard option. Returns the
 * `events` keys that name no event the plugin knows (a warning, not an
 * error: other parts of the plugin may add opt-in events).
 */
function validateSwitchboard(options) {
  const o = options || {}
  const unknown = []
  if (o.events !== undefined) {
    if (!isPlainObject(o.events)) fail("events", 'must be an object such as { "order.updated": false, "Order Updated": false }', o.events)
    const known = knownNames(o)
    for (const [k, v] of Object.entries(o.events)) {
      if (typeof v !== "boolean") fail(`events["${k}"]`, "must be true or false", v)
      if (!known.has(k)) unknown.push(k)
    }
  }
  if (o.rename !== undefined) {
    if (!isPlainObject(o.rename)) fail("rename", 'must be an object such as { "Order Completed": "Purchase" }', o.rename)
    for (const [k, v] of Object.entries(o.rename)) {
      if (typeof v !== "string" || !v.trim()) fail(`rename["${k}"]`, "must be a non-empty string (the event name to send)", v)
    }
  }
  if (o.exclude !== undefined) {
    if (!isPlainObject(o.exclude)) fail("exclude", "must be an object: { emails, sales_channel_ids, test_orders }", o.exclude)
    for (const k of Object.keys(o.exclude)) {
      if (!EXCLUDE_KEYS.includes(k)) fail(`exclude.${k}`, `is not an exclude rule; use one of ${EXCLUDE_KEYS.join(", ")}`)
    }
    const { emails, sales_channel_ids: channels, test_orders: test } = o.exclude
    if (emails !== undefined) {
      if (!Array.isArray(emails)) fail("exclude.emails", "must be an array of RegExps or strings (exact addresses)", emails)
      emails.forEach((e, i) => {
        if (!(e instanceof RegExp) && (typeof e !== "string" || !e)) fail(`exclude.emails[${i}]`, "must be a RegExp or a non-empty string", e)
      })
    }
    if (channels !== undefined) {
      if (!Array.isArray(channels)) fail("exclude.sales_channel_ids", "must be an array of sales channel ids", channels)
      channels.forEach((c, i) => {
        if (typeof c !== "string" || !c) fail(`exclude.sales_channel_ids[${i}]`, "must be a sales channel id (a non-empty string)", c)
      })
    }
    if (test !== undefined && typeof test !== "boolean") fail("exclude.test_orders", "must be true or false", test)
  }
  if (o.enrich !== undefined && o.enrich !== null && typeof o.enrich !== "function") {
    fail("enrich", "must be a function (message, { event, order, customer, container }) => message", typeof o.enrich)
  }
  if (o.enrich_timeout !== undefined && !(Number.isInteger(o.enrich_timeout) && o.enrich_timeout > 0)) {
    fail("enrich_timeout", "must be a whole number of ms > 0", o.enrich_timeout)
  }
  if (o.order_completed_on !== undefined && !["placed", "captured"].includes(o.order_completed_on)) {
    fail("order_completed_on", 'must be "placed" (order.placed, the default) or "captured" (payment.captured, 2.x)', o.order_completed_on)
  }
  if (o.event_map !== undefined) {
    if (!isPlainObject(o.event_map)) fail("event_map", 'must be an object: { "<medusa event>": { event, entity, fields, ... } }', o.event_map)
    for (const [medusa, e] of Object.entries(o.event_map)) {
      const at = `event_map["${medusa}"]`
      if (NEVER_FORWARD.test(medusa)) fail(at, "auth.* events carry tokens and codes and are never forwarded")
      if (!isPlainObject(e)) fail(at, "must be an object { event, entity, fields, id_from?, user_id?, properties? }", e)
      if (typeof e.event !== "string" || !e.event.trim()) fail(`${at}.event`, "must be the Segment event name (a non-empty string)", e.event)
      if (e.entity !== undefined && (typeof e.entity !== "string" || !e.entity)) fail(`${at}.entity`, "must be a query-graph entity name such as \"product\"", e.entity)
      if (e.entity !== undefined && (!Array.isArray(e.fields) || !e.fields.length || e.fields.some((f) => typeof f !== "string" || !f))) {
        fail(`${at}.fields`, "must be a non-empty array of query-graph field names such as [\"id\", \"title\"]", e.fields)
      }
      if (e.entity === undefined && e.fields !== undefined) fail(`${at}.fields`, "needs `entity` (the entity to load the fields from)")
      for (const k of ["id_from", "user_id", "anonymous_id"]) {
        if (e[k] !== undefined && (typeof e[k] !== "string" || !e[k])) fail(`${at}.${k}`, "must be a field path (a non-empty string)", e[k])
      }
      if (e.properties !== undefined) {
        if (!isPlainObject(e.properties)) fail(`${at}.properties`, 'must map property names to field paths: { rating: "rating" }', e.properties)
        for (const [p, path] of Object.entries(e.properties)) {
          if (typeof path !== "string" || !path) fail(`${at}.properties["${p}"]`, "must be a field path (a non-empty string)", path)
        }
      }
    }
  }
  return unknown
}

/** The value at a dotted path ("customer.email") of `obj`. */
function pick(obj, path) {
  let v = obj
  for (const k of String(path).split(".")) {
    if (v === null || v === undefined) return undefined
    v = v[k]
  }
  return v
}

function withTimeout(promise, ms) {
  let timer
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`did not settle within enrich_timeout (${ms} ms)`)), ms)
  })
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer))
}

const OPT_IN = new Set(EVENTS.filter((e) => e.optIn).map((e) => e.name))

class Switchboard {
  constructor(options) {
    const o = options || {}
    this.events = o.events || {}
    this.rename = o.rename || {}
    const ex = o.exclude || {}
    this.emails = ex.emails || []
    this.channels = new Set(ex.sales_channel_ids || [])
    this.testOrders = ex.test_orders !== false
    this.enrich = typeof o.enrich === "function" ? o.enrich : null
    this.enrichTimeout = o.enrich_timeout || DEFAULT_ENRICH_TIMEOUT
  }

  /** False when `events` switches this call off (by Medusa event, Segment name, or "identify"). */
  enabled(medusaEvent, name) {
    if (medusaEvent && this.events[medusaEvent] === false) return false
    if (this.events[name] === false) return false
    if (OPT_IN.has(name) && this.events[name] !== true) return false
    return true
  }

  emailExcluded(email) {
    if (typeof email !== "string" || !email) return false
    const e = email.toLowerCase()
    return this.emails.some((rule) => {
      if (typeof rule === "string") return rule.toLowerCase() === e
      rule.lastIndex = 0
      return rule.test(email)
    })
  }

  /** Why the call must not be sent (an exclude rule), or null. */
  excludedBy(message, order, customer) {
    const email =
      (order && order.email) ||
      (customer && customer.email) ||
      (message.properties && message.properties.email) ||
      (message.traits && message.traits.email)
    if (this.emailExcluded(email)) return "excluded_email"
    if (order && order.sales_channel_id && this.channels.has(order.sales_channel_id)) return "excluded_sales_channel"
    if (this.testOrders && order && order.metadata && order.metadata[TEST_FLAG] === true) return "excluded_test_order"
    return null
  }

  /** Whether exclusion needs the order's sales channel / metadata (to load them when missing). */
  needsOrderDetails() {
    return this.channels.size > 0 || this.testOrders
  }

  async enriched(call, hook, logger) {
    const original = call.message
    let copy
    try {
      copy = structuredClone(original)
    } catch (_) {
      copy = JSON.parse(JSON.stringify(original))
    }
    const name = call.method === "track" ? original.event : call.method
    try {
      const out = await withTimeout(Promise.resolve().then(() => this.enrich(copy, { ...hook, method: call.method })), this.enrichTimeout)
      if (out === null || out === false) return null
      if (out === undefined) return copy
      if (!isPlainObject(out)) throw new TypeError(`returned ${typeof out}; return the message, undefined, or null to drop it`)
      return out
    } catch (err) {
      logger.warn(`[segment] enrich(${name}) failed, the message is sent as built: ${(err && err.message) || err}`)
      return original
    }
  }

  /**
   * The calls to make, of the calls built for `event`. `hook`: { event,
   * order, customer, container, orderDetails? } (a call's own
   * `order`/`customer` win; `orderDetails(id)` -> { sales_channel_id,
   * metadata } when the order was loaded without them). Never throws.
   */
  async apply(calls, hook, logger) {
    const out = []
    for (const call of calls) {
      const m = call.message
      const name = call.method === "track" ? m.event : call.method
      const order = call.order || hook.order
      const customer = call.customer || hook.customer
      if (!this.enabled(call.medusaEvent || hook.event, name)) {
        countDrop("disabled")
        continue
      }
      if (order && this.needsOrderDetails() && hook.orderDetails && (order.metadata === undefined || order.sales_channel_id === undefined)) {
        // the exclude rules read them; an event that did not load them asks once (the order object keeps them)
        try {
          Object.assign(order, await hook.orderDetails(order.id))
        } catch (err) {
          logger.warn(`[segment] cannot read the sales channel / metadata of order ${order.id}: ${err && err.message}`)
        }
      }
      const reason = this.excludedBy(m, order, customer)
      if (reason) {
        countDrop(reason)
        logger.info(`[segment] ${name} for ${hook.event} not sent: ${reason.replace("_", " ")}`)
        continue
      }
      let message = m
      if (this.enrich) {
        message = await this.enriched(call, { event: hook.event, order, customer, container: hook.container }, logger)
        if (!message) {
          countDrop("enrich")
          continue
        }
      }
      if (call.method === "track" && typeof this.rename[message.event] === "string") message = { ...message, event: this.rename[message.event] }
      out.push({ method: call.method, message })
    }
    return out
  }
}

const boards = new WeakMap()

/** The switchboard of an options object (built once per object). */
function switchboardFor(options) {
  if (!options || typeof options !== "object") return new Switchboard({})
  let b = boards.get(options)
  if (!b) {
    b = new Switchboard(options)
    boards.set(options, b)
  }
  return b
}

module.exports = { validateSwitchboard, switchboardFor, Switchboard, pick, TEST_FLAG, DEFAULT_ENRICH_TIMEOUT }
