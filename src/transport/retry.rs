//! When a request is tried again: client-go's rules, as pure functions.
//!
//! - A 429 or any 5xx that carries `Retry-After: <seconds>` is retried after that delay,
//!   up to [`MAX_TRIES`] tries in all (client-go's `checkWait` and its limit of 10),
//!   when the request body can be sent again.
//! - A connection reset, an unexpected EOF or an HTTP/2 GOAWAY is retried for safe
//!   methods only (GET, HEAD, OPTIONS): client-go retries only GETs, because a write
//!   whose body reached the server may have been applied.

use std::time::Duration;

/// How many times a request is tried at most (the first try included).
pub const MAX_TRIES: u32 = 10;

/// The wait the server asked for, when `status` and `Retry-After` make the answer
/// retryable: 429 or 5xx with an integer number of seconds.
pub(crate) fn retry_after(status: http::StatusCode, headers: &http::HeaderMap) -> Option<Duration> {
    if status != http::StatusCode::TOO_MANY_REQUESTS && !status.is_server_error() {
        return None;
    }
    let value = headers.get(http::header::RETRY_AFTER)?.to_str().ok()?;
    let secs: u64 = value.trim().parse().ok()?;
    Some(Duration::from_secs(secs))
}

/// Whether `method` may be sent again after the connection broke mid-exchange.
pub(crate) fn is_safe_to_resend(method: &http::Method) -> bool {
    matches!(
        *method,
        http::Method::GET | http::Method::HEAD | http::Method::OPTIONS
    )
}

/// Whether an error from the HTTP stack is a broken connection (reset, EOF, GOAWAY)
/// rather than, say, a TLS or timeout failure.
pub(crate) fn is_connection_lost(err: &(dyn std::error::Error + 'static)) -> bool {
    let mut current: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(e) = current {
        if let Some(io) = e.downcast_ref::<std::io::Error>() {
            if matches!(
                io.kind(),
                std::io::ErrorKind::ConnectionReset
                    | std::io::ErrorKind::ConnectionAborted
                    | std::io::ErrorKind::BrokenPipe
                    | std::io::ErrorKind::UnexpectedEof
            ) {
                return true;
            }
            if let Some(inner) = io.get_ref()
                && is_connection_lost(inner)
            {
                return true;
            }
        }
        if let Some(h) = e.downcast_ref::<hyper::Error>()
            && (h.is_incomplete_message() || h.is_closed())
        {
            return true;
        }
        if let Some(h2) = e.downcast_ref::<h2::Error>() {
            if h2.is_go_away() || h2.is_io() {
                return true;
            }
            if h2.reason() == Some(h2::Reason::REFUSED_STREAM) {
                return true;
            }
        }
        current = e.source();
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::{HeaderMap, HeaderValue, StatusCode};

    fn with_retry_after(v: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(http::header::RETRY_AFTER, HeaderValue::from_str(v).unwrap());
        h
    }

    #[test]
    fn retry_after_only_for_429_and_5xx_with_seconds() {
        let h = with_retry_after("3");
        assert_eq!(
            retry_after(StatusCode::TOO_MANY_REQUESTS, &h),
            Some(Duration::from_secs(3))
        );
        assert_eq!(
            retry_after(StatusCode::SERVICE_UNAVAILABLE, &h),
            Some(Duration::from_secs(3))
        );
        assert_eq!(retry_after(StatusCode::CONFLICT, &h), None);
        assert_eq!(
            retry_after(StatusCode::INTERNAL_SERVER_ERROR, &HeaderMap::new()),
            None
        );
        let date = with_retry_after("Wed, 21 Oct 2015 07:28:00 GMT");
        assert_eq!(retry_after(StatusCode::TOO_MANY_REQUESTS, &date), None);
    }

    #[test]
    fn only_safe_methods_are_resent() {
        assert!(is_safe_to_resend(&http::Method::GET));
        assert!(is_safe_to_resend(&http::Method::HEAD));
        assert!(!is_safe_to_resend(&http::Method::POST));
        assert!(!is_safe_to_resend(&http::Method::PATCH));
        assert!(!is_safe_to_resend(&http::Method::DELETE));
    }

    #[test]
    fn recognises_lost_connections() {
        let reset = std::io::Error::from(std::io::ErrorKind::ConnectionReset);
        assert!(is_connection_lost(&reset));
        let wrapped =
            std::io::Error::other(std::io::Error::from(std::io::ErrorKind::UnexpectedEof));
        assert!(is_connection_lost(&wrapped));
        let refused = std::io::Error::from(std::io::ErrorKind::ConnectionRefused);
        assert!(!is_connection_lost(&refused));
        let goaway = h2::Error::from(h2::Reason::NO_ERROR);
        assert!(
            !is_connection_lost(&goaway),
            "a plain reset stream is not GOAWAY"
        );
    }
}
