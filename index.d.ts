// Type definitions for medusa-plugin-segment-rs (the JS API in index.js).

export interface SegmentOptions {
  /** Segment source write key. Missing: one error is logged and delivery is disabled. */
  write_key?: string
  /** Base URL; requests go to `${host}/v1/batch`. Default "https://api.segment.io". */
  host?: string
  /** Messages per batch. Default 20. */
  flush_at?: number
  /** ms after a batch's first message before it is sent anyway. Default 10000. */
  flush_interval?: number
  /** Retries per batch after the first attempt. Default 10. */
  max_retries?: number
  /** ms a batch may spend (waiting and retrying) before it is given up. Default 300000. */
  max_retry_time?: number
  /** First backoff delay in ms (doubles, with jitter). Default 500. */
  min_retry_delay?: number
  /** Cap of one backoff delay in ms. Default 60000. */
  max_retry_delay?: number
  /** ms per HTTP request. Default 10000. */
  timeout?: number
  /** Concurrent batch requests. Default 4. */
  max_in_flight?: number
  /** Bytes of accepted, unsettled messages; beyond it new messages are dropped. Default 67108864. */
  max_queue_bytes?: number
  /** gzip request bodies. Default false. */
  gzip?: boolean
  /** false: accept and count, send nothing. Default true. */
  enabled?: boolean
  /** ms bound of the flush on beforeExit/SIGTERM/SIGINT and of shutdown(). Default 5000. */
  shutdown_timeout?: number
  /**
   * Directory of the on-disk spool (accepted messages survive a crash and are
   * replayed on the next start), or false for none. Default: off standalone;
   * in Medusa `.segment-spool` under the backend's working directory.
   */
  spool_dir?: string | false
  /** Bytes the spool may take on disk; beyond it new messages are dropped (`dropped.spool_full`). Default 256 MiB. */
  max_spool_bytes?: number
  /** ms within which a live process adopts the spool files of one that died on the same host (from 100). Default 30000. */
  spool_takeover_ms?: number
  /** Options of the Medusa layer (and any other) are kept in `options_`. */
  [other: string]: unknown
}

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
    bytes: number
    /** Messages replayed from the files of processes that died. */
    replayed: number
    /** Spool files found with a torn or corrupt tail. */
    damaged_files: number
    /** Failures to use the spool directory (then messages stay in memory). */
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
