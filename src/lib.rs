//! Segment delivery engine for Medusa.
//!
//! The core modules are plain Rust (no napi types) so `cargo test` covers them
//! directly; `binding` is the thin napi layer that Node.js sees.

pub mod batch;
mod binding;
pub mod client;
pub mod collector;
pub mod config;
pub mod delivery;
pub mod message;
pub mod rates;
pub mod retry;
pub mod stats;

/// Version reported in `context.library`.
pub const LIBRARY_NAME: &str = "medusa-plugin-segment-rs";
pub const LIBRARY_VERSION: &str = env!("CARGO_PKG_VERSION");
