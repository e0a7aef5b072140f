#!/usr/bin/env node
"use strict"
// Writes storefront/index.cjs from storefront/index.mjs (the source): the same
// code with CommonJS exports, so `require("medusa-plugin-segment-rs/storefront")`
// works too. `--check` exits 1 when the committed file is out of date (a test runs it).

const fs = require("node:fs")
const path = require("node:path")

const DIR = path.join(__dirname, "..", "storefront")

function cjsFrom(esm) {
  const names = []
  let body = esm.replace(/^export function (\w+)/gm, (_, name) => {
    names.push(name)
    return `function ${name}`
  })
  body = body.replace(/^export default (\w+)\n?/m, "")
  if (/^export /m.test(body)) throw new Error("storefront/index.mjs: only `export function` and `export default <name>` are supported")
  return (
    '"use strict"\n// Generated from index.mjs by scripts/build-storefront.js: edit index.mjs, then run `node scripts/build-storefront.js`.\n' +
    body.trimEnd() +
    `\n\nmodule.exports = { ${names.join(", ")} }\nmodule.exports.default = cartMetadata\n`
  )
}

const want = cjsFrom(fs.readFileSync(path.join(DIR, "index.mjs"), "utf8"))
const file = path.join(DIR, "index.cjs")
if (process.argv.includes("--check")) {
  const have = fs.existsSync(file) ? fs.readFileSync(file, "utf8") : ""
  if (have !== want) {
    console.error("storefront/index.cjs is out of date: run `node scripts/build-storefront.js`")
    process.exit(1)
  }
} else {
  fs.writeFileSync(file, want)
}
