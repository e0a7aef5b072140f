"use strict"
// Medusa 2.x API middlewares of the plugin (what defineMiddlewares() returns, in plain CommonJS); the code is in lib/v2/middlewares.js.
Object.defineProperty(exports, "__esModule", { value: true })
exports.default = require("../../../../lib/v2/middlewares").config
