"use strict"
// Generated from index.mjs by scripts/build-storefront.js: edit index.mjs, then run `node scripts/build-storefront.js`.
// medusa-plugin-segment-rs/storefront: the browser identifiers the plugin
// needs on cart.metadata, read from the storefront's own cookies and URL.
// No dependencies; runs in the browser (defaults: document.cookie,
// location.href, window.analytics) and on the storefront's server (pass
// `cookies`, e.g. from Next.js `cookies().getAll()`).
//
//   await sdk.store.cart.update(cartId, { metadata: cartMetadata({ consent }) })
//
// Returns only the keys it found: segment_anonymous_id, ga_client_id,
// ga_session_id, ga_session_number, fbp, fbc, gclid, segment_consent.
// The server checks every value again (docs/attribution.md).

/** Cookies as a name -> value map, from a Cookie header string, [{ name, value }] or a plain object. */
function parseCookies(cookies) {
  const out = {}
  if (!cookies) return out
  if (typeof cookies === "string") {
    for (const part of cookies.split(";")) {
      const i = part.indexOf("=")
      if (i < 0) continue
      const name = part.slice(0, i).trim()
      if (name && !(name in out)) out[name] = safeDecode(part.slice(i + 1).trim())
    }
    return out
  }
  if (Array.isArray(cookies)) {
    for (const c of cookies) if (c && typeof c.name === "string" && !(c.name in out)) out[c.name] = String(c.value)
    return out
  }
  if (typeof cookies === "object") for (const k of Object.keys(cookies)) out[k] = String(cookies[k])
  return out
}

function safeDecode(v) {
  try {
    return decodeURIComponent(v)
  } catch (_) {
    return v
  }
}

/** analytics.js stores its ids JSON-encoded ("\"abc\"") in cookies and localStorage. */
function unquote(v) {
  if (typeof v !== "string") return undefined
  const s = v.trim()
  if (s.length >= 2 && s[0] === '"' && s[s.length - 1] === '"') {
    try {
      return JSON.parse(s)
    } catch (_) {
      return s.slice(1, -1)
    }
  }
  return s || undefined
}

function anonymousIdOf(analytics, jar, storage) {
  try {
    const user = analytics && typeof analytics.user === "function" ? analytics.user() : null
    const id = user && typeof user.anonymousId === "function" ? user.anonymousId() : null
    if (typeof id === "string" && id) return id
  } catch (_) {
    // analytics.js not ready: the cookie or localStorage has the same id
  }
  if (jar.ajs_anonymous_id) return unquote(jar.ajs_anonymous_id)
  try {
    const v = storage && storage.getItem("ajs_anonymous_id")
    if (v) return unquote(v)
  } catch (_) {
    // storage blocked
  }
  return undefined
}

/** _ga = "GA1.<n>.<random>.<timestamp>": the client id is the last two parts. */
function gaClientId(ga) {
  const m = typeof ga === "string" && /^GA\d\.\d+\.(\d+\.\d+)$/.exec(ga.trim())
  return m ? m[1] : undefined
}

/**
 * _ga_<stream> = "GS1.1.<session id>.<session number>.…" or
 * "GS2.1.s<session id>$o<session number>$…": { id, number }.
 */
function gaSession(v) {
  if (typeof v !== "string") return {}
  const s = v.trim()
  let m = /^GS1\.\d+\.(\d+)\.(\d+)/.exec(s)
  if (m) return { id: m[1], number: m[2] }
  if (/^GS2\.\d+\./.test(s)) {
    const out = {}
    for (const part of s.replace(/^GS2\.\d+\./, "").split("$")) {
      if (/^s\d+$/.test(part)) out.id = part.slice(1)
      else if (/^o\d+$/.test(part)) out.number = part.slice(1)
    }
    return out
  }
  return {}
}

function sessionCookie(jar, measurementId) {
  if (measurementId) return jar[`_ga_${String(measurementId).replace(/^G-/, "")}`]
  const name = Object.keys(jar).find((k) => /^_ga_[A-Z0-9]+$/.test(k))
  return name ? jar[name] : undefined
}

function urlParam(url, name) {
  if (!url) return undefined
  try {
    return new URL(String(url), "http://localhost").searchParams.get(name) || undefined
  } catch (_) {
    return undefined
  }
}

/**
 * The cart.metadata object for sdk.store.cart.create / cart.update.
 *
 * options:
 *   consent        Segment categoryPreferences from your consent tool, e.g. { analytics: true, advertising: false }
 *   measurementId  the GA4 stream ("G-XXXX") whose _ga_<id> cookie holds the session; default: the first found
 *   cookies        Cookie header string, [{ name, value }] or { name: value } (default: document.cookie)
 *   url            the landing URL for gclid/fbclid (default: location.href)
 *   analytics      an analytics.js instance (default: window.analytics)
 *   storage        a Storage (default: window.localStorage)
 *   now            ms timestamp for an _fbc built from fbclid (default: Date.now())
 */
function cartMetadata(options = {}) {
  const g = typeof globalThis !== "undefined" ? globalThis : {}
  const doc = g.document
  const cookies = options.cookies !== undefined ? options.cookies : doc && doc.cookie
  const jar = parseCookies(cookies)
  const url = options.url !== undefined ? options.url : g.location && g.location.href
  let storage = options.storage
  if (storage === undefined) {
    try {
      storage = g.localStorage
    } catch (_) {
      storage = undefined
    }
  }
  const out = {}
  const set = (k, v) => {
    if (typeof v === "string" && v) out[k] = v
  }
  set("segment_anonymous_id", anonymousIdOf(options.analytics !== undefined ? options.analytics : g.analytics, jar, storage))
  set("ga_client_id", gaClientId(jar._ga))
  const session = gaSession(sessionCookie(jar, options.measurementId))
  set("ga_session_id", session.id)
  set("ga_session_number", session.number)
  set("fbp", jar._fbp)
  const fbclid = urlParam(url, "fbclid")
  // Meta's format for a click id the Pixel has not stored yet
  set("fbc", jar._fbc || (fbclid ? `fb.1.${options.now || Date.now()}.${fbclid}` : undefined))
  // the URL first, then Google's conversion linker cookie (_gcl_aw = "GCL.<time>.<gclid>")
  const gcl = /^GCL\.\d+\.(.+)$/.exec(jar._gcl_aw || "")
  set("gclid", urlParam(url, "gclid") || (gcl ? gcl[1] : undefined))
  const c = options.consent
  if (c && typeof c === "object" && !Array.isArray(c)) {
    const prefs = {}
    for (const k of Object.keys(c)) if (typeof c[k] === "boolean") prefs[k] = c[k]
    if (Object.keys(prefs).length) out.segment_consent = prefs
  }
  return out
}

module.exports = { parseCookies, cartMetadata }
module.exports.default = cartMetadata
