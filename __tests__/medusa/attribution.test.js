"use strict"

// Medusa 1.x: the storefront contract on cart.metadata, the cart's recorded
// ip/user agent and consent on every call about the order (lib/attribution.js
// through lib/v1/events.js), on the fixture services.

const test = require("node:test")
const assert = require("node:assert/strict")

const h = require("./harness")
const { buildCalls } = require("../../lib/v1/events")
const attribution = require("../../lib/attribution")

const BROWSER = {
  segment_anonymous_id: "2b4f7c1e-aaaa-4bbb-8ccc-0123456789ab",
  ga_client_id: "555.666",
  fbp: "fb.1.1733500000000.42",
  fbc: "fb.1.1733580000000.IwAR_x",
  gclid: "Cj0KCQ_v1",
  segment_consent: { analytics: true, marketing: false },
}
const CONTEXT = { ip: "203.0.113.7", user_agent: "Mozilla/5.0 (X11; Linux x86_64) Firefox/130.0" }

function setup(options = {}, metadata = BROWSER) {
  const sc = h.scenario()
  sc.services.cartService.retrieve = async (id) => ({ id, context: { ...CONTEXT }, metadata })
  return { sc, ...h.setupOurs(sc, { enabled: false, ...options }) }
}

test.beforeEach(() => attribution._resetWarnings())

test("v1: every call about the order carries the cart's browser ids, consent, traits and the ip/user agent Medusa recorded", async () => {
  const { container } = setup()
  for (const [event, data] of [
    ["order.placed", { id: "order_usd" }],
    ["order.shipment_created", { id: "order_eur", fulfillment_id: "ful_eur" }],
    ["claim.created", { id: "claim_eur" }],
    ["swap.created", { id: "swap_usd" }],
  ]) {
    const calls = await buildCalls(event, data, container)
    assert.ok(calls.length > 0, event)
    for (const { method, message: m } of calls) {
      assert.equal(m.anonymousId, BROWSER.segment_anonymous_id, event)
      assert.ok(m.userId, `${event}: userId kept`)
      assert.deepEqual(m.context.consent, { categoryPreferences: BROWSER.segment_consent }, event)
      assert.equal(m.context.ip, CONTEXT.ip, event)
      assert.equal(m.context.userAgent, CONTEXT.user_agent, event)
      assert.equal(typeof m.context.traits.email, "string", event)
      if (method === "track") {
        assert.deepEqual([m.properties.fbp, m.properties.fbc, m.properties.gclid, m.properties.client_id], [BROWSER.fbp, BROWSER.fbc, BROWSER.gclid, BROWSER.ga_client_id], event)
      }
    }
  }
})

test("v1: the contract in cart.context (what 1.x's store API can set) works the same", async () => {
  const sc = h.scenario()
  sc.services.cartService.retrieve = async (id) => ({ id, context: { ...CONTEXT, ...BROWSER }, metadata: null })
  const { container } = h.setupOurs(sc, { enabled: false })
  const [identify, track] = await buildCalls("order.placed", { id: "order_usd" }, container)
  assert.equal(identify.message.anonymousId, BROWSER.segment_anonymous_id)
  assert.equal(track.message.properties.gclid, BROWSER.gclid)
  assert.deepEqual(track.message.context.consent, { categoryPreferences: BROWSER.segment_consent })
})

test("v1: consent_mode drop counts dropped.consent; anonymize strips identifiers; a bad value is warned about once", async () => {
  const refused = { ...BROWSER, segment_consent: { analytics: false }, fbp: 12 }
  const drop = setup({ consent_category: "analytics", consent_mode: "drop" }, refused)
  assert.deepEqual(await buildCalls("order.placed", { id: "order_usd" }, drop.container), [])
  assert.equal(drop.segment.stats().dropped.consent, 2)
  assert.equal(drop.logger.lines.filter(([l, m]) => l === "warn" && /`fbp` ignored/.test(m)).length, 1)

  const anon = setup({ consent_category: "analytics", use_ga_id: true }, refused)
  const calls = await buildCalls("order.placed", { id: "order_usd" }, anon.container)
  assert.deepEqual(calls.map((c) => c.method), ["track"])
  const m = calls[0].message
  assert.equal(m.userId, undefined)
  assert.notEqual(m.anonymousId, BROWSER.segment_anonymous_id)
  assert.equal(m.properties.email, undefined)
  assert.equal(m.context.ip, undefined)
  assert.equal(m.context.user_agent, undefined)
  assert.equal(m.context.traits, undefined)
  assert.equal(m.integrations["Google Analytics"], undefined)
})

test("v1 start-up: a bad consent option is logged naming the option; the loader never throws", async () => {
  const loader = require("../../loaders/segment").default
  const { container, logger } = setup()
  await loader(container, { consent_mode: "block", consent_category: "analytics" })
  assert.ok(logger.lines.some(([l, m]) => l === "error" && /invalid option `consent_mode`: must be "drop" or "anonymize"/.test(m)))
})
