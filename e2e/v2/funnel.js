"use strict"
// A storefront's cart and checkout, through the Store API only (plus one
// admin call creating the promotion code), for the funnel tests and bench.
// Each step returns the cart as the Store API shows it right after, so a test
// can compare Segment's properties with what Medusa itself says.

const { ADDRESSES } = require("./scenario")

const CART_FIELDS = "*items,*items.adjustments,*promotions,*shipping_methods,*shipping_address,+total,+tax_total,+shipping_total,+discount_total,+subtotal"

/** A code the shopper types: 10 % off the order (POST /admin/promotions). */
async function createPromotion(api, code) {
  const { promotion } = await api.admin("POST", "/promotions", {
    code,
    type: "standard",
    status: "active",
    is_automatic: false,
    application_method: { type: "percentage", target_type: "order", allocation: "across", value: 10, currency_code: "eur" },
  })
  return promotion
}

/**
 * The journey, in EUR: add a T-shirt (cart created with it), add a hoodie,
 * T-shirt 1 -> 3, remove the hoodie, apply then remove a promotion code,
 * email + address, shipping method, payment collection + session, complete.
 * `afterQuantity(cart)` runs right after the quantity change (the
 * concurrency test re-emits cart.updated there).
 */
async function runJourney(api, { promoCode, email, afterQuantity } = {}) {
  const { regions, variants } = await api.loadCatalog()
  const region = regions.eur
  const get = async (id) => (await api.store("GET", `/carts/${id}?fields=${encodeURIComponent(CART_FIELDS)}`)).cart
  const out = { steps: {} }
  const tshirt = variants["TSHIRT-BLACK-M"]
  const hoodie = variants["HOODIE-GREY-M"]

  let { cart } = await api.store("POST", "/carts", { region_id: region.id, items: [{ variant_id: tshirt.id, quantity: 1 }] })
  const id = cart.id
  out.cart_id = id
  out.steps.created = await get(id)
  await api.store("POST", `/carts/${id}/line-items`, { variant_id: hoodie.id, quantity: 1 })
  out.steps.hoodie = await get(id)
  const tshirtLine = out.steps.hoodie.items.find((i) => i.variant_id === tshirt.id)
  const hoodieLine = out.steps.hoodie.items.find((i) => i.variant_id === hoodie.id)
  await api.store("POST", `/carts/${id}/line-items/${tshirtLine.id}`, { quantity: 3 })
  if (afterQuantity) await afterQuantity(id)
  out.steps.quantity = await get(id)
  await api.store("DELETE", `/carts/${id}/line-items/${hoodieLine.id}`)
  out.steps.removed = await get(id)
  await api.store("POST", `/carts/${id}/promotions`, { promo_codes: [promoCode] })
  out.steps.applied = await get(id)
  await api.store("DELETE", `/carts/${id}/promotions`, { promo_codes: [promoCode] })
  out.steps.unapplied = await get(id)
  const addr = ADDRESSES.eur
  await api.store("POST", `/carts/${id}`, { email, shipping_address: addr, billing_address: addr })
  out.steps.address = await get(id)
  const { shipping_options } = await api.store("GET", `/shipping-options?cart_id=${id}`)
  if (!shipping_options.length) throw new Error(`no shipping option for cart ${id}`)
  await api.store("POST", `/carts/${id}/shipping-methods`, { option_id: shipping_options[0].id })
  out.steps.shipping = await get(id)
  const { payment_collection } = await api.store("POST", "/payment-collections", { cart_id: id })
  await api.store("POST", `/payment-collections/${payment_collection.id}/payment-sessions`, { provider_id: "pp_system_default" })
  out.steps.payment = await get(id)
  const done = await api.store("POST", `/carts/${id}/complete`)
  if (done.type !== "order") throw new Error(`cart ${id} did not complete into an order: ${JSON.stringify(done).slice(0, 400)}`)
  out.order_id = done.order.id
  out.tshirtLine = tshirtLine
  out.hoodieLine = hoodieLine
  return out
}

module.exports = { createPromotion, runJourney, CART_FIELDS }
