"use strict"
// SegmentService: the client's public face. On the caller's thread a message
// costs a few field checks (./validate.js), JSON.stringify, a size check and
// one native call that puts the string in the core's inbox (src/inbox.rs).
// Parsing, enrichment (type, messageId, timestamp, context.library),
// batching, gzip, HTTP, retries and accounting run on a background runtime.

const native = require("../load-native.js")
const { CORE_OPTIONS, warnUnknownOptions } = require("../options.js")
const { sharedHandle, invoke } = require("./handle.js")
const { checkMessage } = require("./validate.js")

const MAX_MESSAGE_BYTES = 32 * 1024
const DATE_TO_JSON = Date.prototype.toJSON

/** The message of an error, whatever was thrown (never throws itself). */
function errorText(e) {
  try {
    const m = e instanceof Error ? e.message : String(e)
    return typeof m === "string" ? m.slice(0, 200) : "unknown error"
  } catch (_) {
    return "unknown error"
  }
}

function notObject(call) {
  return new TypeError(`SegmentService.${call}: the message must encode as a JSON object`)
}

/** container.logger when there is one (an awilix cradle throws for unknown names), else console. */
function pickLogger(container) {
  let logger
  try {
    logger = container && container.logger
  } catch (_) {
    logger = undefined
  }
  if (logger && typeof logger.error === "function") return logger
  return console
}

/**
 * Segment client for Medusa (and standalone use): `new SegmentService({}, { write_key })`.
 * Medusa builds it with its DI cradle and the plugin options.
 */
class SegmentService {
  #h
  /** This service was shut down (the shared client may live on for other owners). */
  #released = false

  constructor(container, options) {
    if (options === undefined || options === null) options = {}
    if (typeof options !== "object" || Array.isArray(options)) {
      throw new TypeError("medusa-plugin-segment-rs: options must be an object")
    }
    // The options as given (they hold the write key): readable and writable
    // as before, but not enumerable, so console.log(service) does not print the key.
    Object.defineProperty(this, "options_", { value: options, writable: true, configurable: true, enumerable: false })
    warnUnknownOptions(options, pickLogger(container)) // once per unknown name: a typo must not mean "the default"
    const picked = {}
    for (const k of CORE_OPTIONS) {
      const v = options[k]
      if (v === undefined) continue
      if (typeof v === "bigint") {
        throw new TypeError(`medusa-plugin-segment-rs: invalid option \`${k}\`: must be a number, not a BigInt`)
      }
      // JSON.stringify would turn NaN/Infinity into null, i.e. "use the
      // default": pass them as text so the core rejects them by name.
      picked[k] = typeof v === "number" && !Number.isFinite(v) ? String(v) : v
    }
    let json
    try {
      json = JSON.stringify(picked)
    } catch (e) {
      throw new TypeError(`medusa-plugin-segment-rs: options cannot be encoded as JSON (${e.message})`)
    }
    const key = native.normalizeOptions(json) // throws naming a bad option
    const h = sharedHandle(key, json, () => pickLogger(container))
    // Every service built with these options owns the shared client; it
    // closes when the last owner shuts down (Medusa builds one per scope).
    h.owners++
    this.#h = h
  }

  track(message, callback) {
    return this._enqueue("track", message, callback)
  }

  identify(message, callback) {
    return this._enqueue("identify", message, callback)
  }

  page(message, callback) {
    return this._enqueue("page", message, callback)
  }

  screen(message, callback) {
    return this._enqueue("screen", message, callback)
  }

  group(message, callback) {
    return this._enqueue("group", message, callback)
  }

  alias(message, callback) {
    return this._enqueue("alias", message, callback)
  }

  _enqueue(call, message, callback) {
    const h = this.#h
    if (this.#released || h.closed || h.closing) {
      throw new Error(`SegmentService.${call}: the client has been shut down`)
    }
    if (message === null || typeof message !== "object" || Array.isArray(message)) {
      throw new TypeError(`SegmentService.${call}: the message must be an object`)
    }
    // Check and encode one snapshot: each top-level field read once (a
    // getter or a toJSON could otherwise give the check one value and the
    // encoding another, and the message be dropped after track() accepted it).
    let m
    let snap
    try {
      m = typeof message.toJSON === "function" ? message.toJSON("") : message
      if (m !== null && typeof m === "object" && !Array.isArray(m)) snap = Object.assign({}, m)
    } catch (e) {
      throw new TypeError(`SegmentService.${call}: the message cannot be read (${errorText(e)})`)
    }
    if (snap === undefined) throw notObject(call)
    checkMessage(call, snap)
    // A Date timestamp goes over as epoch ms: the core writes the same ISO
    // text, and V8's Date#toJSON (a printf) is a tenth of JSON.stringify's
    // cost on a typical order event.
    const ts = snap.timestamp
    if (ts instanceof Date && ts.toJSON === DATE_TO_JSON) snap.timestamp = ts.getTime()
    const hasCallback = typeof callback === "function"
    if (!hasCallback && callback !== undefined && callback !== null) {
      throw new TypeError(`SegmentService.${call}: the callback must be a function`)
    }
    let json
    try {
      json = JSON.stringify(snap)
    } catch (e) {
      throw new TypeError(`SegmentService.${call}: the message cannot be encoded as JSON (${e.message})`)
    }
    // Whether it is an object ("{...}") is checked natively (-4): reading
    // json[0] here would flatten the rope stringify returns, a copy.
    if (typeof json !== "string") throw notObject(call)
    // The 32 KB limit applies to the message as sent: h.maxJson leaves room
    // for the most the core adds (type, messageId, timestamp, context.library).
    // UTF-16 length <= UTF-8 bytes <= 3 x length: count bytes only when it matters.
    const max = h.maxJson
    if (json.length > max || (json.length * 3 > max && Buffer.byteLength(json) > max)) {
      throw new RangeError(
        `SegmentService.${call}: the message is ${Buffer.byteLength(json)} bytes of JSON, over Segment's 32 KB limit ` +
          `(${MAX_MESSAGE_BYTES} bytes, of which up to ${MAX_MESSAGE_BYTES - max} are the fields the library adds)`
      )
    }
    const seq = h.enqueue(call, json, hasCallback)
    if (seq >= 0) {
      if (hasCallback) h.callbacks.set(seq, callback)
    } else if (seq === -1) {
      // Dropped and counted (stats().dropped.queue_full) and logged natively.
      if (hasCallback) {
        process.nextTick(invoke, callback, new Error(`SegmentService.${call}: dropped, the queue is full (max_queue_bytes)`))
      }
    } else if (seq === -4) {
      throw notObject(call)
    } else {
      throw new Error(`SegmentService.${call}: the client has been shut down`)
    }
    return this
  }

  /** Resolves with stats() once everything accepted so far is delivered or given up on. */
  flush() {
    const h = this.#h
    if (this.#released || h.closed) {
      return Promise.reject(new Error("SegmentService.flush: the client has been shut down"))
    }
    return h.flush(null, false)
  }

  /**
   * Flush (bounded by `timeout` ms, default option shutdown_timeout), then
   * stop this service. The native client is shared by every service built
   * with the same options: the last owner's shutdown closes it (what is still
   * pending at the bound is dropped and counted); an earlier owner's only
   * waits, bounded, for what is pending, and the others keep working.
   */
  shutdown(opts) {
    const timeout = opts != null ? opts.timeout : undefined
    const h = this.#h
    if (timeout !== undefined && (typeof timeout !== "number" || !(timeout >= 0))) {
      return Promise.reject(new TypeError("SegmentService.shutdown: timeout must be a number of ms >= 0"))
    }
    const bound = timeout === undefined ? h.native.shutdownTimeout : timeout
    if (!this.#released) {
      this.#released = true
      h.owners--
    }
    if (h.owners > 0 && !h.closing) {
      return h.flush(bound, false).then((res) => ({ ...res, closed: false }))
    }
    return h.shutdown(bound)
  }

  closeAndFlush(opts) {
    return this.shutdown(opts)
  }

  /**
   * Counts `n` messages the caller chose not to send (e.g. "consent"): they
   * show as accepted and in stats().dropped[reason], so nothing is lost uncounted.
   */
  countDropped(reason, n = 1) {
    if (typeof reason !== "string" || !reason) throw new TypeError("SegmentService.countDropped: reason must be a non-empty string")
    if (!(Number.isInteger(n) && n > 0)) return
    this.#h.countDropped(reason, n)
  }

  /** Counters; see the README for the shape. */
  stats() {
    return this.#h.stats()
  }

  /** The client's last warnings and errors (at most 20), oldest first: [{ at, level, message }]. */
  recentErrors() {
    return this.#h.recent.slice()
  }
}

module.exports = { SegmentService }
