"use strict"
// segment_identify_state (models/identify-state.js)
Object.defineProperty(exports, "__esModule", { value: true })
const { Migration } = require("../../../../../../lib/v2/migration")

class Migration20261207030100 extends Migration {
  async up() {
    this.addSql(
      'create table if not exists "segment_identify_state" ("id" text not null, "customer_id" text not null, "traits_hash" text not null, ' +
        '"stopped" boolean not null default false, "created_at" timestamptz not null default now(), "updated_at" timestamptz not null default now(), ' +
        '"deleted_at" timestamptz null, constraint "segment_identify_state_pkey" primary key ("id"));'
    )
    this.addSql(
      'CREATE UNIQUE INDEX IF NOT EXISTS "IDX_segment_identify_state_customer_id_unique" ON "segment_identify_state" (customer_id) WHERE deleted_at IS NULL;'
    )
  }

  async down() {
    this.addSql('drop table if exists "segment_identify_state" cascade;')
  }
}
exports.Migration20261207030100 = Migration20261207030100
