"use strict"
// The native clients, shared per configuration: every SegmentService built
// with equal options (canonical form from the core's normalizeOptions) uses
// one Handle, which holds the native client, the callbacks of the messages
// in flight, the pending flushes and the last warnings and errors.

const native = require("../load-native.js")
const { countDrop, withDrops } = require("../drops.js")
const { installHooks } = require("./exit-hooks.js")

// Message kinds and event codes of the native client (src/binding/client.rs).
const KIND = { track: 0, identify: 1, page: 2, screen: 3, group: 4, alias: 5 }
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

  /**
   * Hands one message's JSON to the core: its sequence number (>= 0); -1
   * when dropped because the queue is full (counted and logged natively);
   * below that when the client is closed.
   */
  enqueue(call, json, hasCallback) {
    return this.native.enqueue(KIND[call], json, hasCallback)
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

/**
 * The live client for options whose canonical form is `key`, made from
 * `optionsJson` (and logging to `loggerOf()`) when there is none yet.
 */
function sharedHandle(key, optionsJson, loggerOf) {
  let h = handles.get(key)
  if (h === undefined || h.closed || h.closing) {
    h = new Handle(key, optionsJson, loggerOf())
    handles.set(key, h)
    installHooks(handles)
  }
  return h
}

module.exports = { sharedHandle, invoke }
