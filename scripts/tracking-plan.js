#!/usr/bin/env node
"use strict"
// Writes tracking-plan.json (the package's published tracking plan) from
// lib/catalog.js, the table the plugin's code reads. Rules in the shape of
// Segment's Public API tracking plans (Protocols): { type, key, version,
// jsonSchema }. `node scripts/tracking-plan.js --check` exits 1 when the file
// is stale (also a test: __tests__/tracking-plan.test.js).
//
//   npm run tracking-plan

const fs = require("node:fs")
const path = require("node:path")
const { EVENTS, FUNNEL, IDENTIFY } = require("../lib/catalog")

const FILE = path.join(__dirname, "..", "tracking-plan.json")

/** A property declaration of lib/catalog.js as JSON Schema. */
function schemaOf(decl) {
  if (typeof decl === "string" || Array.isArray(decl)) return { type: decl }
  const out = { ...decl }
  if (decl.properties) out.properties = objectProps(decl.properties)
  if (decl.items) out.items = schemaOf(decl.items)
  return out
}

function objectProps(props) {
  return Object.fromEntries(Object.entries(props).map(([k, v]) => [k, schemaOf(v)]))
}

function sentOn(medusa) {
  const parts = []
  if (medusa.v1) parts.push(`Medusa 1.x: ${medusa.v1.join(", ")}`)
  if (medusa.v2) parts.push(`Medusa 2.x: ${medusa.v2.join(", ")}`)
  return parts.join("; ")
}

function rule(type, key, description, field, props, required) {
  const inner = { type: "object", properties: objectProps(props) }
  if (required && required.length) inner.required = required
  return {
    type,
    key,
    version: 1,
    jsonSchema: {
      $schema: "http://json-schema.org/draft-07/schema#",
      description,
      type: "object",
      properties: { [field]: inner },
      required: [field],
    },
  }
}

function build() {
  const { version } = require("../package.json")
  const rules = [rule("IDENTIFY", null, `${IDENTIFY.description} Sent on: ${sentOn(IDENTIFY.medusa)}.`, "traits", IDENTIFY.traits)]
  delete rules[0].key
  for (const e of EVENTS) rules.push(rule("TRACK", e.name, `${e.description} Sent on: ${sentOn(e.medusa)}.`, "properties", e.properties, e.required))
  for (const e of FUNNEL) rules.push(rule("TRACK", e.name, e.description, "properties", e.properties, e.required))
  return {
    name: "medusa-plugin-segment-rs",
    description:
      `Every call medusa-plugin-segment-rs ${version} can send (before the store's rename/enrich options and event_map entries), ` +
      "generated from lib/catalog.js. Import the rules into a Segment Protocols tracking plan.",
    rules,
  }
}

function text() {
  return JSON.stringify(build(), null, 2) + "\n"
}

if (require.main === module) {
  const want = text()
  if (process.argv.includes("--check")) {
    const have = fs.existsSync(FILE) ? fs.readFileSync(FILE, "utf8") : ""
    if (have !== want) {
      console.error("tracking-plan.json is stale: run `npm run tracking-plan`")
      process.exit(1)
    }
  } else {
    fs.writeFileSync(FILE, want)
    console.log(`wrote ${path.relative(process.cwd(), FILE)} (${build().rules.length} rules)`)
  }
}

module.exports = { build, text, FILE }
