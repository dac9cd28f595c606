//! Reading a successful answer's body as it arrives, into a [`BodySink`], with the
//! resend of a safe request whose body broke off.

use super::response::{Answer, BodySink, WholeBody};
use super::{Client, MAX_TRIES, Mode, body_lost, connection_backoff, is_protobuf, within};
use crate::error::Error;
use crate::transport::retry;
use bytes::Bytes;
use std::pin::Pin;

/// What a sink learns about the answer before its body (the protobuf list sink reads
/// both; the whole-body read only the length).
#[cfg_attr(not(feature = "protobuf"), allow(dead_code))]
pub(crate) struct AnswerInfo {
    /// Whether the body is protobuf (`Content-Type: application/vnd.kubernetes.protobuf…`).
    pub(crate) protobuf: bool,
    /// The announced `Content-Length`.
    pub(crate) content_length: Option<u64>,
}

/// A checked answer's body as a sink made it, whether it was protobuf, and the
/// (redacted) URL.
type Checked<T> = Result<(T, bool, String), Error>;

impl Client {
    /// Sends `req`, fails with [`Error::Api`] on a non-2xx answer and hands the body to
    /// the sink `sink_for` makes for the answer, chunk by chunk as it arrives; returns
    /// the sink's output, whether the body was protobuf and the (redacted) URL. A safe
    /// request (GET, HEAD, OPTIONS) whose body breaks off because the connection was
    /// lost (the server crashed or went away mid-answer) is sent again, with a fresh
    /// sink, like one whose connection broke before the answer, within the same request
    /// timeout and try budget.
    ///
    /// The future is boxed: the request loop's state is most of its size, and every
    /// caller's future (and a caller's own collection of them) would carry and move it
    /// otherwise.
    pub(crate) fn checked_body_into<S: BodySink>(
        &self,
        req: http::Request<Vec<u8>>,
        sink_for: impl FnMut(&AnswerInfo) -> S,
    ) -> Pin<Box<impl Future<Output = Checked<S::Output>>>> {
        Box::pin(self.read_checked_body(req, sink_for))
    }

    async fn read_checked_body<S: BodySink>(
        &self,
        req: http::Request<Vec<u8>>,
        mut sink_for: impl FnMut(&AnswerInfo) -> S,
    ) -> Checked<S::Output> {
        let deadline = self.deadline();
        let resend = retry::is_safe_to_resend(req.method());
        // The head is lent to every try; a whole body is shared, not copied.
        let (parts, body) = req.into_parts();
        let body = super::Body::from(body);
        let mut tries = 0u32;
        loop {
            tries += 1;
            let body = body.try_clone().expect("a whole body can be sent again");
            let answer = self
                .execute_until(&parts, body, Mode::Normal, deadline)
                .await?
                .check()
                .await?;
            let protobuf = is_protobuf(answer.response.headers());
            let sink = sink_for(&AnswerInfo {
                protobuf,
                content_length: answer.content_length(),
            });
            let Answer {
                method,
                url,
                response,
            } = answer;
            match Answer::read_into(response, &url, sink).await {
                Ok(output) => return Ok((output, protobuf, url)),
                Err(e) => {
                    let wait = connection_backoff(tries);
                    if resend && tries < MAX_TRIES && within(deadline, wait) && body_lost(&e) {
                        tracing::debug!(%method, %url, try_number = tries, wait_ms = wait.as_millis() as u64, "connection lost while reading the body; retrying");
                        tokio::time::sleep(wait).await;
                        continue;
                    }
                    return Err(e);
                }
            }
        }
    }

    /// [`checked_body_into`](Self::checked_body_into) reading the whole body.
    pub(super) fn checked_body(
        &self,
        req: http::Request<Vec<u8>>,
    ) -> Pin<Box<impl Future<Output = Checked<Bytes>>>> {
        self.checked_body_into(req, |answer| WholeBody::new(answer.content_length))
    }
}
