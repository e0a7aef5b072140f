"use strict"
// Store/Admin API calls for the order lifecycle, customer and switchboard
// e2e (__tests__/e2e-v2/lifecycle.test.js), on top of e2e/v2/scenario.js.
// Each says which Medusa event the backend emits.

const { MedusaV2Api } = require("./scenario")

class LifecycleApi extends MedusaV2Api {
  /** Admin edit of the order (metadata). Emits order.updated {id}. */
  async updateOrder(orderId, body) {
    return (await this.admin("POST", `/orders/${orderId}`, body)).order
  }

  /** An order edit adding `quantity` of `sku`, requested and confirmed. Emits order-edit.confirmed {order_id, actions}. */
  async editOrderAddItem(orderId, { sku, quantity }) {
    const { variants } = await this.loadCatalog()
    await this.admin("POST", "/order-edits", { order_id: orderId })
    await this.admin("POST", `/order-edits/${orderId}/items`, { items: [{ variant_id: variants[sku].id, quantity }] })
    await this.admin("POST", `/order-edits/${orderId}/request`, {})
    return (await this.admin("POST", `/order-edits/${orderId}/confirm`, {})).order_preview
  }

  /** Refunds `amount` of the order's (first captured) payment. Emits payment.refunded {id: payment id}. */
  async refund(orderId, amount) {
    const order = await this.getOrder(orderId)
    const payment = order.payment_collections.flatMap((pc) => pc.payments).find((p) => p.captured_at)
    if (!payment) throw new Error(`order ${orderId} has no captured payment`)
    const { payment: after } = await this.admin("POST", `/payments/${payment.id}/refund`, { amount })
    return { payment_id: payment.id, payment: after }
  }

  /** Emits delivery.created {id: fulfillment id}. */
  async markDelivered(orderId, fulfillmentId) {
    return (await this.admin("POST", `/orders/${orderId}/fulfillments/${fulfillmentId}/mark-as-delivered`, {})).order
  }

  /** Ships a fulfillment with two labels. Emits shipment.created {id: fulfillment id}. */
  async shipWithLabels(orderId, fulfillment, labels) {
    const items = fulfillment.items.map((i) => ({ id: i.line_item_id, quantity: i.quantity }))
    await this.admin("POST", `/orders/${orderId}/fulfillments/${fulfillment.id}/shipments`, { items, labels })
    return this.getOrder(orderId)
  }

  /** The shopper updates their profile. Emits customer.updated {id}. */
  async updateMe(token, body) {
    return (await this.store("POST", "/customers/me", body, { token })).customer
  }

  /** Emits auth.password_reset {entity_id, actor_type, token}. */
  resetPassword(email) {
    return this.request("POST", "/auth/customer/emailpass/reset-password", { identifier: email })
  }

  /** Emits customer.deleted {id}. */
  deleteCustomer(id) {
    return this.admin("DELETE", `/customers/${id}`)
  }

  /** Emits `event` with { id } per id on Medusa's event bus (e2e/v2/src/api/admin/bench/emit), as another plugin would. */
  emit(event, ids) {
    return this.admin("POST", "/bench/emit", { event, ids })
  }

  /** The cart (with `metadata`) -> order flow of placeOrder, with cart metadata set at creation. */
  async placeOrderWithMetadata(args, metadata) {
    const orig = this.store.bind(this)
    this.store = (method, path, body, opts) => orig(method, path, method === "POST" && path === "/carts" ? { ...body, metadata } : body, opts)
    try {
      return await this.placeOrder(args)
    } finally {
      this.store = orig
    }
  }
}

module.exports = { LifecycleApi }
