"use strict"
// The plugin module `segment` (auto-registered by Medusa 2.x from
// .medusa/server/src/modules/<name>, with the plugin options): the plugin's
// own tables in the store's PostgreSQL, created by `medusa db:migrate` from
// ./migrations. Each feature keeps its models in ./models, its migrations in
// ./migrations and its start-up checks in ./loaders.
Object.defineProperty(exports, "__esModule", { value: true })
const fs = require("node:fs")
const path = require("node:path")
const { Module } = require("@medusajs/framework/utils")
const SegmentModuleService = require("./service").default

const dir = path.join(__dirname, "loaders")
const loaders = fs
  .readdirSync(dir)
  .filter((f) => f.endsWith(".js"))
  .sort()
  .map((f) => require(path.join(dir, f)).default)

exports.SEGMENT_MODULE = "segment"
exports.default = Module("segment", { service: SegmentModuleService, loaders })
