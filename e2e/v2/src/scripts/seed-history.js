// Seeds an order history for the backfill tests (`medusa exec
// ./src/scripts/seed-history.js <orders> [months]`, once per cached history
// template): <orders> orders through Medusa's own workflows (created, some
// fulfilled and shipped, some cancelled, some shipped then returned and
// received), then spread over the last [months] months by moving their dates
// back in SQL, since no workflow takes a past date.
//
// Order i (0-based): customer orders for even i, guest orders for odd i;
// i % 7 == 3 cancelled; i % 3 == 0 shipped; i % 10 == 0 also returned (1 unit).
const { ContainerRegistrationKeys, Modules } = require("@medusajs/framework/utils")
const wf = require("@medusajs/medusa/core-flows")

const DAY = 24 * 3600 * 1000
const CONCURRENCY = 6

async function seedHistory({ container, args }) {
  const n = Number(args[0] || 100)
  const months = Number(args[1] || 6)
  const logger = container.resolve(ContainerRegistrationKeys.LOGGER)
  const query = container.resolve(ContainerRegistrationKeys.QUERY)
  const knex = container.resolve(ContainerRegistrationKeys.PG_CONNECTION)

  const { data: regions } = await query.graph({ entity: "region", fields: ["id", "currency_code", "countries.iso_2"] })
  const { data: variants } = await query.graph({ entity: "product_variant", fields: ["id", "sku", "inventory_items.inventory_item_id"] })
  const inventoryOf = new Map(variants.map((v) => [v.id, v.inventory_items[0].inventory_item_id]))
  const { data: [channel] } = await query.graph({ entity: "sales_channel", fields: ["id"] })
  const { data: [location] } = await query.graph({ entity: "stock_location", fields: ["id"] })
  const { data: options } = await query.graph({ entity: "shipping_option", fields: ["id", "name", "prices.*"] })
  const outbound = options.find((o) => o.name === "Standard Shipping")
  const inbound = options.find((o) => o.name === "Return Shipping")
  const eu = regions.find((r) => r.currency_code === "eur")
  const us = regions.find((r) => r.currency_code === "usd")

  const {
    result: customers,
  } = await wf.createCustomersWorkflow(container).run({
    input: {
      customersData: Array.from({ length: 20 }, (_, k) => ({ email: `history-${k}@e2e.test`, first_name: `Hist${k}`, last_name: "Buyer" })),
    },
  })

  const now = Date.now()
  const span = months * 30 * DAY
  const dates = []
  const t0 = Date.now()
  async function makeOrder(i) {
    const region = i % 4 === 1 ? us : eu
    const customer = i % 2 === 0 ? customers[(i / 2) % customers.length] : null
    const country = region === us ? "us" : "de"
    const address = { first_name: customer ? customer.first_name : "Guest", last_name: "Buyer", address_1: "Main Street 1", city: region === us ? "Boston" : "Berlin", postal_code: "10115", country_code: country }
    const price = (outbound.prices || []).find((p) => p.currency_code === region.currency_code)
    const lines = [
      { variant_id: variants[i % variants.length].id, quantity: 1 + (i % 3) },
      ...(i % 5 === 0 ? [{ variant_id: variants[(i + 1) % variants.length].id, quantity: 1 }] : []),
    ]
    const qty = new Map(lines.map((l) => [l.variant_id, l.quantity]))
    const { result: order } = await wf.createOrderWorkflow(container).run({
      input: {
        region_id: region.id,
        customer_id: customer ? customer.id : undefined,
        email: customer ? customer.email : `guest-${i}@e2e.test`,
        sales_channel_id: channel.id,
        currency_code: region.currency_code,
        shipping_address: address,
        billing_address: address,
        items: lines,
        shipping_methods: [{ name: outbound.name, shipping_option_id: outbound.id, amount: price ? price.amount : 5 }],
      },
    })
    const created = new Date(now - span + Math.floor((i * span) / n))
    const d = { id: order.id, created }
    if (i % 7 === 3) {
      await wf.cancelOrderWorkflow(container).run({ input: { order_id: order.id } })
      d.canceled = new Date(created.getTime() + DAY)
    } else if (i % 3 === 0) {
      const { data: [o] } = await query.graph({ entity: "order", fields: ["id", "items.id", "items.variant_id"], filters: { id: order.id } })
      const items = o.items.map((it) => ({ id: it.id, quantity: qty.get(it.variant_id) }))
      // what cart completion does: reserve the stock, which fulfilment consumes
      await wf.createReservationsWorkflow(container).run({
        input: {
          reservations: o.items.map((it) => ({ line_item_id: it.id, inventory_item_id: inventoryOf.get(it.variant_id), location_id: location.id, quantity: qty.get(it.variant_id) })),
        },
      })
      const { result: f } = await wf.createOrderFulfillmentWorkflow(container).run({ input: { order_id: order.id, items, location_id: location.id } })
      await wf.createOrderShipmentWorkflow(container).run({ input: { order_id: order.id, fulfillment_id: f.id, items } })
      d.fulfillment = f.id
      d.shipped = new Date(created.getTime() + 2 * DAY)
      if (i % 10 === 0) {
        // requested in one step, then received as the Admin does it (receive_now fails in 2.21.2)
        const { result: r } = await wf.createAndCompleteReturnOrderWorkflow(container).run({
          input: { order_id: order.id, items: [{ id: items[0].id, quantity: 1 }], return_shipping: { option_id: inbound.id }, location_id: location.id },
        })
        await wf.beginReceiveReturnWorkflow(container).run({ input: { return_id: r.id } })
        await wf.receiveItemReturnRequestWorkflow(container).run({ input: { return_id: r.id, items: [{ id: items[0].id, quantity: 1 }] } })
        await wf.confirmReturnReceiveWorkflow(container).run({ input: { return_id: r.id } })
        d.return = r.id
        d.received = new Date(created.getTime() + 10 * DAY)
      }
    }
    dates[i] = d
    if (++made % 100 === 0) logger.info(`[seed-history] ${made}/${n} orders (${((Date.now() - t0) / made).toFixed(0)} ms/order)`)
  }
  // a few orders at a time: the workflows mostly wait for PostgreSQL
  let next = 0
  let made = 0
  await Promise.all(Array.from({ length: CONCURRENCY }, async () => {
    while (next < n) await makeOrder(next++)
  }))
  // the past dates (no workflow takes them)
  for (const d of dates) {
    await knex.raw(`UPDATE "order" SET created_at = ?, canceled_at = ? WHERE id = ?`, [d.created, d.canceled || null, d.id])
    if (d.fulfillment) await knex.raw(`UPDATE fulfillment SET created_at = ?, shipped_at = ? WHERE id = ?`, [d.created, d.shipped, d.fulfillment])
    if (d.return) await knex.raw(`UPDATE "return" SET created_at = ?, received_at = ? WHERE id = ?`, [d.received, d.received, d.return])
  }
  logger.info(`[seed-history] ${n} orders over ${months} months in ${((Date.now() - t0) / 1000).toFixed(1)} s`)
}

exports.default = seedHistory
