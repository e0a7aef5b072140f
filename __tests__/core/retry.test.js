"use strict"
// Failures and recovery: 500/503/429/408/410/460 with and without
// Retry-After, reset connections, outages; 400 is final; messageIds survive
// retries; a rate limit pauses the whole client; retries carry X-Retry-Count.

const test = require("node:test")
const assert = require("node:assert/strict")
const { startSegmentServer } = require("../support/segment-server")
const { makeService, track, sleep } = require("./helpers")

async function until(cond, what, ms = 5000) {
  const t0 = Date.now()
  while (!cond()) {
    if (Date.now() - t0 > ms) throw new Error(`timed out waiting for ${what}`)
    await sleep(5)
  }
}

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
  ["410", { status: 410 }],
  ["460", { status: 460 }],
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
  await service.flush()
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

for (const [status, value] of [
  [503, "1e30"],
  [503, "99999999999999999999"],
  [429, "1e30"],
  [429, "Fri, 31 Dec 9999 23:59:59 GMT"],
]) {
  test(`a huge Retry-After (${status}, "${value}") never hangs flush(): the batch settles`, { timeout: 30000 }, async (t) => {
    const srv = await startSegmentServer()
    t.after(() => srv.close())
    // The wait asked for is clamped (to 60 s here) and then beyond the 3 s
    // budget: given up at once, counted, the callbacks told.
    const { service, logger } = makeService(srv, { flush_at: 5, max_retry_time: 3000 })
    srv.failNext(1, { status, retryAfter: value })
    const errors = []
    for (let i = 0; i < 5; i++) service.track({ userId: "u", event: "E", properties: { i } }, (err) => errors.push(err))
    const res = await service.flush()
    assert.equal(res.timed_out, false)
    assert.deepEqual(res.failed_reasons, { retries_exhausted: 5 })
    assert.equal(res.queued, 0)
    assert.equal(errors.length, 5)
    assert.ok(errors.every((e) => e instanceof Error && new RegExp(`HTTP ${status}`).test(e.message)))
    assert.ok(logger.lines.some((l) => l.level === "error" && /retries_exhausted/.test(l.msg)))
  })
}

test("a 429 with Retry-After pauses every request of the client, not only its batch", async (t) => {
  const srv = await startSegmentServer()
  t.after(() => srv.close())
  const { service } = makeService(srv, { flush_at: 1, max_in_flight: 4 })
  srv.failNext(1, { status: 429, retryAfter: 1 })
  track(service, 0)
  await until(() => srv.batches.length === 1 && srv.batches[0].status === 429, "the 429")
  // the server records the 429 before the client has read it: wait until the client has (it counts the retry then)
  await until(() => service.stats().retried >= 1, "the client read the 429")
  const limitedAt = Date.now()
  for (let i = 1; i < 4; i++) track(service, i)
  const res = await service.flush()
  assert.equal(res.delivered, 4)
  assert.equal(srv.uniqueMessageIds().size, 4)
  // A rate limit is per write key: nothing was sent until it had passed.
  const early = srv.batches.slice(1).filter((b) => b.at - limitedAt < 900)
  assert.deepEqual(early.map((b) => b.body.batch[0].properties.i), [], "requests sent during the rate limit")
})

test("waiting out a 429's Retry-After does not use up the batch's retries", async (t) => {
  const srv = await startSegmentServer()
  t.after(() => srv.close())
  const { service } = makeService(srv, { flush_at: 5, max_retries: 1 })
  srv.failNext(3, { status: 429, retryAfter: 0.2 })
  for (let i = 0; i < 5; i++) track(service, i)
  const res = await service.flush()
  assert.deepEqual(res.failed_reasons, {})
  assert.equal(res.delivered, 5)
  assert.equal(res.requests, 4)
  assert.equal(res.retried, 3)
})

test("retries carry X-Retry-Count: 1, 2, … (the first attempt none)", async (t) => {
  const srv = await startSegmentServer()
  t.after(() => srv.close())
  const { service } = makeService(srv, { flush_at: 5 })
  srv.failNext(2, { status: 503 })
  srv.failNext(1, { reset: true })
  for (let i = 0; i < 5; i++) track(service, i)
  const res = await service.flush()
  assert.equal(res.delivered, 5)
  assert.deepEqual(
    srv.batches.map((b) => b.headers["x-retry-count"]),
    [undefined, "1", "2", "3"]
  )
})

test("a batch waiting out a backoff holds no request slot: later batches go meanwhile", async (t) => {
  const srv = await startSegmentServer()
  t.after(() => srv.close())
  const { service } = makeService(srv, { flush_at: 1, max_in_flight: 1, min_retry_delay: 1000, max_retry_delay: 1000 })
  srv.failNext(1, { status: 503 })
  track(service, 0)
  await until(() => srv.batches.length === 1, "the first request")
  for (let i = 1; i < 4; i++) track(service, i)
  const res = await service.flush()
  assert.equal(res.delivered, 4)
  // With one slot: 0 fails, 1-3 are sent during its backoff (those waiting
  // for the slot merged into one request), then 0 again.
  const order = srv.batches.map((b) => b.body.batch.map((m) => m.properties.i))
  const last = order.length - 1
  assert.deepEqual([order[0], order[last]], [[0], [0]], `order ${JSON.stringify(order)}`)
  assert.deepEqual(order.slice(1, last).flat().sort(), [1, 2, 3], `order ${JSON.stringify(order)}`)
})
