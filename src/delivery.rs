//! HTTP delivery of one batch to `{host}/v1/batch`: waiting for a request
//! slot and for the host to pause, then sending with retries.

use std::io::Write;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use time::OffsetDateTime;
use tokio::sync::{watch, Semaphore};
use tokio::time::Instant as TokioInstant;

use crate::batch::Batch;
use crate::config::Config;
use crate::log::{Level, LogFn, Redactor};
use crate::message::iso_timestamp;
use crate::retry::{classify, parse_retry_after, Backoff, Verdict};
use crate::stats::Stats;

/// How a batch ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Delivered,
    /// Given up: `reason` is the counter name (`http_400`, `retries_exhausted`…).
    Failed {
        reason: String,
        detail: String,
    },
}

/// Result of one request.
#[derive(Debug)]
enum Attempt {
    Delivered,
    Retry {
        why: String,
        retry_after: Option<Duration>,
    },
    Final {
        reason: String,
        why: String,
    },
}

/// What the delivery tasks of one client share with its worker: the request
/// slots (`max_in_flight`) and two flags the worker sets.
pub struct Gate {
    slots: Semaphore,
    /// True while a bounded shutdown flush waits: batches in retry backoff
    /// then retry at once and often, instead of sleeping past its deadline.
    hurry: watch::Sender<bool>,
    /// True while the host is handing over a burst (see the worker's
    /// `update_busy`): requests then wait for it to pause, so that their CPU
    /// (ours, the kernel's, TLS) does not compete with the host's thread.
    host_busy: watch::Sender<bool>,
}

impl Gate {
    pub fn new(max_in_flight: usize) -> Gate {
        Gate {
            slots: Semaphore::new(max_in_flight),
            hurry: watch::Sender::new(false),
            host_busy: watch::Sender::new(false),
        }
    }

    pub fn set_hurry(&self, value: bool) {
        set_flag(&self.hurry, value);
    }

    pub fn set_host_busy(&self, value: bool) {
        set_flag(&self.host_busy, value);
    }
}

/// Set a flag the delivery tasks watch; they wake only when it changes.
fn set_flag(flag: &watch::Sender<bool>, value: bool) {
    flag.send_if_modified(|v| std::mem::replace(v, value) != value);
}

/// Decrements `in_flight` even when the delivery task is aborted.
struct InFlight<'a>(&'a Stats);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Relaxed);
    }
}

/// One batch's task: wait for a request slot, then send.
pub async fn deliver(
    sender: &Sender,
    batch: &Batch,
    gate: &Gate,
    stats: &Stats,
    log: &LogFn,
) -> Outcome {
    let started = Instant::now();
    // (Never closed: acquiring cannot fail.)
    let _permit = gate.slots.acquire().await.ok();
    // Boxed: sending is a large state machine (the request's), and in a
    // burst thousands of these tasks wait above for a slot.
    Box::pin(send_after_pause(sender, batch, gate, stats, log, started)).await
}

async fn send_after_pause(
    sender: &Sender,
    batch: &Batch,
    gate: &Gate,
    stats: &Stats,
    log: &LogFn,
    started: Instant,
) -> Outcome {
    // Let a burst pause first, but keep no batch waiting for it longer than
    // `flush_interval` after it closed (the delay batching already allows).
    let mut busy = gate.host_busy.subscribe();
    let pause = async { busy.wait_for(|busy| !*busy).await.is_ok() };
    let _ = tokio::time::timeout_at(
        TokioInstant::from_std(started + sender.config.flush_interval),
        pause,
    )
    .await;
    stats.in_flight.fetch_add(1, Relaxed);
    let _guard = InFlight(stats);
    let mut hurry = gate.hurry.subscribe();
    sender.send(batch, stats, log, started, &mut hurry).await
}

/// Sends batches for one client (one connection pool); its tasks share it by `Arc`.
pub struct Sender {
    http: reqwest::Client,
    url: String,
    config: Arc<Config>,
}

impl std::fmt::Debug for Sender {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sender").field("url", &self.url).finish()
    }
}

impl Sender {
    pub fn new(config: Arc<Config>) -> Result<Sender, String> {
        let http = reqwest::Client::builder()
            .user_agent(concat!(
                "medusa-plugin-segment-rs/",
                env!("CARGO_PKG_VERSION")
            ))
            .pool_max_idle_per_host(config.max_in_flight)
            .pool_idle_timeout(Duration::from_secs(60))
            .connect_timeout(config.timeout)
            .tcp_nodelay(true)
            .build()
            .map_err(|e| format!("cannot build the HTTP client: {e}"))?;
        Ok(Sender {
            http,
            url: config.batch_url(),
            config,
        })
    }

    fn body(&self, batch: &Batch) -> Vec<u8> {
        let raw = batch.body(&iso_timestamp(OffsetDateTime::now_utc()));
        if !self.config.gzip {
            return raw;
        }
        let mut enc = flate2::write::GzEncoder::new(
            Vec::with_capacity(raw.len() / 4),
            flate2::Compression::default(),
        );
        match enc.write_all(&raw).and_then(|_| enc.finish()) {
            Ok(gz) => gz,
            Err(_) => raw,
        }
    }

    async fn attempt(&self, batch: &Batch, stats: &Stats) -> Attempt {
        let body = self.body(batch);
        let gzipped = self.config.gzip && body.first() == Some(&0x1f);
        stats.requests.fetch_add(1, Relaxed);
        stats.bytes_sent.fetch_add(body.len() as u64, Relaxed);
        let key = self.config.write_key.as_deref().unwrap_or("");
        let mut req = self
            .http
            .post(&self.url)
            .basic_auth(key, Some(""))
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .timeout(self.config.timeout)
            .body(body);
        if gzipped {
            req = req.header(reqwest::header::CONTENT_ENCODING, "gzip");
        }
        match req.send().await {
            Ok(resp) => {
                let status = resp.status().as_u16();
                let retry_after = resp
                    .headers()
                    .get(reqwest::header::RETRY_AFTER)
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| parse_retry_after(v, SystemTime::now()));
                // Read the body so the connection goes back to the pool.
                let text = resp.text().await.unwrap_or_default();
                // Whatever a server echoes, the key is not logged: redacted
                // before the cut, which could leave a piece too short to find.
                let snippet =
                    Redactor::new(self.config.write_key.as_deref()).redact_and_cut(&text, 200);
                match classify(status) {
                    Verdict::Delivered => Attempt::Delivered,
                    Verdict::Retry => Attempt::Retry {
                        why: format!("HTTP {status} {snippet}").trim_end().to_string(),
                        retry_after,
                    },
                    Verdict::Final => Attempt::Final {
                        reason: format!("http_{status}"),
                        why: format!("HTTP {status} {snippet}").trim_end().to_string(),
                    },
                }
            }
            Err(e) => {
                let why = if e.is_timeout() {
                    format!("timed out after {} ms", self.config.timeout.as_millis())
                } else {
                    // Walk the source chain: reqwest's top line is generic.
                    let mut s = String::new();
                    let mut src = std::error::Error::source(&e);
                    while let Some(inner) = src {
                        s.push_str(": ");
                        s.push_str(&inner.to_string());
                        src = inner.source();
                    }
                    format!("{}{s}", e.without_url())
                };
                Attempt::Retry {
                    why,
                    retry_after: None,
                }
            }
        }
    }

    /// Send one batch until it is delivered, finally rejected, or its retries
    /// are exhausted. `started` is when the batch was closed: time spent
    /// waiting for a request slot counts against `max_retry_time`, so a long
    /// outage cannot hold a backlog for longer than that.
    pub async fn send(
        &self,
        batch: &Batch,
        stats: &Stats,
        log: &LogFn,
        started: Instant,
        hurry: &mut watch::Receiver<bool>,
    ) -> Outcome {
        let mut backoff = Backoff::new(&self.config);
        let mut retries = 0u32;
        loop {
            match self.attempt(batch, stats).await {
                Attempt::Delivered => return Outcome::Delivered,
                Attempt::Final { reason, why } => {
                    return Outcome::Failed {
                        reason,
                        detail: format!("rejected by the server: {why}"),
                    }
                }
                Attempt::Retry { why, retry_after } => {
                    // During a bounded shutdown flush its deadline is the only
                    // bound that matters: retry every min_retry_delay until then.
                    let hurried = *hurry.borrow();
                    let delay = if hurried {
                        Some(self.config.min_retry_delay)
                    } else {
                        backoff.next_delay(started.elapsed(), retry_after)
                    };
                    let Some(delay) = delay else {
                        return Outcome::Failed {
                            reason: "retries_exhausted".to_string(),
                            detail: format!(
                                "{} retries over {} s, last error: {why}",
                                retries,
                                started.elapsed().as_secs()
                            ),
                        };
                    };
                    retries += 1;
                    stats.retried.fetch_add(1, Relaxed);
                    log(
                        Level::Warn,
                        "retry",
                        format!(
                            "batch of {} messages not delivered ({why}); retry {retries} in {} ms",
                            batch.len(),
                            delay.as_millis()
                        ),
                    );
                    tokio::select! {
                        _ = tokio::time::sleep(delay) => {}
                        // A shutdown flush began: try again now.
                        _ = hurry.wait_for(|h| *h), if !hurried => {}
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::io::Read;

    use super::*;
    use crate::batch::{Batcher, Item};

    #[test]
    fn a_packed_batch_is_sent_as_gzip_of_the_whole_body() {
        let config = Config::from_json(r#"{"write_key":"k","gzip":true}"#).unwrap();
        let sender = Sender::new(Arc::new(config)).unwrap();
        let mut b = Batcher::new(100);
        let mut closed = Vec::new();
        for seq in 0..50 {
            let json = format!(r#"{{"messageId":"m{seq}","event":"Order Completed"}}"#);
            let charged = json.len();
            let has_callback = false;
            b.push(
                Item {
                    seq,
                    json,
                    charged,
                    has_callback,
                },
                &mut closed,
            );
        }
        let mut batch = b.take().unwrap();
        assert!(batch.pack() > 0);
        let mut json = String::new();
        flate2::read::GzDecoder::new(&sender.body(&batch)[..])
            .read_to_string(&mut json)
            .unwrap();
        let v: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(v["batch"].as_array().unwrap().len(), 50);
        assert_eq!(v["batch"][49]["messageId"], "m49");
        assert!(v["sentAt"].as_str().unwrap().ends_with('Z'));
    }
}
