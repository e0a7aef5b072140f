"use strict"
// Resumes a backfill whose process stopped (crash, restart, deploy) from its
// saved cursor, once a minute at most; the code is in lib/v2/backfill.js.
Object.defineProperty(exports, "__esModule", { value: true })
const { resumeStale } = require("../../../../lib/v2/backfill")
const { loggerOf } = require("../../../../lib/container")

exports.default = async function segmentBackfillResume(container) {
  try {
    await resumeStale(container)
  } catch (err) {
    // no module table yet (db:migrate not run): nothing to resume
    loggerOf(container).debug && loggerOf(container).debug(`[segment] backfill resume check: ${err && err.message}`)
  }
}
exports.config = { name: "segment-backfill-resume", schedule: "* * * * *" }
