//! Segment delivery engine for Medusa.
//!
//! The core modules are plain Rust (no napi types) so `cargo test` covers them
//! directly; `binding` is the thin napi layer that Node.js sees.
//!
//! A message's way: `client` (the caller's thread) → `inbox` → `worker`
//! (`message` prepares it, `batch` packs it) → `delivery` (with `retry`).
//! `shared`, `stats` and `log` are what the front and the worker share;
//! `redact` keeps the write key out of the logs and the debugger's pages.

pub mod batch;
mod binding;
pub mod client;
pub mod collector;
pub mod config;
pub mod delivery;
mod inbox;
pub mod log;
pub mod message;
pub mod rates;
pub mod redact;
pub mod retry;
mod shared;
pub mod spool;
pub mod stats;
mod worker;

use std::sync::OnceLock;

use tokio::runtime::Runtime;

/// Version reported in `context.library`.
pub const LIBRARY_NAME: &str = "medusa-plugin-segment-rs";
pub const LIBRARY_VERSION: &str = env!("CARGO_PKG_VERSION");

/// The process-wide runtime all clients share.
pub fn runtime() -> &'static Runtime {
    static RT: OnceLock<Runtime> = OnceLock::new();
    RT.get_or_init(|| {
        // One delivery thread is enough (it delivered 37k-95k events/s in
        // the bench's 100k burst) and on a small server every extra busy
        // thread competes with the store's JS thread: with two, the burst's
        // event-loop p99 was ~20% higher and its CPU per event ~10% higher.
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("segment-rs")
            .enable_all()
            .build()
            .expect("cannot start the segment runtime")
    })
}
