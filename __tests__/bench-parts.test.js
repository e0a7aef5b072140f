"use strict"
// The profile split (bench/profile-summary.js --by-part, used by
// bench/medusa-v2.js --cpu-prof) names the part of this package each file is:
// a file it does not know would show as "ours: other" and the split would
// not say where our time goes.
const test = require("node:test")
const assert = require("node:assert")
const fs = require("node:fs")
const path = require("node:path")
const { partOf } = require("../bench/profile-summary.js")

const root = path.join(__dirname, "..")
const jsFiles = (dir) =>
  fs.readdirSync(path.join(root, dir), { withFileTypes: true }).flatMap((d) => {
    const rel = path.join(dir, d.name)
    if (d.isDirectory()) return jsFiles(rel)
    return d.name.endsWith(".js") ? [rel] : []
  })

test("every file the package runs in Medusa is in a named part of the profile split", () => {
  const files = ["index.js", ...jsFiles("lib")]
  assert.ok(files.includes(path.join("lib", "v2", "sql-loader.js")), "lib/v2/sql-loader.js is found")
  const unnamed = files.filter((f) => {
    const url = `file:///app/node_modules/medusa-plugin-segment-rs/${f.split(path.sep).join("/")}`
    const part = partOf({ url, functionName: "f" })
    assert.ok(part.startsWith("ours: "), `${f} counted as ${part}`)
    return part === "ours: other"
  })
  // Files only the Admin API or the backfill run (not per event) may stay unnamed.
  const perEvent = unnamed.filter((f) => !/(admin-api|backfill|middlewares|funnel-middleware|migration|provider|exit-hooks)\.js$/.test(f))
  assert.deepStrictEqual(perEvent, [], "files run per event that the split counts as \"ours: other\"")
})

test("Medusa's files are Medusa's, also where a path holds the package's name", () => {
  const cache = "file:///root/.cache/medusa-plugin-segment-rs/medusa-v2-x/node_modules"
  assert.equal(partOf({ url: `${cache}/@medusajs/utils/dist/totals/cart/index.js`, functionName: "decorateCartTotals" }), "Medusa totals math (@medusajs/utils totals)")
  assert.equal(partOf({ url: `${cache}/knex/lib/dialects/postgres/index.js`, functionName: "f" }), "knex + pg driver")
  assert.equal(partOf({ url: `${cache}/medusa-plugin-segment-rs/node_modules/uuid/index.js`, functionName: "f" }), "other packages (uuid)")
  assert.equal(partOf({ url: `${cache}/medusa-plugin-segment-rs/lib/v2/sql-loader.js`, functionName: "f" }), "ours: SQL loader (the statements' JSON shaped into records)")
})
