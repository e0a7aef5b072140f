"use strict"

// What the `segment` plugin module (.medusa/server/src/modules/segment) adds
// to its MedusaService: the plugin options checked when Medusa starts, the
// identify state (one atomic SQL statement per identify, so server and
// worker processes never both send the same change), and the event_map
// subscriptions made when the application starts.

const { validateOptions } = require("./options")

/**
 * Module loader: the plugin's options (Medusa passes them to the plugin's
 * modules) are checked when the backend starts; a bad option stops the start
 * with an error naming it.
 */
async function checkOptionsAtStart({ options, logger }) {
  validateOptions(options || {})
  const { validateSwitchboard } = require("../switchboard")
  for (const k of validateSwitchboard(options || {})) {
    if (logger) logger.warn(`[segment] option events["${k}"] names no event this plugin sends`)
  }
}

const TABLE = "segment_identify_state"

/**
 * Runs an upsert again when it lost a race for a customer's first row: ON
 * CONFLICT only arbitrates the customer_id index, so two processes inserting
 * the same new customer at once can still collide on the primary key
 * (23505). The retry finds the committed row and takes the UPDATE branch.
 */
async function upsert(pg, sql, params) {
  for (let attempt = 1; ; attempt++) {
    try {
      return await pg.raw(sql, params)
    } catch (e) {
      if (e && e.code === "23505" && attempt < 3) continue
      throw e
    }
  }
}

function withSegmentModule(Base) {
  return class SegmentModuleService extends Base {
    constructor(container, options, ...rest) {
      super(container, options, ...rest)
      Object.defineProperty(this, "segmentContainer_", { value: container, enumerable: false })
      Object.defineProperty(this, "segmentOptions_", { value: options || {}, enumerable: false })
      this.__hooks = {
        ...(this.__hooks || {}),
        onApplicationStart: async () => require("./event-map").subscribeAll(this.segmentContainer_, this.segmentOptions_),
      }
    }

    get pg_() {
      return this.segmentContainer_.__pg_connection__
    }

    /**
     * Records `hash` as the customer's last identify; true when it differs
     * from the one recorded before (send the identify), false when it is the
     * same or identifies are stopped for the customer. One statement: of two
     * processes racing with the same traits, one gets true.
     */
    async claimIdentify(customerId, hash) {
      const { rows } = await upsert(
        this.pg_,
        `INSERT INTO "${TABLE}" (id, customer_id, traits_hash) VALUES (?, ?, ?)
         ON CONFLICT (customer_id) WHERE deleted_at IS NULL DO UPDATE SET traits_hash = EXCLUDED.traits_hash, updated_at = now()
         WHERE "${TABLE}".traits_hash IS DISTINCT FROM EXCLUDED.traits_hash AND NOT "${TABLE}".stopped
         RETURNING id`,
        [`segid_${customerId}`, customerId, hash]
      )
      return rows.length > 0
    }

    /** No identify for this customer from now on (customer.deleted). */
    async stopIdentify(customerId) {
      await upsert(
        this.pg_,
        `INSERT INTO "${TABLE}" (id, customer_id, traits_hash, stopped) VALUES (?, ?, '', true)
         ON CONFLICT (customer_id) WHERE deleted_at IS NULL DO UPDATE SET stopped = true, updated_at = now()`,
        [`segid_${customerId}`, customerId]
      )
    }
  }
}

module.exports = { checkOptionsAtStart, withSegmentModule }
