"use strict"

// The plugin module's migrations as SQL, for tests that run them on a real
// PostgreSQL with knex standing in for Medusa's __pg_connection__.

const fs = require("node:fs")
const path = require("node:path")
const Module = require("node:module")

const DIR = path.join(__dirname, "..", "..", ".medusa", "server", "src", "modules", "segment", "migrations")

/** The `up` SQL of the migration file `name`, read through a stand-in for MikroORM's Migration base class. */
function migrationSql(name) {
  const file = path.join(DIR, name)
  class Migration {
    constructor() {
      this.sql = []
    }
    addSql(s) {
      this.sql.push(s)
    }
  }
  const m = new Module(file, module)
  m.filename = file
  m.paths = Module._nodeModulePaths(DIR)
  const realRequire = m.require.bind(m)
  m.require = (id) => (/mikro-orm\/migrations$|\/lib\/v2\/migration$/.test(id) ? { Migration } : realRequire(id))
  m._compile(fs.readFileSync(file, "utf8"), file)
  const Cls = Object.values(m.exports).find((v) => typeof v === "function")
  const up = new Cls()
  up.up()
  return up.sql
}

module.exports = { migrationSql }
