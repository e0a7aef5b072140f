//! napi layer: converts between JS and the core, nothing more.

use napi_derive::napi;

mod rates;

/// Name and version of the native library.
#[napi]
pub fn library_version() -> String {
    format!("{}/{}", crate::LIBRARY_NAME, crate::LIBRARY_VERSION)
}
