"use strict"
// Drives a running Medusa 2.21.2 backend through its Store and Admin HTTP
// APIs only, the way a storefront and an operator would. Each method says
// which Medusa event the call makes the backend emit (checked against the
// backend's own event log, backend.events()).

const { jsonRequest } = require("../scenario")

const USER_AGENT = "medusa-plugin-segment-rs-e2e-v2/1.0 (loopback)"
const ADMIN = { email: "admin@e2e.test", password: "e2e-password" } // e2e/v2/src/scripts/seed.js

const ADDRESSES = {
  eur: { first_name: "Grace", last_name: "Hopper", address_1: "Unter den Linden 1", city: "Berlin", country_code: "de", postal_code: "10117" },
  gbp: { first_name: "Ada", last_name: "Byron", address_1: "10 Downing St", city: "London", country_code: "gb", postal_code: "SW1A 2AA" },
  usd: { first_name: "Alan", last_name: "Turing", address_1: "1 Main St", city: "Boston", country_code: "us", postal_code: "02110", province: "us-ma" },
}

class MedusaV2Api {
  constructor(url, publishableKey) {
    this.url = url
    this.publishableKey = publishableKey
    this.adminToken = null
    this.catalog = null
  }

  request(method, path, body, headers = {}) {
    return jsonRequest(this.url, method, path, body, { "user-agent": USER_AGENT, ...headers })
  }

  store(method, path, body, { token, headers: extra } = {}) {
    const headers = { "x-publishable-api-key": this.publishableKey, ...extra }
    if (token) headers.authorization = `Bearer ${token}`
    return this.request(method, `/store${path}`, body, headers)
  }

  async admin(method, path, body) {
    if (!this.adminToken) this.adminToken = (await this.request("POST", "/auth/user/emailpass", ADMIN)).token
    return this.request(method, `/admin${path}`, body, { authorization: `Bearer ${this.adminToken}` })
  }

  /** Regions by currency, variants by SKU, the stock location: from the store and admin APIs. */
  async loadCatalog() {
    if (this.catalog) return this.catalog
    const { regions } = await this.store("GET", "/regions")
    const { products } = await this.store("GET", "/products?fields=*variants&limit=100")
    const variants = {}
    for (const p of products) for (const v of p.variants) variants[v.sku] = { ...v, product: p }
    const byCurrency = {}
    for (const r of regions) byCurrency[r.currency_code] = r
    const { stock_locations } = await this.admin("GET", "/stock-locations")
    const { return_reasons } = await this.admin("GET", "/return-reasons")
    this.catalog = { regions: byCurrency, variants, location: stock_locations[0], returnReason: return_reasons.find((r) => r.value === "too_big") }
    return this.catalog
  }

  /** Registers a store customer; returns { customer, token } (a token that carries the customer). */
  async registerCustomer({ email, first_name = "Ada", last_name = "Lovelace", password = "e2e-secret" }) {
    const { token: regToken } = await this.request("POST", "/auth/customer/emailpass/register", { email, password })
    const { customer } = await this.store("POST", "/customers", { email, first_name, last_name }, { token: regToken })
    const { token } = await this.request("POST", "/auth/customer/emailpass", { email, password })
    return { customer, token }
  }

  /**
   * Places an order through the store API: cart with items, addresses,
   * shipping method, payment collection + session, complete. Emits order.placed.
   * `metadata`: the cart's metadata at creation (a storefront's attribution keys);
   * `headers`: sent with every store call (e.g. the shopper's user-agent).
   */
  async placeOrder({ currency, items, email, token, address, metadata, headers } = {}) {
    const { regions, variants } = await this.loadCatalog()
    const region = regions[currency]
    if (!region) throw new Error(`no region in ${currency}`)
    const opts = { token, headers }
    const lines = items.map(({ sku, quantity }) => {
      if (!variants[sku]) throw new Error(`no variant ${sku}`)
      return { variant_id: variants[sku].id, quantity }
    })
    const body = { region_id: region.id, items: lines }
    if (email) body.email = email
    if (metadata) body.metadata = metadata
    let { cart } = await this.store("POST", "/carts", body, opts)
    const addr = address || ADDRESSES[currency]
    ;({ cart } = await this.store("POST", `/carts/${cart.id}`, { shipping_address: addr, billing_address: addr }, opts))
    const { shipping_options } = await this.store("GET", `/shipping-options?cart_id=${cart.id}`, undefined, opts)
    if (!shipping_options.length) throw new Error(`no shipping option for cart ${cart.id}`)
    await this.store("POST", `/carts/${cart.id}/shipping-methods`, { option_id: shipping_options[0].id }, opts)
    const { payment_collection } = await this.store("POST", "/payment-collections", { cart_id: cart.id }, opts)
    await this.store("POST", `/payment-collections/${payment_collection.id}/payment-sessions`, { provider_id: "pp_system_default" }, opts)
    const done = await this.store("POST", `/carts/${cart.id}/complete`, undefined, opts)
    if (done.type !== "order") throw new Error(`cart ${cart.id} did not complete into an order: ${JSON.stringify(done).slice(0, 400)}`)
    return done.order
  }

  /** A guest cart handed to a signed-in customer. Emits cart.customer_transferred. */
  async transferCart(cartId, token, headers) {
    return (await this.store("POST", `/carts/${cartId}/customer`, {}, { token, headers })).cart
  }

  /** The order as the admin API returns it, with what the assertions need. */
  async getOrder(id) {
    const fields = [
      "+email",
      "+currency_code",
      "+status",
      "+created_at",
      "+canceled_at",
      "+customer_id",
      "*items",
      "*items.variant",
      "*items.variant.product",
      "*shipping_address",
      "*shipping_methods",
      "*fulfillments",
      "*fulfillments.items",
      "*payment_collections",
      "*payment_collections.payments",
    ].join(",")
    return (await this.admin("GET", `/orders/${id}?fields=${encodeURIComponent(fields)}`)).order
  }

  /** Medusa's own payment summary of the order (pending_difference: > 0 owed by the customer, < 0 owed to them). */
  async summary(id) {
    return (await this.admin("GET", `/orders/${id}?fields=summary`)).order.summary
  }

  /** Fulfils the given order lines (all by default). Emits order.fulfillment_created. */
  async fulfil(orderId, items) {
    const { location } = await this.loadCatalog()
    const before = await this.getOrder(orderId)
    const lines = items || before.items.map((i) => ({ id: i.id, quantity: i.quantity }))
    await this.admin("POST", `/orders/${orderId}/fulfillments`, { items: lines, location_id: location.id })
    const after = await this.getOrder(orderId)
    const known = new Set((before.fulfillments || []).map((f) => f.id))
    const fulfillment = after.fulfillments.find((f) => !known.has(f.id))
    return { order: after, fulfillment }
  }

  /** Ships a fulfillment. Emits shipment.created {id: fulfillment id}. */
  async ship(orderId, fulfillment) {
    const items = fulfillment.items.map((i) => ({ id: i.line_item_id, quantity: i.quantity }))
    await this.admin("POST", `/orders/${orderId}/fulfillments/${fulfillment.id}/shipments`, {
      items,
      labels: [{ tracking_number: `TRACK-${orderId.slice(-6)}`, tracking_url: "#", label_url: "#" }],
    })
    return this.getOrder(orderId)
  }

  /** Fulfils all items and ships them. */
  async fulfilAndShip(orderId) {
    const { fulfillment } = await this.fulfil(orderId)
    const order = await this.ship(orderId, fulfillment)
    return { order, fulfillment_id: fulfillment.id }
  }

  /** Captures the order's payment (a return's refund needs a captured payment). Emits payment.captured. */
  async capture(orderId) {
    const order = await this.getOrder(orderId)
    for (const pc of order.payment_collections || []) for (const p of pc.payments || []) await this.admin("POST", `/payments/${p.id}/capture`, {})
  }

  /** Emits order.canceled. */
  async cancel(orderId) {
    return (await this.admin("POST", `/orders/${orderId}/cancel`, {})).order
  }

  /**
   * A return of fulfilled lines, requested then received.
   * Emits order.return_requested, then order.return_received {order_id, return_id}.
   */
  async returnItems(orderId, items) {
    const { location, returnReason } = await this.loadCatalog()
    const { return: ret } = await this.admin("POST", "/returns", { order_id: orderId, location_id: location.id })
    await this.admin("POST", `/returns/${ret.id}/request-items`, {
      items: items.map((i) => ({ reason_id: returnReason.id, ...i })),
    })
    await this.admin("POST", `/returns/${ret.id}/request`, {})
    await this.admin("POST", `/returns/${ret.id}/receive`, {})
    await this.admin("POST", `/returns/${ret.id}/receive-items`, { items: items.map(({ id, quantity }) => ({ id, quantity })) })
    await this.admin("POST", `/returns/${ret.id}/receive/confirm`, {})
    return { return_id: ret.id }
  }

  /** A claim of fulfilled lines. Emits order.claim_created {order_id, claim_id}. */
  async claim(orderId, items, { type = "refund" } = {}) {
    const { claim } = await this.admin("POST", "/claims", { order_id: orderId, type })
    await this.admin("POST", `/claims/${claim.id}/inbound/items`, { items })
    await this.admin("POST", `/claims/${claim.id}/request`, {})
    return { claim_id: claim.id }
  }

  /**
   * An exchange: fulfilled lines back, new variants out.
   * Emits order.exchange_created {order_id, exchange_id}.
   */
  async exchange(orderId, { inbound, outbound }) {
    const { variants } = await this.loadCatalog()
    const { exchange } = await this.admin("POST", "/exchanges", { order_id: orderId })
    await this.admin("POST", `/exchanges/${exchange.id}/inbound/items`, { items: inbound })
    await this.admin("POST", `/exchanges/${exchange.id}/outbound/items`, {
      items: outbound.map(({ sku, quantity }) => ({ variant_id: variants[sku].id, quantity })),
    })
    // an outbound shipping method: without one Medusa reserves no stock and the new items cannot be fulfilled
    const { shipping_options } = await this.admin("GET", "/shipping-options?limit=50")
    const standard = shipping_options.find((o) => o.name === "Standard Shipping")
    await this.admin("POST", `/exchanges/${exchange.id}/outbound/shipping-method`, { shipping_option_id: standard.id })
    await this.admin("POST", `/exchanges/${exchange.id}/request`, {})
    return { exchange_id: exchange.id }
  }

  /** User code: e2e/v2/src/api/store/user-code/track/route.js -> Analytics Module track(). */
  trackFromUserCode(body) {
    return this.store("POST", "/user-code/track", body)
  }
}

/**
 * The full story, one order per flow, in `currencies[0]` (A, D) and `currencies[1]` (B, C):
 *  A (registered customer): capture, fulfil + ship, return 1 of 2 T-shirts (received)
 *  B (guest): cancel
 *  C (guest): fulfil + ship, claim 1 T-shirt
 *  D (guest): fulfil + ship, exchange the T-shirt for a hoodie, fulfil + ship the hoodie
 * Each order is snapshot (admin API) right after it is placed, as order.placed sees it.
 */
async function runStory(api, { currencies = ["eur", "usd"], tag = "run" } = {}) {
  const [c0, c1] = currencies
  const out = { orders: {} }
  const placed = async (key, args) => {
    const order = await api.placeOrder(args)
    out.orders[key] = { id: order.id, placed: await api.getOrder(order.id) }
    return out.orders[key]
  }
  const { customer, token } = await api.registerCustomer({ email: `ada+${tag}@e2e.test` })
  out.customer = customer
  const A = await placed("A", { currency: c0, token, items: [{ sku: "TSHIRT-BLACK-S", quantity: 2 }, { sku: "HOODIE-GREY-M", quantity: 1 }] })
  await api.capture(A.id)
  A.fulfillment_id = (await api.fulfilAndShip(A.id)).fulfillment_id
  const tshirtA = A.placed.items.find((i) => i.variant_sku === "TSHIRT-BLACK-S")
  A.return_id = (await api.returnItems(A.id, [{ id: tshirtA.id, quantity: 1 }])).return_id
  A.summaryAfterReturn = await api.summary(A.id)

  const B = await placed("B", { currency: c1, email: `bob+${tag}@e2e.test`, items: [{ sku: "TSHIRT-BLACK-M", quantity: 1 }] })
  await api.cancel(B.id)

  const C = await placed("C", { currency: c1, email: `cy+${tag}@e2e.test`, items: [{ sku: "TSHIRT-BLACK-M", quantity: 3 }, { sku: "HOODIE-GREY-M", quantity: 1 }] })
  C.fulfillment_id = (await api.fulfilAndShip(C.id)).fulfillment_id
  const tshirtC = C.placed.items.find((i) => i.variant_sku === "TSHIRT-BLACK-M")
  C.claim_id = (await api.claim(C.id, [{ id: tshirtC.id, quantity: 1 }])).claim_id

  const D = await placed("D", { currency: c0, email: `dee+${tag}@e2e.test`, items: [{ sku: "TSHIRT-BLACK-M", quantity: 1 }] })
  D.fulfillment_id = (await api.fulfilAndShip(D.id)).fulfillment_id
  D.exchange_id = (await api.exchange(D.id, { inbound: [{ id: D.placed.items[0].id, quantity: 1 }], outbound: [{ sku: "HOODIE-GREY-M", quantity: 1 }] })).exchange_id
  const afterExchange = await api.getOrder(D.id)
  const known = new Set(D.placed.items.map((i) => i.id))
  const outbound = afterExchange.items.filter((i) => !known.has(i.id))
  const { fulfillment } = await api.fulfil(D.id, outbound.map((i) => ({ id: i.id, quantity: i.quantity })))
  await api.ship(D.id, fulfillment)
  D.exchange_fulfillment_id = fulfillment.id

  for (const o of Object.values(out.orders)) o.final = await api.getOrder(o.id)
  return out
}

module.exports = { MedusaV2Api, runStory, USER_AGENT, ADMIN, ADDRESSES }
