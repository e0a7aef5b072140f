"use strict"
// GET/POST /admin/segment/backfill: runs and the launcher; the code is in lib/v2/admin-api.js.
Object.defineProperty(exports, "__esModule", { value: true })
const api = require("../../../../../../../lib/v2/admin-api")
exports.GET = api.getBackfill
exports.POST = api.postBackfill
