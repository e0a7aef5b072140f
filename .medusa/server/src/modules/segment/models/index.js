"use strict"
// Every model file of this folder, by its exported name (Medusa's loader reads
// the files itself and skips index.*; the service needs them as one object).
const fs = require("node:fs")
const path = require("node:path")
for (const f of fs.readdirSync(__dirname).sort()) {
  if (f === "index.js" || !f.endsWith(".js")) continue
  Object.assign(exports, require(path.join(__dirname, f)))
}
