"use strict"
// Failures and recovery: 500/503/429 with and without Retry-After, reset
// connections, outages; 400 is final; messageIds survive retries.

const test = require("node:test")
const assert = require("node:assert/strict")
const { startSegmentServer } = require("../support/segment-server")
const { makeService, track } = require("./helpers")

/** Every attempt of a message carries the same messageId. */
function assertStableIds(srv) {
  const attempts = new Map()
  for (const b of srv.batches) {
    if (!b.body) continue // reset: body not recorded
    for (const m of b.body.batch) {
      const key = `${m.userId}/${m.properties && m.properties.i}`
      const seen = attempts.get(key) || new Set()
      seen.add(m.messageId)
      attempts.set(key, seen)
    }
  }
  for (const [key, ids] of attempts) assert.equal(ids.size, 1, `${key} sent with ${ids.size} messageIds`)
}

for (const [name, fault] of [
  ["500", { status: 500 }],
  ["503", { status: 503 }],
  ["429", { status: 429 }],
  ["408", { status: 408 }],
  ["reset connections", { reset: true }],
]) {
  test(`${name} without Retry-After: retried with backoff, every message delivered`, async (t) => {
    const srv = await startSegmentServer()
    t.after(() => srv.close())
    const { service, logger } = makeService(srv, { flush_at: 10 })
    srv.failNext(3, fault)
    for (let i = 0; i < 50; i++) track(service, i)
    const res = await service.flush()
    assert.equal(srv.uniqueMessageIds().size, 50)
    assert.equal(res.delivered, 50)
    assert.equal(res.failed, 0)
    assert.equal(res.retried, 3)
    assert.equal(res.requests, 8)
    assertStableIds(srv)
    assert.ok(logger.lines.some((l) => l.level === "warn" && /retry/.test(l.msg)))
  })
}

for (const status of [503, 429]) {
  test(`${status} with Retry-After: the wait is honoured`, async (t) => {
    const srv = await startSegmentServer()
    t.after(() => srv.close())
    const { service } = makeService(srv, { flush_at: 5 })
    srv.failNext(1, { status, retryAfter: 1 })
    const t0 = Date.now()
    for (let i = 0; i < 5; i++) track(service, i)
    const res = await service.flush()
    const took = Date.now() - t0
    assert.ok(took >= 950, `retried after ${took} ms, Retry-After was 1 s`)
    assert.equal(res.delivered, 5)
    assert.equal(res.retried, 1)
    assertStableIds(srv)
  })
}

test("an outage of every request, then recovery: nothing lost", async (t) => {
  const srv = await startSegmentServer()
  t.after(() => srv.close())
  // Scaled-down backoff: retries every 20-200 ms, so allow more of them.
  const { service } = makeService(srv, { flush_at: 20, max_retry_delay: 100, max_retries: 100 })
  srv.failFor(1200, { status: 500 })
  const n = 2000
  for (let i = 0; i < n; i++) track(service, i)
  const res = await service.flush()
  assert.equal(srv.uniqueMessageIds().size, n)
  assert.equal(res.delivered, n)
  assert.equal(res.failed, 0)
  assert.ok(res.retried > 0)
  assertStableIds(srv)
})

test("400 is final: not retried, counted and logged, callbacks get the error", async (t) => {
  const srv = await startSegmentServer()
  t.after(() => srv.close())
  const { service, logger } = makeService(srv, { flush_at: 4 })
  srv.failNext(1, { status: 400 })
  const errors = []
  for (let i = 0; i < 8; i++) service.track({ userId: "u", event: "E", properties: { i } }, (err) => errors.push(err))
  const res = await service.flush()
  assert.equal(res.requests, 2)
  assert.equal(res.retried, 0)
  assert.equal(res.failed, 4)
  assert.deepEqual(res.failed_reasons, { http_400: 4 })
  assert.equal(res.delivered, 4)
  assert.equal(srv.uniqueMessageIds().size, 4)
  assert.equal(errors.length, 8)
  assert.equal(errors.filter((e) => e instanceof Error && /HTTP 400/.test(e.message)).length, 4)
  assert.equal(errors.filter((e) => e === null).length, 4)
  assert.ok(logger.lines.some((l) => l.level === "error" && /http_400/.test(l.msg)))
})

test("501 is final; retries stop at max_retries and are counted as retries_exhausted", async (t) => {
  const srv = await startSegmentServer()
  t.after(() => srv.close())
  const { service } = makeService(srv, { flush_at: 1, max_retries: 2, max_in_flight: 1 })
  srv.failNext(1, { status: 501 })
  srv.failNext(3, { status: 502 })
  track(service, 0)
  track(service, 1)
  track(service, 2)
  const res = await service.flush()
  assert.deepEqual(res.failed_reasons, { http_501: 1, retries_exhausted: 1 })
  assert.equal(res.delivered, 1)
  assert.equal(res.requests, 5)
  const s = service.stats()
  const dropped = Object.values(s.dropped).reduce((a, b) => a + b, 0)
  assert.equal(s.accepted, s.delivered + s.failed + dropped + s.queued)
})

test("max_retry_time bounds how long a batch is retried", async (t) => {
  const srv = await startSegmentServer()
  t.after(() => srv.close())
  const { service } = makeService(srv, {
    flush_at: 1,
    max_retries: 1000,
    min_retry_delay: 50,
    max_retry_delay: 50,
    max_retry_time: 400,
  })
  srv.failFor(5000, { status: 503 })
  const t0 = Date.now()
  track(service, 0)
  const res = await service.flush()
  const took = Date.now() - t0
  assert.ok(took < 1500, `gave up after ${took} ms`)
  assert.deepEqual(res.failed_reasons, { retries_exhausted: 1 })
})

test("a request that hangs past `timeout` is retried, and the batch delivered", async (t) => {
  const http = require("node:http")
  let requests = 0
  const ids = []
  const server = http.createServer((req, res) => {
    const chunks = []
    req.on("data", (c) => chunks.push(c))
    req.on("end", () => {
      requests++
      if (requests === 1) return // never answer the first one
      for (const m of JSON.parse(Buffer.concat(chunks)).batch) ids.push(m.messageId)
      res.end("{}")
    })
  })
  await new Promise((r) => server.listen(0, "127.0.0.1", r))
  t.after(() => {
    server.closeAllConnections()
    server.close()
  })
  const { service, logger } = makeService({ url: `http://127.0.0.1:${server.address().port}` }, { timeout: 200 })
  track(service, 0)
  track(service, 1)
  const res = await service.flush()
  assert.equal(res.delivered, 2)
  assert.equal(res.retried, 1)
  assert.equal(requests, 2)
  assert.equal(new Set(ids).size, 2)
  assert.ok(logger.lines.some((l) => /timed out after 200 ms/.test(l.msg)))
})
