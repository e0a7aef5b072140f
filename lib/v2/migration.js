"use strict"
// MikroORM's Migration base class for the `segment` module's migrations, from
// the store's Medusa install (framework re-export since 2.x; the package itself before).
function load() {
  for (const id of ["@medusajs/framework/mikro-orm/migrations", "@mikro-orm/migrations"]) {
    try {
      return require(id).Migration
    } catch (err) {
      if (err && err.code !== "MODULE_NOT_FOUND") throw err
    }
  }
  throw new Error("medusa-plugin-segment-rs: cannot find MikroORM's Migration class (is @medusajs/framework installed?)")
}
exports.Migration = load()
