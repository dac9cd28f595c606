//! Server `Warning` headers and what is done with them.

use crate::transport::parse_warning;
use std::collections::HashSet;
use std::fmt;
use std::sync::{Arc, Mutex};

type Handler = Arc<dyn Fn(&str) + Send + Sync>;

/// Where warnings go: a user handler, or the default that logs each distinct text once.
#[derive(Clone)]
pub(crate) enum WarningHandler {
    LogOnce(Arc<Mutex<HashSet<String>>>),
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
                    let first = seen
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .insert(text.clone());
                    if first {
                        tracing::warn!(warning = %text, "the API server sent a warning");
                    }
                }
            }
        }
    }
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
        assert_eq!(seen.lock().unwrap().len(), 2);
    }
}
