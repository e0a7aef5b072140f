//! napi layer: converts between JS and the core, nothing more.
// napi registers the exports for Node; a `cargo test` build sees them unused.
#![cfg_attr(test, allow(dead_code))]

use napi_derive::napi;

mod client;
mod collector;
mod rates;

/// Name and version of the native library.
#[napi]
pub fn library_version() -> String {
    format!("{}/{}", crate::LIBRARY_NAME, crate::LIBRARY_VERSION)
}
