"use strict"
// Backfill on Medusa 2.21.2: a seeded order history (e2e/v2/src/scripts/
// seed-history.js: orders made through Medusa's workflows, some shipped,
// cancelled, returned, dated over six months; cached as a template
// database) is replayed by the shipped `medusa exec` script into a
// Segment-compatible server. The expected messages are computed from the
// database's tables, not from the plugin's code. The first run is killed
// with SIGKILL half-way; the second finishes it; the third sends nothing.
//
//   BACKFILL_ORDERS=1000  size of the history (default 12; `npm run test:backfill` uses 1000)

const { describe, it, before, after } = require("node:test")
const assert = require("node:assert/strict")

const be = require("../../e2e/backend")
const v2 = require("../../e2e/v2/backend")
const { startSegmentServer } = require("../support/segment-server")

const ORDERS = Number(process.env.BACKFILL_ORDERS || 12)
const PAGE = ORDERS >= 500 ? 50 : 10
// slow enough to be killed half-way: ~10 s for the whole history
const RATE = Math.max(5, Math.round(ORDERS / 10))
const WRITE_KEY = "backfillWriteKey0123456789abcdefXYZ"
const SCRIPT = "./node_modules/medusa-plugin-segment-rs/.medusa/server/src/scripts/segment-backfill.js"
const sleep = (ms) => new Promise((r) => setTimeout(r, ms))

/** The messages a backfill must send, from the database: messageId -> { type, event, timestamp }. */
function expectedFromDatabase(db) {
  const rows = (sql) =>
    be
      .psql(sql, db)
      .split("\n")
      .filter(Boolean)
      .map((l) => l.split("|"))
  const ms = (t) => new Date(t).getTime()
  const out = new Map()
  const ts = `to_char(%s AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')`
  for (const [id, customer, created, canceled] of rows(
    `SELECT id, coalesce(customer_id, ''), ${ts.replace("%s", "created_at")}, coalesce(${ts.replace("%s", "canceled_at")}, '') FROM "order" WHERE deleted_at IS NULL AND is_draft_order = false`
  )) {
    if (customer) out.set(`medusa-identify-${id}`, { type: "identify", userId: customer })
    out.set(`medusa-order.placed-${id}`, { type: "track", event: "Order Completed", at: ms(created), order: id })
    if (canceled) out.set(`medusa-order.canceled-${id}`, { type: "track", event: "Order Cancelled", at: ms(canceled), order: id })
  }
  for (const [fid, order, shipped] of rows(
    `SELECT f.id, l.order_id, ${ts.replace("%s", "f.shipped_at")} FROM fulfillment f JOIN order_fulfillment l ON l.fulfillment_id = f.id AND l.deleted_at IS NULL WHERE f.shipped_at IS NOT NULL AND f.deleted_at IS NULL`
  )) {
    out.set(`medusa-shipment.created-${fid}`, { type: "track", event: "Order Shipped", at: ms(shipped), order })
  }
  for (const [rid, order, received] of rows(`SELECT id, order_id, ${ts.replace("%s", "received_at")} FROM "return" WHERE received_at IS NOT NULL AND deleted_at IS NULL`)) {
    out.set(`medusa-order.return_received-${rid}`, { type: "track", event: "Order Refunded", at: ms(received), order })
  }
  return out
}

describe(`backfill of ${ORDERS} past orders on Medusa 2.21.2 (medusa exec, kill -9, rerun)`, { timeout: 60 * 60 * 1000 }, () => {
  let seg
  let backend
  let expected
  const timing = {}

  before(
    async () => {
      const t0 = Date.now()
      const tarball = await be.packPlugin()
      await v2.prepareBackend({ tarball })
      timing.prepare = Date.now() - t0
      const t1 = Date.now()
      await v2.historyDatabase(ORDERS)
      timing.history = Date.now() - t1
      seg = await startSegmentServer({ port: 0 })
      const t2 = Date.now()
      backend = await v2.startBackend({
        mode: "plugin",
        eventBus: "redis",
        history: ORDERS,
        migrate: true,
        segmentOptions: { write_key: WRITE_KEY, host: seg.url, flush_at: 100, flush_interval: 200, backfill_page_size: PAGE },
      })
      timing.start = Date.now() - t2
      expected = expectedFromDatabase(backend.dbName)
    },
    { timeout: 60 * 60 * 1000 }
  )

  after(async () => {
    if (backend && !backend.exited) await backend.stop()
    if (seg) await seg.close()
    process.stderr.write(`[backfill] timings (ms): ${JSON.stringify(timing)}\n`)
  })

  const progress = () => {
    const r = be.psql(`SELECT status, done, total FROM segment_backfill LIMIT 1`, backend.dbName)
    if (!r) return null
    const [status, done, total] = r.split("|")
    return { status, done: Number(done), total: Number(total) }
  }

  it("has a history with every kind of order", () => {
    const events = [...expected.values()].map((m) => m.event || m.type)
    for (const e of ["identify", "Order Completed", "Order Shipped", "Order Cancelled", "Order Refunded"]) {
      assert.ok(events.includes(e), `the seeded history has no ${e}`)
    }
    assert.equal(events.filter((e) => e === "Order Completed").length, ORDERS)
    const months = new Set([...expected.values()].filter((m) => m.event === "Order Completed").map((m) => new Date(m.at).toISOString().slice(0, 7)))
    assert.ok(months.size >= 5, `orders over ${months.size} months`)
  })

  // live tracking of a few of these orders first (the live subscribers, through Medusa's event bus)
  let live = []
  it("live tracking of some orders before the backfill", { timeout: 5 * 60 * 1000 }, async () => {
    const login = await fetch(`${backend.url}/auth/user/emailpass`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ email: "admin@e2e.test", password: "e2e-password" }),
    }).then((r) => r.json())
    const orders = [...expected.values()].filter((m) => m.event === "Order Completed").slice(0, 2).map((m) => m.order)
    const shipped = [...expected.keys()].filter((k) => k.startsWith("medusa-shipment.created-")).slice(0, 1).map((k) => k.slice("medusa-shipment.created-".length))
    const emit = (event, ids) =>
      fetch(`${backend.url}/admin/bench/emit`, {
        method: "POST",
        headers: { "content-type": "application/json", authorization: `Bearer ${login.token}` },
        body: JSON.stringify({ event, ids }),
      }).then((r) => assert.equal(r.status, 200))
    await emit("order.placed", orders)
    await emit("shipment.created", shipped)
    await seg.waitForMessages(orders.length * 2 + shipped.length, 120000)
    live = seg.messages.slice()
    for (const m of live) assert.ok(expected.has(m.messageId), `live ${m.messageId} is one the backfill will send`)
  })

  it("dry run: counts only, sends nothing", { timeout: 10 * 60 * 1000 }, async () => {
    const { done } = backend.exec(SCRIPT, ["dry-run"])
    const { code } = await done
    assert.equal(code, 0, backend.execLog().slice(-3000))
    const line = backend.execLog().split("\n").find((l) => l.includes("backfill dry run:"))
    assert.ok(line, backend.execLog().slice(-3000))
    const result = JSON.parse(line.slice(line.indexOf("{")))
    assert.equal(result.orders, ORDERS)
    const count = (type) => [...expected.keys()].filter((k) => k.startsWith(`medusa-${type}-`)).length
    assert.deepEqual(result.messages_by_medusa_event, {
      identify: count("identify"),
      "order.placed": count("order.placed"),
      "shipment.created": count("shipment.created"),
      "order.canceled": count("order.canceled"),
      "order.return_received": count("order.return_received"),
    })
    await sleep(500)
    assert.equal(seg.messages.length, live.length)
    assert.equal(progress(), null, "a dry run saves no cursor")
  })

  it("killed with SIGKILL half-way, then rerun: every expected message arrives, with its original timestamp", { timeout: 30 * 60 * 1000 }, async () => {
    const t0 = Date.now()
    const first = backend.exec(SCRIPT, [`orders-per-second=${RATE}`])
    let p
    for (;;) {
      p = progress()
      if (p && p.done >= ORDERS / 2) break
      const exited = await Promise.race([first.done, sleep(100).then(() => null)])
      assert.equal(exited, null, `the first run ended before it was killed:\n${backend.execLog().slice(-3000)}`)
    }
    first.child.kill("SIGKILL")
    await first.done
    timing.firstRun = Date.now() - t0
    p = progress()
    assert.equal(p.status, "running", "the killed run's row says it was running")
    assert.ok(p.done < ORDERS, `killed after ${p.done} of ${ORDERS}`)
    // (how many arrived before the kill depends on the machine's speed: a page is sent before its cursor is saved)
    const beforeResume = seg.uniqueMessageIds().size
    assert.ok(beforeResume > 0 && beforeResume <= expected.size, `${beforeResume} of ${expected.size} before the kill`)

    const t1 = Date.now()
    const second = backend.exec(SCRIPT, [])
    const { code } = await second.done
    timing.resume = Date.now() - t1
    assert.equal(code, 0, backend.execLog().slice(-3000))
    assert.match(backend.execLog(), /resuming after/)
    assert.deepEqual(progress(), { status: "done", done: ORDERS, total: ORDERS })
    assert.match(backend.execLog(), /orders\/s, ETA/)

    // exactly the expected messages, each messageId at least once
    const got = new Map()
    for (const m of seg.messages) got.set(m.messageId, [...(got.get(m.messageId) || []), m])
    const missing = [...expected.keys()].filter((id) => !got.has(id))
    const unexpected = [...got.keys()].filter((id) => !expected.has(id))
    assert.deepEqual(missing, [], "missing messages")
    assert.deepEqual(unexpected, [], "unexpected messages")
    // the kill can re-send what the interrupted page had sent (same messageIds, so Segment keeps one)
    const resent = seg.messages.length - live.length - got.size
    assert.ok(resent <= PAGE * 4, `${resent} messages sent twice (at most one page's worth)`)
    for (const [id, want] of expected) {
      const m = got.get(id)[0]
      assert.equal(m.type, want.type, id)
      if (want.type === "track") {
        assert.equal(m.event, want.event, id)
        assert.equal(new Date(m.timestamp).getTime(), want.at, `${id}: the original timestamp`)
        assert.equal(m.properties.order_id, want.order, id)
      } else {
        assert.equal(m.userId, want.userId, id)
      }
    }
    // what live tracking sent, the backfill sent again identically: same messageId, so Segment keeps one
    // (an identify carries no timestamp of its own: the client stamps it when it is sent)
    const pick = (m) => ({ type: m.type, event: m.event, userId: m.userId, anonymousId: m.anonymousId, timestamp: m.type === "track" ? m.timestamp : "", properties: m.properties, traits: m.traits })
    for (const l of live) {
      const copies = got.get(l.messageId)
      assert.ok(copies.length >= 2, `${l.messageId} was sent live and by the backfill`)
      for (const c of copies.slice(1)) assert.deepEqual(pick(c), pick(l), l.messageId)
    }
    timing.messages = seg.messages.length
    timing.resent = resent
  })

  it("a second run sends nothing new", { timeout: 10 * 60 * 1000 }, async () => {
    // New = a messageId not seen before. The killed run's spool file is adopted by the live server
    // process (spool_takeover_ms) and what it had not acknowledged is sent again with the same
    // messageIds (Segment keeps one): at-least-once, not new messages.
    const before = seg.uniqueMessageIds().size
    const { code } = await backend.exec(SCRIPT, []).done
    assert.equal(code, 0, backend.execLog().slice(-3000))
    await sleep(1000)
    assert.equal(seg.uniqueMessageIds().size, before)
    assert.equal(progress().status, "done")
  })

  it("the write key appears nowhere in the logs", () => {
    assert.ok(!backend.execLog().includes(WRITE_KEY))
    assert.ok(!backend.logs().includes(WRITE_KEY))
  })
})
