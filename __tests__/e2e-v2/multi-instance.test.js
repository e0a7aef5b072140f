"use strict"
// Medusa 2.21.2 as deployed on several instances: a server process and a
// worker process on Medusa's Redis event bus, the store's own Redis URL in
// projectConfig.redisUrl, so the plugin's default spool is the Redis spool
// (docs/multi-instance.md). The worker (which runs the subscribers) is killed
// with SIGKILL during a Segment outage right after an order; when Segment
// recovers, the server process delivers the order's events, with the
// messageIds the worker gave them.
//
// Redis db SPOOL_REDIS_DB (12) holds the spool; the run's keys are removed after.

const { describe, it, before, after } = require("node:test")
const assert = require("node:assert/strict")
const { spawnSync } = require("node:child_process")

const be = require("../../e2e/backend")
const v2 = require("../../e2e/v2/backend")
const { MedusaV2Api } = require("../../e2e/v2/scenario")
const { startSegmentServer } = require("../support/segment-server")

const WRITE_KEY = `e2eV2MultiKey${Date.now().toString(36)}0123456789ab`
const REDIS_DB = Number(process.env.SPOOL_REDIS_DB || 12)
const STORE_REDIS_URL = `redis://127.0.0.1:6379/${REDIS_DB}`
const TAKEOVER_MS = 3000

const redisCli = (...args) => spawnSync("redis-cli", ["-n", String(REDIS_DB), ...args], { encoding: "utf8" }).stdout

describe("Medusa 2.21.2, server + worker on the Redis event bus with the Redis spool: the worker killed during an outage", { timeout: 40 * 60 * 1000 }, () => {
  let seg
  let backend
  let api
  let keysBefore

  before(
    async () => {
      const tarball = await be.packPlugin()
      await v2.prepareBackend({ tarball })
      seg = await startSegmentServer({ port: 0 })
      keysBefore = new Set(redisCli("--scan", "--pattern", "segment:spool:*").split("\n").filter(Boolean))
      const options = {
        write_key: WRITE_KEY,
        host: seg.url,
        flush_at: 5,
        flush_interval: 250,
        spool_takeover_ms: TAKEOVER_MS,
        // the outage must not outlast the retries: a batch given up on is settled, not kept
        max_retries: 1000,
        max_retry_time: 600000,
      }
      backend = await v2.startBackend({ mode: "plugin", eventBus: "redis", workerModes: ["server", "worker"], segmentOptions: options, env: { E2E_PROJECT_REDIS_URL: STORE_REDIS_URL } })
      api = new MedusaV2Api(backend.url, backend.publishableKey)
    },
    { timeout: 30 * 60 * 1000 }
  )

  after(async () => {
    if (backend) await backend.stop()
    if (seg) await seg.close()
    const mine = redisCli("--scan", "--pattern", "segment:spool:*")
      .split("\n")
      .filter((k) => k && !keysBefore.has(k))
    if (mine.length) redisCli("del", ...mine)
  })

  it("the server process delivers the order's events the SIGKILLed worker had spooled", { timeout: 5 * 60 * 1000 }, async () => {
    const workerPid = backend.others[0].child.pid
    seg.failFor(10 * 60 * 1000, { status: 503 })
    const order = await api.placeOrder({ currency: "eur", email: "multi@e2e.test", items: [{ sku: "TSHIRT-BLACK-M", quantity: 1 }] })
    const isOfOrder = (m) => m.properties && m.properties.order_id === order.id
    // The worker ran the subscriber and tried to send Order Completed (refused: the outage).
    const tried = () => seg.batches.filter((b) => b.status === 503 && b.body).flatMap((b) => b.body.batch)
    const until = Date.now() + 60000
    while (!tried().some(isOfOrder)) {
      assert.ok(Date.now() < until, `the worker tried to send Order Completed; logs: ${backend.logDir}`)
      await be.sleep(50)
    }
    const placed = backend.events().find((e) => e.event === "order.placed" && e.data.id === order.id)
    assert.equal(placed && placed.pid, workerPid, "the worker process handled order.placed")
    await be.sleep(200) // past the spool's 100 ms
    backend.others[0].child.kill("SIGKILL")
    const killed = await backend.others[0].exitPromise
    assert.equal(killed.signal, "SIGKILL")
    const attempted = new Set(tried().map((m) => m.messageId))

    // The default spool is Redis (projectConfig.redisUrl): the dead worker's entries are there.
    const stream = redisCli("--scan", "--pattern", "segment:spool:*")
      .split("\n")
      .find((k) => k && !k.includes(":alive:") && !keysBefore.has(k))
    assert.ok(stream, "the spool's stream in the store's Redis")
    assert.match(redisCli("xpending", stream, "segment"), new RegExp(`-?${workerPid}-`), "the worker's pending entries")
    assert.equal(seg.messages.filter(isOfOrder).length, 0, "nothing delivered during the outage")

    seg.failFor(0, { status: 503 })
    const t0 = Date.now()
    const delivered = () => seg.messages.filter((m) => attempted.has(m.messageId))
    while (new Set(delivered().map((m) => m.messageId)).size < attempted.size) {
      assert.ok(Date.now() - t0 < 90000, `the server delivered the worker's ${attempted.size} messages (got ${delivered().length}); logs: ${backend.logDir}`)
      await be.sleep(100)
    }
    const tookMs = Date.now() - t0
    await be.sleep(1500) // a duplicate, if any, would arrive now
    const events = seg.messages.filter(isOfOrder).map((m) => m.event)
    assert.ok(events.includes("Order Completed"), `Order Completed delivered: ${events}`)
    const copies = delivered().length
    assert.match(backend.logs(), /replaying \d+ messages left by a process/, "the server took them over")
    assert.ok(!backend.logs().includes(WRITE_KEY), "the write key never appears in the backend's output")
    process.stderr.write(`[e2e-v2 multi-instance] the worker's ${attempted.size} messages delivered by the server ${tookMs} ms after Segment recovered; ${copies - attempted.size} duplicate copies\n`)
  })
})
