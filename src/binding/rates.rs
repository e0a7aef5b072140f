//! napi wrapper of [`crate::rates::ExchangeRates`].

use std::sync::Arc;
use std::time::Duration;

use napi::bindgen_prelude::*;
use napi_derive::napi;

use crate::rates::{ExchangeRates as Core, RatesConfig, DEFAULT_BASE_URL};

/// Options of `new ExchangeRates(...)`; durations in milliseconds.
#[napi(object)]
pub struct ExchangeRatesOptions {
    pub url: Option<String>,
    pub api_key: Option<String>,
    pub ttl_ms: Option<u32>,
    pub failure_ttl_ms: Option<u32>,
    pub timeout_ms: Option<u32>,
    pub warn_interval_ms: Option<u32>,
}

/// Counters of an `ExchangeRates` instance.
#[napi(object)]
pub struct ExchangeRatesStats {
    pub requests: f64,
    pub failures: f64,
    pub cache_hits: f64,
}

/// Cached exchange-rate lookups: one HTTP request per currency pair and TTL.
#[napi]
pub struct ExchangeRates {
    inner: Arc<Core>,
}

#[napi]
impl ExchangeRates {
    #[napi(constructor)]
    pub fn new(options: Option<ExchangeRatesOptions>) -> Result<Self> {
        let d = RatesConfig::default();
        let ms =
            |v: Option<u32>, dflt: Duration| v.map_or(dflt, |v| Duration::from_millis(v.into()));
        let config = match options {
            None => d,
            Some(o) => RatesConfig {
                base_url: o
                    .url
                    .filter(|u| !u.trim().is_empty())
                    .unwrap_or_else(|| DEFAULT_BASE_URL.to_string()),
                api_key: o.api_key.filter(|k| !k.is_empty()),
                ttl: ms(o.ttl_ms, d.ttl),
                failure_ttl: ms(o.failure_ttl_ms, d.failure_ttl),
                timeout: ms(o.timeout_ms, d.timeout),
                warn_interval: ms(o.warn_interval_ms, d.warn_interval),
            },
        };
        let inner = Core::new(config).map_err(Error::from_reason)?;
        Ok(ExchangeRates {
            inner: Arc::new(inner),
        })
    }

    /// Units of `from` per one `to`, or null when no rate can be had.
    #[napi]
    pub async fn get_rate(&self, from: String, to: String) -> Option<f64> {
        self.inner.get_rate(&from, &to).await
    }

    /// `getRate`'s answer when the cache has it, without waiting: the rate,
    /// 0 for a remembered failure, null when nothing fresh is cached (then
    /// call `getRate`).
    #[napi]
    pub fn cached_rate(&self, from: String, to: String) -> Option<f64> {
        self.inner.cached_rate(&from, &to)
    }

    /// Warnings (rate-limited) produced since the last call.
    #[napi]
    pub fn take_warnings(&self) -> Vec<String> {
        self.inner.take_warnings()
    }

    #[napi]
    pub fn stats(&self) -> ExchangeRatesStats {
        let s = self.inner.stats();
        ExchangeRatesStats {
            requests: s.requests as f64,
            failures: s.failures as f64,
            cache_hits: s.cache_hits as f64,
        }
    }
}
