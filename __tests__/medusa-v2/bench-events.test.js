"use strict"

// bench/medusa-v2.js measures every event a Medusa 2.x subscriber of the
// package handles (issue 20: a per-event figure for every subscriber), and
// the events it re-emits are ones Medusa's event log in the e2e backend
// records (the bench counts them there). A subscriber added without a bench
// row fails here.

const test = require("node:test")
const assert = require("node:assert/strict")
const fs = require("node:fs")
const path = require("node:path")

const ROOT = path.join(__dirname, "..", "..")
const SUBSCRIBERS = path.join(ROOT, ".medusa", "server", "src", "subscribers")

function shippedEvents() {
  const out = new Set()
  for (const f of fs.readdirSync(SUBSCRIBERS).filter((x) => x.endsWith(".js"))) {
    const { config } = require(path.join(SUBSCRIBERS, f))
    for (const e of [].concat(config.event)) out.add(e)
  }
  return out
}

test("the Medusa 2.x bench has a row for every event the shipped subscribers handle, and the e2e backend logs each", () => {
  const shipped = shippedEvents()
  assert.ok(shipped.has("order.placed") && shipped.has("cart.updated"), `read the subscribers' configs: ${[...shipped].join(", ")}`)
  const { EVENTS } = require("../../bench/medusa-v2")
  const benched = new Set(EVENTS.map((e) => e.event))
  assert.deepEqual([...shipped].filter((e) => !benched.has(e)), [], "events no bench row measures")
  assert.deepEqual([...benched].filter((e) => !shipped.has(e)), [], "bench rows no subscriber handles")
  const logged = require(path.join(ROOT, "e2e", "v2", "src", "subscribers", "e2e-event-log.js")).config.event
  assert.deepEqual([...benched].filter((e) => !logged.includes(e)), [], "bench events the e2e backend's event log does not record")
})
