"use strict"

// Amounts as Medusa v1 stores them: integers in the currency's minor unit,
// except for the zero-decimal currencies, stored in whole units (the list
// medusa-core-utils' humanizeAmount uses).
const ZERO_DECIMAL = new Set([
  "BIF", "CLP", "DJF", "GNF", "JPY", "KMF", "KRW", "MGA",
  "PYG", "RWF", "UGX", "VND", "VUV", "XAF", "XOF", "XPF",
])

/** Upper-cased currency code, or null. */
function currencyCode(code) {
  return typeof code === "string" && code.trim() ? code.trim().toUpperCase() : null
}

/** Decimal places of the currency's minor unit (0 or 2). */
function decimals(currency) {
  return ZERO_DECIMAL.has(currencyCode(currency) || "") ? 0 : 2
}

/**
 * Rounds half away from zero to `places` decimals, exactly for the decimal
 * text of the number (29.500000000000004 -> 29.5, 1.005 -> 1.01).
 */
function roundTo(value, places) {
  if (value === null || value === undefined || value === "") return null
  const n = Number(value)
  if (!Number.isFinite(n)) return null
  if (Math.abs(n) >= 1e15) return n
  const sign = n < 0 ? -1 : 1
  const r = sign * Number(Math.round(Math.abs(n) + "e" + places) + "e-" + places)
  return Object.is(r, -0) ? 0 : r
}

/** Rounds to the currency's minor unit. */
function roundAmount(value, currency) {
  return roundTo(value, decimals(currency))
}

/** Stored Medusa amount -> major units, rounded to the minor unit. */
function humanize(amount, currency) {
  // as medusa-core-utils: null -> 0; undefined (not loaded) -> null
  if (amount === undefined) return null
  const n = Number(amount)
  if (!Number.isFinite(n)) return null
  return roundAmount(decimals(currency) === 0 ? n : n / 100, currency)
}

module.exports = { ZERO_DECIMAL, currencyCode, decimals, roundTo, roundAmount, humanize }
