"use strict"

// Browser identity, traits, the shopper's ip/user agent and consent on the
// Medusa 2.x subscribers' calls (lib/attribution.js, lib/v2/attribution.js,
// lib/v2/middlewares.js): the metadata contract's checks and limits, where
// each field lands in the message as delivered over HTTP to the local
// Segment-compatible server, and the two consent modes.

const { drops } = require("../../lib/drops")
const test = require("node:test")
const assert = require("node:assert/strict")
const path = require("node:path")

const { startSegmentServer } = require("../support/segment-server")
const { recordingLogger } = require("../medusa/fixtures")
const { fakeQuery, container, orderEur, orderUsd } = require("./fixtures")
const attribution = require("../../lib/attribution")
const middlewares = require("../../lib/v2/middlewares")
const { validateOptions } = require("../../lib/v2/options")

const SUBSCRIBERS = path.join(__dirname, "..", "..", ".medusa", "server", "src", "subscribers")
const WRITE_KEY = "wk_v2_attribution_Qz81"

// A complete storefront contract, as medusa-plugin-segment-rs/storefront returns it.
const BROWSER = {
  segment_anonymous_id: "7f9c2a6e-3b1d-4e4f-9a8b-2c1d0e9f8a7b",
  ga_client_id: "1234567890.1733500000",
  ga_session_id: "1733580000",
  ga_session_number: "3",
  fbp: "fb.1.1733500000000.1098765432",
  fbc: "fb.1.1733580000000.IwAR2xYzAbC-_dEf",
  gclid: "Cj0KCQiA-abc_DEF123",
  segment_consent: { analytics: true, advertising: true, functional: true },
}
// What the plugin's middleware records at checkout (server-derived)
const SEEN = { ip: "203.0.113.7", user_agent: "Mozilla/5.0 (X11; Linux x86_64) Chrome/131.0" }

let srv
test.before(async () => {
  srv = await startSegmentServer()
})
test.after(async () => {
  await srv.close()
})
test.beforeEach(() => attribution._resetWarnings())

let seq = 0
function pluginOptions(extra = {}) {
  return { write_key: WRITE_KEY, host: srv.url, flush_at: 1, flush_interval: 20 + seq++, ...extra }
}

function subscriber(event) {
  const file = `segment-${event.replace(/[._]/g, "-")}.js`
  return require(path.join(SUBSCRIBERS, file)).default
}

async function receivedCount(n, timeoutMs = 10000) {
  const until = Date.now() + timeoutMs
  while (srv.messages.length < n) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${n} messages; got ${srv.messages.length}`)
    await new Promise((r) => setTimeout(r, 10))
  }
}

/** An order whose cart carried `metadata` (copied onto the order, as completeCartWorkflow does). */
function orderWith(metadata, extra = {}) {
  return { ...orderEur, metadata, cart: { id: "cart_eur", metadata }, ...extra }
}

async function emit(name, data, { query, options = pluginOptions(), expect = 0, settle = 0 } = {}) {
  const logger = recordingLogger()
  const before = srv.messages.length
  await subscriber(name)({ event: { name, data }, container: container({ query, logger }), pluginOptions: options })
  await receivedCount(before + expect)
  if (settle) await new Promise((r) => setTimeout(r, settle))
  return { got: srv.messages.slice(before), logger }
}

const TRAITS = {
  email: "jane@example.com",
  firstName: "Jane",
  lastName: "Doe",
  address: { street: "Street 1", city: "Copenhagen", postalCode: "1000", country: "DK" },
}

test("the contract parsed: valid values kept, numbers accepted for the GA session fields", () => {
  const logger = recordingLogger()
  const got = attribution.parseMetadata([{ ...BROWSER, ga_session_id: 1733580000, unrelated: "x" }], logger)
  assert.deepEqual(got, { ...BROWSER, ga_session_id: "1733580000" })
  assert.equal(logger.lines.length, 0)
})

test("bad metadata values: each ignored, one warning per key naming it, the rest kept", () => {
  const logger = recordingLogger()
  const bad = {
    segment_anonymous_id: "x".repeat(201), // too long
    ga_client_id: "GA1.2.123.456", // the raw cookie, not the client id
    ga_session_id: -5,
    fbp: { value: "fb.1.2.3" }, // not a string
    fbc: "fb.1.1733580000000.has space",
    gclid: "<script>",
    segment_consent: { analytics: "yes" }, // not a boolean
  }
  const got = attribution.parseMetadata([{ ...bad, ga_session_number: "2" }], logger)
  assert.deepEqual(got, { ga_session_number: "2" })
  const warnings = logger.lines.filter(([l]) => l === "warn").map(([, m]) => m)
  assert.equal(warnings.length, Object.keys(bad).length)
  for (const key of Object.keys(bad)) {
    const w = warnings.filter((m) => m.includes(`cart metadata \`${key}\` ignored`))
    assert.equal(w.length, 1, `one warning for ${key}`)
  }
  assert.match(warnings.join("\n"), /got a string of 201 characters/)
  assert.ok(!warnings.join("\n").includes("<script>"), "the untrusted value itself is not logged")
  // the same bad keys again: no new warning
  attribution.parseMetadata([bad], logger)
  assert.equal(logger.lines.filter(([l]) => l === "warn").length, warnings.length)
})

test("consent maps: at most 50 categories of true/false", () => {
  const many = Object.fromEntries(Array.from({ length: 51 }, (_, i) => [`c${i}`, true]))
  assert.deepEqual(attribution.parseMetadata([{ segment_consent: many }], recordingLogger()), {})
  assert.deepEqual(attribution.parseMetadata([{ segment_consent: ["analytics"] }], recordingLogger()), {})
  const ok = { "C0001 Strictly Necessary": true, analytics: false }
  assert.deepEqual(attribution.parseMetadata([{ segment_consent: ok }], recordingLogger()), { segment_consent: ok })
})

test("order.placed with the whole contract: ids, GA ids, traits, ip/user agent and consent on identify and Order Completed", async () => {
  const query = fakeQuery({ order: [orderWith({ ...BROWSER, segment_context: SEEN })] })
  const { got } = await emit("order.placed", { id: "order_eur" }, { query, expect: 2, options: pluginOptions({ use_ga_id: true }) })
  assert.equal(got.length, 2)
  const t = got.find((m) => m.type === "track")
  const id = got.find((m) => m.type === "identify")
  for (const m of [t, id]) {
    assert.equal(m.userId, "cus_jane", "the customer stays the userId")
    assert.equal(m.anonymousId, BROWSER.segment_anonymous_id, "the browser's anonymousId ties the two")
    assert.equal(m.context.ip, SEEN.ip)
    assert.equal(m.context.userAgent, SEEN.user_agent)
    assert.deepEqual(m.context.consent, { categoryPreferences: BROWSER.segment_consent })
    assert.deepEqual(m.context.traits, TRAITS)
  }
  const p = t.properties
  assert.deepEqual(
    [p.fbp, p.fbc, p.gclid, p.client_id, p.session_id, p.session_number],
    [BROWSER.fbp, BROWSER.fbc, BROWSER.gclid, BROWSER.ga_client_id, BROWSER.ga_session_id, BROWSER.ga_session_number]
  )
  assert.equal(p.order_id, "order_eur")
  assert.equal(p.email, "jane@example.com")
  assert.deepEqual(t.integrations, { "Google Analytics": { clientId: BROWSER.ga_client_id } })
  assert.deepEqual(id.traits, { email: "jane@example.com", firstName: "Jane", lastName: "Doe" }, "identify traits as before")
})

test("every order event of that order carries the same ids and consent", async () => {
  const query = fakeQuery({ order: [orderWith({ ...BROWSER, segment_context: SEEN })] })
  const events = [
    ["shipment.created", { id: "ful_1" }, 1],
    ["order.canceled", { id: "order_eur" }, 1],
    ["order.return_received", { order_id: "order_eur", return_id: "return_1" }, 1],
    ["order.claim_created", { order_id: "order_eur", claim_id: "claim_1" }, 2],
  ]
  for (const [name, data, n] of events) {
    const { got } = await emit(name, data, { query, expect: n })
    assert.equal(got.length, n, name)
    for (const m of got) {
      assert.equal(m.anonymousId, BROWSER.segment_anonymous_id, name)
      assert.equal(m.properties.fbc, BROWSER.fbc, name)
      assert.equal(m.context.userAgent, SEEN.user_agent, name)
      assert.deepEqual(m.context.consent.categoryPreferences, BROWSER.segment_consent, name)
    }
  }
})

test("a guest order: the browser's anonymousId replaces the order-<id> fallback", async () => {
  const guest = { ...orderUsd, customer_id: null, metadata: { segment_anonymous_id: BROWSER.segment_anonymous_id } }
  const { got } = await emit("order.placed", { id: "order_usd" }, { query: fakeQuery({ order: [guest] }), expect: 1 })
  assert.equal(got.length, 1)
  assert.equal(got[0].anonymousId, BROWSER.segment_anonymous_id)
  assert.equal(got[0].userId, undefined)
})

test("metadata never overrides what the server derived; a bad value is warned about and the event still goes", async () => {
  const meta = { ...BROWSER, fbp: "not-a-cookie", email: "evil@example.com", order_id: "x", total: 0 }
  const { got, logger } = await emit("order.placed", { id: "order_eur" }, { query: fakeQuery({ order: [orderWith(meta)] }), expect: 2 })
  const t = got.find((m) => m.type === "track")
  assert.equal(t.properties.fbp, undefined, "the bad fbp is ignored")
  assert.equal(t.properties.fbc, BROWSER.fbc, "the good ones are kept")
  assert.equal(t.properties.email, "jane@example.com")
  assert.equal(t.properties.order_id, "order_eur")
  assert.equal(t.properties.total, 51.17)
  assert.equal(t.context.ip, undefined, "no server-recorded context: no ip")
  assert.equal(logger.lines.filter(([l, m]) => l === "warn" && /`fbp` ignored/.test(m)).length, 1)
})

test("the order's own metadata wins over its cart's; the customer's metadata is the consent fallback", async () => {
  const order = {
    ...orderEur,
    metadata: { segment_anonymous_id: "from-order" },
    cart: { id: "cart_eur", metadata: { segment_anonymous_id: "from-cart", gclid: "cartGclid" } },
    customer: { ...orderEur.customer, metadata: { segment_consent: { analytics: true, marketing: false } } },
  }
  const { got } = await emit("order.canceled", { id: "order_eur" }, { query: fakeQuery({ order: [order] }), expect: 1 })
  assert.equal(got[0].anonymousId, "from-order")
  assert.equal(got[0].properties.gclid, "cartGclid")
  assert.deepEqual(got[0].context.consent, { categoryPreferences: { analytics: true, marketing: false } })
})

test("consent_mode drop: nothing sent, counted as dropped.consent and logged", async () => {
  const meta = { ...BROWSER, segment_consent: { analytics: false, advertising: true } }
  const options = pluginOptions({ consent_category: "analytics", consent_mode: "drop" })
  const { got, logger } = await emit("order.placed", { id: "order_eur" }, { query: fakeQuery({ order: [orderWith(meta)] }), options, settle: 300 })
  assert.equal(got.length, 0)
  const client = new (require("../../services/segment").default)({}, options)
  const stats = await client.flush()
  assert.equal(stats.dropped.consent, 2, "identify + Order Completed")
  assert.equal(stats.accepted, 2)
  assert.ok(logger.lines.some(([l, m]) => l === "info" && /2 call\(s\) for order\.placed order_eur not sent: consent category "analytics" is false \(consent_mode drop\)/.test(m)))
})

test("consent_mode anonymize: the track goes without any identifier, the identify is left out (counted)", async () => {
  const meta = { ...BROWSER, segment_consent: { analytics: false }, segment_context: SEEN }
  const options = pluginOptions({ consent_category: "analytics", consent_mode: "anonymize", use_ga_id: true })
  const consentBefore = drops().consent || 0
  const { got } = await emit("order.placed", { id: "order_eur" }, { query: fakeQuery({ order: [orderWith(meta)] }), options, expect: 1, settle: 300 })
  assert.equal(got.length, 1)
  const t = got[0]
  assert.equal(t.event, "Order Completed")
  assert.equal(t.userId, undefined)
  assert.match(t.anonymousId, /^[0-9a-f-]{36}$/)
  assert.notEqual(t.anonymousId, BROWSER.segment_anonymous_id)
  for (const k of ["email", "fbp", "fbc", "gclid", "client_id", "session_id", "session_number"]) assert.equal(t.properties[k], undefined, k)
  assert.equal(t.context.traits, undefined)
  assert.equal(t.context.userAgent, undefined)
  assert.notEqual(t.context.ip, SEEN.ip)
  assert.equal(t.integrations && t.integrations["Google Analytics"], undefined)
  assert.deepEqual(t.context.consent, { categoryPreferences: { analytics: false } }, "the consent itself stays")
  assert.equal(t.properties.total, 51.17, "the order's figures stay")
  // the plugin's own drops are counted per process (lib/drops.js) and merged into stats()
  const stats = await new (require("../../services/segment").default)({}, options).flush()
  assert.equal(stats.dropped.consent - consentBefore, 1, "the identify")
  // the default mode is anonymize, and consent given (or not stated) changes nothing
  const dflt = await emit("order.placed", { id: "order_eur" }, { query: fakeQuery({ order: [orderWith(meta)] }), options: pluginOptions({ consent_category: "analytics" }), expect: 1, settle: 300 })
  assert.deepEqual(dflt.got.map((m) => [m.type, m.userId]), [["track", undefined]])
  const given = await emit("order.placed", { id: "order_eur" }, { query: fakeQuery({ order: [orderWith(BROWSER)] }), options: pluginOptions({ consent_category: "analytics", consent_mode: "drop" }), expect: 2 })
  assert.equal(given.got.length, 2)
})

test("no consent_category (the default): consent is forwarded, nothing is dropped", async () => {
  const meta = { ...BROWSER, segment_consent: { analytics: false } }
  const { got } = await emit("order.placed", { id: "order_eur" }, { query: fakeQuery({ order: [orderWith(meta)] }), expect: 2 })
  assert.equal(got.length, 2)
  for (const m of got) assert.deepEqual(m.context.consent, { categoryPreferences: { analytics: false } })
})

test("consent options are checked, the error names the option", () => {
  assert.throws(() => validateOptions({ consent_mode: "block", consent_category: "analytics" }), /invalid option `consent_mode`: must be "drop" or "anonymize" \(got "block"\)/)
  assert.throws(() => validateOptions({ consent_mode: "drop" }), /invalid option `consent_mode`: has no effect without `consent_category`/)
  assert.throws(() => validateOptions({ consent_category: { analytics: true } }), /invalid option `consent_category`: must be the name of a consent category/)
  assert.doesNotThrow(() => validateOptions({ consent_category: "analytics", consent_mode: "anonymize" }))
  const { SegmentAnalyticsProvider } = require("../../lib/v2/provider")
  assert.throws(() => SegmentAnalyticsProvider.validateOptions({ consent_mode: "x", consent_category: "a" }), /`consent_mode`/)
})

const cart = (metadata, extra = {}) => ({
  id: "cart_t",
  email: "jane@example.com",
  customer_id: null,
  metadata,
  shipping_address: null,
  billing_address: null,
  customer: { id: "cus_jane", email: "jane@example.com", first_name: "Jane", last_name: "Doe", phone: "+4512345678", metadata: null },
  ...extra,
})

test("cart.customer_transferred: identify with the customer's userId and the browser's anonymousId", async () => {
  const query = fakeQuery({ cart: [cart({ ...BROWSER, segment_context: SEEN })] })
  const { got } = await emit("cart.customer_transferred", { id: "cart_t", customer_id: "cus_jane" }, { query, expect: 1 })
  assert.equal(got.length, 1)
  const m = got[0]
  assert.equal(m.type, "identify")
  assert.equal(m.userId, "cus_jane")
  assert.equal(m.anonymousId, BROWSER.segment_anonymous_id)
  assert.equal(m.messageId, "medusa-cart.customer_transferred-cart_t-cus_jane")
  assert.deepEqual(m.traits, { email: "jane@example.com", phone: "+4512345678", firstName: "Jane", lastName: "Doe" })
  assert.deepEqual(m.context.consent, { categoryPreferences: BROWSER.segment_consent })
  assert.equal(m.context.userAgent, SEEN.user_agent)
  // no browser id on the cart: nothing to tie, nothing sent
  const none = await emit("cart.customer_transferred", { id: "cart_t", customer_id: "cus_jane" }, { query: fakeQuery({ cart: [cart({})] }), settle: 300 })
  assert.equal(none.got.length, 0)
})

test("store middleware: a browser-sent segment_context is removed from cart metadata", () => {
  const req = { body: { metadata: { segment_context: { ip: "1.2.3.4" }, fbp: "x" } }, validatedBody: { metadata: { segment_context: {} } } }
  let called = 0
  middlewares.stripServerContext(req, {}, () => called++)
  assert.equal(called, 1)
  assert.deepEqual(req.body.metadata, { fbp: "x" })
  assert.deepEqual(req.validatedBody.metadata, {})
  middlewares.stripServerContext({ body: { metadata: "x" } }, {}, () => called++)
  assert.equal(called, 2)
})

function fakeReq({ ua, ip = "::ffff:198.51.100.4", carts }) {
  const logger = recordingLogger()
  return {
    logger,
    req: {
      ip,
      params: { id: "cart_1" },
      get: (h) => (h.toLowerCase() === "user-agent" ? ua : undefined),
      scope: container({ cart: carts, logger }),
    },
  }
}

test("store middleware at checkout: records the shopper's ip and user agent into cart.metadata; never fails the request", async () => {
  const updates = []
  const carts = {
    retrieveCart: async (id) => ({ id, metadata: { fbp: "fb.1.2.3" }, completed_at: null }),
    updateCarts: async (data) => updates.push(data),
  }
  const { req } = fakeReq({ ua: SEEN.user_agent, carts })
  let called = 0
  await middlewares.recordShopperContext(req, {}, () => called++)
  assert.equal(called, 1)
  assert.deepEqual(updates, [[{ id: "cart_1", metadata: { fbp: "fb.1.2.3", segment_context: { ip: "198.51.100.4", user_agent: SEEN.user_agent } } }]])

  // from a server (a storefront's backend that does not forward the shopper's headers): nothing recorded
  const server = fakeReq({ ua: "node", carts })
  await middlewares.recordShopperContext(server.req, {}, () => called++)
  assert.equal(called, 2)
  assert.equal(updates.length, 1)
  assert.ok(server.logger.lines.some(([l, m]) => l === "info" && /come from a server/.test(m)))

  // the cart module failing: logged, the request goes on
  const broken = fakeReq({ ua: SEEN.user_agent, carts: { retrieveCart: async () => { throw new Error("db down") } } })
  await middlewares.recordShopperContext(broken.req, {}, () => called++)
  assert.equal(called, 3)
  assert.ok(broken.logger.lines.some(([l, m]) => l === "warn" && /db down/.test(m)))
})

test("countDropped: counted as accepted and dropped[reason]", async () => {
  const { SegmentService } = require("../../index.js")
  const s = new SegmentService({}, { write_key: WRITE_KEY, host: srv.url, flush_interval: 999 + seq++ })
  const before = s.stats()
  s.countDropped("consent", 3)
  s.countDropped("consent")
  const st = s.stats()
  assert.equal(st.dropped.consent - (before.dropped.consent || 0), 4)
  assert.equal(st.accepted - before.accepted, 4)
  assert.throws(() => s.countDropped(""), /reason must be a non-empty string/)
  await s.shutdown()
})
