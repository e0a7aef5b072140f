// The v2 e2e backend's config. Per-run settings come from the environment
// (written by e2e/v2/backend.js): the database, the event bus, and which
// Segment integration is loaded:
//   E2E_V2_MODE=plugin  this package: the plugin (subscribers) + its Analytics provider
//   E2E_V2_MODE=docs    the docs' hand-written example (bench only): src/modules/segment-docs
//   E2E_V2_MODE=none    no Segment integration at all (seeding the template database)
const { loadEnv, defineConfig } = require("@medusajs/framework/utils")

loadEnv(process.env.NODE_ENV || "development", process.cwd())

const mode = process.env.E2E_V2_MODE || "none"
const json = (name) => JSON.parse(process.env[name] || "{}")
// E2E_SEGMENT_OPTIONS_MODULE: a JS file whose exports are added (options JSON cannot carry: RegExps, functions)
const segmentOptions = { ...json("E2E_SEGMENT_OPTIONS"), ...(process.env.E2E_SEGMENT_OPTIONS_MODULE ? require(process.env.E2E_SEGMENT_OPTIONS_MODULE) : {}) }
// Provider options: the same object as the plugin's unless the run gives its own.
const providerOptions = process.env.E2E_PROVIDER_OPTIONS ? json("E2E_PROVIDER_OPTIONS") : segmentOptions

const modules = []
if (process.env.E2E_EVENT_BUS === "redis") {
  modules.push({
    resolve: "@medusajs/medusa/event-bus-redis",
    options: { redisUrl: process.env.E2E_REDIS_URL, queueName: process.env.E2E_QUEUE_NAME },
  })
}
if (mode === "plugin") {
  modules.push({
    resolve: "@medusajs/medusa/analytics",
    options: {
      providers: [{ resolve: "medusa-plugin-segment-rs/providers/segment", id: "segment", options: providerOptions }],
    },
  })
} else if (mode === "docs") {
  modules.push({
    resolve: "@medusajs/medusa/analytics",
    options: {
      providers: [
        {
          resolve: "./src/modules/segment-docs",
          id: "segment",
          options: {
            writeKey: segmentOptions.write_key,
            host: segmentOptions.host,
            flushAt: segmentOptions.flush_at,
            flushInterval: segmentOptions.flush_interval,
          },
        },
      ],
    },
  })
}

module.exports = defineConfig({
  projectConfig: {
    databaseUrl: process.env.DATABASE_URL,
    // E2E_PROJECT_REDIS_URL: the store's own Redis (the plugin's default spool then)
    ...(process.env.E2E_PROJECT_REDIS_URL ? { redisUrl: process.env.E2E_PROJECT_REDIS_URL } : {}),
    databaseLogging: false,
    // the admin test serves plain HTTP on 127.0.0.1: a production session cookie would be Secure-only
    ...(process.env.E2E_V2_ADMIN === "1" ? { cookieOptions: { secure: false } } : {}),
    // e2e/v2/backend.js workerModes: "shared" (API + subscribers), "server", "worker"
    workerMode: process.env.E2E_WORKER_MODE || "shared",
    http: {
      storeCors: "http://127.0.0.1",
      adminCors: "http://127.0.0.1",
      authCors: "http://127.0.0.1",
      jwtSecret: "e2e-jwt-secret",
      cookieSecret: "e2e-cookie-secret",
    },
  },
  // E2E_V2_ADMIN=1: the admin dashboard, built beforehand (e2e/v2/backend.js buildAdmin) and served at /app
  admin: { disable: process.env.E2E_V2_ADMIN !== "1" },
  plugins: mode === "plugin" ? [{ resolve: "medusa-plugin-segment-rs", options: segmentOptions }] : [],
  modules,
})
