"use strict"
// The spool's default in Medusa (src/spool in the core): on, in a directory
// under the backend's working directory. Standalone use has no default.

const path = require("node:path")

/** Medusa's default spool directory: `.segment-spool` under the backend's working directory. */
function medusaSpoolDir(cwd = process.cwd()) {
  return path.join(cwd, ".segment-spool")
}

/** The plugin options with Medusa's spool default filled in: unset or null means the default, false keeps it off. */
function withMedusaSpoolDefault(options) {
  if (options.spool_dir !== undefined && options.spool_dir !== null) return options
  return { ...options, spool_dir: medusaSpoolDir() }
}

module.exports = { medusaSpoolDir, withMedusaSpoolDefault }
