// medusa-config.js of a Medusa v1 backend (@medusajs/medusa >= 1.18 < 2) with
// medusa-plugin-segment-rs. Only `write_key` is needed; every other option is
// shown with its default.

const plugins = [
  // ...your other plugins
  {
    resolve: "medusa-plugin-segment-rs",
    options: {
      // Write key of the Segment source (Connections > Sources > your Node.js
      // source). Without it the plugin logs one error naming write_key /
      // SEGMENT_WRITE_KEY and runs with delivery disabled: the backend starts.
      write_key: process.env.SEGMENT_WRITE_KEY,

      // --- What the default subscribers send (options of medusa-plugin-segment) ---

      // If true and the cart context has a `ga_id`, "Order Completed" carries
      // integrations["Google Analytics"] = { clientId: ga_id }.
      use_ga_id: false,

      // Currency of the reporting_* properties (reporting_total,
      // reporting_revenue, products[].reporting_revenue, reporting_price, ...).
      reporting_currency: "EUR",

      // Key of the exchange-rate service, needed for orders whose currency is
      // not reporting_currency. Without it no exchange-rate request is made,
      // those orders are sent with reporting_* null, and one warning is
      // logged at start-up.
      exchange_rates_api_key: process.env.EXCHANGE_RATES_API_KEY,

      // Exchange-rate service; the plugin requests
      // {exchange_rates_url}/latest?symbols=FROM&base=TO&access_key=KEY
      // and reads rates[FROM] (the API medusa-plugin-segment used).
      exchange_rates_url: "https://api.exchangeratesapi.io",

      // How long (ms) a fetched rate is reused: one request per currency pair
      // per this period, whatever the number of orders and amounts.
      exchange_rates_ttl: 3600000,

      // Timeout (ms) of one exchange-rate request. When it fails the event is
      // still sent, with reporting_* null, and a warning is logged (at most
      // one per currency pair per minute).
      exchange_rates_timeout: 5000,

      // --- Delivery to Segment (the native client) ---

      // Segment API endpoint (e.g. a regional endpoint, a proxy, or the local
      // debugger collector).
      host: "https://api.segment.io",

      // Send a batch once this many messages are queued...
      flush_at: 20,

      // ...or at the latest this many ms after the first queued message.
      flush_interval: 10000,

      // Retries per batch after the first attempt (5xx, 429, network
      // errors), with exponential backoff and jitter.
      max_retries: 12,

      // A batch may spend this long (ms) waiting and retrying before it is
      // given up (counted in stats().failed).
      max_retry_time: 300000,

      // First backoff delay (ms, doubles each retry) and its cap.
      min_retry_delay: 100,
      max_retry_delay: 60000,

      // Timeout (ms) of one request to Segment.
      timeout: 10000,

      // Batch requests in flight at once.
      max_in_flight: 4,

      // Bound on the bytes of accepted, not yet delivered messages; beyond it
      // new messages are dropped and counted (stats().dropped).
      max_queue_bytes: 64 * 1024 * 1024,

      // Gzip request bodies.
      gzip: false,

      // Bound (ms) of the flush on beforeExit/SIGTERM/SIGINT and of shutdown().
      shutdown_timeout: 5000,

      // On-disk spool: accepted events survive kill -9 and the next start (or
      // a live sibling, within spool_takeover_ms) delivers them. It holds
      // customers' data in clear: keep .segment-spool/ out of git and of
      // container images (.gitignore / .dockerignore), give each OS user its
      // own directory. Created 0700, files 0600. See docs/delivery.md,
      // "What is on disk". false turns it off.
      spool_dir: ".segment-spool",
      max_spool_bytes: 256 * 1024 * 1024,
      spool_takeover_ms: 30000,

      // false: accept and validate calls but send nothing (tests, staging).
      enabled: true,
    },
  },
]

module.exports = {
  projectConfig: {
    // ...
  },
  plugins,
}
