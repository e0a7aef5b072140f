"use strict"
// A storefront page in headless Chromium (Debian's chromium through
// playwright-core, loopback only): real analytics.js (@segment/analytics-next's
// browser bundle) creates the anonymous id, the page sets the GA4 and Meta
// cookies in the formats gtag.js and the Pixel write (their scripts cannot be
// loaded offline), the shopper lands with ?gclid=&fbclid=, and
// medusa-plugin-segment-rs/storefront (storefront/index.mjs, as an ES module)
// builds the cart metadata. Used by the storefront test and the v2 e2e.

const fs = require("node:fs")
const http = require("node:http")
const os = require("node:os")
const path = require("node:path")

const CHROMIUM = "/usr/bin/chromium"
const ROOT = path.join(__dirname, "..", "..")
const UMD = path.join(ROOT, "node_modules", "@segment", "analytics-next", "dist", "umd")

const chromiumMissing = () => (fs.existsSync(CHROMIUM) ? false : `${CHROMIUM} is not installed (apt-get install -y chromium)`)

// What gtag.js and the Meta Pixel would have set on this shopper's first visit.
const COOKIES = {
  _ga: "GA1.1.1987654321.1733500000",
  _ga_TESTSTREAM: "GS2.1.s1733580000$o4$g1$t1733580123$j60$l0$h0",
  _fbp: "fb.1.1733500000123.1234567890",
}
const LANDING = { gclid: "EAIaIQobChMI_e2e-TEST", fbclid: "IwAR_e2e_click-01" }
const CONSENT = { analytics: true, advertising: true, functional: true }

const PAGE = `<!doctype html>
<html><head><meta charset="utf-8"><title>shop</title></head><body>
<p id="state">loading</p>
<script src="/ajs/index.js"></script>
<script type="module">
  import { cartMetadata } from "/storefront/index.mjs"
  const cookies = ${JSON.stringify(COOKIES)}
  // first visit only: later pages keep what is there
  if (location.pathname === "/landing") for (const [k, v] of Object.entries(cookies)) document.cookie = k + "=" + v + "; path=/; max-age=7776000"
  const [analytics] = await window.AnalyticsNext.AnalyticsBrowser.load(
    { writeKey: "storefrontPageKey", cdnSettings: { integrations: {} } },
    { integrations: { "Segment.io": { apiHost: location.host + "/v1", protocol: "http" } } }
  )
  window.analytics = analytics
  window.cartMetadata = cartMetadata
  window.metadata = cartMetadata({ measurementId: "G-TESTSTREAM", consent: ${JSON.stringify(CONSENT)} })
  document.getElementById("state").textContent = "ready"
</script>
</body></html>`

const TYPES = { ".js": "text/javascript", ".mjs": "text/javascript", ".html": "text/html" }

/** The local site: the page, the analytics.js bundle, the storefront helper, a /v1 sink for analytics.js. */
async function startSite() {
  const ajsCalls = []
  const server = http.createServer((req, res) => {
    const u = new URL(req.url, "http://127.0.0.1")
    const send = (file) => {
      if (!file || !fs.existsSync(file)) return res.writeHead(404).end()
      res.writeHead(200, { "content-type": TYPES[path.extname(file)] || "application/octet-stream" })
      fs.createReadStream(file).pipe(res)
    }
    if (u.pathname === "/landing" || u.pathname === "/checkout") {
      res.writeHead(200, { "content-type": "text/html" })
      return res.end(PAGE)
    }
    if (u.pathname.startsWith("/ajs/")) return send(path.join(UMD, path.basename(u.pathname)))
    if (u.pathname === "/storefront/index.mjs") return send(path.join(ROOT, "storefront", "index.mjs"))
    if (u.pathname.startsWith("/v1/")) {
      let body = ""
      req.on("data", (c) => (body += c))
      return req.on("end", () => {
        ajsCalls.push({ path: u.pathname, body })
        res.writeHead(200, { "content-type": "application/json" }).end("{}")
      })
    }
    res.writeHead(404).end()
  })
  await new Promise((r) => server.listen(0, "127.0.0.1", r))
  const url = `http://127.0.0.1:${server.address().port}`
  return { url, ajsCalls, close: () => new Promise((r) => server.close(r)) }
}

async function launch() {
  const { chromium } = require("playwright-core")
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), "storefront-chromium-"))
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
      "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
    ],
  })
  const outside = []
  const page = context.pages()[0] || (await context.newPage())
  const errors = []
  page.on("pageerror", (e) => errors.push(String(e)))
  return {
    context,
    page,
    errors,
    outside,
    async close() {
      await context.close()
      fs.rmSync(profile, { recursive: true, force: true })
    },
  }
}

/** Opens `path` of the site and waits for the page's metadata. */
async function openPage(browser, site, pagePath) {
  await browser.context.route("**/*", (route) => {
    const u = new URL(route.request().url())
    if (u.origin === site.url) return route.continue()
    browser.outside.push(u.href)
    return route.abort()
  })
  await browser.page.goto(site.url + pagePath)
  await browser.page.waitForFunction(() => document.getElementById("state").textContent === "ready", null, { timeout: 30000 })
  return browser.page.evaluate(() => ({
    metadata: window.metadata,
    anonymousId: window.analytics.user().anonymousId(),
    cookie: document.cookie,
    userAgent: navigator.userAgent,
  }))
}

/**
 * One shopper's visit: lands with ?gclid=&fbclid=, returns what the helper
 * built there: { metadata, anonymousId, userAgent, ... }.
 */
async function storefrontVisit() {
  const site = await startSite()
  const browser = await launch()
  try {
    const landing = `/landing?gclid=${LANDING.gclid}&fbclid=${LANDING.fbclid}`
    return { ...(await openPage(browser, site, landing)), outside: browser.outside, errors: browser.errors }
  } finally {
    await browser.close()
    await site.close()
  }
}

module.exports = { CHROMIUM, COOKIES, LANDING, CONSENT, chromiumMissing, startSite, launch, openPage, storefrontVisit }
