//! One-call requests through our [`Client`](k8s_client::Client): raw JSON requests,
//! creating and deleting objects by path, who the server thinks the client is, and
//! service-account tokens.

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
