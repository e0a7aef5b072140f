"use strict"
// Medusa 2.x API middlewares of the plugin (what defineMiddlewares() returns,
// in plain CommonJS): the shopper's ip/user agent recorded at checkout
// (lib/v2/middlewares.js) and the funnel's hooks on store routes that emit no
// event (lib/v2/funnel-middleware.js).
Object.defineProperty(exports, "__esModule", { value: true })
const attribution = require("../../../../lib/v2/middlewares").config
exports.default = { routes: [...attribution.routes, ...require("../../../../lib/v2/funnel-middleware").routes] }
