"use strict"
// Drives a running Medusa 2.21.2 backend through its Store and Admin HTTP
// APIs only, the way a storefront and an operator would. Each method says
// which Medusa event the call makes the backend emit (checked against the
// backend's own event log, backend.events()).

const USER_AGENT = "medusa-plugin-segment-rs-e2e-v2/1.0 (loopback)"
const ADMIN = { email: "admin@e2e.test", password: "e2e-password" } // e2e/v2/src/scripts/seed.js

const ADDRESSES = {
  eur: { first_name: "Grace", last_name: "Hopper", address_1: "Unter den Linden 1", city: "Berlin", country_code: "de", postal_code: "10117" },
  usd: { first_name: "Alan", last_name: "Turing", address_1: "1 Main St", city: "Boston", country_code: "us", postal_code: "02110", province: "us-ma" },
}

class MedusaV2Api {
  constructor(url, publishableKey) {
    this.url = url
    this.publishableKey = publishableKey
    this.adminToken = null
    this.catalog = null
  }

  async request(method, path, body, headers = {}) {
    const res = await fetch(this.url + path, {
      method,
      headers: { "content-type": "application/json", "user-agent": USER_AGENT, ...headers },
      body: body === undefined ? undefined : JSON.stringify(body),
    })
    const text = await res.text()
    let json
    try {
      json = text ? JSON.parse(text) : {}
    } catch {
      json = { raw: text }
    }
    if (!res.ok) {
      const err = new Error(`${method} ${path} -> ${res.status}: ${text.slice(0, 600)}`)
      err.status = res.status
      err.body = json
      throw err
    }
    return json
  }

  store(method, path, body, { token } = {}) {
    const headers = { "x-publishable-api-key": this.publishableKey }
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
   */
  async placeOrder({ currency, items, email, token, address } = {}) {
    const { regions, variants } = await this.loadCatalog()
    const region = regions[currency]
    if (!region) throw new Error(`no region in ${currency}`)
    const opts = { token }
    const lines = items.map(({ sku, quantity }) => {
      if (!variants[sku]) throw new Error(`no variant ${sku}`)
      return { variant_id: variants[sku].id, quantity }
    })
    const body = { region_id: region.id, items: lines }
    if (email) body.email = email
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

  /** The order as the admin API returns it, with what the assertions need. */
  async getOrder(id) {
    const fields = [
      "*items",
      "*items.variant",
      "*items.variant.product",
      "*shipping_address",
      "*shipping_methods",
      "*fulfillments",
      "*fulfillments.items",
      "*payment_collections",
      "*payment_collections.payments",
      "+customer_id",
      "+cart_id",
    ].join(",")
    return (await this.admin("GET", `/orders/${id}?fields=${encodeURIComponent(fields)}`)).order
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
    await this.admin("POST", `/exchanges/${exchange.id}/request`, {})
    return { exchange_id: exchange.id }
  }

  /** User code: e2e/v2/src/api/store/user-code/track/route.js -> Analytics Module track(). */
  trackFromUserCode(body) {
    return this.store("POST", "/user-code/track", body)
  }
}

module.exports = { MedusaV2Api, USER_AGENT, ADMIN, ADDRESSES }
