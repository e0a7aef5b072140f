"use strict"
// Drives a running Medusa 1.20 backend through its store and admin REST APIs,
// the way a storefront and an operator would. Each call says which Medusa
// event it makes the backend emit (verified against the backend's own event
// log, see backend.events()).

const USER_AGENT = "medusa-plugin-segment-rs-e2e/1.0 (loopback)"
const ADMIN = { email: "admin@e2e.test", password: "e2e-password" }

/**
 * One JSON request to a Medusa backend (v1 and v2 harnesses): the parsed
 * answer, or an Error with the status and the body's start.
 */
async function jsonRequest(baseUrl, method, path, body, headers = {}) {
  const res = await fetch(baseUrl + path, {
    method,
    headers: { "content-type": "application/json", ...headers },
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

class MedusaApi {
  constructor(url) {
    this.url = url
    this.adminToken = null
    this.catalog = null
  }

  request(method, path, body, headers = {}) {
    return jsonRequest(this.url, method, path, body, { "user-agent": USER_AGENT, ...headers })
  }

  store(method, path, body, { token } = {}) {
    return this.request(method, `/store${path}`, body, token ? { authorization: `Bearer ${token}` } : {})
  }

  async admin(method, path, body) {
    if (!this.adminToken) {
      const { access_token } = await this.request("POST", "/admin/auth/token", ADMIN)
      this.adminToken = access_token
    }
    return this.request(method, `/admin${path}`, body, { authorization: `Bearer ${this.adminToken}` })
  }

  /** Regions by currency code and variants by SKU, read from the store API. */
  async loadCatalog() {
    if (this.catalog) return this.catalog
    const { regions } = await this.store("GET", "/regions")
    const { products } = await this.store("GET", "/products?limit=100")
    const variants = {}
    for (const p of products) for (const v of p.variants) variants[v.sku] = { ...v, product: p }
    const regionByCurrency = {}
    for (const r of regions) regionByCurrency[r.currency_code] = r
    this.catalog = { regions: regionByCurrency, variants, products }
    return this.catalog
  }

  /** Admin-side fixtures not covered by `medusa seed`: a discount and a return reason. */
  async setupFixtures() {
    const { regions } = await this.loadCatalog()
    const regionIds = Object.values(regions).map((r) => r.id)
    const { discount } = await this.admin("POST", "/discounts", {
      code: "E2E10",
      rule: { type: "percentage", value: 10, allocation: "total", description: "10% off" },
      regions: regionIds,
    })
    const { return_reason } = await this.admin("POST", "/return-reasons", {
      value: "too_big",
      label: "Too big",
      description: "The item was too big",
    })
    this.fixtures = { discount, returnReason: return_reason }
    return this.fixtures
  }

  /** Registers a store customer and returns { customer, token }; emits customer.created. */
  async registerCustomer({ email, first_name = "Ada", last_name = "Lovelace", password = "e2e-secret" }) {
    const { customer } = await this.store("POST", "/customers", { email, first_name, last_name, password })
    const { access_token } = await this.store("POST", "/auth/token", { email, password })
    return { customer, token: access_token }
  }

  /**
   * Places an order through the store API: cart, items, address, discount,
   * shipping method, manual payment, complete. Emits order.placed.
   */
  async placeOrder({ currency, items, email, address, discountCode, token, context } = {}) {
    const { regions, variants } = await this.loadCatalog()
    const region = regions[currency]
    if (!region) throw new Error(`no region in ${currency}`)
    const opts = { token }
    let { cart } = await this.store("POST", "/carts", { region_id: region.id, ...(context ? { context } : {}) }, opts)
    for (const { sku, quantity } of items) {
      if (!variants[sku]) throw new Error(`no variant ${sku}`)
      ;({ cart } = await this.store("POST", `/carts/${cart.id}/line-items`, { variant_id: variants[sku].id, quantity }, opts))
    }
    const update = {}
    if (email) update.email = email
    if (address !== null) {
      update.shipping_address = address || defaultAddress(currency)
    }
    if (discountCode) update.discounts = [{ code: discountCode }]
    ;({ cart } = await this.store("POST", `/carts/${cart.id}`, update, opts))
    await this.addShippingAndPay(cart.id, opts)
    const done = await this.store("POST", `/carts/${cart.id}/complete`, undefined, opts)
    if (done.type !== "order") throw new Error(`cart ${cart.id} did not complete into an order: ${JSON.stringify(done).slice(0, 400)}`)
    return done.data
  }

  async addShippingAndPay(cartId, opts = {}) {
    const { shipping_options } = await this.store("GET", `/shipping-options/${cartId}`, undefined, opts)
    const option = shipping_options.find((o) => !o.is_return)
    if (!option) throw new Error(`no shipping option for cart ${cartId}`)
    await this.store("POST", `/carts/${cartId}/shipping-methods`, { option_id: option.id }, opts)
    const { cart } = await this.store("POST", `/carts/${cartId}/payment-sessions`, undefined, opts)
    if (cart.payment_sessions && cart.payment_sessions.length) {
      await this.store("POST", `/carts/${cartId}/payment-session`, { provider_id: "manual" }, opts)
    }
  }

  async getOrder(id) {
    const { order } = await this.admin("GET", `/orders/${id}`)
    return order
  }

  /** Captures the order's payment (refunds need a captured payment). */
  async capture(orderId) {
    return (await this.admin("POST", `/orders/${orderId}/capture`)).order
  }

  /** Fulfils the given items (all by default) and ships them. Emits order.shipment_created. */
  async ship(orderId, items) {
    let order = await this.getOrder(orderId)
    const toFulfil = items || order.items.map((i) => ({ item_id: i.id, quantity: i.quantity }))
    ;({ order } = await this.admin("POST", `/orders/${orderId}/fulfillment`, { items: toFulfil }))
    const fulfillment = order.fulfillments[order.fulfillments.length - 1]
    ;({ order } = await this.admin("POST", `/orders/${orderId}/shipment`, {
      fulfillment_id: fulfillment.id,
      tracking_numbers: [`TRACK-${orderId.slice(-6)}`],
    }))
    return { order, fulfillment_id: fulfillment.id }
  }

  /** Emits order.canceled. */
  async cancel(orderId) {
    return (await this.admin("POST", `/orders/${orderId}/cancel`)).order
  }

  /**
   * Requests a return (order.return_requested) and receives it: Medusa refunds
   * and emits order.items_returned {id, return_id}.
   */
  async returnItems(orderId, items, { currency } = {}) {
    const { regions } = await this.loadCatalog()
    const order0 = await this.getOrder(orderId)
    const returnOption = await this.returnOption(regions[currency || order0.currency_code].id)
    let { order } = await this.admin("POST", `/orders/${orderId}/return`, {
      items,
      return_shipping: { option_id: returnOption.id, price: returnOption.amount },
    })
    const ret = order.returns[order.returns.length - 1]
    await this.admin("POST", `/returns/${ret.id}/receive`, {
      items: items.map(({ item_id, quantity }) => ({ item_id, quantity })),
    })
    return { order: await this.getOrder(orderId), return_id: ret.id, return_option: returnOption }
  }

  async returnOption(regionId) {
    const { shipping_options } = await this.admin("GET", `/shipping-options?region_id=${regionId}&is_return=true`)
    const opt = shipping_options.find((o) => o.is_return)
    if (!opt) throw new Error(`no return shipping option in ${regionId}`)
    return opt
  }

  /** A refund claim. Emits claim.created. */
  async createClaim(orderId, claimItems) {
    const { order } = await this.admin("POST", `/orders/${orderId}/claims`, {
      type: "refund",
      claim_items: claimItems,
    })
    return { order, claim: order.claims[order.claims.length - 1] }
  }

  /**
   * Swap: create (swap.created), pay the difference through the swap's cart
   * (swap.payment_completed), fulfil and ship the new items (swap.shipment_created).
   */
  async swap(orderId, { returnItems, additionalItems }) {
    const { variants } = await this.loadCatalog()
    let { order } = await this.admin("POST", `/orders/${orderId}/swaps`, {
      return_items: returnItems,
      additional_items: additionalItems.map(({ sku, quantity }) => ({ variant_id: variants[sku].id, quantity })),
    })
    const swap0 = order.swaps[order.swaps.length - 1]
    return { order, swap: swap0 }
  }

  async paySwap(swap) {
    await this.addShippingAndPay(swap.cart_id)
    const done = await this.store("POST", `/carts/${swap.cart_id}/complete`)
    if (done.type !== "swap") throw new Error(`swap cart did not complete: ${JSON.stringify(done).slice(0, 400)}`)
    return done.data
  }

  async shipSwap(orderId, swapId) {
    let { order } = await this.admin("POST", `/orders/${orderId}/swaps/${swapId}/fulfillments`, {})
    const swap = order.swaps.find((s) => s.id === swapId)
    const fulfillment = swap.fulfillments[swap.fulfillments.length - 1]
    ;({ order } = await this.admin("POST", `/orders/${orderId}/swaps/${swapId}/shipments`, {
      fulfillment_id: fulfillment.id,
      tracking_numbers: [`SWAP-${swapId.slice(-6)}`],
    }))
    return { order, fulfillment_id: fulfillment.id }
  }
}

const ADDRESSES = {
  eur: { first_name: "Grace", last_name: "Hopper", address_1: "Unter den Linden 1", city: "Berlin", country_code: "de", postal_code: "10117" },
  jpy: { first_name: "Yukihiro", last_name: "Matsumoto", address_1: "1-1 Chiyoda", city: "Tokyo", country_code: "jp", postal_code: "100-0001" },
  usd: { first_name: "Alan", last_name: "Turing", address_1: "1 Main St", city: "Boston", country_code: "us", postal_code: "02110", province: "MA" },
}
const defaultAddress = (currency) => ADDRESSES[currency] || ADDRESSES.eur

/**
 * The full story, one order per scenario, in `currencies[0]` and `currencies[1]`:
 *  A (c0, registered customer, discount E2E10, 3 items): ship, return 1 with a reason
 *  B (c1, guest): cancel
 *  C (c1, guest): ship, claim 1 item
 *  D (c0, guest): ship, swap T-shirt M -> hoodie, pay, ship the swap
 * Returns everything the assertions need.
 */
/** What medusa-plugin-segment-rs/storefront would put on order A's cart. */
const ATTRIBUTION = {
  segment_anonymous_id: "e2e-v1-browser-A",
  fbp: "fb.1.1733500000000.4242",
  gclid: "e2e-v1-gclid",
  segment_consent: { analytics: true, advertising: true },
}

async function runStory(api, { currencies = ["eur", "usd"], tag = "run", onStep = () => {} } = {}) {
  const [c0, c1] = currencies
  const { returnReason } = api.fixtures || (await api.setupFixtures())
  const out = { orders: {}, steps: [] }
  const step = (name, extra = {}) => {
    out.steps.push({ name, at: Date.now(), ...extra })
    onStep(name, extra)
  }

  // A: registered customer, discount, several items; shipped, then partly returned.
  const { customer, token } = await api.registerCustomer({ email: `ada+${tag}@e2e.test` })
  const a = await api.placeOrder({
    currency: c0,
    token,
    email: customer.email,
    discountCode: "E2E10",
    items: [
      { sku: "TSHIRT-BLACK-S", quantity: 2 },
      { sku: "HOODIE-GREY-M", quantity: 1 },
    ],
    // ga_id for use_ga_id; the storefront contract (docs/attribution.md): 1.x's store API sets context, not metadata
    context: { ga_id: "GA1.2.1111.2222", ...ATTRIBUTION },
  })
  step("placed A", { order_id: a.id })
  await api.capture(a.id)
  const aShip = await api.ship(a.id)
  step("shipped A", { order_id: a.id, fulfillment_id: aShip.fulfillment_id })
  const tshirtA = a.items.find((i) => i.variant.sku === "TSHIRT-BLACK-S")
  const aRet = await api.returnItems(a.id, [{ item_id: tshirtA.id, quantity: 1, reason_id: returnReason.id, note: "runs large" }])
  step("returned A", { order_id: a.id, return_id: aRet.return_id })
  out.orders.A = { id: a.id, customer_id: customer.id, return_id: aRet.return_id, return_option: aRet.return_option, fulfillment_id: aShip.fulfillment_id }

  // B: guest, cancelled.
  const b = await api.placeOrder({ currency: c1, email: `bob+${tag}@e2e.test`, items: [{ sku: "TSHIRT-BLACK-M", quantity: 1 }] })
  step("placed B", { order_id: b.id })
  await api.cancel(b.id)
  step("cancelled B", { order_id: b.id })
  out.orders.B = { id: b.id }

  // C: guest, shipped, one item claimed.
  const c = await api.placeOrder({
    currency: c1,
    email: `cy+${tag}@e2e.test`,
    items: [
      { sku: "TSHIRT-BLACK-M", quantity: 3 },
      { sku: "HOODIE-GREY-M", quantity: 1 },
    ],
  })
  step("placed C", { order_id: c.id })
  await api.capture(c.id)
  const cShip = await api.ship(c.id)
  step("shipped C", { order_id: c.id })
  const tshirtC = c.items.find((i) => i.variant.sku === "TSHIRT-BLACK-M")
  const cClaim = await api.createClaim(c.id, [
    { item_id: tshirtC.id, quantity: 1, reason: "production_failure", note: "seam came apart", tags: ["seam"] },
  ])
  step("claimed C", { order_id: c.id, claim_id: cClaim.claim.id })
  out.orders.C = { id: c.id, claim_id: cClaim.claim.id, fulfillment_id: cShip.fulfillment_id }

  // D: guest, shipped, swapped (created, paid, shipped).
  const d = await api.placeOrder({ currency: c0, email: `dee+${tag}@e2e.test`, items: [{ sku: "TSHIRT-BLACK-M", quantity: 1 }] })
  step("placed D", { order_id: d.id })
  await api.capture(d.id)
  const dShip = await api.ship(d.id)
  step("shipped D", { order_id: d.id })
  const { swap } = await api.swap(d.id, {
    returnItems: [{ item_id: d.items[0].id, quantity: 1 }],
    additionalItems: [{ sku: "HOODIE-GREY-M", quantity: 1 }],
  })
  step("swap created D", { order_id: d.id, swap_id: swap.id })
  await api.paySwap(swap)
  step("swap paid D", { order_id: d.id, swap_id: swap.id })
  const sShip = await api.shipSwap(d.id, swap.id)
  step("swap shipped D", { order_id: d.id, swap_id: swap.id })
  out.orders.D = { id: d.id, swap_id: swap.id, fulfillment_id: dShip.fulfillment_id, swap_fulfillment_id: sShip.fulfillment_id }

  // Final state of every order (totals, items, swaps, claims, returns) for the assertions.
  for (const k of Object.keys(out.orders)) out.orders[k].order = await api.getOrder(out.orders[k].id)
  return out
}

/** The Segment calls the story must produce, per order. */
function expectedCalls(story) {
  const { A, B, C, D } = story.orders
  return [
    ...[A, B, C, D].flatMap((o) => [
      { type: "identify", order_id: o.id },
      { type: "track", event: "Order Completed", order_id: o.id },
    ]),
    ...[A, C, D].map((o) => ({ type: "track", event: "Order Shipped", order_id: o.id })),
    { type: "track", event: "Order Cancelled", order_id: B.id },
    { type: "track", event: "Order Refunded", order_id: A.id },
    { type: "track", event: "Item Claimed", order_id: C.id },
    { type: "track", event: "Swap Created", order_id: D.id },
    { type: "track", event: "Swap Confirmed", order_id: D.id },
    { type: "track", event: "Swap Shipped", order_id: D.id },
  ]
}

module.exports = { MedusaApi, jsonRequest, runStory, expectedCalls, USER_AGENT, ADMIN, ATTRIBUTION }
