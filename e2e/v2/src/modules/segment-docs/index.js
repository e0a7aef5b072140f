// Bench only (E2E_V2_MODE=docs): an Analytics Module provider written the way
// Medusa's "Integrate Segment" guide tells store owners to write one, on
// @segment/analytics-node. Our own equivalent of the guide's code, used as
// the comparison point of bench/medusa-v2.js.
const { ModuleProvider, Modules } = require("@medusajs/framework/utils")
const SegmentDocsProvider = require("./service")

module.exports = ModuleProvider(Modules.ANALYTICS, { services: [SegmentDocsProvider] })
