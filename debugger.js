"use strict";
// Local Segment debugger: a Segment-compatible collector running inside the
// native addon. Point the plugin's `host` option at `url` to see what Segment
// would receive, without a Segment account.
const native = require("./lib/load-native.js");

/**
 * Starts a local collector on `host:port` (port 0 picks a free one).
 * Resolves to { url, messages(), entries(), errors(), clear(), waitForMessages(), close() }.
 * Like an http.Server it keeps the process alive until close() (or unref()).
 */
async function startDebugger({
  port = 0,
  host = "127.0.0.1",
  print = true,
  writeKey,
  readTimeoutMs,
  maxConnections,
  maxEntries,
  maxStoredBytes,
  maxStreams,
} = {}) {
  const utcOffsetMinutes = -new Date().getTimezoneOffset(); // printed times are local
  const { id, url } = await native.startCollector({
    port,
    host,
    print,
    writeKey,
    utcOffsetMinutes,
    readTimeoutMs,
    maxConnections,
    maxEntries,
    maxStoredBytes,
    maxStreams,
  });
  let closed = false;
  let keepAlive = setInterval(() => {}, 1 << 30);

  const entries = (after = 0) => JSON.parse(native.collectorEntries(id, after));
  const messages = () => JSON.parse(native.collectorMessages(id));

  return {
    url,
    /** Accepted messages in arrival order (each with its `type`). */
    messages,
    /** Everything received: { seq, kind: "message"|"error", received_at, path, payload, ... }. */
    entries,
    /** Refused requests: { status, code, error, path, payload, ... }. */
    errors: () => entries().filter((e) => e.kind === "error"),
    /** Forgets what was received so far. */
    clear: () => native.collectorClear(id),
    /** { entries, bytes, dropped, streams }: what is kept, what was dropped to stay within the limits. */
    stats: () => native.collectorStats(id),
    /** Resolves with the messages once at least `n` were accepted. */
    async waitForMessages(n, timeoutMs = 10000) {
      const until = Date.now() + timeoutMs;
      for (;;) {
        const got = messages();
        if (got.length >= n) return got;
        if (Date.now() > until) {
          throw new Error(`timed out after ${timeoutMs} ms waiting for ${n} messages (got ${got.length})`);
        }
        await new Promise((r) => setTimeout(r, 25));
      }
    },
    /** Lets the process exit while the debugger is running. */
    unref() {
      if (keepAlive) clearInterval(keepAlive);
      keepAlive = null;
    },
    async close() {
      if (closed) return;
      closed = true;
      if (keepAlive) clearInterval(keepAlive);
      keepAlive = null;
      await native.closeCollector(id);
    },
  };
}

module.exports = { startDebugger };
