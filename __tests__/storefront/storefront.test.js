"use strict"
// medusa-plugin-segment-rs/storefront: in headless Chromium on a local page
// with real analytics.js, and in Node (a storefront server reading the
// request's cookies), ESM and CommonJS.

const { test, before, after } = require("node:test")
const assert = require("node:assert/strict")
const { execFileSync } = require("node:child_process")
const path = require("node:path")

const page = require("../support/storefront-page")
const { cartMetadata, parseCookies } = require("medusa-plugin-segment-rs/storefront")
const { parseMetadata } = require("../../lib/attribution")

const skip = page.chromiumMissing()
let site
let browser

before(async () => {
  if (skip) return
  site = await page.startSite()
  browser = await page.launch()
})
after(async () => {
  if (browser) await browser.close()
  if (site) await site.close()
})

test("in Chromium: the landing page's metadata has analytics.js's anonymousId, the GA4, Meta and Google Ads ids and the consent", { skip, timeout: 120000 }, async () => {
  const got = await page.openPage(browser, site, `/landing?gclid=${page.LANDING.gclid}&fbclid=${page.LANDING.fbclid}`)
  assert.deepEqual(browser.errors, [])
  assert.match(got.anonymousId, /^[0-9a-f-]{36}$/, "analytics.js made an anonymous id")
  const m = got.metadata
  assert.equal(m.segment_anonymous_id, got.anonymousId)
  assert.match(got.cookie, new RegExp(`ajs_anonymous_id=(%22)?${got.anonymousId}(%22)?(;|$)`), "analytics.js keeps it in its cookie")
  assert.equal(m.ga_client_id, "1987654321.1733500000")
  assert.equal(m.ga_session_id, "1733580000")
  assert.equal(m.ga_session_number, "4")
  assert.equal(m.fbp, page.COOKIES._fbp)
  assert.match(m.fbc, new RegExp(`^fb\\.1\\.\\d{13}\\.${page.LANDING.fbclid}$`), "built from fbclid in Meta's format")
  assert.equal(m.gclid, page.LANDING.gclid)
  assert.deepEqual(m.segment_consent, page.CONSENT)
  // everything it returns passes the server's checks
  assert.deepEqual(parseMetadata([m], { warn: (w) => assert.fail(w) }), m)
  assert.deepEqual(browser.outside, [], "nothing left the loopback")
})

test("in Chromium, a later page without analytics.js ready: the id from analytics.js's cookie, no click ids in the URL", { skip, timeout: 120000 }, async () => {
  const first = await page.openPage(browser, site, "/checkout")
  const later = await browser.page.evaluate(() => window.cartMetadata({ analytics: null, storage: null }))
  assert.equal(later.segment_anonymous_id, first.anonymousId, "the same visitor")
  assert.equal(later.gclid, undefined)
  assert.equal(later.fbc, undefined)
  assert.equal(later.ga_client_id, "1987654321.1733500000")
  assert.equal(later.segment_consent, undefined, "consent only when given")
})

test("on a storefront server: the request's cookies (a Cookie header, Next.js cookies().getAll(), or a map)", () => {
  const header = "ajs_anonymous_id=%22a1b2%22; _ga=GA1.2.111.222; _ga_ZZ=GS1.1.1733580000.7.1.1733580100.0.0.0; _fbc=fb.1.1733.IwAR; _gcl_aw=GCL.1733580000.CjwKgclid"
  const want = {
    segment_anonymous_id: "a1b2",
    ga_client_id: "111.222",
    ga_session_id: "1733580000",
    ga_session_number: "7",
    fbc: "fb.1.1733.IwAR",
    gclid: "CjwKgclid",
  }
  assert.deepEqual(cartMetadata({ cookies: header, url: "", analytics: null, storage: null }), want)
  const list = Object.entries(parseCookies(header)).map(([name, value]) => ({ name, value }))
  assert.deepEqual(cartMetadata({ cookies: list, url: "", analytics: null, storage: null }), want)
  assert.deepEqual(cartMetadata({ cookies: parseCookies(header), url: "", analytics: null, storage: null }), want)
  // nothing to read: an empty object, never a throw
  assert.deepEqual(cartMetadata({ cookies: "", url: "not a url", analytics: { user: () => { throw new Error("x") } }, storage: null }), {})
  assert.deepEqual(cartMetadata({ cookies: "_ga=garbage; _ga_X=GS9.bad" , url: "", analytics: null, storage: null }), {})
})

test("ESM and CommonJS builds are the same code (storefront/index.cjs is generated)", () => {
  execFileSync(process.execPath, [path.join(__dirname, "..", "..", "scripts", "build-storefront.js"), "--check"])
  const out = execFileSync(
    process.execPath,
    ["--input-type=module", "-e", 'import { cartMetadata } from "medusa-plugin-segment-rs/storefront"; console.log(JSON.stringify(cartMetadata({ cookies: "_fbp=fb.1.2.3", url: "/?gclid=G1", analytics: null, storage: null })))'],
    { cwd: path.join(__dirname, "..", "..") }
  )
  assert.deepEqual(JSON.parse(String(out)), { fbp: "fb.1.2.3", gclid: "G1" })
})
