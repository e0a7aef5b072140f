//! The worker of one client, on the shared runtime: drains the inbox,
//! prepares each message (validation, enrichment), packs batches, hands
//! them to delivery tasks, and settles them — counts, callbacks, flushes.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::Arc;
use std::time::Duration;

use time::OffsetDateTime;
use tokio::sync::mpsc;
use tokio::task::AbortHandle;
use tokio::time::Instant as TokioInstant;

use crate::batch::{Batch, Batcher, Item, MESSAGE_OVERHEAD};
use crate::delivery::{self, Gate, Outcome, Sender};
use crate::inbox::{Cmd, Inbox};
use crate::log::Level;
use crate::message::{self, Kind};
use crate::shared::{Event, Shared};
use crate::spool::backend::SpoolBackend;
use crate::spool::Spooled;

/// Worker polling period while messages flow, and idle polls before parking.
const POLL: Duration = Duration::from_millis(1);
const IDLE_POLLS: u32 = 5;
/// Polls without a message after which a burst counts as paused.
const QUIET_POLLS: u32 = 3;

/// Start the worker of one client on the shared runtime. It ends once the
/// client is closed and what is pending has settled.
pub fn spawn(shared: Arc<Shared>, inbox: Arc<Inbox>, spool: Option<Arc<dyn SpoolBackend>>) {
    let config = shared.config.clone();
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
    let (done_tx, done_rx) = mpsc::unbounded_channel();
    let spool = sender.as_ref().and(spool);
    let stop_replay = Arc::new(AtomicBool::new(false));
    let replaying = spool.as_ref().is_some_and(|spool| {
        spool
            .clone()
            .spawn_replay(shared.clone(), inbox.clone(), stop_replay.clone())
    });
    let worker = Worker {
        replaying,
        stop_replay,
        spool,
        shared,
        batcher: Batcher::new(config.flush_at),
        deadline: None,
        outstanding: BTreeMap::new(),
        last_seq: None,
        waiters: Vec::new(),
        sender,
        gate: Arc::new(Gate::new(config.max_in_flight)),
        done_tx,
        closing: false,
    };
    crate::runtime().spawn(worker.run(inbox, done_rx));
}

/// `prepare`, with the messageId and time the spool stored, if any.
fn prepare(kind: Kind, json: &str, spooled: &Spooled) -> Result<String, message::MessageError> {
    match spooled {
        Spooled::Stamped(st) => {
            let at = OffsetDateTime::from_unix_timestamp_nanos(st.at_ms as i128 * 1_000_000)
                .unwrap_or_else(|_| OffsetDateTime::now_utc());
            message::prepare_stamped(kind, json, at, uuid::Uuid::from_bytes(st.message_id))
        }
        _ => message::prepare(kind, json, OffsetDateTime::now_utc()),
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
    /// Durable copy of what is accepted and not yet settled (src/spool).
    spool: Option<Arc<dyn SpoolBackend>>,
    batcher: Batcher,
    /// Interval deadline of the open batch: (its first seq, when it closes).
    deadline: Option<(u64, TokioInstant)>,
    /// Dispatched batches not yet settled, by first seq.
    outstanding: BTreeMap<u64, Outstanding>,
    last_seq: Option<u64>,
    waiters: Vec<Waiter>,
    sender: Option<Arc<Sender>>,
    gate: Arc<Gate>,
    done_tx: mpsc::UnboundedSender<Done>,
    closing: bool,
    /// The spool's replayer is feeding adopted messages: flushes and the
    /// close wait for it (it may still be reading them from disk).
    replaying: bool,
    /// Tells the replayer to stop (a bounded flush gave up; the worker ended).
    stop_replay: Arc<AtomicBool>,
}

async fn sleep_until(at: Option<TokioInstant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

impl Worker {
    async fn run(mut self, inbox: Arc<Inbox>, mut done_rx: mpsc::UnboundedReceiver<Done>) {
        let mut buf = Vec::new();
        let mut idle_polls = 0u32;
        // The Redis spool claims what dead processes left while this one
        // runs; the worker takes the claimed messages on this timer. (The
        // disk spool's replay thread feeds the inbox itself.)
        let adopt_every = self.spool.as_ref().and_then(|s| s.adopt_every());
        let mut next_adopt = adopt_every.map(|p| TokioInstant::now() + p);
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
            if self.closing
                && !self.replaying
                && self.outstanding.is_empty()
                && self.batcher.is_empty()
            {
                break;
            }
            let park = idle_polls >= IDLE_POLLS && inbox.park();
            let poll_at = (!park).then(|| TokioInstant::now() + POLL);
            let batch_at = self.deadline.map(|(_, at)| at);
            let flush_at = self.waiters.iter().filter_map(|w| w.deadline).min();
            tokio::select! {
                _ = inbox.woken(), if park => {}
                _ = sleep_until(poll_at) => {}
                Some(done) = done_rx.recv() => self.complete(done),
                _ = sleep_until(batch_at) => self.close_open_batch(),
                _ = sleep_until(flush_at) => self.expire_waiters(),
                _ = sleep_until(next_adopt) => {
                    next_adopt = adopt_every.map(|p| TokioInstant::now() + p);
                    self.adopt_claimed();
                }
            }
        }
        self.stop_replay.store(true, Relaxed);
        if let Some(spool) = self.spool.take() {
            spool.close();
        }
        // Refuse further pushes; answer anyone still waiting.
        inbox.close(&mut buf);
        for cmd in buf.drain(..) {
            if let Cmd::Flush { id, .. } = cmd {
                self.shared.emit(Event::Flushed {
                    id,
                    timed_out: false,
                });
            }
        }
        for w in std::mem::take(&mut self.waiters) {
            self.shared.emit(Event::Flushed {
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
                spooled,
            } => {
                // (the largest: a flush covers everything handed over before it)
                self.last_seq = self.last_seq.max(Some(seq));
                self.accept(seq, kind, json, charged, has_callback, spooled);
            }
            Cmd::ReplayStart => self.replaying = true,
            Cmd::ReplayDone => {
                self.replaying = false;
                // What was waiting for the replay covers all it handed over.
                for w in &mut self.waiters {
                    w.target = w.target.max(self.last_seq);
                }
                self.close_open_batch();
                self.check_waiters();
            }
            Cmd::Flush {
                id,
                timeout,
                abandon,
            } => {
                // A flush covers what the spool has claimed from dead processes.
                self.adopt_claimed();
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

    /// Take the messages the spool claimed from dead processes (Redis): they
    /// are accepted again here, with their original messageId, checked and
    /// charged like the disk spool's replayed records, and held by our own
    /// spool until settled. The spool claims no more than half of
    /// `max_queue_bytes` beyond what is queued.
    fn adopt_claimed(&mut self) {
        let Some(spool) = self.spool.clone() else {
            return;
        };
        let shared = self.shared.clone();
        let adopted = spool.adopt(&mut || shared.next_seq.fetch_add(1, Relaxed));
        let n = adopted.len() as u64;
        for (seq, m, spooled) in adopted {
            let stats = &shared.stats;
            stats.accepted.fetch_add(1, Relaxed);
            let kind = Kind::from_code(m.stamp.kind as u32);
            let checked = match kind {
                None => Err("an unknown message type"),
                Some(_) => crate::spool::replay::check_record(&m.json),
            };
            let Some(kind) = kind.filter(|_| checked.is_ok()) else {
                spool.settle(seq, seq);
                stats.drop_messages("spool_invalid", 1);
                shared.log(
                    Level::Error,
                    "spool_invalid",
                    format!(
                        "spool: dropped a message taken over from a dead process that this plugin \
                         does not write ({}); check who else writes to the spool",
                        checked.err().unwrap_or("an unknown message type")
                    ),
                );
                continue;
            };
            let charged = m.json.len() + MESSAGE_OVERHEAD;
            stats.queued.fetch_add(1, Relaxed);
            stats.queued_bytes.fetch_add(charged as u64, Relaxed);
            stats.replayed.fetch_add(1, Relaxed);
            // (the largest: a flush covers everything handed over before it)
            self.last_seq = self.last_seq.max(Some(seq));
            self.accept(seq, kind, m.json, charged, false, spooled);
        }
        if n > 0 {
            shared.log(
                Level::Info,
                "spool_replay",
                format!("spool: replaying {n} messages left by a process that ended before delivering them"),
            );
        }
    }
    fn accept(
        &mut self,
        seq: u64,
        kind: Kind,
        json: String,
        charged: usize,
        has_callback: bool,
        spooled: Spooled,
    ) {
        let shared = self.shared.clone();
        let stats = &shared.stats;
        if let Spooled::Full = spooled {
            stats.drop_messages("spool_full", 1);
            stats.settle(1, charged as u64);
            let error = format!(
                "spool full (max_spool_bytes {}): dropped a message; raise max_spool_bytes \
                 or check why Segment is not accepting messages",
                shared.config.max_spool_bytes
            );
            shared.log(Level::Error, "spool_full", error.clone());
            if has_callback {
                shared.emit(Event::Rejected { seq, error });
            }
            return;
        }
        let json = match prepare(kind, &json, &spooled) {
            Ok(j) => j,
            Err(e) => {
                if let (Some(spool), Spooled::Stamped(_)) = (&self.spool, &spooled) {
                    spool.settle(seq, seq);
                }
                stats.drop_messages(e.reason, 1);
                stats.settle(1, charged as u64);
                shared.log(Level::Error, e.reason, format!("dropped a message: {e}"));
                if has_callback {
                    shared.emit(Event::Rejected {
                        seq,
                        error: e.message,
                    });
                }
                return;
            }
        };
        self.enqueue_prepared(seq, json, charged, has_callback);
    }

    /// Add a prepared message to the open batch.
    fn enqueue_prepared(&mut self, seq: u64, json: String, charged: usize, has_callback: bool) {
        let shared = self.shared.clone();
        let stats = &shared.stats;
        if self.sender.is_none() {
            stats.drop_messages("disabled", 1);
            stats.settle(1, charged as u64);
            if has_callback {
                shared.emit(Event::Settled {
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
            abort: tokio::spawn(delivery_task(
                sender,
                Arc::new(batch),
                self.gate.clone(),
                self.shared.clone(),
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
        if let Some(spool) = &self.spool {
            spool.settle(done.first, rec.last);
        }
        if rec.has_callbacks {
            shared.emit(Event::Settled {
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
        self.gate.set_host_busy(busy);
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
        if self.replaying {
            return false;
        }
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
                self.shared.emit(Event::Flushed {
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
        self.gate.set_hurry(hurry);
    }

    fn expire_waiters(&mut self) {
        let now = TokioInstant::now();
        let mut i = 0;
        while i < self.waiters.len() {
            if self.waiters[i].deadline.is_some_and(|d| d <= now) {
                let w = self.waiters.remove(i);
                if w.abandon {
                    // What the replayer has not read yet stays on disk.
                    self.stop_replay.store(true, Relaxed);
                    if let Some(t) = w.target {
                        self.abandon_up_to(t);
                    }
                }
                self.shared.emit(Event::Flushed {
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
                shared.emit(Event::Settled {
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
            // spool: abandoned messages are not settled there; the next
            // start replays them.
            let kept = if self.spool.as_ref().is_some_and(|s| s.is_active()) {
                "; they stay in the spool and the next start delivers them"
            } else {
                ""
            };
            shared.log(
                Level::Error,
                "flush_timeout",
                format!("flush timed out: dropped {total} undelivered messages{kept}"),
            );
        }
    }
}

/// A batch's delivery, reported back to the worker when it settles.
async fn delivery_task(
    sender: Arc<Sender>,
    batch: Arc<Batch>,
    gate: Arc<Gate>,
    shared: Arc<Shared>,
    done: mpsc::UnboundedSender<Done>,
) {
    let report = Report {
        first: batch.first,
        done: Some(done),
    };
    let log_to = shared.clone();
    let log = move |level: Level, key: &str, msg: String| log_to.log(level, key, msg);
    let outcome = delivery::deliver(&sender, batch, &gate, &shared.stats, &log).await;
    report.send(outcome);
}

/// Reports a delivery task's outcome to the worker, and a failure if the
/// task panics instead (a bug): its batch is then counted and its flush
/// settles, rather than waiting forever. (An aborted task reports nothing:
/// the worker gave its batch up itself.)
struct Report {
    first: u64,
    done: Option<mpsc::UnboundedSender<Done>>,
}

impl Report {
    fn send(mut self, outcome: Outcome) {
        if let Some(done) = self.done.take() {
            let _ = done.send(Done {
                first: self.first,
                outcome,
            });
        }
    }
}

impl Drop for Report {
    fn drop(&mut self) {
        if let (Some(done), true) = (self.done.take(), std::thread::panicking()) {
            let _ = done.send(Done {
                first: self.first,
                outcome: Outcome::Failed {
                    reason: "internal_error".to_string(),
                    detail: "the delivery task failed (a bug in the plugin; please report it)"
                        .to_string(),
                },
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_delivery_task_that_panics_still_reports_its_batch() {
        let (tx, mut rx) = mpsc::unbounded_channel();
        let task = tokio::spawn(async move {
            let _report = Report {
                first: 7,
                done: Some(tx),
            };
            panic!("a bug");
        });
        assert!(task.await.is_err());
        let done = rx.recv().await.expect("a report");
        assert_eq!(done.first, 7);
        assert!(
            matches!(done.outcome, Outcome::Failed { ref reason, .. } if reason == "internal_error")
        );
    }

    #[tokio::test]
    async fn an_aborted_delivery_task_reports_nothing() {
        let (tx, mut rx) = mpsc::unbounded_channel();
        let task = tokio::spawn(async move {
            let _report = Report {
                first: 7,
                done: Some(tx),
            };
            std::future::pending::<()>().await;
        });
        tokio::task::yield_now().await;
        task.abort();
        assert!(task.await.is_err());
        assert!(rx.recv().await.is_none());
    }
}
