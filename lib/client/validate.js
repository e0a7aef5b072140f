"use strict"
// The checks a message passes on the caller's thread before it is accepted:
// everything Segment (and the debugger) would refuse is refused here, naming
// the field, so nothing accepted is dropped later for a reason the caller
// could have seen.

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

module.exports = { checkMessage }
