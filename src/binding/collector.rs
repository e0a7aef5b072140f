//! napi layer over `crate::collector`: collectors are kept in a registry and
//! addressed by id from `debugger.js`.
//!
//! napi does not register its exports in `cfg(test)` builds, hence the allow.
#![cfg_attr(test, allow(dead_code))]

use crate::collector::{json_array, Collector, Config, Limits, Store};
use napi::bindgen_prelude::*;
use napi_derive::napi;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, LazyLock, Mutex};

static COLLECTORS: LazyLock<Mutex<HashMap<u32, Collector>>> = LazyLock::new(Default::default);
static NEXT_ID: AtomicU32 = AtomicU32::new(1);

#[napi(object)]
pub struct CollectorOptions {
    pub port: Option<u32>,
    pub host: Option<String>,
    pub print: Option<bool>,
    /// When set, requests with another write key are refused.
    pub write_key: Option<String>,
    /// Offset of printed clock times from UTC, in minutes (local time from JS).
    pub utc_offset_minutes: Option<i32>,
    /// How long a request's head or body may take to arrive (default 10 s).
    pub read_timeout_ms: Option<f64>,
    /// Connections open at once (default 256); a new one closes the oldest.
    pub max_connections: Option<f64>,
    /// Entries kept (default 100,000); the oldest are dropped first.
    pub max_entries: Option<f64>,
    /// Bytes of entry JSON kept (default 64 MB); the oldest are dropped first.
    pub max_stored_bytes: Option<f64>,
    /// Live pages at once (default 16).
    pub max_streams: Option<f64>,
}

#[napi(object)]
pub struct CollectorStats {
    /// Entries kept now.
    pub entries: u32,
    /// Bytes of JSON they take.
    pub bytes: f64,
    /// Entries dropped, oldest first, to stay within the limits.
    pub dropped: f64,
    /// Live pages connected.
    pub streams: u32,
}

/// A whole number from 1 to `max`, or an error naming the option.
fn count(name: &str, value: Option<f64>, default: usize, max: f64) -> Result<usize> {
    match value {
        None => Ok(default),
        Some(v) if v.fract() == 0.0 && (1.0..=max).contains(&v) => Ok(v as usize),
        Some(v) => Err(Error::from_reason(format!(
            "startDebugger: {name} must be a whole number from 1 to {max}, got {v}"
        ))),
    }
}

#[napi(object)]
pub struct CollectorInfo {
    pub id: u32,
    pub url: String,
}

fn store(id: u32) -> Result<Arc<Store>> {
    COLLECTORS
        .lock()
        .unwrap()
        .get(&id)
        .map(|c| c.store().clone())
        .ok_or_else(|| Error::from_reason(format!("collector {id} is closed")))
}

/// Starts a local Segment-compatible collector.
#[napi]
pub async fn start_collector(options: CollectorOptions) -> Result<CollectorInfo> {
    let port = options.port.unwrap_or(0);
    let port =
        u16::try_from(port).map_err(|_| Error::from_reason(format!("invalid port {port}")))?;
    let host = options.host.unwrap_or_else(|| "127.0.0.1".into());
    let defaults = Config::default();
    let limits = Limits {
        max_entries: count(
            "maxEntries",
            options.max_entries,
            defaults.limits.max_entries,
            1e9,
        )?,
        max_bytes: count(
            "maxStoredBytes",
            options.max_stored_bytes,
            defaults.limits.max_bytes,
            1e12,
        )?,
    };
    let read_timeout_ms = count(
        "readTimeoutMs",
        options.read_timeout_ms,
        defaults.read_timeout.as_millis() as usize,
        3_600_000.0,
    )?;
    let config = Config {
        host: host.clone(),
        port,
        print: options.print.unwrap_or(true),
        expected_write_key: options.write_key,
        utc_offset_minutes: options.utc_offset_minutes.unwrap_or(0),
        read_timeout: std::time::Duration::from_millis(read_timeout_ms as u64),
        max_connections: count(
            "maxConnections",
            options.max_connections,
            defaults.max_connections,
            100_000.0,
        )?,
        max_streams: count(
            "maxStreams",
            options.max_streams,
            defaults.max_streams,
            10_000.0,
        )?,
        limits,
    };
    let collector = Collector::start(config)
        .await
        .map_err(|e| Error::from_reason(format!("cannot listen on {host}:{port}: {e}")))?;
    let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
    let url = collector.url();
    COLLECTORS.lock().unwrap().insert(id, collector);
    Ok(CollectorInfo { id, url })
}

/// Accepted messages kept, in arrival order, as a JSON array.
#[napi]
pub fn collector_messages(id: u32) -> Result<String> {
    let messages = store(id)?.messages();
    let json = json_array(messages.iter().map(|m| &m[..]));
    Ok(String::from_utf8(json).unwrap_or_default())
}

/// Entries (accepted messages and refused requests) after `after`, as a JSON array.
#[napi]
pub fn collector_entries(id: u32, after: Option<i64>) -> Result<String> {
    let after = after.unwrap_or(0).max(0) as u64;
    let (entries, _) = store(id)?.entries_after(after, usize::MAX, usize::MAX);
    let json = json_array(entries.iter().map(|e| &e.json[..]));
    Ok(String::from_utf8(json).unwrap_or_default())
}

/// What is kept and what was dropped.
#[napi]
pub fn collector_stats(id: u32) -> Result<CollectorStats> {
    let s = store(id)?.stats();
    Ok(CollectorStats {
        entries: s.entries as u32,
        bytes: s.bytes as f64,
        dropped: s.dropped as f64,
        streams: s.subscribers as u32,
    })
}

/// Forgets everything received so far.
#[napi]
pub fn collector_clear(id: u32) -> Result<()> {
    store(id)?.clear();
    Ok(())
}

/// Stops the collector and releases its port.
#[napi]
pub async fn close_collector(id: u32) -> Result<()> {
    let collector = COLLECTORS.lock().unwrap().remove(&id);
    if let Some(mut c) = collector {
        c.close().await;
    }
    Ok(())
}
