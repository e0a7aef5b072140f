// medusa-config.js of the throwaway e2e/demo backend. The harness
// (e2e/backend.js) copies this file into the backend folder and passes the
// per-run settings through the environment, so one file serves every run.
const env = process.env

const redisUrl = env.E2E_REDIS_URL || "redis://127.0.0.1:6379"
const eventBus =
  env.E2E_EVENT_BUS === "redis"
    ? {
        resolve: "@medusajs/event-bus-redis",
        // A queue per run: jobs of an earlier (killed) run never reach this one.
        options: { redisUrl, queueName: env.E2E_QUEUE_NAME || "e2e-events" },
      }
    : { resolve: "@medusajs/event-bus-local" }

const segmentOptions = JSON.parse(env.E2E_SEGMENT_OPTIONS || "{}")

module.exports = {
  projectConfig: {
    database_url: env.DATABASE_URL,
    database_type: "postgres",
    database_extra: {},
    jwt_secret: "e2e-jwt-secret",
    cookie_secret: "e2e-cookie-secret",
    store_cors: "http://127.0.0.1",
    admin_cors: "http://127.0.0.1",
    worker_mode: env.E2E_WORKER_MODE || "shared",
  },
  telemetry: { enabled: false },
  plugins: [
    "medusa-fulfillment-manual",
    "medusa-payment-manual",
    ...(env.E2E_WITH_PLUGIN === "0"
      ? []
      : [{ resolve: "medusa-plugin-segment-rs", options: segmentOptions }]),
  ],
  modules: {
    eventBus,
    cacheService: { resolve: "@medusajs/cache-inmemory" },
  },
  featureFlags: {},
}
