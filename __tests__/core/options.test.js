"use strict"

// The options table (lib/options.js) against everything that must agree with
// it: the native core's defaults and ranges, the JS checks, docs/options.md,
// index.d.ts; and the unknown-option warning, fed every option with a
// one-letter typo through each way in (SegmentService, the v1 service, the v2
// provider, the v2 plugin's subscribers).

const test = require("node:test")
const assert = require("node:assert/strict")

const native = require("../../native.js")
const { OPTIONS, CORE_OPTIONS, nearestOption } = require("../../lib/options")
const { FILES, render } = require("../../scripts/options-doc")
const { SegmentService } = require("../../index.js")
const V1Service = require("../../services/segment").default
const { SegmentAnalyticsProvider: Provider } = require("../../lib/v2/provider")
const { validateOptions } = require("../../lib/v2/options")
const { subscriberOptions } = require("../../lib/v2/client")
const { recordingLogger, cradle } = require("../medusa/fixtures")

const canonical = (o) => native.normalizeOptions(JSON.stringify(o))
// Only the retry delays depend on each other: give the one not under test room.
const ROOM = { min_retry_delay: { max_retry_delay: 24 * 3600 * 1000 }, max_retry_delay: { min_retry_delay: 1 } }

for (const spec of FILES) {
  test(`${spec.file} is what the options table gives (npm run options:docs)`, () => {
    const { current, wanted } = render(spec)
    assert.equal(current, wanted, `${spec.file} drifted from lib/options.js: run npm run options:docs`)
  })
}

test("the core's defaults are the table's, option by option", () => {
  const none = canonical({})
  for (const row of OPTIONS.filter((r) => r.core && r.default !== undefined)) {
    assert.equal(canonical({ [row.name]: row.default }), none, `\`${row.name}\`: the table says ${JSON.stringify(row.default)}, src/config.rs differs`)
  }
})

test("the core accepts each range's ends and refuses one past them, naming the option", () => {
  for (const row of OPTIONS.filter((r) => r.range)) {
    const [min, max] = row.range
    const room = ROOM[row.name] || {}
    canonical({ ...room, [row.name]: min })
    canonical({ ...room, [row.name]: max })
    const below = min > 0 ? [min - 1] : []
    for (const bad of [...below, max + 1]) {
      assert.throws(() => canonical({ ...room, [row.name]: bad }), new RegExp(`invalid option \`${row.name}\``), `${row.name} = ${bad}`)
    }
  }
})

test("the core reads exactly the core rows; the JS checks the others", () => {
  const wrong = { number: "x", boolean: "x", string: 5, "string | false": 5, "string[]": "x", '"sql" | "query"': "raw" }
  // Rows with neither `core` nor `check` are read (and checked) by their own code.
  for (const row of OPTIONS.filter((r) => r.core || r.check)) {
    const value = wrong[row.type]
    assert.ok(value !== undefined, `a wrong value for type ${row.type}`)
    if (row.core) {
      assert.throws(() => canonical({ [row.name]: value }), new RegExp(`invalid option \`${row.name}\``), row.name)
    } else {
      assert.doesNotThrow(() => canonical({ [row.name]: value }), `the core ignores ${row.name}`)
      assert.throws(() => validateOptions({ [row.name]: value }), new RegExp(`invalid option \`${row.name}\``), row.name)
    }
  }
  for (const row of OPTIONS.filter((r) => !r.core)) {
    assert.doesNotThrow(() => canonical({ [row.name]: { nested: "x" } }), `the core reads ${row.name} but the row lacks core: true`)
  }
  assert.deepEqual(CORE_OPTIONS, OPTIONS.filter((r) => r.core).map((r) => r.name))
})

/** One-letter typos of `name`, one kind per way in (warnings are once per name and process). */
const TYPOS = {
  substitute: (n) => n.slice(0, -2) + (n.at(-2) === "x" ? "y" : "x") + n.at(-1),
  drop: (n) => n.slice(0, -2) + n.at(-1),
  double: (n) => n + n.at(-1),
  swap: (n) => n.slice(0, 1) + n[2] + n[1] + n.slice(3),
}

function names() {
  return OPTIONS.flatMap((r) => [r.name, ...(r.aliases || [])].map((n) => ({ n, row: r })))
}

function assertWarned(logger, typo, row) {
  const warns = logger.lines.filter(([level, text]) => level === "warn" && text.includes(`\`${typo}\``))
  assert.equal(warns.length, 1, `one warning for \`${typo}\`: ${JSON.stringify(logger.lines)}`)
  const m = warns[0][1].match(/did you mean `([^`]+)`\?/)
  assert.ok(m, `the warning suggests a name: ${warns[0][1]}`)
  assert.ok([row.name, ...(row.aliases || [])].includes(m[1]), `\`${typo}\` -> \`${m[1]}\`, expected \`${row.name}\``)
}

test("SegmentService: each option with a letter changed logs one warning with the right name; once per name", () => {
  const logger = recordingLogger()
  for (const { n, row } of names()) {
    const typo = TYPOS.substitute(n)
    const options = { enabled: false, [typo]: 1 }
    new SegmentService({ logger }, options).shutdown()
    new SegmentService({ logger }, options).shutdown() // again: no second warning
    assertWarned(logger, typo, row)
  }
})

test("v1 service (Medusa 1.x plugin options): each option with a letter dropped is named", () => {
  const logger = recordingLogger()
  for (const { n, row } of names()) {
    const typo = TYPOS.drop(n)
    new V1Service(cradle({ logger }), { enabled: false, spool_dir: false, [typo]: 1 }).shutdown()
    assertWarned(logger, typo, row)
  }
})

test("v2 provider: each option with a letter doubled (`flush_intervall`) is named when Medusa builds it", () => {
  const logger = recordingLogger()
  for (const { n, row } of names()) {
    const typo = TYPOS.double(n)
    const p = new Provider({ logger }, { enabled: false, spool_dir: false, [typo]: 1 })
    p.client.shutdown()
    assertWarned(logger, typo, row)
  }
})

test("v2 plugin options: checked once, at the first event; a typo (two letters swapped) warned about once", () => {
  for (const { n, row } of names()) {
    const logger = recordingLogger()
    const typo = TYPOS.swap(n)
    const options = { write_key: "wk_options_test_1", enabled: false, [typo]: 1 }
    for (let i = 0; i < 3; i++) subscriberOptions(options, cradle({ logger }))
    assertWarned(logger, typo, row)
  }
  // a bad value: the same error, named, at every event; worked out once
  const bad = { write_key: "wk_options_test_1", flush_at: "x" }
  const errs = []
  for (let i = 0; i < 2; i++) {
    try {
      subscriberOptions(bad, cradle({ logger: recordingLogger() }))
    } catch (e) {
      errs.push(e)
    }
  }
  assert.equal(errs.length, 2)
  assert.match(errs[0].message, /invalid option `flush_at`/)
  assert.equal(errs[1], errs[0], "validated once: the first event's error is reused")
})

test("a name that is no typo gets no guess; known names and Medusa's `writeKey` get no warning", () => {
  assert.equal(nearestOption("colour_scheme"), null)
  const logger = recordingLogger()
  new SegmentService({ logger }, { enabled: false, colour_scheme: "dark", flush_at: 5 }).shutdown()
  const warns = logger.lines.filter(([l]) => l === "warn")
  assert.equal(warns.length, 1)
  assert.match(warns[0][1], /unknown option `colour_scheme` is ignored \(the options: docs\/options\.md\)/)
  const quiet = recordingLogger()
  new Provider({ logger: quiet }, { writeKey: "wk_options_test_2", enabled: false, spool_dir: false, reporting_currency: "USD" }).client.shutdown()
  assert.deepEqual(quiet.lines.filter(([l]) => l === "warn"), [])
})

test("the database settings Medusa 2.x adds to a plugin module's options are not warned about", () => {
  const { warnUnknownOptions } = require("../../lib/options")
  const lines = []
  const logger = { warn: (m) => lines.push(m) }
  assert.deepEqual(warnUnknownOptions({ write_key: "k", database: { clientUrl: "postgres://x" } }, logger), [])
  assert.deepEqual(lines, [])
})
