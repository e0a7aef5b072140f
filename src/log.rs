//! Log lines of the core: their severity, a rate limiter so that an
//! outage or a flood of bad messages writes a line per cause now and then,
//! not one per message, and the redaction of the write key from every line
//! and error that leaves the core.

use std::borrow::Cow;
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

/// What stands in for the write key in text that leaves the core.
pub const REDACTED: &str = "[redacted]";

/// Keys shorter than this are redacted only as whole words: a short test
/// key such as `k` would otherwise blank out letters of every log line.
/// Runs of at least this many characters of a longer key are redacted
/// wherever they occur, so a key cut short by a length limit is hidden too.
const MIN_FRAGMENT: usize = 8;

/// Finds the write key in text, in the forms a server may echo it: as is,
/// in any letter case, and base64-encoded as in `Authorization: Basic
/// base64(key:)`.
#[derive(Debug, Clone, Default)]
pub struct Redactor {
    /// ASCII-lowercased forms of the key.
    needles: Vec<String>,
}

impl Redactor {
    pub fn new(key: Option<&str>) -> Redactor {
        match key.filter(|k| !k.is_empty()) {
            Some(key) => Redactor {
                needles: key_spellings(key),
            },
            None => Redactor::default(),
        }
    }

    /// `text` with every form of the key replaced by `[redacted]`.
    pub fn redact<'a>(&self, text: &'a str) -> Cow<'a, str> {
        if self.needles.is_empty() {
            return Cow::Borrowed(text);
        }
        let spans = key_spans(text, &self.needles, true);
        if spans.is_empty() {
            return Cow::Borrowed(text);
        }
        Cow::Owned(replace_spans(text, &spans, REDACTED))
    }

    /// `redact`, then keep at most `max_chars` characters: cutting first
    /// could leave a piece of the key too short to be recognised.
    pub fn redact_and_cut(&self, text: &str, max_chars: usize) -> String {
        let redacted = self.redact(text);
        match redacted.char_indices().nth(max_chars) {
            Some((cut, _)) => redacted[..cut].to_string(),
            None => redacted.into_owned(),
        }
    }
}

/// The spellings of a write key that a server or a sender may echo,
/// ASCII-lowercased: as is, and the base64 (standard and URL-safe, without
/// padding) of `key:` (an `Authorization: Basic` header) and of `key`. One
/// list for the core's logs and the debugger (src/collector/redact.rs).
pub fn key_spellings(key: &str) -> Vec<String> {
    use base64::engine::general_purpose::{STANDARD_NO_PAD, URL_SAFE_NO_PAD};
    use base64::Engine;
    let mut out = vec![key.to_ascii_lowercase()];
    for raw in [format!("{key}:"), key.to_string()] {
        for engine in [STANDARD_NO_PAD, URL_SAFE_NO_PAD] {
            out.push(engine.encode(&raw).to_ascii_lowercase());
        }
    }
    out.sort_unstable();
    out.dedup();
    out
}

/// Where the (lowercased) `needles` occur in `text`, ignoring ASCII case, as
/// byte spans sorted by start. With `fragments`, a run of at least
/// [`MIN_FRAGMENT`] of a needle's first characters counts too (a key cut
/// short by a length limit), and a needle shorter than that only as a whole
/// word; without, whole needles anywhere.
pub fn key_spans(text: &str, needles: &[String], fragments: bool) -> Vec<(usize, usize)> {
    // ASCII lowercasing keeps every byte offset.
    let lower = text.to_ascii_lowercase();
    let hay = lower.as_bytes();
    let mut spans: Vec<(usize, usize)> = Vec::new();
    for needle in needles {
        let n = needle.as_bytes();
        let head = if fragments {
            &needle[..n.len().min(MIN_FRAGMENT)]
        } else {
            needle.as_str()
        };
        if head.is_empty() {
            continue;
        }
        let mut from = 0;
        while let Some(i) = lower[from..].find(head) {
            let start = from + i;
            let mut end = start + head.len();
            while end < hay.len() && end - start < n.len() && hay[end] == n[end - start] {
                end += 1;
            }
            let whole_word = || {
                let alnum = |b: Option<&u8>| b.is_some_and(u8::is_ascii_alphanumeric);
                !alnum(start.checked_sub(1).and_then(|p| hay.get(p))) && !alnum(hay.get(end))
            };
            if !fragments || n.len() >= MIN_FRAGMENT || whole_word() {
                while !text.is_char_boundary(end) {
                    end += 1;
                }
                spans.push((start, end));
            }
            from = start + 1;
            while !lower.is_char_boundary(from) {
                from += 1;
            }
        }
    }
    spans.sort_unstable();
    spans
}

/// `text` with each of `spans` (sorted by start; overlapping ones count as
/// one) replaced by `marker`.
pub fn replace_spans(text: &str, spans: &[(usize, usize)], marker: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut at = 0;
    for &(start, end) in spans {
        if end <= at {
            continue;
        }
        out.push_str(&text[at..start.max(at)]);
        if start >= at {
            out.push_str(marker);
        }
        at = end;
    }
    out.push_str(&text[at..]);
    out
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

    const KEY: &str = "Wk7sYq2LmN4pR8tV1xZ3bD5fH6jK9cE0";

    fn basic(raw: &str) -> String {
        use base64::Engine;
        base64::engine::general_purpose::STANDARD.encode(raw)
    }

    #[test]
    fn redacts_the_key_raw_in_any_case_and_base64() {
        let r = Redactor::new(Some(KEY));
        for text in [
            format!("echo {KEY} end"),
            format!("echo {} end", KEY.to_lowercase()),
            format!("echo {} end", KEY.to_uppercase()),
            format!(
                r#"{{"authorization":"Basic {}"}}"#,
                basic(&format!("{KEY}:"))
            ),
            format!("Basic {}", basic(KEY)),
            format!("{KEY}{KEY}"),
            format!("é{KEY}é"),
        ] {
            let out = r.redact(&text);
            let lower = out.to_lowercase();
            assert!(
                !lower.contains(&KEY.to_lowercase()[..MIN_FRAGMENT]),
                "{out}"
            );
            assert!(
                !out.contains(&basic(&format!("{KEY}:"))[..MIN_FRAGMENT]),
                "{out}"
            );
            assert!(out.contains(REDACTED), "{out}");
        }
        assert_eq!(r.redact("nothing here"), "nothing here");
        assert_eq!(r.redact(&format!("a {KEY} b")), "a [redacted] b");
    }

    #[test]
    fn redacts_before_cutting_and_hides_a_key_cut_short() {
        let r = Redactor::new(Some(KEY));
        // The key straddles the cut at 200 characters.
        let text = format!("{}{KEY} tail", "x".repeat(195));
        let out = r.redact_and_cut(&text, 200);
        assert!(!out.contains(&KEY[..5]), "{out}");
        assert_eq!(out.chars().count(), 200);
        // A text already cut inside the key (a length-limited body).
        let cut = format!("body: {}", &KEY[..12]);
        assert_eq!(r.redact(&cut), "body: [redacted]");
    }

    #[test]
    fn a_short_key_is_redacted_as_a_whole_word_only() {
        let r = Redactor::new(Some("k"));
        assert_eq!(r.redact("backoff k done"), "backoff [redacted] done");
        assert_eq!(Redactor::new(None).redact("k"), "k");
    }
}
