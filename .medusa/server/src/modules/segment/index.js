"use strict"
// The plugin module `segment` (Medusa 2.x): the plugin's own tables in the
// store's PostgreSQL, auto-registered by Medusa from this folder. The code
// that uses them lives in lib/v2/.
Object.defineProperty(exports, "__esModule", { value: true })
const { Module } = require("@medusajs/framework/utils")
const SegmentModuleService = require("./service").default
exports.default = Module("segment", { service: SegmentModuleService })
