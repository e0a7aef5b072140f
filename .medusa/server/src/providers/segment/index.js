"use strict"
// `medusa-plugin-segment-rs/providers/segment`: the Analytics Module provider
// (what ModuleProvider(Modules.ANALYTICS, { services }) returns, in plain
// CommonJS). The code is in lib/v2/provider.js.
Object.defineProperty(exports, "__esModule", { value: true })
const { SegmentAnalyticsProvider } = require("../../../../../lib/v2/provider")
exports.default = { module: "analytics", services: [SegmentAnalyticsProvider], loaders: [] }
exports.SegmentAnalyticsProvider = SegmentAnalyticsProvider
