//! What the collector has received: accepted messages and refused requests,
//! numbered in arrival order, with live subscribers (the page's event stream).

use serde_json::{json, Value};
use std::collections::{HashSet, VecDeque};
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};
use tokio::sync::mpsc;

/// Entries kept for the page and `entries()`; older ones are dropped first.
pub const MAX_ENTRIES: usize = 10_000;
/// Accepted messages kept for `messages()`; older ones are dropped first.
pub const MAX_MESSAGES: usize = 100_000;

/// One row of the debugger: an accepted message or a refused request.
#[derive(Debug, Clone)]
pub struct Entry {
    pub seq: u64,
    /// JSON of the entry as the page and `entries()` see it.
    pub json: Value,
}

#[derive(Default)]
struct Inner {
    next_seq: u64,
    entries: VecDeque<Entry>,
    /// Accepted messages, in order (what `messages()` returns).
    messages: VecDeque<Value>,
    message_ids: HashSet<String>,
    subscribers: Vec<mpsc::Sender<Entry>>,
}

#[derive(Default)]
pub struct Store {
    inner: Mutex<Inner>,
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
    fn push(&self, mut json: Value) -> Entry {
        let mut inner = self.inner.lock().unwrap();
        inner.next_seq += 1;
        let seq = inner.next_seq;
        json["seq"] = json!(seq);
        let entry = Entry { seq, json };
        inner.entries.push_back(entry.clone());
        while inner.entries.len() > MAX_ENTRIES {
            inner.entries.pop_front();
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
    pub fn add_message(&self, path: &str, message: Value) -> (Entry, bool) {
        let duplicate = match message.get("messageId").and_then(Value::as_str) {
            Some(id) => !self
                .inner
                .lock()
                .unwrap()
                .message_ids
                .insert(id.to_string()),
            None => false,
        };
        {
            let mut inner = self.inner.lock().unwrap();
            inner.messages.push_back(message.clone());
            if inner.messages.len() > MAX_MESSAGES {
                inner.messages.pop_front();
            }
            // Segment's dedup window is bounded too; forget ids past a million.
            if inner.message_ids.len() > 1_000_000 {
                inner.message_ids.clear();
            }
        }
        let entry = self.push(json!({
            "kind": "message",
            "received_at": now_iso(),
            "path": path,
            "type": message.get("type"),
            "event": message.get("event").or_else(|| message.get("name")),
            "userId": message.get("userId"),
            "anonymousId": message.get("anonymousId"),
            "messageId": message.get("messageId"),
            "duplicate": duplicate,
            "payload": message,
        }));
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
        self.push(json!({
            "kind": "error",
            "received_at": now_iso(),
            "path": path,
            "status": status,
            "code": code,
            "error": message,
            "payload": payload,
        }))
    }

    /// Accepted messages so far, in arrival order.
    pub fn messages(&self) -> Vec<Value> {
        self.inner
            .lock()
            .unwrap()
            .messages
            .iter()
            .cloned()
            .collect()
    }

    /// Entries with `seq > after`.
    pub fn entries_after(&self, after: u64) -> Vec<Entry> {
        let inner = self.inner.lock().unwrap();
        inner
            .entries
            .iter()
            .filter(|e| e.seq > after)
            .cloned()
            .collect()
    }

    /// Forgets everything received (the page's Clear button).
    pub fn clear(&self) {
        let mut inner = self.inner.lock().unwrap();
        inner.entries.clear();
        inner.messages.clear();
        inner.message_ids.clear();
    }

    /// Entries after `after`, then every new one as it arrives.
    pub fn subscribe(&self, after: u64) -> (Vec<Entry>, mpsc::Receiver<Entry>) {
        let (tx, rx) = mpsc::channel(1024);
        let mut inner = self.inner.lock().unwrap();
        let backlog = inner
            .entries
            .iter()
            .filter(|e| e.seq > after)
            .cloned()
            .collect();
        inner.subscribers.push(tx);
        (backlog, rx)
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

    #[test]
    fn duplicates_and_subscribers() {
        let s = Store::default();
        let (backlog, mut rx) = s.subscribe(0);
        assert!(backlog.is_empty());
        let (_, dup) = s.add_message("/v1/batch", json!({"type": "track", "messageId": "m1"}));
        assert!(!dup);
        let (e, dup) = s.add_message("/v1/batch", json!({"type": "track", "messageId": "m1"}));
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
        let errors = s.entries_after(2);
        assert_eq!(errors.len(), 1);
        assert_eq!(errors[0].json["payload"], json!({"userId": "u"}));
        assert_eq!(s.messages().len(), 2);
        s.clear();
        assert!(s.messages().is_empty());
    }
}
