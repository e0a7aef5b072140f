"use strict"

// Customers (Medusa 2.x): customer.created / customer.updated -> identify with
// the customer's traits, only when they changed since the last identify this
// backend sent; customer.created also -> "Customer Created". customer.deleted
// stops identifies for that customer. The last identify's traits hash lives
// in the `segment` module's table segment_identify_state (the store's
// PostgreSQL: shared by server and worker processes, kept across restarts);
// lib/v2/segment-module.js claims it in one SQL statement.
//
// The customer and its orders' totals are read with one SQL statement
// (lib/v2/sql-loader.js loadCustomer) unless order_loader is "query".
//
// Without that table (the module's migration not run) the identify is sent
// every time, with a warning: its messageId derives from the traits, so
// Segment drops repeats of the same traits anyway.

const crypto = require("node:crypto")
const { lookup } = require("../container")
const { messageId } = require("../order-mapping")
const { roundAmount } = require("../currency")
const order = require("./order")
const sqlLoader = require("./sql-loader")

const CUSTOMER_FIELDS = ["id", "email", "first_name", "last_name", "phone", "created_at", "has_account", "addresses.*"]
const ORDER_FIELDS = ["id", "total", "currency_code", "status"]

let warnedNoState = false

function address(a) {
  if (!a) return null
  return {
    street: a.address_1 || null,
    street2: a.address_2 || null,
    city: a.city || null,
    postal_code: a.postal_code || null,
    state: a.province || null,
    country: a.country_code || null,
    company: a.company || null,
    phone: a.phone || null,
  }
}

/** The customer with CUSTOMER_FIELDS and its orders that were not cancelled (ORDER_FIELDS): by SQL when that loader answers, else the query graph. */
async function customerWithOrders(h, ctx, id) {
  const bySql = await sqlLoader.loadCustomer(ctx, id)
  if (bySql !== undefined) return bySql
  const customer = await h.graphOne(ctx, "customer", CUSTOMER_FIELDS, { id })
  if (!customer) return null
  const orders = (await h.graphAll(ctx, "order", ORDER_FIELDS, { customer_id: id })).filter((o) => o.status !== "canceled")
  return { customer, orders }
}

/** orders_count and lifetime value (reporting currency; null when a rate is missing) of the orders given. */
async function orderStats(ctx, orders) {
  const reportingCurrency = ctx.segment.reportingCurrency_ || "EUR"
  let ltv = 0
  for (const o of orders) {
    const rate = await ctx.segment.reportingRate(o.currency_code)
    const total = order.num(o.total) || 0
    if (rate === null) {
      ltv = null
      break
    }
    ltv += total / rate
  }
  return { orders_count: orders.length, lifetime_value: ltv === null ? null : roundAmount(ltv, reportingCurrency), currency: reportingCurrency }
}

/** The identify traits (Segment's reserved names where there is one). */
function traitsOf(c, stats) {
  const addresses = c.addresses || []
  return {
    email: c.email || null,
    firstName: c.first_name || null,
    lastName: c.last_name || null,
    phone: c.phone || null,
    createdAt: c.created_at ? new Date(c.created_at).toISOString() : null,
    has_account: typeof c.has_account === "boolean" ? c.has_account : null,
    orders_count: stats.orders_count,
    lifetime_value: stats.lifetime_value,
    lifetime_value_currency: stats.currency,
    default_shipping_address: address(addresses.find((a) => a.is_default_shipping)),
    default_billing_address: address(addresses.find((a) => a.is_default_billing)),
  }
}

function hashOf(traits) {
  return crypto.createHash("sha256").update(JSON.stringify(traits)).digest("hex")
}

/** true: send (the traits changed, or there is no state to ask). */
async function changed(ctx, container, customerId, hash) {
  const state = lookup(container, "segment")
  try {
    if (!state || typeof state.claimIdentify !== "function") throw new Error("the `segment` module is not loaded")
    return await state.claimIdentify(customerId, hash)
  } catch (err) {
    if (!warnedNoState) {
      warnedNoState = true
      ctx.logger.warn(
        `[segment] cannot read the identify state (${err && err.message}); identifies are sent on every customer change. ` +
          "Run `npx medusa db:migrate` to create the segment module's table."
      )
    }
    return true
  }
}

function entries(h) {
  async function identifyIfChanged(ctx, id) {
    const found = await customerWithOrders(h, ctx, id)
    if (!found) throw new Error(`customer ${id} not found`)
    const c = found.customer
    const traits = traitsOf(c, await orderStats(ctx, found.orders))
    const hash = hashOf(traits)
    const send = await changed(ctx, ctx.container, c.id, hash)
    const calls = []
    if (send) {
      calls.push({ method: "identify", customer: c, message: { userId: c.id, traits, messageId: messageId("identify", c.id, hash.slice(0, 16)) } })
    }
    return { c, calls }
  }

  return {
    "customer.created": {
      async calls({ id }, ctx) {
        const { c, calls } = await identifyIfChanged(ctx, id)
        const properties = { customer_id: c.id, email: c.email || null, has_account: typeof c.has_account === "boolean" ? c.has_account : null }
        calls.push({
          method: "track",
          customer: c,
          message: { event: "Customer Created", userId: c.id, properties, timestamp: c.created_at || new Date(), messageId: messageId("customer.created", c.id) },
        })
        return calls
      },
    },
    "customer.updated": {
      async calls({ id }, ctx) {
        return (await identifyIfChanged(ctx, id)).calls
      },
    },
    "customer.deleted": {
      async calls({ id }, ctx) {
        const state = lookup(ctx.container, "segment")
        if (!state || typeof state.stopIdentify !== "function") throw new Error("the `segment` module is not loaded: cannot record the deletion")
        await state.stopIdentify(id)
        return []
      },
    },
  }
}

module.exports = { entries, traitsOf, hashOf, CUSTOMER_FIELDS, ORDER_FIELDS }
