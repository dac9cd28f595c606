//! Server `Warning` headers and what is done with them.

use crate::transport::parse_warning;
use std::collections::HashSet;
use std::fmt;
use std::hash::BuildHasher;
use std::sync::{Arc, Mutex};

type Handler = Arc<dyn Fn(&str) + Send + Sync>;

/// How many distinct warnings the default handler remembers. When full it starts over,
/// so a server that sends a new warning on every answer costs at most this many hashes
/// of memory (and then logs each warning again, once).
const MAX_REMEMBERED_WARNINGS: usize = 1024;

/// At most this many bytes of a warning's text are logged by the default handler.
const MAX_LOGGED_WARNING: usize = 4096;

/// The warnings already logged: hashes (with per-process random keys) of their texts.
#[derive(Default)]
pub(crate) struct Seen {
    hashes: HashSet<u64>,
    keys: std::collections::hash_map::RandomState,
}

impl Seen {
    /// Whether `text` is new (and remembers it).
    fn first(&mut self, text: &str) -> bool {
        if self.hashes.len() >= MAX_REMEMBERED_WARNINGS {
            self.hashes.clear();
        }
        self.hashes.insert(self.keys.hash_one(text))
    }
}

/// Where warnings go: a user handler, or the default that logs each distinct text once.
#[derive(Clone)]
pub(crate) enum WarningHandler {
    LogOnce(Arc<Mutex<Seen>>),
    Custom(Handler),
}

impl Default for WarningHandler {
    fn default() -> Self {
        Self::LogOnce(Arc::default())
    }
}

impl fmt::Debug for WarningHandler {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::LogOnce(_) => f.write_str("LogOnce"),
            Self::Custom(_) => f.write_str("Custom"),
        }
    }
}

impl WarningHandler {
    pub(crate) fn custom(f: impl Fn(&str) + Send + Sync + 'static) -> Self {
        Self::Custom(Arc::new(f))
    }

    /// Passes every well-formed `Warning` header of `headers` on.
    pub(crate) fn handle(&self, headers: &http::HeaderMap) {
        for value in headers.get_all(http::header::WARNING) {
            let Some(text) = value.to_str().ok().and_then(parse_warning) else {
                continue;
            };
            match self {
                Self::Custom(f) => f(&text),
                Self::LogOnce(seen) => {
                    let first = seen.lock().unwrap_or_else(|e| e.into_inner()).first(&text);
                    if first {
                        let shown = truncate(&text, MAX_LOGGED_WARNING);
                        tracing::warn!(warning = %shown, "the API server sent a warning");
                    }
                }
            }
        }
    }
}

/// The longest prefix of `text` of at most `max` bytes that ends on a character boundary.
fn truncate(text: &str, max: usize) -> &str {
    let mut end = text.len().min(max);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn custom_handler_sees_each_warning_and_default_dedupes() {
        let got = Arc::new(Mutex::new(Vec::new()));
        let sink = got.clone();
        let h = WarningHandler::custom(move |w| sink.lock().unwrap().push(w.to_owned()));
        let mut headers = http::HeaderMap::new();
        headers.append(http::header::WARNING, r#"299 - "a""#.parse().unwrap());
        headers.append(http::header::WARNING, r#"299 - "b""#.parse().unwrap());
        headers.append(http::header::WARNING, "junk".parse().unwrap());
        h.handle(&headers);
        h.handle(&headers);
        assert_eq!(*got.lock().unwrap(), ["a", "b", "a", "b"]);

        let d = WarningHandler::default();
        d.handle(&headers);
        d.handle(&headers);
        let WarningHandler::LogOnce(seen) = &d else {
            unreachable!()
        };
        assert_eq!(seen.lock().unwrap().hashes.len(), 2);
    }

    #[test]
    fn remembered_warnings_are_bounded() {
        let d = WarningHandler::default();
        for i in 0..(3 * MAX_REMEMBERED_WARNINGS) {
            let mut headers = http::HeaderMap::new();
            let value = format!(r#"299 - "warning {i} {}""#, "x".repeat(100));
            headers.append(http::header::WARNING, value.parse().unwrap());
            d.handle(&headers);
        }
        let WarningHandler::LogOnce(seen) = &d else {
            unreachable!()
        };
        assert!(seen.lock().unwrap().hashes.len() <= MAX_REMEMBERED_WARNINGS);
        assert_eq!(truncate("aé", 2), "a");
        assert_eq!(truncate("abc", 10), "abc");
    }
}
