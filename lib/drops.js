"use strict"

// Messages the plugin decided not to send before they reached a client
// (switchboard: an event switched off, an excluded order, ...). They are
// counted here per reason and merged into every client's stats() as
// `dropped.<reason>` (and `accepted`, so accepted = delivered + failed +
// sum(dropped) + queued still holds). Counts are per process.

const counts = new Map()

/** Counts `n` messages dropped for `reason`. */
function countDrop(reason, n = 1) {
  counts.set(reason, (counts.get(reason) || 0) + n)
}

/** `stats` with the plugin's own drops merged in (a new object). */
function withDrops(stats) {
  if (!counts.size || !stats || typeof stats !== "object") return stats
  const dropped = { ...(stats.dropped || {}) }
  let extra = 0
  for (const [reason, n] of counts) {
    dropped[reason] = (dropped[reason] || 0) + n
    extra += n
  }
  const out = { ...stats, dropped }
  if (typeof stats.accepted === "number") out.accepted = stats.accepted + extra
  return out
}

/** The plugin's own drop counts, { reason: n } (tests). */
function drops() {
  return Object.fromEntries(counts)
}

module.exports = { countDrop, withDrops, drops }
