//! HTTP delivery of one batch to `{host}/v1/batch`: waiting for a request
//! slot and for the host to pause, then sending with retries.

use std::collections::BTreeMap;
use std::io::Write;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use time::OffsetDateTime;
use tokio::sync::{oneshot, watch, Semaphore, SemaphorePermit};
use tokio::time::Instant as TokioInstant;

use crate::batch::{self, Batch};
use crate::config::{Config, MAX_BATCH_BYTES};
use crate::log::{Level, LogFn};
use crate::message::iso_timestamp;
use crate::redact::Redactor;
use crate::retry::{classify, parse_retry_after, Backoff, Verdict};
use crate::stats::Stats;

/// How a batch ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Delivered,
    /// Given up: `reason` is the counter name (`http_400`, `retries_exhausted`…).
    Failed {
        reason: String,
        detail: String,
    },
}

/// Result of one request.
#[derive(Debug)]
enum Attempt {
    Delivered,
    Retry {
        why: String,
        retry_after: Option<Duration>,
        /// A 429: the server limits the write key, not this batch.
        rate_limited: bool,
    },
    Final {
        reason: String,
        why: String,
    },
}

/// What is read of a response body at most: enough for an error message and
/// for a short body to end, so that its connection goes back to the pool.
/// A longer (or endless) body is left unread and its connection closed.
const MAX_RESPONSE_BYTES: usize = 64 * 1024;
/// Characters of a response body quoted in an error.
const SNIPPET_CHARS: usize = 200;

/// What the delivery tasks of one client share with its worker: the request
/// slots (`max_in_flight`), two flags the worker sets, the server's rate
/// limit, and the batches waiting for their first request.
pub struct Gate {
    slots: Semaphore,
    /// True while a bounded shutdown flush waits: batches in retry backoff
    /// then retry at once and often, instead of sleeping past its deadline.
    hurry: watch::Sender<bool>,
    /// True while the host is handing over a burst (see the worker's
    /// `update_busy`): requests then wait for it to pause, so that their CPU
    /// (ours, the kernel's, TLS) does not compete with the host's thread.
    host_busy: watch::Sender<bool>,
    /// Until when the server asked for no requests (a 429 with
    /// `Retry-After`): a rate limit applies to the write key, so every
    /// batch of the client waits, not only the one that got the 429.
    paused_until: Mutex<Option<TokioInstant>>,
    /// Batches waiting for their first request (no slot free, the client
    /// rate-limited, the host busy), by first seq. While the server pushes
    /// back, a request about to go takes along as many of them as fit in it
    /// (`take_along`): a backlog then drains in few large requests, and each
    /// rate-limit pause or failed request costs less.
    waiting: Mutex<BTreeMap<u64, Waiting>>,
    /// Until when the server counts as pushing back: `STRAIN_WINDOW` after
    /// its last retryable answer (429, 5xx, timeout, reset).
    strained_until: Mutex<Option<TokioInstant>>,
}

/// How long after the server's last retryable answer waiting batches are
/// still merged. A healthy server gets flush_at-sized requests: merged
/// 500 KB requests in a burst made the store's event loop stall longer in
/// the bench (p99 26-41 ms unmerged, 43-52 ms merged, same machine).
const STRAIN_WINDOW: Duration = Duration::from_secs(30);

/// A batch in `Gate::waiting`; `taken` tells its task that another request
/// took it along, handing it where that request's outcome will come.
struct Waiting {
    batch: Arc<Batch>,
    taken: oneshot::Sender<oneshot::Receiver<Outcome>>,
}

impl Gate {
    pub fn new(max_in_flight: usize) -> Gate {
        Gate {
            slots: Semaphore::new(max_in_flight),
            hurry: watch::Sender::new(false),
            host_busy: watch::Sender::new(false),
            paused_until: Mutex::new(None),
            waiting: Mutex::new(BTreeMap::new()),
            strained_until: Mutex::new(None),
        }
    }

    /// The server answered with a retryable failure: merge for a while.
    fn strain(&self) {
        let until = TokioInstant::now() + STRAIN_WINDOW;
        *self
            .strained_until
            .lock()
            .unwrap_or_else(|e| e.into_inner()) = Some(until);
    }

    fn strained(&self) -> bool {
        let s = *self
            .strained_until
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        s.is_some_and(|s| s > TokioInstant::now())
    }

    fn waiting(&self) -> std::sync::MutexGuard<'_, BTreeMap<u64, Waiting>> {
        self.waiting.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// While the server pushes back, add waiting batches, oldest first, to a
    /// request about to go, as long as its body stays within Segment's 500 KB.
    fn take_along(&self, lot: &mut Lot) {
        if !self.strained() {
            return;
        }
        let mut waiting = self.waiting();
        while let Some(entry) = waiting.first_entry() {
            if lot.body_bytes + entry.get().batch.body_bytes() - batch::ENVELOPE_BYTES
                > MAX_BATCH_BYTES
            {
                break;
            }
            let w = entry.remove();
            let (tx, rx) = oneshot::channel();
            // Its task is gone if the worker gave the batch up meanwhile.
            if w.taken.send(rx).is_ok() {
                lot.add(w.batch, tx);
            }
        }
        // Messages in the order they were tracked, whichever batch got the slot.
        lot.batches.sort_unstable_by_key(|b| b.first);
    }

    pub fn set_hurry(&self, value: bool) {
        set_flag(&self.hurry, value);
    }

    pub fn set_host_busy(&self, value: bool) {
        set_flag(&self.host_busy, value);
    }

    fn pause_until(&self, until: TokioInstant) {
        let mut p = self.paused_until.lock().unwrap_or_else(|e| e.into_inner());
        if p.is_none_or(|p| p < until) {
            *p = Some(until);
        }
    }

    fn paused_until(&self) -> Option<TokioInstant> {
        let p = *self.paused_until.lock().unwrap_or_else(|e| e.into_inner());
        p.filter(|&p| p > TokioInstant::now())
    }

    /// Wait out the server's rate limit, if any (it may grow meanwhile).
    async fn wait_rate_limit(&self) {
        while let Some(until) = self.paused_until() {
            tokio::time::sleep_until(until).await;
        }
    }
}

/// Set a flag the delivery tasks watch; they wake only when it changes.
fn set_flag(flag: &watch::Sender<bool>, value: bool) {
    flag.send_if_modified(|v| std::mem::replace(v, value) != value);
}

/// Decrements `in_flight` even when the delivery task is aborted.
struct InFlight<'a>(&'a Stats);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Relaxed);
    }
}

/// The batches one request carries: a batch's own, and those it took along
/// while they waited (their tasks await the outcome through `taken`).
/// Dropped unanswered (its task aborted), it leaves those tasks to send
/// their batches themselves.
struct Lot {
    batches: Vec<Arc<Batch>>,
    taken: Vec<oneshot::Sender<Outcome>>,
    messages: usize,
    body_bytes: usize,
}

impl Lot {
    fn new(batch: Arc<Batch>) -> Lot {
        Lot {
            messages: batch.len(),
            body_bytes: batch.body_bytes(),
            batches: vec![batch],
            taken: Vec::new(),
        }
    }

    fn add(&mut self, batch: Arc<Batch>, taken: oneshot::Sender<Outcome>) {
        self.messages += batch.len();
        self.body_bytes += batch.body_bytes() - batch::ENVELOPE_BYTES;
        self.batches.push(batch);
        self.taken.push(taken);
    }

    /// Tell the batches taken along how it ended; return it for the own one.
    fn settle(self, outcome: Outcome) -> Outcome {
        for t in self.taken {
            let _ = t.send(outcome.clone());
        }
        outcome
    }
}

/// How a batch's wait for its first request ended.
enum Turn<'a> {
    /// It got a slot: its own request goes.
    Slot(Option<SemaphorePermit<'a>>),
    /// Another request took it along; its outcome comes here.
    Taken(oneshot::Receiver<Outcome>),
}

/// Removes a batch from `Gate::waiting` however its wait ends (its task may
/// be aborted).
struct Listed<'a> {
    gate: &'a Gate,
    first: u64,
}

impl Listed<'_> {
    /// Whether it was still listed (not taken along by another request).
    fn remove(&self) -> bool {
        self.gate.waiting().remove(&self.first).is_some()
    }
}

impl Drop for Listed<'_> {
    fn drop(&mut self) {
        self.remove();
    }
}

/// Wait for a request slot, the client's rate limit and, on a batch's first
/// attempt, the host's pause (until `first_attempt` at most).
async fn wait_turn(gate: &Gate, first_attempt: Option<Instant>) -> Option<SemaphorePermit<'_>> {
    // The waits other than for the slot are boxed: only the slot wait stays
    // in the task, which keeps a waiting batch's task small.
    loop {
        if gate.paused_until().is_some() {
            Box::pin(gate.wait_rate_limit()).await;
        }
        // (Never closed: acquiring cannot fail.)
        let permit = gate.slots.acquire().await.ok();
        if let Some(until) = first_attempt {
            Box::pin(wait_for_pause(gate, until)).await;
        }
        if gate.paused_until().is_none() {
            return permit;
        }
        // Rate-limited while waiting for the slot: give it back and wait.
    }
}

/// A batch's wait for its first request, listed in `Gate::waiting` so that
/// another request may take it along.
async fn first_turn<'a>(gate: &'a Gate, batch: &Arc<Batch>, pause_until: Instant) -> Turn<'a> {
    let (tx, mut taken) = oneshot::channel();
    gate.waiting().insert(
        batch.first,
        Waiting {
            batch: batch.clone(),
            taken: tx,
        },
    );
    let listed = Listed {
        gate,
        first: batch.first,
    };
    tokio::select! {
        biased;
        Ok(outcome) = &mut taken => Turn::Taken(outcome),
        permit = wait_turn(gate, Some(pause_until)) => {
            if listed.remove() {
                return Turn::Slot(permit);
            }
            // Taken along just now: the receiver was sent as it was removed.
            drop(permit);
            match taken.await {
                Ok(outcome) => Turn::Taken(outcome),
                // (Cannot happen; if it did, a closed receiver makes the
                // caller list the batch again.)
                Err(_) => Turn::Taken(oneshot::channel().1),
            }
        }
    }
}

/// One batch's task: send it until it is delivered, finally rejected, or its
/// retries are exhausted. Each attempt takes a request slot and gives it
/// back when its response is in: a batch waiting out a backoff holds none,
/// so at most `max_in_flight` requests are on the wire and none idle.
///
/// While the server pushes back (a retryable answer in the last
/// `STRAIN_WINDOW`), batches waiting for their first request are merged: the
/// first request of a batch that gets a slot carries as many as fit
/// (`Gate::take_along`), through its retries too, and their tasks get its
/// outcome. Messages keep
/// their messageId, so a resend is deduplicated by Segment.
///
/// The time since the batch closed, spent waiting for a slot included,
/// counts against `max_retry_time`, so a long outage cannot hold a backlog
/// for longer than that (batches taken along share the carrier's budget).
pub async fn deliver(
    sender: &Sender,
    batch: Arc<Batch>,
    gate: &Gate,
    stats: &Stats,
    log: &LogFn,
) -> Outcome {
    let config = &sender.config;
    let started = Instant::now();
    let mut hurry = gate.hurry.subscribe();
    let mut backoff = Backoff::new(config);
    let mut retries = 0u32;
    let (mut permit, mut lot) = loop {
        match first_turn(gate, &batch, started + config.flush_interval).await {
            Turn::Slot(permit) => break (permit, Lot::new(batch)),
            Turn::Taken(outcome) => match outcome.await {
                Ok(outcome) => return outcome,
                // The request that took it along was abandoned (aborted):
                // the batch is still here, and goes on its own.
                Err(_) => continue,
            },
        }
    };
    loop {
        if retries > 0 {
            permit = wait_turn(gate, None).await;
        } else {
            // Only a first attempt takes batches along: a lot that is
            // retrying has used part of its retries and `max_retry_time`,
            // which a fresh batch would then share.
            gate.take_along(&mut lot);
        }
        // Boxed: a request is a large state machine, and in a burst
        // thousands of these tasks wait above for a slot.
        let attempt = Box::pin(sender.attempt(&lot.batches, retries, stats)).await;
        drop(permit.take());
        if matches!(attempt, Attempt::Retry { .. }) {
            gate.strain();
        }
        let (why, delay) = match attempt {
            Attempt::Delivered => return lot.settle(Outcome::Delivered),
            Attempt::Final { reason, why } => {
                return lot.settle(Outcome::Failed {
                    reason,
                    detail: format!("rejected by the server: {why}"),
                })
            }
            Attempt::Retry {
                why,
                retry_after: Some(ra),
                rate_limited: true,
            } => {
                // The whole client waits (in the gate); the batch keeps its retries.
                let delay =
                    backoff.rate_limit_delay(started.elapsed(), ra.max(config.min_retry_delay));
                if let Some(d) = delay {
                    gate.pause_until(TokioInstant::now() + d);
                }
                (why, delay.map(|_| Duration::ZERO))
            }
            Attempt::Retry {
                why, retry_after, ..
            } => {
                // During a bounded shutdown flush its deadline is the only
                // bound that matters: retry every min_retry_delay until then.
                let delay = if *hurry.borrow() {
                    Some(config.min_retry_delay)
                } else {
                    backoff.next_delay(started.elapsed(), retry_after)
                };
                (why, delay)
            }
        };
        let Some(delay) = delay else {
            return lot.settle(Outcome::Failed {
                reason: "retries_exhausted".to_string(),
                detail: format!(
                    "{} retries over {} s, last error: {why}",
                    retries,
                    started.elapsed().as_secs()
                ),
            });
        };
        retries += 1;
        stats.retried.fetch_add(1, Relaxed);
        let wait = gate
            .paused_until()
            .map_or(delay, |p| p.saturating_duration_since(TokioInstant::now()));
        log(
            Level::Warn,
            "retry",
            format!(
                "request of {} messages not delivered ({why}); retry {retries} in {} ms",
                lot.messages,
                wait.as_millis()
            ),
        );
        if !delay.is_zero() {
            Box::pin(back_off(delay, &mut hurry)).await;
        }
    }
}

/// Sleep `delay`, or less if a shutdown flush begins: then try again now.
async fn back_off(delay: Duration, hurry: &mut watch::Receiver<bool>) {
    let hurried = *hurry.borrow();
    tokio::select! {
        _ = tokio::time::sleep(delay) => {}
        _ = hurry.wait_for(|h| *h), if !hurried => {}
    }
}

/// Let a burst pause first, but keep no batch waiting for it longer than
/// `flush_interval` after it closed (the delay batching already allows).
async fn wait_for_pause(gate: &Gate, at_most_until: Instant) {
    let mut busy = gate.host_busy.subscribe();
    let pause = async { busy.wait_for(|busy| !*busy).await.is_ok() };
    let _ = tokio::time::timeout_at(TokioInstant::from_std(at_most_until), pause).await;
}

/// Read at most `limit` bytes of a response body (what has arrived by then).
async fn read_limited(resp: &mut reqwest::Response, limit: usize) -> Vec<u8> {
    let mut buf = Vec::new();
    while buf.len() < limit {
        match resp.chunk().await {
            Ok(Some(chunk)) => {
                let take = chunk.len().min(limit - buf.len());
                buf.extend_from_slice(&chunk[..take]);
            }
            _ => break,
        }
    }
    buf
}

/// Sends batches for one client (one connection pool); its tasks share it by `Arc`.
pub struct Sender {
    http: reqwest::Client,
    url: String,
    config: Arc<Config>,
}

impl std::fmt::Debug for Sender {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sender").field("url", &self.url).finish()
    }
}

impl Sender {
    pub fn new(config: Arc<Config>) -> Result<Sender, String> {
        let http = reqwest::Client::builder()
            .user_agent(concat!(
                "medusa-plugin-segment-rs/",
                env!("CARGO_PKG_VERSION")
            ))
            // A redirect would be followed as a GET without the batch, and
            // its 2xx taken for a delivery: a 3xx is an error instead.
            .redirect(reqwest::redirect::Policy::none())
            .pool_max_idle_per_host(config.max_in_flight)
            .pool_idle_timeout(Duration::from_secs(60))
            .connect_timeout(config.timeout)
            .tcp_nodelay(true)
            .build()
            .map_err(|e| format!("cannot build the HTTP client: {e}"))?;
        Ok(Sender {
            http,
            url: config.batch_url(),
            config,
        })
    }

    fn body<B: std::ops::Deref<Target = Batch>>(&self, batches: &[B]) -> Vec<u8> {
        let raw = batch::body_of(batches, &iso_timestamp(OffsetDateTime::now_utc()));
        if !self.config.gzip {
            return raw;
        }
        let mut enc = flate2::write::GzEncoder::new(
            Vec::with_capacity(raw.len() / 4),
            flate2::Compression::default(),
        );
        match enc.write_all(&raw).and_then(|_| enc.finish()) {
            Ok(gz) => gz,
            Err(_) => raw,
        }
    }

    /// One request of `batches`; `retries` is how many came before it.
    async fn attempt(&self, batches: &[Arc<Batch>], retries: u32, stats: &Stats) -> Attempt {
        let body = self.body(batches);
        let gzipped = self.config.gzip && body.first() == Some(&0x1f);
        stats.requests.fetch_add(1, Relaxed);
        stats.bytes_sent.fetch_add(body.len() as u64, Relaxed);
        stats.in_flight.fetch_add(1, Relaxed);
        let _guard = InFlight(stats);
        let key = self.config.write_key.as_deref().unwrap_or("");
        let mut req = self
            .http
            .post(&self.url)
            .basic_auth(key, Some(""))
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .timeout(self.config.timeout)
            .body(body);
        if gzipped {
            req = req.header(reqwest::header::CONTENT_ENCODING, "gzip");
        }
        if retries > 0 {
            // As Segment's Node library: lets the server tell retries apart.
            req = req.header("X-Retry-Count", retries);
        }
        match req.send().await {
            Ok(mut resp) => {
                let status = resp.status().as_u16();
                let header = |name| {
                    resp.headers()
                        .get(name)
                        .and_then(|v| v.to_str().ok())
                        .map(str::to_string)
                };
                let retry_after = header(reqwest::header::RETRY_AFTER)
                    .and_then(|v| parse_retry_after(&v, SystemTime::now()));
                let location = header(reqwest::header::LOCATION);
                let text = read_limited(&mut resp, MAX_RESPONSE_BYTES).await;
                drop(resp);
                // Whatever a server echoes, the key is not logged: redacted
                // before the cut, which could leave a piece too short to find.
                let snippet = Redactor::for_logs(self.config.write_key.as_deref())
                    .text_cut(&String::from_utf8_lossy(&text), SNIPPET_CHARS);
                let why = format!("HTTP {status} {snippet}").trim_end().to_string();
                match classify(status) {
                    Verdict::Delivered => Attempt::Delivered,
                    Verdict::Retry => Attempt::Retry {
                        why,
                        retry_after,
                        rate_limited: status == 429,
                    },
                    Verdict::Final if (300..400).contains(&status) => {
                        let to: String = location
                            .map(|l| {
                                format!(" to {}", l.chars().take(SNIPPET_CHARS).collect::<String>())
                            })
                            .unwrap_or_default();
                        Attempt::Final {
                            reason: format!("http_{status}"),
                            why: format!(
                                "HTTP {status} redirect{to}: redirects are not followed; \
                                 set the `host` option to the address that answers /v1/batch itself"
                            ),
                        }
                    }
                    Verdict::Final => Attempt::Final {
                        reason: format!("http_{status}"),
                        why,
                    },
                }
            }
            Err(e) => {
                let why = if e.is_timeout() {
                    format!("timed out after {} ms", self.config.timeout.as_millis())
                } else {
                    // Walk the source chain: reqwest's top line is generic.
                    let mut s = String::new();
                    let mut src = std::error::Error::source(&e);
                    while let Some(inner) = src {
                        s.push_str(": ");
                        s.push_str(&inner.to_string());
                        src = inner.source();
                    }
                    format!("{}{s}", e.without_url())
                };
                Attempt::Retry {
                    why,
                    retry_after: None,
                    rate_limited: false,
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::io::Read;

    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::sync::mpsc;

    use super::*;
    use crate::batch::{Batcher, Item};

    /// One open batch of messages `seqs`, each message's JSON from `json`.
    fn batch_with(seqs: std::ops::Range<u64>, json: impl Fn(u64) -> String) -> Batch {
        let mut b = Batcher::new(1000);
        let mut closed = Vec::new();
        for seq in seqs {
            let json = json(seq);
            // As the worker charges it.
            let charged = json.len() + crate::batch::MESSAGE_OVERHEAD;
            let has_callback = false;
            b.push(
                Item {
                    seq,
                    json,
                    charged,
                    has_callback,
                },
                &mut closed,
            );
        }
        assert!(closed.is_empty(), "one batch");
        b.take().unwrap()
    }

    /// Batch of messages `seqs` (messageIds `m{seq}`).
    fn batch_of(seqs: std::ops::Range<u64>) -> Arc<Batch> {
        Arc::new(batch_with(seqs, |seq| {
            format!(r#"{{"messageId":"m{seq}"}}"#)
        }))
    }

    /// A server answering 200 to every request (one per connection),
    /// handing each body over.
    async fn serve_ok() -> (String, mpsc::UnboundedReceiver<String>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let (tx, rx) = mpsc::unbounded_channel();
        tokio::spawn(async move {
            while let Ok((mut sock, _)) = listener.accept().await {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 8192];
                let (head_end, len) = loop {
                    if let Some(p) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                        let head = String::from_utf8_lossy(&buf[..p]).to_lowercase();
                        let len: usize = head
                            .lines()
                            .find_map(|l| l.strip_prefix("content-length:"))
                            .map_or(0, |v| v.trim().parse().unwrap());
                        break (p + 4, len);
                    }
                    let n = sock.read(&mut chunk).await.unwrap();
                    buf.extend_from_slice(&chunk[..n]);
                };
                while buf.len() < head_end + len {
                    let n = sock.read(&mut chunk).await.unwrap();
                    buf.extend_from_slice(&chunk[..n]);
                }
                let _ = tx.send(String::from_utf8_lossy(&buf[head_end..]).into_owned());
                let answer = "HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\n{}";
                let _ = sock.write_all(answer.as_bytes()).await;
            }
        });
        (url, rx)
    }

    #[tokio::test]
    async fn a_batch_taken_along_by_an_abandoned_request_is_sent_by_its_own_task() {
        let (url, mut bodies) = serve_ok().await;
        let config = Config::from_json(&format!(r#"{{"write_key":"k","host":"{url}"}}"#)).unwrap();
        let sender = Arc::new(Sender::new(Arc::new(config)).unwrap());
        let gate = Arc::new(Gate::new(1));
        let stats = Arc::new(Stats::default());
        gate.strain();
        // The only slot is taken: batch 2..4 waits, listed.
        let held = gate.slots.acquire().await.unwrap();
        let task = tokio::spawn({
            let (sender, gate, stats) = (sender.clone(), gate.clone(), stats.clone());
            async move { deliver(&sender, batch_of(2..4), &gate, &stats, &|_, _, _| {}).await }
        });
        while gate.waiting().is_empty() {
            tokio::task::yield_now().await;
        }
        // A request of batch 0..2 takes it along, then is abandoned (its task
        // aborted by a flush that timed out) before it is sent.
        let mut lot = Lot::new(batch_of(0..2));
        gate.take_along(&mut lot);
        assert_eq!(lot.messages, 4);
        assert!(gate.waiting().is_empty());
        drop(lot);
        drop(held);
        assert_eq!(task.await.unwrap(), Outcome::Delivered);
        let body: serde_json::Value = serde_json::from_str(&bodies.recv().await.unwrap()).unwrap();
        let ids: Vec<&str> = body["batch"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["messageId"].as_str().unwrap())
            .collect();
        assert_eq!(ids, ["m2", "m3"]);
    }

    #[test]
    fn nothing_is_taken_along_while_the_server_is_healthy_and_at_most_500_kb_when_not() {
        let gate = Gate::new(1);
        let list = |b: Arc<Batch>| {
            let (taken, rx) = oneshot::channel();
            gate.waiting().insert(b.first, Waiting { batch: b, taken });
            rx
        };
        let big = |seq: u64| {
            Arc::new(batch_with(seq..seq + 1, |seq| {
                format!(
                    r#"{{"messageId":"m{seq}","p":"{}"}}"#,
                    "x".repeat(200 * 1024)
                )
            }))
        };
        let _waiting: Vec<_> = (1..4).map(|seq| list(big(seq))).collect();
        let mut lot = Lot::new(big(0));
        gate.take_along(&mut lot);
        assert_eq!(lot.batches.len(), 1, "healthy: nothing merged");
        gate.strain();
        gate.take_along(&mut lot);
        // 200 KB each: two fit in 500 KB, the third waits for another request.
        assert_eq!(
            lot.batches.iter().map(|b| b.first).collect::<Vec<_>>(),
            [0, 1]
        );
        assert!(lot.body_bytes <= MAX_BATCH_BYTES);
        assert!(batch::body_of(&lot.batches, "t").len() <= lot.body_bytes);
        assert_eq!(gate.waiting().len(), 2);
    }

    #[test]
    fn a_packed_batch_is_sent_as_gzip_of_the_whole_body() {
        let config = Config::from_json(r#"{"write_key":"k","gzip":true}"#).unwrap();
        let sender = Sender::new(Arc::new(config)).unwrap();
        let mut batch = batch_with(0..50, |seq| {
            format!(r#"{{"messageId":"m{seq}","event":"Order Completed"}}"#)
        });
        assert!(batch.pack() > 0);
        let mut json = String::new();
        flate2::read::GzDecoder::new(&sender.body(&[&batch])[..])
            .read_to_string(&mut json)
            .unwrap();
        let v: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(v["batch"].as_array().unwrap().len(), 50);
        assert_eq!(v["batch"][49]["messageId"], "m49");
        assert!(v["sentAt"].as_str().unwrap().ends_with('Z'));
    }
}
