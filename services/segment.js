"use strict"
// `segmentService` in a Medusa 1.x container (Medusa loads services/*.js of a plugin); the class is in lib/medusa-service.js.
module.exports = require("../lib/medusa-service")
