//! What the collector has received: accepted messages and refused requests,
//! numbered in arrival order, with live subscribers (the page's event stream).
//!
//! Bounded: entries are kept as their JSON text and the oldest are dropped
//! (and counted) past `Limits`; a subscriber that falls behind is dropped.

use bytes::Bytes;
use serde_json::{json, Value};
use std::collections::{HashSet, VecDeque};
use std::ops::Range;
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};
use tokio::sync::mpsc;

/// Entries a live subscriber may have waiting before it is dropped.
pub const SUBSCRIBER_BACKLOG: usize = 256;
/// Message ids remembered for duplicate detection (then forgotten at once).
const MAX_REMEMBERED_IDS: usize = 100_000;

/// How much the store keeps.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Most entries kept.
    pub max_entries: usize,
    /// Most bytes of entry JSON kept.
    pub max_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_entries: 100_000,
            max_bytes: 64 * 1024 * 1024,
        }
    }
}

/// One row of the debugger: an accepted message or a refused request.
#[derive(Debug, Clone)]
pub struct Entry {
    pub seq: u64,
    /// JSON of the entry as the page and `entries()` see it.
    pub json: Bytes,
    /// Where an accepted message's payload sits inside `json`.
    payload: Option<Range<usize>>,
}

impl Entry {
    /// The accepted message's JSON (`None` for a refused request).
    pub fn payload(&self) -> Option<Bytes> {
        self.payload.clone().map(|r| self.json.slice(r))
    }
}

/// Counts for `stats()`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    pub entries: usize,
    pub bytes: usize,
    /// Entries dropped (oldest first) to stay within the limits.
    pub dropped: u64,
    pub subscribers: usize,
}

#[derive(Default)]
struct Inner {
    next_seq: u64,
    entries: VecDeque<Entry>,
    bytes: usize,
    dropped: u64,
    message_ids: HashSet<String>,
    subscribers: Vec<mpsc::Sender<Entry>>,
}

#[derive(Default)]
pub struct Store {
    inner: Mutex<Inner>,
    limits: Limits,
}

/// A JSON array of already-encoded JSON values.
pub fn json_array<'a>(items: impl IntoIterator<Item = &'a [u8]>) -> Vec<u8> {
    let mut out = vec![b'['];
    for (i, item) in items.into_iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.extend_from_slice(item);
    }
    out.push(b']');
    out
}

fn now_iso() -> String {
    let d = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    iso8601(d.as_secs(), d.subsec_millis())
}

/// Formats seconds since the epoch as `YYYY-MM-DDTHH:MM:SS.mmmZ`.
pub fn iso8601(secs: u64, millis: u32) -> String {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    // Civil-from-days (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{millis:03}Z",
        rem / 3600,
        (rem / 60) % 60,
        rem % 60
    )
}

impl Store {
    pub fn new(limits: Limits) -> Store {
        Store {
            inner: Mutex::default(),
            limits,
        }
    }

    /// Numbers and encodes an entry: `head`'s fields, then `payload`.
    fn push(&self, mut head: Value, payload: &Value, is_message: bool) -> Entry {
        let mut inner = self.inner.lock().unwrap();
        inner.next_seq += 1;
        let seq = inner.next_seq;
        head["seq"] = json!(seq);
        let mut out = serde_json::to_vec(&head).unwrap_or_default();
        out.pop(); // the closing brace
        out.extend_from_slice(b",\"payload\":");
        let start = out.len();
        serde_json::to_writer(&mut out, payload).unwrap_or_default();
        let range = start..out.len();
        out.push(b'}');
        let entry = Entry {
            seq,
            json: Bytes::from(out),
            payload: is_message.then_some(range),
        };
        inner.bytes += entry.json.len();
        inner.entries.push_back(entry.clone());
        while inner.entries.len() > self.limits.max_entries
            || (inner.bytes > self.limits.max_bytes && inner.entries.len() > 1)
        {
            let Some(old) = inner.entries.pop_front() else {
                break;
            };
            inner.bytes -= old.json.len();
            inner.dropped += 1;
        }
        // A subscriber that is gone or too slow is dropped; the page's
        // EventSource reconnects with Last-Event-ID and gets the backlog.
        inner
            .subscribers
            .retain(|tx| tx.try_send(entry.clone()).is_ok());
        entry
    }

    /// Records an accepted message; returns its entry and whether its
    /// `messageId` was already seen (Segment would drop such a duplicate).
    pub fn add_message(&self, path: &str, message: &Value) -> (Entry, bool) {
        let duplicate = match message.get("messageId").and_then(Value::as_str) {
            Some(id) => {
                let mut inner = self.inner.lock().unwrap();
                // Segment's dedup window is bounded too.
                if inner.message_ids.len() >= MAX_REMEMBERED_IDS {
                    inner.message_ids.clear();
                }
                !inner.message_ids.insert(id.to_string())
            }
            None => false,
        };
        let entry = self.push(
            json!({
                "kind": "message",
                "received_at": now_iso(),
                "path": path,
                "type": message.get("type"),
                "event": message.get("event").or_else(|| message.get("name")),
                "userId": message.get("userId"),
                "anonymousId": message.get("anonymousId"),
                "messageId": message.get("messageId"),
                "duplicate": duplicate,
            }),
            message,
            true,
        );
        (entry, duplicate)
    }

    /// Records a refused request; `payload` is the body as shown (already
    /// stripped of the write key).
    pub fn add_error(
        &self,
        path: &str,
        status: u16,
        code: &str,
        message: &str,
        payload: Value,
    ) -> Entry {
        self.push(
            json!({
                "kind": "error",
                "received_at": now_iso(),
                "path": path,
                "status": status,
                "code": code,
                "error": message,
            }),
            &payload,
            false,
        )
    }

    /// Accepted messages kept, in arrival order, each as JSON.
    pub fn messages(&self) -> Vec<Bytes> {
        let inner = self.inner.lock().unwrap();
        inner.entries.iter().filter_map(Entry::payload).collect()
    }

    /// Entries with `seq > after`: at most `limit` of them and, past the
    /// first, at most `max_bytes` of JSON; and whether more are left.
    pub fn entries_after(&self, after: u64, limit: usize, max_bytes: usize) -> (Vec<Entry>, bool) {
        let inner = self.inner.lock().unwrap();
        let first = inner.entries.partition_point(|e| e.seq <= after);
        let mut out = Vec::new();
        let mut bytes = 0;
        for e in inner.entries.range(first..) {
            if out.len() == limit || (!out.is_empty() && bytes + e.json.len() > max_bytes) {
                return (out, true);
            }
            bytes += e.json.len();
            out.push(e.clone());
        }
        (out, false)
    }

    /// Forgets everything received (the page's Clear button).
    pub fn clear(&self) {
        let mut inner = self.inner.lock().unwrap();
        inner.entries.clear();
        inner.bytes = 0;
        inner.message_ids.clear();
    }

    pub fn stats(&self) -> Stats {
        let mut inner = self.inner.lock().unwrap();
        inner.subscribers.retain(|tx| !tx.is_closed());
        Stats {
            entries: inner.entries.len(),
            bytes: inner.bytes,
            dropped: inner.dropped,
            subscribers: inner.subscribers.len(),
        }
    }

    /// The last `backlog` entries after `after`, then every new one as it
    /// arrives; `None` when `max_subscribers` are already live.
    pub fn subscribe(
        &self,
        after: u64,
        backlog: usize,
        max_subscribers: usize,
    ) -> Option<(Vec<Entry>, mpsc::Receiver<Entry>)> {
        let mut inner = self.inner.lock().unwrap();
        inner.subscribers.retain(|tx| !tx.is_closed());
        if inner.subscribers.len() >= max_subscribers {
            return None;
        }
        let (tx, rx) = mpsc::channel(SUBSCRIBER_BACKLOG);
        let first = inner.entries.partition_point(|e| e.seq <= after);
        let from = first.max(inner.entries.len().saturating_sub(backlog));
        let entries = inner.entries.range(from..).cloned().collect();
        inner.subscribers.push(tx);
        Some((entries, rx))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iso_dates() {
        assert_eq!(iso8601(0, 0), "1970-01-01T00:00:00.000Z");
        assert_eq!(iso8601(951_782_400, 5), "2000-02-29T00:00:00.005Z");
        assert_eq!(iso8601(1_795_000_000, 999), "2026-11-18T11:06:40.999Z");
    }

    fn parse(b: &[u8]) -> Value {
        serde_json::from_slice(b).unwrap()
    }

    #[test]
    fn duplicates_and_subscribers() {
        let s = Store::default();
        let (backlog, mut rx) = s.subscribe(0, 10, 1).unwrap();
        assert!(backlog.is_empty());
        assert!(s.subscribe(0, 10, 1).is_none(), "one subscriber at most");
        let m = json!({"type": "track", "messageId": "m1"});
        let (e, dup) = s.add_message("/v1/batch", &m);
        assert!(!dup);
        assert_eq!(parse(&e.payload().unwrap()), m);
        assert_eq!(parse(&e.json)["payload"], m);
        let (e, dup) = s.add_message("/v1/batch", &m);
        assert!(dup);
        assert_eq!(e.seq, 2);
        assert_eq!(rx.try_recv().unwrap().seq, 1);
        assert_eq!(rx.try_recv().unwrap().seq, 2);
        s.add_error(
            "/v1/track",
            400,
            "missing_event",
            "no event",
            json!({"userId": "u"}),
        );
        let (errors, more) = s.entries_after(2, 10, 1000);
        assert!(!more);
        assert_eq!(errors.len(), 1);
        assert_eq!(errors[0].payload(), None);
        assert_eq!(parse(&errors[0].json)["payload"], json!({"userId": "u"}));
        assert_eq!(s.messages().len(), 2);
        s.clear();
        assert!(s.messages().is_empty());
    }

    #[test]
    fn bounded_by_count_and_bytes_oldest_first() {
        let s = Store::new(Limits {
            max_entries: 3,
            max_bytes: 1000,
        });
        for i in 0..5 {
            s.add_message("/v1/track", &json!({"i": i}));
        }
        assert_eq!(s.stats().entries, 3);
        assert_eq!(s.stats().dropped, 2);
        let kept: Vec<Value> = s.messages().iter().map(|b| parse(b)).collect();
        assert_eq!(kept, [json!({"i": 2}), json!({"i": 3}), json!({"i": 4})]);
        s.add_message("/v1/track", &json!({"big": "x".repeat(900)}));
        let st = s.stats();
        assert!(st.bytes <= 1000 || st.entries == 1, "{st:?}");
        assert_eq!(st.entries + st.dropped as usize, 6);
    }

    #[test]
    fn pages_and_backlog() {
        let s = Store::default();
        for i in 0..10 {
            s.add_message("/v1/track", &json!({"i": i}));
        }
        let (page, more) = s.entries_after(0, 4, usize::MAX);
        assert_eq!(page.iter().map(|e| e.seq).collect::<Vec<_>>(), [1, 2, 3, 4]);
        assert!(more);
        let (page, more) = s.entries_after(8, 4, usize::MAX);
        assert_eq!(page.len(), 2);
        assert!(!more);
        let (page, more) = s.entries_after(0, 100, 1);
        assert_eq!(page.len(), 1, "at least one entry, whatever its size");
        assert!(more);
        let (backlog, _rx) = s.subscribe(0, 3, 8).unwrap();
        assert_eq!(
            backlog.iter().map(|e| e.seq).collect::<Vec<_>>(),
            [8, 9, 10]
        );
    }
}
