"use strict"
// Medusa's spool default (lib/spool.js, docs/multi-instance.md): the store's
// Redis URL when it has one, else the disk spool; an explicit choice wins.

const test = require("node:test")
const assert = require("node:assert/strict")
const path = require("node:path")
const { withMedusaSpoolDefault, storeRedisUrl, medusaSpoolDir } = require("../../lib/spool")

const v1 = (url) => ({ configModule: { projectConfig: { redis_url: url } } })
const v2 = (url) => ({ configModule: { projectConfig: { redisUrl: url } } })

test("the store's Redis URL (1.x redis_url, 2.x redisUrl) becomes spool_url; without one, the disk spool", () => {
  assert.deepEqual(withMedusaSpoolDefault({ write_key: "k" }, v1("redis://r:6379/2")), { write_key: "k", spool_url: "redis://r:6379/2" })
  assert.deepEqual(withMedusaSpoolDefault({}, v2(" rediss://:pw@r:6380 ")), { spool_url: "rediss://:pw@r:6380" })
  assert.deepEqual(withMedusaSpoolDefault({}, {}), { spool_dir: medusaSpoolDir() })
  assert.deepEqual(withMedusaSpoolDefault({}, undefined), { spool_dir: path.join(process.cwd(), ".segment-spool") })
  // not a Redis URL (e.g. a sentinel or cluster object): the disk spool
  assert.equal(storeRedisUrl({ configModule: { projectConfig: { redisUrl: { host: "r" } } } }), null)
})

test("an explicit spool_dir or spool_url wins; spool_url false keeps the disk spool, spool_dir false no spool", () => {
  const store = v2("redis://store:6379")
  assert.deepEqual(withMedusaSpoolDefault({ spool_dir: "/var/spool/seg" }, store), { spool_dir: "/var/spool/seg" })
  assert.deepEqual(withMedusaSpoolDefault({ spool_url: "redis://other/1" }, store), { spool_url: "redis://other/1" })
  assert.deepEqual(withMedusaSpoolDefault({ spool_url: false }, store), { spool_url: false, spool_dir: medusaSpoolDir() })
  assert.deepEqual(withMedusaSpoolDefault({ spool_dir: false }, store), { spool_dir: false })
})

test("a v1 SegmentService built in a container with a Redis URL spools to Redis", async () => {
  const { spawnSync } = require("node:child_process")
  const keys = () => spawnSync("redis-cli", ["-n", "12", "--scan", "--pattern", "segment:spool:*"], { encoding: "utf8" }).stdout.split("\n").filter(Boolean)
  const before = new Set(keys())
  const SegmentService = require("../../services/segment").default
  const logger = { info() {}, warn() {}, error() {} }
  const s = new SegmentService({ logger, ...v1("redis://127.0.0.1:6379/12") }, { write_key: "wk_spool_default_test", host: "http://127.0.0.1:9" })
  assert.equal(s.stats().spool.redis, true)
  assert.equal(s.stats().spool.dir, null)
  await s.shutdown({ timeout: 0 })
  await new Promise((r) => setTimeout(r, 300)) // the spool's last round
  const mine = keys().filter((k) => !before.has(k))
  if (mine.length) spawnSync("redis-cli", ["-n", "12", "del", ...mine])
})
