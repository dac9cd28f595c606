//! Credentials for the auth tests: an exec test plugin, a local TLS OIDC issuer, JWTs,
//! oidc kubeconfigs, key fixtures and configs built from them.

use crate::support::server::{TestCa, UpBody, Upstream, full};
use base64::Engine;
use http_body_util::BodyExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

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
    let ca = TestCa::new("k8s-client test issuer CA");
    let leaf = ca.localhost();
    TestPki {
        ca_pem: ca.pem,
        server_cert_pem: leaf.cert_pem,
        server_key_pem: leaf.key_pem,
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
    pub addr: std::net::SocketAddr,
    pub url: String,
    pub state: Arc<IssuerState>,
    pub ca_pem: String,
    _server: Upstream,
}

impl TestIssuer {
    pub async fn start() -> Self {
        let ca = TestCa::new("k8s-client test issuer CA");
        let state = Arc::new(IssuerState::default());
        // The discovery document names the issuer's own URL, known once it listens.
        let base = Arc::new(std::sync::OnceLock::<String>::new());
        let (st, b) = (state.clone(), base.clone());
        let server = Upstream::start_tls(ca.localhost().server_config(), move |req| {
            let (st, b) = (st.clone(), b.clone());
            Box::pin(async move { handle(req, &st, b.get().expect("the issuer URL")).await })
        })
        .await;
        let url = format!("https://127.0.0.1:{}", server.addr.port());
        base.set(url.clone()).expect("set once");
        Self {
            addr: server.addr,
            url,
            state,
            ca_pem: ca.pem,
            _server: server,
        }
    }

    pub fn ca_data(&self) -> String {
        base64::engine::general_purpose::STANDARD.encode(&self.ca_pem)
    }
}

fn reply(status: u16, body: String) -> hyper::Response<UpBody> {
    hyper::Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(full(body))
        .unwrap()
}

async fn handle(
    req: hyper::Request<hyper::body::Incoming>,
    st: &IssuerState,
    base: &str,
) -> hyper::Response<UpBody> {
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
                    .body(full(""))
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

/// A client for `config` that ignores the process's proxy variables.
pub fn direct_client(config: k8s_client::Config) -> k8s_client::Client {
    direct_client_with(config, |b| b)
}

/// [`direct_client`] with more builder steps.
pub fn direct_client_with(
    config: k8s_client::Config,
    steps: impl FnOnce(k8s_client::ClientBuilder) -> k8s_client::ClientBuilder,
) -> k8s_client::Client {
    steps(k8s_client::Client::builder(config).proxy_env(k8s_client::transport::ProxyEnv::none()))
        .build()
        .unwrap()
}

/// `at` in RFC 3339 (an ExecCredential's `expirationTimestamp`).
pub fn rfc3339(at: SystemTime) -> String {
    jiff::Timestamp::try_from(at).unwrap().to_string()
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
