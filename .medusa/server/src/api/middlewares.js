"use strict"
// Medusa 2.x route middlewares of the plugin: the funnel's hooks on store
// routes that emit no event (lib/v2/funnel-middleware.js).
Object.defineProperty(exports, "__esModule", { value: true })
exports.default = { routes: [...require("../../../../lib/v2/funnel-middleware").routes] }
