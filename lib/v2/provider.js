"use strict"

// The Segment provider of Medusa 2.x's Analytics Module
// (`medusa-plugin-segment-rs/providers/segment`). It maps the module's calls
// the way Medusa's Segment guide does, so it replaces that hand-copied
// provider without changing callers:
//
//   track({ event, actor_id, group, properties })
//     -> track { event, userId: actor_id || group.id, anonymousId: properties.anonymousId,
//                timestamp: properties.timestamp, properties, context.groupId: group.id }
//   identify({ actor_id, properties })         -> identify { userId, anonymousId, traits, context }
//   identify({ group, actor_id, properties })  -> group { groupId: group.id, userId, anonymousId, traits, context }
//   shutdown()                                  -> flush bounded by shutdown_timeout
//
// Medusa 2.8.3-2.12 call track/identify without awaiting them, so a rejection
// would be an unhandled rejection: every call resolves; a call that cannot be
// sent is counted (stats().provider_rejected) and logged.

const { loggerOf } = require("../container")
const { coreClientFor, rememberProviderOptions } = require("./client")
const { validateOptions } = require("./options")

/** Longest piece of caller data echoed in a log line. */
const ECHO_CHARS = 100
const LOG_INTERVAL_MS = 10_000

/** `fn()`, or "" if it throws. */
function safely(fn) {
  try {
    const v = fn()
    return typeof v === "string" ? v : ""
  } catch (_) {
    return ""
  }
}

/** A short text for a value from the caller: strings and numbers only, cut to ECHO_CHARS. */
function short(v) {
  if (typeof v === "number") return String(v)
  if (typeof v !== "string") return ""
  return v.length > ECHO_CHARS ? `${v.slice(0, ECHO_CHARS)}…` : v
}

/** An error's message, bounded, whatever was thrown. */
function errorText(err) {
  return safely(() => short(err instanceof Error ? err.message : typeof err === "string" ? err : "")) || "invalid input"
}

function isObject(v) {
  return v !== null && typeof v === "object" && !Array.isArray(v)
}

function nonBlank(v) {
  return v !== undefined && v !== null && v !== ""
}

/** properties.timestamp as a Date when it is one, else undefined. */
function timestampOf(p) {
  if (!nonBlank(p.timestamp)) return undefined
  const d = new Date(p.timestamp)
  return Number.isNaN(d.getTime()) ? undefined : d.toISOString()
}

function trackMessage(data) {
  if (!isObject(data)) throw new TypeError("track expects { event, actor_id?, group?, properties? }")
  const p = isObject(data.properties) ? data.properties : {}
  const group = isObject(data.group) ? data.group : null
  const userId = nonBlank(data.actor_id) ? data.actor_id : group && nonBlank(group.id) ? group.id : undefined
  const anonymousId = nonBlank(p.anonymousId) ? p.anonymousId : undefined
  if (!nonBlank(userId) && !nonBlank(anonymousId)) {
    throw new TypeError(`track ${JSON.stringify(short(data.event))} needs an actor_id, a group.id or properties.anonymousId`)
  }
  const message = { event: data.event, userId, anonymousId, properties: p }
  const timestamp = timestampOf(p)
  if (timestamp) message.timestamp = timestamp
  if (group && nonBlank(group.id)) message.context = { groupId: String(group.id) }
  return message
}

/**
 * `properties.traits` are the traits and the other properties the context
 * (the guide's mapping); without `traits`, the properties are the traits (as
 * the PostHog provider treats them).
 */
function traitsAndContext(p) {
  const rest = { ...p }
  delete rest.anonymousId
  if (!("traits" in p)) return { traits: rest }
  delete rest.traits
  const out = { traits: isObject(p.traits) ? p.traits : {} }
  if (Object.keys(rest).length) out.context = rest
  return out
}

function identifyCall(data) {
  if (!isObject(data)) throw new TypeError("identify expects { actor_id, properties? } or { group, actor_id?, properties? }")
  const p = isObject(data.properties) ? data.properties : {}
  const anonymousId = nonBlank(p.anonymousId) ? p.anonymousId : undefined
  const userId = nonBlank(data.actor_id) ? data.actor_id : undefined
  const message = { userId, anonymousId, ...traitsAndContext(p) }
  if ("group" in data) {
    const group = isObject(data.group) ? data.group : {}
    if (!nonBlank(group.id)) throw new TypeError("identify with a group needs group.id")
    if (!nonBlank(userId) && !nonBlank(anonymousId)) {
      throw new TypeError(`identify of group ${short(group.id)} needs an actor_id or properties.anonymousId`)
    }
    message.groupId = String(group.id)
    if (nonBlank(group.type)) message.traits = { group_type: group.type, ...message.traits }
    return { method: "group", message }
  }
  if (!nonBlank(userId) && !nonBlank(anonymousId)) {
    throw new TypeError("identify needs an actor_id or properties.anonymousId")
  }
  return { method: "identify", message }
}

class SegmentAnalyticsProvider {
  /** Registered by the Analytics Module as `aly_segment_<id>`. */
  static identifier = "segment"

  /** Called by Medusa before the provider is registered: a bad option stops start-up, named. */
  static validateOptions(options) {
    validateOptions(options)
  }

  constructor(cradle, options) {
    this.logger_ = loggerOf(cradle)
    const opts = validateOptions(options || {}, this.logger_)
    // the options hold the write key: kept out of console.log(provider)
    Object.defineProperty(this, "options_", { value: opts, enumerable: false })
    this.client_ = coreClientFor(opts, this.logger_)
    this.rejected_ = 0
    this.logged_ = new Map() // call -> { at, suppressed }: rate-limited log lines
    rememberProviderOptions(opts)
  }

  getIdentifier() {
    return SegmentAnalyticsProvider.identifier
  }

  /** The shared client (SegmentService), for calls the module has no method for. */
  get client() {
    return this.client_
  }

  /**
   * Count and log a call that cannot be sent. Never throws, whatever `data`
   * or the error is (a revoked Proxy, a throwing getter or toString...);
   * lines are bounded, and of similar ones (same call, same reason) at most
   * one every 10 s goes out, with how many were suppressed.
   */
  reject_(call, data, describe, err) {
    this.rejected_++
    try {
      const reason = errorText(err)
      // Similar: the same call and reason, quoted values and numbers aside.
      let key = `${call}:${reason.replace(/"[^"]*"/g, '""').replace(/\d+/g, "N").slice(0, 60)}`
      if (!this.logged_.has(key) && this.logged_.size >= 64) key = "other"
      const now = Date.now()
      const last = this.logged_.get(key)
      if (last && now - last.at < LOG_INTERVAL_MS) {
        last.suppressed++
        return
      }
      const suppressed = last ? last.suppressed : 0
      this.logged_.set(key, { at: now, suppressed: 0 })
      const what = safely(() => describe(data))
      const more = suppressed > 0 ? ` (${suppressed} similar calls suppressed)` : ""
      this.logger_.error(`[segment] analytics ${call}${what ? ` ${what}` : ""}: not sent: ${reason}${more}`)
    } catch (_) {
      // a broken logger must not reject into the store
    }
  }

  // Each call resolves whatever it is given: Medusa 2.8.3-2.12 do not await
  // them, so a rejection would be unhandled.
  async track(data) {
    try {
      this.client_.track(trackMessage(data))
    } catch (err) {
      this.reject_("track", data, (d) => JSON.stringify(short(d.event)), err)
    }
  }

  async identify(data) {
    try {
      const { method, message } = identifyCall(data)
      this.client_[method](message)
    } catch (err) {
      this.reject_("identify", data, (d) => short(d.actor_id || (d.group && d.group.id)), err)
    }
  }

  /** Flush bounded by shutdown_timeout, then close; never rejects (the client logs what it had to drop). */
  async shutdown() {
    try {
      await this.client_.shutdown()
    } catch (err) {
      this.reject_("shutdown", null, () => "", err)
    }
  }

  /** The client's counters plus the calls this provider could not send. */
  stats() {
    return { ...this.client_.stats(), provider_rejected: this.rejected_ }
  }
}

module.exports = { SegmentAnalyticsProvider, trackMessage, identifyCall }
