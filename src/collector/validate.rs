//! The checks Segment's HTTP tracking API applies, as plain functions.
//!
//! Limits and rules follow Segment's HTTP API documentation: at most 32 KB per
//! message (and per single call), 500 KB and 2500 messages per batch, a write
//! key, an identity (`userId` or `anonymousId`) on every call, `event` on track,
//! `groupId` on group and `previousId` on alias.

use serde_json::{Map, Value};
use std::fmt;

/// Largest accepted message (and single-call body), in bytes.
pub const MAX_MESSAGE_BYTES: usize = 32 * 1024;
/// Largest accepted `/v1/batch` body (after gzip decoding), in bytes.
pub const MAX_BATCH_BYTES: usize = 500 * 1024;
/// Most messages accepted in one batch.
pub const MAX_BATCH_MESSAGES: usize = 2500;
/// Longest write key considered well-formed.
pub const MAX_WRITE_KEY_LEN: usize = 128;

/// The six Segment call types.
pub const CALL_TYPES: [&str; 6] = ["track", "identify", "page", "screen", "group", "alias"];

/// Why a request or one of its messages was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    /// Stable machine-readable code, e.g. `missing_event`.
    pub code: &'static str,
    /// Human-readable explanation.
    pub message: String,
    /// Position of the offending message inside a batch, if any.
    pub index: Option<usize>,
}

impl Violation {
    pub fn new(code: &'static str, message: impl Into<String>) -> Self {
        Violation {
            code,
            message: message.into(),
            index: None,
        }
    }

    fn at(mut self, index: Option<usize>) -> Self {
        self.index = index;
        self
    }
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.index {
            Some(i) => write!(f, "batch[{i}]: {}", self.message),
            None => f.write_str(&self.message),
        }
    }
}

/// Checks that a write key is present and well-formed: 1 to 128 characters
/// from `A-Z a-z 0-9 _ - .`, and not an obvious placeholder such as
/// `undefined` or `YOUR_WRITE_KEY` (what a missing environment variable or an
/// unedited example config produces). Real Segment keys are 32 letters and
/// digits; other shapes are accepted so test keys keep working.
pub fn check_write_key(key: Option<&str>) -> Result<(), Violation> {
    let key =
        match key {
            None => return Err(Violation::new(
                "missing_write_key",
                "no write key: send it as the Basic auth user name or as \"writeKey\" in the body",
            )),
            Some(k) => k,
        };
    if key.is_empty() {
        return Err(Violation::new(
            "missing_write_key",
            "the write key is empty",
        ));
    }
    if key.len() > MAX_WRITE_KEY_LEN {
        return Err(Violation::new(
            "invalid_write_key",
            format!(
                "the write key is {} characters long (at most {MAX_WRITE_KEY_LEN})",
                key.len()
            ),
        ));
    }
    if let Some(c) = key
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.')))
    {
        return Err(Violation::new(
            "invalid_write_key",
            format!(
                "the write key contains {}: a write key is letters and digits",
                describe_char(c)
            ),
        ));
    }
    if is_placeholder(key) {
        return Err(Violation::new(
            "invalid_write_key",
            format!(
                "the write key is the placeholder {key:?}: set the real key (SEGMENT_WRITE_KEY)"
            ),
        ));
    }
    Ok(())
}

/// The values of every `"writeKey": "…"` in a body, found by scanning the
/// text, so a body that is not valid JSON gives its key up too.
pub fn write_keys_in(body: &[u8]) -> Vec<String> {
    const NAME: &[u8] = b"\"writekey\"";
    let lower = body.to_ascii_lowercase();
    let mut keys = Vec::new();
    let mut at = 0;
    while let Some(i) = lower[at..].windows(NAME.len()).position(|w| w == NAME) {
        let mut j = at + i + NAME.len();
        at = j;
        let skip_ws = |j: &mut usize| {
            while body.get(*j).is_some_and(|b| b.is_ascii_whitespace()) {
                *j += 1;
            }
        };
        skip_ws(&mut j);
        if body.get(j) != Some(&b':') {
            continue;
        }
        j += 1;
        skip_ws(&mut j);
        if body.get(j) != Some(&b'"') {
            continue;
        }
        let start = j + 1;
        let end = body[start..]
            .iter()
            .position(|&b| b == b'"')
            .map_or(body.len(), |e| start + e);
        keys.push(String::from_utf8_lossy(&body[start..end]).into_owned());
        at = end;
    }
    keys
}

/// A value that stands where a key should be: what a missing environment
/// variable or an unedited example config produces (not a secret).
pub fn is_placeholder(key: &str) -> bool {
    let lower = key.trim().to_ascii_lowercase();
    matches!(
        lower.as_str(),
        "undefined" | "null" | "none" | "nil" | "false" | "true" | "nan"
    ) || lower.contains("your_write_key")
        || lower.contains("your-write-key")
        || lower == "write_key"
        || lower == "segment_write_key"
}

fn describe_char(c: char) -> String {
    match c {
        ' ' => "a space".into(),
        '\t' => "a tab".into(),
        '\n' | '\r' => "a line break".into(),
        c if c.is_control() => format!("the control character U+{:04X}", c as u32),
        c => format!("{c:?}"),
    }
}

/// Reads the write key from an `Authorization: Basic base64(key:)` header value.
/// `Ok(None)` when the header is absent.
pub fn write_key_from_basic_auth(header: Option<&str>) -> Result<Option<String>, Violation> {
    use base64::Engine;
    let Some(header) = header else {
        return Ok(None);
    };
    let header = header.trim();
    let (scheme, rest) = header.split_once(' ').unwrap_or((header, ""));
    if !scheme.eq_ignore_ascii_case("basic") {
        return Err(Violation::new(
            "invalid_authorization",
            format!("the Authorization header uses {scheme:?}: Segment expects Basic with the write key as user name"),
        ));
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(rest.trim())
        .map_err(|_| {
            Violation::new(
                "invalid_authorization",
                "the Basic Authorization header is not valid base64",
            )
        })?;
    let text = String::from_utf8(decoded).map_err(|_| {
        Violation::new(
            "invalid_authorization",
            "the Basic Authorization header does not decode to text",
        )
    })?;
    let user = text.split_once(':').map(|(u, _)| u).unwrap_or(&text);
    Ok(Some(user.to_string()))
}

fn has_id(msg: &Map<String, Value>, field: &str) -> bool {
    match msg.get(field) {
        Some(Value::String(s)) => !s.trim().is_empty(),
        Some(Value::Number(_)) => true,
        _ => false,
    }
}

fn has_text(msg: &Map<String, Value>, field: &str) -> bool {
    matches!(msg.get(field), Some(Value::String(s)) if !s.trim().is_empty())
}

/// Checks one message. `implied_type` is the call type given by a single-call
/// path (`/v1/track`); inside a batch each message names its own `type`.
/// Returns the call type on success.
pub fn check_message(
    msg: &Value,
    implied_type: Option<&str>,
    index: Option<usize>,
) -> Result<String, Violation> {
    let obj = msg.as_object().ok_or_else(|| {
        Violation::new("invalid_message", "a message must be a JSON object").at(index)
    })?;
    let ty =
        match implied_type {
            Some(t) => t.to_string(),
            None => match obj.get("type") {
                Some(Value::String(t)) if CALL_TYPES.contains(&t.as_str()) => t.clone(),
                Some(Value::String(t)) => {
                    return Err(Violation::new(
                        "invalid_type",
                        format!(
                            "unknown type {t:?} (expected one of {})",
                            CALL_TYPES.join(", ")
                        ),
                    )
                    .at(index))
                }
                _ => return Err(Violation::new(
                    "missing_type",
                    "the message has no \"type\" (track, identify, page, screen, group or alias)",
                )
                .at(index)),
            },
        };
    let size = serde_json::to_vec(msg).map(|v| v.len()).unwrap_or(0);
    if size > MAX_MESSAGE_BYTES {
        return Err(Violation::new(
            "message_too_large",
            format!(
                "the {ty} message is {} bytes: Segment accepts at most 32 KB ({MAX_MESSAGE_BYTES} bytes) per message",
                size
            ),
        )
        .at(index));
    }
    if !has_id(obj, "userId") && !has_id(obj, "anonymousId") {
        return Err(Violation::new(
            "missing_id",
            format!("the {ty} call has neither \"userId\" nor \"anonymousId\""),
        )
        .at(index));
    }
    let required = match ty.as_str() {
        "track" => Some(("event", "missing_event")),
        "group" => Some(("groupId", "missing_group_id")),
        "alias" => Some(("previousId", "missing_previous_id")),
        _ => None,
    };
    if let Some((field, code)) = required {
        let ok = if field == "event" {
            has_text(obj, field)
        } else {
            has_id(obj, field)
        };
        if !ok {
            return Err(
                Violation::new(code, format!("the {ty} call has no \"{field}\"")).at(index),
            );
        }
    }
    for field in ["properties", "traits", "context", "integrations"] {
        if let Some(v) = obj.get(field) {
            if !v.is_object() && !v.is_null() {
                return Err(Violation::new(
                    "invalid_field",
                    format!("\"{field}\" of the {ty} call must be an object"),
                )
                .at(index));
            }
        }
    }
    if let Some(ts) = obj.get("timestamp") {
        if !ts.is_string() && !ts.is_null() {
            return Err(Violation::new(
                "invalid_timestamp",
                format!("\"timestamp\" of the {ty} call must be an ISO-8601 string"),
            )
            .at(index));
        }
    }
    Ok(ty)
}

/// A request that passed every check.
#[derive(Debug)]
pub struct Accepted {
    /// The messages, each with its `type` set.
    pub messages: Vec<Value>,
    pub write_key: String,
}

/// Checks a decoded request body for `path` (`batch`, `import`, `track`, …).
/// `auth_key` is the write key from the Basic auth header, if any.
pub fn check_request(
    call: &str,
    body: &[u8],
    auth_key: Option<String>,
) -> Result<Accepted, Violation> {
    let is_batch = call == "batch" || call == "import";
    let limit = if is_batch {
        MAX_BATCH_BYTES
    } else {
        MAX_MESSAGE_BYTES
    };
    if body.len() > limit {
        return Err(Violation::new(
            if is_batch {
                "batch_too_large"
            } else {
                "message_too_large"
            },
            format!(
                "the request body is {} bytes: Segment accepts at most {} per {}",
                body.len(),
                if is_batch { "500 KB" } else { "32 KB" },
                if is_batch { "batch" } else { "call" }
            ),
        ));
    }
    let value: Value = parse_json(body)
        .map_err(|e| Violation::new("invalid_json", format!("the body is not valid JSON: {e}")))?;
    let obj = value
        .as_object()
        .ok_or_else(|| Violation::new("invalid_json", "the body must be a JSON object"))?;
    let body_key = obj
        .get("writeKey")
        .and_then(|k| k.as_str())
        .map(String::from);
    let key = auth_key.or(body_key);
    check_write_key(key.as_deref())?;
    let write_key = key.unwrap_or_default();

    if !is_batch {
        let mut msg = value.clone();
        let ty = check_message(&msg, Some(call), None)?;
        if let Some(o) = msg.as_object_mut() {
            o.remove("writeKey");
            o.insert("type".into(), Value::String(ty));
        }
        return Ok(Accepted {
            messages: vec![msg],
            write_key,
        });
    }

    let batch = match obj.get("batch") {
        Some(Value::Array(a)) => a,
        Some(_) => {
            return Err(Violation::new(
                "invalid_batch",
                "\"batch\" must be an array",
            ))
        }
        None => {
            return Err(Violation::new(
                "invalid_batch",
                "the body has no \"batch\" array",
            ))
        }
    };
    if batch.len() > MAX_BATCH_MESSAGES {
        return Err(Violation::new(
            "batch_too_large",
            format!(
                "the batch holds {} messages: Segment accepts at most {MAX_BATCH_MESSAGES}",
                batch.len()
            ),
        ));
    }
    let mut messages = Vec::with_capacity(batch.len());
    for (i, m) in batch.iter().enumerate() {
        check_message(m, None, Some(i))?;
        let mut m = m.clone();
        // Batch-level context and integrations apply to each message.
        if let Some(o) = m.as_object_mut() {
            for field in ["context", "integrations"] {
                if let Some(v) = obj.get(field) {
                    o.entry(field).or_insert_with(|| v.clone());
                }
            }
        }
        messages.push(m);
    }
    Ok(Accepted {
        messages,
        write_key,
    })
}

/// Deepest JSON nesting a body may have. serde_json alone stops at 128,
/// which real event properties can pass (and then the whole batch failed);
/// beyond this bound the body is refused whole, as every recursive walk of
/// it (display, redaction, storage) must stay within a thread's stack.
pub const MAX_DEPTH: usize = 1000;

/// Parse a JSON body nested up to `MAX_DEPTH` levels (deep ones parse on a
/// stack that grows on the heap).
pub fn parse_json(body: &[u8]) -> Result<Value, String> {
    if nesting(body) > MAX_DEPTH {
        return Err(format!("it is nested more than {MAX_DEPTH} levels deep"));
    }
    let mut de = serde_json::Deserializer::from_slice(body);
    de.disable_recursion_limit();
    let value = serde::Deserialize::deserialize(serde_stacker::Deserializer::new(&mut de))
        .map_err(|e: serde_json::Error| e.to_string())?;
    de.end().map_err(|e| e.to_string())?;
    Ok(value)
}

/// The deepest nesting of arrays and objects in `body` (strings skipped).
fn nesting(body: &[u8]) -> usize {
    let (mut depth, mut most, mut in_str, mut escaped) = (0usize, 0usize, false, false);
    for &b in body {
        if in_str {
            match b {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => in_str = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_str = true,
            b'[' | b'{' => {
                depth += 1;
                most = most.max(depth);
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    most
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const KEY: &str = "Rk3ghXLRmY3ln5mYx6KoqCzU9BBgYQvh";

    fn body(v: Value) -> Vec<u8> {
        serde_json::to_vec(&v).unwrap()
    }

    #[test]
    fn keys_found_in_broken_json() {
        assert_eq!(
            write_keys_in(br#"{"writeKey" : "abc123def", "x": {"WRITEKEY":"k2" "#),
            ["abc123def", "k2"]
        );
        assert!(write_keys_in(br#"{"writeKey": 5}"#).is_empty());
    }

    #[test]
    fn track_without_event_is_refused() {
        let e =
            check_message(&json!({"type": "track", "userId": "u1"}), None, Some(3)).unwrap_err();
        assert_eq!(e.code, "missing_event");
        assert_eq!(e.index, Some(3));
        assert!(e.to_string().starts_with("batch[3]: "));
        let e = check_message(&json!({"userId": "u1", "event": "  "}), Some("track"), None)
            .unwrap_err();
        assert_eq!(e.code, "missing_event");
    }

    #[test]
    fn every_call_needs_an_id() {
        for ty in CALL_TYPES {
            let e = check_message(
                &json!({"type": ty, "event": "E", "groupId": "g", "previousId": "p"}),
                None,
                None,
            )
            .unwrap_err();
            assert_eq!(e.code, "missing_id", "{ty}");
        }
        let e = check_message(&json!({"type": "identify", "userId": ""}), None, None).unwrap_err();
        assert_eq!(e.code, "missing_id");
        assert!(
            check_message(&json!({"type": "identify", "anonymousId": "a"}), None, None).is_ok()
        );
        assert!(check_message(&json!({"type": "identify", "userId": 42}), None, None).is_ok());
    }

    #[test]
    fn group_and_alias_required_fields() {
        let e = check_message(&json!({"type": "group", "userId": "u"}), None, None).unwrap_err();
        assert_eq!(e.code, "missing_group_id");
        let e = check_message(&json!({"type": "alias", "userId": "u"}), None, None).unwrap_err();
        assert_eq!(e.code, "missing_previous_id");
        assert!(check_message(
            &json!({"type": "alias", "userId": "u", "previousId": "a"}),
            None,
            None
        )
        .is_ok());
        assert!(check_message(&json!({"type": "page", "userId": "u"}), None, None).is_ok());
        assert!(check_message(&json!({"type": "screen", "userId": "u"}), None, None).is_ok());
    }

    #[test]
    fn type_must_be_known() {
        let e = check_message(&json!({"userId": "u"}), None, None).unwrap_err();
        assert_eq!(e.code, "missing_type");
        let e = check_message(&json!({"type": "trak", "userId": "u"}), None, None).unwrap_err();
        assert_eq!(e.code, "invalid_type");
        let e = check_message(&json!([1]), None, None).unwrap_err();
        assert_eq!(e.code, "invalid_message");
    }

    #[test]
    fn field_shapes() {
        let e = check_message(
            &json!({"type": "track", "userId": "u", "event": "E", "properties": [1]}),
            None,
            None,
        )
        .unwrap_err();
        assert_eq!(e.code, "invalid_field");
        let e = check_message(
            &json!({"type": "track", "userId": "u", "event": "E", "timestamp": 5}),
            None,
            None,
        )
        .unwrap_err();
        assert_eq!(e.code, "invalid_timestamp");
    }

    #[test]
    fn message_of_33_kb_is_refused_32_kb_fits() {
        let big = "x".repeat(33 * 1024);
        let e = check_message(
            &json!({"type": "track", "userId": "u", "event": "E", "properties": {"p": big}}),
            None,
            None,
        )
        .unwrap_err();
        assert_eq!(e.code, "message_too_large");
        let fits = "x".repeat(32 * 1024 - 100);
        assert!(check_message(
            &json!({"type": "track", "userId": "u", "event": "E", "properties": {"p": fits}}),
            None,
            None
        )
        .is_ok());
        // A single call is limited by its body size too.
        let b = body(
            json!({"writeKey": KEY, "userId": "u", "event": "E", "properties": {"p": "x".repeat(33 * 1024)}}),
        );
        assert_eq!(
            check_request("track", &b, None).unwrap_err().code,
            "message_too_large"
        );
    }

    #[test]
    fn batch_of_600_kb_is_refused() {
        let msgs: Vec<Value> = (0..30)
            .map(|i| json!({"type": "track", "userId": "u", "event": "E", "properties": {"i": i, "p": "x".repeat(20 * 1024)}}))
            .collect();
        let b = body(json!({"writeKey": KEY, "batch": msgs}));
        assert!(b.len() > 600 * 1024);
        let e = check_request("batch", &b, None).unwrap_err();
        assert_eq!(e.code, "batch_too_large");
        let too_many: Vec<Value> = (0..2501)
            .map(|_| json!({"type": "identify", "userId": "u"}))
            .collect();
        let b = body(json!({"writeKey": KEY, "batch": too_many}));
        assert_eq!(
            check_request("batch", &b, None).unwrap_err().code,
            "batch_too_large"
        );
    }

    #[test]
    fn one_bad_message_refuses_the_batch_and_names_it() {
        let b = body(json!({"writeKey": KEY, "batch": [
            {"type": "track", "userId": "u", "event": "E"},
            {"type": "track", "userId": "u"}
        ]}));
        let e = check_request("batch", &b, None).unwrap_err();
        assert_eq!((e.code, e.index), ("missing_event", Some(1)));
    }

    #[test]
    fn write_key_checks() {
        assert!(check_write_key(Some(KEY)).is_ok());
        assert!(check_write_key(Some("test_key-1.a")).is_ok());
        assert_eq!(check_write_key(None).unwrap_err().code, "missing_write_key");
        assert_eq!(
            check_write_key(Some("")).unwrap_err().code,
            "missing_write_key"
        );
        for bad in [
            "has space",
            "key\n",
            "ké",
            "a:b",
            "undefined",
            "null",
            "YOUR_WRITE_KEY",
            "<your_write_key>",
        ] {
            assert_eq!(
                check_write_key(Some(bad)).unwrap_err().code,
                "invalid_write_key",
                "{bad:?}"
            );
        }
        assert_eq!(
            check_write_key(Some(&"a".repeat(129))).unwrap_err().code,
            "invalid_write_key"
        );
        let b = body(json!({"batch": []}));
        assert_eq!(
            check_request("batch", &b, None).unwrap_err().code,
            "missing_write_key"
        );
    }

    #[test]
    fn basic_auth_header() {
        use base64::Engine;
        let enc = base64::engine::general_purpose::STANDARD.encode(format!("{KEY}:"));
        assert_eq!(
            write_key_from_basic_auth(Some(&format!("Basic {enc}")))
                .unwrap()
                .as_deref(),
            Some(KEY)
        );
        assert_eq!(write_key_from_basic_auth(None).unwrap(), None);
        assert_eq!(
            write_key_from_basic_auth(Some("Bearer x"))
                .unwrap_err()
                .code,
            "invalid_authorization"
        );
        assert_eq!(
            write_key_from_basic_auth(Some("Basic !!!"))
                .unwrap_err()
                .code,
            "invalid_authorization"
        );
        // The header's key wins over the body's.
        let b = body(json!({"writeKey": "undefined", "batch": []}));
        assert!(check_request("batch", &b, Some(KEY.into())).is_ok());
    }

    #[test]
    fn single_calls_take_their_type_from_the_path() {
        let b = body(json!({"writeKey": KEY, "userId": "u", "traits": {"email": "a@b.c"}}));
        let ok = check_request("identify", &b, None).unwrap();
        assert_eq!(ok.messages[0]["type"], "identify");
        assert!(ok.messages[0].get("writeKey").is_none());
        assert_eq!(
            check_request("batch", b"{", None).unwrap_err().code,
            "invalid_json"
        );
        assert_eq!(
            check_request("batch", b"[]", None).unwrap_err().code,
            "invalid_json"
        );
    }

    #[test]
    fn deep_json_parses_up_to_the_bound_and_is_refused_beyond_it() {
        let deep = |n: usize| format!("{}1{}", "[".repeat(n), "]".repeat(n));
        assert!(parse_json(deep(200).as_bytes()).is_ok());
        assert!(parse_json(deep(MAX_DEPTH).as_bytes()).is_ok());
        let e = parse_json(deep(MAX_DEPTH + 1).as_bytes()).unwrap_err();
        assert!(e.contains("nested more than"), "{e}");
        // brackets inside strings do not count
        let s = format!(r#"{{"a":"{}\"[["}}"#, "[".repeat(5000));
        assert!(parse_json(s.as_bytes()).is_ok());
    }
}
