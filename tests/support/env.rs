//! The control plane of the tests (testenv): one per test binary, shared by its tests,
//! with the one way to get an admin [`Client`] ([`admin_client`]) and a namespace per
//! test ([`unique_namespace`]).
//!
//! ```ignore
//! mod support;
//!
//! #[tokio::test]
//! async fn lists_pods() {
//!     let Some(env) = support::env::control_plane() else { return };
//!     let ns = support::env::unique_namespace(env, "pods").await;
//!     let client = support::env::admin_client(env);
//!     // …
//! }
//! ```
//!
//! Without binaries, [`control_plane`] prints one `skipping <test>: …` line and returns
//! `None`; under `K8S_CLIENT_TESTENV_REQUIRED=1` (set by `cargo xtask test`) it panics.

use crate::support::chain;
use k8s_client::config::{AuthConfig, ClientCertificate, KeySource, PemSource};
use k8s_client::testenv::{self, TestEnv, TestEnvError};
use k8s_client::{Client, ClientBuilder, Config};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, pem::PemObject};
use std::sync::atomic::{AtomicUsize, Ordering};

/// Set to `1` to turn a missing control plane into a test failure.
pub const REQUIRED_ENV: &str = "K8S_CLIENT_TESTENV_REQUIRED";

fn required() -> bool {
    std::env::var(REQUIRED_ENV).is_ok_and(|v| v == "1")
}

/// The control plane shared by every test of this binary, started on first use.
pub fn control_plane() -> Option<&'static TestEnv> {
    started(testenv::shared(), "the control plane")
}

/// The control plane with two simulated (kwok) nodes shared by every test of this
/// binary, for pods that run: exec, attach, logs, port-forward, cp.
pub fn nodes_env() -> Option<&'static TestEnv> {
    started(testenv::shared_with_nodes(), "the control plane with nodes")
}

fn started(
    env: Result<&'static TestEnv, &'static TestEnvError>,
    what: &str,
) -> Option<&'static TestEnv> {
    match env {
        Ok(env) => Some(env),
        Err(e) if !required() && binaries_missing(e) => {
            skip_line(&current_test(), e);
            None
        }
        Err(e) => panic!("{}: {what} did not start: {}", current_test(), chain(e)),
    }
}

/// Binaries for a private environment, or `None` (with the skip line) when missing.
pub fn binaries() -> Option<testenv::Binaries> {
    match testenv::Binaries::locate() {
        Ok(b) => Some(b),
        Err(e) if !required() => {
            skip_line(&current_test(), &e);
            None
        }
        Err(e) => panic!("{}: {}", current_test(), chain(&e)),
    }
}

/// Prints the skip line straight to stderr: the test harness captures `eprintln!` of
/// passing tests, and a skip must be visible.
fn skip_line(test: &str, e: &TestEnvError) {
    use std::io::Write;
    let _ = writeln!(
        std::io::stderr(),
        "skipping {test}: no control plane ({}); run cargo xtask testenv-install",
        e.to_string().lines().next().unwrap_or_default()
    );
}

fn binaries_missing(e: &TestEnvError) -> bool {
    matches!(
        e,
        TestEnvError::NotInstalled { .. }
            | TestEnvError::AssetsIncomplete { .. }
            | TestEnvError::MissingBinary { .. }
            | TestEnvError::NoCacheDir
    )
}

fn current_test() -> String {
    std::thread::current()
        .name()
        .unwrap_or("<unnamed test>")
        .to_owned()
}

/// A control plane of its own whose old resource versions expire quickly (no watch cache,
/// etcd compaction every second), for tests that need `410 Gone`.
pub async fn compacting_control_plane(binaries: testenv::Binaries) -> TestEnv {
    tokio::task::spawn_blocking(move || {
        TestEnv::builder()
            .binaries(binaries)
            .controller_manager(false)
            .apiserver_arg("--watch-cache=false")
            .apiserver_arg("--etcd-compaction-interval=1s")
            .start()
    })
    .await
    .unwrap()
    .expect("a compacting control plane")
}

/// The API server's port (of `env.server_url()`).
pub fn apiserver_port(env: &TestEnv) -> u16 {
    env.server_url()
        .parse::<url::Url>()
        .expect("the server URL is a URL")
        .port()
        .expect("the server URL has a port")
}

/// The server URL and CA of `env`, without credentials.
pub fn anonymous_config(env: &TestEnv) -> Config {
    let mut config = Config::new(env.server_url().parse().expect("server URL"));
    config.tls.ca = Some(PemSource::Data(env.ca_pem().as_bytes().to_vec()));
    config
}

/// The config of the admin: the client certificate of `system:masters`.
pub fn admin_config(env: &TestEnv) -> Config {
    let mut config = anonymous_config(env);
    config.tls.client_certificate = Some(ClientCertificate {
        cert: PemSource::Data(env.admin_cert_pem().as_bytes().to_vec()),
        key: KeySource::Data(env.admin_key_pem().clone()),
    });
    config
}

/// A client authenticated as the admin (client certificate, `system:masters`).
pub fn admin_client(env: &TestEnv) -> Client {
    Client::try_from(admin_config(env)).expect("admin client")
}

/// A client authenticated (bearer token) as the user without RBAC rights.
pub fn noperm_client(env: &TestEnv) -> Client {
    let mut config = anonymous_config(env);
    config.auth = AuthConfig::Token(env.noperm_token().clone());
    Client::try_from(config).expect("noperm client")
}

/// A client from the bearer-token kubeconfig of `env`.
pub fn token_client(env: &TestEnv) -> Client {
    Client::try_from(crate::support::kubeconfig_config(
        env.token_kubeconfig(),
        |_| {},
    ))
    .expect("token client")
}

/// A builder for an admin client over every API server of `env` (the first is the
/// cluster URL, the others extra endpoints), for the failover and soak tests.
pub fn all_apiservers(env: &TestEnv) -> ClientBuilder {
    let extra = env.apiserver_urls()[1..]
        .iter()
        .map(|u| u.parse().unwrap())
        .collect::<Vec<_>>();
    Client::builder(admin_config(env)).endpoints(extra)
}

/// Runs a blocking control-plane action (start, stop, kill) off the async runtime.
pub async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    tokio::task::spawn_blocking(f).await.unwrap()
}

/// testenv's secrets: both bearer tokens and the admin client key.
pub fn testenv_secrets(env: &TestEnv) -> Vec<String> {
    let mut secrets = vec![
        env.admin_token().expose_secret().to_owned(),
        env.noperm_token().expose_secret().to_owned(),
    ];
    secrets.extend(crate::support::logs::pem_body_lines(
        env.admin_key_pem().expose_secret(),
    ));
    secrets
}

/// How a raw test client authenticates.
pub enum Auth<'a> {
    /// No credentials.
    Anonymous,
    /// A client certificate and key (PEM).
    ClientCert {
        cert_pem: &'a [u8],
        key_pem: &'a [u8],
    },
    /// A bearer token.
    Bearer(&'a str),
}

/// A reqwest client trusting `ca_pem` and authenticating with `auth` (rustls, ring).
/// Test plumbing only, until every test can use our own `Client`.
pub fn raw_client(ca_pem: &[u8], auth: Auth<'_>) -> reqwest::Client {
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(ca_pem) {
        roots.add(cert.expect("CA PEM")).expect("CA certificate");
    }
    let builder = rustls::ClientConfig::builder_with_provider(
        rustls::crypto::ring::default_provider().into(),
    )
    .with_safe_default_protocol_versions()
    .expect("TLS versions")
    .with_root_certificates(roots);
    let mut headers = reqwest::header::HeaderMap::new();
    let tls = match auth {
        Auth::ClientCert { cert_pem, key_pem } => {
            let chain = CertificateDer::pem_slice_iter(cert_pem)
                .collect::<Result<Vec<_>, _>>()
                .expect("client certificate PEM");
            let key = PrivateKeyDer::from_pem_slice(key_pem).expect("client key PEM");
            builder
                .with_client_auth_cert(chain, key)
                .expect("client identity")
        }
        Auth::Bearer(token) => {
            let mut value = reqwest::header::HeaderValue::from_str(&format!("Bearer {token}"))
                .expect("token is a valid header value");
            value.set_sensitive(true);
            headers.insert(reqwest::header::AUTHORIZATION, value);
            builder.with_no_client_auth()
        }
        Auth::Anonymous => builder.with_no_client_auth(),
    };
    reqwest::Client::builder()
        .tls_backend_preconfigured(tls)
        .default_headers(headers)
        .build()
        .expect("reqwest client")
}

/// A raw reqwest client with the admin client certificate of `env`, for reading what
/// the server itself answers (not through our `Client`).
pub fn raw_admin(env: &TestEnv) -> reqwest::Client {
    raw_client(
        env.ca_pem().as_bytes(),
        Auth::ClientCert {
            cert_pem: env.admin_cert_pem().as_bytes(),
            key_pem: env.admin_key_pem().expose_secret(),
        },
    )
}

/// Creates a fresh namespace `<prefix>-<pid>-<n>` (as admin) and returns its name.
pub async fn unique_namespace(env: &TestEnv, prefix: &str) -> String {
    static COUNTER: AtomicUsize = AtomicUsize::new(0);
    let prefix: String = prefix
        .to_ascii_lowercase()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .take(40)
        .collect();
    let name = format!(
        "{}-{}-{}",
        prefix.trim_matches('-'),
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    );
    let body = serde_json::json!({
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": { "name": name },
    });
    let response = raw_admin(env)
        .post(format!("{}/api/v1/namespaces", env.server_url()))
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .body(body.to_string())
        .send()
        .await
        .expect("POST /api/v1/namespaces");
    let status = response.status();
    assert!(
        status.is_success(),
        "creating namespace {name}: {status}: {}",
        response.text().await.unwrap_or_default()
    );
    name
}

/// The body of `response` as JSON.
pub async fn json(response: reqwest::Response) -> serde_json::Value {
    let url = response.url().clone();
    let bytes = response.bytes().await.expect("reading the response body");
    serde_json::from_slice(&bytes).unwrap_or_else(|e| panic!("{url} did not answer JSON: {e}"))
}

/// Sends `request`, asserts a 2xx answer and returns its body as JSON.
pub async fn send_json(request: reqwest::RequestBuilder) -> serde_json::Value {
    let response = request.send().await.expect("sending the request");
    let status = response.status();
    let url = response.url().clone();
    let body = json(response).await;
    assert!(status.is_success(), "{url}: {status}: {body}");
    body
}
