//! `Api<K>` over protobuf (the default for built-in kinds) against a real API server:
//! reads and watch events equal those of a client forced to JSON
//! (`WireFormat::Json`), including bookmarks, the end of a streaming list, and an
//! expired version (410) arriving as an `ERROR` frame.

mod support;

use futures_util::StreamExt;
use k8s_client::api::{
    Api, DeleteParams, ListParams, Patch, PatchParams, PostParams, WatchEvent, WatchParams,
};
use k8s_client::client::WireFormat;
use k8s_client::{Client, Error};
use k8s_openapi::api::core::v1::{ConfigMap, Namespace};
use std::time::Duration;
use support::api::labelled_cm;
use support::api::next_ok;
use support::eventually;

fn json_client(client: &Client) -> Client {
    Client::builder(client.config().clone())
        .wire_format(WireFormat::Json)
        .build()
        .unwrap()
}

#[tokio::test]
async fn reads_over_protobuf_equal_reads_over_json() {
    let Some((_env, client, ns)) = support::api::setup("protobuf-reads").await else {
        return;
    };
    assert_eq!(client.wire_format(), WireFormat::Protobuf);
    let json = json_client(&client);
    let pb: Api<ConfigMap> = Api::namespaced(client.clone(), &ns);
    let js: Api<ConfigMap> = Api::namespaced(json.clone(), &ns);
    for i in 0..5 {
        pb.create(&PostParams::default(), &labelled_cm(&format!("cm-{i}")))
            .await
            .unwrap();
    }
    assert_eq!(pb.get("cm-3").await.unwrap(), js.get("cm-3").await.unwrap());
    let lp = ListParams::default().limit(2);
    let (a, b) = (pb.list(&lp).await.unwrap(), js.list(&lp).await.unwrap());
    assert_eq!(a.items, b.items);
    assert!(a.continue_token().is_some());
    let all_pb: Vec<ConfigMap> = pb.list_stream(&lp).map(Result::unwrap).collect().await;
    let all_js: Vec<ConfigMap> = js.list_stream(&lp).map(Result::unwrap).collect().await;
    assert_eq!(all_pb.len(), 6, "five and kube-root-ca.crt");
    assert_eq!(all_pb, all_js);
    // Cluster-scoped, and a 404 answered with a protobuf Status is the usual typed error.
    let nss: Api<Namespace> = Api::all(client.clone());
    assert_eq!(
        nss.get(&ns).await.unwrap(),
        Api::<Namespace>::all(json).get(&ns).await.unwrap()
    );
    let err = pb.get("missing").await.unwrap_err();
    assert!(err.is_not_found(), "{err}");
    assert_eq!(err.message(), Some("configmaps \"missing\" not found"));
}

async fn events(
    api: &Api<ConfigMap>,
    wp: &WatchParams,
    rv: &str,
    n: usize,
) -> Vec<WatchEvent<ConfigMap>> {
    let mut stream = api.watch(wp, rv).await.unwrap();
    let mut out = Vec::new();
    while out.len() < n {
        out.push(next_ok(&mut stream).await);
    }
    out
}

#[tokio::test]
async fn watch_events_over_protobuf_equal_json_events() {
    let Some((_env, client, ns)) = support::api::setup("protobuf-watch").await else {
        return;
    };
    let pb: Api<ConfigMap> = Api::namespaced(client.clone(), &ns);
    let js: Api<ConfigMap> = Api::namespaced(json_client(&client), &ns);
    for name in ["a", "b"] {
        pb.create(&PostParams::default(), &labelled_cm(name))
            .await
            .unwrap();
    }
    let rv = pb
        .list(&ListParams::default())
        .await
        .unwrap()
        .metadata
        .resource_version
        .unwrap();
    pb.create(&PostParams::default(), &labelled_cm("c"))
        .await
        .unwrap();
    let patch = serde_json::json!({"data": {"k": "v"}, "binaryData": {"b": "AP8="}});
    pb.patch("a", &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .unwrap();
    pb.delete("b", &DeleteParams::default()).await.unwrap();
    let wp = WatchParams::default().labels(support::api::SELECTOR);
    let from_pb = events(&pb, &wp, &rv, 3).await;
    let from_js = events(&js, &wp, &rv, 3).await;
    assert_eq!(from_pb, from_js);
    assert!(
        matches!(&from_pb[0], WatchEvent::Added(cm) if cm.metadata.name.as_deref() == Some("c"))
    );
    assert!(
        matches!(&from_pb[1], WatchEvent::Modified(cm) if cm.binary_data.as_ref().unwrap()["b"].0 == [0, 255])
    );
    assert!(
        matches!(&from_pb[2], WatchEvent::Deleted(cm) if cm.metadata.name.as_deref() == Some("b"))
    );

    // A streaming list: the current state as ADDED, then the bookmark that ends it.
    let wp = wp.initial_events();
    let from_pb = events(&pb, &wp, "", 3).await;
    let from_js = events(&js, &wp, "", 3).await;
    assert_eq!(from_pb, from_js);
    assert!(
        matches!(&from_pb[2], WatchEvent::Bookmark(b) if b.is_initial_events_end()),
        "{from_pb:?}"
    );
}

#[tokio::test]
async fn an_expired_version_is_gone_over_protobuf_too() {
    let Some(binaries) = support::env::binaries() else {
        return;
    };
    // Without a watch cache and with etcd compacting every second, version 1 expires
    // and the server says so with an ERROR frame carrying a 410 Status.
    let env = support::env::compacting_control_plane(binaries).await;
    let ns = support::env::unique_namespace(&env, "protobuf-gone").await;
    let client = support::env::admin_client(&env);
    let pb: Api<ConfigMap> = Api::namespaced(client.clone(), &ns);
    let js: Api<ConfigMap> = Api::namespaced(json_client(&client), &ns);
    let first_error = |api: Api<ConfigMap>| async move {
        let wp = WatchParams::default().timeout(1);
        let mut stream = match api.watch(&wp, "1").await {
            Ok(s) => s,
            Err(e) => return Some(e),
        };
        while let Some(ev) = stream.next().await {
            if let Err(e) = ev {
                return Some(e);
            }
        }
        None
    };
    let mut n = 0;
    let err: Error = eventually(
        "version 1 to be compacted",
        Duration::from_secs(120),
        || {
            n += 1;
            let pb = pb.clone();
            async move {
                // Writes move the revision on, so the compactor passes version 1.
                let _ = pb
                    .create(&PostParams::default(), &labelled_cm(&format!("w{n}")))
                    .await;
                first_error(pb).await
            }
        },
    )
    .await;
    assert!(err.is_gone(), "{err}");
    assert_eq!(err.reason(), Some("Expired"));
    let json_err = first_error(js).await.expect("JSON watch fails too");
    assert_eq!(json_err.code(), err.code());
    assert_eq!(json_err.reason(), err.reason());
}
