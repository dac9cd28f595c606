//! A user-defined [`AuthProvider`]: short-lived tokens from your own source (here a
//! token service reached through a closure), cached and refreshed by [`CredentialCache`].
//!
//! Run with `K8S_CLIENT_EXAMPLE_TOKEN=... cargo run --example custom_auth`.
//!
//! With a `Client`, hand the provider to the builder instead of using the cache yourself:
//! `ClientBuilder::new(config).auth_provider(Arc::new(provider)).build()?` — the client
//! puts the same cache in front of it (refresh 10 s before expiry, one fetch for many
//! concurrent requests, drop on 401 and retry once).

mod api_common;

use k8s_client::SecretString;
use k8s_client::auth::{AuthError, AuthProvider, BoxFuture, Credential, CredentialCache};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, SystemTime};

/// A token and how long it is valid, from wherever your organisation issues them.
type Mint =
    dyn Fn() -> BoxFuture<'static, Result<(SecretString, Duration), std::io::Error>> + Send + Sync;

/// Bearer tokens from a token service, valid for the lifetime the service states.
struct TokenService {
    mint: Box<Mint>,
    fetches: AtomicUsize,
}

impl std::fmt::Debug for TokenService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print tokens: there are none stored here, only the fetch counter.
        f.debug_struct("TokenService")
            .field("fetches", &self.fetches)
            .finish_non_exhaustive()
    }
}

impl AuthProvider for TokenService {
    fn name(&self) -> &str {
        "token-service"
    }

    fn fetch(&self) -> BoxFuture<'_, Result<Credential, AuthError>> {
        Box::pin(async move {
            self.fetches.fetch_add(1, Ordering::SeqCst);
            let (token, valid_for) = (self.mint)()
                .await
                .map_err(|e| AuthError::provider(self.name(), e))?;
            Ok(Credential::bearer(token).expiring_at(SystemTime::now() + valid_for))
        })
    }

    fn unauthorized(&self, _rejected: &Credential) {
        // The cache already dropped the credential; the next request fetches a new one.
        tracing::info!("the API server rejected a token-service token; a new one will be fetched");
    }
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    api_common::exit(run().await)
}

async fn run() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt::init();
    let provider = Arc::new(TokenService {
        mint: Box::new(|| {
            Box::pin(async {
                let token = std::env::var("K8S_CLIENT_EXAMPLE_TOKEN").map_err(|_| {
                    std::io::Error::new(
                        std::io::ErrorKind::NotFound,
                        "K8S_CLIENT_EXAMPLE_TOKEN is not set",
                    )
                })?;
                Ok((SecretString::from(token), Duration::from_secs(15 * 60)))
            })
        }),
        fetches: AtomicUsize::new(0),
    });
    let cache = CredentialCache::new(provider.clone());

    // 50 concurrent requests wait for one fetch.
    let gets: Vec<_> = (0..50)
        .map(|_| {
            let cache = cache.clone();
            tokio::spawn(async move { cache.get().await })
        })
        .collect();
    let mut credential = None;
    for get in gets {
        credential = Some(get.await??);
    }
    let credential = credential.expect("50 results");
    println!(
        "{} fetch(es) for 50 requests; credential {:?}",
        provider.fetches.load(Ordering::SeqCst),
        credential
    );

    // What the client does with it: a sensitive Authorization header.
    let mut request = http::Request::get("/api/v1/namespaces").body(())?;
    if let Some(authorization) = &credential.authorization {
        let mut value = http::HeaderValue::from_str(authorization.expose_secret())?;
        value.set_sensitive(true);
        request
            .headers_mut()
            .insert(http::header::AUTHORIZATION, value);
    }
    println!("request ready: {:?}", request.headers());

    // A 401 from the server: drop the credential and tell the provider.
    cache.invalidate(&credential);
    cache.get().await?;
    println!(
        "after a 401: {} fetches",
        provider.fetches.load(Ordering::SeqCst)
    );
    Ok(())
}
