//! Retry policy: which outcomes are retried and how long to wait.

use std::time::{Duration, SystemTime};

use backon::{BackoffBuilder, ExponentialBackoff, ExponentialBuilder};

use crate::config::Config;

/// What to do after a response status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Delivered,
    Retry,
    Final,
}

/// As Segment's current libraries: 2xx delivered; 408, 410, 429, 460 and 5xx
/// (except 501 and 505) retried; every other status final, 3xx included
/// (redirects are not followed: see `Sender::new`).
pub fn classify(status: u16) -> Verdict {
    match status {
        200..=299 => Verdict::Delivered,
        408 | 410 | 429 | 460 => Verdict::Retry,
        501 | 505 => Verdict::Final,
        500..=599 => Verdict::Retry,
        _ => Verdict::Final,
    }
}

/// The longest `Retry-After` taken as given; a larger one (`1e30`, a date in
/// 9999) is clamped to it. `Backoff::next_delay` caps it further.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(300);

/// Parse a `Retry-After` header: delay-seconds or an HTTP date, clamped to
/// `MAX_RETRY_AFTER`. Garbage gives `None` (the computed backoff applies).
pub fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let v = value.trim();
    // Floats too: some servers send "1.5" or "1e3"; digits beyond u64 parse as f64.
    if let Ok(secs) = v.parse::<f64>() {
        // (NaN and negatives, -0 included, are errors here, never a panic.)
        if secs.is_nan() {
            return None;
        }
        return Duration::try_from_secs_f64(secs.min(MAX_RETRY_AFTER.as_secs_f64())).ok();
    }
    let when = httpdate::parse_http_date(v).ok()?;
    Some(
        when.duration_since(now)
            .unwrap_or(Duration::ZERO)
            .min(MAX_RETRY_AFTER),
    )
}

/// Delays between the attempts of one batch: exponential with jitter,
/// bounded by `max_retries` and by the total time since the first attempt.
#[derive(Debug)]
pub struct Backoff {
    delays: ExponentialBackoff,
    budget: Duration,
    max_retry_delay: Duration,
}

impl Backoff {
    pub fn new(config: &Config) -> Backoff {
        let delays = ExponentialBuilder::default()
            .with_min_delay(config.min_retry_delay)
            .with_max_delay(config.max_retry_delay)
            .with_factor(2.0)
            .with_jitter()
            .with_max_times(config.max_retries as usize)
            .build();
        Backoff {
            delays,
            budget: config.max_retry_time,
            max_retry_delay: config.max_retry_delay,
        }
    }

    /// The wait before the next attempt, or `None` when the batch must be
    /// given up. `elapsed` is the time since the first attempt started;
    /// a server's `Retry-After` replaces the computed delay (capped at
    /// `max(max_retry_delay, 60 s)`).
    pub fn next_delay(
        &mut self,
        elapsed: Duration,
        retry_after: Option<Duration>,
    ) -> Option<Duration> {
        let computed = self.delays.next()?;
        let delay = match retry_after {
            Some(ra) => self.cap(ra),
            None => computed,
        };
        if elapsed + delay > self.budget {
            return None;
        }
        Some(delay)
    }

    /// The wait a rate limit (429 + `Retry-After`) asks for, capped as in
    /// `next_delay`, or `None` once it would pass the time budget. It does
    /// not count as one of the `max_retries`: the server asked for it.
    pub fn rate_limit_delay(&self, elapsed: Duration, retry_after: Duration) -> Option<Duration> {
        let delay = self.cap(retry_after);
        (elapsed + delay <= self.budget).then_some(delay)
    }

    fn cap(&self, retry_after: Duration) -> Duration {
        retry_after.min(self.max_retry_delay.max(Duration::from_secs(60)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(max_retries: u32, min_ms: u64, max_ms: u64, total_ms: u64) -> Config {
        Config {
            max_retries,
            min_retry_delay: Duration::from_millis(min_ms),
            max_retry_delay: Duration::from_millis(max_ms),
            max_retry_time: Duration::from_millis(total_ms),
            ..Config::default()
        }
    }

    #[test]
    fn classifies_statuses() {
        assert_eq!(classify(200), Verdict::Delivered);
        assert_eq!(classify(204), Verdict::Delivered);
        for s in [408, 410, 429, 460, 500, 502, 503, 504, 599] {
            assert_eq!(classify(s), Verdict::Retry, "{s}");
        }
        for s in [400, 401, 403, 404, 413, 501, 505, 301, 302, 303, 307, 308] {
            assert_eq!(classify(s), Verdict::Final, "{s}");
        }
    }

    #[test]
    fn parses_retry_after() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        assert_eq!(parse_retry_after("3", now), Some(Duration::from_secs(3)));
        assert_eq!(parse_retry_after(" 0 ", now), Some(Duration::ZERO));
        assert_eq!(
            parse_retry_after("1.5", now),
            Some(Duration::from_millis(1500))
        );
        let date = httpdate::fmt_http_date(now + Duration::from_secs(10));
        assert_eq!(parse_retry_after(&date, now), Some(Duration::from_secs(10)));
        let past = httpdate::fmt_http_date(now - Duration::from_secs(10));
        assert_eq!(parse_retry_after(&past, now), Some(Duration::ZERO));
        assert_eq!(parse_retry_after("soon", now), None);
        assert_eq!(parse_retry_after("-1", now), None);
        assert_eq!(parse_retry_after("NaN", now), None);
        assert_eq!(parse_retry_after("-1e30", now), None);
        assert!(parse_retry_after("-0", now).unwrap_or_default().is_zero());
        assert_eq!(parse_retry_after("", now), None);
    }

    #[test]
    fn a_huge_retry_after_is_clamped_not_a_panic() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        for v in [
            "1e30",
            "99999999999999999999",
            "18446744073709551616",
            "inf",
            "Infinity",
            "1e308",
        ] {
            assert_eq!(parse_retry_after(v, now), Some(MAX_RETRY_AFTER), "{v}");
        }
        assert_eq!(
            parse_retry_after("Fri, 31 Dec 9999 23:59:59 GMT", now),
            Some(MAX_RETRY_AFTER)
        );
    }

    #[test]
    fn grows_exponentially_with_bounded_jitter() {
        let mut b = Backoff::new(&config(6, 100, 1_000, 3_600_000));
        let delays: Vec<_> = std::iter::from_fn(|| b.next_delay(Duration::ZERO, None)).collect();
        assert_eq!(delays.len(), 6);
        let bases = [100u64, 200, 400, 800, 1000, 1000];
        for (d, base) in delays.iter().zip(bases) {
            let ms = d.as_millis() as u64;
            assert!(ms >= base && ms <= 2 * base, "{ms} vs base {base}");
        }
    }

    #[test]
    fn stops_after_max_retries() {
        let mut b = Backoff::new(&config(2, 1, 10, 3_600_000));
        assert!(b.next_delay(Duration::ZERO, None).is_some());
        assert!(b.next_delay(Duration::ZERO, None).is_some());
        assert!(b.next_delay(Duration::ZERO, None).is_none());
    }

    #[test]
    fn stops_when_the_time_budget_is_spent() {
        let mut b = Backoff::new(&config(100, 100, 100, 1_000));
        assert!(b.next_delay(Duration::from_millis(500), None).is_some());
        assert!(b.next_delay(Duration::from_millis(999), None).is_none());
    }

    #[test]
    fn retry_after_replaces_the_delay() {
        let mut b = Backoff::new(&config(5, 100, 200, 3_600_000));
        assert_eq!(
            b.next_delay(Duration::ZERO, Some(Duration::from_secs(2))),
            Some(Duration::from_secs(2))
        );
        // Capped at max(max_retry_delay, 60 s).
        assert_eq!(
            b.next_delay(Duration::ZERO, Some(Duration::from_secs(3600))),
            Some(Duration::from_secs(60))
        );
    }

    #[test]
    fn a_rate_limit_wait_does_not_use_up_retries() {
        let mut b = Backoff::new(&config(1, 10, 100, 10_000));
        for _ in 0..5 {
            assert_eq!(
                b.rate_limit_delay(Duration::ZERO, Duration::from_secs(1)),
                Some(Duration::from_secs(1))
            );
        }
        assert!(b.next_delay(Duration::ZERO, None).is_some());
        assert!(b.next_delay(Duration::ZERO, None).is_none());
        // Still bounded by the time budget, and capped like any Retry-After.
        assert_eq!(
            b.rate_limit_delay(Duration::from_secs(9), Duration::from_secs(2)),
            None
        );
        assert_eq!(
            b.rate_limit_delay(Duration::ZERO, Duration::from_secs(3600)),
            None
        );
    }

    #[test]
    fn default_policy_rides_out_minutes() {
        let c = Config::default();
        let mut b = Backoff::new(&c);
        let mut total = Duration::ZERO;
        while let Some(d) = b.next_delay(total, None) {
            total += d;
        }
        assert!(total >= Duration::from_secs(120), "{total:?}");
        assert!(total <= c.max_retry_time);
    }
}
