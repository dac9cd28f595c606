//! The request target, decided once. Pure: no I/O.
//!
//! The filter must decide on exactly the path the API server routes on. So the raw
//! request target is checked, its path percent-decoded once and cleaned (Go's
//! `cleanPath`) before routing and the filter; the filter sees that decoded, clean path;
//! and the upstream request carries that same path, percent-encoded again in one place
//! ([`encode_path`]) in a canonical form that the API server (Go's `net/http`, which
//! decodes once) turns back into exactly the path the filter saw, and that URL parsers
//! on the way (the WHATWG parser of our HTTP client, `http::Uri`) leave byte for byte
//! unchanged.
//!
//! Refused outright with `400 Bad Request` ([`BadTarget`]), because different parsers
//! disagree about them and no Kubernetes path needs them:
//! - a raw `\` anywhere in the target (WHATWG URL parsers turn it into `/`), and a
//!   decoded one (`%5C`) in the path;
//! - raw control characters (`0x00`–`0x1F`, `0x7F`) and raw non-ASCII bytes anywhere,
//!   decoded control characters (`%00`, `%0A`, …) in the path;
//! - a `%` in the path not followed by two hex digits (Go's server refuses it too), and
//!   a path that does not decode to UTF-8;
//! - a target that is not a path starting with `/` (`*`, authority form).

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

/// What Go's `url.URL.EscapedPath` escapes in a path: all but unreserved characters
/// and `$&+,/:;=@`. Every other byte of a decoded path is written as `%XX`.
const PATH_ESCAPE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~')
    .remove(b'$')
    .remove(b'&')
    .remove(b'+')
    .remove(b',')
    .remove(b'/')
    .remove(b':')
    .remove(b';')
    .remove(b'=')
    .remove(b'@');

/// Why a request target is refused with `400 Bad Request` (never forwarded).
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub(crate) enum BadTarget {
    /// A raw `\` in the path or query.
    #[error("backslash in the request target")]
    Backslash,
    /// A raw byte below `0x20` or `0x7F`.
    #[error("control character in the request target")]
    ControlCharacter,
    /// A raw byte of `0x80` or above (it must be percent-encoded).
    #[error("raw non-ASCII byte in the request target")]
    NonAscii,
    /// A `%` not followed by two hexadecimal digits in the path.
    #[error("invalid percent-escape in the path")]
    InvalidEscape,
    /// `%5C` (`\`) in the path.
    #[error("encoded backslash in the path")]
    EncodedBackslash,
    /// `%00`–`%1F` or `%7F` in the path.
    #[error("encoded control character in the path")]
    EncodedControl,
    /// The decoded path is not UTF-8.
    #[error("the decoded path is not UTF-8")]
    NotUtf8,
    /// The target is not a path starting with `/` (`*`, or an authority).
    #[error("the request target is not an absolute path")]
    NotAbsolutePath,
}

/// A request target that passed the checks.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Target {
    /// The path, percent-decoded once (not yet cleaned).
    pub(crate) path: String,
    /// The raw query, if not empty (checked, not decoded: the API server decodes it).
    pub(crate) query: Option<String>,
}

/// Checks a raw request target (its path and query as received) and decodes the path
/// once.
pub(crate) fn decode(raw_path: &str, raw_query: Option<&str>) -> Result<Target, BadTarget> {
    check_raw(raw_path)?;
    if let Some(query) = raw_query {
        check_raw(query)?;
    }
    if !raw_path.starts_with('/') {
        return Err(BadTarget::NotAbsolutePath);
    }
    let bytes = raw_path.as_bytes();
    let mut decoded = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let byte = if bytes[i] == b'%' {
            let hi = bytes.get(i + 1).and_then(|b| hex_value(*b));
            let lo = bytes.get(i + 2).and_then(|b| hex_value(*b));
            let (Some(hi), Some(lo)) = (hi, lo) else {
                return Err(BadTarget::InvalidEscape);
            };
            i += 3;
            hi << 4 | lo
        } else {
            i += 1;
            bytes[i - 1]
        };
        match byte {
            b'\\' => return Err(BadTarget::EncodedBackslash),
            b if b < 0x20 || b == 0x7f => return Err(BadTarget::EncodedControl),
            b => decoded.push(b),
        }
    }
    let path = String::from_utf8(decoded).map_err(|_| BadTarget::NotUtf8)?;
    Ok(Target {
        path,
        // `/x?` has no query (Go's `RawQuery` is empty too).
        query: raw_query.filter(|q| !q.is_empty()).map(str::to_owned),
    })
}

fn check_raw(raw: &str) -> Result<(), BadTarget> {
    for b in raw.bytes() {
        match b {
            b'\\' => return Err(BadTarget::Backslash),
            b if b < 0x20 || b == 0x7f => return Err(BadTarget::ControlCharacter),
            b if b >= 0x80 => return Err(BadTarget::NonAscii),
            _ => {}
        }
    }
    Ok(())
}

fn hex_value(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// The one place a decoded path is encoded again, for the API server and for redirect
/// locations: every byte but unreserved characters and `$&+,/:;=@` as `%XX` (uppercase
/// hex). For a clean path the result has no `.`/`..` segment, no `\`, no `?`/`#`, so
/// URL parsers keep it as it is and Go's server decodes it back to `path`.
pub(crate) fn encode_path(path: &str) -> String {
    utf8_percent_encode(path, PATH_ESCAPE).to_string()
}

/// Go's `cleanPath` of `net/http`: rooted, `.`/`..`/`//` resolved, trailing slash kept.
pub(crate) fn clean_path(path: &str) -> String {
    if path.is_empty() {
        return "/".to_owned();
    }
    let mut parts: Vec<&str> = Vec::new();
    for segment in path.split('/') {
        match segment {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            s => parts.push(s),
        }
    }
    let mut clean = String::with_capacity(path.len() + 1);
    for part in &parts {
        clean.push('/');
        clean.push_str(part);
    }
    if clean.is_empty() || path.ends_with('/') {
        clean.push('/');
    }
    clean
}

#[cfg(test)]
mod tests {
    use super::*;

    fn path(raw: &str) -> Result<String, BadTarget> {
        decode(raw, None).map(|t| t.path)
    }

    #[test]
    fn backslashes_are_refused_raw_and_encoded() {
        assert_eq!(
            path(r"/api\v1/namespaces/default/pods/p/exec"),
            Err(BadTarget::Backslash)
        );
        assert_eq!(
            path(r"/api/v1/namespaces/default/pods\p\exec"),
            Err(BadTarget::Backslash)
        );
        assert_eq!(
            decode("/api/v1", Some(r"command=\x")),
            Err(BadTarget::Backslash)
        );
        assert_eq!(
            path("/api/v1/namespaces/default/pods/p%5Cexec"),
            Err(BadTarget::EncodedBackslash)
        );
        assert_eq!(path("/api%5cv1"), Err(BadTarget::EncodedBackslash));
        // Double encoding is one decoding away from a backslash: kept as `%5C`.
        assert_eq!(path("/api%255Cv1").unwrap(), "/api%5Cv1");
    }

    #[test]
    fn control_characters_and_raw_non_ascii_are_refused() {
        assert_eq!(path("/api/v1\t"), Err(BadTarget::ControlCharacter));
        assert_eq!(path("/api/\u{7f}"), Err(BadTarget::ControlCharacter));
        assert_eq!(
            decode("/", Some("a=\x01")),
            Err(BadTarget::ControlCharacter)
        );
        assert_eq!(path("/api/é"), Err(BadTarget::NonAscii));
        assert_eq!(decode("/", Some("a=é")), Err(BadTarget::NonAscii));
        for encoded in ["%00", "%0a", "%0D", "%1f", "%7F"] {
            assert_eq!(
                path(&format!("/api/v1/x{encoded}")),
                Err(BadTarget::EncodedControl),
                "{encoded}"
            );
        }
    }

    #[test]
    fn escapes_must_be_complete_and_decode_to_utf8() {
        for bad in ["/a%", "/a%2", "/a%zz", "/a%2g", "/%%41"] {
            assert_eq!(path(bad), Err(BadTarget::InvalidEscape), "{bad}");
        }
        assert_eq!(path("/a%ff"), Err(BadTarget::NotUtf8));
        assert_eq!(path("/a%C3%A9").unwrap(), "/aé");
    }

    #[test]
    fn only_absolute_paths_are_targets() {
        assert_eq!(path("*"), Err(BadTarget::NotAbsolutePath));
        assert_eq!(path(""), Err(BadTarget::NotAbsolutePath));
        assert_eq!(path("api/v1"), Err(BadTarget::NotAbsolutePath));
    }

    #[test]
    fn decoding_happens_once() {
        assert_eq!(path("/pods/p/%65xec").unwrap(), "/pods/p/exec");
        assert_eq!(path("/a%2Fb").unwrap(), "/a/b");
        assert_eq!(path("/%2e%2E/x").unwrap(), "/../x");
        assert_eq!(path("/%252e%252e/x").unwrap(), "/%2e%2e/x");
        assert_eq!(path("/a+b;c=d").unwrap(), "/a+b;c=d");
        let t = decode("/x", Some("a=%2F&b=%5C")).unwrap();
        assert_eq!(t.query.as_deref(), Some("a=%2F&b=%5C"));
    }

    #[test]
    fn encoding_is_gos_escaped_path() {
        assert_eq!(
            encode_path("/api/v1/namespaces/a/pods/b"),
            "/api/v1/namespaces/a/pods/b"
        );
        assert_eq!(encode_path("/a b/c?d#e"), "/a%20b/c%3Fd%23e");
        assert_eq!(encode_path("/%2e%2e/x"), "/%252e%252e/x");
        assert_eq!(encode_path("/$&+,:;=@-_.~"), "/$&+,:;=@-_.~");
        assert_eq!(
            encode_path("/é\"<>`{}|^[]"),
            "/%C3%A9%22%3C%3E%60%7B%7D%7C%5E%5B%5D"
        );
    }

    #[test]
    fn clean_path_matches_go() {
        for (input, want) in [
            ("", "/"),
            ("/", "/"),
            ("/..", "/"),
            ("/a/b/../c/", "/a/c/"),
            ("/a/./b", "/a/b"),
            ("a/b", "/a/b"),
            ("/a//b//", "/a/b/"),
            ("/a/...", "/a/..."),
        ] {
            assert_eq!(clean_path(input), want, "{input}");
        }
    }
}
