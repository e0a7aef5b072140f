//! Keeps the write key out of everything the debugger stores, serves and
//! prints: a sender that echoes its key into a property (raw, in another case,
//! or as the base64 of its `Authorization` header) must not leave it on the
//! page.

use serde_json::{Map, Value};

/// What a key is replaced with.
pub const MARKER: &str = "[write key]";

/// Shorter keys are too short to search for inside text (every `test` in an
/// event name would go); they are replaced only where they are a whole value.
pub const MIN_SEARCHED_LEN: usize = 8;

/// The spellings of one request's key(s) to remove.
#[derive(Default)]
pub struct Redactor {
    /// Lower-cased ASCII spellings searched inside text (crate::log::key_spellings).
    needles: Vec<String>,
    /// Lower-cased short keys, replaced only as whole values.
    whole: Vec<String>,
}

impl Redactor {
    /// Adds a key as sent: raw, and as the base64 of `key:` and of `key`
    /// (what an echoed `Authorization: Basic` header shows).
    pub fn add_key(&mut self, key: &str) {
        let key = key.trim();
        // A placeholder such as `undefined` is no secret, and the error
        // message naming it is the useful part.
        if key.is_empty() || super::validate::is_placeholder(key) {
            return;
        }
        if key.len() < MIN_SEARCHED_LEN {
            self.whole.push(key.to_ascii_lowercase());
            return;
        }
        for spelling in crate::log::key_spellings(key) {
            self.add_needle(&spelling);
        }
    }

    /// Adds a token as sent (e.g. the credentials of an `Authorization`
    /// header that did not decode to a key).
    pub fn add_token(&mut self, token: &str) {
        let token = token.trim().trim_end_matches('=');
        if token.len() >= MIN_SEARCHED_LEN {
            self.add_needle(token);
        }
    }

    fn add_needle(&mut self, s: &str) {
        let s = s.to_ascii_lowercase();
        if !self.needles.contains(&s) {
            self.needles.push(s);
        }
    }

    /// `s` with every spelling replaced by [`MARKER`], ignoring ASCII case.
    pub fn text(&self, s: &str) -> String {
        if self.whole.contains(&s.to_ascii_lowercase()) {
            return MARKER.to_string();
        }
        let spans = crate::log::key_spans(s, &self.needles, false);
        if spans.is_empty() {
            return s.to_string();
        }
        crate::log::replace_spans(s, &spans, MARKER)
    }

    /// Redacts every string and object key inside `v`.
    pub fn value(&self, v: &mut Value) {
        if self.needles.is_empty() && self.whole.is_empty() {
            return;
        }
        match v {
            Value::String(s) => *s = self.text(s),
            Value::Array(items) => items.iter_mut().for_each(|i| self.value(i)),
            Value::Object(map) => {
                let old = std::mem::take(map);
                *map = old
                    .into_iter()
                    .map(|(k, mut v)| {
                        self.value(&mut v);
                        (self.text(&k), v)
                    })
                    .collect::<Map<String, Value>>();
            }
            _ => {}
        }
    }
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

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine;
    use serde_json::json;

    const KEY: &str = "Rk3ghXLRmY3ln5mYx6KoqCzU9BBgYQvh";

    #[test]
    fn every_spelling_of_the_key_goes() {
        let mut r = Redactor::default();
        r.add_key(KEY);
        let b64 = base64::engine::general_purpose::STANDARD.encode(format!("{KEY}:"));
        let s = format!(
            "a {KEY} b {} c {} d Basic {b64} é",
            KEY.to_lowercase(),
            KEY.to_uppercase()
        );
        assert_eq!(
            r.text(&s),
            "a [write key] b [write key] c [write key] d Basic [write key] é"
        );
        let mut v = json!({"p": [KEY, {"x": 1}], KEY: "k"});
        r.value(&mut v);
        assert_eq!(
            v,
            json!({"p": ["[write key]", {"x": 1}], "[write key]": "k"})
        );
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
    fn placeholders_are_not_secrets() {
        let mut r = Redactor::default();
        r.add_key("YOUR_WRITE_KEY");
        r.add_key("undefined");
        assert_eq!(
            r.text("the write key is the placeholder \"YOUR_WRITE_KEY\""),
            "the write key is the placeholder \"YOUR_WRITE_KEY\""
        );
    }

    #[test]
    fn short_keys_only_as_whole_values() {
        let mut r = Redactor::default();
        r.add_key("test");
        assert_eq!(r.text("TEST"), MARKER);
        assert_eq!(r.text("Test Event"), "Test Event");
    }

    #[test]
    fn the_same_spellings_as_the_core_logs() {
        // base64 of "????????:" has `/`, which the URL-safe alphabet spells `_`
        let key = "????????";
        let url_safe = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("{key}:"));
        assert!(url_safe.contains('_'));
        let mut r = Redactor::default();
        r.add_key(key);
        let text = format!("echo {url_safe}.");
        assert_eq!(r.text(&text), "echo [write key].");
        let logs = crate::log::Redactor::new(Some(key));
        assert_eq!(logs.redact(&text), "echo [redacted].");
    }

    #[test]
    fn overlapping_spellings_are_replaced_once() {
        let mut r = Redactor::default();
        r.add_key(KEY);
        r.add_token(&KEY[..20]);
        assert_eq!(r.text(&format!("<{KEY}>")), "<[write key]>");
    }
}
