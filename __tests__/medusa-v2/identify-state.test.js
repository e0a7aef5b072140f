"use strict"

// The identify state (lib/v2/segment-module.js) on a real PostgreSQL with the
// plugin's own migration: server and worker processes racing on a customer's
// first identify or on its customer.deleted never fail, and one of them wins.

const { describe, it, before, after } = require("node:test")
const assert = require("node:assert/strict")

const { withSegmentModule } = require("../../lib/v2/segment-module")
const be = require("../../e2e/backend")
const { migrationSql } = require("./migrations")

describe("segment_identify_state under concurrent first writes", () => {
  const DB = `segidentify_unit_${process.pid}`
  let knex
  let service
  before(async () => {
    await be.ensurePostgres()
    be.psql(`DROP DATABASE IF EXISTS "${DB}"`)
    be.psql(`CREATE DATABASE "${DB}"`)
    knex = require("knex")({ client: "pg", connection: `postgres://postgres@127.0.0.1:5432/${DB}`, pool: { min: 0, max: 12 } })
    for (const sql of migrationSql("Migration20261207030100-identify-state.js")) await knex.raw(sql)
    service = new (withSegmentModule(class {}))({ __pg_connection__: knex }, {})
  })
  after(async () => {
    if (knex) await knex.destroy()
    be.psql(`DROP DATABASE IF EXISTS "${DB}" WITH (FORCE)`)
  })

  it("eight claims of a new customer's identify at once: no error, exactly one sends", async () => {
    for (let round = 0; round < 40; round++) {
      const id = `cus_claim_${round}`
      const won = await Promise.all(Array.from({ length: 8 }, () => service.claimIdentify(id, "same-traits")))
      assert.equal(won.filter(Boolean).length, 1, `round ${round}: ${won}`)
    }
  })

  it("customer.deleted handled by several processes at once: no error, and no identify afterwards", async () => {
    for (let round = 0; round < 40; round++) {
      const id = `cus_deleted_${round}`
      await Promise.all(Array.from({ length: 8 }, () => service.stopIdentify(id)))
      assert.equal(await service.claimIdentify(id, "new-traits"), false)
    }
    const { rows } = await knex.raw("select count(*)::int as n from segment_identify_state where stopped")
    assert.equal(rows[0].n, 40)
  })
})
