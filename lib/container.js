"use strict"

function hasResolve(container) {
  try {
    // Medusa's cradle is a proxy that throws for unknown names, "resolve" included
    return typeof container.resolve === "function" && typeof container.register === "function"
  } catch (_) {
    return false
  }
}

/**
 * Looks a registration up without throwing: works with an awilix container
 * (`resolve`), Medusa's cradle (a proxy that throws for unknown names) and
 * plain objects. Returns undefined when the name is not registered.
 */
function lookup(container, name) {
  if (!container) return undefined
  try {
    return hasResolve(container) ? container.resolve(name) : container[name]
  } catch (_) {
    return undefined
  }
}

/** Medusa's logger when registered, else console. */
function loggerOf(container) {
  const l = lookup(container, "logger")
  return l && typeof l.warn === "function" && typeof l.error === "function" ? l : console
}

module.exports = { lookup, loggerOf }
