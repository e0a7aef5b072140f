"use strict"
// Validates Segment messages (as the sink received them) against the
// package's tracking-plan.json, with ajv. strict: objects that declare
// properties allow no others, so a property the plan does not list fails
// (the published plan leaves them open: a store's enrich hook may add some).

const Ajv = require("ajv")
const plan = require("../../tracking-plan.json")

function closed(schema) {
  if (!schema || typeof schema !== "object") return schema
  const out = Array.isArray(schema) ? schema.map(closed) : {}
  if (Array.isArray(schema)) return out
  for (const [k, v] of Object.entries(schema)) out[k] = k === "properties" ? Object.fromEntries(Object.entries(v).map(([p, s]) => [p, closed(s)])) : closed(v)
  if (schema.properties && schema.additionalProperties === undefined) out.additionalProperties = false
  return out
}

/**
 * A function message -> [error strings] ([] = valid). `renamed`: { sent name:
 * plan name } (option rename); `skip(message)`: true for messages outside the
 * plan (event_map events).
 */
function planValidator({ strict = true, renamed = {}, skip = () => false } = {}) {
  const ajv = new Ajv({ allErrors: true, strict: false })
  const rules = new Map()
  for (const r of plan.rules) {
    const schema = strict ? { ...r.jsonSchema, properties: Object.fromEntries(Object.entries(r.jsonSchema.properties).map(([k, v]) => [k, closed(v)])) } : r.jsonSchema
    rules.set(r.type === "TRACK" ? `track:${r.key}` : r.type.toLowerCase(), ajv.compile(schema))
  }
  return (m) => {
    if (skip(m)) return []
    const key = m.type === "track" ? `track:${renamed[m.event] || m.event}` : m.type
    const validate = rules.get(key)
    if (!validate) return [`${m.type} ${m.event || ""}: not in tracking-plan.json`]
    if (validate(m)) return []
    return validate.errors.map((e) => `${m.type} ${m.event || ""} ${m.messageId}: ${e.instancePath} ${e.message} ${JSON.stringify(e.params)}`)
  }
}

/** Errors of every message (an empty array when all conform). */
function checkAll(messages, opts) {
  const v = planValidator(opts)
  return messages.flatMap((m) => v(m))
}

module.exports = { planValidator, checkAll, plan }
