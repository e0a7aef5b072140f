"use strict"
// GET /admin/segment: the Admin page's overview; the code is in lib/v2/admin-api.js.
Object.defineProperty(exports, "__esModule", { value: true })
exports.GET = require("../../../../../../lib/v2/admin-api").getOverview
