//! A local Segment-compatible collector: accepts what Segment's HTTP tracking
//! API accepts, checks it the way Segment does, prints each event and serves a
//! live page listing them (like the Debugger tab of a Segment source).
//!
//! Plain Rust: `src/binding/collector.rs` is the napi layer over it.

pub mod print;
mod server;
mod stall;
pub mod store;
pub mod validate;

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub use store::{json_array, Limits, Stats, Store};

/// How to run a collector.
#[derive(Debug, Clone)]
pub struct Config {
    /// Interface to listen on (default loopback).
    pub host: String,
    /// Port; 0 picks a free one.
    pub port: u16,
    /// Print one line per event / refused request on stdout.
    pub print: bool,
    /// When set, requests carrying another write key are refused.
    pub expected_write_key: Option<String>,
    /// Offset of printed clock times from UTC, in minutes.
    pub utc_offset_minutes: i32,
    /// How long a request's head, or its body, may take to arrive; an idle
    /// keep-alive connection is closed after it too.
    pub read_timeout: Duration,
    /// Connections open at once; a new one past it closes the oldest (at
    /// once when idle, else within a second).
    pub max_connections: usize,
    /// Live pages (event streams) at once; more get 503.
    pub max_streams: usize,
    /// What the store keeps.
    pub limits: Limits,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            host: "127.0.0.1".into(),
            port: 0,
            print: true,
            expected_write_key: None,
            utc_offset_minutes: 0,
            read_timeout: Duration::from_secs(10),
            max_connections: 256,
            max_streams: 16,
            limits: Limits::default(),
        }
    }
}

/// A running collector. Dropping it stops the server.
pub struct Collector {
    addr: SocketAddr,
    store: Arc<Store>,
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

impl Collector {
    /// Binds the listener and starts serving on the current tokio runtime.
    pub async fn start(config: Config) -> io::Result<Collector> {
        let listener = tokio::net::TcpListener::bind((config.host.as_str(), config.port)).await?;
        let addr = listener.local_addr()?;
        let store = Arc::new(Store::new(config.limits));
        let state = Arc::new(server::State {
            store: store.clone(),
            print: config.print,
            expected_write_key: config.expected_write_key,
            loopback_only: addr.ip().is_loopback(),
            addr,
            utc_offset_minutes: config.utc_offset_minutes,
            read_timeout: config.read_timeout,
            max_streams: config.max_streams,
        });
        let (tx, rx) = oneshot::channel();
        let task = tokio::spawn(server::serve(listener, state, config.max_connections, rx));
        Ok(Collector {
            addr,
            store,
            shutdown: Some(tx),
            task: Some(task),
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT` — the value for the plugin's `host` option.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn store(&self) -> &Arc<Store> {
        &self.store
    }

    /// Stops accepting, ends open connections (live pages included) and
    /// waits until the port is released.
    pub async fn close(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}
