"use strict"
// Runs when Medusa loads the module (every process, at start-up): a bad
// funnel switch in the plugin option `events` stops the start with an error
// naming it, rather than at the first cart event.
Object.defineProperty(exports, "__esModule", { value: true })
const { configure } = require("../../../../../../lib/v2/funnel")
exports.default = async function funnelOptions({ options }) {
  configure(options)
}
