"use strict"
// The spool's default in Medusa (src/spool in the core). When the store has
// a Redis URL configured (Medusa 2.x `projectConfig.redisUrl`, 1.x
// `projectConfig.redis_url`) it is the Redis spool on that Redis (every
// server and worker instance shares it, so a killed container loses
// nothing); else the disk spool in a directory under the backend's working
// directory. An explicit `spool_dir` or `spool_url` (a path/URL, or false)
// wins. Standalone use has no default. See docs/multi-instance.md.

const path = require("node:path")
const { lookup } = require("./container")

/** Medusa's default spool directory: `.segment-spool` under the backend's working directory. */
function medusaSpoolDir(cwd = process.cwd()) {
  return path.join(cwd, ".segment-spool")
}

const isSet = (v) => v !== undefined && v !== null

/** Medusa 2.x's project config, when Medusa has loaded it in this process (never loaded here). */
function loadedV2ProjectConfig() {
  try {
    const file = require.resolve("@medusajs/framework/config", { paths: [process.cwd()] })
    const loaded = require.cache[file]
    const manager = loaded && loaded.exports.configManager
    return manager && manager.baseDir ? manager.config.projectConfig : null
  } catch (_) {
    return null
  }
}

/** The store's own Redis URL (Medusa 2.x or 1.x project config), or null. */
function storeRedisUrl(container) {
  const configModule = lookup(container, "configModule")
  const project = (configModule && configModule.projectConfig) || loadedV2ProjectConfig()
  const url = project && (project.redisUrl || project.redis_url)
  return typeof url === "string" && /^rediss?:\/\//.test(url.trim()) ? url.trim() : null
}

/**
 * The plugin options with Medusa's spool default filled in: with neither
 * `spool_dir` nor `spool_url` set, the store's Redis when it has one, else
 * the disk spool. `spool_dir: false` keeps the spool off; `spool_url: false`
 * keeps it on disk.
 */
function withMedusaSpoolDefault(options, container) {
  if (isSet(options.spool_dir) || (isSet(options.spool_url) && options.spool_url !== false)) return options
  const url = options.spool_url === false ? null : storeRedisUrl(container)
  return url ? { ...options, spool_url: url } : { ...options, spool_dir: medusaSpoolDir() }
}

module.exports = { medusaSpoolDir, storeRedisUrl, withMedusaSpoolDefault }
