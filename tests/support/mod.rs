//! Fixtures shared by the auth test suites: an exec test plugin, a local TLS OIDC issuer,
//! and JWT building.
#![allow(dead_code)]

use base64::Engine;
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// An unsigned JWT with `exp` = now + `valid_for` (negative: in the past) and a marker claim.
pub fn jwt(valid_for: i64, marker: &str) -> String {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let b = |s: String| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s);
    format!(
        "{}.{}.c2ln",
        b(r#"{"alg":"RS256","typ":"JWT"}"#.to_owned()),
        b(format!(
            r#"{{"iss":"test","sub":"{marker}","exp":{}}}"#,
            now + valid_for
        ))
    )
}

/// A test exec plugin: a shell script in a temp dir that appends a line to `runs` on
/// every run, dumps `KUBERNETES_EXEC_INFO`, its args and its stdin's target, then prints
/// `output` (or exits with `exit_code` after printing `output` to stdout and stderr).
/// If a file `then` exists, it replaces `output` after the run (the next run's answer).
pub struct Plugin {
    pub dir: tempfile::TempDir,
    pub script: PathBuf,
}

impl Plugin {
    pub fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let script = dir.path().join("test-plugin");
        std::fs::write(
            &script,
            r#"#!/bin/sh
d="$PLUGIN_DIR"
echo run >> "$d/runs"
printf '%s' "$KUBERNETES_EXEC_INFO" > "$d/info.json"
printf '%s\n' "$@" > "$d/args"
readlink /proc/self/fd/0 > "$d/stdin" 2>/dev/null || echo unknown > "$d/stdin"
echo $$ > "$d/pid"
if [ -f "$d/sleep" ]; then exec sleep "$(cat "$d/sleep")"; fi
cat "$d/output"
if [ -f "$d/then" ]; then mv "$d/then" "$d/output"; fi
if [ -f "$d/stderr" ]; then cat "$d/stderr" >&2; fi
if [ -f "$d/exit" ]; then exit "$(cat "$d/exit")"; fi
exit 0
"#,
        )
        .unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
        Self { dir, script }
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    pub fn set(&self, name: &str, contents: &str) {
        std::fs::write(self.path(name), contents).unwrap();
    }

    /// Sets stdout to an ExecCredential of `api_version` with `status` (a JSON object).
    pub fn respond(&self, api_version: &str, status: serde_json::Value) {
        self.set("output", &exec_credential(api_version, status));
    }

    /// Sets the ExecCredential the run after the next one prints (see [`respond`](Self::respond)).
    pub fn respond_next(&self, api_version: &str, status: serde_json::Value) {
        self.set("then", &exec_credential(api_version, status));
    }

    pub fn runs(&self) -> usize {
        std::fs::read_to_string(self.path("runs"))
            .map(|s| s.lines().count())
            .unwrap_or(0)
    }

    pub fn info(&self) -> serde_json::Value {
        serde_json::from_str(&std::fs::read_to_string(self.path("info.json")).unwrap()).unwrap()
    }

    /// An ExecConfig running this plugin with `PLUGIN_DIR` set.
    pub fn config(&self, api_version: &str) -> k8s_client::config::ExecConfig {
        let mut c = k8s_client::config::ExecConfig::new(api_version, self.script.to_str().unwrap());
        c.env.push((
            "PLUGIN_DIR".to_owned(),
            k8s_client::SecretString::from(self.dir.path().to_str().unwrap()),
        ));
        c
    }
}

fn exec_credential(api_version: &str, status: serde_json::Value) -> String {
    serde_json::json!({"apiVersion": api_version, "kind": "ExecCredential", "status": status})
        .to_string()
}

/// A CA and a server certificate for `127.0.0.1`/`localhost` signed by it.
pub struct TestPki {
    pub ca_pem: String,
    pub server_cert_pem: String,
    pub server_key_pem: String,
}

pub fn test_pki() -> TestPki {
    use rcgen::{BasicConstraints, CertificateParams, IsCa, KeyPair};
    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "k8s-client test issuer CA");
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let issuer = rcgen::Issuer::new(ca_params, ca_key);
    let key = KeyPair::generate().unwrap();
    let params =
        CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()]).unwrap();
    let cert = params.signed_by(&key, &issuer).unwrap();
    TestPki {
        ca_pem: ca.pem(),
        server_cert_pem: cert.pem(),
        server_key_pem: key.serialize_pem(),
    }
}

/// What the test issuer saw and answers.
#[derive(Default)]
pub struct IssuerState {
    pub discovery_hits: AtomicUsize,
    pub token_hits: AtomicUsize,
    /// Reject client credentials in an Authorization header (only accept them in the body).
    pub reject_basic: AtomicBool,
    /// The refresh token the issuer accepts.
    pub expected_refresh: Mutex<String>,
    /// The client id and secret the issuer accepts.
    pub client: Mutex<(String, String)>,
    /// The id_token and refresh_token it hands out.
    pub answer: Mutex<(String, Option<String>)>,
    /// How the last accepted request authenticated the client: "basic" or "body".
    pub last_client_auth: Mutex<String>,
    /// Answer `POST /token` with `307` to this location instead.
    pub redirect_token: Mutex<Option<String>>,
    /// Pad the discovery document to this many bytes.
    pub discovery_padding: AtomicUsize,
}

/// A local OIDC issuer over TLS: `/.well-known/openid-configuration` and `/token`.
pub struct TestIssuer {
    pub addr: SocketAddr,
    pub url: String,
    pub state: Arc<IssuerState>,
    pub ca_pem: String,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for TestIssuer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl TestIssuer {
    pub async fn start() -> Self {
        let pki = test_pki();
        let certs =
            rustls_pki_types::pem::PemObject::pem_slice_iter(pki.server_cert_pem.as_bytes())
                .collect::<Result<Vec<rustls_pki_types::CertificateDer<'static>>, _>>()
                .unwrap();
        let key: rustls_pki_types::PrivateKeyDer<'static> =
            rustls_pki_types::pem::PemObject::from_pem_slice(pki.server_key_pem.as_bytes())
                .unwrap();
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(certs, key)
            .unwrap();
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let url = format!("https://127.0.0.1:{}", addr.port());
        let state = Arc::new(IssuerState::default());
        let (st, base) = (state.clone(), url.clone());
        let task = tokio::spawn(async move {
            loop {
                let Ok((tcp, _)) = listener.accept().await else {
                    return;
                };
                let (acceptor, st, base) = (acceptor.clone(), st.clone(), base.clone());
                tokio::spawn(async move {
                    let Ok(tls) = acceptor.accept(tcp).await else {
                        return;
                    };
                    let service = hyper::service::service_fn(move |req| {
                        let (st, base) = (st.clone(), base.clone());
                        async move { Ok::<_, std::convert::Infallible>(handle(req, &st, &base).await) }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(hyper_util::rt::TokioIo::new(tls), service)
                        .await;
                });
            }
        });
        Self {
            addr,
            url,
            state,
            ca_pem: pki.ca_pem,
            task,
        }
    }

    pub fn ca_data(&self) -> String {
        base64::engine::general_purpose::STANDARD.encode(&self.ca_pem)
    }
}

fn reply(status: u16, body: String) -> hyper::Response<Full<Bytes>> {
    hyper::Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(body)))
        .unwrap()
}

async fn handle(
    req: hyper::Request<hyper::body::Incoming>,
    st: &IssuerState,
    base: &str,
) -> hyper::Response<Full<Bytes>> {
    match (req.method().as_str(), req.uri().path()) {
        ("GET", "/.well-known/openid-configuration") => {
            st.discovery_hits.fetch_add(1, Ordering::SeqCst);
            let padding = "x".repeat(st.discovery_padding.load(Ordering::SeqCst));
            reply(
                200,
                serde_json::json!({"issuer": base, "token_endpoint": format!("{base}/token"), "padding": padding})
                    .to_string(),
            )
        }
        ("POST", "/token") => {
            st.token_hits.fetch_add(1, Ordering::SeqCst);
            if let Some(location) = st.redirect_token.lock().unwrap().clone() {
                return hyper::Response::builder()
                    .status(307)
                    .header("location", location)
                    .body(Full::new(Bytes::new()))
                    .unwrap();
            }
            let basic = req
                .headers()
                .get("authorization")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.strip_prefix("Basic "))
                .map(|b| {
                    String::from_utf8(base64::engine::general_purpose::STANDARD.decode(b).unwrap())
                        .unwrap()
                });
            let body = req.into_body().collect().await.unwrap().to_bytes();
            let form: std::collections::HashMap<String, String> =
                url::form_urlencoded::parse(&body).into_owned().collect();
            let (id, secret) = st.client.lock().unwrap().clone();
            let auth = match basic {
                Some(_) if st.reject_basic.load(Ordering::SeqCst) => {
                    return reply(401, r#"{"error":"invalid_client"}"#.into());
                }
                Some(pair) if pair == format!("{id}:{secret}") => "basic",
                Some(_) => return reply(401, r#"{"error":"invalid_client"}"#.into()),
                None if form.get("client_id") == Some(&id)
                    && form.get("client_secret") == Some(&secret) =>
                {
                    "body"
                }
                None => return reply(401, r#"{"error":"invalid_client"}"#.into()),
            };
            if form.get("grant_type").map(String::as_str) != Some("refresh_token")
                || form.get("refresh_token") != Some(&*st.expected_refresh.lock().unwrap())
            {
                return reply(400, r#"{"error":"invalid_grant"}"#.into());
            }
            *st.last_client_auth.lock().unwrap() = auth.to_owned();
            let (id_token, refresh) = st.answer.lock().unwrap().clone();
            let mut answer = serde_json::json!({"access_token": "unused-access", "token_type": "Bearer", "id_token": id_token});
            if let Some(r) = refresh {
                answer["refresh_token"] = r.into();
            }
            reply(200, answer.to_string())
        }
        _ => reply(404, "{}".into()),
    }
}

/// Writes a kubeconfig with two clusters, two contexts and two users; `oidc-user` uses
/// the oidc auth-provider with `config`. Returns its path.
pub fn write_kubeconfig(dir: &Path, config: &[(&str, &str)]) -> PathBuf {
    let mut provider_config = serde_yaml_ng::Mapping::new();
    for (k, v) in config {
        provider_config.insert((*k).into(), (*v).into());
    }
    let doc = serde_yaml_ng::to_value(serde_json::json!({
        "apiVersion": "v1",
        "kind": "Config",
        "current-context": "oidc",
        "preferences": {},
        "clusters": [
            {"name": "c1", "cluster": {"server": "https://127.0.0.1:6443", "certificate-authority-data": "Q0E="}},
            {"name": "c2", "cluster": {"server": "https://10.0.0.1", "insecure-skip-tls-verify": true}}
        ],
        "contexts": [
            {"name": "oidc", "context": {"cluster": "c1", "user": "oidc-user", "namespace": "ns"}},
            {"name": "other", "context": {"cluster": "c2", "user": "token-user"}}
        ],
        "users": [
            {"name": "token-user", "user": {"token": "other-user-token"}},
            {"name": "oidc-user", "user": {"auth-provider": {"name": "oidc", "config": {}}}}
        ]
    }))
    .unwrap();
    let mut doc = doc;
    doc["users"][1]["user"]["auth-provider"]["config"] =
        serde_yaml_ng::Value::Mapping(provider_config);
    let path = dir.join("kubeconfig");
    std::fs::write(&path, serde_yaml_ng::to_string(&doc).unwrap()).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    path
}

/// An `AuthProviderConfig` for `oidc-user` in `file` with `config`.
pub fn oidc_config(file: &Path, config: &[(&str, &str)]) -> k8s_client::config::AuthProviderConfig {
    let mut c = k8s_client::config::AuthProviderConfig::new("oidc");
    c.config = config
        .iter()
        .map(|(k, v)| ((*k).to_owned(), k8s_client::SecretString::from(*v)))
        .collect();
    c.origin_file = Some(file.to_owned());
    c.user_name = Some("oidc-user".to_owned());
    c
}

/// A private key of `tests/fixtures/client-keys` (PEM).
pub fn key_fixture(name: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/client-keys")
        .join(name);
    std::fs::read_to_string(path).unwrap()
}

/// A `Config` whose auth is `auth`.
pub fn config_with(auth: k8s_client::config::AuthConfig) -> k8s_client::Config {
    let mut c = k8s_client::Config::new("https://127.0.0.1:6443".parse().unwrap());
    c.auth = auth;
    c
}

/// Polls `check` until it holds or 20 s pass.
pub async fn eventually(what: &str, mut check: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while !check() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A `tracing` writer that keeps everything written to it.
#[derive(Clone, Default)]
pub struct LogBuffer(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for LogBuffer {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl LogBuffer {
    /// The buffer of the process-wide subscriber at TRACE, installed on first use.
    pub fn global() -> &'static Self {
        static GLOBAL: std::sync::OnceLock<LogBuffer> = std::sync::OnceLock::new();
        GLOBAL.get_or_init(|| {
            let buffer = Self::default();
            tracing_subscriber::util::SubscriberInitExt::init(buffer.subscriber());
            buffer
        })
    }

    /// A subscriber that writes every event (TRACE and up, no colours) to this buffer,
    /// for `tracing::subscriber::set_default` / `with_default`.
    pub fn subscriber(&self) -> impl tracing::Subscriber + Send + Sync + 'static {
        let writer = self.clone();
        tracing_subscriber::fmt()
            .with_max_level(tracing::Level::TRACE)
            .with_writer(move || writer.clone())
            .with_ansi(false)
            .finish()
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

/// What a test showed (Debug and Display of configs, clients and errors with their
/// sources) and the secrets it used; [`finish`](Self::finish) asserts that none of the
/// secrets appears there or in the [global](LogBuffer::global) TRACE logs.
#[derive(Default)]
pub struct LeakCheck {
    shown: String,
    secrets: Vec<String>,
}

impl LeakCheck {
    pub fn new(secrets: impl IntoIterator<Item = String>) -> Self {
        Self {
            shown: String::new(),
            secrets: secrets.into_iter().collect(),
        }
    }

    pub fn secret(&mut self, secret: &str) {
        self.secrets.push(secret.to_owned());
    }

    /// The base64 lines of a PEM private key (each one alone gives part of the key away).
    pub fn key_pem(&mut self, pem: &[u8]) {
        self.secrets.extend(pem_body_lines(pem));
    }

    pub fn show(&mut self, value: &dyn std::fmt::Debug) {
        self.shown.push_str(&format!("{value:?}\n{value:#?}\n"));
    }

    pub fn error(&mut self, error: &(dyn std::error::Error + 'static)) {
        self.show(&error);
        let mut current = Some(error);
        while let Some(e) = current {
            self.shown.push_str(&format!("{e}\n"));
            current = e.source();
        }
    }

    pub fn shown(&self) -> &str {
        &self.shown
    }

    /// Asserts that the logs hold each of `captured` (the capture works) and no secret,
    /// and that nothing shown holds a secret.
    pub fn finish(self, captured: &[&str]) {
        let logs = LogBuffer::global().text();
        for marker in captured {
            assert!(logs.contains(marker), "the logs hold {marker:?}");
        }
        for secret in &self.secrets {
            assert!(!logs.contains(secret.as_str()), "a secret reached the logs");
            assert!(
                !self.shown.contains(secret.as_str()),
                "a secret reached Debug or Display output:\n{}",
                self.shown
            );
        }
    }
}

/// The base64 lines (16 characters or more) of a PEM document.
pub fn pem_body_lines(pem: &[u8]) -> Vec<String> {
    String::from_utf8_lossy(pem)
        .lines()
        .map(str::trim)
        .filter(|l| !l.starts_with("-----") && l.len() >= 16)
        .map(str::to_owned)
        .collect()
}

/// testenv's secrets: both bearer tokens and the admin client key.
#[cfg(feature = "testenv")]
pub fn testenv_secrets(env: &k8s_client::testenv::TestEnv) -> Vec<String> {
    let mut secrets = vec![
        env.admin_token().expose_secret().to_owned(),
        env.noperm_token().expose_secret().to_owned(),
    ];
    secrets.extend(pem_body_lines(env.admin_key_pem().expose_secret()));
    secrets
}

/// The config `kubectl --kubeconfig path` uses, with the changes `tweak` makes to the
/// options (`--context`, `--token`, …).
pub fn kubeconfig_config(
    path: &Path,
    tweak: impl FnOnce(&mut k8s_client::config::KubeconfigOptions),
) -> k8s_client::Config {
    let mut options = k8s_client::config::KubeconfigOptions::default();
    options.kubeconfig = Some(path.to_owned());
    tweak(&mut options);
    k8s_client::Config::from_kubeconfig(&options).unwrap()
}

/// A client for `config` that ignores the process's proxy variables.
pub fn direct_client(config: k8s_client::Config) -> k8s_client::Client {
    k8s_client::Client::builder(config)
        .proxy_env(k8s_client::transport::ProxyEnv::none())
        .build()
        .unwrap()
}

/// `at` in RFC 3339 (an ExecCredential's `expirationTimestamp`).
pub fn rfc3339(at: SystemTime) -> String {
    jiff::Timestamp::try_from(at).unwrap().to_string()
}

/// Who the server thinks the client is: the `userInfo` of a `SelfSubjectReview`.
pub async fn whoami(client: &k8s_client::Client) -> Result<serde_json::Value, k8s_client::Error> {
    let body =
        serde_json::json!({"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview"});
    let review: serde_json::Value = client
        .request(post_json(
            "/apis/authentication.k8s.io/v1/selfsubjectreviews",
            &body,
        ))
        .await?;
    Ok(review["status"]["userInfo"].clone())
}

/// A POST of `body` as JSON to `path`.
pub fn post_json(path: &str, body: &serde_json::Value) -> http::Request<Vec<u8>> {
    http::Request::post(path)
        .header(http::header::CONTENT_TYPE, "application/json")
        .body(serde_json::to_vec(body).unwrap())
        .unwrap()
}

/// A GET of `path`.
pub fn get(path: &str) -> http::Request<Vec<u8>> {
    http::Request::get(path).body(Vec::new()).unwrap()
}

/// Creates the object `body` at `path` (a collection) and returns it as stored.
pub async fn create(
    client: &k8s_client::Client,
    path: &str,
    body: serde_json::Value,
) -> serde_json::Value {
    client
        .request(post_json(path, &body))
        .await
        .unwrap_or_else(|e| panic!("POST {path}: {}", k8s_client::discovery::error_chain(&e)))
}

/// Deletes the object at `path`.
pub async fn delete(client: &k8s_client::Client, path: &str) {
    let req = http::Request::delete(path).body(Vec::new()).unwrap();
    let _: serde_json::Value = client
        .request(req)
        .await
        .unwrap_or_else(|e| panic!("DELETE {path}: {}", k8s_client::discovery::error_chain(&e)));
}

/// Polls `check` until it yields a value or `timeout` passes.
pub async fn wait_for<T, F, Fut>(what: &str, timeout: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// A token for service account `sa` in `namespace` from the TokenRequest API, valid for
/// an hour, bound to `bound_secret` (a stored Secret object) if given: the API server
/// rejects it once that Secret is gone.
pub async fn request_token(
    client: &k8s_client::Client,
    namespace: &str,
    sa: &str,
    bound_secret: Option<&serde_json::Value>,
) -> k8s_client::SecretString {
    let mut spec = serde_json::json!({"expirationSeconds": 3600});
    if let Some(secret) = bound_secret {
        spec["boundObjectRef"] = serde_json::json!({
            "apiVersion": "v1",
            "kind": "Secret",
            "name": secret["metadata"]["name"],
            "uid": secret["metadata"]["uid"],
        });
    }
    let body = serde_json::json!({
        "apiVersion": "authentication.k8s.io/v1",
        "kind": "TokenRequest",
        "spec": spec,
    });
    let path = format!("/api/v1/namespaces/{namespace}/serviceaccounts/{sa}/token");
    let answer: serde_json::Value = client
        .request(post_json(&path, &body))
        .await
        .unwrap_or_else(|e| panic!("POST {path}: {}", k8s_client::discovery::error_chain(&e)));
    k8s_client::SecretString::from(answer["status"]["token"].as_str().expect("status.token"))
}

/// A claim of a JWT's payload, unverified.
pub fn jwt_claim(token: &str, claim: &str) -> serde_json::Value {
    let payload = token.split('.').nth(1).expect("a JWT has three parts");
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .unwrap();
    let claims: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
    claims[claim].clone()
}
