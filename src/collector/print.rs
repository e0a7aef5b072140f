//! One readable line per received event or refused request.

use serde_json::{Map, Value};

/// Properties shown first when present (the plugin's order/swap/claim events).
const KEY_PROPERTIES: [&str; 10] = [
    "order_id",
    "swap_id",
    "claim_id",
    "checkout_id",
    "revenue",
    "total",
    "price",
    "currency",
    "email",
    "name",
];
const MAX_SHOWN: usize = 5;

/// Characters that would let a value drive the terminal or forge a line:
/// controls (C0 with ESC, CR, LF; DEL; C1), bidi overrides and isolates,
/// line/paragraph separators and invisible joiners.
fn unsafe_char(c: char) -> bool {
    c.is_control()
        || matches!(c, '\u{061C}' | '\u{200B}'..='\u{200F}' | '\u{2028}'..='\u{202E}'
            | '\u{2060}'..='\u{2069}' | '\u{FEFF}')
}

/// `s` with unsafe characters written as escapes (`\n`, `\u{1b}`); with
/// `in_quotes`, `"` and `\` too, so the result reads unambiguously quoted.
pub fn escape(s: &str, in_quotes: bool) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '"' | '\\' if in_quotes => {
                out.push('\\');
                out.push(c);
            }
            c if unsafe_char(c) => out.push_str(&format!("\\u{{{:x}}}", c as u32)),
            c => out.push(c),
        }
    }
    out
}

/// `s` as printed: as is when it is one plain word, else quoted and escaped.
fn word(s: &str) -> String {
    if s.is_empty()
        || s.chars()
            .any(|c| c == ' ' || c == '"' || c == '\\' || unsafe_char(c))
    {
        quoted(s)
    } else {
        s.to_string()
    }
}

fn quoted(s: &str) -> String {
    format!("\"{}\"", escape(s, true))
}

fn scalar(v: &Value) -> Option<String> {
    Some(match v {
        Value::String(s) => {
            if s.chars().count() > 40 {
                word(&format!("{}…", s.chars().take(39).collect::<String>()))
            } else {
                word(s)
            }
        }
        Value::Number(n) => n.to_string(),
        Value::Bool(b) => b.to_string(),
        _ => return None,
    })
}

fn key_values(props: &Map<String, Value>) -> Vec<String> {
    let mut out: Vec<String> = KEY_PROPERTIES
        .iter()
        .filter_map(|k| props.get(*k).and_then(scalar).map(|v| format!("{k}={v}")))
        .collect();
    if let Some(Value::Array(items)) = props.get("products") {
        out.push(format!("products={}", items.len()));
    }
    if out.is_empty() {
        out = props
            .iter()
            .filter_map(|(k, v)| scalar(v).map(|v| format!("{}={v}", word(k))))
            .take(3)
            .collect();
    }
    out.truncate(MAX_SHOWN);
    out
}

/// The wall clock now, `HH:MM:SS`, at `utc_offset_minutes` from UTC (Rust's
/// std knows no time zones; the JS side passes the local offset).
pub fn clock_now(utc_offset_minutes: i32) -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs() as i64;
    clock(now + i64::from(utc_offset_minutes) * 60)
}

fn clock(secs: i64) -> String {
    let s = secs.rem_euclid(86_400);
    format!("{:02}:{:02}:{:02}", s / 3600, (s / 60) % 60, s % 60)
}

/// The line printed for an accepted message.
pub fn message_line(clock: &str, msg: &Value, duplicate: bool) -> String {
    let ty = msg.get("type").and_then(Value::as_str).unwrap_or("?");
    let mut parts = vec![format!("{clock}  {ty:<8}")];
    let title = match ty {
        "track" => msg.get("event"),
        "page" | "screen" => msg.get("name"),
        _ => None,
    };
    if let Some(t) = title.and_then(Value::as_str) {
        parts.push(quoted(t));
    }
    match (
        msg.get("userId").and_then(scalar),
        msg.get("anonymousId").and_then(scalar),
    ) {
        (Some(u), _) => parts.push(format!("userId={u}")),
        (None, Some(a)) => parts.push(format!("anonymousId={a}")),
        _ => {}
    }
    match ty {
        "group" => parts.extend(
            msg.get("groupId")
                .and_then(scalar)
                .map(|g| format!("groupId={g}")),
        ),
        "alias" => parts.extend(
            msg.get("previousId")
                .and_then(scalar)
                .map(|p| format!("previousId={p}")),
        ),
        _ => {}
    }
    let fields = if matches!(ty, "identify" | "group") {
        msg.get("traits")
    } else {
        msg.get("properties")
    };
    if let Some(Value::Object(p)) = fields {
        parts.extend(key_values(p));
    }
    if duplicate {
        parts.push("(duplicate messageId: Segment would drop it)".into());
    }
    parts.join("  ")
}

/// The line printed for a refused request.
pub fn error_line(clock: &str, path: &str, status: u16, code: &str, message: &str) -> String {
    format!(
        "{clock}  REJECTED POST {} → {status} {code}: {}",
        escape(path, false),
        escape(message, false)
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn order_completed_line() {
        let m = json!({"type": "track", "event": "Order Completed", "userId": "cus_1",
            "properties": {"order_id": "order_9", "revenue": 40.5, "currency": "EUR",
                           "products": [{}, {}], "shipping_methods": []}});
        assert_eq!(
            message_line("20:31:02", &m, false),
            "20:31:02  track     \"Order Completed\"  userId=cus_1  order_id=order_9  revenue=40.5  currency=EUR  products=2"
        );
    }

    #[test]
    fn identify_and_fallback_properties() {
        let m = json!({"type": "identify", "anonymousId": "a1", "traits": {"email": "a@b.c"}});
        assert_eq!(message_line("20:31:02", &m, true),
            "20:31:02  identify  anonymousId=a1  email=a@b.c  (duplicate messageId: Segment would drop it)");
        let m = json!({"type": "track", "event": "X", "userId": "u", "properties": {"a": 1, "b": {"c": 1}, "d": "two words"}});
        assert!(message_line("20:31:02", &m, false).ends_with("a=1  d=\"two words\""));
    }

    #[test]
    fn clock_wraps_days_and_offsets() {
        assert_eq!(clock(0), "00:00:00");
        assert_eq!(clock(86_400 + 3_723), "01:02:03");
        assert_eq!(clock(-60), "23:59:00");
        assert_eq!(clock_now(0).len(), 8);
    }

    #[test]
    fn values_cannot_drive_the_terminal_or_forge_lines() {
        let m = json!({"type": "track", "event": "A\u{1b}[2J\nB", "userId": "u\r20:31:02  track",
            "properties": {"x\u{1b}]0;t\u{7}": "a\u{202e}b", "c1": "\u{9b}31m", "ok": "q\"\\"}});
        let line = message_line("20:31:02", &m, false);
        assert!(!line.chars().any(unsafe_char), "{line:?}");
        assert_eq!(
            line,
            r#"20:31:02  track     "A\u{1b}[2J\nB"  userId="u\r20:31:02  track"  c1="\u{9b}31m"  ok="q\"\\"  "x\u{1b}]0;t\u{7}"="a\u{202e}b""#
        );
        let e = error_line(
            "t",
            "/v1/track",
            400,
            "invalid_json",
            "bad \u{1b}[31m\u{2066}x\n",
        );
        assert_eq!(
            e,
            r"t  REJECTED POST /v1/track → 400 invalid_json: bad \u{1b}[31m\u{2066}x\n"
        );
    }

    #[test]
    fn rejected_line() {
        assert_eq!(
            error_line("20:31:02", "/v1/track", 400, "missing_event", "no event"),
            "20:31:02  REJECTED POST /v1/track → 400 missing_event: no event"
        );
    }
}
