"use strict"

// The plugin's store middlewares (Medusa 2.x loads them from
// .medusa/server/src/api/middlewares.js, server mode only).
//
// Facebook's Conversions API wants the shopper's IP and user agent
// (context.ip / context.userAgent). Only the server can vouch for them, so
// the browser may not set them: at checkout (POST /store/carts/:id/complete)
// the IP Medusa sees (req.ip, which follows Medusa's `trust proxy` setting)
// and the request's User-Agent are recorded in cart.metadata.segment_context,
// which completeCartWorkflow copies onto the order; a `segment_context` sent
// in a store request's metadata is removed. When the checkout request comes
// from a server (a storefront that completes the cart from its own backend,
// e.g. a Next.js server action, without forwarding the shopper's headers),
// nothing is recorded rather than the storefront server's address.
//
// Never fails a request: any problem is logged once and the request goes on.

const { SERVER_CONTEXT_KEY } = require("../attribution")
const { lookup, loggerOf } = require("../container")

// User agents of HTTP clients, not browsers: what they carry is a server's, not the shopper's.
const SERVER_CLIENT = /^(node|undici|node-fetch|axios|got|ky|curl|wget|python|go-http-client|okhttp|java|deno|bun)\b/i

const logged = new Set()
function logOnce(logger, key, level, msg) {
  if (logged.has(key)) return
  logged.add(key)
  try {
    logger[level](msg)
  } catch (_) {
    // a broken logger must not break the request
  }
}

/** Removes a browser-supplied `segment_context` from a store request's cart metadata. */
function stripServerContext(req, _res, next) {
  for (const body of [req.body, req.validatedBody]) {
    const meta = body && typeof body === "object" ? body.metadata : undefined
    if (meta && typeof meta === "object" && !Array.isArray(meta) && SERVER_CONTEXT_KEY in meta) delete meta[SERVER_CONTEXT_KEY]
  }
  next()
}

/** What the checkout request says of the shopper: { ip, user_agent }, or null when it came from a server. */
function shopperContext(req) {
  const ua = typeof req.get === "function" ? req.get("user-agent") : req.headers && req.headers["user-agent"]
  if (typeof ua !== "string" || !ua.trim() || SERVER_CLIENT.test(ua.trim())) return null
  const out = { user_agent: ua.slice(0, 1024) }
  if (typeof req.ip === "string" && req.ip) out.ip = req.ip.replace(/^::ffff:(\d+\.\d+\.\d+\.\d+)$/, "$1")
  return out
}

/** At checkout: records the shopper's ip/user agent in cart.metadata before the cart becomes an order. */
async function recordShopperContext(req, _res, next) {
  const scope = req.scope
  const logger = loggerOf(scope)
  try {
    const id = req.params && req.params.id
    const seen = shopperContext(req)
    if (!seen) {
      logOnce(
        logger,
        "server-client",
        "info",
        `[segment] checkout requests come from a server (user agent "${String(req.get && req.get("user-agent")).slice(0, 60)}"): ` +
          "context.ip/userAgent are left out rather than sending the storefront server's; forward the shopper's " +
          "User-Agent and X-Forwarded-For (see docs/attribution.md)"
      )
    } else if (id) {
      const carts = lookup(scope, "cart")
      const cart = await carts.retrieveCart(id, { select: ["id", "metadata", "completed_at"] })
      if (cart && !cart.completed_at) {
        await carts.updateCarts([{ id, metadata: { ...(cart.metadata || {}), [SERVER_CONTEXT_KEY]: seen } }])
      }
    }
  } catch (err) {
    logOnce(logger, "record-failed", "warn", `[segment] cannot record the shopper's ip/user agent at checkout: ${err && err.message}`)
  }
  next()
}

const config = {
  routes: [
    { matcher: "/store/carts", methods: ["POST"], middlewares: [stripServerContext] },
    { matcher: "/store/carts/:id", methods: ["POST"], middlewares: [stripServerContext] },
    { matcher: "/store/carts/:id/complete", methods: ["POST"], middlewares: [recordShopperContext] },
  ],
}

module.exports = { config, stripServerContext, recordShopperContext, shopperContext, SERVER_CLIENT }
