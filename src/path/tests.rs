use super::*;
use crate::api::{Request, RequestError, collection_path};
use proptest::prelude::*;

fn enc(value: &str) -> String {
    segment("name", value).unwrap().into_owned()
}

#[test]
fn names_the_apiserver_accepts_keep_their_characters() {
    for kept in [
        "system:controller:foo",
        "a@b",
        "a+b",
        "a~b",
        "a=b",
        "x.y-z_1",
        "...",
        "$&,;",
    ] {
        assert_eq!(enc(kept), kept);
    }
}

#[test]
fn everything_else_is_escaped() {
    let cases = [
        ("a b", "a%20b"),
        (
            "x\\..\\..\\..\\victim\\configmaps\\db",
            "x%5C..%5C..%5C..%5Cvictim%5Cconfigmaps%5Cdb",
        ),
        ("victim#", "victim%23"),
        ("victim?", "victim%3F"),
        ("victim\\", "victim%5C"),
        ("tab\there", "tab%09here"),
        ("nul\0", "nul%00"),
        ("ü", "%C3%BC"),
        ("!'()*", "%21%27%28%29%2A"),
        ("<>\"`{}|^[]", "%3C%3E%22%60%7B%7D%7C%5E%5B%5D"),
    ];
    for (value, want) in cases {
        assert_eq!(enc(value), want, "{value:?}");
    }
}

#[test]
fn values_that_cannot_be_one_segment_are_refused() {
    for bad in ["", ".", "..", "a/b", "/", "%2F", "%2e%2e", "%", "a%20b"] {
        assert_eq!(
            segment("namespace", bad),
            Err(Refused::Segment {
                what: "namespace",
                value: bad.to_owned()
            }),
            "{bad:?}"
        );
    }
}

#[test]
fn group_version_prefixes() {
    assert_eq!(group_version("", "v1").unwrap().finish(), "/api/v1");
    assert_eq!(
        group_version("apps", "v1").unwrap().finish(),
        "/apis/apps/v1"
    );
    assert!(matches!(
        group_version("", ""),
        Err(Refused::Segment {
            what: "version",
            ..
        })
    ));
    assert!(matches!(
        group_version("..", "v1"),
        Err(Refused::Segment { what: "group", .. })
    ));
    assert!(matches!(
        group_version("a/b", "v1"),
        Err(Refused::Segment { what: "group", .. })
    ));
}

#[test]
fn encoded_paths_are_checked() {
    for good in [
        "/api/v1/namespaces/default/pods",
        "/api/v1/namespaces/a%20b/configmaps",
        "/apis/rbac.authorization.k8s.io/v1/clusterroles/system:test",
    ] {
        assert_eq!(check_encoded("collection path", good), Ok(()), "{good}");
    }
    let cases = [
        ("api/v1/pods", PathProblem::Relative),
        ("/api/v1/namespaces/x/../pods", PathProblem::DotSegment),
        ("/api/v1/./pods", PathProblem::DotSegment),
        ("/api/v1/%2e%2E/pods", PathProblem::DotSegment),
        ("/api/v1/.%2e/pods", PathProblem::DotSegment),
        ("/api/v1/a%2Fb/pods", PathProblem::EncodedSlash),
        ("/api//v1", PathProblem::EmptySegment),
        ("/api/v1/pods/", PathProblem::EmptySegment),
        ("/api/v1/a\\b", PathProblem::NotEncoded),
        ("/api/v1/a#b", PathProblem::NotEncoded),
        ("/api/v1/a?b", PathProblem::NotEncoded),
        ("/api/v1/a b", PathProblem::NotEncoded),
        ("/api/v1/100%", PathProblem::NotEncoded),
        ("/api/v1/%zz", PathProblem::NotEncoded),
        ("/api/v1/ü", PathProblem::NotEncoded),
    ];
    for (path, problem) in cases {
        assert_eq!(
            check_encoded("collection path", path),
            Err(Refused::Path {
                what: "collection path",
                path: path.to_owned(),
                problem
            }),
            "{path}"
        );
    }
}

#[test]
fn proxied_paths_are_reencoded_and_cannot_climb() {
    let cases = [
        ("", ""),
        ("/", ""),
        ("/healthz", "healthz"),
        ("stats/summary", "stats/summary"),
        ("/dir/", "dir/"),
        ("/a b/c", "a%20b/c"),
        ("/a%20b/c", "a%20b/c"),
        ("/100%", "100%25"),
        ("/%41", "A"),
        ("/a\\..\\b", "a%5C..%5Cb"),
        ("/a#b", "a%23b"),
        ("/a//b", "a//b"),
        ("/...", "..."),
    ];
    for (input, want) in cases {
        assert_eq!(proxied(input).unwrap(), want, "{input:?}");
    }
    let refused = [
        ("/..", PathProblem::DotSegment),
        ("/../../secrets", PathProblem::DotSegment),
        ("/a/./b", PathProblem::DotSegment),
        ("/%2e%2e/x", PathProblem::DotSegment),
        ("/.%2E/x", PathProblem::DotSegment),
        ("/a%2F..%2Fb", PathProblem::EncodedSlash),
        ("/a%2fb", PathProblem::EncodedSlash),
    ];
    for (input, problem) in refused {
        assert_eq!(
            proxied(input),
            Err(Refused::Path {
                what: "proxied path",
                path: input.to_owned(),
                problem
            }),
            "{input:?}"
        );
    }
}

#[test]
fn queries_keep_what_is_safe_and_escape_the_rest() {
    assert_eq!(query("a=1&b=x%20y&c=/?:@"), "a=1&b=x%20y&c=/?:@");
    assert_eq!(query("q=a b#c'\"<>"), "q=a%20b%23c%27%22%3C%3E");
    assert_eq!(query("ü=\u{7f}"), "%C3%BC=%7F");
}

/// Characters that matter to URL parsers, plus arbitrary ones.
fn hostile() -> impl Strategy<Value = String> {
    let special = prop::sample::select(vec![
        '/', '\\', '#', '?', '%', '.', ' ', '\t', '\n', '\0', ':', '@', '+', '~', '=', ';', ',',
        '&', '$', '\'', '"', '<', '>', '[', ']', '{', '}', '|', '^', '`', 'a', 'Z', '2', 'e', 'E',
        'F', 'ü', '\u{7f}',
    ]);
    let one = prop_oneof![4 => special, 1 => any::<char>()];
    prop_oneof![
        prop::sample::select(vec![
            "", ".", "..", "%2e", "%2E%2e", ".%2e", "%2F", "a/b", "x\\..\\y",
        ])
        .prop_map(str::to_owned),
        prop::collection::vec(one, 0..10).prop_map(String::from_iter),
    ]
}

fn decode(seg: &str) -> String {
    percent_decode_str(seg).decode_utf8_lossy().into_owned()
}

/// The path is free of what parsers reinterpret, and survives `url` unchanged.
fn assert_canonical(path: &str) {
    assert!(path.starts_with('/'), "{path}");
    for bad in ['\\', '#', '?', ' ', '"', '<', '>', '`', '{', '}', '\''] {
        assert!(!path.contains(bad), "{path} contains {bad:?}");
    }
    assert!(path.chars().all(|c| c.is_ascii() && !c.is_ascii_control()));
    for seg in path[1..].split('/') {
        let d = decode(seg);
        assert!(d != "." && d != "..", "dot segment in {path}");
    }
    let url = url::Url::parse(&format!("https://h:6443/prefix{path}")).unwrap();
    assert_eq!(url.path(), format!("/prefix{path}"));
    assert_eq!(path.parse::<http::Uri>().unwrap().path(), path);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn one_segment_or_refused(value in hostile()) {
        match segment("name", &value) {
            Ok(encoded) => {
                prop_assert!(segment_allowed(&value));
                prop_assert!(!encoded.contains('/'));
                prop_assert_eq!(decode(&encoded), value.clone());
                assert_canonical(&format!("/{encoded}"));
            }
            Err(_) => prop_assert!(!segment_allowed(&value)),
        }
    }

    #[test]
    fn built_paths_give_back_their_segments(
        group in prop_oneof![Just(String::new()), hostile()],
        version in hostile(),
        namespace in hostile(),
        plural in hostile(),
        name in hostile(),
        sub in hostile(),
    ) {
        let Ok(collection) = collection_path(&group, &version, Some(&namespace), &plural) else {
            let all = [&version, &namespace, &plural];
            prop_assert!(
                (!group.is_empty() && !segment_allowed(&group))
                    || all.iter().any(|v| !segment_allowed(v))
            );
            return Ok(());
        };
        let req = Request::new(collection.clone());
        match req.get_subresource(&sub, &name) {
            Ok(built) => {
                let path = built.uri().path().to_owned();
                assert_canonical(&path);
                let segs: Vec<String> = path[1..].split('/').map(decode).collect();
                let mut want: Vec<String> = if group.is_empty() {
                    vec!["api".into(), version.clone()]
                } else {
                    vec!["apis".into(), group.clone(), version.clone()]
                };
                want.extend(["namespaces".into(), namespace, plural, name, sub]);
                prop_assert_eq!(segs, want);
            }
            Err(RequestError::InvalidName { what, value }) => {
                prop_assert!(matches!(what, "name" | "subresource"));
                prop_assert!(!segment_allowed(&value));
            }
            Err(e) => prop_assert!(false, "unexpected error {e}"),
        }
    }

    #[test]
    fn proxied_paths_stay_below_the_proxy_root(input in prop::collection::vec(hostile(), 0..5)) {
        let input = input.join("/");
        if let Ok(out) = proxied(&input) {
            let path = format!("/api/v1/namespaces/ns/pods/p/proxy/{out}");
            assert_canonical(&path);
            let url = url::Url::parse(&format!("https://h{path}")).unwrap();
            prop_assert!(url.path().starts_with("/api/v1/namespaces/ns/pods/p/proxy/"));
            // What the API server sees after decoding: no dot segment either.
            for seg in out.split('/') {
                let d = percent_decode_str(seg).collect::<Vec<u8>>();
                prop_assert!(d != b"." && d != b"..");
                prop_assert!(!d.contains(&b'/'));
            }
        }
    }
}
