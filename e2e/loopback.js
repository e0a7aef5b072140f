"use strict"
// Preloaded (`node --require`) into the Medusa processes the harness starts.
// `medusa start` calls app.listen(port) and so listens on every interface;
// this makes any listen() without an explicit host bind to 127.0.0.1 only.
const net = require("node:net")

const listen = net.Server.prototype.listen
net.Server.prototype.listen = function (...args) {
  const first = args[0]
  if (typeof first === "number" || (typeof first === "string" && /^\d+$/.test(first))) {
    if (typeof args[1] !== "string") args.splice(1, 0, "127.0.0.1")
  } else if (first && typeof first === "object" && first.port != null && first.host == null && first.path == null) {
    args[0] = { ...first, host: "127.0.0.1" }
  }
  return listen.apply(this, args)
}
