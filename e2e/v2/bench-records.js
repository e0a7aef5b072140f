"use strict"
// The records bench/medusa-v2.js re-emits events for, beyond the e2e story
// (runStory in e2e/v2/scenario.js): made through the Store and Admin APIs of
// the bench's backend with no Segment integration. The bench takes each
// event's payloads from that backend's event log, i.e. what Medusa emitted
// while these calls ran. Each part is made only when a chosen event needs it.

const { createPromotion } = require("./funnel")
const { ADDRESSES } = require("./scenario")

const TWO_LINES = [
  { sku: "TSHIRT-BLACK-M", quantity: 2 },
  { sku: "HOODIE-GREY-M", quantity: 1 },
]

/** A return of fulfilled lines, requested and not received. Emits order.return_requested. */
async function requestReturn(api, orderId, items) {
  const { location, returnReason } = await api.loadCatalog()
  const { return: ret } = await api.admin("POST", "/returns", { order_id: orderId, location_id: location.id })
  await api.admin("POST", `/returns/${ret.id}/request-items`, { items: items.map((i) => ({ reason_id: returnReason.id, ...i })) })
  await api.admin("POST", `/returns/${ret.id}/request`, {})
  return ret.id
}

/**
 * The order lifecycle, on four guest orders besides the story's (`api`: a
 * LifecycleApi of e2e/v2/lifecycle-scenario.js):
 *  L1 (EUR), L2 (USD): captured, fulfilled, shipped, delivered, 5 refunded
 *    without a return; L1 then edited by the admin (metadata)
 *  L3 (EUR): captured, fulfilled, a return requested (not received)
 *  L4 (USD): captured, an order edit adding a hoodie (confirmed), then edited by the admin
 *  story order A: its received return refunded (a refund that pays out a return)
 * Emits payment.captured, order.fulfillment_created, shipment.created,
 * delivery.created, payment.refunded, order.return_requested,
 * order-edit.confirmed and order.updated.
 */
async function lifecycle(api, story, { tag }) {
  const place = (currency, who, items) => api.placeOrder({ currency, email: `${who}+${tag}@e2e.test`, items })
  const out = {}
  for (const [key, currency] of [
    ["L1", "eur"],
    ["L2", "usd"],
  ]) {
    const o = await place(currency, key.toLowerCase(), TWO_LINES)
    await api.capture(o.id)
    const { fulfillment } = await api.fulfil(o.id)
    await api.ship(o.id, fulfillment)
    await api.markDelivered(o.id, fulfillment.id)
    await api.refund(o.id, 5)
    out[key] = o.id
  }
  await api.updateOrder(out.L1, { metadata: { gift_note: "bench" } })

  const L3 = await place("eur", "l3", TWO_LINES)
  await api.capture(L3.id)
  const { order: fulfilled } = await api.fulfil(L3.id)
  const tshirt = fulfilled.items.find((i) => i.variant_sku === "TSHIRT-BLACK-M")
  out.L3_return_id = await requestReturn(api, L3.id, [{ id: tshirt.id, quantity: 1 }])
  out.L3 = L3.id

  const L4 = await place("usd", "l4", [{ sku: "TSHIRT-BLACK-M", quantity: 1 }])
  await api.capture(L4.id)
  await api.editOrderAddItem(L4.id, { sku: "HOODIE-GREY-M", quantity: 1 })
  await api.updateOrder(L4.id, { metadata: { gift_note: "bench" } })
  out.L4 = L4.id

  const A = story.orders.A
  const owed = -(await api.summary(A.id)).pending_difference
  if (!(owed > 0)) throw new Error(`story order A: the store should owe the customer for the return (pending difference ${-owed})`)
  await api.refund(A.id, owed)
  return out
}

/**
 * Customers: three sign up, and every one of them and `known` (a customer
 * with orders: { customer, token }) edits their profile once; two more sign
 * up and are deleted by the admin. Emits customer.created, customer.updated
 * and customer.deleted. Returns { kept, deleted } (customer ids).
 */
async function customers(api, known, { tag }) {
  const kept = [known]
  for (let i = 1; i <= 3; i++) kept.push(await api.registerCustomer({ email: `cust${i}+${tag}@e2e.test`, first_name: "Cus", last_name: `Tomer${i}` }))
  for (const [i, { token }] of kept.entries()) await api.updateMe(token, i % 2 ? { phone: `+49 30 100${i}` } : { last_name: `Changed${i}` })
  const deleted = []
  for (let i = 1; i <= 2; i++) {
    const { customer } = await api.registerCustomer({ email: `gone${i}+${tag}@e2e.test` })
    await api.deleteCustomer(customer.id)
    deleted.push(customer.id)
  }
  return { kept: kept.map((k) => k.customer.id), deleted }
}

/**
 * Two guest carts carrying a storefront's anonymous id and consent
 * (docs/attribution.md), handed to the signed-in customer of `token`.
 * Emits cart.customer_transferred.
 */
async function transfers(api, token, { tag }) {
  const { regions, variants } = await api.loadCatalog()
  const ids = []
  for (let i = 1; i <= 2; i++) {
    const { cart } = await api.store("POST", "/carts", {
      region_id: regions.eur.id,
      email: `guest${i}+${tag}@e2e.test`,
      items: [{ variant_id: variants["TSHIRT-BLACK-M"].id, quantity: 1 }],
      metadata: { segment_anonymous_id: `bench-anonymous-${i}`, segment_consent: { analytics: true, advertising: true } },
    })
    await api.transferCart(cart.id, token)
    ids.push(cart.id)
  }
  return ids
}

/**
 * Open carts (never completed) for the funnel, in EUR, each carrying a
 * storefront's anonymous id: four with two lines (created with a T-shirt,
 * then a hoodie added), and four more taken to the payment step: the same
 * two lines, a promotion code, email and addresses, a shipping method, a
 * payment session. Emits cart.created and cart.updated (the plugin's
 * middleware, which emits its own events for the promotion code and the
 * payment session, is not loaded here). Returns { items: [cart id],
 * checkout: [{ cart_id, payment_collection_id }] }.
 */
async function carts(api, { tag }) {
  const { regions, variants } = await api.loadCatalog()
  const code = `BENCH10${tag.replace(/[^a-z0-9]/gi, "").toUpperCase()}`
  await createPromotion(api, code)
  const line = (sku, quantity) => ({ variant_id: variants[sku].id, quantity })
  const out = { items: [], checkout: [] }
  for (let i = 0; i < 8; i++) {
    const { cart } = await api.store("POST", "/carts", {
      region_id: regions.eur.id,
      items: [line("TSHIRT-BLACK-M", 1 + (i % 2))],
      metadata: { segment_anonymous_id: `bench-cart-${i}` },
    })
    await api.store("POST", `/carts/${cart.id}/line-items`, line("HOODIE-GREY-M", 1))
    if (i < 4) {
      out.items.push(cart.id)
      continue
    }
    await api.store("POST", `/carts/${cart.id}/promotions`, { promo_codes: [code] })
    const addr = ADDRESSES.eur
    await api.store("POST", `/carts/${cart.id}`, { email: `shopper${i}+${tag}@e2e.test`, shipping_address: addr, billing_address: addr })
    const { shipping_options } = await api.store("GET", `/shipping-options?cart_id=${cart.id}`)
    if (!shipping_options.length) throw new Error(`no shipping option for cart ${cart.id}`)
    await api.store("POST", `/carts/${cart.id}/shipping-methods`, { option_id: shipping_options[0].id })
    const { payment_collection } = await api.store("POST", "/payment-collections", { cart_id: cart.id })
    await api.store("POST", `/payment-collections/${payment_collection.id}/payment-sessions`, { provider_id: "pp_system_default" })
    out.checkout.push({ cart_id: cart.id, payment_collection_id: payment_collection.id })
  }
  return out
}

module.exports = { lifecycle, customers, transfers, carts, requestReturn }
