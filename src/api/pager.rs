//! [`ListStream`]: all objects of a list, fetched page by page, never more than one page
//! held at a time — and a protobuf page held encoded, each object decoded as it is
//! yielded, so the page's decoded objects are never all in memory together.

use super::core::Api;
use super::params::ListParams;
use super::resource::{ObjectList, Resource, continue_token};
#[cfg(feature = "protobuf")]
use crate::codec::page::EncodedItems;
use crate::error::Error;
use futures_util::future::BoxFuture;
use futures_util::stream::Stream;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ListMeta;
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

/// Default page size of [`Api::list_stream`] when the parameters set none (client-go's
/// pager uses 500).
pub const DEFAULT_PAGE_SIZE: u32 = 500;

/// The objects of a list, one page at a time: the next page is requested only when the
/// current one has been consumed, so at most one page (`limit` objects) is in memory.
///
/// Yields `Err` once and ends when a page fails; an expired continue token (the list
/// took longer than etcd's compaction window) is a 410 ([`Error::is_gone`]): start over.
pub struct ListStream<K: Resource> {
    api: Api<K>,
    params: ListParams,
    items: PageItems<K>,
    next: Option<BoxFuture<'static, Result<Page<K>, Error>>>,
    pages: usize,
    resource_version: Option<String>,
    done: bool,
}

// Never pin-projected: every field is moved or replaced only through `&mut Self`.
impl<K: Resource> Unpin for ListStream<K> {}

/// One fetched page: its metadata and its objects.
pub(crate) struct Page<K> {
    pub(crate) metadata: ListMeta,
    pub(crate) items: PageItems<K>,
}

impl<K> Page<K> {
    pub(crate) fn decoded(list: ObjectList<K>) -> Self {
        Page {
            metadata: list.metadata,
            items: PageItems::Decoded(list.items.into_iter()),
        }
    }
}

/// The objects of a page not yet yielded.
pub(crate) enum PageItems<K> {
    /// Decoded (a JSON answer).
    Decoded(std::vec::IntoIter<K>),
    /// Still encoded (a protobuf answer from `url`).
    #[cfg(feature = "protobuf")]
    Encoded { items: EncodedItems, url: String },
}

impl<K> PageItems<K> {
    /// No objects (before the first page, after the last or after an error).
    fn empty() -> Self {
        PageItems::Decoded(Vec::new().into_iter())
    }
}

impl<K: Resource + 'static> PageItems<K> {
    fn len(&self) -> usize {
        match self {
            PageItems::Decoded(items) => items.len(),
            #[cfg(feature = "protobuf")]
            PageItems::Encoded { items, .. } => items.len(),
        }
    }

    #[cfg_attr(not(feature = "protobuf"), allow(unused_variables))]
    fn next_item(&mut self, dyntype: &K::DynamicType) -> Option<Result<K, Error>> {
        match self {
            PageItems::Decoded(items) => items.next().map(Ok),
            #[cfg(feature = "protobuf")]
            PageItems::Encoded { items, url } => Some(match items.next_item::<K>()? {
                Ok(mut item) => {
                    item.complete(dyntype);
                    Ok(item)
                }
                Err(e) => Err(crate::codec::negotiate_error::<K>(url.clone(), e)),
            }),
        }
    }
}

impl<K> ListStream<K>
where
    K: Resource + Serialize + DeserializeOwned + Send + 'static,
{
    pub(crate) fn new(api: Api<K>, lp: &ListParams) -> Self {
        let mut params = lp.clone();
        params.limit = Some(params.limit.unwrap_or(DEFAULT_PAGE_SIZE));
        Self {
            api,
            params,
            items: PageItems::empty(),
            next: None,
            pages: 0,
            resource_version: None,
            done: false,
        }
    }

    /// Objects fetched but not yet yielded (at most one page).
    pub fn held(&self) -> usize {
        self.items.len()
    }

    /// Pages fetched so far.
    pub fn pages(&self) -> usize {
        self.pages
    }

    /// The `resourceVersion` of the list (from the first page; every page is a snapshot
    /// at that version). Watch from here to follow later changes.
    pub fn resource_version(&self) -> Option<&str> {
        self.resource_version.as_deref()
    }
}

impl<K> Stream for ListStream<K>
where
    K: Resource + Serialize + DeserializeOwned + Send + 'static,
{
    type Item = Result<K, Error>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        loop {
            match this.items.next_item(&this.api.dyntype) {
                Some(Ok(item)) => return Poll::Ready(Some(Ok(item))),
                Some(Err(e)) => {
                    this.done = true;
                    this.items = PageItems::empty();
                    return Poll::Ready(Some(Err(e)));
                }
                None => {}
            }
            if this.done {
                return Poll::Ready(None);
            }
            if this.next.is_none() {
                // The used-up page (and its buffer) goes before the next one arrives.
                this.items = PageItems::empty();
            }
            let fut = this.next.get_or_insert_with(|| {
                let api = this.api.clone();
                let params = this.params.clone();
                Box::pin(async move { api.list_page(&params).await })
            });
            let page = ready!(fut.as_mut().poll(cx));
            this.next = None;
            match page {
                Ok(page) => {
                    this.pages += 1;
                    if this.resource_version.is_none() {
                        this.resource_version = page.metadata.resource_version.clone();
                    }
                    match continue_token(&page.metadata) {
                        Some(token) => {
                            // A continue token carries the snapshot's version; the server
                            // refuses `resourceVersion` next to it.
                            this.params.continue_token = Some(token.to_owned());
                            this.params.resource_version = None;
                            this.params.version_match = None;
                        }
                        None => this.done = true,
                    }
                    this.items = page.items;
                }
                Err(e) => {
                    this.done = true;
                    return Poll::Ready(Some(Err(e)));
                }
            }
        }
    }
}

impl<K> Api<K>
where
    K: Resource + Serialize + DeserializeOwned + Send + 'static,
{
    /// One page of the collection: protobuf pages stay encoded until their objects are
    /// taken.
    async fn list_page(&self, lp: &ListParams) -> Result<Page<K>, Error> {
        #[cfg(feature = "protobuf")]
        if self.uses_protobuf() {
            return self.list_page_negotiated(self.request.list(lp)).await;
        }
        let list = self.list(lp).await?;
        Ok(Page::decoded(list))
    }

    /// Every object matching `lp`, page by page (`lp.limit`, default
    /// [`DEFAULT_PAGE_SIZE`]), holding at most one page in memory.
    ///
    /// ```no_run
    /// # async fn demo(client: k8s_client::Client) -> Result<(), k8s_client::Error> {
    /// use futures_util::TryStreamExt;
    /// use k8s_client::api::{Api, ListParams};
    /// use k8s_openapi::api::core::v1::ConfigMap;
    /// let cms: Api<ConfigMap> = Api::all(client);
    /// let mut stream = cms.list_stream(&ListParams::default().limit(100));
    /// while let Some(cm) = stream.try_next().await? {
    ///     println!("{}", cm.metadata.name.unwrap_or_default());
    /// }
    /// # Ok(()) }
    /// ```
    pub fn list_stream(&self, lp: &ListParams) -> ListStream<K> {
        ListStream::new(self.clone(), lp)
    }
}
