//! Client configuration: the snake_case options of the plugin, validated.
//!
//! Options arrive as one JSON object (stringified in JS). Unknown keys are
//! ignored (the Medusa layer adds its own), `null` means "use the default",
//! and a wrong type or value is an error naming the option.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use serde_json::{Map, Value};

/// Segment's limit for one message, in bytes of JSON.
pub const MAX_MESSAGE_BYTES: usize = 32 * 1024;
/// Segment's limit for one batch request body, in bytes of JSON.
pub const MAX_BATCH_BYTES: usize = 500 * 1024;
/// Default Segment endpoint.
pub const DEFAULT_HOST: &str = "https://api.segment.io";

/// Validated configuration of one client.
#[derive(Clone, PartialEq)]
pub struct Config {
    /// Segment source write key; `None` disables delivery.
    pub write_key: Option<String>,
    /// Base URL, without a trailing slash; requests go to `{host}/v1/batch`.
    pub host: String,
    /// A batch closes when it holds this many messages.
    pub flush_at: usize,
    /// A batch closes this long after its first message arrived.
    pub flush_interval: Duration,
    /// Retries of one batch after its first attempt.
    pub max_retries: u32,
    /// Total time a batch may spend being retried before it is given up.
    pub max_retry_time: Duration,
    /// First backoff delay (grows exponentially, with jitter).
    pub min_retry_delay: Duration,
    /// Cap of one backoff delay.
    pub max_retry_delay: Duration,
    /// Timeout of one HTTP request.
    pub timeout: Duration,
    /// Concurrent batch requests (retrying batches hold their slot).
    pub max_in_flight: usize,
    /// Bytes of accepted, not yet settled messages; beyond it new ones are dropped.
    pub max_queue_bytes: usize,
    /// Compress request bodies with gzip.
    pub gzip: bool,
    /// `false`: accept and count messages, send nothing.
    pub enabled: bool,
    /// Bounded flush on `beforeExit`, SIGTERM/SIGINT and default of `shutdown()`.
    pub shutdown_timeout: Duration,
    /// Spool directory (src/spool); `None`: no spool.
    pub spool_dir: Option<PathBuf>,
    /// Bytes the spool may take on disk; beyond it new messages are dropped.
    pub max_spool_bytes: u64,
    /// Redis spool (src/spool/redis.rs): `redis://` or `rediss://` URL;
    /// `None`: none. Holds a password: never print it.
    pub spool_url: Option<String>,
    /// A live process takes over the spooled messages of one that died
    /// within this time (disk: src/spool/replay; Redis: src/spool/redis).
    pub spool_takeover: Duration,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            write_key: None,
            host: DEFAULT_HOST.to_string(),
            flush_at: 20,
            flush_interval: Duration::from_millis(10_000),
            // 100 ms doubling, as analytics-node 3.5.0 (the original plugin's
            // client): a passing 5xx or reset costs little. 12 retries keep an
            // outage ridden out for minutes (100 ms .. 51.2 s, then 60 s twice).
            max_retries: 12,
            max_retry_time: Duration::from_millis(300_000),
            min_retry_delay: Duration::from_millis(100),
            max_retry_delay: Duration::from_millis(60_000),
            timeout: Duration::from_millis(10_000),
            max_in_flight: 4,
            max_queue_bytes: 64 * 1024 * 1024,
            gzip: false,
            enabled: true,
            shutdown_timeout: Duration::from_millis(5_000),
            spool_dir: None,
            max_spool_bytes: 256 * 1024 * 1024,
            spool_url: None,
            spool_takeover: Duration::from_millis(30_000),
        }
    }
}

// The write key is a credential: never print it.
impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field(
                "write_key",
                &self
                    .write_key
                    .as_ref()
                    .map(|_| crate::redact::Redactor::LOGS_MARKER),
            )
            .field("host", &self.host)
            .field("flush_at", &self.flush_at)
            .field("flush_interval", &self.flush_interval)
            .field("max_retries", &self.max_retries)
            .field("max_retry_time", &self.max_retry_time)
            .field("min_retry_delay", &self.min_retry_delay)
            .field("max_retry_delay", &self.max_retry_delay)
            .field("timeout", &self.timeout)
            .field("max_in_flight", &self.max_in_flight)
            .field("max_queue_bytes", &self.max_queue_bytes)
            .field("gzip", &self.gzip)
            .field("enabled", &self.enabled)
            .field("shutdown_timeout", &self.shutdown_timeout)
            .field("spool_dir", &self.spool_dir)
            .field("max_spool_bytes", &self.max_spool_bytes)
            .field(
                "spool_url",
                &self
                    .spool_url
                    .as_ref()
                    .map(|_| crate::redact::Redactor::LOGS_MARKER),
            )
            .field("spool_takeover", &self.spool_takeover)
            .finish()
    }
}

/// An invalid option: names the option and says what it must be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub option: String,
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid option `{}`: {}", self.option, self.message)
    }
}

impl std::error::Error for ConfigError {}

fn err(option: &str, message: impl Into<String>) -> ConfigError {
    ConfigError {
        option: option.to_string(),
        message: message.into(),
    }
}

/// The options object being read, and the write key found in it: values
/// are echoed in errors only when short and free of the key.
struct Options<'a> {
    map: &'a Map<String, Value>,
    key: Option<&'a str>,
}

/// `JSON.stringify` turns NaN and ±Infinity into `null` ("use the default"),
/// so lib/client/service.js passes them as these strings instead.
const NON_FINITE: [&str; 3] = ["NaN", "Infinity", "-Infinity"];

/// Longest string value echoed in an error: shorter than any real write key.
const MAX_ECHO: usize = 16;

impl Options<'_> {
    /// Short description of a value for error messages (never the write key).
    fn describe(&self, v: &Value) -> String {
        match v {
            Value::String(s) if NON_FINITE.contains(&s.as_str()) => s.clone(),
            Value::String(s) if s.chars().count() <= MAX_ECHO && !overlaps_key(s, self.key) => {
                format!("string {s:?}")
            }
            Value::String(_) => "a string".to_string(),
            Value::Bool(b) => format!("boolean {b}"),
            Value::Number(n) => format!("number {n}"),
            Value::Array(_) => "an array".to_string(),
            Value::Object(_) => "an object".to_string(),
            Value::Null => "null".to_string(),
        }
    }

    fn integer(&self, key: &str, min: u64, max: u64) -> Result<Option<u64>, ConfigError> {
        match self.map.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(v) => {
                let n = v.as_u64().or_else(|| {
                    // JSON.stringify(20.0) is "20", but 1e3 arrives as a float.
                    v.as_f64()
                        .filter(|f| f.fract() == 0.0 && *f >= 0.0 && *f <= u64::MAX as f64)
                        .map(|f| f as u64)
                });
                match n {
                    Some(n) if n >= min && n <= max => Ok(Some(n)),
                    _ => Err(err(
                        key,
                        format!(
                            "must be an integer from {min} to {max} (got {})",
                            self.describe(v)
                        ),
                    )),
                }
            }
        }
    }

    fn boolean(&self, key: &str) -> Result<Option<bool>, ConfigError> {
        match self.map.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(v) => Err(err(
                key,
                format!("must be a boolean (got {})", self.describe(v)),
            )),
        }
    }

    fn millis(&self, key: &str, min: u64, max: u64) -> Result<Option<Duration>, ConfigError> {
        Ok(self.integer(key, min, max)?.map(Duration::from_millis))
    }
}

/// Whether `text` holds the write key or a piece of it, in any letter case.
fn overlaps_key(text: &str, key: Option<&str>) -> bool {
    key.is_some_and(|k| {
        let (text, k) = (text.to_ascii_lowercase(), k.to_ascii_lowercase());
        text.contains(&k) || (text.len() >= 4 && k.contains(&text))
    })
}

const DAY_MS: u64 = 24 * 3600 * 1000;

impl Config {
    /// Parse and validate the options object given as JSON text.
    pub fn from_json(text: &str) -> Result<Config, ConfigError> {
        let value: Value = serde_json::from_str(text)
            .map_err(|e| err("options", format!("is not valid JSON: {e}")))?;
        match value {
            Value::Null => Ok(Config::default()),
            Value::Object(map) => Config::from_map(&map),
            _ => Err(err("options", "must be an object")),
        }
    }

    /// Validate an options object.
    pub fn from_map(map: &Map<String, Value>) -> Result<Config, ConfigError> {
        let mut c = Config::default();
        match map.get("write_key") {
            None | Some(Value::Null) => {}
            // lib/client/service.js passes NaN and ±Infinity as these texts: not a key.
            Some(Value::String(s)) if NON_FINITE.contains(&s.as_str()) => {
                return Err(err("write_key", format!("must be a string (got {s})")))
            }
            Some(Value::String(s)) => {
                let s = s.trim();
                if !s.is_empty() {
                    c.write_key = Some(s.to_string());
                }
            }
            // Never echo the value: it may be the key itself.
            Some(_) => return Err(err("write_key", "must be a string")),
        }
        let o = Options {
            map,
            key: c.write_key.as_deref(),
        };
        match map.get("host") {
            None | Some(Value::Null) => {}
            Some(Value::String(s)) => c.host = normalize_host(s)?,
            Some(v) => {
                return Err(err(
                    "host",
                    format!("must be a URL string (got {})", o.describe(v)),
                ))
            }
        }
        if let Some(n) = o.integer("flush_at", 1, 10_000)? {
            c.flush_at = n as usize;
        }
        if let Some(d) = o.millis("flush_interval", 1, DAY_MS)? {
            c.flush_interval = d;
        }
        if let Some(n) = o.integer("max_retries", 0, 1_000)? {
            c.max_retries = n as u32;
        }
        if let Some(d) = o.millis("max_retry_time", 0, DAY_MS)? {
            c.max_retry_time = d;
        }
        if let Some(d) = o.millis("min_retry_delay", 1, DAY_MS)? {
            c.min_retry_delay = d;
        }
        if let Some(d) = o.millis("max_retry_delay", 1, DAY_MS)? {
            c.max_retry_delay = d;
        }
        if c.max_retry_delay < c.min_retry_delay {
            return Err(err(
                "max_retry_delay",
                "must not be smaller than min_retry_delay",
            ));
        }
        if let Some(d) = o.millis("timeout", 1, DAY_MS)? {
            c.timeout = d;
        }
        if let Some(n) = o.integer("max_in_flight", 1, 64)? {
            c.max_in_flight = n as usize;
        }
        if let Some(n) = o.integer("max_queue_bytes", MAX_MESSAGE_BYTES as u64, 1 << 40)? {
            c.max_queue_bytes = n as usize;
        }
        if let Some(b) = o.boolean("gzip")? {
            c.gzip = b;
        }
        if let Some(b) = o.boolean("enabled")? {
            c.enabled = b;
        }
        if let Some(d) = o.millis("shutdown_timeout", 0, DAY_MS)? {
            c.shutdown_timeout = d;
        }
        // spool: see src/spool
        match map.get("spool_dir") {
            None | Some(Value::Null) | Some(Value::Bool(false)) => {}
            Some(Value::String(s)) if !s.trim().is_empty() => c.spool_dir = Some(PathBuf::from(s)),
            Some(v) => {
                return Err(err(
                    "spool_dir",
                    format!(
                        "must be a directory path (string), or false for no spool (got {})",
                        o.describe(v)
                    ),
                ))
            }
        }
        if let Some(n) = o.integer("max_spool_bytes", 1 << 16, 1 << 50)? {
            c.max_spool_bytes = n;
        }
        c.spool_url = spool_url(map.get("spool_url"), &o)?;
        if c.spool_url.is_some() && c.spool_dir.is_some() {
            return Err(err(
                "spool_url",
                "cannot be set together with spool_dir: choose one spool (spool_url for several \
                 processes or hosts sharing Redis, spool_dir for one host), and set the other to false",
            ));
        }
        if let Some(d) = o.millis("spool_takeover_ms", 100, DAY_MS)? {
            c.spool_takeover = d;
        }
        Ok(c)
    }

    /// Whether requests are actually sent.
    pub fn delivers(&self) -> bool {
        self.enabled && self.write_key.is_some()
    }

    /// Why delivery is off, if it is.
    pub fn disabled_reason(&self) -> Option<&'static str> {
        if !self.enabled {
            Some("enabled is false")
        } else if self.write_key.is_none() {
            Some("write_key is missing")
        } else {
            None
        }
    }

    /// The host as the spool compares it: loopback names are one host
    /// (`localhost`, `127.0.0.1` and `[::1]` reach the same server).
    pub fn spool_host(&self) -> String {
        match reqwest::Url::parse(&self.host) {
            Ok(mut url) if matches!(url.host_str(), Some("localhost" | "[::1]")) => {
                let _ = url.set_host(Some("127.0.0.1"));
                url.as_str().trim_end_matches('/').to_string()
            }
            _ => self.host.clone(),
        }
    }

    /// The batch endpoint.
    pub fn batch_url(&self) -> String {
        format!("{}/v1/batch", self.host)
    }

    /// A canonical text identifying this configuration, used to share one
    /// native client between equal configurations. Contains the write key:
    /// keep it in memory only.
    pub fn canonical_key(&self) -> String {
        format!(
            "{}\u{0}{}\u{0}{}\u{0}{}\u{0}{}\u{0}{}\u{0}{}\u{0}{}\u{0}{}\u{0}{}\u{0}{}\u{0}{}\u{0}{}\u{0}{}\u{0}{:?}\u{0}{}\u{0}{:?}\u{0}{}",
            self.write_key.as_deref().unwrap_or(""),
            self.host,
            self.flush_at,
            self.flush_interval.as_millis(),
            self.max_retries,
            self.max_retry_time.as_millis(),
            self.min_retry_delay.as_millis(),
            self.max_retry_delay.as_millis(),
            self.timeout.as_millis(),
            self.max_in_flight,
            self.max_queue_bytes,
            self.gzip,
            self.enabled,
            self.shutdown_timeout.as_millis(),
            self.spool_dir,
            self.max_spool_bytes,
            self.spool_url,
            self.spool_takeover.as_millis(),
        )
    }
}

/// `spool_url`: a `redis://` or `rediss://` URL the Redis client accepts,
/// or false/null for none. Errors never echo the value: it may hold a password.
fn spool_url(v: Option<&Value>, o: &Options) -> Result<Option<String>, ConfigError> {
    let bad = |why: &str| {
        err(
            "spool_url",
            format!(
                "{why} (expected e.g. redis://:password@redis-host:6379/0 or rediss://..., \
                 or false for no Redis spool)"
            ),
        )
    };
    match v {
        None | Some(Value::Null) | Some(Value::Bool(false)) => Ok(None),
        Some(Value::String(s)) => {
            let t = s.trim();
            if !(t.starts_with("redis://") || t.starts_with("rediss://")) {
                return Err(bad("must start with redis:// or rediss://"));
            }
            match redis::Client::open(t) {
                Ok(_) => Ok(Some(t.to_string())),
                Err(_) => Err(bad("is not a valid Redis URL")),
            }
        }
        Some(v) => Err(bad(&format!(
            "must be a URL string (got {})",
            o.describe(v)
        ))),
    }
}

/// `host` must be an absolute http(s) URL with a valid host and port; a
/// path (a proxy's prefix) is kept. It is returned normalized (scheme and
/// host in lower case, a default port dropped), so that one endpoint spelled
/// two ways is one destination. Errors never echo the value: a misplaced
/// write key would end up in the store's logs.
fn normalize_host(s: &str) -> Result<String, ConfigError> {
    let t = s.trim().trim_end_matches('/');
    let bad = |why: &str| {
        err(
            "host",
            format!("is not a valid URL: {why} (expected e.g. https://api.segment.io)"),
        )
    };
    if t.contains(char::is_whitespace) {
        return Err(bad("it contains white space"));
    }
    // The URL parser drops control characters at the ends; a host ending in
    // NUL would then be accepted and every request fail.
    if t.contains(char::is_control) {
        return Err(bad("it contains a control character"));
    }
    let url = reqwest::Url::parse(t).map_err(|e| bad(&e.to_string()))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(bad("it must start with http:// or https://"));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(bad("it has no host name"));
    }
    if url.port() == Some(0) {
        return Err(bad("the port must be from 1 to 65535"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(bad("it must not contain a user name or password"));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(bad("it must not contain a query (?) or fragment (#)"));
    }
    Ok(url.as_str().trim_end_matches('/').to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults() {
        let c = Config::from_json("{}").unwrap();
        assert_eq!(c, Config::default());
        assert_eq!(c.flush_at, 20);
        assert_eq!(c.flush_interval, Duration::from_secs(10));
        assert_eq!(c.host, "https://api.segment.io");
        assert!(!c.delivers());
        assert_eq!(c.disabled_reason(), Some("write_key is missing"));
    }

    #[test]
    fn parses_all_options_and_ignores_unknown() {
        let c = Config::from_json(
            r#"{"write_key":" k ","host":"http://127.0.0.1:9/","flush_at":5,"flush_interval":100,
            "max_retries":3,"max_retry_time":1000,"min_retry_delay":10,"max_retry_delay":50,
            "timeout":200,"max_in_flight":2,"max_queue_bytes":100000,"gzip":true,"enabled":true,
            "shutdown_timeout":0,"use_ga_id":true,"reporting_currency":"EUR","flush_at_x":"?"}"#,
        )
        .unwrap();
        assert_eq!(c.write_key.as_deref(), Some("k"));
        assert_eq!(c.batch_url(), "http://127.0.0.1:9/v1/batch");
        assert_eq!(c.flush_at, 5);
        assert_eq!(c.max_in_flight, 2);
        assert!(c.gzip && c.delivers());
        assert_eq!(c.shutdown_timeout, Duration::ZERO);
    }

    #[test]
    fn null_means_default_and_blank_key_is_missing() {
        let c = Config::from_json(r#"{"write_key":"  ","flush_at":null}"#).unwrap();
        assert_eq!(c.write_key, None);
        assert_eq!(c.flush_at, 20);
    }

    #[test]
    fn wrong_values_name_the_option() {
        for (json, option) in [
            (r#"{"flush_at":"20"}"#, "flush_at"),
            (r#"{"flush_at":0}"#, "flush_at"),
            (r#"{"flush_at":2.5}"#, "flush_at"),
            (r#"{"flush_interval":-1}"#, "flush_interval"),
            (r#"{"gzip":"yes"}"#, "gzip"),
            (r#"{"enabled":1}"#, "enabled"),
            (r#"{"host":"api.segment.io"}"#, "host"),
            (r#"{"host":5}"#, "host"),
            (r#"{"timeout":0}"#, "timeout"),
            (r#"{"max_queue_bytes":10}"#, "max_queue_bytes"),
            (r#"{"max_retries":true}"#, "max_retries"),
            (r#"{"spool_dir":true}"#, "spool_dir"),
            (r#"{"spool_dir":""}"#, "spool_dir"),
            (r#"{"max_spool_bytes":100}"#, "max_spool_bytes"),
            (
                r#"{"min_retry_delay":100,"max_retry_delay":10}"#,
                "max_retry_delay",
            ),
            (r#"[1]"#, "options"),
        ] {
            let e = Config::from_json(json).unwrap_err();
            assert_eq!(e.option, option, "{json}");
            assert!(e.to_string().contains(option));
        }
    }

    #[test]
    fn non_finite_and_out_of_range_numbers_name_the_option_and_range() {
        for (json, option, range) in [
            (
                r#"{"flush_at":"NaN"}"#,
                "flush_at",
                "from 1 to 10000 (got NaN)",
            ),
            (
                r#"{"flush_interval":"Infinity"}"#,
                "flush_interval",
                "from 1 to 86400000 (got Infinity)",
            ),
            (
                r#"{"max_retries":"-Infinity"}"#,
                "max_retries",
                "from 0 to 1000 (got -Infinity)",
            ),
            (
                r#"{"timeout":-5}"#,
                "timeout",
                "from 1 to 86400000 (got number -5)",
            ),
            (
                r#"{"max_in_flight":2.5}"#,
                "max_in_flight",
                "from 1 to 64 (got number 2.5)",
            ),
            (r#"{"max_in_flight":65}"#, "max_in_flight", "from 1 to 64"),
            (r#"{"gzip":"NaN"}"#, "gzip", "must be a boolean (got NaN)"),
        ] {
            let e = Config::from_json(json).unwrap_err();
            assert_eq!(e.option, option, "{json}");
            assert!(e.to_string().contains(range), "{e} / {range}");
        }
    }

    #[test]
    fn host_must_be_an_http_url_with_a_valid_host_and_port() {
        for bad in [
            "http://[::1",
            "http://127.0.0.1:99999",
            "http://999.0.0.1",
            "http://127.0.0.1:0",
            "api.segment.io",
            "ftp://api.segment.io",
            "http://",
            "http://a b.com",
            "https://user:pass@api.segment.io",
            "https://api.segment.io/?x=1",
            "http://127.0.0.1:9\u{0}",
            "http://127.0.0.1:9/\u{7}",
            "\u{0}http://127.0.0.1:9",
        ] {
            let json = serde_json::json!({ "host": bad }).to_string();
            let e = Config::from_json(&json).unwrap_err();
            assert_eq!(e.option, "host", "{bad}");
            assert!(e.to_string().contains("not a valid URL"), "{e}");
        }
        for good in [
            "http://[::1]:8080",
            "https://api.segment.io/",
            "http://127.0.0.1:9",
            "https://proxy.example/segment",
            "http://localhost:65535",
        ] {
            let json = serde_json::json!({ "host": good }).to_string();
            let c = Config::from_json(&json).unwrap();
            assert_eq!(c.host, good.trim_end_matches('/'));
        }
    }

    #[test]
    fn one_endpoint_spelled_two_ways_is_one_destination_for_the_spool() {
        let host = |h: &str| {
            let json = serde_json::json!({ "host": h }).to_string();
            Config::from_json(&json).unwrap()
        };
        assert_eq!(host("HTTPS://API.Segment.IO:443/").host, DEFAULT_HOST);
        for same in [
            "http://localhost:8080",
            "HTTP://LOCALHOST:8080/",
            "http://127.0.0.1:8080",
            "http://[::1]:8080",
        ] {
            assert_eq!(host(same).spool_host(), "http://127.0.0.1:8080", "{same}");
        }
        assert_ne!(
            host("http://127.0.0.1:8081").spool_host(),
            host("http://127.0.0.1:8080").spool_host()
        );
    }

    #[test]
    fn write_key_nan_is_refused_by_name() {
        for v in ["NaN", "Infinity", "-Infinity"] {
            let json = serde_json::json!({ "write_key": v }).to_string();
            let e = Config::from_json(&json).unwrap_err();
            assert_eq!(e.option, "write_key");
            assert!(e.to_string().contains("must be a string"), "{e}");
        }
    }

    #[test]
    fn spool_takeover_ms_is_checked_by_name() {
        let c = Config::from_json(r#"{"spool_takeover_ms":500}"#).unwrap();
        assert_eq!(c.spool_takeover, Duration::from_millis(500));
        assert_eq!(Config::default().spool_takeover, Duration::from_secs(30));
        for bad in [
            r#"{"spool_takeover_ms":5}"#,
            r#"{"spool_takeover_ms":"NaN"}"#,
        ] {
            let e = Config::from_json(bad).unwrap_err();
            assert_eq!(e.option, "spool_takeover_ms", "{bad}");
        }
    }

    #[test]
    fn a_key_in_the_wrong_option_is_not_echoed() {
        let key = "Abcdefghijklmnop1234567890QRSTuv";
        for json in [
            format!(r#"{{"write_key":"{key}","host":"{key}"}}"#),
            format!(r#"{{"host":"{key}"}}"#),
            format!(r#"{{"host":"http://{key}:99999"}}"#),
            format!(r#"{{"write_key":"{key}","flush_at":"{key}"}}"#),
            format!(r#"{{"flush_at":"{key}"}}"#),
            format!(r#"{{"write_key":"{key}","gzip":"{}"}}"#, &key[..8]),
            format!(r#"{{"write_key":"{key}","gzip":"{}"}}"#, key.to_lowercase()),
        ] {
            let e = Config::from_json(&json).unwrap_err().to_string();
            assert!(!e.contains(key) && !e.contains(&key[..8]), "{e}");
            assert!(!e.to_lowercase().contains(&key.to_lowercase()[..8]), "{e}");
        }
        // A short, harmless value is still shown.
        let e = Config::from_json(r#"{"flush_at":"20"}"#).unwrap_err();
        assert!(e.to_string().contains(r#"string "20""#), "{e}");
    }

    #[test]
    fn write_key_never_printed() {
        let e = Config::from_json(r#"{"write_key":12345}"#).unwrap_err();
        assert!(!e.to_string().contains("12345"));
        let c = Config::from_json(r#"{"write_key":"SECRETKEY"}"#).unwrap();
        let dbg = format!("{c:?}");
        assert!(!dbg.contains("SECRETKEY"));
        assert!(dbg.contains("[redacted]"));
    }

    #[test]
    fn spool_url_is_checked_and_never_echoed() {
        let c = Config::from_json(
            r#"{"spool_url":" rediss://u:pw@redis.internal:6380/3 ","spool_takeover_ms":1000}"#,
        )
        .unwrap();
        assert_eq!(
            c.spool_url.as_deref(),
            Some("rediss://u:pw@redis.internal:6380/3")
        );
        assert_eq!(c.spool_takeover, Duration::from_secs(1));
        assert!(!format!("{c:?}").contains("pw@"));
        assert_eq!(
            Config::from_json(r#"{"spool_url":false}"#)
                .unwrap()
                .spool_url,
            None
        );
        for json in [
            r#"{"spool_url":"http://secretpass@h:6379"}"#,
            r#"{"spool_url":"redis://:secretpass@[::1"}"#,
            r#"{"spool_url":true}"#,
            r#"{"spool_url":"redis://h/0","spool_dir":"/tmp/s"}"#,
        ] {
            let e = Config::from_json(json).unwrap_err();
            assert_eq!(e.option, "spool_url", "{json}");
            assert!(!e.to_string().contains("secretpass"), "{e}");
        }
        let e = Config::from_json(r#"{"spool_takeover_ms":10}"#).unwrap_err();
        assert_eq!(e.option, "spool_takeover_ms");
    }

    #[test]
    fn canonical_key_distinguishes_configs() {
        let a = Config::from_json(r#"{"write_key":"a"}"#).unwrap();
        let b = Config::from_json(r#"{"write_key":"a","flush_at":20}"#).unwrap();
        let c = Config::from_json(r#"{"write_key":"a","flush_at":21}"#).unwrap();
        assert_eq!(a.canonical_key(), b.canonical_key());
        assert_ne!(a.canonical_key(), c.canonical_key());
    }
}
