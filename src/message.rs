//! Validation and enrichment of one message (Segment's contract).
//!
//! Runs on the background runtime: the JS thread only did cheap checks and
//! `JSON.stringify`. Here the message is parsed, checked again, and given
//! `type`, `messageId` (UUID v4, fixed once so retries dedupe), `timestamp`
//! (ISO-8601, default now) and `context.library`.

use std::fmt;

use std::borrow::Cow;
use std::collections::BTreeMap;

use serde_json::value::RawValue;
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

    /// The wire code (`from_code`'s inverse); the spool stores it.
    pub fn code(self) -> u32 {
        self as u32
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

/// `context.library` of every message.
pub const LIBRARY_JSON: &str = concat!(
    r#"{"name":"medusa-plugin-segment-rs","version":""#,
    env!("CARGO_PKG_VERSION"),
    r#""}"#
);

/// The most `prepare` adds to a message's JSON: `type` (`,"type":"identify"`),
/// a `messageId` (`,"messageId":"<uuid>"`), a `timestamp`, `context` with
/// `library`, and quotes around four numeric ids. The caller's thread checks
/// `json.len() + MAX_ENRICHMENT_BYTES` against the 32 KB limit, so that a
/// message it accepts is within the limit as sent.
pub const MAX_ENRICHMENT_BYTES: usize = r#","type":"identify""#.len()
    + r#","messageId":"00000000-0000-0000-0000-000000000000""#.len()
    + r#","timestamp":"2000-01-01T00:00:00.000Z""#.len()
    + r#","context":{"library":}"#.len()
    + LIBRARY_JSON.len()
    + 2 * 4;

/// Largest message JSON the caller's thread accepts.
pub const MAX_INPUT_BYTES: usize = MAX_MESSAGE_BYTES - MAX_ENRICHMENT_BYTES;

/// Top-level fields with their JSON text, nested values left unparsed: a
/// message is validated and enriched without building a tree of its
/// (often large) `properties`, which is most of the cost of a full parse.
type RawMap<'a> = BTreeMap<Cow<'a, str>, &'a RawValue>;

/// The shape of a top-level field.
#[derive(Clone, Copy, PartialEq)]
enum Field<'a> {
    Missing,
    Null,
    /// A JSON string: its text, quotes included.
    Str(&'a str),
    /// Any other value: its text.
    Other(&'a str),
}

impl<'a> Field<'a> {
    fn of(map: &'a RawMap<'a>, key: &str) -> Field<'a> {
        match map.get(key) {
            None => Field::Missing,
            Some(v) => {
                let text = v.get();
                match text.as_bytes().first() {
                    Some(b'"') => Field::Str(text),
                    Some(b'n') => Field::Null,
                    _ => Field::Other(text),
                }
            }
        }
    }

    /// Missing, null or the empty string.
    fn is_blank(self) -> bool {
        matches!(self, Field::Missing | Field::Null | Field::Str("\"\""))
    }

    /// A string of nothing but white space.
    fn is_white_space(self) -> bool {
        let Field::Str(text) = self else {
            return false;
        };
        match text.as_bytes().get(1) {
            // The common case: starts with a visible ASCII character.
            Some(&b) if b > b' ' && b != b'\\' && b < 0x80 => false,
            _ => serde_json::from_str::<String>(text)
                .is_ok_and(|s| s.chars().all(|c| c.is_whitespace() || c == '\u{feff}')),
        }
    }
}

/// Checks an id field (`userId`, `groupId`...) that is present: a string
/// with text, or a number.
fn check_id(kind: Kind, map: &RawMap, key: &str) -> Result<(), MessageError> {
    match Field::of(map, key) {
        f @ Field::Str(_) if f.is_white_space() => {
            Err(invalid(kind, format_args!("{key} is only white space")))
        }
        Field::Other(text) if !text.starts_with(|c: char| c == '-' || c.is_ascii_digit()) => Err(
            invalid(kind, format_args!("{key} must be a string or a number")),
        ),
        _ => Ok(()),
    }
}

/// Append `s` as a JSON string.
fn push_json_str(out: &mut String, s: &str) {
    if s.bytes().all(|b| b >= 0x20 && b != b'"' && b != b'\\') {
        out.push('"');
        out.push_str(s);
        out.push('"');
    } else {
        out.push_str(&serde_json::to_string(s).unwrap_or_else(|_| "\"\"".into()));
    }
}

/// Writes `"key":value` pairs of one object.
struct ObjectWriter {
    out: String,
    empty: bool,
}

impl ObjectWriter {
    fn field(&mut self, key: &str, raw: &str) {
        self.out.push(if self.empty { '{' } else { ',' });
        self.empty = false;
        push_json_str(&mut self.out, key);
        self.out.push(':');
        self.out.push_str(raw);
    }

    fn string_field(&mut self, key: &str, value: &str) {
        self.field(key, "");
        push_json_str(&mut self.out, value);
    }

    fn finish(mut self) -> String {
        self.out.push_str(if self.empty { "{}" } else { "}" });
        self.out
    }
}

/// Reads the escape `\uXXXX` starting at byte `at`, if there is one.
fn unicode_escape(json: &str, at: usize) -> Option<u16> {
    let b = json.as_bytes();
    if b.get(at) != Some(&b'\\') || b.get(at + 1) != Some(&b'u') {
        return None;
    }
    u16::from_str_radix(json.get(at + 2..at + 6)?, 16).ok()
}

/// `JSON.stringify` writes a lone UTF-16 surrogate (half an emoji, cut by
/// `slice`) as an escape such as `\ud83d`. Strict parsers (serde_json, so
/// the package's debugger) refuse a whole batch for one; each becomes
/// `\ufffd`, as lenient decoders read it. Same length, so the size checks
/// are unaffected.
fn replace_lone_surrogates(json: &str) -> Cow<'_, str> {
    // One scan; `JSON.stringify` writes `\u` escapes only for control
    // characters and lone surrogates, both rare.
    if !json.contains("\\u") {
        return Cow::Borrowed(json);
    }
    let mut out = json.as_bytes().to_vec();
    let mut i = 0;
    while i < json.len() {
        if out[i] != b'\\' {
            i += 1;
            continue;
        }
        // Outside strings valid JSON has no backslash; inside, each starts
        // an escape, so stepping over whole escapes never misreads `\\ud..`.
        match unicode_escape(json, i) {
            None => i += 2,
            Some(0xD800..=0xDBFF)
                if matches!(unicode_escape(json, i + 6), Some(0xDC00..=0xDFFF)) =>
            {
                i += 12
            }
            Some(0xD800..=0xDFFF) => {
                out[i..i + 6].copy_from_slice(b"\\ufffd");
                i += 6;
            }
            Some(_) => i += 6,
        }
    }
    // Only ASCII bytes were replaced by ASCII bytes.
    Cow::Owned(String::from_utf8(out).expect("still UTF-8"))
}

/// Validate and enrich one message given as JSON text; returns the JSON to send.
pub fn prepare(kind: Kind, json: &str, now: OffsetDateTime) -> Result<String, MessageError> {
    prepare_stamped(kind, json, now, uuid::Uuid::new_v4())
}

/// `prepare` with the messageId to give the message if it has none: the
/// spool stores it with the raw message, so a replay sends the same id.
pub fn prepare_stamped(
    kind: Kind,
    json: &str,
    now: OffsetDateTime,
    message_id: uuid::Uuid,
) -> Result<String, MessageError> {
    let json = &*replace_lone_surrogates(json);
    let map: RawMap = serde_json::from_str(json).map_err(|e| match e.classify() {
        serde_json::error::Category::Data => invalid(kind, "message must be an object"),
        _ => invalid(kind, format_args!("message is not valid JSON ({e})")),
    })?;

    // The same rules as lib/client/validate.js's checkMessage (which throws at once):
    // these only catch what gets past it.
    if Field::of(&map, "userId").is_blank() && Field::of(&map, "anonymousId").is_blank() {
        return Err(invalid(kind, "message needs a userId or an anonymousId"));
    }
    for key in ["userId", "anonymousId"] {
        check_id(kind, &map, key)?;
    }
    match kind {
        Kind::Track => match Field::of(&map, "event") {
            f @ Field::Str(_) if f.is_white_space() => {
                return Err(invalid(kind, "event is only white space"))
            }
            Field::Str(s) if s != "\"\"" => {}
            _ => return Err(invalid(kind, "message needs an event (a non-empty string)")),
        },
        Kind::Group if Field::of(&map, "groupId").is_blank() => {
            return Err(invalid(kind, "message needs a groupId"))
        }
        Kind::Alias if Field::of(&map, "previousId").is_blank() => {
            return Err(invalid(kind, "message needs a previousId"))
        }
        Kind::Group => check_id(kind, &map, "groupId")?,
        Kind::Alias => check_id(kind, &map, "previousId")?,
        _ => {}
    }
    for key in ["properties", "traits", "integrations"] {
        if let Field::Str(_) | Field::Other(_) = Field::of(&map, key) {
            if !map[key].get().starts_with('{') {
                return Err(invalid(kind, format_args!("{key} must be an object")));
            }
        }
    }

    let mut w = ObjectWriter {
        out: String::with_capacity(json.len() + 256),
        empty: true,
    };
    for (key, value) in &map {
        match key.as_ref() {
            // Rewritten below.
            "type" | "messageId" | "timestamp" | "context" => {}
            // Segment wants ids as strings; analytics-node JSON-encodes other values.
            "userId" | "anonymousId" | "groupId" | "previousId" => match Field::of(&map, key) {
                Field::Other(text) => w.string_field(key, text),
                _ => w.field(key, value.get()),
            },
            _ => w.field(key, value.get()),
        }
    }

    w.string_field("type", kind.as_str());

    match Field::of(&map, "messageId") {
        Field::Str(text) if text != "\"\"" => w.field("messageId", text),
        Field::Other(text) => w.string_field("messageId", text),
        _ => w.string_field(
            "messageId",
            message_id
                .hyphenated()
                .encode_lower(&mut uuid::Uuid::encode_buffer()),
        ),
    }

    match Field::of(&map, "timestamp") {
        Field::Str(text) if text != "\"\"" => w.field("timestamp", text),
        Field::Missing | Field::Null | Field::Str(_) => {
            w.string_field("timestamp", &iso_timestamp(now))
        }
        // Epoch milliseconds, as Date.now() gives.
        Field::Other(text) => {
            let ms: f64 = text.parse().map_err(|_| {
                invalid(
                    kind,
                    "timestamp must be a Date, an ISO-8601 string or epoch milliseconds",
                )
            })?;
            // Whole milliseconds, as `new Date(ms)` keeps them; `ms * 1e6` in
            // f64 would round about a third of today's epochs down by 1 ms.
            let t = Some(ms)
                .filter(|ms| ms.is_finite())
                .and_then(|ms| (ms.trunc() as i128).checked_mul(1_000_000))
                .and_then(|ns| OffsetDateTime::from_unix_timestamp_nanos(ns).ok())
                .ok_or_else(|| invalid(kind, "timestamp is out of range"))?;
            w.string_field("timestamp", &iso_timestamp(t));
        }
    }

    match Field::of(&map, "context") {
        Field::Missing | Field::Null => {
            w.field("context", "");
            w.out.push_str(r#"{"library":"#);
            w.out.push_str(LIBRARY_JSON);
            w.out.push('}');
        }
        Field::Other(text) if text.starts_with('{') => {
            let context: RawMap = serde_json::from_str(text)
                .map_err(|e| invalid(kind, format_args!("context is not valid JSON ({e})")))?;
            if context.contains_key("library") {
                w.field("context", text);
            } else {
                w.field("context", "");
                w.out.push_str(r#"{"library":"#);
                w.out.push_str(LIBRARY_JSON);
                if context.is_empty() {
                    w.out.push('}');
                } else {
                    w.out.push(',');
                    w.out.push_str(&text[1..]);
                }
            }
        }
        _ => return Err(invalid(kind, "context must be an object")),
    }

    let out = w.finish();
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
    use serde_json::{Map, Value};

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
        // What Date.now() gives: not a multiple of 1e6 ns once in f64.
        let m = ok(
            Kind::Track,
            r#"{"userId":"u","event":"E","timestamp":1765141234569}"#,
        );
        assert_eq!(m["timestamp"], "2025-12-07T21:00:34.569Z");
        let m = ok(
            Kind::Track,
            r#"{"userId":"u","event":"E","timestamp":-1.9}"#,
        );
        assert_eq!(m["timestamp"], "1969-12-31T23:59:59.999Z");
        let m = ok(Kind::Group, r#"{"userId":-1.5,"groupId":7}"#);
        assert_eq!(m["userId"], "-1.5");
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
            (
                Kind::Identify,
                r#"{"userId":{"a":1}}"#,
                "userId must be a string",
            ),
            (
                Kind::Identify,
                r#"{"userId":true}"#,
                "userId must be a string",
            ),
            (
                Kind::Identify,
                r#"{"anonymousId":[1],"userId":"u"}"#,
                "anonymousId must be a string",
            ),
            (
                Kind::Identify,
                r#"{"userId":" \t\n "}"#,
                "userId is only white space",
            ),
            (
                Kind::Identify,
                r#"{"userId":"\u0020\u00a0"}"#,
                "white space",
            ),
            (
                Kind::Track,
                r#"{"userId":"u","event":"  "}"#,
                "event is only white space",
            ),
            (
                Kind::Group,
                r#"{"userId":"u","groupId":" "}"#,
                "groupId is only",
            ),
            (
                Kind::Alias,
                r#"{"userId":"u","previousId":{}}"#,
                "previousId must be",
            ),
            (
                Kind::Track,
                r#"{"userId":"u","event":"E","properties":"x"}"#,
                "properties must be an object",
            ),
            (
                Kind::Identify,
                r#"{"userId":"u","traits":[1]}"#,
                "traits must be",
            ),
            (
                Kind::Page,
                r#"{"userId":"u","integrations":1}"#,
                "integrations must be",
            ),
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
    fn enrichment_adds_at_most_max_enrichment_bytes() {
        // The worst case: numeric ids, and nothing of what prepare adds.
        let pad = "x".repeat(MAX_INPUT_BYTES - 100);
        let mut json = format!(
            r#"{{"userId":1,"anonymousId":2,"groupId":3,"previousId":4,"traits":{{"p":"{pad}"}}}}"#
        );
        let fill = MAX_INPUT_BYTES - json.len();
        json.insert_str(json.len() - 3, &"y".repeat(fill));
        assert_eq!(json.len(), MAX_INPUT_BYTES);
        let out = prepare(Kind::Identify, &json, now()).unwrap();
        assert_eq!(out.len() - json.len(), MAX_ENRICHMENT_BYTES);
        assert_eq!(out.len(), MAX_MESSAGE_BYTES);
        // Fields the caller gives are kept or rewritten, never grown more.
        let given = r#"{"userId":"u","type":"x","messageId":7,"timestamp":0,"context":{}}"#;
        let out = prepare(Kind::Identify, given, now()).unwrap();
        assert!(out.len() - given.len() <= MAX_ENRICHMENT_BYTES);
    }

    #[test]
    fn merges_library_into_a_given_context_and_keeps_odd_keys() {
        let m = ok(
            Kind::Track,
            r#"{"userId":"u","event":"E","context":{"ip":"1.2.3.4","n":{"a":[1,2]}},"we\"ird\n":true,"properties":{}}"#,
        );
        assert_eq!(m["context"]["ip"], "1.2.3.4");
        assert_eq!(m["context"]["n"]["a"][1], 2);
        assert_eq!(m["context"]["library"]["name"], crate::LIBRARY_NAME);
        assert_eq!(m["we\"ird\n"], true);
        let m = ok(Kind::Page, r#"{"userId":"u","context":{}}"#);
        assert_eq!(m["context"]["library"]["version"], crate::LIBRARY_VERSION);
        let m = ok(Kind::Page, r#"{"userId":"u","context":null,"messageId":7}"#);
        assert_eq!(m["context"]["library"]["name"], crate::LIBRARY_NAME);
        assert_eq!(m["messageId"], "7");
        let e = prepare(Kind::Page, r#"{"userId":"u","context":[1]}"#, now()).unwrap_err();
        assert!(e.message.contains("context must be an object"));
    }

    #[test]
    fn lone_surrogates_become_replacement_characters() {
        let json = r#"{"userId":"u\ud83d","event":"E \ud83d\ude00","properties":{"a":"x\\ud800\udc00y\ude00","\ud800":1}}"#;
        let out = prepare(Kind::Track, json, now()).unwrap();
        let m: Value = serde_json::from_str(&out).expect("strict parsers read it");
        assert_eq!(m["userId"], "u\u{fffd}");
        assert_eq!(m["event"], "E 😀");
        // `\\ud800` is a backslash and text, not an escape.
        assert_eq!(m["properties"]["a"], "x\\ud800\u{fffd}y\u{fffd}");
        assert_eq!(m["properties"]["\u{fffd}"], 1);
        let plain = r#"{"userId":"u","event":"E"}"#;
        assert!(matches!(replace_lone_surrogates(plain), Cow::Borrowed(_)));
    }

    #[test]
    fn message_ids_are_unique() {
        let a = ok(Kind::Track, r#"{"userId":"u","event":"E"}"#);
        let b = ok(Kind::Track, r#"{"userId":"u","event":"E"}"#);
        assert_ne!(a["messageId"], b["messageId"]);
    }
}

#[cfg(test)]
mod perf {
    /// `cargo test --release --lib prepare_speed -- --ignored --nocapture`
    #[test]
    #[ignore]
    fn prepare_speed() {
        let product = r#"{"name":"Medusa Sweatshirt","variant":"SWEAT-S","sku":"SWEAT","price":42.5,"product_id":"prod_01H","category":"Apparel","quantity":1}"#;
        let json = format!(
            r#"{{"userId":"cus_01HXYZ","event":"Order Completed","timestamp":"2024-01-01T00:00:00.000Z","properties":{{"order_id":"order_01H","email":"someone@example.com","total":180,"currency":"EUR","products":[{p},{p},{p},{p},{p},{p},{p},{p}]}},"context":{{"ip":"10.0.0.1"}}}}"#,
            p = product
        );
        let n = 20_000;
        let t = std::time::Instant::now();
        for _ in 0..n {
            super::prepare(super::Kind::Track, &json, time::OffsetDateTime::now_utc()).unwrap();
        }
        eprintln!(
            "prepare ({} bytes): {:?} per message",
            json.len(),
            t.elapsed() / n
        );
    }
}
