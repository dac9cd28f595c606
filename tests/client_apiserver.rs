//! The client against a real kube-apiserver (testenv): TLS verification, client
//! certificates, tokens, typed 401/403 errors, the 401 refresh rule, impersonation,
//! server warnings, HTTP/2 and the rate limiter.
#![cfg(feature = "testenv")]

mod support;

use k8s_client::auth::{AuthError, AuthProvider, BoxFuture, ClientIdentity, Credential};
use k8s_client::config::{AuthConfig, ClientCertificate, Impersonation, KeySource, PemSource};
use k8s_client::testenv::TestEnv;
use k8s_client::transport::{ProxyEnv, TransportError};
use k8s_client::{Client, Config, Error, SecretBytes, SecretString};
use serde_json::{Value, json};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use support::auth::key_fixture;
use support::auth::{direct_client, direct_client_with};
use support::logs::LogBuffer;
use support::requests::get;
use support::requests::whoami;

/// The admin token, the environment's CA, no proxy.
fn token_config(env: &TestEnv) -> Config {
    let mut c = Config::new(env.server_url().parse().unwrap());
    c.tls.ca = Some(PemSource::File(env.ca_path().to_owned()));
    c.auth = AuthConfig::Token(env.admin_token().clone());
    c
}

/// `GET /version`, for `Client::send`.
fn version_request() -> http::Request<k8s_client::client::Body> {
    http::Request::get("/version")
        .body(Default::default())
        .unwrap()
}

/// Sends `GET /version` and checks that the answer came over `protocol` and names a
/// server version.
async fn version_over(client: &Client, protocol: http::Version, context: &str) {
    let resp = client.send(version_request()).await.expect(context);
    assert_eq!(resp.version(), protocol, "{context}");
    let body = resp.into_body().collect_bytes().await.unwrap();
    let version: Value = serde_json::from_slice(&body).unwrap();
    assert!(
        version["gitVersion"].as_str().unwrap().starts_with('v'),
        "{context}"
    );
}

#[tokio::test]
async fn static_token_over_http2() {
    let Some(env) = support::env::control_plane() else {
        return;
    };
    let client = direct_client(token_config(env));
    let list: Value = client.request(get("/api/v1/namespaces")).await.unwrap();
    assert_eq!(list["kind"], "NamespaceList");
    let user = whoami(&client).await.unwrap();
    assert_eq!(user["username"], k8s_client::testenv::TOKEN_USER);
    version_over(&client, http::Version::HTTP_2, "ALPN picks h2").await;
}

#[tokio::test]
async fn wrong_ca_is_a_clear_tls_error() {
    let Some(env) = support::env::control_plane() else {
        return;
    };
    let other_ca = rcgen::generate_simple_self_signed(vec!["other-ca".to_owned()]).unwrap();
    let mut config = token_config(env);
    config.tls.ca = Some(PemSource::Data(other_ca.cert.pem().into_bytes()));
    let err = direct_client(config)
        .request::<Value>(get("/api"))
        .await
        .unwrap_err();
    let Error::Transport(TransportError::Tls { url, .. }) = &err else {
        panic!("expected a TLS error, got {err:?}");
    };
    assert_eq!(url, &format!("{}/api", env.server_url()));
    let chain = error_chain(&err);
    assert!(
        chain.contains("TLS handshake with https://127.0.0.1:"),
        "{chain}"
    );
    assert!(chain.contains("UnknownIssuer"), "{chain}");
}

#[tokio::test]
async fn tls_server_name_verifies_against_that_name() {
    let Some(env) = support::env::control_plane() else {
        return;
    };
    let mut config = token_config(env);
    config.tls.tls_server_name = Some("localhost".to_owned());
    assert!(config.cluster_url.host_str() == Some("127.0.0.1"));
    let _: Value = direct_client(config.clone())
        .request(get("/api"))
        .await
        .unwrap();

    config.tls.tls_server_name = Some("not-in-the-certificate.example".to_owned());
    let err = direct_client(config)
        .request::<Value>(get("/api"))
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::Transport(TransportError::Tls { .. })),
        "{err:?}"
    );
    assert!(
        error_chain(&err).contains("NotValidForName"),
        "{}",
        error_chain(&err)
    );
}

#[tokio::test]
async fn insecure_skip_tls_verify_works_and_warns() {
    let Some(env) = support::env::control_plane() else {
        return;
    };
    let mut config = token_config(env);
    config.tls.ca = None;
    config.tls.insecure_skip_tls_verify = true;
    LogBuffer::global();
    let logs = LogBuffer::default();
    let subscriber = logs.subscriber();
    let client = tracing::subscriber::with_default(subscriber, || {
        Client::builder(config).proxy_env(ProxyEnv::none()).build()
    })
    .unwrap();
    let list: Value = client.request(get("/api/v1/namespaces")).await.unwrap();
    assert_eq!(list["kind"], "NamespaceList");
    let text = logs.text();
    assert!(text.contains("WARN"), "{text}");
    assert!(text.contains("insecure-skip-tls-verify"), "{text}");
    assert!(!text.contains(env.admin_token().expose_secret()));
}

fn cert_config(env: &TestEnv, cert: PemSource, key: KeySource) -> Config {
    let mut c = Config::new(env.server_url().parse().unwrap());
    c.tls.ca = Some(PemSource::Data(env.ca_pem().as_bytes().to_vec()));
    c.tls.client_certificate = Some(ClientCertificate { cert, key });
    c
}

#[tokio::test]
async fn client_certificates_with_rsa_and_ec_keys() {
    let Some(env) = support::env::control_plane() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    for (key_file, pkcs8_file) in [
        ("rsa-pkcs1.key", "rsa-pkcs8.key"),
        ("rsa-pkcs8.key", "rsa-pkcs8.key"),
        ("ec-sec1.key", "ec-pkcs8.key"),
        ("ec-pkcs8.key", "ec-pkcs8.key"),
    ] {
        let user = format!("user-{}", key_file.trim_end_matches(".key"));
        let cert = env
            .sign_client_certificate(&key_fixture(pkcs8_file), &user, Some("system:masters"))
            .unwrap();
        // From files for the keys, inline for the certificates.
        let key_path = dir.path().join(key_file);
        std::fs::write(&key_path, key_fixture(key_file)).unwrap();
        let config = cert_config(
            env,
            PemSource::Data(cert.into_bytes()),
            KeySource::File(key_path),
        );
        let who = whoami(&direct_client(config)).await.unwrap();
        assert_eq!(who["username"], user.as_str(), "{key_file}");
        assert!(
            who["groups"]
                .as_array()
                .unwrap()
                .contains(&json!("system:masters")),
            "{who}"
        );
    }
}

#[tokio::test]
async fn changed_certificate_files_are_read_again() {
    let Some(env) = support::env::control_plane() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let cert_path = dir.path().join("client.crt");
    let key_path = dir.path().join("client.key");
    std::fs::write(
        &cert_path,
        env.sign_client_certificate(
            &key_fixture("ec-pkcs8.key"),
            "first",
            Some("system:masters"),
        )
        .unwrap(),
    )
    .unwrap();
    std::fs::write(&key_path, key_fixture("ec-pkcs8.key")).unwrap();
    let client = direct_client(cert_config(
        env,
        PemSource::File(cert_path.clone()),
        KeySource::File(key_path.clone()),
    ));
    assert_eq!(whoami(&client).await.unwrap()["username"], "first");

    // Rotate to another key and user, written as a new file then renamed into place.
    let tmp = dir.path().join("next.key");
    std::fs::write(&tmp, key_fixture("rsa-pkcs1.key")).unwrap();
    std::fs::rename(&tmp, &key_path).unwrap();
    let tmp = dir.path().join("next.crt");
    std::fs::write(
        &tmp,
        env.sign_client_certificate(
            &key_fixture("rsa-pkcs8.key"),
            "second",
            Some("system:masters"),
        )
        .unwrap(),
    )
    .unwrap();
    std::fs::rename(&tmp, &cert_path).unwrap();

    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        // A request between the two renames may see a mismatched pair; the client keeps
        // the previous identity then, so every answer here is one of the two users.
        let who = whoami(&client).await.unwrap();
        if who["username"] == "second" {
            break;
        }
        assert_eq!(who["username"], "first");
        assert!(
            Instant::now() < deadline,
            "the rotated certificate was never used"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test]
async fn unauthorized_and_forbidden_carry_the_servers_status() {
    let Some(env) = support::env::control_plane() else {
        return;
    };
    let mut config = token_config(env);
    config.auth = AuthConfig::Token(SecretString::from("not-a-valid-token"));
    let err = direct_client(config)
        .request::<Value>(get("/api/v1/namespaces"))
        .await
        .unwrap_err();
    assert!(err.is_unauthorized(), "{err:?}");
    let status = err.api().unwrap().status.clone().unwrap();
    assert_eq!(status.reason.as_deref(), Some("Unauthorized"));
    assert_eq!(status.code, Some(401));
    assert!(!format!("{err:?}").contains("not-a-valid-token"));

    let mut config = token_config(env);
    config.auth = AuthConfig::Token(env.noperm_token().clone());
    let err = direct_client(config)
        .request::<Value>(get("/api/v1/namespaces/default/secrets"))
        .await
        .unwrap_err();
    assert!(err.is_forbidden(), "{err:?}");
    assert_eq!(err.reason(), Some("Forbidden"));
    let message = err
        .message()
        .expect("the server's Status carries a message");
    assert!(
        message.contains("cannot list resource \"secrets\""),
        "{message}"
    );
    assert!(err.to_string().contains("403 Forbidden"), "{err}");
}

/// Hands out a rejected token first, then the real one; counts fetches and 401 reports.
#[derive(Debug)]
struct Rotating {
    good: SecretString,
    fetches: AtomicUsize,
    rejected: AtomicUsize,
}

impl AuthProvider for Rotating {
    fn name(&self) -> &str {
        "rotating"
    }
    fn fetch(&self) -> BoxFuture<'_, Result<Credential, AuthError>> {
        Box::pin(async move {
            let n = self.fetches.fetch_add(1, Ordering::SeqCst);
            let token = if n == 0 {
                SecretString::from("stale-token")
            } else {
                self.good.clone()
            };
            Ok(Credential::bearer(token))
        })
    }
    fn unauthorized(&self, _rejected: &Credential) {
        self.rejected.fetch_add(1, Ordering::SeqCst);
    }
}

/// A client whose credentials come from a [`Rotating`] provider.
fn rotating_client(env: &TestEnv) -> (Client, Arc<Rotating>) {
    let provider = Arc::new(Rotating {
        good: env.admin_token().clone(),
        fetches: AtomicUsize::new(0),
        rejected: AtomicUsize::new(0),
    });
    let mut config = token_config(env);
    config.auth = AuthConfig::None;
    let client = direct_client_with(config, |b| b.auth_provider(provider.clone()));
    (client, provider)
}

#[tokio::test]
async fn a_401_refreshes_the_credential_and_retries_once() {
    let Some(env) = support::env::control_plane() else {
        return;
    };
    let (client, provider) = rotating_client(env);
    let list: Value = client.request(get("/api/v1/namespaces")).await.unwrap();
    assert_eq!(list["kind"], "NamespaceList");
    assert_eq!(provider.fetches.load(Ordering::SeqCst), 2);
    assert_eq!(provider.rejected.load(Ordering::SeqCst), 1);
    // The good credential is cached now.
    let _: Value = client.request(get("/api")).await.unwrap();
    assert_eq!(provider.fetches.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn a_401_to_a_streamed_body_is_returned_but_drops_the_credential() {
    let Some(env) = support::env::control_plane() else {
        return;
    };
    let (client, provider) = rotating_client(env);
    let chunks = futures_util::stream::iter([Ok::<_, std::io::Error>(bytes::Bytes::from_static(
        br#"{"apiVersion":"authentication.k8s.io/v1","kind":"SelfSubjectReview"}"#,
    ))]);
    let req = http::Request::post("/apis/authentication.k8s.io/v1/selfsubjectreviews")
        .header("content-type", "application/json")
        .body(k8s_client::client::Body::from_stream(chunks))
        .unwrap();
    // A streamed body cannot be sent twice: the 401 comes back as it is…
    let resp = client.send(req).await.unwrap();
    assert_eq!(resp.status(), http::StatusCode::UNAUTHORIZED);
    assert_eq!(provider.fetches.load(Ordering::SeqCst), 1);
    assert_eq!(provider.rejected.load(Ordering::SeqCst), 1);
    // …and the next request starts with a fresh credential.
    assert_eq!(
        whoami(&client).await.unwrap()["username"],
        k8s_client::testenv::TOKEN_USER
    );
    assert_eq!(provider.fetches.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn impersonation_reaches_the_server() {
    let Some(env) = support::env::control_plane() else {
        return;
    };
    let mut config = token_config(env);
    let mut imp = Impersonation::default();
    imp.user = Some("jane".into());
    imp.uid = Some("uid-1234".into());
    imp.groups = vec!["devs".into(), "ops".into()];
    imp.extra = vec![
        ("scopes".into(), vec!["view".into(), "edit".into()]),
        ("example.com/team name".into(), vec!["blue".into()]),
    ];
    config.impersonate = Some(imp);
    let who = whoami(&direct_client(config)).await.unwrap();
    assert_eq!(who["username"], "jane");
    assert_eq!(who["uid"], "uid-1234");
    let groups = who["groups"].as_array().unwrap();
    assert!(
        groups.contains(&json!("devs")) && groups.contains(&json!("ops")),
        "{who}"
    );
    assert_eq!(who["extra"]["scopes"], json!(["view", "edit"]));
    // The key was percent-encoded on the way and decoded by the server.
    assert_eq!(
        who["extra"]["example.com/team name"],
        json!(["blue"]),
        "{who}"
    );
}

#[tokio::test]
async fn server_warnings_reach_the_handler() {
    let Some(env) = support::env::control_plane() else {
        return;
    };
    let warnings = Arc::new(Mutex::new(Vec::<String>::new()));
    let sink = warnings.clone();
    let client = direct_client_with(token_config(env), |b| {
        b.warning_handler(move |w| sink.lock().unwrap().push(w.to_owned()))
    });
    let name = format!("warned-{}", std::process::id());
    let cm = json!({"apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": name}, "data": {"a": "b"}, "unknownTopLevel": 1});
    let req = http::Request::post("/api/v1/namespaces/default/configmaps?fieldValidation=Warn")
        .header("content-type", "application/json")
        .body(serde_json::to_vec(&cm).unwrap())
        .unwrap();
    let _: Value = client.request(req).await.unwrap();
    let del = http::Request::delete(format!("/api/v1/namespaces/default/configmaps/{name}"))
        .body(Vec::new())
        .unwrap();
    let _: Value = client.request(del).await.unwrap();
    let got = warnings.lock().unwrap().clone();
    assert!(
        got.iter()
            .any(|w| w.contains("unknown field \"unknownTopLevel\"")),
        "{got:?}"
    );
}

#[tokio::test]
async fn rate_limiter_spaces_requests() {
    let Some(env) = support::env::control_plane() else {
        return;
    };
    let client = direct_client_with(token_config(env), |b| b.rate_limit(4.0, 1));
    let started = Instant::now();
    for _ in 0..3 {
        let _: Value = client.request(get("/api")).await.unwrap();
    }
    // One token at once, then one every 250 ms: at least 500 ms for three requests.
    assert!(started.elapsed() >= Duration::from_millis(500));

    let bad = Client::builder(token_config(env))
        .rate_limit(0.0, 1)
        .build();
    assert!(matches!(
        bad,
        Err(Error::Transport(TransportError::InvalidRateLimit { .. }))
    ));
}

#[tokio::test]
async fn upgrade_refused_by_the_server_is_returned_as_a_response() {
    let Some(env) = support::env::control_plane() else {
        return;
    };
    let client = direct_client(token_config(env));
    let req = http::Request::post(
        "/api/v1/namespaces/default/pods/no-such-pod/exec?command=true&stdout=true",
    )
    .header("connection", "Upgrade")
    .header("upgrade", "SPDY/3.1")
    .header("x-stream-protocol-version", "v4.channel.k8s.io")
    .body(Default::default())
    .unwrap();
    match client.send_upgrade(req).await.unwrap() {
        k8s_client::client::UpgradeOutcome::Response(resp) => {
            assert_eq!(resp.status(), http::StatusCode::NOT_FOUND);
            let body = resp.into_body().collect_bytes().await.unwrap();
            let status: Value = serde_json::from_slice(&body).unwrap();
            assert_eq!(status["reason"], "NotFound");
        }
        other => panic!("expected the 404 answer, got {other:?}"),
    }
}

fn error_chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut out = err.to_string();
    let mut cur = err.source();
    while let Some(e) = cur {
        out.push_str(": ");
        out.push_str(&format!("{e} [{e:?}]"));
        cur = e.source();
    }
    out
}

/// Hands out client certificates, like an exec plugin that returns a certificate and key:
/// the first one already expired, so the next request fetches the second.
#[derive(Debug)]
struct CertPlugin {
    identities: Vec<ClientIdentity>,
    fetches: AtomicUsize,
}

impl AuthProvider for CertPlugin {
    fn name(&self) -> &str {
        "cert-plugin"
    }
    fn fetch(&self) -> BoxFuture<'_, Result<Credential, AuthError>> {
        Box::pin(async move {
            let n = self.fetches.fetch_add(1, Ordering::SeqCst);
            let mut credential = Credential::default();
            credential.client_identity = Some(self.identities[n.min(1)].clone());
            if n == 0 {
                credential.expires_at = Some(std::time::SystemTime::now());
            }
            Ok(credential)
        })
    }
}

#[tokio::test]
async fn client_identity_from_a_credential_is_used_and_rotated() {
    let Some(env) = support::env::control_plane() else {
        return;
    };
    let identity = |key: &str, user: &str| ClientIdentity {
        cert_pem: env
            .sign_client_certificate(&key_fixture("ec-pkcs8.key"), user, Some("system:masters"))
            .unwrap()
            .into_bytes(),
        key_pem: SecretBytes::from(key_fixture(key).into_bytes()),
    };
    let plugin = Arc::new(CertPlugin {
        identities: vec![
            identity("ec-sec1.key", "plugin-first"),
            identity("ec-pkcs8.key", "plugin-second"),
        ],
        fetches: AtomicUsize::new(0),
    });
    let mut config = Config::new(env.server_url().parse().unwrap());
    config.tls.ca = Some(PemSource::File(env.ca_path().to_owned()));
    let client = direct_client_with(config, |b| b.auth_provider(plugin.clone()));
    assert_eq!(whoami(&client).await.unwrap()["username"], "plugin-first");
    assert_eq!(whoami(&client).await.unwrap()["username"], "plugin-second");
    assert_eq!(whoami(&client).await.unwrap()["username"], "plugin-second");
    assert_eq!(plugin.fetches.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn no_secret_reaches_logs_debug_or_errors() {
    let Some(env) = support::env::control_plane() else {
        return;
    };
    // A process-wide subscriber first, so no callsite is cached as never enabled.
    LogBuffer::global();
    let logs = LogBuffer::default();
    let subscriber = logs.subscriber();
    // The test runtime is single-threaded: the connection tasks log here too.
    let _guard = tracing::subscriber::set_default(subscriber);
    let secrets = [env.admin_token().expose_secret(), "wrong-but-secret-token"];

    let client = direct_client(token_config(env));
    let _: Value = client.request(get("/api/v1/namespaces")).await.unwrap();
    let mut config = token_config(env);
    config.auth = AuthConfig::Token(SecretString::from(secrets[1]));
    let bad = direct_client(config);
    let err = bad.request::<Value>(get("/api")).await.unwrap_err();
    let mut seen = logs.text();
    seen.push_str(&format!(
        "{client:?}\n{bad:?}\n{err:?}\n{err}\n{}",
        error_chain(&err)
    ));
    seen.push_str(&format!("{:?}", Client::builder(token_config(env))));
    assert!(
        logs.text().contains("sending request"),
        "TRACE logging was captured"
    );
    for secret in secrets {
        assert!(!seen.contains(secret), "a secret leaked:\n{seen}");
    }
}

#[tokio::test]
async fn with_http2_off_every_request_goes_over_http1() {
    let Some(env) = support::env::control_plane() else {
        return;
    };
    // The direct route, and reqwest's (compression takes it).
    for gzip in [false, true] {
        let client = direct_client_with(token_config(env), |b| b.gzip(gzip).http2(false));
        version_over(&client, http::Version::HTTP_11, &format!("gzip {gzip}")).await;
        // Requests in flight together get connections of their own.
        let answers =
            futures_util::future::join_all((0..4).map(|_| client.send(version_request()))).await;
        for resp in answers {
            assert_eq!(resp.unwrap().version(), http::Version::HTTP_11);
        }
    }
    // Explicitly on, HTTP/2 is used whatever the environment says.
    let client = direct_client_with(token_config(env), |b| b.http2(true));
    version_over(&client, http::Version::HTTP_2, "explicitly on").await;
}

#[tokio::test]
async fn an_http2_health_check_of_any_length_leaves_connections_working() {
    let Some(env) = support::env::control_plane() else {
        return;
    };
    let forever = Duration::MAX;
    // Direct to hyper, and through reqwest (compression takes that route).
    for gzip in [false, true] {
        let client = direct_client_with(token_config(env), |b| {
            b.gzip(gzip)
                .http2(true)
                .http2_health_check(forever, forever)
        });
        for _ in 0..2 {
            version_over(&client, http::Version::HTTP_2, &format!("gzip {gzip}")).await;
        }
    }
}

#[tokio::test]
async fn whole_collection_lists_go_over_http1_unless_turned_off() {
    let Some(env) = support::env::control_plane() else {
        return;
    };
    let list = || {
        let mut req = http::Request::get("/api/v1/namespaces")
            .body(Default::default())
            .unwrap();
        req.extensions_mut()
            .insert(k8s_client::client::LargeResponse);
        req
    };
    let client = direct_client(token_config(env));
    let resp = client.send(list()).await.unwrap();
    assert_eq!(resp.version(), http::Version::HTTP_11);
    let body = resp.into_body().collect_bytes().await.unwrap();
    let namespaces: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(namespaces["kind"], "NamespaceList");
    // (Everything else shares HTTP/2: `static_token_over_http2`.)
    // Turned off, large answers share the HTTP/2 connection too.
    let shared = direct_client_with(token_config(env), |b| b.http1_for_large_responses(false));
    let resp = shared.send(list()).await.unwrap();
    assert_eq!(resp.version(), http::Version::HTTP_2);
    // The typed list marks itself when it has no limit; the answer is the same. (The
    // process-wide subscriber: a scoped one races with the other tests' callsites.)
    let logs = LogBuffer::global();
    type Namespaces = k8s_client::Api<k8s_openapi::api::core::v1::Namespace>;
    let names = |l: k8s_client::api::ObjectList<k8s_openapi::api::core::v1::Namespace>| {
        l.items
            .into_iter()
            .filter_map(|n| n.metadata.name)
            .collect::<Vec<_>>()
    };
    // A selector no other test uses names this test's requests in the shared log.
    let lp = k8s_client::api::ListParams::default().fields("metadata.name!=large-response-probe");
    let sent = |limited: bool| {
        let text = logs.text();
        let line = text
            .lines()
            .rfind(|l| {
                l.contains("sending request")
                    && l.contains("large-response-probe")
                    && l.contains("limit=1") == limited
            })
            .map(str::to_owned);
        line.unwrap_or_else(|| panic!("no request line (limit: {limited})"))
    };
    let whole = names(Namespaces::all(client.clone()).list(&lp).await.unwrap());
    assert!(sent(false).contains("large_response=true"));
    let via_h2 = names(Namespaces::all(shared).list(&lp).await.unwrap());
    assert!(whole.iter().any(|n| n == "default"));
    assert_eq!(whole, via_h2);
    let page = Namespaces::all(client)
        .list(&lp.clone().limit(1))
        .await
        .unwrap();
    assert_eq!(page.items.len(), 1);
    assert!(sent(true).contains("large_response=false"));
}
