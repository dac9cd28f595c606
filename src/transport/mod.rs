//! HTTP transport: rustls TLS, HTTP/2, proxies, retries, rate limiting, user agent,
//! impersonation and `Warning` headers.
//!
//! Only [`TransportError`], [`ProxyEnv`] and a few pure helpers are public; the HTTP and
//! TLS libraries stay private. [`Client`](crate::Client) performs the I/O.

mod error;
mod headers;
mod proxy;
pub(crate) mod rate_limit;
pub(crate) mod retry;
pub(crate) mod tls;

pub use error::{BoxError, TransportError};
pub use headers::{default_user_agent, impersonation_headers, parse_warning};
pub use proxy::ProxyEnv;
pub(crate) use proxy::ProxyRules;
pub use rate_limit::{MAX_BURST, MIN_QPS};
pub use retry::{MAX_RETRY_AFTER, MAX_TRIES};
