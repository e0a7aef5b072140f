//! Keeps the write key out of every text that leaves the crate: the core's
//! log lines and callback errors (`crate::shared`, `crate::delivery`) and
//! everything the local debugger stores, serves and prints
//! (`crate::collector`). One redactor for both, with one list of a key's
//! spellings and one search; the two uses differ only in what they write
//! instead and in how they treat a key too short to search for.

use std::borrow::Cow;

use serde_json::{Map, Value};

/// Keys shorter than this are too short to search for inside text (every
/// `test` in an event name would go). Runs of at least this many of a
/// longer spelling's first characters count in the core's logs, so a key
/// cut short by a length limit is hidden too.
pub const MIN_SEARCHED_LEN: usize = 8;

/// Where a redactor's text goes, which decides its marker and how it treats
/// short keys and cut-short spellings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Use {
    /// The core's log lines and errors: `[redacted]`; a spelling cut short
    /// counts; a short key is replaced as a whole word.
    Logs,
    /// The debugger: `[write key]`; whole spellings only; a short key is
    /// replaced only where it is a whole value; placeholders are kept.
    Debugger,
}

/// Finds a write key in text, in the forms a server or a sender may echo it:
/// as is, in any letter case, and base64-encoded (`Authorization: Basic
/// base64(key:)`).
#[derive(Debug, Clone)]
pub struct Redactor {
    purpose: Use,
    /// Lower-cased ASCII spellings searched inside text ([`key_spellings`]).
    needles: Vec<String>,
    /// Debugger: lower-cased short keys, replaced only as whole values.
    whole: Vec<String>,
}

impl Redactor {
    /// What stands in for the key in the core's logs and errors.
    pub const LOGS_MARKER: &'static str = "[redacted]";
    /// What stands in for a key in what the debugger shows.
    pub const DEBUGGER_MARKER: &'static str = "[write key]";

    /// For the core's log lines and errors, with the client's key.
    pub fn for_logs(key: Option<&str>) -> Redactor {
        let mut r = Redactor::new(Use::Logs);
        if let Some(key) = key.filter(|k| !k.is_empty()) {
            r.needles = key_spellings(key);
        }
        r
    }

    /// For what the debugger keeps of one request: add its keys and tokens.
    pub fn for_debugger() -> Redactor {
        Redactor::new(Use::Debugger)
    }

    fn new(purpose: Use) -> Redactor {
        Redactor {
            purpose,
            needles: Vec::new(),
            whole: Vec::new(),
        }
    }

    fn marker(&self) -> &'static str {
        match self.purpose {
            Use::Logs => Redactor::LOGS_MARKER,
            Use::Debugger => Redactor::DEBUGGER_MARKER,
        }
    }

    /// Adds a key as sent: raw, and as the base64 of `key:` and of `key`
    /// (what an echoed `Authorization: Basic` header shows).
    pub fn add_key(&mut self, key: &str) {
        let key = key.trim();
        // A placeholder such as `undefined` is no secret, and the error
        // message naming it is the useful part.
        if key.is_empty() || crate::collector::validate::is_placeholder(key) {
            return;
        }
        if key.len() < MIN_SEARCHED_LEN {
            self.whole.push(key.to_ascii_lowercase());
            return;
        }
        for spelling in key_spellings(key) {
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

    /// `s` with every spelling of the key(s) replaced by the marker,
    /// ignoring ASCII case.
    pub fn text<'a>(&self, s: &'a str) -> Cow<'a, str> {
        if !self.whole.is_empty() && self.whole.contains(&s.to_ascii_lowercase()) {
            return Cow::Borrowed(self.marker());
        }
        if self.needles.is_empty() {
            return Cow::Borrowed(s);
        }
        let spans = key_spans(s, &self.needles, self.purpose == Use::Logs);
        if spans.is_empty() {
            return Cow::Borrowed(s);
        }
        Cow::Owned(replace_spans(s, &spans, self.marker()))
    }

    /// [`Redactor::text`], then keep at most `max_chars` characters: cutting
    /// first could leave a piece of the key too short to be recognised.
    pub fn text_cut(&self, s: &str, max_chars: usize) -> String {
        let redacted = self.text(s);
        match redacted.char_indices().nth(max_chars) {
            Some((cut, _)) => redacted[..cut].to_string(),
            None => redacted.into_owned(),
        }
    }

    /// Redacts every string and object key inside `v`.
    pub fn value(&self, v: &mut Value) {
        if self.needles.is_empty() && self.whole.is_empty() {
            return;
        }
        match v {
            Value::String(s) => *s = self.text(s).into_owned(),
            Value::Array(items) => items.iter_mut().for_each(|i| self.value(i)),
            Value::Object(map) => {
                let old = std::mem::take(map);
                *map = old
                    .into_iter()
                    .map(|(k, mut v)| {
                        self.value(&mut v);
                        (self.text(&k).into_owned(), v)
                    })
                    .collect::<Map<String, Value>>();
            }
            _ => {}
        }
    }
}

/// The spellings of a write key that a server or a sender may echo,
/// ASCII-lowercased: as is, and the base64 (standard and URL-safe, without
/// padding) of `key:` (an `Authorization: Basic` header) and of `key`.
fn key_spellings(key: &str) -> Vec<String> {
    use base64::engine::general_purpose::{STANDARD_NO_PAD, URL_SAFE_NO_PAD};
    use base64::Engine;
    let mut out = vec![key.to_ascii_lowercase()];
    for raw in [format!("{key}:"), key.to_string()] {
        for engine in [STANDARD_NO_PAD, URL_SAFE_NO_PAD] {
            out.push(engine.encode(&raw).to_ascii_lowercase());
        }
    }
    out.sort_unstable();
    out.dedup();
    out
}

/// Where the (lowercased) `needles` occur in `text`, ignoring ASCII case, as
/// byte spans sorted by start. With `fragments`, a run of at least
/// [`MIN_SEARCHED_LEN`] of a needle's first characters counts too (a key cut
/// short by a length limit), and a needle shorter than that only as a whole
/// word; without, whole needles anywhere.
fn key_spans(text: &str, needles: &[String], fragments: bool) -> Vec<(usize, usize)> {
    // ASCII lowercasing keeps every byte offset.
    let lower = text.to_ascii_lowercase();
    let hay = lower.as_bytes();
    let mut spans: Vec<(usize, usize)> = Vec::new();
    for needle in needles {
        let n = needle.as_bytes();
        let head = if fragments {
            &needle[..n.len().min(MIN_SEARCHED_LEN)]
        } else {
            needle.as_str()
        };
        if head.is_empty() {
            continue;
        }
        let mut from = 0;
        while let Some(i) = lower[from..].find(head) {
            let start = from + i;
            let mut end = start + head.len();
            while end < hay.len() && end - start < n.len() && hay[end] == n[end - start] {
                end += 1;
            }
            let whole_word = || {
                let alnum = |b: Option<&u8>| b.is_some_and(u8::is_ascii_alphanumeric);
                !alnum(start.checked_sub(1).and_then(|p| hay.get(p))) && !alnum(hay.get(end))
            };
            if !fragments || n.len() >= MIN_SEARCHED_LEN || whole_word() {
                while !text.is_char_boundary(end) {
                    end += 1;
                }
                spans.push((start, end));
            }
            from = start + 1;
            while !lower.is_char_boundary(from) {
                from += 1;
            }
        }
    }
    spans.sort_unstable();
    spans
}

/// `text` with each of `spans` (sorted by start; overlapping ones count as
/// one) replaced by `marker`.
fn replace_spans(text: &str, spans: &[(usize, usize)], marker: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut at = 0;
    for &(start, end) in spans {
        if end <= at {
            continue;
        }
        out.push_str(&text[at..start.max(at)]);
        if start >= at {
            out.push_str(marker);
        }
        at = end;
    }
    out.push_str(&text[at..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The core's logs and errors.
    mod logs {
        use super::*;

        const KEY: &str = "Wk7sYq2LmN4pR8tV1xZ3bD5fH6jK9cE0";

        fn basic(raw: &str) -> String {
            use base64::Engine;
            base64::engine::general_purpose::STANDARD.encode(raw)
        }

        #[test]
        fn redacts_the_key_raw_in_any_case_and_base64() {
            let r = Redactor::for_logs(Some(KEY));
            for text in [
                format!("echo {KEY} end"),
                format!("echo {} end", KEY.to_lowercase()),
                format!("echo {} end", KEY.to_uppercase()),
                format!(
                    r#"{{"authorization":"Basic {}"}}"#,
                    basic(&format!("{KEY}:"))
                ),
                format!("Basic {}", basic(KEY)),
                format!("{KEY}{KEY}"),
                format!("é{KEY}é"),
            ] {
                let out = r.text(&text);
                let lower = out.to_lowercase();
                assert!(
                    !lower.contains(&KEY.to_lowercase()[..MIN_SEARCHED_LEN]),
                    "{out}"
                );
                assert!(
                    !out.contains(&basic(&format!("{KEY}:"))[..MIN_SEARCHED_LEN]),
                    "{out}"
                );
                assert!(out.contains(Redactor::LOGS_MARKER), "{out}");
            }
            assert_eq!(r.text("nothing here"), "nothing here");
            assert_eq!(r.text(&format!("a {KEY} b")), "a [redacted] b");
        }

        #[test]
        fn redacts_before_cutting_and_hides_a_key_cut_short() {
            let r = Redactor::for_logs(Some(KEY));
            // The key straddles the cut at 200 characters.
            let text = format!("{}{KEY} tail", "x".repeat(195));
            let out = r.text_cut(&text, 200);
            assert!(!out.contains(&KEY[..5]), "{out}");
            assert_eq!(out.chars().count(), 200);
            // A text already cut inside the key (a length-limited body).
            let cut = format!("body: {}", &KEY[..12]);
            assert_eq!(r.text(&cut), "body: [redacted]");
        }

        #[test]
        fn a_short_key_is_redacted_as_a_whole_word_only() {
            let r = Redactor::for_logs(Some("k"));
            assert_eq!(r.text("backoff k done"), "backoff [redacted] done");
            assert_eq!(Redactor::for_logs(None).text("k"), "k");
        }
    }

    /// The debugger's pages and prints.
    mod debugger {
        use super::*;
        use base64::Engine;
        use serde_json::json;

        const KEY: &str = "Rk3ghXLRmY3ln5mYx6KoqCzU9BBgYQvh";

        #[test]
        fn every_spelling_of_the_key_goes() {
            let mut r = Redactor::for_debugger();
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
        fn placeholders_are_not_secrets() {
            let mut r = Redactor::for_debugger();
            r.add_key("YOUR_WRITE_KEY");
            r.add_key("undefined");
            assert_eq!(
                r.text("the write key is the placeholder \"YOUR_WRITE_KEY\""),
                "the write key is the placeholder \"YOUR_WRITE_KEY\""
            );
        }

        #[test]
        fn short_keys_only_as_whole_values() {
            let mut r = Redactor::for_debugger();
            r.add_key("test");
            assert_eq!(r.text("TEST"), Redactor::DEBUGGER_MARKER);
            assert_eq!(r.text("Test Event"), "Test Event");
        }

        #[test]
        fn the_same_spellings_as_the_core_logs() {
            // base64 of "????????:" has `/`, which the URL-safe alphabet spells `_`
            let key = "????????";
            let url_safe =
                base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("{key}:"));
            assert!(url_safe.contains('_'));
            let mut r = Redactor::for_debugger();
            r.add_key(key);
            let text = format!("echo {url_safe}.");
            assert_eq!(r.text(&text), "echo [write key].");
            let logs = Redactor::for_logs(Some(key));
            assert_eq!(logs.text(&text), "echo [redacted].");
        }

        #[test]
        fn overlapping_spellings_are_replaced_once() {
            let mut r = Redactor::for_debugger();
            r.add_key(KEY);
            r.add_token(&KEY[..20]);
            assert_eq!(r.text(&format!("<{KEY}>")), "<[write key]>");
        }
    }
}
