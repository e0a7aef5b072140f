"use strict"

// The funnel's last seen state of each open cart, in the store's PostgreSQL
// (table segment_cart_state of the plugin module `segment`, created by
// `medusa db:migrate`). Shared by every Medusa process (server, workers) and
// kept across restarts.
//
// Two events of one cart handled at once (Redis event bus, several
// processes; the local bus runs handlers concurrently too) must not both
// report the same change: each state carries a version, and a new state is
// recorded only if the version is still the one it was computed from (an
// atomic compare-and-swap: UPDATE ... WHERE version = ?). The handler that
// loses reads the state again, and the cart, and reports only what is left.
// No transaction or row lock is held while the cart is read: a lock held
// across Medusa's query graph needs two pool connections per handler, and a
// burst of cart events then exhausts the pool (seen with 20 at once).
// Plain SQL on Medusa's own connection (knex, `__pg_connection__`): the
// generated module service has no compare-and-swap.

const TABLE = "segment_cart_state"
/** A cart untouched this long is forgotten (its next event sees it as new). */
const STALE_DAYS = 30
const PRUNE_EVERY_MS = 60 * 60 * 1000
const ATTEMPTS = 10

/**
 * Computes and records one transition of cart `cartId`. `step(state,
 * version)` gets the recorded state (null: never seen) and returns { state }
 * to record (the version becomes version + 1), { drop: true } to forget the
 * cart, or nothing to leave it; it may carry anything else for the caller.
 * When another handler recorded a transition in the meantime, `step` runs
 * again on the newer state. Resolves what the successful `step` returned:
 * the caller sends its events only then, so no two handlers send one change.
 */
async function transition(pg, cartId, step) {
  for (let i = 0; i < ATTEMPTS; i++) {
    const { rows } = await pg.raw(`select version, state from ${TABLE} where id = ?`, [cartId])
    const version = rows.length ? rows[0].version : 0
    const out = (await step(rows.length ? rows[0].state : null, version)) || {}
    let r = { rowCount: 1 }
    if (out.drop) {
      if (rows.length) r = await pg.raw(`delete from ${TABLE} where id = ? and version = ?`, [cartId, version])
    } else if (out.state !== undefined) {
      const json = JSON.stringify(out.state)
      r = rows.length
        ? await pg.raw(`update ${TABLE} set state = ?::jsonb, version = version + 1, updated_at = now() where id = ? and version = ?`, [json, cartId, version])
        : await pg.raw(`insert into ${TABLE} (id, version, state) values (?, 1, ?::jsonb) on conflict (id) do nothing`, [cartId, json])
    }
    if (r.rowCount === 1) return out
  }
  throw new Error(`cart ${cartId} changed ${ATTEMPTS} times while its events were computed; its next event reports the changes`)
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

module.exports = { TABLE, STALE_DAYS, transition, pruneStale, maybePrune, explain }
