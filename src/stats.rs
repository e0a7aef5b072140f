//! Counters of one client.
//!
//! Invariant (once the queue is drained): every accepted message ends in
//! exactly one of `delivered`, `failed` or `dropped[reason]`;
//! `accepted = delivered + failed + sum(dropped) + queued`.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Mutex;

#[derive(Debug, Default)]
pub struct Stats {
    pub accepted: AtomicU64,
    pub delivered: AtomicU64,
    pub failed: AtomicU64,
    pub retried: AtomicU64,
    pub batches: AtomicU64,
    pub requests: AtomicU64,
    pub bytes_sent: AtomicU64,
    /// Messages accepted and not yet settled.
    pub queued: AtomicU64,
    /// Bytes charged for queued messages (bounded by `max_queue_bytes`).
    pub queued_bytes: AtomicU64,
    pub in_flight: AtomicU64,
    /// Spool (src/spool): messages replayed from dead processes' files,
    /// files found with a damaged tail, write failures, bytes on disk.
    pub replayed: AtomicU64,
    pub spool_damaged: AtomicU64,
    pub spool_errors: AtomicU64,
    pub spool_bytes: AtomicU64,
    /// Redis spool: unsettled messages of this process that Redis lost.
    pub spool_lost: AtomicU64,
    dropped: Mutex<BTreeMap<String, u64>>,
    failed_by_reason: Mutex<BTreeMap<String, u64>>,
}

/// A point-in-time copy of the counters.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Snapshot {
    pub accepted: u64,
    pub delivered: u64,
    pub failed: u64,
    pub failed_reasons: BTreeMap<String, u64>,
    pub dropped: BTreeMap<String, u64>,
    pub retried: u64,
    pub queued: u64,
    pub queued_bytes: u64,
    pub in_flight: u64,
    pub batches: u64,
    pub requests: u64,
    pub bytes_sent: u64,
    pub replayed: u64,
    pub spool_damaged: u64,
    pub spool_errors: u64,
    pub spool_bytes: u64,
    pub spool_lost: u64,
}

impl Stats {
    /// Count `n` messages dropped for `reason` (and no longer queued).
    pub fn drop_messages(&self, reason: &str, n: u64) {
        *self
            .dropped
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(reason.to_string())
            .or_default() += n;
    }

    /// Count `n` messages whose delivery was given up for `reason`.
    pub fn fail_messages(&self, reason: &str, n: u64) {
        self.failed.fetch_add(n, Relaxed);
        *self
            .failed_by_reason
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(reason.to_string())
            .or_default() += n;
    }

    /// Remove settled messages from the queue accounting.
    pub fn settle(&self, messages: u64, charged: u64) {
        self.queued.fetch_sub(messages, Relaxed);
        self.queued_bytes.fetch_sub(charged, Relaxed);
    }

    pub fn snapshot(&self) -> Snapshot {
        Snapshot {
            accepted: self.accepted.load(Relaxed),
            delivered: self.delivered.load(Relaxed),
            failed: self.failed.load(Relaxed),
            failed_reasons: self
                .failed_by_reason
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .clone(),
            dropped: self
                .dropped
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .clone(),
            retried: self.retried.load(Relaxed),
            queued: self.queued.load(Relaxed),
            queued_bytes: self.queued_bytes.load(Relaxed),
            in_flight: self.in_flight.load(Relaxed),
            batches: self.batches.load(Relaxed),
            requests: self.requests.load(Relaxed),
            bytes_sent: self.bytes_sent.load(Relaxed),
            replayed: self.replayed.load(Relaxed),
            spool_damaged: self.spool_damaged.load(Relaxed),
            spool_errors: self.spool_errors.load(Relaxed),
            spool_bytes: self.spool_bytes.load(Relaxed),
            spool_lost: self.spool_lost.load(Relaxed),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_and_snapshots() {
        let s = Stats::default();
        s.accepted.fetch_add(6, Relaxed);
        s.queued.fetch_add(6, Relaxed);
        s.queued_bytes.fetch_add(600, Relaxed);
        s.delivered.fetch_add(2, Relaxed);
        s.fail_messages("http_400", 1);
        s.drop_messages("invalid", 1);
        s.drop_messages("invalid", 1);
        s.settle(5, 500);
        let snap = s.snapshot();
        assert_eq!(snap.dropped["invalid"], 2);
        assert_eq!(snap.failed, 1);
        assert_eq!(snap.failed_reasons["http_400"], 1);
        assert_eq!((snap.queued, snap.queued_bytes), (1, 100));
        let dropped: u64 = snap.dropped.values().sum();
        assert_eq!(
            snap.accepted,
            snap.delivered + snap.failed + dropped + snap.queued
        );
    }
}
