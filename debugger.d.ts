export interface DebuggerOptions {
  /** Port to listen on; 0 (default) picks a free one. */
  port?: number
  /** Interface to listen on (default "127.0.0.1"). */
  host?: string
  /** Print one line per event and per refused request (default true). */
  print?: boolean
  /** When set, requests carrying another write key are refused. */
  writeKey?: string
  /** How long a request's head or body may take to arrive, in ms (default 10000); idle connections, and clients that stop reading, are closed after it too. */
  readTimeoutMs?: number
  /** Connections open at once (default 256); a new one past it closes the oldest (at once when idle, else within 1 s). */
  maxConnections?: number
  /** Entries kept (default 100000); the oldest are dropped first and counted. */
  maxEntries?: number
  /** Bytes of entry JSON kept (default 64 MB); the oldest are dropped first and counted. */
  maxStoredBytes?: number
  /** Live pages (event streams) at once (default 16); more get 503. */
  maxStreams?: number
}

export interface DebuggerStats {
  /** Entries kept now, and the bytes of JSON they take. */
  entries: number
  bytes: number
  /** Entries dropped (oldest first) to stay within maxEntries / maxStoredBytes. */
  dropped: number
  /** Live pages connected. */
  streams: number
}

export interface DebuggerEntry {
  seq: number
  kind: "message" | "error"
  received_at: string
  path: string
  type?: string
  event?: string
  userId?: string | number
  anonymousId?: string | number
  messageId?: string
  duplicate?: boolean
  status?: number
  code?: string
  error?: string
  payload: unknown
}

export interface Debugger {
  /** e.g. "http://127.0.0.1:4567": the value for the plugin's `host` option; the live page is served there. */
  url: string
  messages(): Array<Record<string, any>>
  entries(after?: number): DebuggerEntry[]
  errors(): DebuggerEntry[]
  clear(): void
  stats(): DebuggerStats
  waitForMessages(n: number, timeoutMs?: number): Promise<Array<Record<string, any>>>
  unref(): void
  close(): Promise<void>
}

export function startDebugger(options?: DebuggerOptions): Promise<Debugger>
