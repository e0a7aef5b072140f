"use strict"
// Delivery against a real HTTP server on 127.0.0.1: batching by count, bytes
// and interval, the auth header, enrichment, gzip, callbacks and flush().

const test = require("node:test")
const assert = require("node:assert/strict")
const http = require("node:http")
const zlib = require("node:zlib")
const { startSegmentServer } = require("../support/segment-server")
const { makeService, track, sleep } = require("./helpers")

const KEY = "wk_test_SECRET_do_not_print"

test("batches split by count (flush_at) and every message is delivered", async (t) => {
  const srv = await startSegmentServer()
  t.after(() => srv.close())
  const { service } = makeService(srv, { flush_at: 7, flush_interval: 60000 })
  for (let i = 0; i < 30; i++) track(service, i)
  const res = await service.flush()
  // Up to max_in_flight requests run at once, so arrival order may vary.
  assert.deepEqual(
    srv.batches.map((b) => b.body.batch.length).sort((a, b) => a - b),
    [2, 7, 7, 7, 7]
  )
  for (const b of srv.batches) {
    const is = b.body.batch.map((m) => m.properties.i)
    assert.ok(is.every((v, k) => k === 0 || v === is[k - 1] + 1), "consecutive within a batch")
  }
  assert.equal(srv.uniqueMessageIds().size, 30)
  assert.equal(res.delivered, 30)
  assert.equal(res.timed_out, false)
  const is = srv.messages.map((m) => m.properties.i).sort((a, b) => a - b)
  assert.deepEqual(is, [...Array(30).keys()])
})

test("a timestamp arrives as Date#toISOString gives it, to the millisecond, whether a Date or epoch ms", async (t) => {
  const srv = await startSegmentServer()
  t.after(() => srv.close())
  const { service } = makeService(srv, { flush_at: 500 })
  // Every millisecond of one second: about a third of today's epochs would
  // round down by 1 ms through nanoseconds in f64.
  const base = Date.UTC(2026, 11, 7, 21, 0, 0)
  const sent = []
  for (let i = 0; i < 1000; i++) {
    const when = new Date(base + i)
    sent.push(when.toISOString())
    service.track({ userId: "u", event: "E", properties: { i }, timestamp: i % 2 ? when : when.getTime() })
  }
  // A Date whose toJSON is its own is encoded by it, as JSON.stringify would.
  const odd = new Date(base)
  odd.toJSON = () => "2020-02-02T02:02:02.002Z"
  service.track({ userId: "u", event: "E", properties: { i: 1000 }, timestamp: odd })
  sent.push("2020-02-02T02:02:02.002Z")
  await service.flush()
  const got = srv.messages.sort((a, b) => a.properties.i - b.properties.i).map((m) => m.timestamp)
  assert.deepEqual(got, sent)
})

test("text arrives as sent: ASCII, accents, CJK, emoji, line separators, a lone surrogate, long strings", async (t) => {
  const srv = await startSegmentServer()
  t.after(() => srv.close())
  const { service } = makeService(srv)
  const texts = [
    "plain ascii",
    "Crème brûlée, Ürün, Øre",
    "订单已完成 注文完了",
    "😀 party 🎉",
    "line\u2028separator\u2029and\nnewline\ttab\u0001",
    "cut " + "😀".slice(0, 1),
    "x".repeat(20000) + "é",
    "é".repeat(5000),
  ]
  texts.forEach((text, i) => service.track({ userId: "u", event: `E ${text.slice(0, 20)}`, properties: { i, text, [text.slice(0, 30)]: true } }))
  await service.flush()
  const got = srv.messages.sort((a, b) => a.properties.i - b.properties.i)
  assert.equal(got.length, texts.length)
  texts.forEach((text, i) => {
    // Half an emoji becomes U+FFFD (src/message.rs): Segment takes UTF-8 only.
    const sent = JSON.stringify({ event: `E ${text.slice(0, 20)}`, properties: { i, text, [text.slice(0, 30)]: true } })
    const want = JSON.parse(sent.replace(/\\ud83d/g, "\uFFFD"))
    assert.deepEqual({ event: got[i].event, properties: got[i].properties }, want, `text ${i}`)
  })
})

test("batches split by bytes under Segment's 500 KB request limit", async (t) => {
  const srv = await startSegmentServer()
  t.after(() => srv.close())
  const { service } = makeService(srv, { flush_at: 1000, flush_interval: 60000 })
  const blob = "x".repeat(30 * 1024 - 300)
  for (let i = 0; i < 40; i++) track(service, i, { properties: { i, blob } })
  await service.flush()
  assert.equal(srv.uniqueMessageIds().size, 40)
  assert.ok(srv.batches.length >= 3, `got ${srv.batches.length} batches`)
  for (const b of srv.batches) {
    const size = Buffer.byteLength(JSON.stringify(b.body))
    assert.ok(size <= 500 * 1024, `batch of ${size} bytes`)
  }
})

test("a partial batch is sent after flush_interval without flush()", async (t) => {
  const srv = await startSegmentServer()
  t.after(() => srv.close())
  const { service } = makeService(srv, { flush_at: 100, flush_interval: 150 })
  const t0 = Date.now()
  for (let i = 0; i < 3; i++) track(service, i)
  await sleep(60)
  assert.equal(srv.batches.length, 0, "not before the interval")
  await srv.waitForMessages(3, 3000)
  const waited = Date.now() - t0
  assert.ok(waited >= 140 && waited < 2000, `sent after ${waited} ms`)
  assert.equal(srv.batches.length, 1)
})

test("requests carry Basic auth, JSON body {batch, sentAt} and enriched messages", async (t) => {
  const srv = await startSegmentServer()
  t.after(() => srv.close())
  const { service } = makeService(srv)
  const when = new Date("2024-05-01T10:00:00.000Z")
  service.track({ userId: 42, event: "Order Completed", properties: { total: 10 }, timestamp: when })
  service.identify({ anonymousId: "anon-1", traits: { email: "a@example.com" }, messageId: "fixed-id" })
  service.page({ userId: "u", name: "Home" })
  service.screen({ userId: "u", name: "Main" })
  service.group({ userId: "u", groupId: 7, traits: { plan: "pro" } })
  service.alias({ userId: "u", previousId: "anon-1" })
  await service.flush()
  const req = srv.batches[0]
  assert.equal(req.headers.authorization, "Basic " + Buffer.from(`${KEY}:`).toString("base64"))
  assert.match(req.headers["content-type"], /^application\/json/)
  assert.match(req.body.sentAt, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/)
  const [tr, id, pg, sc, gr, al] = srv.messages
  assert.deepEqual(
    srv.messages.map((m) => m.type),
    ["track", "identify", "page", "screen", "group", "alias"]
  )
  assert.equal(tr.userId, "42")
  assert.equal(tr.timestamp, "2024-05-01T10:00:00.000Z")
  assert.match(tr.messageId, /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/)
  assert.deepEqual(tr.context.library, { name: "medusa-plugin-segment-rs", version: require("../../package.json").version })
  assert.equal(id.messageId, "fixed-id")
  assert.equal(id.traits.email, "a@example.com")
  assert.ok(Math.abs(Date.parse(pg.timestamp) - Date.now()) < 60000)
  assert.equal(sc.name, "Main")
  assert.equal(gr.groupId, "7")
  assert.equal(al.previousId, "anon-1")
})

test("gzip: bodies are compressed with Content-Encoding: gzip", async (t) => {
  const srv = await startSegmentServer()
  t.after(() => srv.close())
  const { service } = makeService(srv, { gzip: true })
  for (let i = 0; i < 20; i++) track(service, i, { properties: { i, text: "lorem ipsum ".repeat(100) } })
  const res = await service.flush()
  assert.equal(srv.batches[0].headers["content-encoding"], "gzip")
  assert.equal(srv.uniqueMessageIds().size, 20)
  const plain = Buffer.byteLength(JSON.stringify(srv.batches[0].body))
  assert.ok(res.bytes_sent < plain / 4, `${res.bytes_sent} bytes sent for ${plain} of JSON`)
  assert.ok(zlib.gzipSync) // the server gunzipped it: the body parsed
})

test("callbacks are called once each, after delivery; flush() resolves after delivery", async (t) => {
  const srv = await startSegmentServer()
  t.after(() => srv.close())
  const { service } = makeService(srv, { flush_at: 5 })
  const called = []
  for (let i = 0; i < 12; i++) {
    service.track({ userId: "u", event: "E", properties: { i } }, (err) => {
      assert.equal(err, null)
      // The server had the message when the callback ran.
      assert.ok(srv.messages.some((m) => m.properties.i === i))
      called.push(i)
    })
  }
  srv.failNext(1, { status: 503 }) // the flush has to wait for a retry
  const res = await service.flush()
  assert.equal(srv.uniqueMessageIds().size, 12, "flush resolved before delivery")
  assert.equal(called.length, 12, "callbacks ran before flush resolved")
  assert.deepEqual([...called].sort((a, b) => a - b), [...Array(12).keys()])
  assert.equal(res.delivered, 12)
  assert.equal(res.queued, 0)
})

test("bounded requests in flight, connections reused", async (t) => {
  // A bare server that counts TCP connections and concurrent requests.
  let connections = 0
  let active = 0
  let maxActive = 0
  let received = 0
  const server = http.createServer((req, res) => {
    active++
    maxActive = Math.max(maxActive, active)
    const chunks = []
    req.on("data", (c) => chunks.push(c))
    req.on("end", () => {
      received += JSON.parse(Buffer.concat(chunks)).batch.length
      setTimeout(() => {
        active--
        res.end("{}")
      }, 20)
    })
  })
  server.on("connection", () => connections++)
  await new Promise((r) => server.listen(0, "127.0.0.1", r))
  t.after(() => {
    server.closeAllConnections()
    server.close()
  })
  const srv = { url: `http://127.0.0.1:${server.address().port}` }
  const { service } = makeService(srv, { flush_at: 1, max_in_flight: 2 })
  for (let i = 0; i < 40; i++) track(service, i)
  const res = await service.flush()
  assert.equal(received, 40)
  assert.equal(res.delivered, 40)
  assert.equal(res.batches, 40)
  assert.equal(res.in_flight, 0)
  assert.ok(maxActive <= 2, `max ${maxActive} requests at once`)
  assert.ok(connections <= 2, `${connections} connections for 40 requests`)
})

for (const status of [301, 302, 303, 307, 308]) {
  test(`a ${status} redirect is not followed: the batch fails as http_${status}, and the log names \`host\``, async (t) => {
    const srv = await startSegmentServer()
    t.after(() => srv.close())
    const { service, logger } = makeService(srv, { flush_at: 5 })
    srv.failNext(1, { status, redirectTo: "/__ok" })
    const errors = []
    for (let i = 0; i < 5; i++) service.track({ userId: "u", event: "E", properties: { i } }, (err) => errors.push(err))
    const res = await service.flush()
    assert.equal(srv.redirected.length, 0, "the redirect was followed")
    assert.equal(res.delivered, 0)
    assert.deepEqual(res.failed_reasons, { [`http_${status}`]: 5 })
    assert.equal(res.retried, 0)
    assert.equal(errors.length, 5)
    assert.ok(errors.every((e) => e instanceof Error && /redirect/.test(e.message) && /`host`/.test(e.message)), String(errors[0]))
    const lines = logger.lines.filter((l) => l.level === "error" && /`host`/.test(l.msg))
    assert.equal(lines.length, 1)
    assert.ok(!lines[0].msg.includes(KEY))
  })
}

test("an endless response body is read only up to a limit: memory stays flat, the batch is delivered", async (t) => {
  const srv = await startSegmentServer()
  t.after(() => srv.close())
  const { service } = makeService(srv, { flush_at: 5, timeout: 3000 })
  srv.failNext(1, { status: 200, endless: true })
  srv.failNext(1, { status: 503, endless: true })
  const rss0 = process.memoryUsage.rss()
  let peak = rss0
  const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage.rss())), 5)
  for (let i = 0; i < 10; i++) track(service, i)
  const res = await service.flush()
  clearInterval(sampler)
  assert.equal(res.delivered, 10)
  assert.equal(res.failed, 0)
  assert.equal(res.retried, 1)
  const grew = (peak - rss0) / 1048576
  assert.ok(grew < 64, `RSS grew ${grew.toFixed(0)} MB while the server streamed endless bodies`)
})

test("max_queue_bytes bounds memory for tiny messages too (27-byte events, Segment not answering)", async () => {
  // In a child process, so that its RSS is the client's alone.
  const { execFileSync } = require("node:child_process")
  const tool = require("node:path").join(__dirname, "tools", "queue-memory.js")
  const maxQueueBytes = 16 * 1024 * 1024
  const out = execFileSync(process.execPath, ["--expose-gc", tool, "1500000", String(maxQueueBytes)], { encoding: "utf8" })
  const r = JSON.parse(out.trim().split("\n").pop())
  assert.ok(r.dropped.queue_full > 0, "the queue filled up")
  assert.ok(r.queued_bytes <= maxQueueBytes)
  // The bound covers what a queued message really takes, not only its JSON.
  assert.ok(
    r.peak_rss_growth_mb * 1048576 < 3 * maxQueueBytes,
    `RSS grew ${r.peak_rss_growth_mb} MB for max_queue_bytes ${maxQueueBytes / 1048576} MB (${r.queued} messages queued)`
  )
})
