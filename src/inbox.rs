//! Commands from the owner's thread to the client's worker.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed, Ordering::SeqCst};
use std::sync::Mutex;
use std::time::Duration;

use tokio::sync::Notify;

use crate::message::Kind;
use crate::spool::Spooled;

pub enum Cmd {
    Msg {
        seq: u64,
        kind: Kind,
        json: String,
        charged: usize,
        has_callback: bool,
        /// spool: what the front's `Spool::accept` did with it.
        spooled: Spooled,
    },
    Flush {
        id: u64,
        timeout: Option<Duration>,
        abandon: bool,
    },
    Close,
    /// spool: the replayer is adopting files; flushes wait for it.
    ReplayStart,
    /// spool: the replayer pushed all it read (or stopped).
    ReplayDone,
}

/// A plain mutex-guarded Vec rather than a channel: a channel wakes the
/// worker thread (a futex syscall) on nearly every send when the worker keeps
/// up, and that syscall would be most of `enqueue`'s cost on the JS thread.
/// Here the worker polls every millisecond while messages flow and parks
/// when idle; only a push that finds it parked wakes it.
pub struct Inbox {
    queue: Mutex<Vec<Cmd>>,
    parked: AtomicBool,
    /// Set once the worker has stopped: pushes are refused.
    gone: AtomicBool,
    notify: Notify,
}

impl Inbox {
    pub fn new() -> Inbox {
        Inbox {
            queue: Mutex::new(Vec::new()),
            parked: AtomicBool::new(false),
            gone: AtomicBool::new(false),
            notify: Notify::new(),
        }
    }

    /// False once the worker is gone. `urgent` wakes a polling worker too.
    pub fn push(&self, cmd: Cmd, urgent: bool) -> bool {
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

    /// Push a message made with the next sequence number, taken under the
    /// queue's lock: the worker sees messages in sequence order even when two
    /// threads (the caller's and the spool's replayer) push at once. `None`
    /// (and `make` not called) once the worker is gone.
    pub fn push_msg(&self, next_seq: &AtomicU64, make: impl FnOnce(u64) -> Cmd) -> Option<u64> {
        let seq;
        {
            let mut q = self.queue.lock().unwrap_or_else(|e| e.into_inner());
            if self.gone.load(SeqCst) {
                return None;
            }
            seq = next_seq.fetch_add(1, Relaxed);
            q.push(make(seq));
        }
        if self.parked.swap(false, SeqCst) {
            self.notify.notify_one();
        }
        Some(seq)
    }

    pub fn drain(&self, into: &mut Vec<Cmd>) {
        let mut q = self.queue.lock().unwrap_or_else(|e| e.into_inner());
        std::mem::swap(&mut *q, into);
    }

    /// Mark the worker parked unless a command is already waiting; returns
    /// whether it parked. A push that saw `parked == false` is seen here.
    pub fn park(&self) -> bool {
        self.parked.store(true, SeqCst);
        let empty = self
            .queue
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .is_empty();
        if !empty {
            self.parked.store(false, SeqCst);
        }
        empty
    }

    /// Wait for a push while parked.
    pub async fn woken(&self) {
        self.notify.notified().await;
        self.parked.store(false, SeqCst);
    }

    /// Refuse further pushes and take what is left.
    pub fn close(&self, into: &mut Vec<Cmd>) {
        let mut q = self.queue.lock().unwrap_or_else(|e| e.into_inner());
        self.gone.store(true, SeqCst);
        std::mem::swap(&mut *q, into);
    }
}
