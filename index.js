"use strict"
// medusa-plugin-segment-rs: the JS face of the Rust Segment client.
// The client lives in lib/client/ (service.js: SegmentService; handle.js: the
// native client shared per configuration; validate.js: the message checks;
// exit-hooks.js: flushing at exit and on signals).

const { SegmentService } = require("./lib/client/service.js")
const { CORE_OPTIONS } = require("./lib/options.js")

module.exports = SegmentService
module.exports.SegmentService = SegmentService
module.exports.default = SegmentService
module.exports.CORE_OPTIONS = CORE_OPTIONS
module.exports.libraryVersion = require("./lib/load-native.js").libraryVersion
module.exports.medusaSpoolDir = require("./lib/spool.js").medusaSpoolDir
