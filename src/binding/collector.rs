//! napi layer over `crate::collector`: collectors are kept in a registry and
//! addressed by id from `debugger.js`.
//!
//! napi does not register its exports in `cfg(test)` builds, hence the allow.
#![cfg_attr(test, allow(dead_code))]

use crate::collector::{Collector, Config, Store};
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
    let config = Config {
        host: host.clone(),
        port,
        print: options.print.unwrap_or(true),
        expected_write_key: options.write_key,
        utc_offset_minutes: options.utc_offset_minutes.unwrap_or(0),
    };
    let collector = Collector::start(config)
        .await
        .map_err(|e| Error::from_reason(format!("cannot listen on {host}:{port}: {e}")))?;
    let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
    let url = collector.url();
    COLLECTORS.lock().unwrap().insert(id, collector);
    Ok(CollectorInfo { id, url })
}

/// Accepted messages, in arrival order, as a JSON array.
#[napi]
pub fn collector_messages(id: u32) -> Result<String> {
    Ok(serde_json::Value::Array(store(id)?.messages()).to_string())
}

/// Entries (accepted messages and refused requests) after `after`, as a JSON array.
#[napi]
pub fn collector_entries(id: u32, after: Option<i64>) -> Result<String> {
    let after = after.unwrap_or(0).max(0) as u64;
    let entries: Vec<_> = store(id)?
        .entries_after(after)
        .into_iter()
        .map(|e| e.json)
        .collect();
    Ok(serde_json::Value::Array(entries).to_string())
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
