//! The Redis spool (`spool_url`): accepted messages are kept in a Redis
//! stream that every process sending to the same source (write key + host)
//! shares, so a process that dies — a container killed or rescheduled,
//! its disk gone with it — loses nothing: a live one takes its messages over.
//!
//! Layout, under a keyed digest of host and write key (HMAC-SHA256, as
//! the disk spool's header; never the key itself):
//! - stream `segment:spool:<digest>` with one consumer group `segment`;
//!   each entry packs the messages one round accepted: for each, its
//!   length, kind, time accepted, messageId and the JSON as given; in field
//!   `z` LZ4-compressed (size first), as written since 2026-12, or in field
//!   `m` as is (earlier entries, still read);
//! - `segment:spool:<digest>:alive:<consumer>`, set with a TTL of half
//!   `spool_takeover_ms` and refreshed every quarter by each live process.
//!
//! `accept` runs on the caller's thread and only copies the message into a
//! buffer. This spool's task (on the client runtime) writes the buffer as
//! one entry per round, in one transaction — XGROUP CREATE (a no-op unless
//! Redis lost the group), XADD, XREADGROUP `>` — so the entry lands in this
//! process's pending list at once and no other process delivers it while
//! this one lives. An entry whose messages are all settled is XACKed and
//! XDELed. The entries of consumers whose alive key has expired are
//! XCLAIMed and handed to the worker, which delivers their messages with
//! their original messageId (those the dead process had delivered already
//! are sent again with it: Segment de-duplicates them).
//!
//! Redis is never allowed to take the store down: while it is unreachable
//! messages are delivered from memory (logged once; written to Redis when it
//! is back, if still unsettled), and what it loses (a flush, a failover to a
//! replica without the data) is counted and logged.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{ConnectionAddr, Value};
use tokio::sync::Notify;

use super::backend::SpoolBackend;
use super::format;
use super::{Spooled, Stamp, Stored};
use crate::batch::MESSAGE_OVERHEAD;
use crate::log::Level;
use crate::message::Kind;
use crate::shared::Shared;

const GROUP: &str = "segment";
/// An entry's records as they are (entries of earlier versions).
const FIELD_PLAIN: &str = "m";
/// An entry's records LZ4-compressed, their size first: messages of one
/// store repeat their keys and ids, so Redis holds several times less per
/// outage hour and each round sends (and XREADGROUP returns) that much less.
const FIELD_LZ4: &str = "z";
/// Largest records of one entry a compressed value may claim (ENTRY_BYTES
/// plus one message over it): a corrupt size is not allocated.
const MAX_ENTRY_RECORDS: usize = 2 * ENTRY_BYTES;
/// Bytes of messages packed into one entry at most (a burst takes several
/// rounds; one message larger than this gets an entry of its own).
const ENTRY_BYTES: usize = 256 * 1024;
/// Entries claimed from a dead consumer per command.
const CLAIM_BATCH: usize = 100;
/// Backoff between attempts while Redis is unreachable.
const MIN_BACKOFF: Duration = Duration::from_millis(200);
const MAX_BACKOFF: Duration = Duration::from_secs(10);
/// Rounds follow each other at most this often while messages arrive (a
/// group commit: a burst is written in a few large entries, not in many
/// small ones that each cost a transaction).
const ROUND_EVERY: Duration = Duration::from_millis(1);
/// How long `commit` (process exit) waits for the buffer to be written.
const COMMIT_WAIT: Duration = Duration::from_millis(500);
/// A packed message: length (u32 LE) of what follows, then kind, time (ms,
/// i64 LE), messageId, and the JSON.
const STAMP_BYTES: usize = 1 + 8 + 16;
const RECORD_HEAD: usize = 4 + STAMP_BYTES;
/// Redis's own memory per entry beyond its value, measured on Redis 7.0
/// (INFO used_memory): about 25 bytes in the stream and 90 in the consumer
/// group's pending lists; rounded up. (MEMORY USAGE estimates the pending
/// lists several times higher, so the bound does not ask it.)
const ENTRY_OVERHEAD: u64 = 128;

/// Accepted messages not yet written, their records packed back to back in
/// entry-sized buffers: `accept` runs on the caller's JS thread, where an
/// allocation per message (freed later by another thread) costs more than
/// the copy. A round takes the front buffer whole, so neither side ever
/// moves what is left (one growing buffer cost a copy of the whole backlog
/// per round, under the lock `accept` waits on, once a burst outran Redis).
#[derive(Default)]
struct Pending {
    chunks: VecDeque<Chunk>,
    /// Buffers of written entries, for reuse: fresh memory costs the
    /// caller's thread page faults.
    spare: Vec<Vec<u8>>,
    /// Bytes of the records not settled.
    live: u64,
}

/// One entry's records: at most ENTRY_BYTES, or a single larger record.
struct Chunk {
    bytes: Vec<u8>,
    /// Per record, in seq order (accepted under the inbox lock): seq,
    /// length, and whether it was settled before being written (skipped).
    recs: Vec<(u64, usize, bool)>,
}

/// Buffers kept for reuse (each ENTRY_BYTES).
const SPARE_BUFFERS: usize = 4;

/// Records taken by one round: the entry's value, and each record's seq and length.
struct Batch {
    value: Vec<u8>,
    recs: Vec<(u64, usize)>,
}

impl Pending {
    fn push(&mut self, seq: u64, stamp: &Stamp, json: &str) -> u64 {
        let len = RECORD_HEAD + json.len();
        let fits = self
            .chunks
            .back()
            .is_some_and(|c| c.bytes.len() + len <= ENTRY_BYTES);
        if !fits {
            let bytes = self
                .spare
                .pop()
                .unwrap_or_else(|| Vec::with_capacity(ENTRY_BYTES));
            self.chunks.push_back(Chunk {
                bytes,
                recs: Vec::new(),
            });
        }
        let chunk = self.chunks.back_mut().expect("a chunk was just ensured");
        encode_into(&mut chunk.bytes, stamp, json);
        chunk.recs.push((seq, len, false));
        self.live += len as u64;
        len as u64
    }

    fn is_empty(&self) -> bool {
        self.chunks.is_empty()
    }

    /// Delivered before being written: not written at all. Returns the bytes freed.
    fn settle(&mut self, first: u64, last: u64) -> u64 {
        let mut freed = 0;
        for c in &mut self.chunks {
            if c.recs.last().is_none_or(|r| r.0 < first) {
                continue;
            }
            if c.recs[0].0 > last {
                break;
            }
            let from = c.recs.partition_point(|r| r.0 < first);
            for r in &mut c.recs[from..] {
                if r.0 > last {
                    break;
                }
                if !r.2 {
                    r.2 = true;
                    freed += r.1 as u64;
                }
            }
        }
        self.live -= freed;
        freed
    }

    /// The next entry (the front buffer), without the settled records.
    fn take(&mut self) -> Batch {
        let Some(Chunk { bytes, recs }) = self.chunks.pop_front() else {
            return Batch {
                value: Vec::new(),
                recs: Vec::new(),
            };
        };
        let kept: Vec<(u64, usize)> = recs
            .iter()
            .filter(|r| !r.2)
            .map(|&(seq, len, _)| (seq, len))
            .collect();
        let unsettled: usize = kept.iter().map(|r| r.1).sum();
        self.live -= unsettled as u64;
        let value = if unsettled == bytes.len() {
            bytes
        } else {
            let mut value = Vec::with_capacity(unsettled);
            let mut at = 0;
            for &(_, len, settled) in &recs {
                if !settled {
                    value.extend_from_slice(&bytes[at..at + len]);
                }
                at += len;
            }
            self.recycle(bytes);
            value
        };
        Batch { value, recs: kept }
    }

    /// A written entry's buffer, kept for the next records.
    fn recycle(&mut self, mut bytes: Vec<u8>) {
        if self.spare.len() < SPARE_BUFFERS && bytes.capacity() == ENTRY_BYTES {
            bytes.clear();
            self.spare.push(bytes);
        }
    }

    /// A batch that could not be written, back in front (Redis is down).
    fn put_back(&mut self, batch: Batch) {
        self.live += batch.value.len() as u64;
        self.chunks.push_front(Chunk {
            bytes: batch.value,
            recs: batch
                .recs
                .into_iter()
                .map(|(seq, len)| (seq, len, false))
                .collect(),
        });
    }
}

/// A stream entry of ours not yet acknowledged.
struct Held {
    /// Its messages not yet settled.
    remaining: usize,
}

struct State {
    /// Accepted, not yet written (the next rounds').
    pending: Pending,
    /// Taken out of `pending` by the round in progress.
    writing: usize,
    /// Unsettled messages written: seq -> the id of their entry.
    seqs: BTreeMap<u64, Arc<str>>,
    /// Our entries in Redis, by id.
    held: HashMap<Arc<str>, Held>,
    /// Settled ranges not yet applied.
    settled: Vec<(u64, u64)>,
    /// Entry ids to XACK/XDEL (kept across a failed round).
    to_ack: Vec<Arc<str>>,
    /// An XACK/XDEL is on its way.
    acking: bool,
    /// Entries claimed from dead processes, for the worker's next `adopt`.
    claimed: Vec<(Arc<str>, Vec<Stored>)>,
    /// The stream's size at the last round (its length times the average
    /// entry), and the bytes accepted since: together, what
    /// `max_spool_bytes` is held to.
    remote_bytes: u64,
    added_since: u64,
    /// Entries seen (written or claimed): count and bytes, for the average.
    sizes: (u64, u64),
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
        self.added_since = self.pending.live;
    }

    /// Our entries `gone` vanished from Redis: stop tracking them; returns
    /// how many unsettled messages they held.
    fn forget(&mut self, gone: &HashSet<Arc<str>>) -> u64 {
        let mut lost = 0;
        for id in gone {
            if let Some(h) = self.held.remove(id) {
                lost += h.remaining as u64;
            }
        }
        self.seqs.retain(|_, id| !gone.contains(id));
        lost
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

/// A message's record in an entry, appended to `v`.
fn encode_into(v: &mut Vec<u8>, stamp: &Stamp, json: &str) {
    v.extend_from_slice(&((STAMP_BYTES + json.len()) as u32).to_le_bytes());
    v.push(stamp.kind);
    v.extend_from_slice(&stamp.at_ms.to_le_bytes());
    v.extend_from_slice(&stamp.message_id);
    v.extend_from_slice(json.as_bytes());
}

/// The messages of an entry; reading stops at a record that does not
/// check out (counted by the caller as lost).
fn decode(mut value: &[u8]) -> (Vec<Stored>, bool) {
    let mut out = Vec::new();
    while !value.is_empty() {
        let Some(len) = value
            .get(..4)
            .map(|b| u32::from_le_bytes(b.try_into().unwrap()) as usize)
        else {
            return (out, false);
        };
        let Some(body) = value.get(4..4 + len).filter(|b| b.len() >= STAMP_BYTES) else {
            return (out, false);
        };
        let Ok(json) = String::from_utf8(body[STAMP_BYTES..].to_vec()) else {
            return (out, false);
        };
        let stamp = Stamp {
            kind: body[0],
            at_ms: i64::from_le_bytes(body[1..9].try_into().unwrap()),
            message_id: body[9..25].try_into().unwrap(),
        };
        out.push(Stored {
            seq: 0,
            stamp,
            json,
        });
        value = &value[4 + len..];
    }
    (out, true)
}

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

/// An entry's value as Redis holds it.
#[derive(Debug, PartialEq)]
enum Body {
    Plain(Vec<u8>),
    Lz4(Vec<u8>),
}

impl Body {
    /// Bytes Redis holds for it.
    fn stored_len(&self) -> usize {
        match self {
            Body::Plain(v) | Body::Lz4(v) => v.len(),
        }
    }

    /// Its messages (see `decode`); a value that does not decompress gives none, not whole.
    fn messages(&self) -> (Vec<Stored>, bool) {
        match self {
            Body::Plain(v) => decode(v),
            Body::Lz4(v) => {
                let size = v
                    .get(..4)
                    .map(|b| u32::from_le_bytes(b.try_into().unwrap()) as usize);
                if size.is_none_or(|n| n > MAX_ENTRY_RECORDS) {
                    return (Vec::new(), false);
                }
                match lz4_flex::block::decompress_size_prepended(v) {
                    Ok(records) => decode(&records),
                    Err(_) => (Vec::new(), false),
                }
            }
        }
    }
}

/// Entries of an XREADGROUP/XCLAIM reply: (id, value of field `z` or `m`).
/// XREADGROUP nests them under the stream's name; XCLAIM lists them, with
/// nil for entries deleted meanwhile (returned as `None`).
fn entries(v: &Value, nested: bool) -> Vec<(Option<String>, Option<Body>)> {
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
            let value = fields.chunks(2).find_map(|kv| {
                let Some(Value::BulkString(b)) = kv.get(1) else {
                    return None;
                };
                match kv.first().and_then(text).as_deref() {
                    Some(FIELD_LZ4) => Some(Body::Lz4(b.clone())),
                    Some(FIELD_PLAIN) => Some(Body::Plain(b.clone())),
                    _ => None,
                }
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
        // The disk spool's keyed digest (HMAC-SHA256 under the write key): the
        // key name tells nothing about the key. Half of it is plenty to
        // tell destinations apart.
        let digest: String = format::digest(
            &config.host,
            config.write_key.as_deref().unwrap_or_default(),
        )[..16]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
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
                pending: Pending::default(),
                writing: 0,
                seqs: BTreeMap::new(),
                held: HashMap::new(),
                settled: Vec::new(),
                to_ack: Vec::new(),
                acking: false,
                claimed: Vec::new(),
                remote_bytes: 0,
                added_since: 0,
                sizes: (0, 0),
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
            let began = tokio::time::Instant::now();
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
                        tokio::time::sleep_until(began + ROUND_EVERY).await;
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
        if !batch.recs.is_empty() {
            if let Err(e) = self.write(con, &batch).await {
                let mut st = self.state();
                st.writing = 0;
                // Back in front, in order: written once Redis is back.
                st.pending.put_back(batch);
                return Err(e);
            }
            self.state().pending.recycle(batch.value);
        }
        self.acknowledge(con).await?;
        if beat {
            self.heartbeat(con).await?;
        }
        let st = self.state();
        Ok(!st.pending.is_empty() || !st.settled.is_empty())
    }

    /// Apply settled ranges (dropping unwritten messages, queueing acks of
    /// entries whose messages are all settled) and take the next entry's
    /// messages.
    fn take_batch(&self) -> Batch {
        let mut st = self.state();
        for (first, last) in std::mem::take(&mut st.settled) {
            let done: Vec<(u64, Arc<str>)> = st
                .seqs
                .range(first..=last)
                .map(|(s, id)| (*s, id.clone()))
                .collect();
            for (seq, id) in done {
                st.seqs.remove(&seq);
                let finished = st.held.get_mut(&id).is_some_and(|h| {
                    h.remaining -= 1;
                    h.remaining == 0
                });
                if finished {
                    st.held.remove(&id);
                    st.to_ack.push(id);
                }
            }
            let freed = st.pending.settle(first, last);
            st.added_since = st.added_since.saturating_sub(freed);
        }
        let batch = st.pending.take();
        st.writing = batch.recs.len();
        batch
    }

    /// One transaction: make sure the group exists, add the entry, read it
    /// into this consumer's pending list, and measure the stream.
    async fn write(&self, con: &mut ConnectionManager, batch: &Batch) -> redis::RedisResult<()> {
        let value = &lz4_flex::block::compress_prepend_size(&batch.value);
        let mut pipe = redis::pipe();
        pipe.atomic().ignore_errors();
        pipe.cmd("XGROUP")
            .arg("CREATE")
            .arg(&self.stream)
            .arg(GROUP)
            .arg("0")
            .arg("MKSTREAM");
        pipe.cmd("XADD")
            .arg(&self.stream)
            .arg("*")
            .arg(FIELD_LZ4)
            .arg(value);
        pipe.cmd("XREADGROUP")
            .arg("GROUP")
            .arg(GROUP)
            .arg(&self.consumer)
            .arg("STREAMS")
            .arg(&self.stream)
            .arg(">");
        pipe.cmd("XLEN").arg(&self.stream);
        let replies: Vec<Value> = pipe.query_async(con).await?;
        let [created, added, read, len] = replies.as_slice() else {
            return Err(redis::RedisError::from((
                redis::ErrorKind::Client,
                "unexpected reply to the spool's transaction",
            )));
        };
        let seen = std::mem::replace(&mut self.state().seen_group, true);
        if matches!(created, Value::Okay) && seen {
            self.lost_group();
        }
        let Some(id) = text(added).map(Arc::<str>::from) else {
            return Err(redis::RedisError::from((
                redis::ErrorKind::Client,
                "the spool's XADD was refused",
                server_error(added).unwrap_or_default(),
            )));
        };
        let mut st = self.state();
        st.writing = 0;
        st.note_size(value.len());
        for &(seq, _) in &batch.recs {
            st.seqs.insert(seq, id.clone());
        }
        st.held.insert(
            id.clone(),
            Held {
                remaining: batch.recs.len(),
            },
        );
        // Entries nobody had read (a transaction cut short by a failover):
        // ours now, delivered like a dead process's.
        for (other, value) in entries(read, true) {
            let Some(other) = other.map(Arc::<str>::from) else {
                continue;
            };
            if other == id {
                continue;
            }
            let (messages, _) = value.map(|v| v.messages()).unwrap_or_default();
            st.claimed.push((other, messages));
        }
        if let Some(len) = int(len) {
            st.measured(len);
        }
        self.publish_bytes(&st);
        Ok(())
    }

    /// XACK and XDEL the entries whose messages are all settled.
    async fn acknowledge(&self, con: &mut ConnectionManager) -> redis::RedisResult<()> {
        let ids = {
            let mut st = self.state();
            st.acking = !st.to_ack.is_empty();
            std::mem::take(&mut st.to_ack)
        };
        if ids.is_empty() {
            return Ok(());
        }
        let names: Vec<&str> = ids.iter().map(|id| &**id).collect();
        let mut pipe = redis::pipe();
        pipe.atomic();
        pipe.cmd("XACK").arg(&self.stream).arg(GROUP).arg(&names);
        pipe.cmd("XDEL").arg(&self.stream).arg(&names);
        let res: redis::RedisResult<(i64, i64)> = pipe.query_async(con).await;
        let mut st = self.state();
        st.acking = false;
        if let Err(e) = res {
            let rest = std::mem::take(&mut st.to_ack);
            st.to_ack = ids;
            st.to_ack.extend(rest);
            return Err(e);
        }
        Ok(())
    }

    /// Unsettled messages of this process that vanished from Redis: still
    /// delivered from memory, but no longer safe from a crash.
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
        let others = self.state().others_pending;
        self.shared.stats.spool_errors.fetch_add(1, Relaxed);
        self.shared.log(
            Level::Error,
            "spool_redis_flushed",
            format!(
                "spool: Redis at {} lost the spool (flushed, or restarted or failed over without \
                 its data); what other processes had spooled there ({others} entries at the last \
                 look, some delivered since) may be lost. Fix: give Redis persistence \
                 (appendonly yes) and maxmemory-policy noeviction",
                self.shown
            ),
        );
    }

    /// Refresh our alive key, check that our entries are still in Redis,
    /// and take over the entries of consumers whose alive key expired.
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
            if !e.contains("NOGROUP") {
                return Ok(());
            }
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
            // All our entries went with it.
            let lost = {
                let mut st = self.state();
                let all: HashSet<Arc<str>> = st.held.keys().cloned().collect();
                st.forget(&all)
            };
            self.count_lost(lost);
            return Ok(());
        }
        // [count, min id, max id, [[consumer, count], ...]]
        let mut ours = 0u64;
        let mut others = Vec::new();
        for c in items(&summary).get(3).map(items).unwrap_or(&[]) {
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
        let expected = {
            let mut st = self.state();
            st.seen_group = true;
            st.others_pending = others.iter().map(|(_, n)| n).sum();
            if let Some(len) = replies.get(1).and_then(int) {
                st.measured(len);
                self.publish_bytes(&st);
            }
            // Our entries and the claimed ones not yet adopted are all in
            // our pending list.
            st.held.len() as u64 + st.claimed.len() as u64
        };
        if ours < expected {
            self.find_lost(con).await?;
        }
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

    /// Fewer entries in our pending list than we hold: find which are gone
    /// (flushed, evicted, a failover), count their messages as lost.
    async fn find_lost(&self, con: &mut ConnectionManager) -> redis::RedisResult<()> {
        let listed: Value = redis::cmd("XPENDING")
            .arg(&self.stream)
            .arg(GROUP)
            .arg("-")
            .arg("+")
            .arg(usize::MAX >> 1)
            .arg(&self.consumer)
            .query_async(con)
            .await?;
        let present: HashSet<String> = items(&listed)
            .iter()
            .filter_map(|e| items(e).first().and_then(text))
            .collect();
        let lost = {
            let mut st = self.state();
            let gone: HashSet<Arc<str>> = st
                .held
                .keys()
                .filter(|id| !present.contains(&***id))
                .cloned()
                .collect();
            st.claimed.retain(|(id, _)| present.contains(&**id));
            st.forget(&gone)
        };
        self.count_lost(lost);
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
            let claimed: u64 = self
                .state()
                .claimed
                .iter()
                .flat_map(|(_, ms)| ms.iter().map(|m| (m.json.len() + MESSAGE_OVERHEAD) as u64))
                .sum();
            if self.shared.stats.queued_bytes.load(Relaxed) + claimed > budget {
                return Ok(()); // the rest at a later round, once these are delivered
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
            let ids: Vec<String> = items(&listed)
                .iter()
                .filter(|e| items(e).get(2).and_then(int).unwrap_or(0) as u64 >= min_idle)
                .filter_map(|e| items(e).first().and_then(text))
                .collect();
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
            let got: Vec<(String, Body)> = entries(&claimed, false)
                .into_iter()
                .filter_map(|(id, v)| Some((id?, v.unwrap_or(Body::Plain(Vec::new())))))
                .collect();
            if got.is_empty() {
                return Ok(()); // claimed by another process just before us
            }
            let mut st = self.state();
            for (id, value) in got {
                st.note_size(value.stored_len());
                let (messages, _) = value.messages();
                st.claimed.push((Arc::from(id), messages));
            }
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
        let len = (RECORD_HEAD + json.len()) as u64;
        let mut st = self.state();
        if st.closed {
            return Spooled::Off;
        }
        // While Redis is unreachable its memory is unknown: messages go on
        // from memory (bounded by max_queue_bytes) rather than being dropped.
        if !st.down && st.remote_bytes + st.added_since + len + ENTRY_OVERHEAD > self.max_bytes {
            return Spooled::Full;
        }
        st.added_since += st.pending.push(seq, &stamp, json);
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

    /// Claimed entries' messages, held under new seqs; an entry without
    /// any (damaged) is acknowledged at once.
    fn adopt(&self, next_seq: &mut dyn FnMut() -> u64) -> Vec<(u64, Stored, Spooled)> {
        let mut st = self.state();
        let mut out = Vec::new();
        for (id, messages) in std::mem::take(&mut st.claimed) {
            if messages.is_empty() {
                st.to_ack.push(id);
                continue;
            }
            st.held.insert(
                id.clone(),
                Held {
                    remaining: messages.len(),
                },
            );
            for mut m in messages {
                let seq = next_seq();
                m.seq = seq;
                st.seqs.insert(seq, id.clone());
                let stamp = m.stamp;
                out.push((seq, m, Spooled::Stamped(stamp)));
            }
        }
        out
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
    fn an_entry_packs_messages_with_their_stamps() {
        let stamp = |k| Stamp {
            kind: k,
            at_ms: 1_700_000_000_123,
            message_id: [k; 16],
        };
        let mut v = Vec::new();
        encode_into(&mut v, &stamp(2), r#"{"userId":"u"}"#);
        encode_into(&mut v, &stamp(0), r#"{"event":"E"}"#);
        let (messages, whole) = decode(&v);
        assert!(whole);
        let got: Vec<(Stamp, &str)> = messages
            .iter()
            .map(|m| (m.stamp, m.json.as_str()))
            .collect();
        assert_eq!(
            got,
            vec![
                (stamp(2), r#"{"userId":"u"}"#),
                (stamp(0), r#"{"event":"E"}"#)
            ]
        );
        // A cut entry: the whole records before the cut.
        let (messages, whole) = decode(&v[..v.len() - 3]);
        assert!(!whole);
        assert_eq!(messages.len(), 1);
    }

    #[test]
    fn pending_records_skip_the_settled_and_go_back_in_order() {
        let stamp = |k| Stamp {
            kind: k,
            at_ms: 1,
            message_id: [k; 16],
        };
        let json = |n: u64| format!(r#"{{"n":{n}}}"#);
        let mut p = Pending::default();
        for seq in 10..20 {
            p.push(seq, &stamp(seq as u8), &json(seq));
        }
        let all = p.live;
        // 12..=14 delivered before they were written: not written at all.
        let freed = p.settle(12, 14);
        assert_eq!(freed, 3 * (RECORD_HEAD + json(12).len()) as u64);
        assert_eq!(p.live, all - freed);
        let batch = p.take();
        let seqs: Vec<u64> = batch.recs.iter().map(|r| r.0).collect();
        assert_eq!(seqs, vec![10, 11, 15, 16, 17, 18, 19]);
        let (messages, whole) = decode(&batch.value);
        assert!(whole);
        let got: Vec<String> = messages.into_iter().map(|m| m.json).collect();
        assert_eq!(got, seqs.iter().map(|&s| json(s)).collect::<Vec<_>>());
        assert!(p.is_empty() && p.live == 0);
        // Redis down: the batch goes back in front of what came since.
        p.push(20, &stamp(20), &json(20));
        p.put_back(batch);
        let held: usize = p.chunks.iter().map(|c| c.bytes.len()).sum();
        assert_eq!(p.live, held as u64);
        let again = p.take();
        let seqs: Vec<u64> = again.recs.iter().map(|r| r.0).collect();
        assert_eq!(seqs, vec![10, 11, 15, 16, 17, 18, 19]);
        assert_eq!(decode(&again.value).0.len(), 7);
        let next = p.take();
        assert_eq!(next.recs.iter().map(|r| r.0).collect::<Vec<_>>(), vec![20]);
        assert!(p.is_empty() && p.live == 0);
    }

    #[test]
    fn a_backlog_fills_entry_sized_buffers_taken_whole_and_reused() {
        let stamp = Stamp {
            kind: 0,
            at_ms: 1,
            message_id: [0; 16],
        };
        let json = format!(r#"{{"pad":"{}"}}"#, "x".repeat(1500));
        let per = ENTRY_BYTES / (RECORD_HEAD + json.len());
        let mut p = Pending::default();
        for seq in 0..(3 * per as u64) {
            p.push(seq, &stamp, &json);
        }
        assert_eq!(p.chunks.len(), 3);
        let first = p.take();
        assert_eq!(first.recs.len(), per);
        assert_eq!(first.recs[0].0, 0);
        // Written: its buffer takes the next records, no new allocation.
        let at = first.value.as_ptr();
        p.recycle(first.value);
        p.push(3 * per as u64, &stamp, &json);
        assert_eq!(p.chunks.back().unwrap().bytes.as_ptr(), at);
        // Settled across two buffers before they were written: skipped in both.
        let freed = p.settle(2 * per as u64 - 1, 2 * per as u64);
        assert_eq!(freed, 2 * (RECORD_HEAD + json.len()) as u64);
        assert_eq!(p.take().recs.len(), per - 1);
        let third = p.take();
        assert_eq!(third.recs.len(), per - 1);
        assert_eq!(third.recs[0].0, 2 * per as u64 + 1);
        assert_eq!(decode(&third.value).0.len(), per - 1);
    }

    #[test]
    fn an_entry_holds_at_most_entry_bytes_but_at_least_one_record() {
        let stamp = Stamp {
            kind: 0,
            at_ms: 1,
            message_id: [0; 16],
        };
        let mut p = Pending::default();
        let big = "x".repeat(ENTRY_BYTES);
        p.push(1, &stamp, &big);
        p.push(2, &stamp, "{}");
        p.push(3, &stamp, "{}");
        assert_eq!(p.take().recs.len(), 1);
        assert_eq!(p.take().recs.len(), 2);
        assert!(p.take().recs.is_empty());
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
                (Some("1-0".into()), Some(Body::Plain(b"a".to_vec()))),
                (Some("1-1".into()), Some(Body::Plain(b"b".to_vec())))
            ]
        );
        let claimed = Value::Array(vec![entry("2-0", b"c"), Value::Nil]);
        assert_eq!(
            entries(&claimed, false),
            vec![
                (Some("2-0".into()), Some(Body::Plain(b"c".to_vec()))),
                (None, None)
            ]
        );
        assert!(entries(&Value::Nil, true).is_empty());
    }

    #[test]
    fn compressed_entries_read_back_and_plain_ones_still_do() {
        let stamp = |k| Stamp {
            kind: k,
            at_ms: 7,
            message_id: [k; 16],
        };
        let mut records = Vec::new();
        for n in 0..50u8 {
            encode_into(
                &mut records,
                &stamp(n),
                r#"{"event":"Order Completed","userId":"cus_01"}"#,
            );
        }
        let z = lz4_flex::block::compress_prepend_size(&records);
        assert!(
            z.len() * 5 < records.len(),
            "repeated keys compress: {} of {}",
            z.len(),
            records.len()
        );
        let reply = Value::Array(vec![
            Value::Array(vec![
                Value::BulkString(b"1-0".to_vec()),
                Value::Array(vec![
                    Value::BulkString(b"z".to_vec()),
                    Value::BulkString(z.clone()),
                ]),
            ]),
            Value::Array(vec![
                Value::BulkString(b"1-1".to_vec()),
                Value::Array(vec![
                    Value::BulkString(b"m".to_vec()),
                    Value::BulkString(records.clone()),
                ]),
            ]),
        ]);
        let got = entries(&reply, false);
        assert_eq!(got[0].1.as_ref().map(Body::stored_len), Some(z.len()));
        for (_, body) in &got {
            let (messages, whole) = body.as_ref().unwrap().messages();
            assert!(whole);
            assert_eq!(messages.len(), 50);
            assert_eq!(messages[49].stamp, stamp(49));
        }
        // A damaged value, or one claiming a size over the bound: no messages, not whole, no huge allocation.
        let mut cut = z.clone();
        cut.truncate(z.len() / 2);
        assert!(!Body::Lz4(cut).messages().1);
        let mut huge = z;
        huge[..4].copy_from_slice(&u32::MAX.to_le_bytes());
        assert_eq!(Body::Lz4(huge).messages(), (Vec::new(), false));
    }
}
