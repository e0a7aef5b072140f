"use strict"
// Process hooks: installed once per process, they cover every live client.
//
// The registry lives on `process` under a global symbol, so that two copies of
// this module (two install paths, a bundler, a test runner's registry) share
// one set of listeners and never mistake each other for the host's handler.

const REGISTRY = Symbol.for("medusa-plugin-segment-rs/process-hooks")

const noop = () => {}

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

module.exports = { installHooks, deferExitUntil }
