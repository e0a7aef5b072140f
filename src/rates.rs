//! Exchange rates for the `reporting_*` values of the Medusa plugin.
//!
//! One HTTP lookup per currency pair and TTL, whatever the number of amounts
//! or concurrent callers: callers asking for a pair whose lookup is in flight
//! wait for that lookup instead of starting their own. A failed lookup yields
//! `None` (the event is still sent, with `reporting_*` null) and is remembered
//! for a shorter time so an unreachable service is not hammered either.
//!
//! Wire format is the one medusa-plugin-segment 1.3.5 used:
//! `GET {base}/latest?symbols=FROM&base=TO&access_key=KEY` answering
//! `{"rates": {"FROM": <units of FROM per 1 TO>}}`.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::OnceCell;

/// Default service, as in medusa-plugin-segment 1.3.5.
pub const DEFAULT_BASE_URL: &str = "https://api.exchangeratesapi.io";

/// Settings of an [`ExchangeRates`] instance.
#[derive(Clone, Debug)]
pub struct RatesConfig {
    /// Base URL of the service; `/latest` is appended.
    pub base_url: String,
    /// `access_key` query parameter. Without it no request is ever made.
    pub api_key: Option<String>,
    /// How long a fetched rate is reused.
    pub ttl: Duration,
    /// How long a failed lookup is remembered (capped at `ttl`).
    pub failure_ttl: Duration,
    /// Timeout of one HTTP request (connect + response).
    pub timeout: Duration,
    /// At most one warning per currency pair within this interval.
    pub warn_interval: Duration,
}

impl Default for RatesConfig {
    fn default() -> Self {
        RatesConfig {
            base_url: DEFAULT_BASE_URL.to_string(),
            api_key: None,
            ttl: Duration::from_secs(3600),
            failure_ttl: Duration::from_secs(30),
            timeout: Duration::from_secs(5),
            warn_interval: Duration::from_secs(60),
        }
    }
}

/// Counters, for tests and figures.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RatesStats {
    /// HTTP requests started.
    pub requests: u64,
    /// Lookups that failed (HTTP error, timeout, bad body, missing rate).
    pub failures: u64,
    /// `get_rate` calls answered without starting a request.
    pub cache_hits: u64,
}

struct Fetched {
    rate: Option<f64>,
    at: Instant,
}

/// One lookup of one pair: the cell is filled once, by whichever caller runs
/// the request; every other caller of the same pair awaits the same cell.
struct Slot {
    cell: OnceCell<Fetched>,
}

struct WarnState {
    last: HashMap<(String, String), Instant>,
    suppressed: HashMap<(String, String), u64>,
    pending: Vec<String>,
}

/// Cached, de-duplicated exchange-rate lookups.
pub struct ExchangeRates {
    config: RatesConfig,
    client: reqwest::Client,
    slots: Mutex<HashMap<(String, String), Arc<Slot>>>,
    warn: Mutex<WarnState>,
    requests: AtomicU64,
    failures: AtomicU64,
    cache_hits: AtomicU64,
}

impl ExchangeRates {
    pub fn new(config: RatesConfig) -> Result<Self, String> {
        let client = reqwest::Client::builder()
            .timeout(config.timeout)
            .connect_timeout(config.timeout)
            .build()
            .map_err(|e| format!("exchange rates: cannot build HTTP client: {e}"))?;
        Ok(ExchangeRates {
            config,
            client,
            slots: Mutex::new(HashMap::new()),
            warn: Mutex::new(WarnState {
                last: HashMap::new(),
                suppressed: HashMap::new(),
                pending: Vec::new(),
            }),
            requests: AtomicU64::new(0),
            failures: AtomicU64::new(0),
            cache_hits: AtomicU64::new(0),
        })
    }

    pub fn config(&self) -> &RatesConfig {
        &self.config
    }

    /// Units of `from` per one unit of `to` (reporting value = amount / rate).
    ///
    /// `Some(1.0)` for the same currency; `None` when no key is configured or
    /// the lookup failed. Never more than one request per pair per TTL.
    pub async fn get_rate(&self, from: &str, to: &str) -> Option<f64> {
        let from = from.trim().to_ascii_uppercase();
        let to = to.trim().to_ascii_uppercase();
        if from == to {
            return Some(1.0);
        }
        if from.is_empty() || to.is_empty() || self.config.api_key.is_none() {
            return None;
        }
        let key = (from.clone(), to.clone());
        let slot = {
            let mut slots = self.slots.lock().unwrap();
            let fresh = slots.get(&key).filter(|slot| match slot.cell.get() {
                // in flight: share it
                None => true,
                Some(f) => f.at.elapsed() < self.lifetime(f.rate.is_some()),
            });
            match fresh {
                Some(slot) => {
                    if slot.cell.initialized() {
                        self.cache_hits.fetch_add(1, Ordering::Relaxed);
                    }
                    slot.clone()
                }
                None => {
                    let slot = Arc::new(Slot {
                        cell: OnceCell::new(),
                    });
                    slots.insert(key.clone(), slot.clone());
                    slot
                }
            }
        };
        let fetched = slot
            .cell
            .get_or_init(|| async {
                let rate = match self.fetch(&from, &to).await {
                    Ok(rate) => Some(rate),
                    Err(problem) => {
                        self.failures.fetch_add(1, Ordering::Relaxed);
                        self.warn(&key, problem);
                        None
                    }
                };
                Fetched {
                    rate,
                    at: Instant::now(),
                }
            })
            .await;
        fetched.rate
    }

    /// What `get_rate` would answer from the cache, without waiting: the rate
    /// (1 for the same currency), 0 for a remembered failure, `None` when
    /// nothing fresh is cached (in flight, expired, never asked: then call
    /// `get_rate`). Lets a caller whose cache is warm skip a trip through the
    /// runtime and back per lookup.
    pub fn cached_rate(&self, from: &str, to: &str) -> Option<f64> {
        let from = from.trim().to_ascii_uppercase();
        let to = to.trim().to_ascii_uppercase();
        if from == to {
            return Some(1.0);
        }
        if from.is_empty() || to.is_empty() || self.config.api_key.is_none() {
            return Some(0.0);
        }
        let slots = self.slots.lock().unwrap();
        let fetched = slots.get(&(from, to))?.cell.get()?;
        if fetched.at.elapsed() >= self.lifetime(fetched.rate.is_some()) {
            return None;
        }
        self.cache_hits.fetch_add(1, Ordering::Relaxed);
        Some(fetched.rate.unwrap_or(0.0))
    }

    fn lifetime(&self, ok: bool) -> Duration {
        if ok {
            self.config.ttl
        } else {
            self.config.failure_ttl.min(self.config.ttl)
        }
    }

    /// The request URL; `None` when the base URL does not parse.
    pub fn request_url(&self, from: &str, to: &str) -> Option<reqwest::Url> {
        let base = self.config.base_url.trim_end_matches('/');
        let mut url = reqwest::Url::parse(&format!("{base}/latest")).ok()?;
        url.query_pairs_mut()
            .append_pair("symbols", from)
            .append_pair("base", to)
            .append_pair("access_key", self.config.api_key.as_deref().unwrap_or(""));
        Some(url)
    }

    async fn fetch(&self, from: &str, to: &str) -> Result<f64, String> {
        let url = self
            .request_url(from, to)
            .ok_or_else(|| format!("invalid exchange_rates_url {:?}", self.config.base_url))?;
        self.requests.fetch_add(1, Ordering::Relaxed);
        // `without_url` keeps the access key out of every message.
        let response = self
            .client
            .get(url)
            .send()
            .await
            .map_err(|e| describe(e.without_url()))?;
        let status = response.status();
        let body = response
            .bytes()
            .await
            .map_err(|e| describe(e.without_url()))?;
        if !status.is_success() {
            return Err(format!("HTTP {}", status.as_u16()));
        }
        parse_rate(&body, from)
    }

    fn warn(&self, pair: &(String, String), problem: String) {
        let mut w = self.warn.lock().unwrap();
        let now = Instant::now();
        let due = w
            .last
            .get(pair)
            .is_none_or(|t| now.duration_since(*t) >= self.config.warn_interval);
        if !due {
            *w.suppressed.entry(pair.clone()).or_insert(0) += 1;
            return;
        }
        let suppressed = w.suppressed.remove(pair).unwrap_or(0);
        w.last.insert(pair.clone(), now);
        let mut msg = format!(
            "[segment] no exchange rate {}->{} ({problem}); reporting_* values are null",
            pair.0, pair.1
        );
        if suppressed > 0 {
            msg.push_str(&format!(" ({suppressed} similar failures not logged)"));
        }
        w.pending.push(msg);
    }

    /// Warnings produced since the last call (already rate-limited).
    pub fn take_warnings(&self) -> Vec<String> {
        std::mem::take(&mut self.warn.lock().unwrap().pending)
    }

    pub fn stats(&self) -> RatesStats {
        RatesStats {
            requests: self.requests.load(Ordering::Relaxed),
            failures: self.failures.load(Ordering::Relaxed),
            cache_hits: self.cache_hits.load(Ordering::Relaxed),
        }
    }
}

fn describe(e: reqwest::Error) -> String {
    if e.is_timeout() {
        "timed out".to_string()
    } else if e.is_connect() {
        "connection failed".to_string()
    } else {
        e.to_string()
    }
}

/// Reads `rates[FROM]` from the service's answer; also understands the
/// `{"success": false, "error": {...}}` answers of exchangeratesapi.io.
pub fn parse_rate(body: &[u8], from: &str) -> Result<f64, String> {
    let v: serde_json::Value =
        serde_json::from_slice(body).map_err(|_| "answer is not JSON".to_string())?;
    if let Some(err) = v.get("error") {
        let kind = err
            .get("type")
            .or_else(|| err.get("code"))
            .and_then(|t| {
                t.as_str()
                    .map(str::to_string)
                    .or_else(|| Some(t.to_string()))
            })
            .unwrap_or_else(|| "unknown".to_string());
        return Err(format!("service error {kind}"));
    }
    match v
        .get("rates")
        .and_then(|r| r.get(from))
        .and_then(|r| r.as_f64())
    {
        Some(rate) if rate.is_finite() && rate > 0.0 => Ok(rate),
        Some(_) => Err(format!("invalid rate for {from}")),
        None => Err(format!("answer has no rate for {from}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    /// A tiny HTTP/1.1 server on 127.0.0.1 answering every request with
    /// `reply(path_and_query)` after `delay`; records the request lines.
    struct Server {
        url: String,
        hits: Arc<AtomicUsize>,
        paths: Arc<Mutex<Vec<String>>>,
    }

    async fn serve<F>(delay: Duration, reply: F) -> Server
    where
        F: Fn(&str) -> (u16, String) + Send + Sync + 'static,
    {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let hits = Arc::new(AtomicUsize::new(0));
        let paths = Arc::new(Mutex::new(Vec::new()));
        let reply = Arc::new(reply);
        let (h, p) = (hits.clone(), paths.clone());
        tokio::spawn(async move {
            loop {
                let Ok((mut sock, _)) = listener.accept().await else {
                    return;
                };
                let (h, p, reply) = (h.clone(), p.clone(), reply.clone());
                tokio::spawn(async move {
                    let mut buf = Vec::new();
                    let mut chunk = [0u8; 1024];
                    while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
                        match sock.read(&mut chunk).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => buf.extend_from_slice(&chunk[..n]),
                        }
                    }
                    let head = String::from_utf8_lossy(&buf).to_string();
                    let path = head.split(' ').nth(1).unwrap_or("").to_string();
                    h.fetch_add(1, Ordering::SeqCst);
                    p.lock().unwrap().push(path.clone());
                    tokio::time::sleep(delay).await;
                    let (status, body) = reply(&path);
                    let resp = format!(
                        "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                        body.len()
                    );
                    let _ = sock.write_all(resp.as_bytes()).await;
                    let _ = sock.shutdown().await;
                });
            }
        });
        Server {
            url: format!("http://{addr}"),
            hits,
            paths,
        }
    }

    fn rates_for(url: &str) -> ExchangeRates {
        ExchangeRates::new(RatesConfig {
            base_url: url.to_string(),
            api_key: Some("k3y".into()),
            ttl: Duration::from_secs(60),
            failure_ttl: Duration::from_secs(60),
            timeout: Duration::from_secs(2),
            warn_interval: Duration::from_secs(60),
        })
        .unwrap()
    }

    fn ok_body(path: &str) -> (u16, String) {
        let from = path
            .split(['?', '&'])
            .find_map(|kv| kv.strip_prefix("symbols="))
            .unwrap_or("")
            .to_string();
        let rate = match from.as_str() {
            "USD" => 1.25,
            "JPY" => 160.0,
            _ => 2.0,
        };
        (
            200,
            format!(r#"{{"rates":{{"{from}":{rate}}},"base":"EUR"}}"#),
        )
    }

    #[tokio::test]
    async fn same_path_and_query_as_the_original() {
        let srv = serve(Duration::ZERO, ok_body).await;
        let r = rates_for(&format!("{}/", srv.url));
        assert_eq!(r.get_rate("usd", "eur").await, Some(1.25));
        assert_eq!(
            srv.paths.lock().unwrap().clone(),
            vec!["/latest?symbols=USD&base=EUR&access_key=k3y".to_string()]
        );
    }

    #[tokio::test]
    async fn one_request_per_pair_while_fresh() {
        let srv = serve(Duration::ZERO, ok_body).await;
        let r = rates_for(&srv.url);
        for _ in 0..10 {
            assert_eq!(r.get_rate("USD", "EUR").await, Some(1.25));
        }
        assert_eq!(r.get_rate("JPY", "EUR").await, Some(160.0));
        assert_eq!(srv.hits.load(Ordering::SeqCst), 2);
        assert_eq!(r.stats().requests, 2);
        assert_eq!(r.stats().cache_hits, 9);
    }

    #[tokio::test]
    async fn cached_rate_answers_without_waiting_only_when_fresh() {
        let srv = serve(Duration::ZERO, |_| (500, "oops".to_string())).await;
        let ok = serve(Duration::ZERO, ok_body).await;
        let mut cfg = rates_for(&ok.url).config().clone();
        cfg.ttl = Duration::from_millis(100);
        let r = ExchangeRates::new(cfg).unwrap();
        assert_eq!(r.cached_rate("eur", "EUR"), Some(1.0));
        assert_eq!(r.cached_rate("USD", "EUR"), None, "never asked");
        assert_eq!(r.get_rate("USD", "EUR").await, Some(1.25));
        assert_eq!(r.cached_rate("usd", "eur"), Some(1.25));
        assert_eq!(r.stats().cache_hits, 1);
        tokio::time::sleep(Duration::from_millis(150)).await;
        assert_eq!(r.cached_rate("USD", "EUR"), None, "expired");
        assert_eq!(ok.hits.load(Ordering::SeqCst), 1);

        let down = rates_for(&srv.url);
        assert_eq!(down.get_rate("USD", "EUR").await, None);
        assert_eq!(
            down.cached_rate("USD", "EUR"),
            Some(0.0),
            "a remembered failure"
        );
        let mut cfg = down.config().clone();
        cfg.api_key = None;
        let keyless = ExchangeRates::new(cfg).unwrap();
        assert_eq!(keyless.cached_rate("USD", "EUR"), Some(0.0));
    }

    #[tokio::test]
    async fn concurrent_callers_share_one_request() {
        let srv = serve(Duration::from_millis(200), ok_body).await;
        let r = Arc::new(rates_for(&srv.url));
        let mut tasks = Vec::new();
        for _ in 0..25 {
            let r = r.clone();
            tasks.push(tokio::spawn(async move { r.get_rate("USD", "EUR").await }));
        }
        for t in tasks {
            assert_eq!(t.await.unwrap(), Some(1.25));
        }
        assert_eq!(srv.hits.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn expired_entries_are_fetched_again() {
        let srv = serve(Duration::ZERO, ok_body).await;
        let mut cfg = rates_for(&srv.url).config().clone();
        cfg.ttl = Duration::from_millis(50);
        let r = ExchangeRates::new(cfg).unwrap();
        r.get_rate("USD", "EUR").await;
        r.get_rate("USD", "EUR").await;
        tokio::time::sleep(Duration::from_millis(80)).await;
        r.get_rate("USD", "EUR").await;
        assert_eq!(srv.hits.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn same_currency_and_missing_key_make_no_request() {
        let srv = serve(Duration::ZERO, ok_body).await;
        let mut cfg = rates_for(&srv.url).config().clone();
        cfg.api_key = None;
        let r = ExchangeRates::new(cfg).unwrap();
        assert_eq!(r.get_rate("eur", "EUR").await, Some(1.0));
        assert_eq!(r.get_rate("USD", "EUR").await, None);
        assert_eq!(srv.hits.load(Ordering::SeqCst), 0);
        assert!(r.take_warnings().is_empty());
    }

    #[tokio::test]
    async fn failures_are_none_with_rate_limited_warnings() {
        let srv = serve(Duration::ZERO, |_| (503, "{}".to_string())).await;
        let mut cfg = rates_for(&srv.url).config().clone();
        cfg.failure_ttl = Duration::ZERO; // retry every call
        let r = ExchangeRates::new(cfg).unwrap();
        for _ in 0..5 {
            assert_eq!(r.get_rate("USD", "EUR").await, None);
        }
        assert_eq!(srv.hits.load(Ordering::SeqCst), 5);
        let w = r.take_warnings();
        assert_eq!(w.len(), 1, "{w:?}");
        assert!(
            w[0].contains("USD->EUR") && w[0].contains("HTTP 503"),
            "{}",
            w[0]
        );
        assert!(!w[0].contains("k3y"));
        assert!(r.take_warnings().is_empty());
        assert_eq!(r.stats().failures, 5);
    }

    #[tokio::test]
    async fn failures_are_remembered_for_the_failure_ttl() {
        let srv = serve(Duration::ZERO, |_| (500, "oops".to_string())).await;
        let r = rates_for(&srv.url);
        for _ in 0..5 {
            assert_eq!(r.get_rate("USD", "EUR").await, None);
        }
        assert_eq!(srv.hits.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn timeout_gives_none_and_a_warning_without_the_key() {
        let srv = serve(Duration::from_millis(1500), ok_body).await;
        let mut cfg = rates_for(&srv.url).config().clone();
        cfg.timeout = Duration::from_millis(200);
        let r = ExchangeRates::new(cfg).unwrap();
        let t0 = Instant::now();
        assert_eq!(r.get_rate("USD", "EUR").await, None);
        assert!(t0.elapsed() < Duration::from_millis(1200));
        let w = r.take_warnings();
        assert_eq!(w.len(), 1);
        assert!(w[0].contains("timed out"), "{}", w[0]);
        assert!(!w[0].contains("k3y"));
    }

    #[tokio::test]
    async fn unreachable_service_gives_none() {
        // bind then drop: nothing listens on that port any more
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let r = rates_for(&format!("http://127.0.0.1:{port}"));
        assert_eq!(r.get_rate("USD", "EUR").await, None);
        assert_eq!(r.take_warnings().len(), 1);
    }

    #[test]
    fn parses_answers() {
        assert_eq!(parse_rate(br#"{"rates":{"USD":1.1}}"#, "USD"), Ok(1.1));
        assert!(parse_rate(br#"{"rates":{}}"#, "USD").is_err());
        assert!(parse_rate(br#"{"rates":{"USD":0}}"#, "USD").is_err());
        assert!(parse_rate(b"<html>", "USD").is_err());
        let e = parse_rate(
            br#"{"success":false,"error":{"code":101,"type":"missing_access_key"}}"#,
            "USD",
        )
        .unwrap_err();
        assert!(e.contains("missing_access_key"), "{e}");
    }

    #[test]
    fn query_values_are_encoded() {
        let r = ExchangeRates::new(RatesConfig {
            base_url: "http://127.0.0.1:9/v1/".into(),
            api_key: Some("a&b=c".into()),
            ..RatesConfig::default()
        })
        .unwrap();
        assert_eq!(
            r.request_url("USD", "EUR").unwrap().as_str(),
            "http://127.0.0.1:9/v1/latest?symbols=USD&base=EUR&access_key=a%26b%3Dc"
        );
    }
}
