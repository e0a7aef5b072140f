"use strict"
// The module's service: Medusa's generated CRUD over every model in ./models.
Object.defineProperty(exports, "__esModule", { value: true })
const { MedusaService } = require("@medusajs/framework/utils")
const models = require("./models")
class SegmentModuleService extends MedusaService(models) {}
exports.default = SegmentModuleService
