// Type definitions for medusa-plugin-segment-rs (the JS API in index.js).

// GENERATED from lib/options.js by `npm run options:docs`: edit the table, not this block
export interface SegmentOptions {
  /** Segment source write key (`writeKey`, the spelling of Medusa's Segment guide, is accepted too). Missing: the backend still starts; one error names `write_key` and `SEGMENT_WRITE_KEY`, delivery is disabled and `stats()` says so. */
  write_key?: string
  /** Same as `write_key`. */
  writeKey?: string
  /** Segment API base URL; EU workspaces: `https://events.eu1.segmentapis.com`; any Segment-compatible collector. Must be an `http://` or `https://` URL with a valid host and a port from 1 to 65535, without user name, query or fragment; a path is kept. Default "https://api.segment.io". */
  host?: string
  /** Messages per batch. Default 20. */
  flush_at?: number
  /** ms after a batch's first message before it is sent anyway. Default 10000. */
  flush_interval?: number
  /** Retries per batch after the first attempt. Default 12. */
  max_retries?: number
  /** ms a batch may spend waiting and retrying before it is given up (counted and logged). Default 300000. */
  max_retry_time?: number
  /** First backoff delay in ms (doubles each retry, with jitter; 100 ms as analytics-node 3.5.0). Default 100. */
  min_retry_delay?: number
  /** Cap of one backoff delay in ms (not below `min_retry_delay`). Default 60000. */
  max_retry_delay?: number
  /** ms per HTTP request to Segment. Default 10000. */
  timeout?: number
  /** Batch requests in flight at once (connections are reused). Default 4. */
  max_in_flight?: number
  /** Bound on accepted, not yet delivered messages (their JSON plus a fixed overhead each, see Delivery guarantees); beyond it new messages are dropped, counted (`stats().dropped.queue_full`) and logged. Default: 67108864 (64 MB). */
  max_queue_bytes?: number
  /** Gzip request bodies (`Content-Encoding: gzip`). Default false. */
  gzip?: boolean
  /** `false`: validate, accept and count, send nothing (staging, tests). Default true. */
  enabled?: boolean
  /** ms bound of the flush on `beforeExit`/SIGTERM/SIGINT and the default of `shutdown()`. Default 5000. */
  shutdown_timeout?: number
  /** Directory of the on-disk spool (see Crash safety); `false` turns it off. Several processes may share it. Default: Medusa: .segment-spool under the backend's working directory when the store has no Redis URL (else spool_url); standalone: off. */
  spool_dir?: string | false
  /** Bound on the spool's files; beyond it new messages are dropped, counted (`stats().dropped.spool_full`) and logged. Default: 268435456 (256 MB). */
  max_spool_bytes?: number
  /** Redis spool shared by every process of the write key + host (`redis://[user:password@]host:port/db` or `rediss://...`), or `false`; not together with `spool_dir`. See Several instances. The URL is never logged. Default: Medusa: the store's Redis URL when it has one (projectConfig.redisUrl / redis_url), else off; standalone: off. */
  spool_url?: string | false
  /** ms after which a live process takes over the spooled messages of one that died (disk: same host, same `spool_dir`; Redis: any host), with their original `messageId`s, without waiting for a restart. Default 30000. */
  spool_takeover_ms?: number
  /** If the cart context has `ga_id`, "Order Completed" carries `integrations["Google Analytics"] = { clientId }`. Default false. */
  use_ga_id?: boolean
  /** Currency of the `reporting_*` properties. Default "EUR". */
  reporting_currency?: string
  /** Key of the exchange-rate service; needed for orders in another currency. */
  exchange_rates_api_key?: string
  /** Exchange-rate service (`/latest?symbols=FROM&base=TO&access_key=KEY`). Default "https://api.exchangeratesapi.io". */
  exchange_rates_url?: string
  /** ms a fetched rate is reused (one request per currency pair per TTL). Default 3600000. */
  exchange_rates_ttl?: number
  /** ms per exchange-rate request. Default 5000. */
  exchange_rates_timeout?: number
  /** A category of the shopper's consent (`cart.metadata.segment_consent`), e.g. `"analytics"`: when it is `false`, `consent_mode` applies. Unset: consent is forwarded, nothing dropped. See Attribution. */
  consent_category?: string
  /** `"drop"` (counted as `stats().dropped.consent`) or `"anonymize"` (tracks without identifiers; identifies left out). Needs `consent_category`. Default: "anonymize" when consent_category is set. */
  consent_mode?: "drop" | "anonymize"
  /** All on. `{ "<Medusa event>" | "<Segment event>" | "identify": false }` switches calls off (switchboard); the opt-in cart and checkout events: `{ funnel: true }` or by name (funnel). */
  events?: Record<string, boolean>
  /** `{ "Order Completed": "Purchase" }`: the event name sent (switchboard). */
  rename?: Record<string, string>
  /** `{ emails: [RegExp | string], sales_channel_ids: [...], test_orders }`: orders (and customers) not sent; `test_orders` (default `true`): `metadata.segment_test === true` (switchboard). */
  exclude?: { emails?: (RegExp | string)[]; sales_channel_ids?: string[]; test_orders?: boolean }
  /** `(message, { event, method, order, customer, container }) => message | undefined | null`, sync or async (switchboard). */
  enrich?: (message: object, ctx: object) => object | null | Promise<object | null>
  /** ms `enrich` may take; after it the original message is sent. Default 1000. */
  enrich_timeout?: number
  /** 2.x: `{ "<Medusa event>": { event, entity, fields, properties, user_id, id_from } }` (switchboard). */
  event_map?: Record<string, object>
  /** 2.x: `"captured"` sends "Order Completed" on `payment.captured` instead of `order.placed`. Default "placed". */
  order_completed_on?: "placed" | "captured"
  /** 2.x: how an event's order and its other records (fulfillment, returns, claim, exchanges, a payment and its order's refunds, a customer and its orders' totals, the cart of `cart.customer_transferred`) are read: `"sql"`, one SQL statement over Medusa's database connection, with Medusa's own totals math (used only when the tables it reads are there; on any error it logs once and uses the query graph from then on); `"query"`, Medusa's query graph (Medusa 2.x). Default "sql". */
  order_loader?: "sql" | "query"
  /** 2.x: the most orders per second a backfill sends. Default 20. */
  backfill_orders_per_second?: number
  /** 2.x: orders a backfill reads, sends and checkpoints at a time (at most 1000). Default 50. */
  backfill_page_size?: number
  /** 2.x: e-mail addresses of the users who may send a test event and start a backfill on the Admin page; others get it read-only. Default: — (every logged-in user). */
  admin_editors?: string[]
  /** Other keys are kept in `options_`; an unknown one logs a warning naming the nearest option. */
  [other: string]: unknown
}
// END GENERATED

export interface Integrations {
  [destination: string]: boolean | Record<string, unknown>
}

interface BaseMessage {
  userId?: string | number
  anonymousId?: string | number
  context?: Record<string, unknown>
  integrations?: Integrations
  timestamp?: Date | string | number
  messageId?: string
  [other: string]: unknown
}

export interface TrackMessage extends BaseMessage {
  event: string
  properties?: Record<string, unknown>
}
export interface IdentifyMessage extends BaseMessage {
  traits?: Record<string, unknown>
}
export interface PageMessage extends BaseMessage {
  name?: string
  category?: string
  properties?: Record<string, unknown>
}
export interface GroupMessage extends BaseMessage {
  groupId: string | number
  traits?: Record<string, unknown>
}
export interface AliasMessage extends BaseMessage {
  previousId: string | number
}

/** Called once the message is delivered (err null) or given up on (err set). */
export type Callback = (err: Error | null) => void

export interface SegmentStats {
  accepted: number
  delivered: number
  failed: number
  failed_reasons: Record<string, number>
  dropped: Record<string, number>
  retried: number
  queued: number
  queued_bytes: number
  in_flight: number
  batches: number
  requests: number
  bytes_sent: number
  spool: {
    dir: string | null
    /** The Redis spool (spool_url) is in use. */
    redis: boolean
    bytes: number
    /** Messages replayed from the files (or Redis entries) of processes that died. */
    replayed: number
    /** Redis spool: unsettled messages of this process that Redis lost (still delivered from memory). */
    lost: number
    /** Spool files found with a torn or corrupt tail. */
    damaged_files: number
    /** Failures to use the spool directory, or Redis outages (then messages stay in memory). */
    errors: number
  }
  enabled: boolean
  disabled_reason: string | null
  closed: boolean
}

export interface FlushResult extends SegmentStats {
  /** true when a bounded flush (shutdown) expired before everything settled. */
  timed_out: boolean
}

export declare class SegmentService {
  constructor(container?: Record<string, unknown> | null, options?: SegmentOptions)
  /** The options object as given. */
  options_: SegmentOptions
  track(message: TrackMessage, callback?: Callback): this
  identify(message: IdentifyMessage, callback?: Callback): this
  page(message: PageMessage, callback?: Callback): this
  screen(message: PageMessage, callback?: Callback): this
  group(message: GroupMessage, callback?: Callback): this
  alias(message: AliasMessage, callback?: Callback): this
  /** Resolves once everything accepted so far is delivered or given up on. */
  flush(): Promise<FlushResult>
  /**
   * Flush within `timeout` ms (default: option shutdown_timeout), then stop
   * this service. The native client is shared by services built with the same
   * options: `closed` is true when this was its last owner and it closed.
   */
  shutdown(opts?: { timeout?: number }): Promise<FlushResult & { closed: boolean }>
  closeAndFlush(opts?: { timeout?: number }): Promise<FlushResult & { closed: boolean }>
  stats(): SegmentStats
  /** The client's last warnings and errors (at most 20), oldest first. */
  recentErrors(): Array<{ at: string; level: "warn" | "error"; message: string }>
  /** Counts `n` (default 1) messages the caller chose not to send: accepted, and in stats().dropped[reason]. */
  countDropped(reason: string, n?: number): void
}

export default SegmentService
export declare const CORE_OPTIONS: string[]
export declare function libraryVersion(): string
/** Medusa's default spool_dir: `.segment-spool` under `cwd` (default process.cwd()). */
export declare function medusaSpoolDir(cwd?: string): string
