//! The proxy's logs and error answers never contain credentials: a proxy in front of
//! an unreachable server, with every tracing event at TRACE level captured.
//!
//! One test in its own binary, with a global subscriber: tracing's per-callsite
//! interest cache makes thread-scoped subscribers miss events when other tests run
//! concurrently.

mod support;

use support::logs::LogBuffer;

use support::proxy::OurProxy;
use support::proxy::fetch;
use support::proxy::options_on_random_port;
use support::proxy::request;

#[tokio::test]
async fn unreachable_server_is_500_with_the_error_and_no_secret_anywhere() {
    // Everything logged, for the no-secrets check.
    let logs = LogBuffer::global();
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let mut config = k8s_client::Config::new(format!("https://127.0.0.1:{port}").parse().unwrap());
    config.auth = k8s_client::config::AuthConfig::Token("s3cr3t-proxy-token".into());
    let client = k8s_client::Client::try_from(config).unwrap();
    let proxy = OurProxy::start(client, options_on_random_port()).await;
    let target = proxy.target();
    let mut req = request(&target, "GET", "/api/v1/secrets?labelSelector=a", None);
    req.headers_mut()
        .insert("authorization", "Bearer caller-s3cr3t".parse().unwrap());
    let answer = fetch(&target, req).await;
    assert_eq!(answer.status, 500);
    assert_eq!(answer.headers["content-type"], "text/plain; charset=utf-8");
    let text = answer.text();
    assert!(text.ends_with('\n') && text.len() > 1, "{text:?}");
    assert!(
        text.contains(&port.to_string()),
        "the error names the server: {text}"
    );
    let logs = logs.text();
    for secret in ["s3cr3t-proxy-token", "caller-s3cr3t"] {
        assert!(!text.contains(secret), "secret in the 500 body");
        assert!(!logs.contains(secret), "secret in the logs:\n{logs}");
    }
    assert!(
        logs.contains("proxied request") && logs.contains("status=500"),
        "the request is logged with its status:\n{logs}"
    );
}
