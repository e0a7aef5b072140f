"use strict"
// POST /admin/segment/test: sends a test event; the code is in lib/v2/admin-api.js.
Object.defineProperty(exports, "__esModule", { value: true })
exports.POST = require("../../../../../../../lib/v2/admin-api").postTest
