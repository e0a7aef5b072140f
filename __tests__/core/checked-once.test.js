"use strict"
// What track() checks is what it sends (one snapshot of the message), options
// that only look valid are refused by name, and a standalone process.exit()
// that loses queued messages says so.

const test = require("node:test")
const assert = require("node:assert/strict")
const { spawnSync } = require("node:child_process")
const path = require("node:path")
const { SegmentService } = require("../..")
const { startSegmentServer } = require("../support/segment-server")
const { makeService } = require("./helpers")

test("track() validates and encodes the same snapshot: a toJSON or a getter cannot slip a bad message past it", async (t) => {
  const srv = await startSegmentServer()
  t.after(() => srv.close())
  const { service } = makeService(srv)
  // a toJSON that removes userId: refused at once, naming the field
  const sly = { userId: "u", event: "E", toJSON: () => ({ event: "E" }) }
  assert.throws(() => service.track(sly), /needs a "userId" or an "anonymousId"/)
  // an event getter that changes between reads: the value checked is the value sent
  let reads = 0
  const shifty = {
    userId: "u",
    get event() {
      return reads++ === 0 ? "Checked" : ""
    },
  }
  service.track(shifty)
  // a getter that throws: a clear error, not a crash later
  assert.throws(() => service.track({ userId: "u", get event() { throw new Error("boom") } }), /cannot be read \(boom\)/)
  const done = await service.flush()
  assert.deepEqual(done.dropped, {}, "nothing accepted by track() is dropped later")
  assert.equal(done.delivered, 1)
  assert.equal(srv.messages.at(-1).event, "Checked")
  await service.shutdown()
})

test("write_key NaN and a host ending in NUL are refused, naming the option", () => {
  assert.throws(() => new SegmentService({}, { write_key: NaN }), /write_key.*must be a string \(got NaN\)/)
  for (const host of ["http://127.0.0.1:9\0", "http://127.0.0.1:9/\u0007"]) {
    assert.throws(() => new SegmentService({}, { write_key: "k", host }), /host.*control character/)
  }
})

test("standalone (no spool), process.exit() with messages queued logs that they are lost and how to keep them", () => {
  const script = `
    const { SegmentService } = require(${JSON.stringify(path.join(__dirname, "..", ".."))})
    const s = new SegmentService({}, { write_key: "k", host: "http://127.0.0.1:9", flush_interval: 60000 })
    for (let i = 0; i < 5; i++) s.track({ userId: "u", event: "Lost" })
    process.exit(0)
  `
  const res = spawnSync(process.execPath, ["-e", script], { encoding: "utf8", timeout: 30000 })
  assert.equal(res.status, 0, res.stderr)
  assert.match(res.stderr, /exiting with 5 messages not yet delivered and no spool/)
  assert.match(res.stderr, /Fix: await service\.shutdown\(\)/)
})
