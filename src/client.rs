//! The client: accepts messages on the caller's thread (a channel send),
//! and does everything else on a background tokio runtime — parsing and
//! enrichment, batching, delivery with bounded concurrency, accounting and
//! flushes. Results go back through an event sink (in Node: one weak
//! threadsafe function), once per batch that has callbacks, not per message.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed, Ordering::SeqCst};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use time::OffsetDateTime;
use tokio::runtime::Runtime;
use tokio::sync::{mpsc, watch, Notify, OwnedSemaphorePermit, Semaphore};
use tokio::task::AbortHandle;
use tokio::time::Instant as TokioInstant;

use crate::batch::{Batch, Batcher, Item};
use crate::config::Config;
use crate::delivery::{Outcome, Sender};
use crate::message::{self, Kind};
use crate::stats::{LogLimiter, Snapshot, Stats};

/// Log severity.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    Info = 0,
    Warn = 1,
    Error = 2,
}

/// What the client reports back to its owner.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// Messages `first..=last` (those not already reported) are settled:
    /// delivered when `error` is `None`. Only sent for batches with callbacks.
    Settled {
        first: u64,
        last: u64,
        error: Option<String>,
    },
    /// Message `seq` was rejected by validation (only if it has a callback).
    Rejected { seq: u64, error: String },
    /// A log line (already rate-limited).
    Log { level: Level, message: String },
    /// The flush `id` is complete (or timed out).
    Flushed { id: u64, timed_out: bool },
}

/// Receives the client's events, on a background thread.
pub type Sink = Arc<dyn Fn(Event) + Send + Sync>;

/// Why `enqueue` refused a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EnqueueError {
    /// `max_queue_bytes` reached: the message is dropped and counted.
    QueueFull,
    /// The client was shut down.
    Closed,
}

const LOG_INTERVAL: Duration = Duration::from_secs(10);

/// The process-wide runtime all clients share.
pub fn runtime() -> &'static Runtime {
    static RT: OnceLock<Runtime> = OnceLock::new();
    RT.get_or_init(|| {
        // One delivery thread is enough (it delivered 37k-95k events/s in
        // the bench's 100k burst) and on a small server every extra busy thread competes with the
        // store's JS thread: with two, the burst's event-loop p99 was ~20%
        // higher and its CPU per event ~10% higher.
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("segment-rs")
            .enable_all()
            .build()
            .expect("cannot start the segment runtime")
    })
}

struct Shared {
    config: Arc<Config>,
    stats: Stats,
    next_seq: AtomicU64,
    closed: AtomicBool,
    sink: Sink,
    limiter: LogLimiter,
    /// True while a bounded shutdown flush waits: batches in retry backoff
    /// then retry at once and often, instead of sleeping past its deadline.
    hurry: watch::Sender<bool>,
    /// True while the host is handing over a burst (see `Worker::update_busy`):
    /// requests then wait for it to pause, so that their CPU (ours, the
    /// kernel's, TLS) does not compete with the host's thread.
    host_busy: watch::Sender<bool>,
}

impl Shared {
    fn log(&self, level: Level, key: &str, message: String) {
        if let Some(suppressed) = self.limiter.allow(key, Instant::now()) {
            let message = if suppressed > 0 {
                format!("[segment] {message} ({suppressed} similar messages suppressed)")
            } else {
                format!("[segment] {message}")
            };
            (self.sink)(Event::Log { level, message });
        }
    }
}

enum Cmd {
    Msg {
        seq: u64,
        kind: Kind,
        json: String,
        charged: usize,
        has_callback: bool,
    },
    Flush {
        id: u64,
        timeout: Option<Duration>,
        abandon: bool,
    },
    Close,
}

/// Commands from the owner's thread to the worker.
///
/// A plain mutex-guarded Vec rather than a channel: a channel wakes the
/// worker thread (a futex syscall) on nearly every send when the worker keeps
/// up, and that syscall would be most of `enqueue`'s cost on the JS thread.
/// Here the worker polls every millisecond while messages flow and parks
/// when idle; only a push that finds it parked wakes it.
struct Inbox {
    queue: Mutex<Vec<Cmd>>,
    parked: AtomicBool,
    /// Set once the worker has stopped: pushes are refused.
    gone: AtomicBool,
    notify: Notify,
}

impl Inbox {
    fn new() -> Inbox {
        Inbox {
            queue: Mutex::new(Vec::new()),
            parked: AtomicBool::new(false),
            gone: AtomicBool::new(false),
            notify: Notify::new(),
        }
    }

    fn push(&self, cmd: Cmd, urgent: bool) -> bool {
        {
            let mut q = self.queue.lock().unwrap_or_else(|e| e.into_inner());
            if self.gone.load(SeqCst) {
                return false;
            }
            q.push(cmd);
        }
        if self.parked.swap(false, SeqCst) || urgent {
            self.notify.notify_one();
        }
        true
    }

    fn drain(&self, into: &mut Vec<Cmd>) {
        let mut q = self.queue.lock().unwrap_or_else(|e| e.into_inner());
        std::mem::swap(&mut *q, into);
    }

    fn is_empty(&self) -> bool {
        self.queue
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .is_empty()
    }
}

/// Worker polling period while messages flow, and idle polls before parking.
const POLL: Duration = Duration::from_millis(1);
const IDLE_POLLS: u32 = 5;
/// Polls without a message after which a burst counts as paused.
const QUIET_POLLS: u32 = 3;

/// A Segment client. Dropping it lets queued messages finish in the background.
pub struct Client {
    shared: Arc<Shared>,
    inbox: Arc<Inbox>,
}

impl Drop for Client {
    fn drop(&mut self) {
        self.inbox.push(Cmd::Close, true);
    }
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("config", &self.shared.config)
            .finish()
    }
}

impl Client {
    pub fn new(config: Config, sink: Sink) -> Client {
        let config = Arc::new(config);
        let shared = Arc::new(Shared {
            config: config.clone(),
            stats: Stats::default(),
            next_seq: AtomicU64::new(0),
            closed: AtomicBool::new(false),
            sink,
            limiter: LogLimiter::new(LOG_INTERVAL),
            hurry: watch::Sender::new(false),
            host_busy: watch::Sender::new(false),
        });
        let sender = if config.delivers() {
            match Sender::new(config.clone()) {
                Ok(s) => Some(Arc::new(s)),
                Err(e) => {
                    shared.log(
                        Level::Error,
                        "http_client",
                        format!("{e}; delivery is disabled"),
                    );
                    None
                }
            }
        } else {
            None
        };
        let inbox = Arc::new(Inbox::new());
        let (done_tx, done_rx) = mpsc::unbounded_channel();
        let worker = Worker {
            shared: shared.clone(),
            batcher: Batcher::new(config.flush_at),
            deadline: None,
            outstanding: BTreeMap::new(),
            last_seq: None,
            waiters: Vec::new(),
            sender,
            permits: Arc::new(Semaphore::new(config.max_in_flight)),
            done_tx,
            closing: false,
        };
        runtime().spawn(worker.run(inbox.clone(), done_rx));
        Client { shared, inbox }
    }

    pub fn config(&self) -> &Config {
        &self.shared.config
    }

    /// Hand over one message (JSON text). Never blocks. Returns its sequence number.
    pub fn enqueue(
        &self,
        kind: Kind,
        json: String,
        has_callback: bool,
    ) -> Result<u64, EnqueueError> {
        let s = &self.shared;
        if s.closed.load(Relaxed) {
            return Err(EnqueueError::Closed);
        }
        let charged = json.len();
        s.stats.accepted.fetch_add(1, Relaxed);
        let before = s.stats.queued_bytes.fetch_add(charged as u64, Relaxed);
        if before + charged as u64 > s.config.max_queue_bytes as u64 {
            s.stats.queued_bytes.fetch_sub(charged as u64, Relaxed);
            s.stats.drop_messages("queue_full", 1);
            s.log(
                Level::Error,
                "queue_full",
                format!(
                    "queue full ({} bytes pending, max_queue_bytes {}): dropped a {} message",
                    before,
                    s.config.max_queue_bytes,
                    kind.as_str()
                ),
            );
            return Err(EnqueueError::QueueFull);
        }
        s.stats.queued.fetch_add(1, Relaxed);
        let seq = s.next_seq.fetch_add(1, Relaxed);
        let cmd = Cmd::Msg {
            seq,
            kind,
            json,
            charged,
            has_callback,
        };
        if !self.inbox.push(cmd, false) {
            s.stats.settle(1, charged as u64);
            s.stats.drop_messages("closed", 1);
            return Err(EnqueueError::Closed);
        }
        Ok(seq)
    }

    /// Ask for a flush of everything accepted so far; `Event::Flushed { id }`
    /// follows. With a timeout and `abandon`, what is still pending when it
    /// expires is dropped (reason `flush_timeout`) so the caller can exit.
    pub fn flush(
        &self,
        id: u64,
        timeout: Option<Duration>,
        abandon: bool,
    ) -> Result<(), EnqueueError> {
        let cmd = Cmd::Flush {
            id,
            timeout,
            abandon,
        };
        if self.inbox.push(cmd, true) {
            Ok(())
        } else {
            Err(EnqueueError::Closed)
        }
    }

    /// Refuse new messages; the worker stops once what is pending has settled.
    pub fn close(&self) {
        if !self.shared.closed.swap(true, Relaxed) {
            self.inbox.push(Cmd::Close, true);
        }
    }

    pub fn is_closed(&self) -> bool {
        self.shared.closed.load(Relaxed)
    }

    pub fn stats(&self) -> Snapshot {
        self.shared.stats.snapshot()
    }
}

struct Outstanding {
    last: u64,
    count: u64,
    charged: u64,
    has_callbacks: bool,
    abort: AbortHandle,
}

struct Waiter {
    id: u64,
    target: Option<u64>,
    deadline: Option<TokioInstant>,
    abandon: bool,
}

struct Done {
    first: u64,
    outcome: Outcome,
}

struct Worker {
    shared: Arc<Shared>,
    batcher: Batcher,
    /// Interval deadline of the open batch: (its first seq, when it closes).
    deadline: Option<(u64, TokioInstant)>,
    /// Dispatched batches not yet settled, by first seq.
    outstanding: BTreeMap<u64, Outstanding>,
    last_seq: Option<u64>,
    waiters: Vec<Waiter>,
    sender: Option<Arc<Sender>>,
    permits: Arc<Semaphore>,
    done_tx: mpsc::UnboundedSender<Done>,
    closing: bool,
}

async fn sleep_until(at: Option<TokioInstant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// Decrements `in_flight` even when the delivery task is aborted.
struct InFlight<'a>(&'a Stats);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Relaxed);
    }
}

impl Worker {
    async fn run(mut self, inbox: Arc<Inbox>, mut done_rx: mpsc::UnboundedReceiver<Done>) {
        let mut buf = Vec::new();
        let mut idle_polls = 0u32;
        loop {
            inbox.drain(&mut buf);
            if buf.is_empty() {
                idle_polls = idle_polls.saturating_add(1);
            } else {
                idle_polls = 0;
                for cmd in buf.drain(..) {
                    self.handle(cmd);
                }
            }
            self.update_busy(idle_polls);
            if self.closing && self.outstanding.is_empty() && self.batcher.is_empty() {
                break;
            }
            let mut park = idle_polls >= IDLE_POLLS;
            if park {
                inbox.parked.store(true, SeqCst);
                // A push that saw `parked == false` must be seen here.
                if !inbox.is_empty() {
                    inbox.parked.store(false, SeqCst);
                    park = false;
                }
            }
            let poll_at = (!park).then(|| TokioInstant::now() + POLL);
            let batch_at = self.deadline.map(|(_, at)| at);
            let flush_at = self.waiters.iter().filter_map(|w| w.deadline).min();
            tokio::select! {
                _ = inbox.notify.notified(), if park => inbox.parked.store(false, SeqCst),
                _ = sleep_until(poll_at) => {}
                Some(done) = done_rx.recv() => self.complete(done),
                _ = sleep_until(batch_at) => self.close_open_batch(),
                _ = sleep_until(flush_at) => self.expire_waiters(),
            }
        }
        // Refuse further pushes; answer anyone still waiting.
        {
            let mut q = inbox.queue.lock().unwrap_or_else(|e| e.into_inner());
            inbox.gone.store(true, SeqCst);
            std::mem::swap(&mut *q, &mut buf);
        }
        for cmd in buf.drain(..) {
            if let Cmd::Flush { id, .. } = cmd {
                (self.shared.sink)(Event::Flushed {
                    id,
                    timed_out: false,
                });
            }
        }
        for w in std::mem::take(&mut self.waiters) {
            (self.shared.sink)(Event::Flushed {
                id: w.id,
                timed_out: false,
            });
        }
    }

    fn handle(&mut self, cmd: Cmd) {
        match cmd {
            Cmd::Msg {
                seq,
                kind,
                json,
                charged,
                has_callback,
            } => {
                self.last_seq = Some(seq);
                self.accept(seq, kind, json, charged, has_callback);
            }
            Cmd::Flush {
                id,
                timeout,
                abandon,
            } => {
                self.close_open_batch();
                self.waiters.push(Waiter {
                    id,
                    target: self.last_seq,
                    deadline: timeout.map(|t| TokioInstant::now() + t),
                    abandon,
                });
                self.check_waiters();
            }
            Cmd::Close => {
                self.closing = true;
                self.close_open_batch();
            }
        }
    }

    fn accept(&mut self, seq: u64, kind: Kind, json: String, charged: usize, has_callback: bool) {
        let shared = self.shared.clone();
        let stats = &shared.stats;
        let json = match message::prepare(kind, &json, OffsetDateTime::now_utc()) {
            Ok(j) => j,
            Err(e) => {
                stats.drop_messages(e.reason, 1);
                stats.settle(1, charged as u64);
                shared.log(Level::Error, e.reason, format!("dropped a message: {e}"));
                if has_callback {
                    (shared.sink)(Event::Rejected {
                        seq,
                        error: e.message,
                    });
                }
                return;
            }
        };
        if self.sender.is_none() {
            stats.drop_messages("disabled", 1);
            stats.settle(1, charged as u64);
            if has_callback {
                (shared.sink)(Event::Settled {
                    first: seq,
                    last: seq,
                    error: None,
                });
            }
            return;
        }
        let mut closed = Vec::new();
        self.batcher.push(
            Item {
                seq,
                json,
                charged,
                has_callback,
            },
            &mut closed,
        );
        for batch in closed {
            self.dispatch(batch);
        }
        match self.batcher.first_seq() {
            None => self.deadline = None,
            Some(first) => {
                if self.deadline.map(|(s, _)| s) != Some(first) {
                    let at = TokioInstant::now() + shared.config.flush_interval;
                    self.deadline = Some((first, at));
                }
            }
        }
    }

    fn close_open_batch(&mut self) {
        self.deadline = None;
        if let Some(batch) = self.batcher.take() {
            self.dispatch(batch);
        }
    }

    fn dispatch(&mut self, mut batch: Batch) {
        let Some(sender) = self.sender.clone() else {
            return;
        };
        // A batch that cannot get a request slot at once waits in memory; in
        // a burst, thousands of them do. Those are held compressed (several
        // times smaller, and charged to `max_queue_bytes` as such); a batch
        // that is sent at once skips the compression.
        if self.outstanding.len() >= self.shared.config.max_in_flight {
            let freed = batch.pack();
            self.shared
                .stats
                .queued_bytes
                .fetch_sub(freed as u64, Relaxed);
        }
        let first = batch.first;
        let record = Outstanding {
            last: batch.last,
            count: batch.len() as u64,
            charged: batch.charged as u64,
            has_callbacks: batch.has_callbacks,
            abort: tokio::spawn(deliver(
                sender,
                batch,
                self.shared.clone(),
                self.permits.clone(),
                self.done_tx.clone(),
            ))
            .abort_handle(),
        };
        self.outstanding.insert(first, record);
    }

    fn complete(&mut self, done: Done) {
        let Some(rec) = self.outstanding.remove(&done.first) else {
            return; // abandoned meanwhile
        };
        let shared = self.shared.clone();
        let stats = &shared.stats;
        let error = match done.outcome {
            Outcome::Delivered => {
                stats.delivered.fetch_add(rec.count, Relaxed);
                stats.batches.fetch_add(1, Relaxed);
                None
            }
            Outcome::Failed { reason, detail } => {
                stats.fail_messages(&reason, rec.count);
                let msg = format!(
                    "gave up on a batch of {} messages ({reason}): {detail}",
                    rec.count
                );
                shared.log(Level::Error, &reason, msg.clone());
                Some(msg)
            }
        };
        stats.settle(rec.count, rec.charged);
        if rec.has_callbacks {
            (shared.sink)(Event::Settled {
                first: done.first,
                last: rec.last,
                error,
            });
        }
        self.check_waiters();
    }

    /// The host counts as busy while messages keep arriving (a poll within
    /// the last QUIET_POLLS had some), unless someone waits on a flush or the
    /// backlog holds over a quarter of `max_queue_bytes`: then requests go at
    /// once, as they do when the host pauses.
    fn update_busy(&self, idle_polls: u32) {
        let s = &self.shared;
        let busy = idle_polls < QUIET_POLLS
            && !self.closing
            && self.waiters.is_empty()
            && s.stats.queued_bytes.load(Relaxed) < s.config.max_queue_bytes as u64 / 4;
        set_flag(&s.host_busy, busy);
    }

    /// Oldest sequence number not yet settled.
    fn watermark(&self) -> Option<u64> {
        let out = self.outstanding.keys().next().copied();
        match (out, self.batcher.first_seq()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    fn is_done(&self, target: Option<u64>) -> bool {
        match (target, self.watermark()) {
            (None, _) | (_, None) => true,
            (Some(t), Some(w)) => w > t,
        }
    }

    fn check_waiters(&mut self) {
        let mut i = 0;
        while i < self.waiters.len() {
            if self.is_done(self.waiters[i].target) {
                let w = self.waiters.remove(i);
                (self.shared.sink)(Event::Flushed {
                    id: w.id,
                    timed_out: false,
                });
            } else {
                i += 1;
            }
        }
        let hurry = self
            .waiters
            .iter()
            .any(|w| w.abandon && w.deadline.is_some());
        set_flag(&self.shared.hurry, hurry);
    }

    fn expire_waiters(&mut self) {
        let now = TokioInstant::now();
        let mut i = 0;
        while i < self.waiters.len() {
            if self.waiters[i].deadline.is_some_and(|d| d <= now) {
                let w = self.waiters.remove(i);
                if w.abandon {
                    if let Some(t) = w.target {
                        self.abandon_up_to(t);
                    }
                }
                (self.shared.sink)(Event::Flushed {
                    id: w.id,
                    timed_out: true,
                });
            } else {
                i += 1;
            }
        }
        self.check_waiters();
    }

    /// Give up on batches starting at or before `target` (a bounded flush expired).
    fn abandon_up_to(&mut self, target: u64) {
        let firsts: Vec<u64> = self.outstanding.range(..=target).map(|(k, _)| *k).collect();
        let shared = self.shared.clone();
        let mut total = 0;
        for first in firsts {
            let rec = self.outstanding.remove(&first).expect("present");
            rec.abort.abort();
            shared.stats.drop_messages("flush_timeout", rec.count);
            shared.stats.settle(rec.count, rec.charged);
            total += rec.count;
            if rec.has_callbacks {
                (shared.sink)(Event::Settled {
                    first,
                    last: rec.last,
                    error: Some(format!(
                        "not delivered before the flush timeout expired (batch of {} messages dropped)",
                        rec.count
                    )),
                });
            }
        }
        if total > 0 {
            shared.log(
                Level::Error,
                "flush_timeout",
                format!("flush timed out: dropped {total} undelivered messages"),
            );
        }
    }
}

/// Set a flag the delivery tasks watch; they wake only when it changes.
fn set_flag(flag: &watch::Sender<bool>, value: bool) {
    flag.send_if_modified(|v| std::mem::replace(v, value) != value);
}

/// One batch's task: wait for a request slot, then send.
async fn deliver(
    sender: Arc<Sender>,
    batch: Batch,
    shared: Arc<Shared>,
    permits: Arc<Semaphore>,
    done: mpsc::UnboundedSender<Done>,
) {
    let started = Instant::now();
    // (Never closed: acquiring cannot fail.)
    let permit = permits.acquire_owned().await.ok();
    // Boxed: sending is a large state machine (the request's), and in a
    // burst thousands of these tasks wait above for a slot.
    Box::pin(send(sender, batch, shared, done, started, permit)).await
}

async fn send(
    sender: Arc<Sender>,
    batch: Batch,
    shared: Arc<Shared>,
    done: mpsc::UnboundedSender<Done>,
    started: Instant,
    _permit: Option<OwnedSemaphorePermit>,
) {
    // Let a burst pause first, but keep no batch waiting for it longer than
    // `flush_interval` after it closed (the delay batching already allows).
    let mut busy = shared.host_busy.subscribe();
    let pause = async { busy.wait_for(|busy| !*busy).await.is_ok() };
    let _ = tokio::time::timeout_at(
        TokioInstant::from_std(started + shared.config.flush_interval),
        pause,
    )
    .await;
    shared.stats.in_flight.fetch_add(1, Relaxed);
    let _guard = InFlight(&shared.stats);
    let log_shared = shared.clone();
    let log = move |level: Level, key: &str, msg: String| log_shared.log(level, key, msg);
    let mut hurry = shared.hurry.subscribe();
    let outcome = sender
        .deliver(&batch, &shared.stats, &log, started, &mut hurry)
        .await;
    let _ = done.send(Done {
        first: batch.first,
        outcome,
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicU16;
    use std::sync::mpsc as std_mpsc;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// A minimal HTTP/1.1 server answering every request with `status`;
    /// returns its URL and a receiver of request bodies.
    fn serve(status: u16) -> (String, std_mpsc::Receiver<String>) {
        let (url, rx, _) = serve_switchable(status);
        (url, rx)
    }

    /// `serve`, with the status the server answers settable while it runs.
    fn serve_switchable(status: u16) -> (String, std_mpsc::Receiver<String>, Arc<AtomicU16>) {
        let status = Arc::new(AtomicU16::new(status));
        let answer = status.clone();
        let (tx, rx) = std_mpsc::channel();
        let listener = runtime()
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        runtime().spawn(async move {
            loop {
                let Ok((mut sock, _)) = listener.accept().await else {
                    return;
                };
                let tx = tx.clone();
                let answer = answer.clone();
                tokio::spawn(async move {
                    let mut buf = Vec::new();
                    loop {
                        let mut chunk = [0u8; 8192];
                        let head_end = loop {
                            if let Some(p) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                                break p + 4;
                            }
                            match sock.read(&mut chunk).await {
                                Ok(0) | Err(_) => return,
                                Ok(n) => buf.extend_from_slice(&chunk[..n]),
                            }
                        };
                        let head = String::from_utf8_lossy(&buf[..head_end]).to_lowercase();
                        let len: usize = head
                            .lines()
                            .find_map(|l| l.strip_prefix("content-length:"))
                            .map(|v| v.trim().parse().unwrap())
                            .unwrap_or(0);
                        while buf.len() < head_end + len {
                            match sock.read(&mut chunk).await {
                                Ok(0) | Err(_) => return,
                                Ok(n) => buf.extend_from_slice(&chunk[..n]),
                            }
                        }
                        let body =
                            String::from_utf8_lossy(&buf[head_end..head_end + len]).to_string();
                        buf.drain(..head_end + len);
                        let _ = tx.send(body);
                        let status = answer.load(Relaxed);
                        let resp = format!("HTTP/1.1 {status} X\r\ncontent-length: 2\r\n\r\n{{}}");
                        if sock.write_all(resp.as_bytes()).await.is_err() {
                            return;
                        }
                    }
                });
            }
        });
        (url, rx, status)
    }

    fn client(json: &str) -> (Client, std_mpsc::Receiver<Event>) {
        let (tx, rx) = std_mpsc::channel();
        let tx = Mutex::new(tx);
        let sink: Sink = Arc::new(move |ev| {
            let _ = tx.lock().unwrap().send(ev);
        });
        (Client::new(Config::from_json(json).unwrap(), sink), rx)
    }

    fn wait_flushed(events: &std_mpsc::Receiver<Event>, id: u64) -> (bool, Vec<Event>) {
        let mut seen = Vec::new();
        loop {
            let ev = events
                .recv_timeout(Duration::from_secs(10))
                .expect("flush event");
            if let Event::Flushed { id: got, timed_out } = ev {
                if got == id {
                    return (timed_out, seen);
                }
            }
            seen.push(ev);
        }
    }

    #[test]
    fn delivers_batches_and_reports_ranges_before_the_flush() {
        let (url, bodies) = serve(200);
        let (c, events) = client(&format!(
            r#"{{"write_key":"k","host":"{url}","flush_at":3,"flush_interval":60000}}"#
        ));
        for i in 0..7 {
            let json = format!(r#"{{"userId":"u","event":"E","properties":{{"i":{i}}}}}"#);
            assert_eq!(c.enqueue(Kind::Track, json, i == 4), Ok(i));
        }
        c.flush(1, None, false).unwrap();
        let (timed_out, seen) = wait_flushed(&events, 1);
        assert!(!timed_out);
        // Only the batch holding message 4 (3..=5) had a callback.
        assert_eq!(
            seen,
            vec![Event::Settled {
                first: 3,
                last: 5,
                error: None
            }]
        );
        let s = c.stats();
        assert_eq!((s.accepted, s.delivered, s.queued, s.batches), (7, 7, 0, 3));
        let mut n = 0;
        while let Ok(body) = bodies.try_recv() {
            let v: serde_json::Value = serde_json::from_str(&body).unwrap();
            n += v["batch"].as_array().unwrap().len();
            assert!(v["sentAt"].is_string());
        }
        assert_eq!(n, 7);
    }

    #[test]
    fn batches_waiting_for_a_slot_are_delivered_intact() {
        // One request slot: batches dispatched while one is out wait, compressed.
        let (url, bodies) = serve(200);
        let (c, events) = client(&format!(
            r#"{{"write_key":"k","host":"{url}","flush_at":5,"max_in_flight":1}}"#
        ));
        for i in 0..40 {
            let json = format!(
                r#"{{"userId":"u","event":"E","properties":{{"i":{i},"p":"{}"}}}}"#,
                "abc".repeat(200)
            );
            c.enqueue(Kind::Track, json, i == 39).unwrap();
        }
        c.flush(1, None, false).unwrap();
        let (timed_out, seen) = wait_flushed(&events, 1);
        assert!(!timed_out);
        assert_eq!(
            seen,
            vec![Event::Settled {
                first: 35,
                last: 39,
                error: None
            }]
        );
        let s = c.stats();
        assert_eq!(
            (s.delivered, s.batches, s.queued, s.queued_bytes),
            (40, 8, 0, 0)
        );
        let mut got = Vec::new();
        let mut ids = std::collections::BTreeSet::new();
        while let Ok(body) = bodies.try_recv() {
            let v: serde_json::Value = serde_json::from_str(&body).unwrap();
            assert!(v["sentAt"].is_string());
            for m in v["batch"].as_array().unwrap() {
                got.push(m["properties"]["i"].as_u64().unwrap());
                ids.insert(m["messageId"].as_str().unwrap().to_string());
            }
        }
        got.sort_unstable();
        assert_eq!(got, (0..40).collect::<Vec<u64>>());
        assert_eq!(ids.len(), 40);
    }

    #[test]
    fn a_bounded_flush_abandons_what_cannot_be_delivered() {
        let (url, _bodies) = serve(503);
        let (c, events) = client(&format!(
            r#"{{"write_key":"k","host":"{url}","min_retry_delay":20,"max_retry_delay":50}}"#
        ));
        for _ in 0..5 {
            c.enqueue(Kind::Identify, r#"{"userId":"u"}"#.into(), true)
                .unwrap();
        }
        c.flush(9, Some(Duration::from_millis(300)), true).unwrap();
        let (timed_out, seen) = wait_flushed(&events, 9);
        assert!(timed_out);
        assert!(seen.iter().any(|e| matches!(
            e,
            Event::Settled {
                first: 0,
                last: 4,
                error: Some(_)
            }
        )));
        let s = c.stats();
        assert_eq!(s.dropped.get("flush_timeout"), Some(&5));
        assert_eq!((s.queued, s.queued_bytes), (0, 0));
        assert!(s.retried >= 1);
    }

    #[test]
    fn a_shutdown_flush_retries_a_batch_in_backoff_before_its_deadline() {
        // Segment fails long enough for the backoff to grow past the
        // shutdown bound (retries after 0.2, 0.4, 0.8, 1.6 s, then >= 3.2 s),
        // then recovers just as the store stops.
        let (url, bodies, status) = serve_switchable(503);
        let (c, events) = client(&format!(
            r#"{{"write_key":"k","host":"{url}","flush_at":1,"min_retry_delay":200,"max_retry_delay":60000}}"#
        ));
        c.enqueue(Kind::Identify, r#"{"userId":"u"}"#.into(), true)
            .unwrap();
        for _ in 0..5 {
            bodies
                .recv_timeout(Duration::from_secs(10))
                .expect("attempt");
        }
        // The fifth attempt was refused too: its retry is scheduled.
        while c.stats().retried < 5 {
            std::thread::sleep(Duration::from_millis(5));
        }
        status.store(200, Relaxed);
        c.flush(1, Some(Duration::from_millis(1500)), true).unwrap();
        let (timed_out, seen) = wait_flushed(&events, 1);
        assert!(!timed_out, "delivered before the bound: {seen:?}");
        let s = c.stats();
        assert_eq!((s.delivered, s.dropped.get("flush_timeout")), (1, None));
    }

    /// Hand over one message every ~200 µs (a burst) for `length`. Returns
    /// how many were handed over, and how long after the start `seen` (asked
    /// after every message) first held.
    fn burst(
        c: &Client,
        length: Duration,
        mut seen: impl FnMut() -> bool,
    ) -> (usize, Option<Duration>) {
        let t0 = Instant::now();
        let (mut n, mut first) = (0, None);
        while t0.elapsed() < length {
            c.enqueue(Kind::Track, r#"{"userId":"u","event":"E"}"#.into(), false)
                .unwrap();
            n += 1;
            if first.is_none() && seen() {
                first = Some(t0.elapsed());
            }
            std::thread::sleep(Duration::from_micros(200));
        }
        (n, first)
    }

    #[test]
    fn a_burst_is_sent_once_the_host_pauses() {
        let (url, bodies) = serve(200);
        let (c, _events) = client(&format!(
            r#"{{"write_key":"k","host":"{url}","flush_at":1,"flush_interval":10000}}"#
        ));
        let (sent, _) = burst(&c, Duration::from_millis(300), || false);
        // Sent at once, nearly all would have arrived by now (the server
        // answers in well under 200 µs); held, none has. Half leaves room
        // for this thread being descheduled, which looks like a pause.
        let during = bodies.try_iter().count();
        assert!(
            during * 2 < sent,
            "{during} of {sent} arrived during the burst"
        );
        // No flush, and flush_interval is far off: the pause alone sends them.
        for n in during..sent {
            bodies
                .recv_timeout(Duration::from_secs(5))
                .unwrap_or_else(|_| panic!("{n} of {sent} arrived after the burst"));
        }
    }

    #[test]
    fn a_batch_waits_for_a_pause_no_longer_than_flush_interval() {
        let (url, bodies) = serve(200);
        let (c, _events) = client(&format!(
            r#"{{"write_key":"k","host":"{url}","flush_at":1,"flush_interval":200}}"#
        ));
        let (_, first) = burst(&c, Duration::from_millis(1500), || {
            bodies.try_recv().is_ok()
        });
        let first = first.expect("a request while the burst went on");
        assert!(
            first < Duration::from_millis(1000),
            "first request after {first:?}"
        );
    }

    #[test]
    fn a_flush_does_not_wait_for_the_host_to_pause() {
        let (url, _bodies) = serve(200);
        let (c, events) = client(&format!(
            r#"{{"write_key":"k","host":"{url}","flush_at":1,"flush_interval":10000}}"#
        ));
        burst(&c, Duration::from_millis(100), || false);
        c.flush(1, None, false).unwrap();
        let flushed = Event::Flushed {
            id: 1,
            timed_out: false,
        };
        let (_, at) = burst(&c, Duration::from_millis(3000), || {
            events.try_iter().any(|e| e == flushed)
        });
        let at = at.expect("the flush completed while the burst went on");
        assert!(at < Duration::from_millis(2000), "flushed after {at:?}");
    }

    #[test]
    fn disabled_and_invalid_messages_are_counted_not_sent() {
        let (c, events) = client(r#"{"enabled":false}"#);
        c.enqueue(Kind::Track, r#"{"userId":"u","event":"E"}"#.into(), true)
            .unwrap();
        c.enqueue(Kind::Track, r#"{"userId":"u"}"#.into(), true)
            .unwrap();
        c.flush(2, None, false).unwrap();
        let (_, seen) = wait_flushed(&events, 2);
        assert!(seen.contains(&Event::Settled {
            first: 0,
            last: 0,
            error: None
        }));
        assert!(seen
            .iter()
            .any(|e| matches!(e, Event::Rejected { seq: 1, error } if error.contains("event"))));
        let s = c.stats();
        assert_eq!(s.dropped.get("disabled"), Some(&1));
        assert_eq!(s.dropped.get("invalid"), Some(&1));
        c.close();
        assert_eq!(
            c.enqueue(Kind::Track, "{}".into(), false),
            Err(EnqueueError::Closed)
        );
    }

    #[test]
    fn a_full_queue_drops_the_newest() {
        // Port 9 refuses connections: the first message stays queued (retrying).
        let (c, _events) = client(
            r#"{"write_key":"k","host":"http://127.0.0.1:9","max_queue_bytes":32768,"flush_at":1}"#,
        );
        let big = format!(
            r#"{{"userId":"u","event":"E","p":"{}"}}"#,
            "x".repeat(20_000)
        );
        assert_eq!(c.enqueue(Kind::Track, big.clone(), false), Ok(0));
        assert_eq!(
            c.enqueue(Kind::Track, big, false),
            Err(EnqueueError::QueueFull)
        );
        assert_eq!(c.enqueue(Kind::Track, "{}".into(), false), Ok(1));
        let s = c.stats();
        assert_eq!(s.accepted, 3);
        assert_eq!(s.dropped.get("queue_full"), Some(&1));
        assert!(s.queued_bytes <= 32768);
    }
}
