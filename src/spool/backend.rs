//! The contract every spool keeps, so the client and its worker need not
//! know where accepted messages are kept: the disk spool (`spool_dir`,
//! src/spool/mod.rs) and the Redis spool (`spool_url`, src/spool/redis.rs)
//! sit behind it, and __tests__/core/spool-shared.test.js runs the same
//! multi-process suite against both.
//!
//! What dead processes left is taken over two ways: the disk spool's
//! replay thread (src/spool/replay.rs) reads their files and feeds the
//! inbox itself (`spawn_replay`); the Redis spool claims their entries on
//! its own task and the worker takes them on a timer (`adopt`,
//! `adopt_every`).

use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

use crate::inbox::Inbox;
use crate::message::Kind;
use crate::shared::Shared;

use super::{Spool, Spooled, Stored};

/// Where accepted messages survive the death of their process.
pub trait SpoolBackend: Send + Sync {
    /// Keep a newly accepted message (on the caller's thread: cheap, no
    /// I/O); the stamp returned is the messageId and time to prepare it with.
    fn accept(&self, seq: u64, kind: Kind, json: &str) -> Spooled;

    /// Messages `first..=last` are settled (delivered or given up on).
    fn settle(&self, first: u64, last: u64);

    /// Write what is buffered now (the process is about to exit).
    fn commit(&self);

    /// False once the spool failed for good: messages live in memory only.
    fn is_active(&self) -> bool;

    /// The client is closing and everything accepted has settled.
    fn close(&self);

    /// Start a thread that adopts what dead processes left and pushes it
    /// to the inbox between `Cmd::ReplayStart`/`Cmd::ReplayDone`; true if
    /// it started (the worker then waits for its first round's
    /// `ReplayDone`). `stop` ends it.
    fn spawn_replay(
        self: Arc<Self>,
        _shared: Arc<Shared>,
        _inbox: Arc<Inbox>,
        _stop: Arc<AtomicBool>,
    ) -> bool {
        false
    }

    /// Messages claimed from dead processes since the last call, now held
    /// by this spool under the sequence numbers `next_seq` gives them: the
    /// worker delivers them with their original messageId and settles them
    /// like its own.
    fn adopt(&self, _next_seq: &mut dyn FnMut() -> u64) -> Vec<(u64, Stored, Spooled)> {
        Vec::new()
    }

    /// How often the worker calls `adopt` while it runs (`None`: never).
    fn adopt_every(&self) -> Option<Duration> {
        None
    }
}

/// The spool the configuration asks for, if any (none when the client does
/// not deliver). A spool that cannot be used is logged with the fix, and
/// delivery goes on from memory.
pub fn open(shared: &Arc<Shared>) -> Option<Arc<dyn SpoolBackend>> {
    if shared.config.spool_url.is_some() {
        if !shared.config.delivers() {
            return None;
        }
        return super::redis::RedisSpool::open_logged(shared).map(|s| s as Arc<dyn SpoolBackend>);
    }
    Spool::open_logged(shared).map(|s| s as Arc<dyn SpoolBackend>)
}

impl SpoolBackend for Spool {
    fn accept(&self, seq: u64, kind: Kind, json: &str) -> Spooled {
        Spool::accept(self, seq, kind, json)
    }

    fn settle(&self, first: u64, last: u64) {
        Spool::settle(self, first, last)
    }

    fn commit(&self) {
        Spool::commit(self);
    }

    fn is_active(&self) -> bool {
        Spool::is_active(self)
    }

    fn close(&self) {
        Spool::close(self)
    }

    /// The files of dead processes, at the start and every
    /// `spool_takeover_ms / 2` (src/spool/replay.rs).
    fn spawn_replay(
        self: Arc<Self>,
        shared: Arc<Shared>,
        inbox: Arc<Inbox>,
        stop: Arc<AtomicBool>,
    ) -> bool {
        super::replay::spawn(shared, self, inbox, stop)
    }
}
