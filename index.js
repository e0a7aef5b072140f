"use strict"
// medusa-plugin-segment-rs: the JS face of the Rust Segment client.
//
// On the caller's thread a message costs: a few field checks, JSON.stringify,
// a size check and one native call that puts the string on a channel.
// Parsing, enrichment (type, messageId, timestamp, context.library),
// batching, gzip, HTTP, retries and accounting run on a background runtime.

const native = require("./lib/load-native.js")
const { countDrop, withDrops } = require("./lib/drops.js")

const KIND = { track: 0, identify: 1, page: 2, screen: 3, group: 4, alias: 5 }
const MAX_MESSAGE_BYTES = 32 * 1024

// The options table (lib/options.js): which options the native client reads.
const { CORE_OPTIONS, warnUnknownOptions } = require("./lib/options.js")

// Native event codes (src/binding/client.rs).
const EV_SETTLED = 0
const EV_REJECTED = 1
const EV_LOG = 2
const EV_FLUSHED = 3

/** Live native clients, shared per configuration: canonical options -> Handle. */
const handles = new Map()

const noop = () => {}

function rethrowLater(err) {
  process.nextTick(() => {
    throw err
  })
}

function invoke(cb, err) {
  try {
    cb(err)
  } catch (e) {
    rethrowLater(e)
  }
}

/** The message of an error, whatever was thrown (never throws itself). */
function errorText(e) {
  try {
    const m = e instanceof Error ? e.message : String(e)
    return typeof m === "string" ? m.slice(0, 200) : "unknown error"
  } catch (_) {
    return "unknown error"
  }
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

const RECENT_ERRORS = 20

/** One native client with its callbacks and pending flushes. */
class Handle {
  constructor(key, optionsJson, logger) {
    // The canonical options include the write key: keep it out of inspect().
    Object.defineProperty(this, "key", { value: key, enumerable: false })
    this.logger = logger
    this.callbacks = new Map() // seq -> node-style callback
    this.flushes = new Map() // id -> { resolve, keepAlive }
    this.nextFlushId = 1
    this.closed = false
    this.closing = null
    this.owners = 0 // SegmentServices using this client and not shut down
    this.recent = []
    this.native = new native.NativeClient(optionsJson, (code, a, b, text) =>
      this.onEvent(code, a, b, text)
    )
    this.maxJson = this.native.maxMessageJson
    if (this.native.stats().disabled_reason === "write_key is missing") {
      // Logged here, synchronously, once per client: the original plugin threw
      // and aborted Medusa's start-up instead.
      this.log(
        2,
        "[segment] no Segment write key: set the plugin option `write_key` (usually from the " +
          "SEGMENT_WRITE_KEY environment variable). Delivery is disabled; events are counted and dropped."
      )
    }
  }

  onEvent(code, a, b, text) {
    switch (code) {
      case EV_SETTLED: {
        if (this.callbacks.size === 0) return
        const err = text == null ? null : new Error(text)
        for (let seq = a; seq <= b; seq++) {
          const cb = this.callbacks.get(seq)
          if (cb !== undefined) {
            this.callbacks.delete(seq)
            invoke(cb, err)
          }
        }
        return
      }
      case EV_REJECTED: {
        const cb = this.callbacks.get(a)
        if (cb !== undefined) {
          this.callbacks.delete(a)
          invoke(cb, new Error(text))
        }
        return
      }
      case EV_LOG:
        return this.log(a, text)
      case EV_FLUSHED: {
        const f = this.flushes.get(a)
        if (f === undefined) return
        this.flushes.delete(a)
        clearInterval(f.keepAlive)
        f.resolve({ ...this.stats(), timed_out: b === 1 })
        return
      }
    }
  }

  log(level, text) {
    const l = this.logger
    // the last warnings and errors with their time, for the Admin page (recentErrors())
    if (level >= 1) {
      this.recent.push({ at: new Date().toISOString(), level: level >= 2 ? "error" : "warn", message: String(text) })
      if (this.recent.length > RECENT_ERRORS) this.recent.shift()
    }
    try {
      if (level >= 2) l.error(text)
      else if (level === 1) (l.warn || l.error).call(l, text)
      else (l.info || l.log || noop).call(l, text)
    } catch (_) {
      // a broken logger must not break delivery
    }
  }

  pending() {
    return this.native.pending()
  }

  /** Messages the plugin decided not to send (consent, filters): accepted and dropped for `reason` (lib/drops.js). */
  countDropped(reason, n) {
    countDrop(reason, n)
  }

  stats() {
    // with the plugin's own drops (switchboard, ...), lib/drops.js
    return withDrops(this.native.stats())
  }

  /** Resolves once everything accepted so far is settled (or the timeout expired). */
  flush(timeoutMs, abandon) {
    return new Promise((resolve) => {
      const id = this.nextFlushId
      this.nextFlushId = (this.nextFlushId % 0x7fffffff) + 1
      // A ref'd timer keeps the process alive while the flush is pending;
      // the native side holds nothing that would.
      const keepAlive = setInterval(noop, 1 << 30)
      this.flushes.set(id, { resolve, keepAlive })
      const timeout = timeoutMs == null ? -1 : timeoutMs
      if (!this.native.flush(id, timeout, Boolean(abandon))) {
        this.flushes.delete(id)
        clearInterval(keepAlive)
        resolve({ ...this.stats(), timed_out: false })
      }
    })
  }

  async shutdown(timeoutMs) {
    if (this.closing) return this.closing
    this.closing = (async () => {
      const result = await this.flush(timeoutMs, true)
      this.closed = true
      this.native.close()
      if (handles.get(this.key) === this) handles.delete(this.key)
      return { ...result, closed: true }
    })()
    return this.closing
  }
}

// ---- process hooks: installed once per process, cover every live client ----
//
// The registry lives on `process` under a global symbol, so that two copies of
// this module (two install paths, a bundler, a test runner's registry) share
// one set of listeners and never mistake each other for the host's handler.

const REGISTRY = Symbol.for("medusa-plugin-segment-rs/process-hooks")

function registry() {
  let r = process[REGISTRY]
  if (r === undefined) {
    r = { sources: new Set(), listeners: null, signalled: new Set() }
    Object.defineProperty(process, REGISTRY, { value: r, enumerable: false })
  }
  return r
}

/** Live clients of every copy of this module that have messages pending. */
function liveWithPending() {
  const out = []
  for (const source of registry().sources) {
    for (const h of source.values()) if (!h.closed && h.pending() > 0) out.push(h)
  }
  return out
}

/**
 * On exit (process.exit(), an uncaught exception): the spool writes what its
 * thread has not yet; without a spool, what is still queued is lost, and the
 * log says so (the process can no longer deliver or count it).
 */
function onExit() {
  for (const source of registry().sources) {
    for (const h of source.values()) {
      if (h.closed) continue
      h.native.commitSpool()
      const pending = h.pending()
      if (pending === 0) continue
      const spool = h.stats().spool
      if (spool && spool.dir && spool.errors === 0) continue
      h.log(
        2,
        `[segment] the process is exiting with ${pending} messages not yet delivered and no spool to keep them: ` +
          "they are lost. Fix: await service.shutdown() before process.exit(), or set the option spool_dir"
      )
    }
  }
}

function onBeforeExit() {
  // Re-fires after our flush settles; only act when something is pending.
  for (const h of liveWithPending()) h.flush(h.native.shutdownTimeout, true)
}

/**
 * While a signal-triggered flush runs, a host that handles the signal itself
 * (Medusa's `medusa start` does: it closes the server, then process.exit(0))
 * may call process.exit() before our flush is done. Defer that exit until the
 * flush settles (bounded by shutdown_timeout), then exit with the same code.
 */
function deferExitUntil(flushing, boundMs) {
  const original = process.exit
  if (original.segmentDeferral) return
  const settled = Promise.race([
    flushing.then(noop, noop),
    new Promise((resolve) => setTimeout(resolve, boundMs).unref()),
  ])
  function deferredExit(code) {
    if (deferredExit.called) return
    deferredExit.called = true
    settled.then(() => original.call(process, code))
  }
  deferredExit.segmentDeferral = true
  process.exit = deferredExit
  settled.then(() => {
    if (process.exit === deferredExit) process.exit = original
  })
}

/** Remove our listeners and raise the signal again: the default action runs. */
function reraise(signal) {
  uninstallHooks()
  process.kill(process.pid, signal)
}

function onSignal(signal) {
  const r = registry()
  const hostHandles = process.listeners(signal).some((l) => !r.listeners.has(l))
  if (!hostHandles && r.signalled.has(signal)) {
    // Second signal while the first one's flush runs: stop waiting.
    return reraise(signal)
  }
  r.signalled.add(signal)
  const pending = liveWithPending()
  const flushing = Promise.all(pending.map((h) => h.flush(h.native.shutdownTimeout, true)))
  if (hostHandles) {
    // The host handles this signal: leave the exit to it, but don't let its
    // process.exit() cut our bounded flush short.
    if (pending.length > 0) {
      const bound = Math.max(...pending.map((h) => h.native.shutdownTimeout)) + 1000
      deferExitUntil(flushing, bound)
    }
    flushing.then(() => r.signalled.delete(signal))
    return
  }
  // Nobody else handles it: once flushed, end as the default action would.
  flushing.then(() => reraise(signal))
}

function installHooks(source) {
  const r = registry()
  r.sources.add(source)
  if (r.listeners !== null) return
  const sigterm = () => onSignal("SIGTERM")
  const sigint = () => onSignal("SIGINT")
  r.listeners = new Set([onBeforeExit, sigterm, sigint, onExit])
  r.bound = { beforeExit: onBeforeExit, sigterm, sigint, exit: onExit }
  process.on("exit", onExit)
  process.on("beforeExit", onBeforeExit)
  process.on("SIGTERM", sigterm)
  process.on("SIGINT", sigint)
}

function uninstallHooks() {
  const r = registry()
  if (r.listeners === null) return
  process.removeListener("exit", r.bound.exit)
  process.removeListener("beforeExit", r.bound.beforeExit)
  process.removeListener("SIGTERM", r.bound.sigterm)
  process.removeListener("SIGINT", r.bound.sigint)
  r.listeners = null
  r.signalled.clear()
}

// ---- the service -----------------------------------------------------------

function isBlank(v) {
  return v === undefined || v === null || v === ""
}

/** Nothing but white space (what Rust's `trim` removes, and U+FEFF as JS's does). */
function isWhiteSpace(s) {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i)
    if (
      !(
        c === 32 ||
        (c >= 9 && c <= 13) ||
        c === 0x85 ||
        c === 0xa0 ||
        c === 0x1680 ||
        (c >= 0x2000 && c <= 0x200a) ||
        c === 0x2028 ||
        c === 0x2029 ||
        c === 0x202f ||
        c === 0x205f ||
        c === 0x3000 ||
        c === 0xfeff
      )
    )
      return false
  }
  return true
}

function kindOf(v) {
  if (v === null) return "null"
  if (Array.isArray(v)) return "an array"
  if (v instanceof Date) return "a Date"
  if (typeof v === "number") return Number.isFinite(v) ? "a number" : String(v) // NaN, Infinity
  const t = typeof v
  return /^[aeiou]/.test(t) ? `an ${t}` : `a ${t}`
}

/** Why `v` is not a usable id (a string with text, or a finite number), or null. */
function idProblem(v) {
  if (typeof v === "string") return isWhiteSpace(v) ? "is only white space" : null
  if (typeof v === "number" && Number.isFinite(v)) return null
  return `must be a string or a finite number (got ${kindOf(v)})`
}

/** An object that JSON-encodes as an object: not an array, a Date, a string... */
function encodesAsObject(v) {
  if (typeof v !== "object" || v === null || Array.isArray(v)) return false
  if (typeof v.toJSON !== "function") return true
  if (v instanceof Date) return false
  let j
  try {
    j = v.toJSON("")
  } catch (_) {
    return true // JSON.stringify will throw the same, with the call named
  }
  return typeof j === "object" && j !== null && !Array.isArray(j)
}

// Epoch milliseconds of 0000-01-01 and 9999-12-31T23:59:59.999Z: the core
// writes timestamps as four-digit years.
const MIN_TIME = -62167219200000
const MAX_TIME = 253402300799999

/**
 * Throws, naming the field, for what Segment (and the debugger) would refuse:
 * everything a message needs is checked here, on the caller's thread, so that
 * nothing accepted is dropped later for a reason the caller could have seen.
 */
function checkMessage(call, m) {
  const fail = (what) => {
    throw new TypeError(`SegmentService.${call}: ${what}`)
  }
  let hasId = false
  for (const field of ["userId", "anonymousId"]) {
    const v = m[field]
    if (isBlank(v)) continue
    const problem = idProblem(v)
    if (problem !== null) fail(`"${field}" ${problem}`)
    hasId = true
  }
  if (!hasId) fail('the message needs a "userId" or an "anonymousId"')
  if (call === "track") {
    const e = m.event
    if (typeof e !== "string" || e === "") fail('the message needs an "event" (a non-empty string)')
    if (isWhiteSpace(e)) fail('"event" is only white space')
  } else if (call === "group" || call === "alias") {
    const field = call === "group" ? "groupId" : "previousId"
    const v = m[field]
    if (isBlank(v)) fail(`the message needs a "${field}"`)
    const problem = idProblem(v)
    if (problem !== null) fail(`"${field}" ${problem}`)
  }
  for (const field of ["properties", "traits", "context", "integrations"]) {
    const v = m[field]
    if (v !== undefined && v !== null && !encodesAsObject(v)) {
      fail(`"${field}" must be an object (got ${kindOf(v)})`)
    }
  }
  const ts = m.timestamp
  if (ts !== undefined && ts !== null && typeof ts !== "string") {
    const ms = ts instanceof Date ? ts.getTime() : typeof ts === "number" ? ts : undefined
    if (ms === undefined) {
      fail(`"timestamp" must be a Date, an ISO-8601 string or epoch milliseconds (got ${kindOf(ts)})`)
    }
    if (!(ms >= MIN_TIME && ms <= MAX_TIME)) fail('"timestamp" is not a valid date in the years 0 to 9999')
  }
  const id = m.messageId
  if (id !== undefined && id !== null && typeof id !== "string" && !(typeof id === "number" && Number.isFinite(id))) {
    fail(`"messageId" must be a string (got ${kindOf(id)})`)
  }
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
    let h = handles.get(key)
    if (h === undefined || h.closed || h.closing) {
      h = new Handle(key, json, pickLogger(container))
      handles.set(key, h)
      installHooks(handles)
    }
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
    if (snap === undefined) throw new TypeError(`SegmentService.${call}: the message must encode as a JSON object`)
    checkMessage(call, snap)
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
    if (typeof json !== "string" || json.charCodeAt(0) !== 123) throw new TypeError(`SegmentService.${call}: the message must encode as a JSON object`)
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
    const seq = h.native.enqueue(KIND[call], json, hasCallback)
    if (seq >= 0) {
      if (hasCallback) h.callbacks.set(seq, callback)
    } else if (seq === -1) {
      // Dropped and counted (stats().dropped.queue_full) and logged natively.
      if (hasCallback) {
        process.nextTick(invoke, callback, new Error(`SegmentService.${call}: dropped, the queue is full (max_queue_bytes)`))
      }
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

module.exports = SegmentService
module.exports.SegmentService = SegmentService
module.exports.default = SegmentService
module.exports.CORE_OPTIONS = CORE_OPTIONS
module.exports.libraryVersion = native.libraryVersion
module.exports.medusaSpoolDir = require("./lib/spool").medusaSpoolDir
