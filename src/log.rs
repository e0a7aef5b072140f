//! Log lines of the core: their severity and a rate limiter so that an
//! outage or a flood of bad messages writes a line per cause now and then,
//! not one per message. The write key is taken out of every line and error
//! by `crate::redact` (in `Shared::emit`).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Log severity.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    Info = 0,
    Warn = 1,
    Error = 2,
}

/// Callback for log lines: (level, rate-limit key, message).
pub type LogFn = dyn Fn(Level, &str, String) + Send + Sync;

/// Lets through the first log line of each key, then at most one per
/// `interval`, reporting how many were suppressed in between.
#[derive(Debug)]
pub struct LogLimiter {
    interval: Duration,
    state: Mutex<HashMap<String, (Instant, u64)>>,
}

impl LogLimiter {
    pub fn new(interval: Duration) -> LogLimiter {
        LogLimiter {
            interval,
            state: Mutex::new(HashMap::new()),
        }
    }

    /// `Some(suppressed)` when a line for `key` may be written now.
    pub fn allow(&self, key: &str, now: Instant) -> Option<u64> {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        match state.get_mut(key) {
            None => {
                state.insert(key.to_string(), (now, 0));
                Some(0)
            }
            Some((last, suppressed)) => {
                if now.duration_since(*last) >= self.interval {
                    let n = *suppressed;
                    *last = now;
                    *suppressed = 0;
                    Some(n)
                } else {
                    *suppressed += 1;
                    None
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limiter_lets_one_line_per_interval() {
        let l = LogLimiter::new(Duration::from_secs(10));
        let t0 = Instant::now();
        assert_eq!(l.allow("a", t0), Some(0));
        assert_eq!(l.allow("a", t0 + Duration::from_secs(1)), None);
        assert_eq!(l.allow("a", t0 + Duration::from_secs(2)), None);
        assert_eq!(l.allow("b", t0 + Duration::from_secs(2)), Some(0));
        assert_eq!(l.allow("a", t0 + Duration::from_secs(11)), Some(2));
        assert_eq!(l.allow("a", t0 + Duration::from_secs(12)), None);
    }
}
