"use strict"
// The plugin's Admin page in a real browser (Debian's chromium driven by
// playwright-core, headless, loopback only) against a real Medusa 2.21.2
// backend serving an admin built with `medusa build --admin-only` (cached per
// install + extension source, e2e/v2/backend.js buildAdmin): log in, open
// the Segment page, send a test event (the answer comes from the local
// Segment-compatible server), start a backfill of a seeded history and watch
// it finish; a second user, not in `admin_editors`, gets the page read-only.
// Writes docs/admin.png.
//
// Costly (an admin build of ~1-5 min when not cached): runs with
// `npm run test:admin` (E2E_ADMIN=1), skipped in the default `npm test`.

const { describe, it, before, after } = require("node:test")
const assert = require("node:assert/strict")
const fs = require("node:fs")
const path = require("node:path")

const be = require("../../e2e/backend")
const v2 = require("../../e2e/v2/backend")
// e2e/v2/src/scripts/seed.js creates this admin user
const ADMIN = { email: "admin@e2e.test", password: "e2e-password" }
const { startSegmentServer } = require("../support/segment-server")

const CHROMIUM = "/usr/bin/chromium"
const skip = process.env.E2E_ADMIN !== "1" ? "set E2E_ADMIN=1 (npm run test:admin)" : fs.existsSync(CHROMIUM) ? false : `${CHROMIUM} is not installed`
const ORDERS = 12
const WRITE_KEY = "adminPageWriteKey0123456789abcdefXYZ"
const VIEWER = { email: "viewer@e2e.test", password: "viewer-password" }
const SCREENSHOT = path.join(__dirname, "..", "..", "docs", "admin.png")

describe("the Segment page in Medusa Admin 2.21.2 (headless Chromium)", { skip, timeout: 60 * 60 * 1000 }, () => {
  let seg
  let backend
  let browser
  const timing = {}
  const pageErrors = []

  before(
    async () => {
      const t0 = Date.now()
      const tarball = await be.packPlugin()
      // @medusajs/admin-sdk: Medusa's own draft-order admin imports it (a starter project lists it)
      await v2.prepareBackend({ tarball, extraPackages: ["@medusajs/admin-sdk@2.21.2"] })
      timing.prepare = Date.now() - t0
      const built = await v2.buildAdmin()
      timing[built.cached ? "adminCached" : "adminColdBuild"] = built.ms
      seg = await startSegmentServer({ port: 0 })
      const t1 = Date.now()
      backend = await v2.startBackend({
        mode: "plugin",
        eventBus: "redis",
        history: ORDERS,
        migrate: true,
        env: { E2E_V2_ADMIN: "1" },
        segmentOptions: {
          write_key: WRITE_KEY,
          host: seg.url,
          flush_at: 20,
          flush_interval: 200,
          backfill_orders_per_second: 2,
          backfill_page_size: 2,
          admin_editors: [ADMIN.email],
        },
      })
      timing.start = Date.now() - t1
      await backend.cli(["user", "-e", VIEWER.email, "-p", VIEWER.password])
      const { chromium } = require("playwright-core")
      browser = await chromium.launch({
        executablePath: CHROMIUM,
        headless: true,
        args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run"],
      })
    },
    { timeout: 60 * 60 * 1000 }
  )

  after(async () => {
    if (browser) await browser.close()
    if (backend && !backend.exited) await backend.stop()
    if (seg) await seg.close()
    process.stderr.write(`[admin] timings (ms): ${JSON.stringify(timing)}\n`)
  })

  async function logIn(user) {
    const context = await browser.newContext({ viewport: { width: 1400, height: 1500 } })
    // loopback only
    await context.route("**/*", (route) => (new URL(route.request().url()).hostname === "127.0.0.1" ? route.continue() : route.abort()))
    const page = await context.newPage()
    page.on("pageerror", (e) => pageErrors.push(String(e)))
    await page.goto(`${backend.url}/app/login`)
    await page.fill('input[name="email"]', user.email)
    await page.fill('input[name="password"]', user.password)
    await page.click('button[type="submit"]')
    await page.waitForURL((u) => !u.pathname.endsWith("/login"), { timeout: 60000 })
    return { context, page }
  }

  it("an admin opens the Segment page, sends a test event, starts a backfill and watches it finish", { timeout: 20 * 60 * 1000 }, async () => {
    const { context, page } = await logIn(ADMIN)
    // the menu entry leads to the page
    await page.click('a[href="/app/segment"]', { timeout: 60000 })
    await page.waitForSelector('[data-testid="segment-page"]', { timeout: 60000 })
    assert.equal(await page.locator('[data-testid="segment-read-only"]').count(), 0)
    assert.ok(!(await page.content()).includes(WRITE_KEY), "the write key is not on the page")

    // test event: Segment's answer is shown, and the server got it
    const t0 = Date.now()
    await page.click('[data-testid="segment-send-test"]')
    const answer = page.locator('[data-testid="segment-test-answer"]')
    await answer.waitFor({ timeout: 60000 })
    timing.testEvent = Date.now() - t0
    assert.match(await answer.innerText(), /Delivered/)
    const test = seg.messages.find((m) => m.event === "Segment Test Event")
    assert.ok(test, "the Segment server received the test event")
    assert.ok((await answer.innerText()).includes(test.messageId))
    // the counters move
    await page.waitForFunction(() => Number(document.querySelector('[data-testid="segment-delivered"]').textContent) >= 1, null, { timeout: 30000 })

    // backfill: started from the page, the request returns at once, progress shows up live
    const t1 = Date.now()
    await page.click('[data-testid="segment-backfill-start"]')
    await page.locator('[data-testid="segment-backfill-note"]').waitFor({ timeout: 60000 })
    timing.backfillStartAnswer = Date.now() - t1
    const progress = page.locator('[data-testid="segment-backfill-progress"]').first()
    const seen = new Set()
    let shot = false
    for (const deadline = Date.now() + 10 * 60 * 1000; Date.now() < deadline; ) {
      const status = await page.locator("[data-testid=segment-backfill-runs] tbody tr").first().getAttribute("data-status").catch(() => null)
      const text = await progress.innerText().catch(() => "")
      if (text) seen.add(text)
      if (status === "running" && !shot && /^[1-9]\d* \//.test(text)) {
        await page.screenshot({ path: SCREENSHOT, fullPage: true })
        shot = true
      }
      if (status === "done") break
      await page.waitForTimeout(250)
    }
    timing.backfill = Date.now() - t1
    assert.equal(await progress.innerText(), `${ORDERS} / ${ORDERS} (100%)`)
    assert.ok(seen.size >= 3, `the page showed the progress moving: ${[...seen].join(" | ")}`)
    if (!shot) await page.screenshot({ path: SCREENSHOT, fullPage: true })
    const completed = seg.messages.filter((m) => m.event === "Order Completed")
    assert.equal(new Set(completed.map((m) => m.messageId)).size, ORDERS)

    // the widget on an order's page
    const orderId = completed[0].properties.order_id
    await page.goto(`${backend.url}/app/orders/${orderId}`)
    await page.waitForSelector('[data-testid="segment-order-widget"]', { timeout: 60000 })
    assert.match(await page.locator('[data-testid="segment-order-widget"]').innerText(), new RegExp(orderId))
    await context.close()
  })

  it("a user who is not in admin_editors sees the page read-only and cannot post", { timeout: 10 * 60 * 1000 }, async () => {
    const { context, page } = await logIn(VIEWER)
    await page.goto(`${backend.url}/app/segment`)
    await page.waitForSelector('[data-testid="segment-read-only"]', { timeout: 60000 })
    assert.ok(await page.locator('[data-testid="segment-send-test"]').isDisabled())
    assert.ok(await page.locator('[data-testid="segment-backfill-start"]').isDisabled())
    const status = await page.evaluate(async () => (await fetch("/admin/segment/test", { method: "POST", credentials: "include", headers: { "content-type": "application/json" }, body: "{}" })).status)
    assert.equal(status, 403)
    const overview = await page.evaluate(async () => (await fetch("/admin/segment", { credentials: "include" })).text())
    assert.ok(!overview.includes(WRITE_KEY))
    assert.match(overview, /"write_key":"set"/)
    assert.ok(!overview.includes("postgres://"), "the database URL Medusa adds to the options is not shown")
    await context.close()
  })

  it("no errors in the page", () => {
    assert.deepEqual(pageErrors, [])
  })
})

