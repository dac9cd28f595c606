//! The credential layer under stress and against a hostile server: one exec plugin run
//! for many waiting requests (hung or failing plugin), bounded plugin output, a 401 to the
//! caller's own `Authorization`, and no URL password in any error.

mod support;

use http::{Request, Response};
use k8s_client::auth::{
    AuthError, AuthProvider, BoxFuture, Credential, ExecError, ExecProvider, FAILED_FETCH_BACKOFF,
    MAX_EXEC_OUTPUT,
};
use k8s_client::config::ExecInteractiveMode;
use k8s_client::{Client, Error};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use support::auth::Plugin;
use support::server::UpFuture;
use support::server::Upstream;
use support::server::full;
use support::within;

const V1: &str = "client.authentication.k8s.io/v1";

fn get(path: &str) -> Request<Vec<u8>> {
    Request::get(path).body(Vec::new()).unwrap()
}

/// An upstream that counts requests and answers 200 `{}`.
async fn counting_upstream() -> (Upstream, Arc<AtomicUsize>) {
    let count = Arc::new(AtomicUsize::new(0));
    let seen = count.clone();
    let upstream = Upstream::start(move |_req| {
        seen.fetch_add(1, Ordering::SeqCst);
        Box::pin(async { Response::new(full("{}")) }) as UpFuture
    })
    .await;
    (upstream, count)
}

fn exec_provider(plugin: &Plugin, timeout: Duration) -> Arc<ExecProvider> {
    let mut config = plugin.config(V1);
    config.interactive_mode = Some(ExecInteractiveMode::Never);
    Arc::new(
        ExecProvider::new(config)
            .unwrap()
            .with_timeout(Some(timeout)),
    )
}

fn client_with(upstream: &Upstream, provider: Arc<dyn AuthProvider>) -> Client {
    let config = k8s_client::Config::new(format!("http://{}", upstream.addr).parse().unwrap());
    Client::builder(config)
        .auth_provider(provider)
        .build()
        .unwrap()
}

/// Sends 50 requests at once and returns their results.
async fn fifty(client: &Client) -> Vec<Result<bytes::Bytes, Error>> {
    let calls = (0..50).map(|_| client.request_bytes(get("/api")));
    within("50 requests", futures_util::future::join_all(calls)).await
}

fn auth_cause(err: &Error) -> &AuthError {
    match err {
        Error::Auth(auth @ AuthError::Unavailable { .. }) => auth.cause(),
        other => panic!("expected a shared credential failure, got {other:?}"),
    }
}

#[tokio::test]
async fn fifty_requests_share_one_run_of_a_hung_plugin() {
    let plugin = Plugin::new();
    plugin.set("sleep", "60");
    let (upstream, requests) = counting_upstream().await;
    let client = client_with(
        &upstream,
        exec_provider(&plugin, Duration::from_millis(500)),
    );
    let started = Instant::now();
    for result in fifty(&client).await {
        let err = result.unwrap_err();
        assert!(
            matches!(auth_cause(&err), AuthError::Exec(ExecError::Timeout { .. })),
            "{err:?}"
        );
    }
    assert_eq!(plugin.runs(), 1, "one timeout for all the waiting requests");
    assert_eq!(requests.load(Ordering::SeqCst), 0);
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "one timeout, not fifty"
    );
}

#[tokio::test]
async fn a_failing_plugin_runs_once_per_backoff_window() {
    let plugin = Plugin::new();
    plugin.set("output", "");
    plugin.set("exit", "1");
    let (upstream, requests) = counting_upstream().await;
    let client = client_with(&upstream, exec_provider(&plugin, Duration::from_secs(30)));
    let started = Instant::now();
    for result in fifty(&client).await {
        let err = result.unwrap_err();
        assert!(
            matches!(
                auth_cause(&err),
                AuthError::Exec(ExecError::Failed { code: 1, .. })
            ),
            "{err:?}"
        );
    }
    assert_eq!(plugin.runs(), 1);
    // Within the window the failure is handed out again without a run.
    let err = client.request_bytes(get("/api")).await.unwrap_err();
    auth_cause(&err);
    assert_eq!(plugin.runs(), 1);
    // Once the window is over, the next request runs the plugin again (and it now works).
    plugin.set("exit", "0");
    plugin.respond(V1, serde_json::json!({"token": "fixed"}));
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if client.request_bytes(get("/api")).await.is_ok() {
            break;
        }
        assert!(Instant::now() < deadline, "the plugin was never run again");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(started.elapsed() >= FAILED_FETCH_BACKOFF);
    assert_eq!(plugin.runs(), 2);
    assert_eq!(requests.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn plugin_output_is_bounded() {
    let plugin = Plugin::new();
    plugin.set("output", &"x".repeat(MAX_EXEC_OUTPUT + 4096));
    let provider = exec_provider(&plugin, Duration::from_secs(30));
    let err = within("the plugin", provider.fetch()).await.unwrap_err();
    assert!(
        matches!(err, AuthError::Exec(ExecError::OutputTooLarge { limit, .. }) if limit == MAX_EXEC_OUTPUT),
        "{err:?}"
    );
    // Just under the limit is read (and rejected for what it is, not for its size).
    plugin.set("output", &"x".repeat(MAX_EXEC_OUTPUT));
    let err = provider.fetch().await.unwrap_err();
    assert!(
        matches!(err, AuthError::Exec(ExecError::Output { .. })),
        "{err:?}"
    );
}

/// A static token that counts fetches and 401s.
#[derive(Debug, Default)]
struct Counting {
    fetches: AtomicUsize,
    rejected: AtomicUsize,
}

impl AuthProvider for Counting {
    fn name(&self) -> &str {
        "counting"
    }
    fn fetch(&self) -> BoxFuture<'_, Result<Credential, AuthError>> {
        self.fetches.fetch_add(1, Ordering::SeqCst);
        Box::pin(async { Ok(Credential::bearer("client-token".into())) })
    }
    fn unauthorized(&self, _rejected: &Credential) {
        self.rejected.fetch_add(1, Ordering::SeqCst);
    }
}

#[tokio::test]
async fn a_401_to_the_callers_own_authorization_keeps_the_credential() {
    let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
    let log = seen.clone();
    let upstream = Upstream::start(move |req| {
        let auth = req
            .headers()
            .get(http::header::AUTHORIZATION)
            .map(|v| v.to_str().unwrap().to_owned());
        log.lock().unwrap().push(auth);
        Box::pin(async { Response::builder().status(401).body(full("")).unwrap() }) as UpFuture
    })
    .await;
    let provider = Arc::new(Counting::default());
    let client = client_with(&upstream, provider.clone());

    let mut own = get("/api");
    own.headers_mut().insert(
        http::header::AUTHORIZATION,
        "Bearer callers-own".parse().unwrap(),
    );
    let err = client.request_bytes(own).await.unwrap_err();
    assert!(err.is_unauthorized());
    assert_eq!(
        *seen.lock().unwrap(),
        [Some("Bearer callers-own".to_owned())],
        "sent once, with the caller's header"
    );
    assert_eq!(provider.rejected.load(Ordering::SeqCst), 0);
    assert_eq!(provider.fetches.load(Ordering::SeqCst), 1);

    // The client's own credential: dropped, refreshed and retried once.
    seen.lock().unwrap().clear();
    let err = client.request_bytes(get("/api")).await.unwrap_err();
    assert!(err.is_unauthorized());
    assert_eq!(
        *seen.lock().unwrap(),
        [
            Some("Bearer client-token".to_owned()),
            Some("Bearer client-token".to_owned())
        ]
    );
    assert_eq!(provider.rejected.load(Ordering::SeqCst), 1);
    assert_eq!(provider.fetches.load(Ordering::SeqCst), 2);
}

/// Display of every error in the chain, and Debug of the top one.
fn everything_shown(err: &Error) -> String {
    let mut shown = format!("{err:?}\n{err:#?}\n");
    let mut current: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(e) = current {
        shown.push_str(&format!("{e}\n{e:?}\n"));
        current = e.source();
    }
    shown
}

#[tokio::test]
async fn a_password_in_the_cluster_url_never_shows() {
    const SECRET: &str = "pw-S3CR3T";
    let logs = support::logs::LogBuffer::global();
    let with_userinfo =
        |addr: std::net::SocketAddr| format!("http://admin:{SECRET}@{addr}").parse().unwrap();

    // Connection refused.
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let mut config = k8s_client::Config::new(with_userinfo(closed));
    // Logs a warning naming the cluster.
    config.tls.insecure_skip_tls_verify = true;
    let client = Client::try_from(config).unwrap();
    let mut shown = format!("{client:?}");
    let err = client.request_bytes(get("/api")).await.unwrap_err();
    assert!(
        matches!(
            err,
            Error::Transport(k8s_client::transport::TransportError::Connect { .. })
        ),
        "{err:?}"
    );
    shown.push_str(&everything_shown(&err));

    // An error answer, a decode failure and a timeout.
    let upstream = Upstream::start(|req| {
        Box::pin(async move {
            match req.uri().path() {
                "/slow" => {
                    tokio::time::sleep(Duration::from_secs(30)).await;
                    Response::new(full("{}"))
                }
                "/bad" => Response::new(full("not json")),
                _ => Response::builder().status(500).body(full("boom")).unwrap(),
            }
        }) as UpFuture
    })
    .await;
    let mut config = k8s_client::Config::new(with_userinfo(upstream.addr));
    config.timeout = Some(Duration::from_millis(500));
    let client = Client::try_from(config).unwrap();
    for path in ["/api", "/bad", "/slow"] {
        let err = within(path, client.request::<serde_json::Value>(get(path)))
            .await
            .unwrap_err();
        shown.push_str(&everything_shown(&err));
    }
    assert!(
        shown.contains("500") && shown.contains("timed out"),
        "{shown}"
    );
    assert!(!shown.contains(SECRET), "{shown}");
    let logs = logs.text();
    assert!(
        logs.contains("insecure-skip-tls-verify is set") && logs.contains("sending request"),
        "the log capture works"
    );
    assert!(!logs.contains(SECRET), "the password reached the logs");
}

#[test]
fn exec_provider_debug_shows_no_argument_or_environment_values() {
    let plugin = Plugin::new();
    let mut config = plugin.config(V1);
    config.args = vec!["--token=ARG-S3CR3T".into()];
    config.env.push(("API_KEY".into(), "ENV-S3CR3T".into()));
    let provider = ExecProvider::new(config).unwrap();
    let shown = format!("{provider:?} {provider:#?}");
    assert!(shown.contains("API_KEY"), "names are shown: {shown}");
    assert!(!shown.contains("S3CR3T"), "{shown}");
}
