//! The whole decision on a request target, routing through filter to the forwarded URL:
//! what the filter saw is exactly what the API server routes on, for every input.

use super::filter::Filter;
use super::options::ProxyOptions;
use super::route::{Route, Router, upstream_url};
use super::target::{BadTarget, clean_path, encode_path};
use proptest::prelude::*;

/// The default reject paths plus a few custom ones.
const REJECT: &str = "^/api/.*/pods/.*/exec,^/api/.*/pods/.*/attach,\
                      ^/api/v1/namespaces/kube-system,/secrets,^/apis/rbac";

/// The default filter with [`REJECT`], compiled once.
fn filter() -> &'static Filter {
    static FILTER: std::sync::LazyLock<Filter> = std::sync::LazyLock::new(|| {
        let options = ProxyOptions {
            reject_paths: REJECT.to_owned(),
            ..ProxyOptions::default()
        };
        options.compile_filter().unwrap().unwrap()
    });
    &FILTER
}

fn cluster() -> url::Url {
    "https://127.0.0.1:6443".parse().unwrap()
}

/// What Go's `net/http` makes of a path it receives (decode once; an invalid escape is
/// a 400 there), then Go's `cleanPath`, which the Kubernetes request resolver's
/// splitting at `/` amounts to for a path without empty or dot segments.
fn apiserver_view(forwarded: &str) -> String {
    let bytes = forwarded.as_bytes();
    for (i, b) in bytes.iter().enumerate() {
        if *b == b'%' {
            assert!(
                bytes.len() > i + 2
                    && bytes[i + 1].is_ascii_hexdigit()
                    && bytes[i + 2].is_ascii_hexdigit(),
                "invalid escape forwarded: {forwarded}"
            );
        }
    }
    let decoded = percent_encoding::percent_decode_str(forwarded)
        .decode_utf8()
        .expect("the forwarded path decodes to UTF-8");
    clean_path(&decoded)
}

/// What the upstream request's path becomes in our HTTP client (WHATWG URL parser, as
/// `Client` resolves absolute URIs) and in `http::Uri`.
fn client_paths(url: &str) -> (String, String) {
    let whatwg = url::Url::parse(url).expect("the upstream URL parses");
    let uri: http::Uri = url.parse().expect("the upstream URL is an http::Uri");
    (whatwg.path().to_owned(), uri.path().to_owned())
}

/// The decision for `GET raw?query` with `Host: localhost`: `Ok(path the filter saw)`
/// when it is forwarded, `Err(route)` otherwise.
fn decide(router: &Router, raw: &str, query: Option<&str>) -> Result<String, Route> {
    match router.route(raw, query) {
        Route::Api(path) if filter().accept("GET", &path, "localhost") => Ok(path),
        other => Err(other),
    }
}

/// Checks every promise about a forwarded path; returns the upstream URL.
fn assert_forwarded_consistently(seen: &str, query: Option<&str>) -> String {
    assert!(seen.starts_with('/'), "{seen}");
    assert_eq!(clean_path(seen), seen, "the filter saw a clean path");
    let url = upstream_url(&cluster(), false, seen, query);
    let forwarded = encode_path(seen);
    let (whatwg, uri) = client_paths(&url);
    assert_eq!(whatwg, forwarded, "the client's URL parser changed {url}");
    assert_eq!(uri, forwarded, "http::Uri changed {url}");
    // Behind a server path (`append_server_path`), the same path follows it unchanged.
    let sub: url::Url = "https://example.test/k8s/clusters/c1".parse().unwrap();
    let behind = upstream_url(&sub, true, seen, query);
    assert_eq!(
        client_paths(&behind).0,
        format!("/k8s/clusters/c1{forwarded}"),
        "the client's URL parser changed {behind}"
    );
    let view = apiserver_view(&forwarded);
    assert_eq!(
        view, seen,
        "the API server routes on another path than the filter saw"
    );
    assert!(
        filter().accept("GET", &view, "localhost"),
        "the API server's path {view} matches a reject rule"
    );
    url
}

#[test]
fn every_exec_and_attach_variant_is_refused_or_redirected_to_a_refusal() {
    let router = Router::new("/", None);
    let tail = "namespaces/default/pods/p";
    let variants = [
        format!(r"/api\v1/{tail}/exec"),
        r"/api/v1/namespaces/default/pods\p\exec".to_owned(),
        format!(r"/api/v1/{tail}\exec"),
        format!(r"\api/v1/{tail}/exec"),
        format!("/api%5Cv1/{tail}/exec"),
        format!("/api%5cv1/{tail}/attach"),
        format!("/api/v1/{tail}%2Fexec"),
        format!("/api%2Fv1%2F{tail}%2Fattach"),
        format!("/api/v1/{tail}/%65xec"),
        format!("/api/v1/{tail}/%65%78%65%63"),
        format!("/api/v1/{tail}/x/%2e%2e/exec"),
        format!("/api/v1/{tail}/x/%2E%2E%2Fexec"),
        format!("/apis/%2e%2e/api/v1/{tail}/attach"),
        format!("/api/v1/{tail}/./exec"),
        format!("/api/v1/{tail}/.%2fexec"),
        format!("//api//v1//{tail}//exec"),
        format!("/api/v1/{tail}/exec;x=1"),
        format!("/api/v1/{tail};x=1/exec"),
        format!("/api/v1/{tail}/exec%00"),
        format!("/api/v1/{tail}/exec/"),
        format!("/api/v1/{tail}/exec%3Fx"),
        format!("/api/v1/{tail}/exec%23x"),
    ];
    for raw in &variants {
        let mut target = raw.clone();
        let mut refused = false;
        for _ in 0..3 {
            match decide(&router, &target, Some("command=sh")) {
                Ok(seen) => panic!("{raw} was forwarded as {seen}"),
                Err(Route::Redirect(location)) => {
                    target = location
                        .split_once('?')
                        .map_or(location.clone(), |(p, _)| p.to_owned());
                }
                Err(Route::BadRequest(_) | Route::Api(_)) => {
                    refused = true;
                    break;
                }
                Err(other) => panic!("{raw}: unexpected {other:?}"),
            }
        }
        assert!(refused, "{raw}: redirected without end");
    }
}

#[test]
fn double_encoding_and_case_reach_the_api_server_as_the_filter_saw_them() {
    let router = Router::new("/", None);
    for raw in [
        "/api/v1/namespaces/default/pods/p/%2565xec",
        "/api/v1/namespaces/default/configmaps/%252e%252e",
        "/api/v1/namespaces/default/pods/p%252Fexec",
        "/API/v1/namespaces/default/pods/p/exec",
        "/api/v1/namespaces/default/pods/p/EXEC",
        "/api/v1/namespaces/default/pods/p/ex%20ec",
    ] {
        let seen = decide(&router, raw, None).unwrap_or_else(|r| panic!("{raw}: {r:?}"));
        let url = assert_forwarded_consistently(&seen, None);
        // None of these is the exec subresource for the API server.
        assert!(
            !url.ends_with(":6443/api/v1/namespaces/default/pods/p/exec"),
            "{url}"
        );
    }
    assert_eq!(
        decide(
            &router,
            "/api/v1/namespaces/default/configmaps/%252e%252e",
            None
        ),
        Ok("/api/v1/namespaces/default/configmaps/%2e%2e".to_owned())
    );
    // The filter matches on the decoded text, so `%2e%2e` before `exec` is refused.
    assert!(
        decide(
            &router,
            "/api/v1/namespaces/default/pods/p/%252e%252e/exec",
            None
        )
        .is_err()
    );
    assert_eq!(
        upstream_url(&cluster(), false, "/api/v1/x/%2e%2e/exec", Some("a=1")),
        "https://127.0.0.1:6443/api/v1/x/%252e%252e/exec?a=1"
    );
}

#[test]
fn the_server_path_is_kept_before_the_canonical_path() {
    let sub: url::Url = "https://example.test/k8s/clusters/c1".parse().unwrap();
    assert_eq!(
        upstream_url(&sub, true, "/api/v1/a b", None),
        "https://example.test/k8s/clusters/c1/api/v1/a%20b"
    );
}

/// Pieces that request targets are made of, chosen to collide with every parser quirk.
const PIECES: &[&str] = &[
    "/",
    "/",
    "/",
    "//",
    ".",
    "..",
    "%2e",
    "%2E",
    "%2e%2e",
    "%2f",
    "%2F",
    "%25",
    "%252e",
    "%252F",
    "%255C",
    ";",
    ";x=1",
    "api",
    "api",
    "apis",
    "v1",
    "namespaces",
    "default",
    "kube-system",
    "pods",
    "pods",
    "p",
    "exec",
    "exec",
    "attach",
    "EXEC",
    "%65xec",
    "%61ttach",
    "secrets",
    "rbac",
    "a",
    "%C3%A9",
    "?",
    "#",
    " ",
    "%20",
    "+",
    "custom",
];

/// Pieces that make a target refused outright (400).
const BAD_PIECES: &[&str] = &[
    "\\", "%5c", "%5C", "%00", "%0a", "%7f", "%", "%zz", "%ff", "é", "\t",
];

fn raw_target() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        12 => prop::sample::select(PIECES),
        1 => prop::sample::select(BAD_PIECES),
    ];
    prop::collection::vec(piece, 1..14).prop_map(|pieces| {
        let mut raw = pieces.concat();
        if !raw.starts_with('/') {
            raw.insert(0, '/');
        }
        raw
    })
}

/// An exec/attach/secrets path whose separators and segments are disguised one by one.
fn disguised_target() -> impl Strategy<Value = String> {
    // Mostly plain, so that most targets reach the filter; each disguise now and then.
    const SEPARATORS: &[&str] = &[
        "/",
        "/",
        "/",
        "/",
        "/",
        "/",
        "/",
        "/",
        "/",
        "/",
        "/",
        "/",
        "/",
        "/",
        "//",
        "/./",
        "%2F",
        "%2f",
        "/x/../",
        "/x/%2e%2e/",
        "/%2E/",
        ";x=1/",
        "/%252F",
        "%252F",
        "/%2e%2E",
        "/.%2e/",
        "%2F.%2F",
        "/;/",
        "\\",
        "%5C",
    ];
    let segment = |plain: &'static str, disguises: &'static [&'static str]| {
        prop::sample::select(disguises).prop_map(move |d| if d.is_empty() { plain } else { d })
    };
    (
        prop::collection::vec(prop::sample::select(SEPARATORS), 7),
        segment("api", &["", "", "API", "%61pi", "ap%69", "%2561pi"]),
        segment("v1", &["", "", "V1", "%76%31"]),
        segment("namespaces", &["", "", "%6eamespaces"]),
        segment(
            "default",
            &["", "kube-system", "kube%2Dsystem", "default;x"],
        ),
        segment("pods", &["", "", "secrets", "%70ods", "pods;x=1"]),
        segment(
            "exec",
            &[
                "", "attach", "%65xec", "%2565xec", "EXEC", "exec%00", "exec;x", "ex%20ec",
            ],
        ),
    )
        .prop_map(|(seps, api, v1, ns_word, ns, pods, sub)| {
            let raw = format!(
                "{}{api}{}{v1}{}{ns_word}{}{ns}{}{pods}{}p{}{sub}",
                seps[0], seps[1], seps[2], seps[3], seps[4], seps[5], seps[6]
            );
            if raw.starts_with('/') {
                raw
            } else {
                format!("/{raw}")
            }
        })
}

fn raw_query() -> impl Strategy<Value = Option<String>> {
    prop::option::of(
        prop::collection::vec(
            prop::sample::select(
                &[
                    "command=sh",
                    "&",
                    "=",
                    "%2F",
                    "x",
                    "%zz",
                    "%5C",
                    "a=b",
                    "..",
                    "/",
                    "\\",
                    "é",
                ][..],
            ),
            0..4,
        )
        .prop_map(|p| p.concat()),
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// For any target the proxy forwards, the path it forwards, read the way the API
    /// server reads it, is exactly the path the filter accepted (and so matches no
    /// reject rule); URL parsers on the way leave it alone.
    #[test]
    fn forwarded_path_is_what_the_filter_saw(
        raw in prop_oneof![raw_target(), disguised_target()],
        query in raw_query(),
        custom_prefix in any::<bool>(),
    ) {
        let router = if custom_prefix {
            Router::new("/custom", None)
        } else {
            Router::new("/", None)
        };
        let raw = if custom_prefix { format!("/custom{raw}") } else { raw };
        match router.route(&raw, query.as_deref()) {
            Route::Api(seen) => {
                prop_assert!(!raw.contains('\\'));
                if filter().accept("GET", &seen, "localhost") {
                    assert_forwarded_consistently(&seen, query.as_deref());
                }
            }
            Route::Redirect(location) => {
                // One more hop at most (a prefix without its slash) ends the redirects,
                // and the location itself is a valid target.
                let (path, q) = match location.split_once('?') {
                    Some((p, q)) => (p.to_owned(), Some(q.to_owned())),
                    None => (location.clone(), None),
                };
                match router.route(&path, q.as_deref()) {
                    Route::BadRequest(bad) => prop_assert!(false, "{location}: {bad}"),
                    Route::Api(seen) if filter().accept("GET", &seen, "localhost") => {
                        assert_forwarded_consistently(&seen, q.as_deref());
                    }
                    Route::Redirect(again) => {
                        prop_assert!(again.starts_with(&format!("{path}/")), "{again}");
                        prop_assert!(!again.contains("//"), "{again}");
                    }
                    _ => {}
                }
            }
            Route::BadRequest(bad) => {
                let decoded_bad = matches!(
                    bad,
                    BadTarget::EncodedBackslash
                        | BadTarget::EncodedControl
                        | BadTarget::InvalidEscape
                        | BadTarget::NotUtf8
                );
                let raw_bad = raw.bytes().chain(query.iter().flat_map(|q| q.bytes()))
                    .any(|b| b == b'\\' || !(0x20..0x7f).contains(&b));
                prop_assert!(decoded_bad || raw_bad, "{raw}: {bad}");
            }
            Route::NotFound | Route::Static(_) => {}
        }
    }
}
