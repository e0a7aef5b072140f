"use strict"
// The plugin module `segment` (Medusa 2.x): the plugin's state in the store's
// PostgreSQL, shared by server and worker processes. Auto-registered by
// Medusa from the plugin, with the plugin's options. Each part keeps its own
// model and migration files; the code lives under lib/v2/.
Object.defineProperty(exports, "__esModule", { value: true })
const { Module } = require("@medusajs/framework/utils")
const SegmentModuleService = require("./service").default
const { checkOptionsAtStart } = require("../../../../../lib/v2/segment-module")
exports.SEGMENT_MODULE = "segment"
exports.default = Module("segment", { service: SegmentModuleService, loaders: [checkOptionsAtStart] })
