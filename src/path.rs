//! Request paths built from segments: the one place that turns caller- and server-supplied
//! strings (namespaces, names, plurals, groups, versions, subresources, proxy targets and
//! proxied paths) into URL path text. Pure, no I/O.
//!
//! The rule, as client-go's `IsValidPathSegmentName` plus Go's `URL.EscapedPath`:
//! * a value is refused when it cannot be exactly one segment: empty, `.`, `..`, or
//!   containing `/` or `%` (the API server decodes the path before splitting it, so an
//!   escaped `/` would still split, and `%` invites double-decoding tricks);
//! * everything else is percent-encoded except the unreserved characters
//!   (`A-Z a-z 0-9 - . _ ~`) and `$ & + , : ; = @`, so `system:controller:foo` stays as
//!   it is, while `\`, `#`, `?`, spaces, control and non-ASCII characters are escaped.
//!
//! The result contains no `\`, `#`, `?`, control characters, spaces or dot segments, so
//! neither the `url` crate nor `http::Uri` changes a byte of it.

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, percent_decode_str, percent_encode};
use std::borrow::Cow;

/// Every byte but the unreserved characters and `$&+,:;=@` (Go's `encodePath` set, with
/// `/` escaped as well; a refused segment never reaches it anyway).
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~')
    .remove(b'$')
    .remove(b'&')
    .remove(b'+')
    .remove(b',')
    .remove(b':')
    .remove(b';')
    .remove(b'=')
    .remove(b'@');

/// Whether `b` appears unescaped in an encoded segment (the complement of [`SEGMENT`]).
fn kept_in_segment(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"-._~$&+,:;=@".contains(&b)
}

/// What is wrong with a path given as text (rather than as segments).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum PathProblem {
    /// It does not start with `/`.
    Relative,
    /// A segment is `.` or `..`, also when written with `%2e`: the URL parser or the
    /// server would resolve it and reach another path.
    DotSegment,
    /// A segment decodes to text containing `/` (`%2F`): the server would split it.
    EncodedSlash,
    /// A segment is empty (`//`), so the path does not name a resource.
    EmptySegment,
    /// A character that must be percent-encoded appears as it is (`\`, `#`, `?`, a space,
    /// a control or non-ASCII character), or a `%` does not start an escape.
    NotEncoded,
}

impl std::fmt::Display for PathProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            PathProblem::Relative => "it does not start with /",
            PathProblem::DotSegment => "it has a . or .. segment",
            PathProblem::EncodedSlash => "a segment contains an escaped /",
            PathProblem::EmptySegment => "it has an empty segment",
            PathProblem::NotEncoded => "it has a character that must be percent-encoded",
        })
    }
}

/// A refused value; becomes a [`RequestError`](crate::api::RequestError). Cloneable, so a
/// handle built from a refused value can report it from every verb.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Refused {
    /// A value that cannot be one segment.
    Segment { what: &'static str, value: String },
    /// A path given as text that is not in canonical form.
    Path {
        what: &'static str,
        path: String,
        problem: PathProblem,
    },
    /// A namespace given for a kind that is not namespaced.
    ClusterScoped { kind: String, namespace: String },
}

/// Whether `value` can be one path segment (client-go's `IsValidPathSegmentName`).
fn segment_allowed(value: &str) -> bool {
    !(value.is_empty() || value == "." || value == ".." || value.contains(['/', '%']))
}

/// `value` percent-encoded as exactly one path segment, or refused as `what`.
pub(crate) fn segment<'a>(what: &'static str, value: &'a str) -> Result<Cow<'a, str>, Refused> {
    if !segment_allowed(value) {
        return Err(Refused::Segment {
            what,
            value: value.to_owned(),
        });
    }
    Ok(percent_encode(value.as_bytes(), SEGMENT).into())
}

/// A path under construction: `/`-separated, every segment encoded by [`segment`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct PathBuilder(String);

impl PathBuilder {
    /// The empty path (the server root once a segment is pushed).
    pub(crate) fn new() -> Self {
        Self::default()
    }

    /// Appends fixed segments known at compile time (`api`, `namespaces`, `proxy`).
    pub(crate) fn fixed(mut self, segments: &'static str) -> Self {
        debug_assert!(
            segments
                .split('/')
                .all(|s| segment("fixed", s).is_ok_and(|e| e == s))
        );
        self.0.push('/');
        self.0.push_str(segments);
        self
    }

    /// Appends `value` as one encoded segment, or refuses it as `what`.
    pub(crate) fn push(mut self, what: &'static str, value: &str) -> Result<Self, Refused> {
        let encoded = segment(what, value)?;
        self.0.push('/');
        self.0.push_str(&encoded);
        Ok(self)
    }

    /// Appends a segment already encoded by [`segment`] (or made of several encoded parts
    /// joined by characters that need no escaping, such as the proxy target's `:`).
    pub(crate) fn push_encoded(mut self, encoded: &str) -> Self {
        self.0.push('/');
        self.0.push_str(encoded);
        self
    }

    /// The path text.
    pub(crate) fn finish(self) -> String {
        self.0
    }
}

/// The prefix of a group version: `/api/{version}` for the core group (`""`),
/// `/apis/{group}/{version}` otherwise.
pub(crate) fn group_version(group: &str, version: &str) -> Result<PathBuilder, Refused> {
    if group.is_empty() {
        PathBuilder::new().fixed("api").push("version", version)
    } else {
        PathBuilder::new()
            .fixed("apis")
            .push("group", group)?
            .push("version", version)
    }
}

/// Checks one segment of a path given as encoded text: returns its decoded bytes.
fn decoded_segment(seg: &str) -> Result<Cow<'_, [u8]>, PathProblem> {
    let bytes = seg.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if b == b'%' {
            let hex = bytes.get(i + 1..i + 3).unwrap_or_default();
            if hex.len() != 2 || !hex.iter().all(u8::is_ascii_hexdigit) {
                return Err(PathProblem::NotEncoded);
            }
            i += 3;
        } else if !kept_in_segment(b) {
            return Err(PathProblem::NotEncoded);
        } else {
            i += 1;
        }
    }
    let decoded: Cow<'_, [u8]> = percent_decode_str(seg).into();
    if &*decoded == b"." || &*decoded == b".." {
        return Err(PathProblem::DotSegment);
    }
    if decoded.contains(&b'/') {
        return Err(PathProblem::EncodedSlash);
    }
    Ok(decoded)
}

/// Checks a path given as already-encoded text (`/api/v1/namespaces/default/pods`): it
/// must start with `/`, and every segment must be non-empty, properly escaped, not a dot
/// segment (also as `%2e`) and not contain an escaped `/`.
pub(crate) fn check_encoded(what: &'static str, path: &str) -> Result<(), Refused> {
    let refuse = |problem| Refused::Path {
        what,
        path: path.to_owned(),
        problem,
    };
    let rest = path
        .strip_prefix('/')
        .ok_or_else(|| refuse(PathProblem::Relative))?;
    for seg in rest.split('/') {
        if seg.is_empty() {
            return Err(refuse(PathProblem::EmptySegment));
        }
        decoded_segment(seg).map_err(refuse)?;
    }
    Ok(())
}

/// The path on a proxied target (after `…/proxy/`), canonically re-encoded: `path` is
/// split at `/`; each segment is decoded (a `%` that starts no escape is taken as it is)
/// and encoded again as one segment, `%` included. A segment that is or decodes to `.` or
/// `..`, or that decodes to text containing `/`, is refused, so the result can never
/// climb out of the target's `proxy/` root. Empty segments (a trailing `/`) are kept.
pub(crate) fn proxied(path: &str) -> Result<String, Refused> {
    let refuse = |problem| Refused::Path {
        what: "proxied path",
        path: path.to_owned(),
        problem,
    };
    let rest = path.strip_prefix('/').unwrap_or(path);
    let mut out = String::with_capacity(rest.len());
    for (i, seg) in rest.split('/').enumerate() {
        if i > 0 {
            out.push('/');
        }
        let decoded: Cow<'_, [u8]> = percent_decode_str(seg).into();
        if &*decoded == b"." || &*decoded == b".." {
            return Err(refuse(PathProblem::DotSegment));
        }
        if decoded.contains(&b'/') {
            return Err(refuse(PathProblem::EncodedSlash));
        }
        out.extend(percent_encode(&decoded, SEGMENT));
    }
    Ok(out)
}

/// Bytes kept as they are in a query given as text: what neither `http::Uri` nor the
/// `url` crate changes (`%` is kept, as the query is already in encoded form).
const QUERY: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~')
    .remove(b'!')
    .remove(b'$')
    .remove(b'&')
    .remove(b'(')
    .remove(b')')
    .remove(b'*')
    .remove(b'+')
    .remove(b',')
    .remove(b';')
    .remove(b'=')
    .remove(b':')
    .remove(b'@')
    .remove(b'/')
    .remove(b'?')
    .remove(b'%');

/// A query given as text with every character outside the safe set escaped (`#`, spaces,
/// quotes, control and non-ASCII characters), so the server receives it as written.
pub(crate) fn query(query: &str) -> Cow<'_, str> {
    percent_encoding::utf8_percent_encode(query, QUERY).into()
}

#[cfg(test)]
mod tests;
