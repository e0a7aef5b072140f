"use strict"
// Start-up check of the plugin options (delivery, reporting, consent, switchboard):
// a bad option stops Medusa with an error naming it (lib/v2/segment-module.js).
Object.defineProperty(exports, "__esModule", { value: true })
exports.default = require("../../../../../../lib/v2/segment-module").checkOptionsAtStart
