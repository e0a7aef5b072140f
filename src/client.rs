//! The client's front, on the caller's thread: `enqueue` counts a message
//! and puts it in the worker's inbox, nothing more. Everything else —
//! parsing and enrichment, batching, delivery with bounded concurrency,
//! accounting and flushes — runs in the worker (`crate::worker`) on a
//! background runtime. Results go back through an event sink (in Node: one
//! weak threadsafe function), once per batch that has callbacks, not per
//! message.

use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::Duration;

use crate::config::Config;
use crate::inbox::{Cmd, Inbox};
use crate::log::Level;
use crate::message::Kind;
use crate::shared::Shared;
pub use crate::shared::{Event, Sink};
use crate::spool::backend::{self, SpoolBackend};
use crate::spool::Spooled;
use crate::stats::Snapshot;
use crate::worker;

/// Why `enqueue` refused a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EnqueueError {
    /// `max_queue_bytes` reached: the message is dropped and counted.
    QueueFull,
    /// The client was shut down.
    Closed,
}

/// A Segment client. Dropping it lets queued messages finish in the background.
pub struct Client {
    shared: Arc<Shared>,
    inbox: Arc<Inbox>,
    /// spool: durable copy of accepted messages (src/spool: disk or Redis), if configured.
    spool: Option<Arc<dyn SpoolBackend>>,
}

impl Drop for Client {
    fn drop(&mut self) {
        self.inbox.push(Cmd::Close, true);
    }
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("config", &self.shared.config)
            .finish()
    }
}

impl Client {
    pub fn new(config: Config, sink: Sink) -> Client {
        let shared = Arc::new(Shared::new(Arc::new(config), sink));
        let inbox = Arc::new(Inbox::new());
        let spool = backend::open(&shared);
        worker::spawn(shared.clone(), inbox.clone(), spool.clone());
        Client {
            shared,
            inbox,
            spool,
        }
    }

    pub fn config(&self) -> &Config {
        &self.shared.config
    }

    /// Hand over one message (JSON text). Never blocks. Returns its sequence number.
    pub fn enqueue(
        &self,
        kind: Kind,
        json: String,
        has_callback: bool,
    ) -> Result<u64, EnqueueError> {
        let s = &self.shared;
        if s.closed.load(Relaxed) {
            return Err(EnqueueError::Closed);
        }
        let charged = json.len() + crate::batch::MESSAGE_OVERHEAD;
        s.stats.accepted.fetch_add(1, Relaxed);
        let before = s.stats.queued_bytes.fetch_add(charged as u64, Relaxed);
        if before + charged as u64 > s.config.max_queue_bytes as u64 {
            s.stats.queued_bytes.fetch_sub(charged as u64, Relaxed);
            s.stats.drop_messages("queue_full", 1);
            s.log(
                Level::Error,
                "queue_full",
                format!(
                    "queue full ({} bytes pending, max_queue_bytes {}): dropped a {} message",
                    before,
                    s.config.max_queue_bytes,
                    kind.as_str()
                ),
            );
            return Err(EnqueueError::QueueFull);
        }
        s.stats.queued.fetch_add(1, Relaxed);
        let spool = &self.spool;
        let pushed = self.inbox.push_msg(&s.next_seq, |seq| Cmd::Msg {
            seq,
            kind,
            spooled: match spool {
                Some(spool) => spool.accept(seq, kind, &json),
                None => Spooled::Off,
            },
            json,
            charged,
            has_callback,
        });
        let Some(seq) = pushed else {
            s.stats.settle(1, charged as u64);
            s.stats.drop_messages("closed", 1);
            return Err(EnqueueError::Closed);
        };
        Ok(seq)
    }

    /// Ask for a flush of everything accepted so far; `Event::Flushed { id }`
    /// follows. With a timeout and `abandon`, what is still pending when it
    /// expires is dropped (reason `flush_timeout`) so the caller can exit.
    pub fn flush(
        &self,
        id: u64,
        timeout: Option<Duration>,
        abandon: bool,
    ) -> Result<(), EnqueueError> {
        let cmd = Cmd::Flush {
            id,
            timeout,
            abandon,
        };
        if self.inbox.push(cmd, true) {
            Ok(())
        } else {
            Err(EnqueueError::Closed)
        }
    }

    /// Refuse new messages; the worker stops once what is pending has settled.
    /// spool: what is settled is recorded before this returns (bounded), so a
    /// process that exits right after does not leave it to be sent again.
    pub fn close(&self) {
        if !self.shared.closed.swap(true, Relaxed) {
            self.inbox.push(Cmd::Close, true);
            self.commit_spool();
        }
    }

    pub fn is_closed(&self) -> bool {
        self.shared.closed.load(Relaxed)
    }

    /// spool: write what is buffered now (the process is about to exit).
    pub fn commit_spool(&self) {
        if let Some(spool) = &self.spool {
            spool.commit();
        }
    }

    pub fn stats(&self) -> Snapshot {
        self.shared.stats.snapshot()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime;
    use std::sync::atomic::AtomicU16;
    use std::sync::mpsc as std_mpsc;
    use std::sync::Mutex;
    use std::time::Instant;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// A minimal HTTP/1.1 server answering every request with `status`;
    /// returns its URL and a receiver of request bodies.
    fn serve(status: u16) -> (String, std_mpsc::Receiver<String>) {
        let (url, rx, _) = serve_switchable(status);
        (url, rx)
    }

    /// `serve`, with the status the server answers settable while it runs.
    fn serve_switchable(status: u16) -> (String, std_mpsc::Receiver<String>, Arc<AtomicU16>) {
        let status = Arc::new(AtomicU16::new(status));
        let answer = status.clone();
        let (tx, rx) = std_mpsc::channel();
        let listener = runtime()
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        runtime().spawn(async move {
            loop {
                let Ok((mut sock, _)) = listener.accept().await else {
                    return;
                };
                let tx = tx.clone();
                let answer = answer.clone();
                tokio::spawn(async move {
                    let mut buf = Vec::new();
                    loop {
                        let mut chunk = [0u8; 8192];
                        let head_end = loop {
                            if let Some(p) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                                break p + 4;
                            }
                            match sock.read(&mut chunk).await {
                                Ok(0) | Err(_) => return,
                                Ok(n) => buf.extend_from_slice(&chunk[..n]),
                            }
                        };
                        let head = String::from_utf8_lossy(&buf[..head_end]).to_lowercase();
                        let len: usize = head
                            .lines()
                            .find_map(|l| l.strip_prefix("content-length:"))
                            .map(|v| v.trim().parse().unwrap())
                            .unwrap_or(0);
                        while buf.len() < head_end + len {
                            match sock.read(&mut chunk).await {
                                Ok(0) | Err(_) => return,
                                Ok(n) => buf.extend_from_slice(&chunk[..n]),
                            }
                        }
                        let body =
                            String::from_utf8_lossy(&buf[head_end..head_end + len]).to_string();
                        buf.drain(..head_end + len);
                        let _ = tx.send(body);
                        let status = answer.load(Relaxed);
                        let resp = format!("HTTP/1.1 {status} X\r\ncontent-length: 2\r\n\r\n{{}}");
                        if sock.write_all(resp.as_bytes()).await.is_err() {
                            return;
                        }
                    }
                });
            }
        });
        (url, rx, status)
    }

    fn client(json: &str) -> (Client, std_mpsc::Receiver<Event>) {
        let (tx, rx) = std_mpsc::channel();
        let tx = Mutex::new(tx);
        let sink: Sink = Arc::new(move |ev| {
            let _ = tx.lock().unwrap().send(ev);
        });
        (Client::new(Config::from_json(json).unwrap(), sink), rx)
    }

    fn wait_flushed(events: &std_mpsc::Receiver<Event>, id: u64) -> (bool, Vec<Event>) {
        let mut seen = Vec::new();
        loop {
            let ev = events
                .recv_timeout(Duration::from_secs(10))
                .expect("flush event");
            if let Event::Flushed { id: got, timed_out } = ev {
                if got == id {
                    return (timed_out, seen);
                }
            }
            seen.push(ev);
        }
    }

    #[test]
    fn delivers_batches_and_reports_ranges_before_the_flush() {
        let (url, bodies) = serve(200);
        let (c, events) = client(&format!(
            r#"{{"write_key":"k","host":"{url}","flush_at":3,"flush_interval":60000}}"#
        ));
        for i in 0..7 {
            let json = format!(r#"{{"userId":"u","event":"E","properties":{{"i":{i}}}}}"#);
            assert_eq!(c.enqueue(Kind::Track, json, i == 4), Ok(i));
        }
        c.flush(1, None, false).unwrap();
        let (timed_out, seen) = wait_flushed(&events, 1);
        assert!(!timed_out);
        // Only the batch holding message 4 (3..=5) had a callback.
        assert_eq!(
            seen,
            vec![Event::Settled {
                first: 3,
                last: 5,
                error: None
            }]
        );
        let s = c.stats();
        assert_eq!((s.accepted, s.delivered, s.queued, s.batches), (7, 7, 0, 3));
        let mut n = 0;
        while let Ok(body) = bodies.try_recv() {
            let v: serde_json::Value = serde_json::from_str(&body).unwrap();
            n += v["batch"].as_array().unwrap().len();
            assert!(v["sentAt"].is_string());
        }
        assert_eq!(n, 7);
    }

    #[test]
    fn batches_waiting_for_a_slot_are_delivered_intact() {
        // One request slot: batches dispatched while one is out wait, compressed.
        let (url, bodies) = serve(200);
        let (c, events) = client(&format!(
            r#"{{"write_key":"k","host":"{url}","flush_at":5,"max_in_flight":1}}"#
        ));
        for i in 0..40 {
            let json = format!(
                r#"{{"userId":"u","event":"E","properties":{{"i":{i},"p":"{}"}}}}"#,
                "abc".repeat(200)
            );
            c.enqueue(Kind::Track, json, i == 39).unwrap();
        }
        c.flush(1, None, false).unwrap();
        let (timed_out, seen) = wait_flushed(&events, 1);
        assert!(!timed_out);
        assert_eq!(
            seen,
            vec![Event::Settled {
                first: 35,
                last: 39,
                error: None
            }]
        );
        let s = c.stats();
        assert_eq!(
            (s.delivered, s.batches, s.queued, s.queued_bytes),
            (40, 8, 0, 0)
        );
        let mut got = Vec::new();
        let mut ids = std::collections::BTreeSet::new();
        while let Ok(body) = bodies.try_recv() {
            let v: serde_json::Value = serde_json::from_str(&body).unwrap();
            assert!(v["sentAt"].is_string());
            for m in v["batch"].as_array().unwrap() {
                got.push(m["properties"]["i"].as_u64().unwrap());
                ids.insert(m["messageId"].as_str().unwrap().to_string());
            }
        }
        got.sort_unstable();
        assert_eq!(got, (0..40).collect::<Vec<u64>>());
        assert_eq!(ids.len(), 40);
    }

    #[test]
    fn a_bounded_flush_abandons_what_cannot_be_delivered() {
        let (url, _bodies) = serve(503);
        let (c, events) = client(&format!(
            r#"{{"write_key":"k","host":"{url}","min_retry_delay":20,"max_retry_delay":50}}"#
        ));
        for _ in 0..5 {
            c.enqueue(Kind::Identify, r#"{"userId":"u"}"#.into(), true)
                .unwrap();
        }
        c.flush(9, Some(Duration::from_millis(300)), true).unwrap();
        let (timed_out, seen) = wait_flushed(&events, 9);
        assert!(timed_out);
        assert!(seen.iter().any(|e| matches!(
            e,
            Event::Settled {
                first: 0,
                last: 4,
                error: Some(_)
            }
        )));
        let s = c.stats();
        assert_eq!(s.dropped.get("flush_timeout"), Some(&5));
        assert_eq!((s.queued, s.queued_bytes), (0, 0));
        assert!(s.retried >= 1);
    }

    #[test]
    fn a_shutdown_flush_retries_a_batch_in_backoff_before_its_deadline() {
        // Segment fails long enough for the backoff to grow past the
        // shutdown bound (retries after 0.2, 0.4, 0.8, 1.6 s, then >= 3.2 s),
        // then recovers just as the store stops.
        let (url, bodies, status) = serve_switchable(503);
        let (c, events) = client(&format!(
            r#"{{"write_key":"k","host":"{url}","flush_at":1,"min_retry_delay":200,"max_retry_delay":60000}}"#
        ));
        c.enqueue(Kind::Identify, r#"{"userId":"u"}"#.into(), true)
            .unwrap();
        for _ in 0..5 {
            bodies
                .recv_timeout(Duration::from_secs(10))
                .expect("attempt");
        }
        // The fifth attempt was refused too: its retry is scheduled.
        while c.stats().retried < 5 {
            std::thread::sleep(Duration::from_millis(5));
        }
        status.store(200, Relaxed);
        c.flush(1, Some(Duration::from_millis(1500)), true).unwrap();
        let (timed_out, seen) = wait_flushed(&events, 1);
        assert!(!timed_out, "delivered before the bound: {seen:?}");
        let s = c.stats();
        assert_eq!((s.delivered, s.dropped.get("flush_timeout")), (1, None));
    }

    /// Hand over one message every ~200 µs (a burst) for `length`. Returns
    /// how many were handed over, and how long after the start `seen` (asked
    /// after every message) first held.
    fn burst(
        c: &Client,
        length: Duration,
        mut seen: impl FnMut() -> bool,
    ) -> (usize, Option<Duration>) {
        let t0 = Instant::now();
        let (mut n, mut first) = (0, None);
        while t0.elapsed() < length {
            c.enqueue(Kind::Track, r#"{"userId":"u","event":"E"}"#.into(), false)
                .unwrap();
            n += 1;
            if first.is_none() && seen() {
                first = Some(t0.elapsed());
            }
            std::thread::sleep(Duration::from_micros(200));
        }
        (n, first)
    }

    #[test]
    fn a_burst_is_sent_once_the_host_pauses() {
        let (url, bodies) = serve(200);
        let (c, _events) = client(&format!(
            r#"{{"write_key":"k","host":"{url}","flush_at":1,"flush_interval":10000}}"#
        ));
        let (sent, _) = burst(&c, Duration::from_millis(300), || false);
        // Sent at once, nearly all would have arrived by now (the server
        // answers in well under 200 µs); held, none has. Half leaves room
        // for this thread being descheduled, which looks like a pause.
        // (Count messages: batches may go merged if the server pushed back.)
        let messages = |body: String| {
            let v: serde_json::Value = serde_json::from_str(&body).unwrap();
            v["batch"].as_array().unwrap().len()
        };
        let during: usize = bodies.try_iter().map(messages).sum();
        assert!(
            during * 2 < sent,
            "{during} of {sent} arrived during the burst"
        );
        // No flush, and flush_interval is far off: the pause alone sends them.
        let mut n = during;
        while n < sent {
            let body = bodies
                .recv_timeout(Duration::from_secs(5))
                .unwrap_or_else(|_| panic!("{n} of {sent} arrived after the burst"));
            n += messages(body);
        }
        assert_eq!(n, sent);
    }

    #[test]
    fn a_batch_waits_for_a_pause_no_longer_than_flush_interval() {
        let (url, bodies) = serve(200);
        let (c, _events) = client(&format!(
            r#"{{"write_key":"k","host":"{url}","flush_at":1,"flush_interval":200}}"#
        ));
        let (_, first) = burst(&c, Duration::from_millis(1500), || {
            bodies.try_recv().is_ok()
        });
        let first = first.expect("a request while the burst went on");
        assert!(
            first < Duration::from_millis(1000),
            "first request after {first:?}"
        );
    }

    #[test]
    fn a_flush_does_not_wait_for_the_host_to_pause() {
        let (url, _bodies) = serve(200);
        let (c, events) = client(&format!(
            r#"{{"write_key":"k","host":"{url}","flush_at":1,"flush_interval":10000}}"#
        ));
        burst(&c, Duration::from_millis(100), || false);
        c.flush(1, None, false).unwrap();
        let flushed = Event::Flushed {
            id: 1,
            timed_out: false,
        };
        let (_, at) = burst(&c, Duration::from_millis(3000), || {
            events.try_iter().any(|e| e == flushed)
        });
        let at = at.expect("the flush completed while the burst went on");
        assert!(at < Duration::from_millis(2000), "flushed after {at:?}");
    }

    #[test]
    fn disabled_and_invalid_messages_are_counted_not_sent() {
        let (c, events) = client(r#"{"enabled":false}"#);
        c.enqueue(Kind::Track, r#"{"userId":"u","event":"E"}"#.into(), true)
            .unwrap();
        c.enqueue(Kind::Track, r#"{"userId":"u"}"#.into(), true)
            .unwrap();
        c.flush(2, None, false).unwrap();
        let (_, seen) = wait_flushed(&events, 2);
        assert!(seen.contains(&Event::Settled {
            first: 0,
            last: 0,
            error: None
        }));
        assert!(seen
            .iter()
            .any(|e| matches!(e, Event::Rejected { seq: 1, error } if error.contains("event"))));
        let s = c.stats();
        assert_eq!(s.dropped.get("disabled"), Some(&1));
        assert_eq!(s.dropped.get("invalid"), Some(&1));
        c.close();
        assert_eq!(
            c.enqueue(Kind::Track, "{}".into(), false),
            Err(EnqueueError::Closed)
        );
    }

    #[test]
    fn a_full_queue_drops_the_newest() {
        // Port 9 refuses connections: the first message stays queued (retrying).
        let (c, _events) = client(
            r#"{"write_key":"k","host":"http://127.0.0.1:9","max_queue_bytes":32768,"flush_at":1}"#,
        );
        let big = format!(
            r#"{{"userId":"u","event":"E","p":"{}"}}"#,
            "x".repeat(20_000)
        );
        assert_eq!(c.enqueue(Kind::Track, big.clone(), false), Ok(0));
        assert_eq!(
            c.enqueue(Kind::Track, big, false),
            Err(EnqueueError::QueueFull)
        );
        assert_eq!(c.enqueue(Kind::Track, "{}".into(), false), Ok(1));
        let s = c.stats();
        assert_eq!(s.accepted, 3);
        assert_eq!(s.dropped.get("queue_full"), Some(&1));
        assert!(s.queued_bytes <= 32768);
    }
}
