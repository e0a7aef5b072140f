"use strict"

// The funnel (lib/v2/funnel.js, lib/v2/cart-state.js): the diff of a cart
// journey, the option switches, and the per-cart state in a real PostgreSQL
// (the plugin's own migration, knex as Medusa's __pg_connection__):
// concurrent checkpoints of one cart report a change once, a burst does not
// starve a small pool, a completed cart is forgotten, stale states are pruned. The cart comes from a small
// in-memory `query` shaped like 2.21.2's cart graph; the real Medusa runs are
// in __tests__/e2e-v2/funnel.test.js.

const { describe, it, before, after } = require("node:test")
const assert = require("node:assert/strict")

const funnel = require("../../lib/v2/funnel")
const cartState = require("../../lib/v2/cart-state")
const be = require("../../e2e/backend")
const { migrationSql } = require("./migrations")

const ALL = new Set(funnel.FUNNEL_EVENTS)
const MIGRATION = "Migration20261207030000-cart-state.js"

function line(id, qty, extra = {}) {
  return {
    id,
    quantity: qty,
    unit_price: 25,
    product_id: "prod_1",
    variant_id: "variant_1",
    variant_sku: "TSHIRT-BLACK-M",
    product_title: "T-Shirt",
    variant_title: "M / Black",
    title: "T-Shirt",
    adjustments: [],
    ...extra,
  }
}

function cart(extra = {}) {
  return { id: "cart_1", email: null, currency_code: "eur", customer_id: null, completed_at: null, shipping_address: null, items: [], shipping_methods: [], promotions: [], payment_collection: null, ...extra }
}

const events = (changes) => changes.map((c) => c.event)

describe("funnel diff", () => {
  it("a storefront journey: one event per change, with the spec's properties", () => {
    let state = null
    const step = (c) => {
      const { next, changes } = funnel.diff(state, c)
      state = next
      return changes
    }
    let ch = step(cart({ items: [line("li_1", 1)] }))
    assert.deepEqual(events(ch), ["Product Added"])
    assert.deepEqual(ch[0].properties, {
      cart_id: "cart_1",
      product_id: "prod_1",
      variant_id: "variant_1",
      sku: "TSHIRT-BLACK-M",
      name: "T-Shirt",
      variant: "M / Black",
      price: 25,
      quantity: 1,
      currency: "EUR",
    })
    ch = step(cart({ items: [line("li_1", 3)] }))
    assert.deepEqual(events(ch), ["Product Added"])
    assert.equal(ch[0].properties.quantity, 2, "the added quantity, not the line's")
    ch = step(cart({ items: [line("li_1", 1), line("li_2", 1, { product_id: "prod_2", variant_sku: "HOODIE" })] }))
    assert.deepEqual(events(ch), ["Product Added", "Product Removed"])
    assert.equal(ch[1].properties.quantity, 2)
    ch = step(cart({ items: [line("li_1", 1)] }))
    assert.deepEqual(events(ch), ["Product Removed"])
    assert.equal(ch[0].properties.sku, "HOODIE", "a removed line is described from the recorded state")
    assert.deepEqual(events(step(cart({ items: [line("li_1", 1)] }))), [], "nothing changed: nothing sent")

    const promo = { id: "promo_1", code: "WELCOME10", is_automatic: false }
    const discounted = line("li_1", 1, { adjustments: [{ code: "WELCOME10", amount: 2.5 }] })
    ch = step(cart({ items: [discounted], promotions: [promo, { id: "promo_auto", code: "AUTO", is_automatic: true }] }))
    assert.deepEqual(events(ch), ["Coupon Applied"], "automatic promotions are not coupons")
    assert.deepEqual(ch[0].properties, { cart_id: "cart_1", coupon_id: "promo_1", coupon_name: "WELCOME10", discount: 2.5, currency: "EUR" })
    ch = step(cart({ items: [line("li_1", 1)] }))
    assert.deepEqual(events(ch), ["Coupon Removed"])
    assert.equal(ch[0].properties.discount, 2.5, "the discount it took away")

    const address = { address_1: "Unter den Linden 1" }
    ch = step(cart({ items: [line("li_1", 1)], email: "ada@example.com", shipping_address: address }))
    assert.deepEqual(events(ch), ["Checkout Started", "Checkout Step Completed"])
    assert.deepEqual(ch[1].properties, { cart_id: "cart_1", checkout_id: "cart_1", step: 1, step_name: "address", shipping_method: null, payment_method: null })
    ch = step(cart({ items: [line("li_1", 1)], email: "ada@example.com", shipping_address: address, shipping_methods: [{ name: "Standard Shipping" }] }))
    assert.deepEqual(events(ch), ["Checkout Step Completed"])
    assert.equal(ch[0].properties.step, 2)
    assert.equal(ch[0].properties.shipping_method, "Standard Shipping")
    const paid = cart({
      items: [line("li_1", 1)],
      email: "ada@example.com",
      shipping_address: address,
      shipping_methods: [{ name: "Standard Shipping" }],
      payment_collection: { payment_sessions: [{ provider_id: "pp_system_default" }] },
    })
    ch = step(paid)
    assert.deepEqual(events(ch), ["Checkout Step Completed", "Payment Info Entered"])
    assert.deepEqual(ch[1].properties, { cart_id: "cart_1", checkout_id: "cart_1", step: 3, shipping_method: "Standard Shipping", payment_method: "pp_system_default" })
    assert.deepEqual(events(step({ ...paid, email: "other@example.com" })), [], "each step once per cart")
  })

  it("Checkout Started: not for a signed-in customer's new cart (its email is there from the start)", () => {
    const created = funnel.diff(null, cart({ email: "ada@example.com", customer_id: "cus_1", items: [line("li_1", 1)] }))
    assert.deepEqual(events(created.changes), ["Product Added"])
    const guest = funnel.diff(funnel.diff(null, cart({ items: [line("li_1", 1)] })).next, cart({ email: "g@example.com", items: [line("li_1", 1)] }))
    assert.deepEqual(events(guest.changes), ["Checkout Started"], "a guest entering an email starts the checkout")
    const country = funnel.diff(null, cart({ shipping_address: { address_1: null }, items: [] }))
    assert.deepEqual(events(country.changes), [], "a region's default country is no address")
  })

  it("messageIds derive from the cart, the transition's version and the change", () => {
    const { changes } = funnel.diff(null, cart({ customer_id: "cus_1", items: [line("li_1", 2), line("li_2", 1)] }))
    const calls = funnel.callsFor(cart({ customer_id: "cus_1" }), changes, 1, ALL, 1000)
    assert.deepEqual(
      calls.map((c) => c.message.messageId),
      ["medusa-funnel-cart_1-v1-added-li_1", "medusa-funnel-cart_1-v1-added-li_2"]
    )
    assert.deepEqual(calls.map((c) => [c.message.userId, c.message.anonymousId]), [["cus_1", "cart-cart_1"], ["cus_1", "cart-cart_1"]])
    assert.deepEqual(calls.map((c) => c.message.timestamp.getTime()), [1000, 1001], "in order")
    assert.deepEqual(funnel.callsFor(cart(), changes, 1, new Set(["Coupon Applied"])), [], "only enabled events are sent")
  })

  it("option `events`: a group switch, per-event switches, errors naming the option", () => {
    assert.equal(funnel.enabledEvents({}).size, 0, "off unless switched on")
    assert.deepEqual([...funnel.enabledEvents({ events: { funnel: true } })], funnel.FUNNEL_EVENTS)
    assert.equal(funnel.enabledEvents({ events: { funnel: true, "Coupon Removed": false } }).has("Coupon Removed"), false)
    assert.deepEqual([...funnel.enabledEvents({ events: { "Product Added": true, "order.placed": false } })], ["Product Added"])
    assert.throws(() => funnel.enabledEvents({ events: ["Product Added"] }), /invalid option `events`: must be an object/)
    assert.throws(() => funnel.enabledEvents({ events: { funnel: "yes" } }), /invalid option `events.funnel`: must be true or false \(got "yes"\)/)
    assert.throws(() => funnel.enabledEvents({ events: { "Product Added": 1 } }), /invalid option `events\["Product Added"\]`/)
  })
})

// ---------------------------------------------------------------- PostgreSQL


/** A query.graph over one mutable cart, slow enough for handlers to overlap. */
function cartQuery(store, delayMs = 30) {
  return {
    async graph({ entity, filters }) {
      await be.sleep(delayMs)
      if (entity === "cart") return { data: store.cart && store.cart.id === filters.id ? [JSON.parse(JSON.stringify(store.cart))] : [] }
      return { data: [] }
    },
  }
}

function sink() {
  const calls = []
  return { calls, track: (m) => calls.push(m) }
}

describe("per-cart state in PostgreSQL", () => {
  const DB = `segfunnel_unit_${process.pid}`
  let knex
  before(async () => {
    await be.ensurePostgres()
    be.psql(`DROP DATABASE IF EXISTS "${DB}"`)
    be.psql(`CREATE DATABASE "${DB}"`)
    knex = require("knex")({ client: "pg", connection: `postgres://postgres@127.0.0.1:5432/${DB}`, pool: { min: 0, max: 12 } })
    for (const sql of migrationSql(MIGRATION)) await knex.raw(sql)
  })
  after(async () => {
    if (knex) await knex.destroy()
    be.psql(`DROP DATABASE IF EXISTS "${DB}" WITH (FORCE)`)
  })

  const ctx = (store, segment, delayMs) => ({ query: cartQuery(store, delayMs), pg: knex, segment, logger: console, enabled: ALL })

  it("eight handlers of the same cart.updated at once report the change once", async () => {
    const store = { cart: cart({ id: "cart_race", items: [line("li_1", 1)] }) }
    const seg = sink()
    await funnel.checkpoint("cart_race", ctx(store, seg))
    assert.equal(seg.calls.length, 1)
    store.cart.items = [line("li_1", 4)]
    // (the pool opens its connections first: the eight then overlap for sure)
    await Promise.all(Array.from({ length: 8 }, () => knex.raw("select pg_sleep(0.05)")))
    const results = await Promise.all(Array.from({ length: 8 }, () => funnel.checkpoint("cart_race", ctx(store, seg, 150))))
    const added = seg.calls.filter((m) => m.event === "Product Added")
    assert.deepEqual(added.map((m) => m.properties.quantity), [1, 3], "1 at creation, then +3 once")
    assert.equal(results.filter((r) => r.calls > 0).length, 1)
    assert.equal(new Set(seg.calls.map((m) => m.messageId)).size, seg.calls.length)
    const { rows } = await knex.raw("select version, state from segment_cart_state where id = 'cart_race'")
    assert.equal(rows[0].version, 2)
    assert.equal(rows[0].state.items.li_1.quantity, 4)
  })

  it("a burst of carts on a small connection pool: no handler holds a connection while Medusa reads the cart", async () => {
    // Medusa's query graph takes connections from the same pool as __pg_connection__
    const small = require("knex")({ client: "pg", connection: `postgres://postgres@127.0.0.1:5432/${DB}`, pool: { min: 0, max: 2 }, acquireConnectionTimeout: 3000 })
    try {
      const query = {
        async graph({ filters }) {
          await small.raw("select pg_sleep(0.05)")
          return { data: [cart({ id: filters.id, items: [line("li_1", 1)] })] }
        },
      }
      const seg = sink()
      const ids = Array.from({ length: 8 }, (_, i) => `cart_pool_${i}`)
      await Promise.all(ids.map((id) => funnel.checkpoint(id, { query, pg: small, segment: seg, logger: console, enabled: ALL })))
      assert.deepEqual(seg.calls.map((m) => m.properties.cart_id).sort(), ids)
    } finally {
      await small.destroy()
    }
  })

  it("a cart carrying the storefront's metadata: its events carry the browser's anonymousId, ad ids and consent; a bad value is ignored", async () => {
    const metadata = { segment_anonymous_id: "anon-browser-1", fbp: "fb.1.1700000000000.123456789", gclid: "Cj0KCQ-abc", segment_consent: { analytics: true }, fbc: 42 }
    const store = { cart: { ...cart({ id: "cart_attr", items: [line("li_1", 1)] }), metadata } }
    const seg = sink()
    const warned = []
    await funnel.checkpoint("cart_attr", { ...ctx(store, seg), logger: { ...console, warn: (m) => warned.push(m), info() {} } })
    const [added] = seg.calls
    assert.equal(added.event, "Product Added")
    assert.equal(added.anonymousId, "anon-browser-1", "the browser's id, not cart-<id>")
    assert.equal(added.properties.fbp, metadata.fbp)
    assert.equal(added.properties.gclid, metadata.gclid)
    assert.equal(added.properties.fbc, undefined, "a bad value is not sent")
    assert.ok(warned.some((w) => /fbc/.test(w)), "and warned about")
    assert.deepEqual(added.context.consent, { categoryPreferences: { analytics: true } })
  })

  it("a completed cart is forgotten after its last look; a late event for it sends nothing", async () => {
    const store = { cart: cart({ id: "cart_done", items: [line("li_1", 1)], shipping_address: { address_1: "x" }, shipping_methods: [{ name: "Standard" }] }) }
    const seg = sink()
    await funnel.checkpoint("cart_done", ctx(store, seg))
    store.cart.payment_collection = { payment_sessions: [{ provider_id: "pp_system_default" }] }
    store.cart.completed_at = new Date().toISOString()
    await funnel.checkpoint("cart_done", ctx(store, seg)) // order.placed: the payment step, then forget
    assert.deepEqual(seg.calls.slice(-2).map((m) => m.event), ["Checkout Step Completed", "Payment Info Entered"])
    const n = seg.calls.length
    await funnel.checkpoint("cart_done", ctx(store, seg)) // a late payment-session event
    assert.equal(seg.calls.length, n)
    const { rows } = await knex.raw("select count(*)::int as n from segment_cart_state where id = 'cart_done'")
    assert.equal(rows[0].n, 0)
  })

  it("states untouched for 30 days are pruned", async () => {
    await knex.raw("insert into segment_cart_state (id, state, updated_at) values ('cart_old', '{}'::jsonb, now() - interval '31 days'), ('cart_new', '{}'::jsonb, now())")
    assert.equal(await cartState.pruneStale(knex), 1)
    const { rows } = await knex.raw("select id from segment_cart_state where id in ('cart_old', 'cart_new')")
    assert.deepEqual(rows.map((r) => r.id), ["cart_new"])
  })

  it("runFunnel never throws: a missing table is logged with the fix", async () => {
    const lines = []
    const logger = { error: (m) => lines.push(m), warn: (m) => lines.push(m), info() {}, debug() {} }
    const other = require("knex")({ client: "pg", connection: "postgres://postgres@127.0.0.1:5432/postgres", pool: { min: 0, max: 1 } })
    try {
      const container = { query: cartQuery({ cart: cart({ items: [line("li_1", 1)] }) }, 0), __pg_connection__: other, logger }
      const n = await funnel.runFunnel("cart.updated", { id: "cart_1" }, container, { write_key: "unitWriteKey", host: "http://127.0.0.1:9", events: { funnel: true } })
      assert.equal(n, 0)
      assert.match(lines.join("\n"), /segment_cart_state.*does not exist.*npx medusa db:migrate/)
    } finally {
      await other.destroy()
    }
  })
})
