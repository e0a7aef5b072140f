"use strict"

// Every option the plugin (v1 and v2), the v2 analytics provider and
// SegmentService accept, listed once. This table drives:
//   - which options are sent to the native core (`core: true`; the core
//     validates those itself, src/config.rs) and which the JS checks (`check`),
//   - the unknown-option warning ("did you mean `flush_interval`?"),
//   - the defaults the Medusa layer uses (`default`),
//   - the options reference (docs/options.md) and the SegmentOptions type
//     (index.d.ts), both written by `npm run options:docs`,
//   - __tests__/core/options.test.js, which fails when the core's defaults
//     or ranges, the docs or the .d.ts drift from it.
// Adding an option is one row here (then `npm run options:docs`); see
// docs/development.md "Adding an option".
//
// Row fields:
//   name     snake_case option name
//   type     its TypeScript type
//   default  the default value (undefined: none); `shown` overrides how the
//            docs print it
//   core     true: read by the native core (sent to it, validated there)
//   range    [min, max] of an integer core option (checked against the core)
//   check    for options the JS reads: one of the CHECKS below
//   aliases  other accepted spellings
//   doc      one line for the reference

const DAY_MS = 24 * 3600 * 1000

const OPTIONS = [
  { name: "write_key", type: "string", core: true, aliases: ["writeKey"], doc: "Segment source write key (`writeKey`, the spelling of Medusa's Segment guide, is accepted too). Missing: the backend still starts; one error names `write_key` and `SEGMENT_WRITE_KEY`, delivery is disabled and `stats()` says so." },
  { name: "host", type: "string", core: true, default: "https://api.segment.io", doc: "Segment API base URL; EU workspaces: `https://events.eu1.segmentapis.com`; any Segment-compatible collector. Must be an `http://` or `https://` URL with a valid host and a port from 1 to 65535, without user name, query or fragment; a path is kept." },
  { name: "flush_at", type: "number", core: true, default: 20, range: [1, 10000], doc: "Messages per batch." },
  { name: "flush_interval", type: "number", core: true, default: 10000, range: [1, DAY_MS], doc: "ms after a batch's first message before it is sent anyway." },
  { name: "max_retries", type: "number", core: true, default: 12, range: [0, 1000], doc: "Retries per batch after the first attempt." },
  { name: "max_retry_time", type: "number", core: true, default: 300000, range: [0, DAY_MS], doc: "ms a batch may spend waiting and retrying before it is given up (counted and logged)." },
  { name: "min_retry_delay", type: "number", core: true, default: 100, range: [1, DAY_MS], doc: "First backoff delay in ms (doubles each retry, with jitter; 100 ms as analytics-node 3.5.0)." },
  { name: "max_retry_delay", type: "number", core: true, default: 60000, range: [1, DAY_MS], doc: "Cap of one backoff delay in ms (not below `min_retry_delay`)." },
  { name: "timeout", type: "number", core: true, default: 10000, range: [1, DAY_MS], doc: "ms per HTTP request to Segment." },
  { name: "max_in_flight", type: "number", core: true, default: 4, range: [1, 64], doc: "Batch requests in flight at once (connections are reused)." },
  { name: "max_queue_bytes", type: "number", core: true, default: 67108864, shown: "`67108864` (64 MB)", range: [32768, 2 ** 40], doc: "Bound on accepted, not yet delivered messages (their JSON plus a fixed overhead each, see [Delivery guarantees](delivery.md#delivery-guarantees)); beyond it new messages are dropped, counted (`stats().dropped.queue_full`) and logged." },
  { name: "gzip", type: "boolean", core: true, default: false, doc: "Gzip request bodies (`Content-Encoding: gzip`)." },
  { name: "enabled", type: "boolean", core: true, default: true, doc: "`false`: validate, accept and count, send nothing (staging, tests)." },
  { name: "shutdown_timeout", type: "number", core: true, default: 5000, range: [0, DAY_MS], doc: "ms bound of the flush on `beforeExit`/SIGTERM/SIGINT and the default of `shutdown()`." },
  { name: "spool_dir", type: "string | false", core: true, shown: "Medusa: `.segment-spool` under the backend's working directory when the store has no Redis URL (else `spool_url`); standalone: off", doc: "Directory of the on-disk spool (see [Crash safety](delivery.md#crash-safety-the-spool)); `false` turns it off. Several processes may share it." },
  { name: "max_spool_bytes", type: "number", core: true, default: 268435456, shown: "`268435456` (256 MB)", range: [65536, 2 ** 50], doc: "Bound on the spool's files; beyond it new messages are dropped, counted (`stats().dropped.spool_full`) and logged." },
  { name: "spool_url", type: "string | false", core: true, shown: "Medusa: the store's Redis URL when it has one (`projectConfig.redisUrl` / `redis_url`), else off; standalone: off", doc: "Redis spool shared by every process of the write key + host (`redis://[user:password@]host:port/db` or `rediss://...`), or `false`; not together with `spool_dir`. See [Several instances](multi-instance.md). The URL is never logged." },
  { name: "spool_takeover_ms", type: "number", core: true, default: 30000, range: [100, DAY_MS], doc: "ms after which a live process takes over the spooled messages of one that died (disk: same host, same `spool_dir`; Redis: any host), with their original `messageId`s, without waiting for a restart." },
  // Read by the Medusa layer (order events), checked in JS.
  { name: "use_ga_id", type: "boolean", default: false, check: "boolean", doc: "If the cart context has `ga_id`, \"Order Completed\" carries `integrations[\"Google Analytics\"] = { clientId }`." },
  { name: "reporting_currency", type: "string", default: "EUR", check: "currency", doc: "Currency of the `reporting_*` properties." },
  { name: "exchange_rates_api_key", type: "string", check: "string", doc: "Key of the exchange-rate service; needed for orders in another currency." },
  { name: "exchange_rates_url", type: "string", default: "https://api.exchangeratesapi.io", check: "url", doc: "Exchange-rate service (`/latest?symbols=FROM&base=TO&access_key=KEY`)." },
  { name: "exchange_rates_ttl", type: "number", default: 3600000, check: "ms", doc: "ms a fetched rate is reused (one request per currency pair per TTL)." },
  { name: "exchange_rates_timeout", type: "number", default: 5000, check: "ms", doc: "ms per exchange-rate request." },
  // Consent (lib/attribution.js checks them; docs/attribution.md).
  { name: "consent_category", type: "string", doc: "A category of the shopper's consent (`cart.metadata.segment_consent`), e.g. `\"analytics\"`: when it is `false`, `consent_mode` applies. Unset: consent is forwarded, nothing dropped. See [Attribution](attribution.md#6-consent)." },
  { name: "consent_mode", type: '"drop" | "anonymize"', shown: '`"anonymize"` when `consent_category` is set', doc: "`\"drop\"` (counted as `stats().dropped.consent`) or `\"anonymize\"` (tracks without identifiers; identifies left out). Needs `consent_category`." },
  // The switchboard (lib/switchboard.js checks them; docs/switchboard.md).
  { name: "events", type: "Record<string, boolean>", doc: "All on. `{ \"<Medusa event>\" | \"<Segment event>\" | \"identify\": false }` switches calls off ([switchboard](switchboard.md#events)); the opt-in cart and checkout events: `{ funnel: true }` or by name ([funnel](funnel.md))." },
  { name: "rename", type: "Record<string, string>", doc: "`{ \"Order Completed\": \"Purchase\" }`: the event name sent ([switchboard](switchboard.md#rename))." },
  { name: "exclude", type: "{ emails?: (RegExp | string)[]; sales_channel_ids?: string[]; test_orders?: boolean }", doc: "`{ emails: [RegExp | string], sales_channel_ids: [...], test_orders }`: orders (and customers) not sent; `test_orders` (default `true`): `metadata.segment_test === true` ([switchboard](switchboard.md#exclude))." },
  { name: "enrich", type: "(message: object, ctx: object) => object | null | Promise<object | null>", doc: "`(message, { event, method, order, customer, container }) => message | undefined | null`, sync or async ([switchboard](switchboard.md#enrich))." },
  { name: "enrich_timeout", type: "number", default: 1000, doc: "ms `enrich` may take; after it the original message is sent." },
  { name: "event_map", type: "Record<string, object>", doc: "2.x: `{ \"<Medusa event>\": { event, entity, fields, properties, user_id, id_from } }` ([switchboard](switchboard.md#event_map-2x))." },
  { name: "order_completed_on", type: '"placed" | "captured"', default: "placed", doc: "2.x: `\"captured\"` sends \"Order Completed\" on `payment.captured` instead of `order.placed`." },
  { name: "order_loader", type: '"sql" | "query"', default: "sql", check: "loader", doc: "2.x: how an event's order and its other records (fulfillment, returns, claim, exchanges, a payment and its order's refunds, a customer and its orders' totals, the cart of `cart.customer_transferred`) are read: `\"sql\"`, one SQL statement over Medusa's database connection, with Medusa's own totals math (used only when the tables it reads are there; on any error it logs once and uses the query graph from then on); `\"query\"`, Medusa's query graph ([Medusa 2.x](medusa-v2.md#how-the-order-is-read))." },
  { name: "backfill_orders_per_second", type: "number", default: 20, check: "positive", doc: "2.x: the most orders per second a [backfill](backfill.md) sends." },
  { name: "backfill_page_size", type: "number", default: 50, check: "positive", doc: "2.x: orders a backfill reads, sends and checkpoints at a time (at most 1000)." },
  { name: "admin_editors", type: "string[]", shown: "— (every logged-in user)", check: "emails", doc: "2.x: e-mail addresses of the users who may send a test event and start a backfill on the [Admin page](admin.md); others get it read-only." },
]

/** The JS checks of `check`: each returns what the value must be, or null when it is fine. */
const CHECKS = {
  boolean: (v) => (typeof v === "boolean" ? null : "must be true or false"),
  currency: (v) => (/^[A-Za-z]{3}$/.test(String(v)) ? null : 'must be a 3-letter ISO 4217 code such as "EUR"'),
  string: (v) => (v === null || typeof v === "string" ? null : "must be a string"),
  url: (v) => (/^https?:\/\/\S+$/.test(String(v)) ? null : "must be an http:// or https:// URL"),
  ms: (v) => (Number.isInteger(v) && v >= 0 ? null : "must be a whole number of ms >= 0"),
  positive: (v) => (typeof v === "number" && Number.isFinite(v) && v > 0 ? null : "must be a number > 0"),
  loader: (v) => (v === "sql" || v === "query" ? null : 'must be "sql" (one SQL statement, the default) or "query" (Medusa\'s query graph)'),
  emails: (v) => (v === null || (Array.isArray(v) && v.every((x) => typeof x === "string")) ? null : 'must be a list of e-mail addresses, e.g. ["owner@shop.example"]'),
}

const BY_NAME = new Map()
for (const row of OPTIONS) {
  BY_NAME.set(row.name, row)
  for (const a of row.aliases || []) BY_NAME.set(a, row)
}

/** Names the native core reads. */
const CORE_OPTIONS = OPTIONS.filter((r) => r.core).map((r) => r.name)

/** The default of `name` (undefined when it has none). */
function defaultOf(name) {
  const row = BY_NAME.get(name)
  return row && row.default
}

/** Why the JS-checked option `name` is wrong, as an error naming it, or null. */
function checkOption(name, value) {
  const row = BY_NAME.get(name)
  if (!row || !row.check || value === undefined) return null
  const problem = CHECKS[row.check](value)
  if (problem === null) return null
  const shown = row.check === "string" ? "" : ` (got ${JSON.stringify(value)})` // may be a key: not echoed
  return new TypeError(`medusa-plugin-segment-rs: invalid option \`${name}\`: ${problem}${shown}`)
}

/** Edit distance with adjacent swaps counted as one (optimal string alignment). */
function distance(a, b) {
  const d = []
  for (let i = 0; i <= a.length; i++) d.push([i])
  for (let j = 1; j <= b.length; j++) d[0][j] = j
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1
      d[i][j] = Math.min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost)
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) d[i][j] = Math.min(d[i][j], d[i - 2][j - 2] + 1)
    }
  }
  return d[a.length][b.length]
}

/** The known option nearest to `name` (case and `-`/camelCase folded), if it is near enough to be a typo. */
function nearestOption(name) {
  const fold = (s) => s.replace(/([a-z])([A-Z])/g, "$1_$2").replace(/-/g, "_").toLowerCase()
  const n = fold(name)
  let best = null
  let bestD = Infinity
  for (const known of BY_NAME.keys()) {
    const d = distance(n, fold(known))
    if (d < bestD) [best, bestD] = [known, d]
  }
  return bestD <= Math.max(2, Math.floor(n.length / 3)) ? best : null
}

// Unknown names already warned about in this process (Medusa builds the
// service once per request scope: one warning per name, not per build).
const warned = new Set()

/**
 * Logs one warning per unknown option name: not an error, since a host may
 * pass keys of its own, but a typo must not silently mean "the default".
 * Returns the unknown names found in `options`.
 */
// Keys Medusa 2.x itself adds to a plugin module's options (the store's
// database settings): not the user's, never warned about.
const MEDUSA_KEYS = new Set(["database"])

function warnUnknownOptions(options, logger) {
  if (!options || typeof options !== "object") return []
  const unknown = Object.keys(options).filter((k) => !BY_NAME.has(k) && !MEDUSA_KEYS.has(k))
  for (const k of unknown) {
    if (warned.has(k)) continue
    warned.add(k)
    const near = nearestOption(k)
    const text =
      `[segment] unknown option \`${k}\` is ignored` +
      (near ? `: did you mean \`${near}\`?` : ` (the options: docs/options.md)`)
    try {
      const l = logger || console
      ;(l.warn || l.error || console.warn).call(l, text)
    } catch (_) {
      // a broken logger must not break the store
    }
  }
  return unknown
}

module.exports = { OPTIONS, CORE_OPTIONS, CHECKS, defaultOf, checkOption, nearestOption, warnUnknownOptions, distance }
