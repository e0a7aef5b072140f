//! `NativeClient`: the thin napi face of `crate::client::Client`.
//! lib/client/handle.js wraps it; nothing here is meant to be used directly.

use std::sync::Arc;
use std::time::Duration;

use napi::bindgen_prelude::*;
use napi::threadsafe_function::ThreadsafeFunctionCallMode;
use napi::{check_status, JsString, JsValue};
use napi_derive::napi;

use crate::client::{Client, EnqueueError, Event};
use crate::config::Config;
use crate::message::Kind;

/// Event codes passed to the JS callback `(code, a, b, text)`.
const EV_SETTLED: u32 = 0; // a = first seq, b = last seq, text = error or null
const EV_REJECTED: u32 = 1; // a = seq, text = error
const EV_LOG: u32 = 2; // a = level (0 info, 1 warn, 2 error), text = line
const EV_FLUSHED: u32 = 3; // a = flush id, b = 1 if timed out

type EventArgs = FnArgs<(u32, f64, f64, Option<String>)>;

fn encode(ev: Event) -> (u32, f64, f64, Option<String>) {
    match ev {
        Event::Settled { first, last, error } => (EV_SETTLED, first as f64, last as f64, error),
        Event::Rejected { seq, error } => (EV_REJECTED, seq as f64, 0.0, Some(error)),
        Event::Log { level, message } => (EV_LOG, level as u32 as f64, 0.0, Some(message)),
        Event::Flushed { id, timed_out } => (
            EV_FLUSHED,
            id as f64,
            if timed_out { 1.0 } else { 0.0 },
            None,
        ),
    }
}

thread_local! {
    /// `read_json`'s buffer, kept between calls (it runs on the JS thread only).
    static UNITS: std::cell::RefCell<Vec<u16>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// The text of `JSON.stringify`'s result as UTF-8, or `None` unless it is
/// an object (`{...}`). Read as UTF-16: V8 copies a rope (what stringify
/// returns) piece by piece that way, where a UTF-8 read first flattens it
/// into a new string on the JS heap and then walks it twice.
fn read_json(env: &Env, json: &JsString<'_>) -> Result<Option<String>> {
    let len = json.utf16_len()?;
    UNITS.with_borrow_mut(|units| {
        units.resize(len + 1, 0);
        let mut written = 0;
        // SAFETY: `units` has room for `len` units and the terminating 0.
        check_status!(unsafe {
            napi::sys::napi_get_value_string_utf16(
                env.raw(),
                json.raw(),
                units.as_mut_ptr(),
                units.len(),
                &mut written,
            )
        })?;
        let units = &units[..written];
        if units.first() != Some(&u16::from(b'{')) {
            return Ok(None);
        }
        // Nearly always ASCII: narrowed unit by unit (both passes vectorize).
        if units.iter().fold(0, |any, &u| any | u) < 0x80 {
            let ascii: Vec<u8> = units.iter().map(|&u| u as u8).collect();
            return Ok(String::from_utf8(ascii).ok());
        }
        // stringify escapes lone surrogates: nothing is replaced here.
        Ok(Some(String::from_utf16_lossy(units)))
    })
}

fn config_error(e: crate::config::ConfigError) -> Error {
    Error::new(Status::InvalidArg, format!("medusa-plugin-segment-rs: {e}"))
}

/// Validate options (JSON text) and return a canonical key for sharing
/// clients between equal configurations. Throws naming the bad option.
#[napi]
pub fn normalize_options(options_json: String) -> Result<String> {
    Ok(Config::from_json(&options_json)
        .map_err(config_error)?
        .canonical_key())
}

/// Background Segment client; results arrive through `onEvent`.
#[napi]
pub struct NativeClient {
    inner: Client,
}

#[napi]
impl NativeClient {
    #[napi(
        constructor,
        ts_args_type = "optionsJson: string, onEvent: (code: number, a: number, b: number, text: string | null) => void"
    )]
    pub fn new(options_json: String, on_event: Function<'_, EventArgs, ()>) -> Result<Self> {
        let config = Config::from_json(&options_json).map_err(config_error)?;
        // Weak: the client never keeps the process alive by itself.
        let tsfn = on_event
            .build_threadsafe_function::<Event>()
            .weak::<true>()
            .callee_handled::<false>()
            .build_callback(|ctx| Ok(FnArgs::from(encode(ctx.value))))?;
        let sink = Arc::new(move |ev: Event| {
            tsfn.call(ev, ThreadsafeFunctionCallMode::NonBlocking);
        });
        Ok(NativeClient {
            inner: Client::new(config, sink),
        })
    }

    /// Hand over one message (already `JSON.stringify`-ed). Returns its
    /// sequence number, -1 when the queue is full (dropped and counted),
    /// -2 when the client is closed, -3 for an unknown call kind, -4 when
    /// the text is not a JSON object.
    #[napi]
    pub fn enqueue(
        &self,
        env: &Env,
        kind: u32,
        json: JsString<'_>,
        has_callback: bool,
    ) -> Result<i64> {
        let Some(kind) = Kind::from_code(kind) else {
            return Ok(-3);
        };
        let Some(json) = read_json(env, &json)? else {
            return Ok(-4);
        };
        Ok(match self.inner.enqueue(kind, json, has_callback) {
            Ok(seq) => seq as i64,
            Err(EnqueueError::QueueFull) => -1,
            Err(EnqueueError::Closed) => -2,
        })
    }

    /// Start flush `id`; an event reports its completion. `timeout_ms` < 0
    /// means no timeout. Returns false when the client is closed.
    #[napi]
    pub fn flush(&self, id: u32, timeout_ms: f64, abandon: bool) -> bool {
        // Infinity (or anything beyond a year) means no timeout.
        let timeout = (0.0..365.0 * 86_400_000.0)
            .contains(&timeout_ms)
            .then(|| Duration::from_millis(timeout_ms as u64));
        self.inner.flush(id as u64, timeout, abandon).is_ok()
    }

    /// Stop accepting messages.
    #[napi]
    pub fn close(&self) {
        self.inner.close();
    }

    /// spool: write the spool's buffer now, synchronously (on process exit).
    #[napi]
    pub fn commit_spool(&self) {
        self.inner.commit_spool();
    }

    /// Messages accepted and not yet settled.
    #[napi]
    pub fn pending(&self) -> f64 {
        self.inner.stats().queued as f64
    }

    /// Largest message JSON `enqueue` takes: Segment's 32 KB less the most
    /// that enrichment adds, so that what is accepted fits once enriched.
    #[napi(getter)]
    pub fn max_message_json(&self) -> u32 {
        crate::message::MAX_INPUT_BYTES as u32
    }

    /// Default timeout of bounded flushes, in ms.
    #[napi(getter)]
    pub fn shutdown_timeout(&self) -> f64 {
        self.inner.config().shutdown_timeout.as_millis() as f64
    }

    /// Counters (see README for the shape).
    #[napi]
    pub fn stats(&self) -> serde_json::Value {
        let s = self.inner.stats();
        let cfg = self.inner.config();
        serde_json::json!({
            "accepted": s.accepted,
            "delivered": s.delivered,
            "failed": s.failed,
            "failed_reasons": s.failed_reasons,
            "dropped": s.dropped,
            "retried": s.retried,
            "queued": s.queued,
            "queued_bytes": s.queued_bytes,
            "in_flight": s.in_flight,
            "batches": s.batches,
            "requests": s.requests,
            "bytes_sent": s.bytes_sent,
            "spool": {
                "dir": cfg.spool_dir.as_ref().map(|d| d.display().to_string()),
                "redis": cfg.spool_url.is_some(),
                "bytes": s.spool_bytes,
                "lost": s.spool_lost,
                "replayed": s.replayed,
                "damaged_files": s.spool_damaged,
                "errors": s.spool_errors,
            },
            "enabled": cfg.delivers(),
            "disabled_reason": cfg.disabled_reason(),
            "closed": self.inner.is_closed(),
        })
    }
}
