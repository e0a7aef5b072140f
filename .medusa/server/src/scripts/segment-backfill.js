"use strict"
// Backfill of past orders into Segment (docs/backfill.md):
//   npx medusa exec ./node_modules/medusa-plugin-segment-rs/.medusa/server/src/scripts/segment-backfill.js \
//     [from=2025-01-01] [to=2025-07-01] [dry-run] [restart] [orders-per-second=20] [page-size=50]
// The code is in lib/v2/backfill.js.
Object.defineProperty(exports, "__esModule", { value: true })
const backfill = require("../../../../lib/v2/backfill")

exports.default = async function segmentBackfill({ container, args }) {
  const result = await backfill.runBackfill(container, backfill.parseArgs(args))
  if (result && result.dry_run) {
    console.log(`[segment] backfill dry run: ${JSON.stringify(result)}`)
  } else if (result && result.status !== "done") {
    throw new Error(`[segment] backfill ${result.range_key} ${result.status}: ${result.error}`)
  }
}
