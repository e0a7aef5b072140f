"use strict"
// Coalescing under backpressure: batches that wait for their first request
// (client rate-limited, every slot busy) go merged into fewer, larger
// requests, up to Segment's 500 KB; each message arrives once and each
// callback is called once.

const test = require("node:test")
const assert = require("node:assert/strict")
const { startSegmentServer } = require("../support/segment-server")
const { makeService, sleep } = require("./helpers")

async function until(cond, what, ms = 5000) {
  const t0 = Date.now()
  while (!cond()) {
    if (Date.now() - t0 > ms) throw new Error(`timed out waiting for ${what}`)
    await sleep(5)
  }
}

test("batches queued during a 429's Retry-After go out merged in fewer requests, each message once", async (t) => {
  const srv = await startSegmentServer()
  t.after(() => srv.close())
  const { service } = makeService(srv, { flush_at: 5, max_in_flight: 2, flush_interval: 60000 })
  srv.failNext(1, { status: 429, retryAfter: 1 })
  const results = new Map()
  const send = (i) =>
    service.track({ userId: "u", event: "E", properties: { i } }, (err) => {
      assert.ok(!results.has(i), `callback of ${i} called twice`)
      results.set(i, err)
    })
  for (let i = 0; i < 5; i++) send(i)
  await until(() => srv.batches.length === 1 && srv.batches[0].status === 429, "the 429")
  const limitedAt = Date.now()
  // 40 batches of 5 queue up while the client waits out the rate limit.
  for (let i = 5; i < 205; i++) send(i)
  const res = await service.flush()

  assert.equal(res.delivered, 205)
  assert.equal(res.batches, 41, "each batch counted once")
  assert.deepEqual([res.failed, res.queued, res.queued_bytes], [0, 0, 0])
  assert.equal(results.size, 205)
  assert.ok([...results.values()].every((e) => e === null))
  // Every message arrived exactly once (all requests after the 429 succeeded).
  const got = srv.messages.map((m) => m.properties.i).sort((a, b) => a - b)
  assert.deepEqual(got, [...Array(205).keys()])
  const after = srv.batches.slice(1)
  assert.ok(after.every((b) => b.at - limitedAt >= 900), "nothing sent during the rate limit")
  // 41 batches (the limited one included) in at most one request per slot.
  assert.ok(after.length <= 2, `${after.length} requests after the rate limit`)
  assert.ok(srv.maxConcurrent() <= 2, `${srv.maxConcurrent()} requests at once`)
})

test("merged requests stay within Segment's 500 KB, in order, never over max_in_flight at once", async (t) => {
  const srv = await startSegmentServer()
  t.after(() => srv.close())
  const { service } = makeService(srv, { flush_at: 2, max_in_flight: 2, flush_interval: 60000 })
  srv.failNext(1, { status: 429, retryAfter: 0.5 })
  const blob = "x".repeat(20 * 1024)
  for (const i of [-2, -1]) service.track({ userId: "u", event: "E", properties: { i } })
  await until(() => srv.batches.length === 1, "the 429")
  // 60 messages of ~20 KB: 1.2 MB waiting, so at least 3 requests.
  for (let i = 0; i < 60; i++) service.track({ userId: "u", event: "E", properties: { i, blob } })
  const res = await service.flush()
  assert.equal(res.delivered, 62)
  assert.equal(srv.uniqueMessageIds().size, 62)
  assert.equal(srv.messages.length, 62, "no message sent twice")
  const after = srv.batches.slice(1)
  assert.ok(after.length >= 3 && after.length < 30, `${after.length} requests for 31 batches`)
  for (const b of after) {
    const size = Buffer.byteLength(JSON.stringify(b.body))
    assert.ok(size <= 500 * 1024, `request of ${size} bytes`)
    const is = b.body.batch.map((m) => m.properties.i)
    assert.ok(is.every((v, k) => k === 0 || v > is[k - 1]), `in order within a request: ${is}`)
  }
  assert.ok(srv.maxConcurrent() <= 2, `${srv.maxConcurrent()} requests at once`)
})

test("while the server answers 2xx, batches waiting for a slot are not merged (flush_at-sized requests)", async (t) => {
  const srv = await startSegmentServer()
  t.after(() => srv.close())
  const { service } = makeService(srv, { flush_at: 2, max_in_flight: 1, flush_interval: 60000 })
  for (let i = 0; i < 40; i++) service.track({ userId: "u", event: "E", properties: { i } })
  const res = await service.flush()
  assert.equal(res.delivered, 40)
  assert.deepEqual(srv.batches.map((b) => b.body.batch.length), Array(20).fill(2))
  // After a retryable failure the backlog behind it goes merged.
  srv.failNext(1, { status: 503 })
  for (let i = 40; i < 80; i++) service.track({ userId: "u", event: "E", properties: { i } })
  const res2 = await service.flush()
  assert.equal(res2.delivered, 80)
  assert.equal(srv.uniqueMessageIds().size, 80)
  const after = srv.batches.slice(20)
  assert.ok(after.length < 10, `${after.length} requests for 20 batches after a 503`)
})
