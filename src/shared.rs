//! What a client's front (the caller's thread) and its worker share: the
//! configuration, the counters, sequence numbers, and the sink that carries
//! results and log lines back to the owner.

use std::sync::atomic::{AtomicBool, AtomicU64};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::config::Config;
use crate::log::{Level, LogLimiter};
use crate::redact::Redactor;
use crate::stats::Stats;

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

const LOG_INTERVAL: Duration = Duration::from_secs(10);

pub struct Shared {
    pub config: Arc<Config>,
    pub stats: Stats,
    pub next_seq: AtomicU64,
    pub closed: AtomicBool,
    pub sink: Sink,
    limiter: LogLimiter,
    redactor: Redactor,
}

impl Shared {
    pub fn new(config: Arc<Config>, sink: Sink) -> Shared {
        Shared {
            stats: Stats::default(),
            next_seq: AtomicU64::new(0),
            closed: AtomicBool::new(false),
            sink,
            limiter: LogLimiter::new(LOG_INTERVAL),
            redactor: Redactor::for_logs(config.write_key.as_deref()),
            config,
        }
    }

    /// Hand an event to the owner. Every text in it (log lines, callback
    /// errors) passes the redactor here, whatever produced it: a server's
    /// answer or an error chain may echo the write key.
    pub fn emit(&self, event: Event) {
        let hide = |text: String| match self.redactor.text(&text) {
            std::borrow::Cow::Borrowed(_) => text,
            std::borrow::Cow::Owned(redacted) => redacted,
        };
        let event = match event {
            Event::Settled { first, last, error } => Event::Settled {
                first,
                last,
                error: error.map(hide),
            },
            Event::Rejected { seq, error } => Event::Rejected {
                seq,
                error: hide(error),
            },
            Event::Log { level, message } => Event::Log {
                level,
                message: hide(message),
            },
            other => other,
        };
        (self.sink)(event);
    }

    /// A log line, unless one with the same `key` went out recently.
    pub fn log(&self, level: Level, key: &str, message: String) {
        if let Some(suppressed) = self.limiter.allow(key, Instant::now()) {
            let message = if suppressed > 0 {
                format!("[segment] {message} ({suppressed} similar messages suppressed)")
            } else {
                format!("[segment] {message}")
            };
            self.emit(Event::Log { level, message });
        }
    }
}
