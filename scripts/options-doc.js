#!/usr/bin/env node
"use strict"
// `npm run options:docs`: writes the options reference (docs/options.md) and
// the SegmentOptions type (index.d.ts) from the options table (lib/options.js),
// between the GENERATED markers of each file. `--check`: write nothing, exit 1
// when a file differs from what the table gives (what the test checks).

const fs = require("fs")
const path = require("path")
const { OPTIONS } = require("../lib/options")

const ROOT = path.join(__dirname, "..")
const BEGIN = "GENERATED from lib/options.js by `npm run options:docs`: edit the table, not this block"
const END = "END GENERATED"

function shownDefault(row) {
  if (row.shown) return row.shown
  if (row.default === undefined) return "—"
  return "`" + JSON.stringify(row.default) + "`"
}

function markdownTable() {
  const lines = ["| option | type | default | meaning |", "|---|---|---|---|"]
  for (const row of OPTIONS) {
    const range = row.range ? ` ${row.range.join(" – ")}` : ""
    const cells = ["`" + row.name + "`", "`" + row.type + "`" + range, shownDefault(row), row.doc]
    lines.push("| " + cells.map((c) => c.replace(/\|/g, "\\|")).join(" | ") + " |")
  }
  return lines.join("\n")
}

function dtsInterface() {
  const lines = ["export interface SegmentOptions {"]
  for (const row of OPTIONS) {
    // Markdown links mean nothing in an editor's tooltip: keep their text.
    const doc = row.doc.replace(/\[([^\]]+)\]\([^)]+\)/g, "$1").replace(/\*\//g, "* /")
    const def = row.shown ? ` Default: ${row.shown.replace(/`/g, "")}.` : row.default === undefined ? "" : ` Default ${JSON.stringify(row.default)}.`
    lines.push(`  /** ${doc}${def} */`)
    lines.push(`  ${row.name}?: ${row.type}`)
    for (const a of row.aliases || []) {
      lines.push(`  /** Same as \`${row.name}\`. */`)
      lines.push(`  ${a}?: ${row.type}`)
    }
  }
  lines.push("  /** Other keys are kept in `options_`; an unknown one logs a warning naming the nearest option. */")
  lines.push("  [other: string]: unknown")
  lines.push("}")
  return lines.join("\n")
}

const FILES = [
  { file: "docs/options.md", open: `<!-- ${BEGIN} -->`, close: `<!-- ${END} -->`, body: markdownTable },
  { file: "index.d.ts", open: `// ${BEGIN}`, close: `// ${END}`, body: dtsInterface },
]

/** The file's text with its generated block replaced: { current, wanted }. */
function render(spec) {
  const full = path.join(ROOT, spec.file)
  const current = fs.readFileSync(full, "utf8")
  const a = current.indexOf(spec.open)
  const b = current.indexOf(spec.close)
  if (a < 0 || b < a) throw new Error(`${spec.file}: the markers \`${spec.open}\` ... \`${spec.close}\` are missing`)
  const wanted = current.slice(0, a) + spec.open + "\n" + spec.body() + "\n" + current.slice(b)
  return { full, current, wanted }
}

module.exports = { FILES, render, markdownTable, dtsInterface }

if (require.main === module) {
  const check = process.argv.includes("--check")
  let stale = 0
  for (const spec of FILES) {
    const { full, current, wanted } = render(spec)
    if (current === wanted) continue
    if (check) {
      console.error(`options:docs: ${spec.file} is out of date with lib/options.js (run npm run options:docs)`)
      stale++
    } else {
      fs.writeFileSync(full, wanted)
      console.log(`options:docs: wrote ${spec.file}`)
    }
  }
  process.exit(stale ? 1 : 0)
}
