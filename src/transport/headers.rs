//! Headers sent with every request: User-Agent, impersonation, the config's extra headers.
//! Pure functions, no I/O.

use super::TransportError;
use crate::config::Impersonation;
use http::header::{HeaderMap, HeaderName, HeaderValue};

/// The default User-Agent, in client-go's format:
/// `<binary>/<version> (<os>/<arch>) k8s-client/<version>`.
///
/// `<binary>` is the current executable's file name; `<version>` is this crate's version
/// (a library cannot know its host program's version); os and arch use Go's names
/// (`linux/amd64`, `darwin/arm64`) so server-side tooling that parses client-go agents
/// understands ours.
pub fn default_user_agent() -> String {
    let binary = std::env::current_exe()
        .ok()
        .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
        .unwrap_or_else(|| "unknown".to_owned());
    user_agent_for(&binary, std::env::consts::OS, std::env::consts::ARCH)
}

fn user_agent_for(binary: &str, os: &str, arch: &str) -> String {
    // Go's names for OS and architecture.
    let os = match os {
        "macos" => "darwin",
        other => other,
    };
    let arch = match arch {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "386",
        "powerpc64" => "ppc64",
        "loongarch64" => "loong64",
        other => other,
    };
    // Like client-go's adjustCommand: keep the name only, and make it header-safe.
    let binary: String = binary
        .chars()
        .map(|c| {
            if c.is_ascii_graphic() && c != '/' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let version = env!("CARGO_PKG_VERSION");
    format!("{binary}/v{version} ({os}/{arch}) k8s-client/v{version}")
}

/// `Impersonate-User`, `Impersonate-Uid`, `Impersonate-Group` (one header each) and
/// `Impersonate-Extra-<key>` (one header per value, the key percent-encoded as client-go
/// does so that any string survives as a header name).
pub fn impersonation_headers(imp: &Impersonation) -> Result<HeaderMap, TransportError> {
    let mut headers = HeaderMap::new();
    let value = |name: &str, v: &str| {
        HeaderValue::from_str(v).map_err(|_| TransportError::InvalidHeader {
            name: name.to_owned(),
        })
    };
    if let Some(user) = &imp.user {
        headers.append("impersonate-user", value("Impersonate-User", user)?);
    }
    if let Some(uid) = &imp.uid {
        headers.append("impersonate-uid", value("Impersonate-Uid", uid)?);
    }
    for group in &imp.groups {
        headers.append("impersonate-group", value("Impersonate-Group", group)?);
    }
    for (key, values) in &imp.extra {
        let name = format!("Impersonate-Extra-{}", escape_header_key(key));
        let header = HeaderName::from_bytes(name.as_bytes())
            .map_err(|_| TransportError::InvalidHeader { name: name.clone() })?;
        for v in values {
            headers.append(header.clone(), value(&name, v)?);
        }
    }
    Ok(headers)
}

/// Percent-encodes every byte that is not an RFC 7230 `tchar`, and `%` itself (so the
/// server can unescape unambiguously), like client-go's `headerKeyEscape`.
fn escape_header_key(key: &str) -> String {
    let mut out = String::with_capacity(key.len());
    for b in key.bytes() {
        if is_tchar(b) && b != b'%' {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// Parses the text of a `Warning` header (RFC 7234 `warn-code SP warn-agent SP
/// warn-text [SP warn-date]`), as the API server sends them: `299 - "message"`.
/// Returns `None` for codes other than 299 or a malformed value, like client-go.
pub fn parse_warning(value: &str) -> Option<String> {
    let rest = value.trim().strip_prefix("299 ")?;
    let rest = rest.trim_start();
    let agent_end = rest.find(' ')?;
    let text = rest[agent_end..].trim_start().strip_prefix('"')?;
    let mut out = String::new();
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => out.push(chars.next()?),
            '"' => return Some(out),
            c => out.push(c),
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_agent_has_client_go_shape() {
        let v = env!("CARGO_PKG_VERSION");
        assert_eq!(
            user_agent_for("kubectl-foo", "linux", "x86_64"),
            format!("kubectl-foo/v{v} (linux/amd64) k8s-client/v{v}")
        );
        assert_eq!(
            user_agent_for("my app", "macos", "aarch64"),
            format!("my_app/v{v} (darwin/arm64) k8s-client/v{v}")
        );
        assert!(HeaderValue::from_str(&default_user_agent()).is_ok());
    }

    #[test]
    fn impersonation_headers_are_complete() {
        let imp = Impersonation {
            user: Some("jane".into()),
            uid: Some("42".into()),
            groups: vec!["devs".into(), "ops".into()],
            extra: vec![
                ("scopes".into(), vec!["view".into(), "edit".into()]),
                ("example.com/needs escape%".into(), vec!["x".into()]),
            ],
        };
        let h = impersonation_headers(&imp).unwrap();
        assert_eq!(h["impersonate-user"], "jane");
        assert_eq!(h["impersonate-uid"], "42");
        let groups: Vec<_> = h.get_all("impersonate-group").iter().collect();
        assert_eq!(groups, ["devs", "ops"]);
        let scopes: Vec<_> = h.get_all("impersonate-extra-scopes").iter().collect();
        assert_eq!(scopes, ["view", "edit"]);
        assert_eq!(h["impersonate-extra-example.com%2Fneeds%20escape%25"], "x");
        assert_eq!(h.len(), 7);
    }

    #[test]
    fn impersonation_rejects_invalid_values() {
        let imp = Impersonation {
            user: Some("bad\nname".into()),
            ..Impersonation::default()
        };
        assert!(matches!(
            impersonation_headers(&imp),
            Err(TransportError::InvalidHeader { name }) if name == "Impersonate-User"
        ));
    }

    #[test]
    fn escapes_like_client_go() {
        assert_eq!(escape_header_key("abc-DEF_1.2"), "abc-DEF_1.2");
        assert_eq!(escape_header_key("a/b c%"), "a%2Fb%20c%25");
        assert_eq!(escape_header_key("ü"), "%C3%BC");
    }

    #[test]
    fn parses_warning_headers() {
        assert_eq!(
            parse_warning(r#"299 - "v1 ComponentStatus is deprecated""#).as_deref(),
            Some("v1 ComponentStatus is deprecated")
        );
        assert_eq!(
            parse_warning(r#"299 - "say \"hi\"" "Sat, 01 Jan 2000 00:00:00 GMT""#).as_deref(),
            Some(r#"say "hi""#)
        );
        assert_eq!(parse_warning(r#"199 - "misc""#), None);
        assert_eq!(parse_warning(r#"299 - "unterminated"#), None);
        assert_eq!(parse_warning("garbage"), None);
    }
}
