// medusa-config.js (or .ts) of a Medusa 2.x backend (@medusajs/medusa >= 2.8.3)
// with medusa-plugin-segment-rs. The options are v1's, one object used in
// both places; medusa-config.example.js explains each of them.

const { loadEnv, defineConfig } = require("@medusajs/framework/utils")

loadEnv(process.env.NODE_ENV || "development", process.cwd())

const segment = {
  // Without it: one error names write_key, nothing is sent, the store starts.
  write_key: process.env.SEGMENT_WRITE_KEY,
  reporting_currency: "EUR",
  // Needed for reporting_* of orders in other currencies (else null).
  exchange_rates_api_key: process.env.EXCHANGE_RATES_API_KEY,
  // With a GA client id in the cart's metadata.ga_id: Order Completed carries
  // integrations["Google Analytics"].
  use_ga_id: false,
  // Bound (ms) of the flush when Medusa shuts down.
  shutdown_timeout: 5000,
  // On by default: .segment-spool under the backend's directory keeps
  // accepted events across a crash. It holds customers' data in clear: add
  // .segment-spool/ to .gitignore and .dockerignore; one directory per OS
  // user (created 0700, files 0600). See docs/delivery.md, "What is on disk".
  // spool_dir: ".segment-spool",
  // Cart and checkout events (docs/funnel.md; needs `npx medusa db:migrate`):
  // events: { funnel: true },
}

module.exports = defineConfig({
  projectConfig: {
    databaseUrl: process.env.DATABASE_URL,
    http: {
      storeCors: process.env.STORE_CORS,
      adminCors: process.env.ADMIN_CORS,
      authCors: process.env.AUTH_CORS,
      jwtSecret: process.env.JWT_SECRET,
      cookieSecret: process.env.COOKIE_SECRET,
    },
  },
  // The default events: identify + Order Completed, Order Shipped, Order
  // Cancelled, Order Refunded, Item Claimed, Swap Created/Confirmed/Shipped.
  plugins: [{ resolve: "medusa-plugin-segment-rs", options: segment }],
  modules: [
    {
      // container.resolve(Modules.ANALYTICS).track(...) for your own events.
      // Medusa registers plugin providers only here, hence the second entry.
      resolve: "@medusajs/medusa/analytics",
      options: {
        providers: [{ resolve: "medusa-plugin-segment-rs/providers/segment", id: "segment", options: segment }],
      },
    },
  ],
})
