//! Content negotiation of [`Api`] for built-in kinds: ask for protobuf with JSON as the
//! fallback, and decode whichever the server answered.

use super::list_stream::ListDecoder;
use super::page::split_list;
use super::{ProtobufError, decode};
use crate::api::pager::{Page, PageItems};
use crate::api::{Api, ObjectList, RequestError, Resource};
use crate::client::WireFormat;
use crate::client::response::{BodySink, WholeBody, decode_json};
use crate::error::Error;
use bytes::Bytes;
use http::header::{ACCEPT, HeaderValue};
use serde::de::DeserializeOwned;

/// `Accept` of a protobuf read: protobuf, else JSON (a custom resource, an aggregated
/// API without protobuf).
pub(crate) const ACCEPT_PROTOBUF: &str = "application/vnd.kubernetes.protobuf, application/json";
/// `Accept` of a protobuf watch.
pub(crate) const ACCEPT_PROTOBUF_WATCH: &str =
    "application/vnd.kubernetes.protobuf;stream=watch, application/json";

type Built = Result<http::Request<Vec<u8>>, RequestError>;

pub(crate) fn error<T>(url: String, source: ProtobufError) -> Error {
    Error::DecodeProtobuf {
        url,
        type_name: std::any::type_name::<T>(),
        source,
    }
}

impl<K: Resource + DeserializeOwned + 'static> Api<K> {
    /// Whether reads of `K` ask for protobuf.
    pub(crate) fn uses_protobuf(&self) -> bool {
        self.client.wire_format() == WireFormat::Protobuf && super::supports::<K>()
    }

    /// Sends a read asking for protobuf (JSON as the fallback); returns the body, whether
    /// it is protobuf, and the request's URI for errors. Not an `async fn`, nor are its
    /// callers: their futures hold the read in flight, not also the request it was made
    /// of.
    fn read_negotiated(
        &self,
        req: Built,
    ) -> impl Future<Output = Result<(Bytes, bool, http::Uri), Error>> + Send + '_ {
        let read =
            asking_protobuf(req).map(|(req, uri)| (self.client.request_negotiated(req), uri));
        async move {
            let (read, uri) = read?;
            let (bytes, protobuf) = read.await?;
            Ok((bytes, protobuf, uri))
        }
    }

    /// Sends a `GET` of one object asking for protobuf.
    pub(crate) fn get_negotiated(
        &self,
        req: Built,
    ) -> impl Future<Output = Result<K, Error>> + Send + '_ {
        let read = self.read_negotiated(req);
        async move {
            match read.await? {
                (bytes, true, uri) => {
                    decode::<K>(&bytes).map_err(|e| error::<K>(uri.to_string(), e))
                }
                (bytes, false, uri) => decode_json(&bytes, uri.to_string()),
            }
        }
    }

    /// Sends a list `GET` asking for protobuf; a protobuf answer keeps its items
    /// encoded (decoded one by one as they are taken), a JSON answer is decoded.
    pub(crate) async fn list_page_negotiated(&self, req: Built) -> Result<Page<K>, Error> {
        match self.read_negotiated(req).await? {
            (bytes, true, uri) => {
                let url = uri.to_string();
                let (metadata, items) =
                    split_list::<K>(bytes).map_err(|e| error::<ObjectList<K>>(url.clone(), e))?;
                Ok(Page {
                    metadata,
                    items: PageItems::Encoded { items, url },
                })
            }
            (bytes, false, uri) => Ok(Page::decoded(decode_json(&bytes, uri.to_string())?)),
        }
    }

    /// Sends a list `GET` asking for protobuf; a protobuf answer is decoded item by item
    /// while it arrives (no copy of the whole body is held), a JSON one once it is whole.
    pub(crate) async fn list_negotiated(&self, req: Built) -> Result<ObjectList<K>, Error> {
        let (req, uri) = asking_protobuf(req)?;
        let url = uri.to_string();
        let decoder =
            ListDecoder::<K>::new().map_err(|e| error::<ObjectList<K>>(url.clone(), e))?;
        let (list, _, _) = self
            .client
            .checked_body_into(req, move |answer| {
                let url = url.clone();
                if answer.protobuf {
                    ListSink::Protobuf {
                        decoder: decoder.fresh(),
                        url,
                    }
                } else {
                    ListSink::Json {
                        body: WholeBody::new(answer.content_length),
                        url,
                    }
                }
            })
            .await?;
        Ok(list)
    }
}

/// `req` asking for protobuf, with JSON as the fallback, and its URI for errors.
fn asking_protobuf(req: Built) -> Result<(http::Request<Vec<u8>>, http::Uri), Error> {
    let mut req = req?;
    req.headers_mut()
        .insert(ACCEPT, HeaderValue::from_static(ACCEPT_PROTOBUF));
    // Shown only in errors: kept as the URI (a reference count) until one happens.
    let uri = req.uri().clone();
    Ok((req, uri))
}

/// A list answer: protobuf decoded as it arrives, JSON once whole.
enum ListSink<K> {
    Protobuf {
        decoder: ListDecoder<K>,
        url: String,
    },
    Json {
        body: WholeBody,
        url: String,
    },
}

impl<K: DeserializeOwned + 'static> BodySink for ListSink<K> {
    type Output = ObjectList<K>;

    fn chunk(&mut self, chunk: Bytes) -> Result<(), Error> {
        match self {
            ListSink::Protobuf { decoder, url } => decoder
                .feed(&chunk)
                .map_err(|e| error::<ObjectList<K>>(url.clone(), e)),
            ListSink::Json { body, .. } => body.chunk(chunk),
        }
    }

    fn finish(self) -> Result<ObjectList<K>, Error> {
        match self {
            ListSink::Protobuf { decoder, url } => {
                decoder.finish().map_err(|e| error::<ObjectList<K>>(url, e))
            }
            ListSink::Json { body, url } => decode_json(&body.finish()?, url),
        }
    }
}

/// Makes a watch request ask for a protobuf stream.
pub(crate) fn accept_protobuf_watch(req: &mut http::Request<Vec<u8>>) {
    req.headers_mut()
        .insert(ACCEPT, HeaderValue::from_static(ACCEPT_PROTOBUF_WATCH));
}
