"use strict"
// The funnel's per-cart state (models/cart-state.js).
Object.defineProperty(exports, "__esModule", { value: true })
// MikroORM's Migration, as @medusajs/framework re-exports it (2.21.2), else from MikroORM itself
let Migration
try {
  ;({ Migration } = require("@medusajs/framework/mikro-orm/migrations"))
} catch (_) {
  ;({ Migration } = require("@mikro-orm/migrations"))
}

class Migration20261207030000 extends Migration {
  async up() {
    this.addSql(
      'create table if not exists "segment_cart_state" ("id" text not null, "version" integer not null default 0, ' +
        '"state" jsonb null, "created_at" timestamptz not null default now(), "updated_at" timestamptz not null default now(), ' +
        '"deleted_at" timestamptz null, constraint "segment_cart_state_pkey" primary key ("id"));'
    )
    // the stale-state prune scans by age
    this.addSql('create index if not exists "IDX_segment_cart_state_updated_at" on "segment_cart_state" ("updated_at");')
  }

  async down() {
    this.addSql('drop table if exists "segment_cart_state" cascade;')
  }
}
exports.Migration20261207030000 = Migration20261207030000
