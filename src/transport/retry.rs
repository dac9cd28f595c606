//! When a request is tried again: client-go's rules, as pure functions.
//!
//! - A 429 or any 5xx that carries `Retry-After: <seconds>` is retried after that delay,
//!   up to [`MAX_TRIES`] tries in all (client-go's `checkWait` and its limit of 10),
//!   when the request body can be sent again. Unlike client-go, a delay longer than
//!   [`MAX_RETRY_AFTER`] is not waited for: the answer goes back to the caller at once.
//! - A connection reset, an unexpected EOF or an HTTP/2 GOAWAY is retried for safe
//!   methods only (GET, HEAD, OPTIONS): client-go retries only GETs, because a write
//!   whose body reached the server may have been applied.

use std::time::Duration;

/// How many times a request is tried at most (the first try included).
pub const MAX_TRIES: u32 = 10;

/// The longest `Retry-After` the client waits for before trying again.
///
/// The API server asks for 1 s at first, but its priority-and-fairness filter asks for
/// longer under sustained rejection (kube-apiserver 1.37 answered `Retry-After: 16` in
/// the soak suite's 429 storms), and client-go waits for it. A delay beyond a minute
/// comes from a server or proxy that wants the caller to come back much later
/// (maintenance), or from a hostile one that wants to park the caller. Such an answer is
/// returned at once as the 429/5xx error, so at most `MAX_TRIES - 1` waits of 60 s
/// (9 min) can pass inside one call when no request timeout is set.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(60);

/// The wait the server asked for, when `status` and `Retry-After` make the answer
/// retryable: 429 or 5xx with an integer number of seconds no greater than
/// [`MAX_RETRY_AFTER`]. Anything else (an HTTP-date, a negative or fractional number, a
/// value too large, bytes that are not text) is not retried.
pub(crate) fn retry_after(status: http::StatusCode, headers: &http::HeaderMap) -> Option<Duration> {
    if status != http::StatusCode::TOO_MANY_REQUESTS && !status.is_server_error() {
        return None;
    }
    retry_after_value(headers.get(http::header::RETRY_AFTER)?.as_bytes())
}

/// Reads a `Retry-After` value in seconds, bounded by [`MAX_RETRY_AFTER`].
fn retry_after_value(value: &[u8]) -> Option<Duration> {
    let text = std::str::from_utf8(value).ok()?.trim();
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    // All digits: only overflow can make parsing fail, and that is above the bound too.
    let secs: u64 = text.parse().ok()?;
    let wait = Duration::from_secs(secs);
    (wait <= MAX_RETRY_AFTER).then_some(wait)
}

/// Whether `method` may be sent again after the connection broke mid-exchange.
pub(crate) fn is_safe_to_resend(method: &http::Method) -> bool {
    matches!(
        *method,
        http::Method::GET | http::Method::HEAD | http::Method::OPTIONS
    )
}

/// `err` and its sources, outermost first.
pub(crate) fn chain<'a>(
    err: &'a (dyn std::error::Error + 'static),
) -> impl Iterator<Item = &'a (dyn std::error::Error + 'static)> {
    std::iter::successors(Some(err), |e| e.source())
}

/// Whether an error from the HTTP stack is a broken connection (reset, EOF, GOAWAY)
/// rather than, say, a TLS or timeout failure.
pub(crate) fn is_connection_lost(err: &(dyn std::error::Error + 'static)) -> bool {
    chain(err).any(|e| {
        if let Some(io) = e.downcast_ref::<std::io::Error>()
            && (matches!(
                io.kind(),
                std::io::ErrorKind::ConnectionReset
                    | std::io::ErrorKind::ConnectionAborted
                    | std::io::ErrorKind::BrokenPipe
                    | std::io::ErrorKind::UnexpectedEof
            ) || io.get_ref().is_some_and(|inner| is_connection_lost(inner)))
        {
            return true;
        }
        if let Some(h) = e.downcast_ref::<hyper::Error>()
            && (h.is_incomplete_message() || h.is_closed())
        {
            return true;
        }
        e.downcast_ref::<h2::Error>().is_some_and(|h2| {
            h2.is_go_away() || h2.is_io() || h2.reason() == Some(h2::Reason::REFUSED_STREAM)
        })
    })
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
    fn retry_after_is_bounded_and_never_panics_on_odd_values() {
        let ok = |v: &[u8]| retry_after_value(v);
        assert_eq!(ok(b" 60 "), Some(MAX_RETRY_AFTER));
        // What priority and fairness asks for under sustained rejection.
        assert_eq!(ok(b"16"), Some(Duration::from_secs(16)));
        assert_eq!(ok(b"0"), Some(Duration::ZERO));
        assert_eq!(ok(b"61"), None, "above the bound: returned to the caller");
        for odd in [
            &b"18446744073709551615"[..],
            b"18446744073709551616",
            b"99999999999999999999999999999999999999",
            b"-1",
            b"+1",
            b"1.5",
            b"",
            b"   ",
            b"\xff\xfe",
            b"1e3",
            "\u{0661}".as_bytes(),
        ] {
            assert_eq!(ok(odd), None, "{odd:?}");
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(256))]

        #[test]
        fn retry_after_never_panics(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..40)) {
            if let Some(wait) = retry_after_value(&bytes) {
                proptest::prop_assert!(wait <= MAX_RETRY_AFTER);
            }
            if let Ok(value) = HeaderValue::from_bytes(&bytes) {
                let mut h = HeaderMap::new();
                h.insert(http::header::RETRY_AFTER, value);
                let _ = retry_after(StatusCode::TOO_MANY_REQUESTS, &h);
            }
        }

        #[test]
        fn retry_after_reads_every_small_number(secs in 0u64..=10, pad in 0usize..3) {
            let text = format!("{}{secs}{}", " ".repeat(pad), " ".repeat(pad));
            proptest::prop_assert_eq!(retry_after_value(text.as_bytes()), Some(Duration::from_secs(secs)));
        }
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
