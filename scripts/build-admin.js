"use strict"
// Writes .medusa/server/src/admin/index.js, the CommonJS twin of the
// hand-written ESM admin extension (index.mjs): the app's Vite imports the
// ESM file, its Tailwind scans the file that `require` resolves to.
// `node scripts/build-admin.js --check` fails when the twin is out of date.
const fs = require("node:fs")
const path = require("node:path")

const dir = path.join(__dirname, "..", ".medusa", "server", "src", "admin")
const esm = fs.readFileSync(path.join(dir, "index.mjs"), "utf8")

function toCommonJs(src) {
  let out = src.replace(/^import \{([^}]+)\} from ("[^"]+")$/gm, (_, names, from) => {
    const list = names
      .split(",")
      .map((n) => n.trim())
      .filter(Boolean)
      .map((n) => n.replace(/^(\w+) as (\w+)$/, "$1: $2"))
    return `const { ${list.join(", ")} } = require(${from})`
  })
  if (/^import /m.test(out)) throw new Error("build-admin: only `import { a, b as c } from \"x\"` is supported in index.mjs")
  if (!/^export default \{/m.test(out) || /^export (?!default \{)/m.test(out)) throw new Error("build-admin: index.mjs must end in a single `export default { ... }`")
  out = out.replace(/^export default \{/m, "exports.default = {")
  return `"use strict"\n// GENERATED from index.mjs by scripts/build-admin.js: edit index.mjs.\nObject.defineProperty(exports, "__esModule", { value: true })\n${out}`
}

const cjs = toCommonJs(esm)
const target = path.join(dir, "index.js")
if (process.argv.includes("--check")) {
  if (!fs.existsSync(target) || fs.readFileSync(target, "utf8") !== cjs) {
    console.error("build-admin: .medusa/server/src/admin/index.js is out of date; run `node scripts/build-admin.js`")
    process.exit(1)
  }
} else {
  fs.writeFileSync(target, cjs)
}
