//! The Redis spool (`spool_url`): accepted messages are kept in a Redis
//! stream that every process sending to the same source (write key + host)
//! shares, so a process that dies — a container killed or rescheduled,
//! its disk gone with it — loses nothing: a live one takes its messages over.
//!
//! Layout, under a digest of host and write key (never the key itself):
//! - stream `segment:spool:<digest>`, one entry per accepted message (field
//!   `m`: kind, time accepted, messageId, the JSON as given), and one
//!   consumer group `segment` on it;
//! - `segment:spool:<digest>:alive:<consumer>`, set with a TTL of half
//!   `spool_takeover_ms` and refreshed every quarter by each live process.
//!
//! `accept` runs on the caller's thread and only copies the message into a
//! buffer. This spool's task (on the client runtime) writes the buffer in
//! one transaction per round — XGROUP CREATE (a no-op unless Redis lost the
//! group), XADD per message, XREADGROUP `>` — so the new entries land in
//! this process's pending list at once and no other process delivers them
//! while it lives. Settled messages are XACKed and XDELed. Entries of
//! consumers whose alive key has expired are XCLAIMed and handed to the
//! worker, which delivers them with their original messageId.
//!
//! Redis is never allowed to take the store down: while it is unreachable
//! messages are delivered from memory (logged once; written to Redis when it
//! is back, if still unsettled), and what it loses (a flush, a failover to a
//! replica without the data) is counted and logged.

use std::collections::{BTreeMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{ConnectionAddr, Value};
use tokio::sync::Notify;

use super::backend::SpoolBackend;
use super::format;
use super::{Spooled, Stamp, Stored};
use crate::log::Level;
use crate::message::Kind;
use crate::shared::Shared;

const GROUP: &str = "segment";
const FIELD: &str = "m";
/// Messages written per transaction at most (a burst takes several rounds).
const ROUND_MESSAGES: usize = 2_000;
/// Entries claimed from a dead consumer per command.
const CLAIM_BATCH: usize = 500;
/// Backoff between attempts while Redis is unreachable.
const MIN_BACKOFF: Duration = Duration::from_millis(200);
const MAX_BACKOFF: Duration = Duration::from_secs(10);
/// How long `commit` (process exit) waits for the buffer to be written.
const COMMIT_WAIT: Duration = Duration::from_millis(500);
/// Stamp bytes before the JSON in an entry: kind, time (ms), messageId.
const STAMP_BYTES: usize = 1 + 8 + 16;

/// A message waiting to be written.
struct Entry {
    seq: u64,
    value: Vec<u8>,
}

/// A message written to the stream and not yet settled.
struct Held {
    id: String,
    bytes: u64,
}

struct State {
    /// Accepted, not yet written (the next transaction's).
    pending: Vec<Entry>,
    /// Taken out of `pending` by the round in progress.
    writing: usize,
    /// Written and not settled, by seq.
    held: BTreeMap<u64, Held>,
    /// Settled ranges not yet applied.
    settled: Vec<(u64, u64)>,
    /// Stream ids to XACK/XDEL (kept across a failed round).
    to_ack: Vec<String>,
    /// An XACK/XDEL is on its way.
    acking: bool,
    /// Entries claimed from dead processes, for the worker's next `adopt`.
    claimed: Vec<(String, Stored)>,
    /// The stream's size at the last round (its length times the average
    /// entry), and the bytes accepted since: together, what
    /// `max_spool_bytes` is held to.
    remote_bytes: u64,
    added_since: u64,
    /// Values seen (written or claimed): count and bytes, for the average.
    sizes: (u64, u64),
    /// Our entries known to be gone from Redis, not yet settled.
    missing: u64,
    /// Redis unreachable (since the last failed round).
    down: bool,
    /// The group existed at some round: its absence later means a loss.
    seen_group: bool,
    /// Pending entries of other consumers at the last look.
    others_pending: u64,
    closed: bool,
}

impl State {
    fn note_size(&mut self, value_len: usize) {
        self.sizes.0 += 1;
        self.sizes.1 += value_len as u64;
    }

    /// The stream holds `len` entries (every process's): its size, and
    /// what is still to be written on top.
    fn measured(&mut self, len: i64) {
        let avg = self.sizes.1.checked_div(self.sizes.0).unwrap_or(0);
        self.remote_bytes = len.max(0) as u64 * (avg + ENTRY_OVERHEAD);
        self.added_since = self
            .pending
            .iter()
            .map(|e| e.value.len() as u64 + ENTRY_OVERHEAD)
            .sum();
    }
}

/// The Redis spool of one client.
pub struct RedisSpool {
    shared: Arc<Shared>,
    stream: String,
    alive_prefix: String,
    consumer: String,
    /// `redis://host:port/db`, for log lines (no user or password).
    shown: String,
    password: Option<String>,
    max_bytes: u64,
    takeover: Duration,
    state: Mutex<State>,
    wake: Notify,
    /// The task sleeps; `accept` wakes it.
    idle: AtomicBool,
}

fn now_ms() -> i64 {
    (time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000) as i64
}

/// An entry's value: the stamp, then the JSON as the caller gave it.
fn encode(stamp: &Stamp, json: &str) -> Vec<u8> {
    let mut v = Vec::with_capacity(STAMP_BYTES + json.len());
    v.push(stamp.kind);
    v.extend_from_slice(&stamp.at_ms.to_le_bytes());
    v.extend_from_slice(&stamp.message_id);
    v.extend_from_slice(json.as_bytes());
    v
}

fn decode(value: &[u8]) -> Option<(Stamp, String)> {
    if value.len() < STAMP_BYTES {
        return None;
    }
    let stamp = Stamp {
        kind: value[0],
        at_ms: i64::from_le_bytes(value[1..9].try_into().ok()?),
        message_id: value[9..25].try_into().ok()?,
    };
    let json = String::from_utf8(value[STAMP_BYTES..].to_vec()).ok()?;
    Some((stamp, json))
}

/// Redis's own memory per entry beyond its value, measured on Redis 7.0
/// (INFO used_memory): about 25 bytes in the stream and 90 in the consumer
/// group's pending lists; rounded up. (MEMORY USAGE estimates the pending
/// lists several times higher, so the bound does not ask it.)
const ENTRY_OVERHEAD: u64 = 128;

fn text(v: &Value) -> Option<String> {
    match v {
        Value::BulkString(b) => String::from_utf8(b.clone()).ok(),
        Value::SimpleString(s) => Some(s.clone()),
        Value::Int(n) => Some(n.to_string()),
        _ => None,
    }
}

fn int(v: &Value) -> Option<i64> {
    match v {
        Value::Int(n) => Some(*n),
        other => text(other)?.parse().ok(),
    }
}

fn items(v: &Value) -> &[Value] {
    match v {
        Value::Array(a) | Value::Set(a) => a,
        _ => &[],
    }
}

/// Entries of an XREADGROUP/XCLAIM reply: (id, value of field `m`).
/// XREADGROUP nests them under the stream's name; XCLAIM lists them, with
/// nil for entries deleted meanwhile (returned as `None`).
fn entries(v: &Value, nested: bool) -> Vec<(Option<String>, Option<Vec<u8>>)> {
    let list: Vec<&Value> = if nested {
        items(v)
            .iter()
            .flat_map(|s| items(s).get(1).map(items).unwrap_or(&[]))
            .collect()
    } else {
        items(v).iter().collect()
    };
    list.into_iter()
        .map(|e| {
            let parts = items(e);
            let id = parts.first().and_then(text);
            let fields = parts.get(1).map(items).unwrap_or(&[]);
            let value = fields
                .chunks(2)
                .find(|kv| kv.first().and_then(text).as_deref() == Some(FIELD))
                .and_then(|kv| match kv.get(1) {
                    Some(Value::BulkString(b)) => Some(b.clone()),
                    _ => None,
                });
            (id, value)
        })
        .collect()
}

fn server_error(v: &Value) -> Option<String> {
    match v {
        Value::ServerError(e) => Some(format!("{e:?}")),
        _ => None,
    }
}

impl RedisSpool {
    /// Connect lazily and start this spool's task; `None` (logged, with the
    /// fix) if the URL cannot be used.
    pub fn open_logged(shared: &Arc<Shared>) -> Option<Arc<RedisSpool>> {
        let url = shared.config.spool_url.as_ref()?;
        match RedisSpool::open(shared.clone(), url) {
            Ok(s) => Some(s),
            Err(e) => {
                shared.stats.spool_errors.fetch_add(1, Relaxed);
                shared.log(
                    Level::Error,
                    "spool_redis",
                    format!(
                        "spool: cannot use spool_url ({e}); accepted messages are kept in memory only \
                         (a crash loses them). Fix: check spool_url, or set it to false"
                    ),
                );
                None
            }
        }
    }

    pub fn open(shared: Arc<Shared>, url: &str) -> redis::RedisResult<Arc<RedisSpool>> {
        let client = redis::Client::open(url)?;
        let info = client.get_connection_info();
        let db = info.redis_settings().db();
        let shown = match info.addr() {
            ConnectionAddr::Tcp(h, p) => format!("redis://{h}:{p}/{db}"),
            ConnectionAddr::TcpTls { host, port, .. } => format!("rediss://{host}:{port}/{db}"),
            ConnectionAddr::Unix(p) => format!("redis+unix://{}/{db}", p.display()),
            _ => format!("redis (db {db})"),
        };
        let password = info.redis_settings().password().map(str::to_string);
        let config = &shared.config;
        let digest = format!(
            "{:08x}",
            format::fingerprint(
                &config.host,
                config.write_key.as_deref().unwrap_or_default()
            )
        );
        let host = std::env::var("HOSTNAME").unwrap_or_default();
        let consumer = format!(
            "{}{}{}-{}",
            host,
            if host.is_empty() { "" } else { "-" },
            std::process::id(),
            &uuid::Uuid::new_v4().simple().to_string()[..8]
        );
        let manager_config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(Duration::from_secs(2)))
            .set_response_timeout(Some(Duration::from_secs(5)))
            .set_number_of_retries(2)
            .set_max_delay(Duration::from_secs(2));
        let manager = {
            let _rt = crate::runtime().enter();
            ConnectionManager::new_lazy_with_config(client, manager_config)?
        };
        let spool = Arc::new(RedisSpool {
            stream: format!("segment:spool:{digest}"),
            alive_prefix: format!("segment:spool:{digest}:alive:"),
            consumer,
            shown,
            password,
            max_bytes: config.max_spool_bytes,
            takeover: config.spool_takeover,
            state: Mutex::new(State {
                pending: Vec::new(),
                writing: 0,
                held: BTreeMap::new(),
                settled: Vec::new(),
                to_ack: Vec::new(),
                acking: false,
                claimed: Vec::new(),
                remote_bytes: 0,
                added_since: 0,
                sizes: (0, 0),
                missing: 0,
                down: false,
                seen_group: false,
                others_pending: 0,
                closed: false,
            }),
            wake: Notify::new(),
            idle: AtomicBool::new(false),
            shared,
        });
        crate::runtime().spawn(spool.clone().run(manager));
        Ok(spool)
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The alive key's TTL, and the period of heartbeats and takeover looks.
    fn alive_ttl(&self) -> Duration {
        self.takeover / 2
    }

    fn beat_every(&self) -> Duration {
        self.takeover / 4
    }

    /// An error's text for the log, without the password.
    fn scrub(&self, e: &redis::RedisError) -> String {
        let t = e.to_string();
        match &self.password {
            Some(p) if !p.is_empty() => t.replace(p.as_str(), "***"),
            _ => t,
        }
    }

    fn publish_bytes(&self, st: &State) {
        self.shared
            .stats
            .spool_bytes
            .store(st.remote_bytes + st.added_since, Relaxed);
    }

    /// The task: write, acknowledge and look for dead processes' entries
    /// until the spool is closed and everything is settled.
    async fn run(self: Arc<Self>, mut con: ConnectionManager) {
        let mut backoff = MIN_BACKOFF;
        let mut next_beat = tokio::time::Instant::now();
        loop {
            // While Redis is down every attempt talks to it (the heartbeat).
            let beat = self.state().down || tokio::time::Instant::now() >= next_beat;
            match self.round(&mut con, beat).await {
                Ok(busy) => {
                    backoff = MIN_BACKOFF;
                    self.came_back();
                    if beat {
                        next_beat = tokio::time::Instant::now() + self.beat_every();
                    }
                    if self.state().closed {
                        self.finish(&mut con).await;
                        return;
                    }
                    if busy {
                        continue;
                    }
                    self.idle.store(true, Relaxed);
                    if !self.has_work() {
                        tokio::select! {
                            _ = self.wake.notified() => {}
                            _ = tokio::time::sleep_until(next_beat) => {}
                        }
                    }
                    self.idle.store(false, Relaxed);
                }
                Err(e) => {
                    self.went_down(&e);
                    if self.state().closed {
                        return;
                    }
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                }
            }
        }
    }

    fn has_work(&self) -> bool {
        let st = self.state();
        !st.pending.is_empty() || !st.settled.is_empty() || !st.to_ack.is_empty() || st.closed
    }

    fn went_down(&self, e: &redis::RedisError) {
        let mut st = self.state();
        if st.down {
            return;
        }
        st.down = true;
        drop(st);
        self.shared.stats.spool_errors.fetch_add(1, Relaxed);
        self.shared.log(
            Level::Error,
            "spool_redis_down",
            format!(
                "spool: Redis at {} is unreachable ({}); delivery goes on from memory (a crash \
                 loses what is accepted meanwhile) and the spool reconnects with backoff. Fix: check \
                 that Redis runs and spool_url points to it",
                self.shown,
                self.scrub(e)
            ),
        );
    }

    fn came_back(&self) {
        let mut st = self.state();
        if !st.down {
            return;
        }
        st.down = false;
        drop(st);
        self.shared.log(
            Level::Info,
            "spool_redis_up",
            format!(
                "spool: Redis at {} is reachable again; the unsettled messages accepted meanwhile \
                 are written to it",
                self.shown
            ),
        );
    }

    /// One round: apply settlements, write the buffer, acknowledge, and on
    /// `beat` refresh this process's alive key and take over dead ones'
    /// entries. Returns whether more work is waiting.
    async fn round(&self, con: &mut ConnectionManager, beat: bool) -> redis::RedisResult<bool> {
        let batch = self.take_batch();
        if !batch.is_empty() {
            if let Err(e) = self.write(con, &batch).await {
                let mut st = self.state();
                st.writing = 0;
                // Back in front, in order: written once Redis is back.
                let rest = std::mem::take(&mut st.pending);
                st.pending = batch;
                st.pending.extend(rest);
                return Err(e);
            }
        }
        self.acknowledge(con).await?;
        if beat {
            self.heartbeat(con).await?;
        }
        let st = self.state();
        Ok(!st.pending.is_empty() || !st.settled.is_empty())
    }

    /// Apply settled ranges (dropping unwritten messages, queueing acks of
    /// written ones) and take the next batch to write.
    fn take_batch(&self) -> Vec<Entry> {
        let mut st = self.state();
        let ranges = std::mem::take(&mut st.settled);
        for (first, last) in ranges {
            let gone: Vec<u64> = st.held.range(first..=last).map(|(s, _)| *s).collect();
            for seq in gone {
                let h = st.held.remove(&seq).expect("present");
                st.added_since = st.added_since.saturating_sub(h.bytes);
                st.to_ack.push(h.id);
            }
            let before = st.pending.len();
            let mut freed = 0;
            st.pending.retain(|e| {
                let keep = e.seq < first || e.seq > last;
                if !keep {
                    freed += e.value.len() as u64 + ENTRY_OVERHEAD;
                }
                keep
            });
            if st.pending.len() != before {
                st.added_since = st.added_since.saturating_sub(freed);
            }
        }
        let n = st.pending.len().min(ROUND_MESSAGES);
        st.writing = n;
        st.pending.drain(..n).collect()
    }

    /// One transaction: make sure the group exists, add the entries, read
    /// them into this consumer's pending list, and measure the stream.
    async fn write(&self, con: &mut ConnectionManager, batch: &[Entry]) -> redis::RedisResult<()> {
        let mut pipe = redis::pipe();
        pipe.atomic().ignore_errors();
        pipe.cmd("XGROUP")
            .arg("CREATE")
            .arg(&self.stream)
            .arg(GROUP)
            .arg("0")
            .arg("MKSTREAM");
        for e in batch {
            pipe.cmd("XADD")
                .arg(&self.stream)
                .arg("*")
                .arg(FIELD)
                .arg(&e.value);
        }
        pipe.cmd("XREADGROUP")
            .arg("GROUP")
            .arg(GROUP)
            .arg(&self.consumer)
            .arg("STREAMS")
            .arg(&self.stream)
            .arg(">");
        pipe.cmd("XLEN").arg(&self.stream);
        let replies: Vec<Value> = pipe.query_async(con).await?;
        let n = batch.len();
        if replies.len() != n + 3 {
            return Err(redis::RedisError::from((
                redis::ErrorKind::Client,
                "unexpected reply to the spool's transaction",
            )));
        }
        let created = matches!(replies[0], Value::Okay);
        let ids: Vec<Option<String>> = replies[1..=n].iter().map(text).collect();
        let read = entries(&replies[n + 1], true);
        let seen = std::mem::replace(&mut self.state().seen_group, true);
        if created && seen {
            self.lost_group();
        }
        let mut st = self.state();
        st.writing = 0;
        for e in batch {
            st.note_size(e.value.len());
        }
        if let Some(len) = int(&replies[n + 2]) {
            st.measured(len);
        }
        let ours: HashSet<&str> = ids.iter().flatten().map(String::as_str).collect();
        for (e, id) in batch.iter().zip(&ids) {
            if let Some(id) = id {
                let bytes = e.value.len() as u64 + ENTRY_OVERHEAD;
                st.held.insert(
                    e.seq,
                    Held {
                        id: id.clone(),
                        bytes,
                    },
                );
            }
        }
        // Entries nobody had read (a transaction cut short by a failover):
        // ours now, delivered like a dead process's.
        for (id, value) in read {
            let Some(id) = id else { continue };
            if ours.contains(id.as_str()) {
                continue;
            }
            match value.as_deref().and_then(decode) {
                Some((stamp, json)) => st.claimed.push((
                    id,
                    Stored {
                        seq: 0,
                        stamp,
                        json,
                    },
                )),
                None => st.to_ack.push(id),
            }
        }
        self.publish_bytes(&st);
        Ok(())
    }

    /// XACK and XDEL settled entries; count those Redis no longer had.
    async fn acknowledge(&self, con: &mut ConnectionManager) -> redis::RedisResult<()> {
        let ids = {
            let mut st = self.state();
            st.acking = !st.to_ack.is_empty();
            std::mem::take(&mut st.to_ack)
        };
        if ids.is_empty() {
            return Ok(());
        }
        let mut pipe = redis::pipe();
        pipe.atomic();
        pipe.cmd("XACK").arg(&self.stream).arg(GROUP).arg(&ids);
        pipe.cmd("XDEL").arg(&self.stream).arg(&ids);
        let res: redis::RedisResult<(i64, i64)> = pipe.query_async(con).await;
        self.state().acking = false;
        let (acked, _deleted) = match res {
            Ok(r) => r,
            Err(e) => {
                let mut st = self.state();
                let rest = std::mem::take(&mut st.to_ack);
                st.to_ack = ids;
                st.to_ack.extend(rest);
                return Err(e);
            }
        };
        let gone = (ids.len() as u64).saturating_sub(acked.max(0) as u64);
        if gone > 0 {
            let known = {
                let mut st = self.state();
                let known = gone.min(st.missing);
                st.missing -= known;
                known
            };
            self.count_lost(gone - known);
        }
        Ok(())
    }

    /// Our own entries that vanished from Redis: still delivered from
    /// memory, but no longer safe from a crash. Counted and logged.
    fn count_lost(&self, n: u64) {
        if n == 0 {
            return;
        }
        self.shared.stats.spool_lost.fetch_add(n, Relaxed);
        self.shared.log(
            Level::Error,
            "spool_redis_lost",
            format!(
                "spool: {n} unsettled messages of this process are gone from Redis at {} (flushed, \
                 evicted, or restarted or failed over without its data); this process still \
                 delivers them from memory, but a crash before then loses them. Fix: give Redis \
                 persistence (appendonly yes) and maxmemory-policy noeviction",
                self.shown
            ),
        );
    }

    /// The consumer group was gone (we just made it again): Redis lost the
    /// stream. What dead processes had left there is lost with it.
    fn lost_group(&self) {
        let st = self.state();
        let others = st.others_pending;
        drop(st);
        self.shared.stats.spool_errors.fetch_add(1, Relaxed);
        self.shared.log(
            Level::Error,
            "spool_redis_flushed",
            format!(
                "spool: Redis at {} lost the spool (flushed, or restarted or failed over without \
                 its data); messages that other processes had spooled there ({others} at the last \
                 look, some delivered since) may be lost. Fix: give Redis persistence \
                 (appendonly yes) and maxmemory-policy noeviction",
                self.shown
            ),
        );
    }

    /// Refresh our alive key, check our pending list, and take over the
    /// entries of consumers whose alive key expired.
    async fn heartbeat(&self, con: &mut ConnectionManager) -> redis::RedisResult<()> {
        let alive = format!("{}{}", self.alive_prefix, self.consumer);
        let mut pipe = redis::pipe();
        pipe.ignore_errors();
        pipe.cmd("SET")
            .arg(&alive)
            .arg(1)
            .arg("PX")
            .arg(self.alive_ttl().as_millis() as u64)
            .ignore();
        pipe.cmd("XPENDING").arg(&self.stream).arg(GROUP);
        pipe.cmd("XLEN").arg(&self.stream);
        let replies: Vec<Value> = pipe.query_async(con).await?;
        let summary = replies.first().cloned().unwrap_or(Value::Nil);
        if let Some(e) = server_error(&summary) {
            if e.contains("NOGROUP") {
                let made: redis::RedisResult<Value> = redis::cmd("XGROUP")
                    .arg("CREATE")
                    .arg(&self.stream)
                    .arg(GROUP)
                    .arg("0")
                    .arg("MKSTREAM")
                    .query_async(con)
                    .await;
                let seen = std::mem::replace(&mut self.state().seen_group, true);
                if matches!(made, Ok(Value::Okay)) && seen {
                    self.lost_group();
                }
                // All our held entries went with it.
                let gone = {
                    let mut st = self.state();
                    let gone = (st.held.len() as u64).saturating_sub(st.missing);
                    st.missing += gone;
                    gone
                };
                self.count_lost(gone);
            }
            return Ok(());
        }
        // [count, min id, max id, [[consumer, count], ...]]
        let parts = items(&summary);
        let mut ours = 0u64;
        let mut others = Vec::new();
        for c in parts.get(3).map(items).unwrap_or(&[]) {
            let pair = items(c);
            let (Some(name), Some(n)) = (pair.first().and_then(text), pair.get(1).and_then(int))
            else {
                continue;
            };
            if name == self.consumer {
                ours = n.max(0) as u64;
            } else {
                others.push((name, n.max(0) as u64));
            }
        }
        let gone = {
            let mut st = self.state();
            st.seen_group = true;
            st.others_pending = others.iter().map(|(_, n)| n).sum();
            if let Some(len) = replies.get(1).and_then(int) {
                st.measured(len);
                self.publish_bytes(&st);
            }
            // Held entries and claimed ones not yet adopted are all in our
            // pending list; fewer there means Redis lost some.
            let expected = st.held.len() as u64 + st.claimed.len() as u64;
            let gone = expected.saturating_sub(ours).saturating_sub(st.missing);
            st.missing += gone;
            gone
        };
        self.count_lost(gone);
        if others.is_empty() {
            return Ok(());
        }
        let mut pipe = redis::pipe();
        for (name, _) in &others {
            pipe.cmd("EXISTS")
                .arg(format!("{}{}", self.alive_prefix, name));
        }
        let exists: Vec<i64> = pipe.query_async(con).await?;
        for ((name, _), alive) in others.iter().zip(exists) {
            if alive == 0 {
                self.take_over(con, name).await?;
            }
        }
        Ok(())
    }

    /// Claim the entries of a dead consumer (as many as the queue has room
    /// for this round); remove the consumer once it has none.
    async fn take_over(&self, con: &mut ConnectionManager, dead: &str) -> redis::RedisResult<()> {
        // Entries the dead consumer read at least this long ago; a second
        // taker racing us finds them just claimed (idle 0) and skips them.
        let min_idle = (self.takeover / 8).as_millis() as u64;
        let budget = self.shared.config.max_queue_bytes as u64 / 2;
        loop {
            if self.shared.stats.queued_bytes.load(Relaxed) > budget {
                return Ok(()); // next round
            }
            let listed: Value = redis::cmd("XPENDING")
                .arg(&self.stream)
                .arg(GROUP)
                .arg("-")
                .arg("+")
                .arg(CLAIM_BATCH)
                .arg(dead)
                .query_async(con)
                .await?;
            let ids: Vec<String> = items(&listed)
                .iter()
                .filter(|e| items(e).get(2).and_then(int).unwrap_or(0) as u64 >= min_idle)
                .filter_map(|e| items(e).first().and_then(text))
                .collect();
            if items(&listed).is_empty() {
                let _: redis::RedisResult<i64> = redis::cmd("XGROUP")
                    .arg("DELCONSUMER")
                    .arg(&self.stream)
                    .arg(GROUP)
                    .arg(dead)
                    .query_async(con)
                    .await;
                return Ok(());
            }
            if ids.is_empty() {
                return Ok(()); // not idle long enough yet
            }
            let claimed: Value = redis::cmd("XCLAIM")
                .arg(&self.stream)
                .arg(GROUP)
                .arg(&self.consumer)
                .arg(min_idle)
                .arg(&ids)
                .query_async(con)
                .await?;
            let got = entries(&claimed, false);
            if got.is_empty() {
                return Ok(()); // claimed by another process just before us
            }
            let mut lost = 0u64;
            {
                let mut st = self.state();
                for (id, value) in got {
                    let Some(id) = id else { continue };
                    match value.as_deref().and_then(decode) {
                        Some((stamp, json)) => {
                            st.note_size(STAMP_BYTES + json.len());
                            st.claimed.push((
                                id,
                                Stored {
                                    seq: 0,
                                    stamp,
                                    json,
                                },
                            ))
                        }
                        None => {
                            lost += 1;
                            st.to_ack.push(id);
                        }
                    }
                }
            }
            self.count_lost(lost);
        }
    }

    /// The spool is closing with everything settled: acknowledge the rest,
    /// and leave the group if nothing of ours is pending.
    async fn finish(&self, con: &mut ConnectionManager) {
        let _ = self.round(con, false).await;
        let clean = {
            let st = self.state();
            st.held.is_empty() && st.pending.is_empty() && st.claimed.is_empty()
        };
        let alive = format!("{}{}", self.alive_prefix, self.consumer);
        let mut pipe = redis::pipe();
        pipe.cmd("DEL").arg(&alive).ignore();
        if clean {
            pipe.cmd("XGROUP")
                .arg("DELCONSUMER")
                .arg(&self.stream)
                .arg(GROUP)
                .arg(&self.consumer)
                .ignore();
        }
        let _: redis::RedisResult<()> = pipe.query_async(con).await;
        self.shared.stats.spool_bytes.store(0, Relaxed);
    }
}

impl SpoolBackend for RedisSpool {
    fn accept(&self, seq: u64, kind: Kind, json: &str) -> Spooled {
        let stamp = Stamp {
            kind: kind.code() as u8,
            at_ms: now_ms(),
            message_id: *uuid::Uuid::new_v4().as_bytes(),
        };
        let value = encode(&stamp, json);
        let bytes = value.len() as u64 + ENTRY_OVERHEAD;
        let mut st = self.state();
        if st.closed {
            return Spooled::Off;
        }
        // While Redis is unreachable its memory is unknown: messages go on
        // from memory (bounded by max_queue_bytes) rather than being dropped.
        if !st.down && st.remote_bytes + st.added_since + bytes > self.max_bytes {
            return Spooled::Full;
        }
        st.added_since += bytes;
        st.pending.push(Entry { seq, value });
        drop(st);
        if self.idle.swap(false, Relaxed) {
            self.wake.notify_one();
        }
        Spooled::Stamped(stamp)
    }

    fn settle(&self, first: u64, last: u64) {
        self.state().settled.push((first, last));
        if self.idle.swap(false, Relaxed) {
            self.wake.notify_one();
        }
    }

    fn adopt(&self, next_seq: &mut dyn FnMut() -> u64) -> Vec<(u64, Stored, Spooled)> {
        let mut st = self.state();
        let claimed = std::mem::take(&mut st.claimed);
        claimed
            .into_iter()
            .map(|(id, mut m)| {
                let seq = next_seq();
                m.seq = seq;
                let bytes = (STAMP_BYTES + m.json.len()) as u64 + ENTRY_OVERHEAD;
                st.held.insert(seq, Held { id, bytes });
                let stamp = m.stamp;
                (seq, m, Spooled::Stamped(stamp))
            })
            .collect()
    }

    fn adopt_every(&self) -> Option<Duration> {
        Some((self.takeover / 8).clamp(Duration::from_millis(10), Duration::from_secs(1)))
    }

    /// Wait (bounded) until the buffer is written and settled messages are
    /// acknowledged: the process is exiting, or the client closing.
    fn commit(&self) {
        let t0 = Instant::now();
        self.wake.notify_one();
        while t0.elapsed() < COMMIT_WAIT {
            let st = self.state();
            let idle = st.pending.is_empty() && st.writing == 0;
            let acked = st.settled.is_empty() && st.to_ack.is_empty() && !st.acking;
            if st.down || (idle && acked) {
                return;
            }
            drop(st);
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    fn is_active(&self) -> bool {
        !self.state().down
    }

    fn close(&self) {
        self.state().closed = true;
        self.wake.notify_one();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_entry_keeps_its_stamp_and_json() {
        let stamp = Stamp {
            kind: 2,
            at_ms: 1_700_000_000_123,
            message_id: [7; 16],
        };
        let v = encode(&stamp, r#"{"userId":"u"}"#);
        assert_eq!(decode(&v), Some((stamp, r#"{"userId":"u"}"#.to_string())));
        assert_eq!(decode(&v[..10]), None);
    }

    #[test]
    fn replies_of_xreadgroup_and_xclaim_are_read() {
        let bulk = |s: &[u8]| Value::BulkString(s.to_vec());
        let entry = |id: &str, v: &[u8]| {
            Value::Array(vec![
                bulk(id.as_bytes()),
                Value::Array(vec![bulk(b"m"), bulk(v)]),
            ])
        };
        let read = Value::Array(vec![Value::Array(vec![
            bulk(b"segment:spool:x"),
            Value::Array(vec![entry("1-0", b"a"), entry("1-1", b"b")]),
        ])]);
        assert_eq!(
            entries(&read, true),
            vec![
                (Some("1-0".into()), Some(b"a".to_vec())),
                (Some("1-1".into()), Some(b"b".to_vec()))
            ]
        );
        let claimed = Value::Array(vec![entry("2-0", b"c"), Value::Nil]);
        assert_eq!(
            entries(&claimed, false),
            vec![(Some("2-0".into()), Some(b"c".to_vec())), (None, None)]
        );
        assert!(entries(&Value::Nil, true).is_empty());
    }
}
