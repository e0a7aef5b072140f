//! Validation and enrichment of one message (Segment's contract).
//!
//! Runs on the background runtime: the JS thread only did cheap checks and
//! `JSON.stringify`. Here the message is parsed, checked again, and given
//! `type`, `messageId` (UUID v4, fixed once so retries dedupe), `timestamp`
//! (ISO-8601, default now) and `context.library`.

use std::fmt;

use serde_json::{Map, Value};
use time::OffsetDateTime;

use crate::config::MAX_MESSAGE_BYTES;

/// The Segment call a message was made with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Track,
    Identify,
    Page,
    Screen,
    Group,
    Alias,
}

impl Kind {
    /// Wire code used across the JS boundary.
    pub fn from_code(code: u32) -> Option<Kind> {
        Some(match code {
            0 => Kind::Track,
            1 => Kind::Identify,
            2 => Kind::Page,
            3 => Kind::Screen,
            4 => Kind::Group,
            5 => Kind::Alias,
            _ => return None,
        })
    }

    /// The `type` field and the name of the call.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Track => "track",
            Kind::Identify => "identify",
            Kind::Page => "page",
            Kind::Screen => "screen",
            Kind::Group => "group",
            Kind::Alias => "alias",
        }
    }
}

/// Why a message was rejected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageError {
    /// Counter name in `stats().dropped`: `invalid` or `too_large`.
    pub reason: &'static str,
    pub message: String,
}

impl fmt::Display for MessageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for MessageError {}

fn invalid(kind: Kind, what: impl fmt::Display) -> MessageError {
    MessageError {
        reason: "invalid",
        message: format!("{}: {}", kind.as_str(), what),
    }
}

const MILLIS_FORMAT: &[time::format_description::BorrowedFormatItem<'static>] = time::macros::format_description!(
    "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z"
);

/// ISO-8601 UTC with milliseconds, like `Date.prototype.toISOString`.
pub fn iso_timestamp(t: OffsetDateTime) -> String {
    t.to_offset(time::UtcOffset::UTC)
        .format(MILLIS_FORMAT)
        .unwrap_or_else(|_| "1970-01-01T00:00:00.000Z".to_string())
}

/// Segment wants ids as strings; analytics-node JSON-encodes other values.
fn stringify_id(map: &mut Map<String, Value>, key: &str) {
    if let Some(v) = map.get_mut(key) {
        if !matches!(v, Value::String(_) | Value::Null) {
            *v = Value::String(v.to_string());
        }
    }
}

fn present(map: &Map<String, Value>, key: &str) -> bool {
    match map.get(key) {
        None | Some(Value::Null) => false,
        Some(Value::String(s)) => !s.is_empty(),
        Some(_) => true,
    }
}

/// Validate and enrich one message given as JSON text; returns the JSON to send.
pub fn prepare(kind: Kind, json: &str, now: OffsetDateTime) -> Result<String, MessageError> {
    let value: Value = serde_json::from_str(json)
        .map_err(|e| invalid(kind, format_args!("message is not valid JSON ({e})")))?;
    let Value::Object(mut map) = value else {
        return Err(invalid(kind, "message must be an object"));
    };

    if !present(&map, "userId") && !present(&map, "anonymousId") {
        return Err(invalid(kind, "message needs a userId or an anonymousId"));
    }
    match kind {
        Kind::Track => match map.get("event") {
            Some(Value::String(s)) if !s.is_empty() => {}
            _ => return Err(invalid(kind, "message needs an event (a non-empty string)")),
        },
        Kind::Group if !present(&map, "groupId") => {
            return Err(invalid(kind, "message needs a groupId"))
        }
        Kind::Alias if !present(&map, "previousId") => {
            return Err(invalid(kind, "message needs a previousId"))
        }
        _ => {}
    }
    for key in ["userId", "anonymousId", "groupId", "previousId"] {
        stringify_id(&mut map, key);
    }

    map.insert("type".to_string(), Value::String(kind.as_str().to_string()));

    match map.get("messageId") {
        Some(Value::String(s)) if !s.is_empty() => {}
        None | Some(Value::Null) | Some(Value::String(_)) => {
            map.insert(
                "messageId".to_string(),
                Value::String(uuid::Uuid::new_v4().to_string()),
            );
        }
        Some(_) => stringify_id(&mut map, "messageId"),
    }

    let timestamp = match map.get("timestamp") {
        None | Some(Value::Null) => Some(iso_timestamp(now)),
        Some(Value::String(s)) if s.is_empty() => Some(iso_timestamp(now)),
        Some(Value::String(_)) => None,
        // Epoch milliseconds, as Date.now() gives.
        Some(Value::Number(n)) => {
            let ms = n
                .as_f64()
                .ok_or_else(|| invalid(kind, "timestamp is not a number"))?;
            let t = OffsetDateTime::from_unix_timestamp_nanos((ms * 1e6) as i128)
                .map_err(|_| invalid(kind, "timestamp is out of range"))?;
            Some(iso_timestamp(t))
        }
        Some(_) => {
            return Err(invalid(
                kind,
                "timestamp must be a Date, an ISO-8601 string or epoch milliseconds",
            ))
        }
    };
    if let Some(ts) = timestamp {
        map.insert("timestamp".to_string(), Value::String(ts));
    }

    let context = map
        .entry("context")
        .or_insert_with(|| Value::Object(Map::new()));
    if context.is_null() {
        *context = Value::Object(Map::new());
    }
    let Value::Object(context) = context else {
        return Err(invalid(kind, "context must be an object"));
    };
    context.entry("library").or_insert_with(|| {
        let mut lib = Map::new();
        lib.insert("name".into(), Value::String(crate::LIBRARY_NAME.into()));
        lib.insert(
            "version".into(),
            Value::String(crate::LIBRARY_VERSION.into()),
        );
        Value::Object(lib)
    });

    let out = serde_json::to_string(&map).map_err(|e| invalid(kind, e))?;
    if out.len() > MAX_MESSAGE_BYTES {
        return Err(MessageError {
            reason: "too_large",
            message: format!(
                "{}: message is {} bytes of JSON, over the 32 KB limit ({} bytes)",
                kind.as_str(),
                out.len(),
                MAX_MESSAGE_BYTES
            ),
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp(1_700_000_000).unwrap()
    }

    fn ok(kind: Kind, json: &str) -> Map<String, Value> {
        let out = prepare(kind, json, now()).unwrap();
        serde_json::from_str(&out).unwrap()
    }

    #[test]
    fn enriches_a_track() {
        let m = ok(
            Kind::Track,
            r#"{"userId":"u1","event":"Order Completed","properties":{"total":1}}"#,
        );
        assert_eq!(m["type"], "track");
        assert_eq!(m["timestamp"], "2023-11-14T22:13:20.000Z");
        let id = m["messageId"].as_str().unwrap();
        assert_eq!(uuid::Uuid::parse_str(id).unwrap().get_version_num(), 4);
        assert_eq!(m["context"]["library"]["name"], crate::LIBRARY_NAME);
        assert_eq!(m["context"]["library"]["version"], crate::LIBRARY_VERSION);
        assert_eq!(m["properties"]["total"], 1);
    }

    #[test]
    fn keeps_what_the_caller_gave() {
        let m = ok(
            Kind::Identify,
            r#"{"anonymousId":"a","messageId":"mine","timestamp":"2020-01-01T00:00:00.000Z",
               "context":{"ip":"1.2.3.4","library":{"name":"x","version":"1"}},"type":"bogus"}"#,
        );
        assert_eq!(m["messageId"], "mine");
        assert_eq!(m["timestamp"], "2020-01-01T00:00:00.000Z");
        assert_eq!(m["context"]["ip"], "1.2.3.4");
        assert_eq!(m["context"]["library"]["name"], "x");
        assert_eq!(m["type"], "identify");
    }

    #[test]
    fn ids_become_strings_and_epoch_timestamps_iso() {
        let m = ok(
            Kind::Track,
            r#"{"userId":42,"event":"E","timestamp":1700000000000}"#,
        );
        assert_eq!(m["userId"], "42");
        assert_eq!(m["timestamp"], "2023-11-14T22:13:20.000Z");
        let m = ok(Kind::Group, r#"{"userId":{"a":1},"groupId":7}"#);
        assert_eq!(m["userId"], r#"{"a":1}"#);
        assert_eq!(m["groupId"], "7");
    }

    #[test]
    fn rejects_invalid_messages_naming_the_call() {
        for (kind, json, needle) in [
            (Kind::Track, r#"{"event":"E"}"#, "userId or an anonymousId"),
            (
                Kind::Track,
                r#"{"userId":"","event":"E"}"#,
                "userId or an anonymousId",
            ),
            (Kind::Track, r#"{"userId":"u"}"#, "event"),
            (Kind::Track, r#"{"userId":"u","event":5}"#, "event"),
            (Kind::Group, r#"{"userId":"u"}"#, "groupId"),
            (Kind::Alias, r#"{"userId":"u"}"#, "previousId"),
            (Kind::Page, r#"[1,2]"#, "must be an object"),
            (Kind::Page, r#"{"userId":"u","context":"x"}"#, "context"),
            (
                Kind::Screen,
                r#"{"userId":"u","timestamp":true}"#,
                "timestamp",
            ),
            (Kind::Identify, r#"{"userId":"u""#, "not valid JSON"),
        ] {
            let e = prepare(kind, json, now()).unwrap_err();
            assert_eq!(e.reason, "invalid");
            assert!(e.message.starts_with(kind.as_str()), "{e}");
            assert!(e.message.contains(needle), "{e} / {needle}");
        }
    }

    #[test]
    fn rejects_over_32kb_after_enrichment() {
        let big = "x".repeat(MAX_MESSAGE_BYTES - 40);
        let json = format!(r#"{{"userId":"u","event":"E","properties":{{"p":"{big}"}}}}"#);
        let e = prepare(Kind::Track, &json, now()).unwrap_err();
        assert_eq!(e.reason, "too_large");
        assert!(e.message.contains("32 KB"));
        let small = format!(
            r#"{{"userId":"u","event":"E","properties":{{"p":"{}"}}}}"#,
            "x".repeat(1000)
        );
        assert!(prepare(Kind::Track, &small, now()).is_ok());
    }

    #[test]
    fn message_ids_are_unique() {
        let a = ok(Kind::Track, r#"{"userId":"u","event":"E"}"#);
        let b = ok(Kind::Track, r#"{"userId":"u","event":"E"}"#);
        assert_ne!(a["messageId"], b["messageId"]);
    }
}
