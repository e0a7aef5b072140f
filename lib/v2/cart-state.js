"use strict"

// The funnel's last seen state of each open cart, in the store's PostgreSQL
// (table segment_cart_state of the plugin module `segment`, created by
// `medusa db:migrate`). Shared by every Medusa process (server, workers) and
// kept across restarts.
//
// Two events of one cart handled at once (Redis event bus, several
// processes) must not both report the same change: each transition runs in a
// transaction holding the cart's row lock (SELECT ... FOR UPDATE), so the
// second handler waits, then reads the cart and the state the first one left.
// Plain SQL on Medusa's own connection (knex, `__pg_connection__`): the
// generated module service has no "lock this row" call.

const TABLE = "segment_cart_state"
/** A cart untouched this long is forgotten (its next event sees it as new). */
const STALE_DAYS = 30
const PRUNE_EVERY_MS = 60 * 60 * 1000

/**
 * Runs `step(state, version)` for one cart while holding its row lock.
 * `state` is null for a cart never seen. `step` returns { state } to record a
 * new state (the version becomes version + 1), { drop: true } to forget the
 * cart, or nothing to leave the row as it is. Whatever `step` sends is sent
 * before the commit: if the commit fails, the next event sends the same
 * transition again with the same messageIds (Segment keeps one).
 */
async function withCartState(pg, cartId, step) {
  return pg.transaction(async (trx) => {
    await trx.raw(`insert into ${TABLE} (id) values (?) on conflict (id) do nothing`, [cartId])
    const { rows } = await trx.raw(`select version, state from ${TABLE} where id = ? for update`, [cartId])
    const row = rows[0]
    const out = (await step(row.state, row.version)) || {}
    if (out.drop) {
      await trx.raw(`delete from ${TABLE} where id = ?`, [cartId])
    } else if (out.state !== undefined) {
      await trx.raw(`update ${TABLE} set state = ?::jsonb, version = version + 1, updated_at = now() where id = ?`, [
        JSON.stringify(out.state),
        cartId,
      ])
    }
    return out
  })
}

/** Deletes the state of carts untouched for `days`; resolves the number deleted. */
async function pruneStale(pg, days = STALE_DAYS) {
  const r = await pg.raw(`delete from ${TABLE} where updated_at < now() - make_interval(days => ?)`, [days])
  return r.rowCount || 0
}

let lastPrune = 0
/** pruneStale at most once an hour per process, in the background. */
function maybePrune(pg, logger) {
  if (Date.now() - lastPrune < PRUNE_EVERY_MS) return
  lastPrune = Date.now()
  pruneStale(pg).catch((err) => logger.warn(`[segment] cannot prune stale cart states: ${err && err.message}`))
}

/** A clearer message for "the table is not there" (the plugin's migration has not run). */
function explain(err) {
  const msg = (err && err.message) || String(err)
  if (/segment_cart_state/.test(msg) && /does not exist/.test(msg)) {
    return `${msg} (run \`npx medusa db:migrate\` after installing or upgrading medusa-plugin-segment-rs)`
  }
  return msg
}

module.exports = { TABLE, STALE_DAYS, withCartState, pruneStale, maybePrune, explain }
