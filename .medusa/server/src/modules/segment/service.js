"use strict"
// CRUD for the module's data models (MedusaService generates listX/createX/updateX...).
Object.defineProperty(exports, "__esModule", { value: true })
const { MedusaService } = require("@medusajs/framework/utils")
const SegmentBackfill = require("./models/segment-backfill").default
class SegmentModuleService extends MedusaService({ SegmentBackfill }) {}
exports.default = SegmentModuleService
