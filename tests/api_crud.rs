//! CRUD, every patch kind, server-side apply conflicts, metadata-only reads, dry-run and
//! delete semantics of `Api<K>` against the real API server, for ConfigMaps, Secrets,
//! ServiceAccounts, Namespaces, Pods and a CRD through `DynamicObject`.

mod support;

use k8s_client::api::{
    Api, ApiResource, DeleteParams, Deleted, DynamicObject, ListParams, LogParams, Patch,
    PatchParams, PostParams, Preconditions, Resource,
};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Pod, Secret, ServiceAccount};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::json;
use std::fmt::Debug;
use std::time::Duration;
use support::api::setup;
use support::api::wait_for_default_sa;
use support::eventually;

fn label<K: Resource>(obj: &K, key: &str) -> Option<String> {
    obj.meta().labels.as_ref()?.get(key).cloned()
}

/// Everything a resource type must support, exercised through metadata fields that every
/// kind has (labels, annotations), so one routine covers all of them.
async fn exercise<K>(api: &Api<K>, name: &str, object: K, strategic: bool)
where
    K: Resource + Clone + Debug + Serialize + DeserializeOwned + Send + Sync + 'static,
{
    let dt = api.dyntype().clone();
    // create (dry-run persists nothing), then for real; a second create is AlreadyExists.
    let dry = api
        .create(&PostParams::default().dry_run(), &object)
        .await
        .unwrap();
    assert_eq!(dry.meta().name.as_deref(), Some(name));
    assert!(
        api.get_opt(name).await.unwrap().is_none(),
        "dry-run create persisted"
    );
    let created = api.create(&PostParams::default(), &object).await.unwrap();
    let uid = created.meta().uid.clone().expect("uid");
    let err = api
        .create(&PostParams::default(), &object)
        .await
        .unwrap_err();
    assert!(err.is_already_exists(), "{err}");
    assert_eq!(err.code(), Some(409));

    // get, get_metadata, list by label
    let got = api.get(name).await.unwrap();
    assert_eq!(got.meta().uid.as_deref(), Some(uid.as_str()));
    let meta = api.get_metadata(name).await.unwrap();
    assert_eq!(meta.kind, "PartialObjectMetadata");
    assert_eq!(meta.metadata.uid.as_deref(), Some(uid.as_str()));
    let listed = api
        .list(&ListParams::default().fields(&format!("metadata.name={name}")))
        .await
        .unwrap();
    assert_eq!(listed.items.len(), 1);
    let metas = api
        .list_metadata(&ListParams::default().fields(&format!("metadata.name={name}")))
        .await
        .unwrap();
    assert_eq!(metas.items[0].metadata.name.as_deref(), Some(name));

    // replace; a replace with the old resourceVersion is a Conflict.
    let mut changed = got.clone();
    changed
        .meta_mut()
        .labels
        .get_or_insert_with(Default::default)
        .insert("step".into(), "replace".into());
    let replaced = api
        .replace(name, &PostParams::default(), &changed)
        .await
        .unwrap();
    assert_eq!(label(&replaced, "step").as_deref(), Some("replace"));
    let err = api
        .replace(name, &PostParams::default(), &changed)
        .await
        .unwrap_err();
    assert!(err.is_conflict(), "{err}");
    assert_eq!(err.reason(), Some("Conflict"));

    // JSON merge patch, JSON patch, strategic merge patch
    let pp = PatchParams::default();
    let merged = api
        .patch(
            name,
            &pp,
            &Patch::Merge(json!({"metadata": {"labels": {"step": "merge"}}})),
        )
        .await
        .unwrap();
    assert_eq!(label(&merged, "step").as_deref(), Some("merge"));
    let jp = json!([
        {"op": "test", "path": "/metadata/labels/step", "value": "merge"},
        {"op": "replace", "path": "/metadata/labels/step", "value": "json"}
    ]);
    let patched = api.patch(name, &pp, &Patch::Json(&jp)).await.unwrap();
    assert_eq!(label(&patched, "step").as_deref(), Some("json"));
    let failed_test = json!([{"op": "test", "path": "/metadata/labels/step", "value": "nope"}]);
    let err = api
        .patch(name, &pp, &Patch::Json(&failed_test))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some(422), "{err}");
    let smp = Patch::Strategic(json!({"metadata": {"labels": {"step": "strategic"}}}));
    if strategic {
        let patched = api.patch(name, &pp, &smp).await.unwrap();
        assert_eq!(label(&patched, "step").as_deref(), Some("strategic"));
    } else {
        // Custom resources have no strategic merge schema: 415 Unsupported Media Type.
        let err = api.patch(name, &pp, &smp).await.unwrap_err();
        assert_eq!(err.code(), Some(415), "{err}");
    }

    // server-side apply: a second manager changing an owned field conflicts; force wins.
    let apply = |value: &str| {
        let mut meta = json!({"name": name, "labels": {"owner": value}});
        if let Some(ns) = api.namespace() {
            meta["namespace"] = ns.into();
        }
        Patch::Apply(json!({
            "apiVersion": K::api_version(&dt),
            "kind": K::kind(&dt),
            "metadata": meta,
        }))
    };
    let applied = api
        .patch(name, &PatchParams::apply("alice"), &apply("alice"))
        .await
        .unwrap();
    assert_eq!(label(&applied, "owner").as_deref(), Some("alice"));
    let err = api
        .patch(name, &PatchParams::apply("bob"), &apply("bob"))
        .await
        .unwrap_err();
    assert!(err.is_conflict(), "{err}");
    let message = err
        .message()
        .expect("the server's Status carries a message");
    assert!(message.contains("alice"), "{message}");
    let dry = api
        .patch(
            name,
            &PatchParams::apply("bob").force().dry_run(),
            &apply("bob"),
        )
        .await
        .unwrap();
    assert_eq!(label(&dry, "owner").as_deref(), Some("bob"));
    assert_eq!(
        label(&api.get(name).await.unwrap(), "owner").as_deref(),
        Some("alice")
    );
    let forced = api
        .patch(name, &PatchParams::apply("bob").force(), &apply("bob"))
        .await
        .unwrap();
    assert_eq!(label(&forced, "owner").as_deref(), Some("bob"));
    let managers: Vec<_> = forced
        .meta()
        .managed_fields
        .iter()
        .flatten()
        .filter_map(|m| m.manager.clone())
        .collect();
    assert!(managers.iter().any(|m| m == "bob"), "{managers:?}");

    // delete: a wrong precondition is a Conflict; then the real delete.
    let wrong = DeleteParams::default()
        .preconditions(Preconditions::uid("00000000-0000-0000-0000-000000000000"));
    let err = api.delete(name, &wrong).await.unwrap_err();
    assert!(err.is_conflict(), "{err}");
    match api
        .delete(name, &DeleteParams::default().grace_period(0))
        .await
        .unwrap()
    {
        Deleted::Object(o) => assert_eq!(o.meta().uid.as_deref(), Some(uid.as_str())),
        Deleted::Status(s) => assert_eq!(s.status.as_deref(), Some("Success")),
        other => panic!("unexpected {other:?}"),
    }
    eventually(
        "the object to disappear",
        Duration::from_secs(60),
        || async move { api.get_opt(name).await.unwrap().is_none().then_some(()) },
    )
    .await;
    let err = api.get(name).await.unwrap_err();
    assert!(err.is_not_found(), "{err}");
    assert_eq!(err.reason(), Some("NotFound"));
}

fn named<K: Default + Resource>(name: &str) -> K {
    let mut k = K::default();
    k.meta_mut().name = Some(name.to_owned());
    k
}

#[tokio::test]
async fn configmaps() {
    let Some((_, client, ns)) = setup("crud-cm").await else {
        return;
    };
    let api: Api<ConfigMap> = Api::namespaced(client, &ns);
    let mut cm: ConfigMap = named("cm");
    cm.data = Some([("k".to_owned(), "v".to_owned())].into());
    exercise(&api, "cm", cm, true).await;
}

#[tokio::test]
async fn secrets() {
    let Some((_, client, ns)) = setup("crud-secret").await else {
        return;
    };
    let api: Api<Secret> = Api::namespaced(client, &ns);
    let mut s: Secret = named("s");
    s.string_data = Some([("password".to_owned(), "hunter2".to_owned())].into());
    exercise(&api, "s", s, true).await;
}

#[tokio::test]
async fn serviceaccounts() {
    let Some((_, client, ns)) = setup("crud-sa").await else {
        return;
    };
    let api: Api<ServiceAccount> = Api::namespaced(client, &ns);
    exercise(&api, "robot", named("robot"), true).await;
}

#[tokio::test]
async fn namespaces() {
    let Some((_, client, ns)) = setup("crud-ns").await else {
        return;
    };
    let api: Api<Namespace> = Api::all(client);
    let name = format!("{ns}-x");
    exercise(&api, &name, named(&name), true).await;
}

#[tokio::test]
async fn pods_with_status_and_eviction() {
    let Some((_, client, ns)) = setup("crud-pod").await else {
        return;
    };
    wait_for_default_sa(&client, &ns).await;
    let api: Api<Pod> = Api::namespaced(client, &ns);
    let pod: Pod = serde_json::from_value(json!({
        "metadata": {"name": "p"},
        "spec": {"containers": [{"name": "c", "image": "registry.k8s.io/pause:3.10"}]}
    }))
    .unwrap();
    exercise(&api, "p", pod.clone(), true).await;

    // status subresource: a patch of .status through /status is kept.
    api.create(&PostParams::default(), &pod).await.unwrap();
    let status = json!({"status": {"conditions": [{"type": "Example", "status": "True"}]}});
    let patched = api
        .patch_status("p", &PatchParams::default(), &Patch::Merge(&status))
        .await
        .unwrap();
    let conditions = patched.status.unwrap().conditions.unwrap();
    assert!(conditions.iter().any(|c| c.type_ == "Example"));
    let got = api.get_status("p").await.unwrap();
    assert!(
        got.status
            .unwrap()
            .conditions
            .unwrap()
            .iter()
            .any(|c| c.type_ == "Example")
    );

    // pods/log: an unscheduled pod has no container that ever wrote, so the log is
    // empty, as text and as a byte stream alike (a missing pod is a typed 404).
    let text = api
        .logs("p", &LogParams::default().tail_lines(10))
        .await
        .unwrap();
    assert_eq!(text, "");
    let bytes = api
        .log_stream("p", &LogParams::default().timestamps())
        .await
        .unwrap()
        .collect_bytes()
        .await
        .unwrap();
    assert!(bytes.is_empty());
    let err = api.logs("nope", &LogParams::default()).await.unwrap_err();
    assert!(err.is_not_found(), "{err}");

    // eviction deletes the (unscheduled) pod.
    let answer = api.evict("p", &DeleteParams::default()).await.unwrap();
    assert_eq!(answer.status.as_deref(), Some("Success"));
    let pods = &api;
    eventually(
        "the evicted pod to disappear",
        Duration::from_secs(60),
        || async move { pods.get_opt("p").await.unwrap().is_none().then_some(()) },
    )
    .await;
}

#[tokio::test]
async fn custom_resources_through_dynamic_objects() {
    let Some((_, client, ns)) = setup("crud-crd").await else {
        return;
    };
    let group = format!("{ns}.example.com");
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    let crd: CustomResourceDefinition = serde_json::from_value(json!({
        "metadata": {"name": format!("crontabs.{group}")},
        "spec": {
            "group": group,
            "names": {"kind": "CronTab", "plural": "crontabs", "singular": "crontab"},
            "scope": "Namespaced",
            "versions": [{
                "name": "v1", "served": true, "storage": true,
                "schema": {"openAPIV3Schema": {"type": "object", "properties": {
                    "spec": {"type": "object", "properties": {
                        "cronSpec": {"type": "string"},
                        "replicas": {"type": "integer"}}},
                    "status": {"type": "object", "properties": {"replicas": {"type": "integer"}}}}}},
                "subresources": {"status": {}, "scale": {
                    "specReplicasPath": ".spec.replicas",
                    "statusReplicasPath": ".status.replicas"}}
            }]
        }
    }))
    .unwrap();
    crds.create(&PostParams::default(), &crd).await.unwrap();
    let crd_name = format!("crontabs.{group}");
    let (crds_ref, crd_name_ref) = (&crds, crd_name.as_str());
    eventually(
        "the CRD to be established",
        Duration::from_secs(60),
        || async move {
            let crd = crds_ref.get(crd_name_ref).await.unwrap();
            let established = crd
                .status?
                .conditions?
                .iter()
                .any(|c| c.type_ == "Established" && c.status == "True");
            established.then_some(())
        },
    )
    .await;

    let ar = ApiResource::new(&group, "v1", "CronTab", "crontabs", true);
    let api: Api<DynamicObject> = Api::namespaced_with(client, &ns, &ar);
    let object = DynamicObject::new("ct", &ar)
        .within(&ns)
        .data(json!({"spec": {"cronSpec": "* * * * */5", "replicas": 1}}));
    // The API server may need a moment after Established to serve the new group.
    let cts = &api;
    eventually(
        "the custom resource endpoint",
        Duration::from_secs(30),
        || async move { cts.list(&ListParams::default()).await.ok().map(|_| ()) },
    )
    .await;
    exercise(&api, "ct", object.clone(), false).await;

    // scale subresource and status of a custom resource
    api.create(&PostParams::default(), &object).await.unwrap();
    let scale = api.get_scale("ct").await.unwrap();
    assert_eq!(scale.spec.unwrap().replicas, Some(1));
    let scaled = api
        .patch_scale(
            "ct",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"replicas": 3}})),
        )
        .await
        .unwrap();
    assert_eq!(scaled.spec.unwrap().replicas, Some(3));
    assert_eq!(api.get("ct").await.unwrap().data["spec"]["replicas"], 3);
    let with_status = api
        .patch_status(
            "ct",
            &PatchParams::default(),
            &Patch::Merge(json!({"status": {"replicas": 3}})),
        )
        .await
        .unwrap();
    assert_eq!(with_status.data["status"]["replicas"], 3);

    // delete_collection
    match api
        .delete_collection(&DeleteParams::default(), &ListParams::default())
        .await
        .unwrap()
    {
        Deleted::Object(list) => assert_eq!(list.items.len(), 1),
        Deleted::Status(s) => assert_eq!(s.status.as_deref(), Some("Success")),
        other => panic!("unexpected {other:?}"),
    }
    eventually(
        "the collection to be empty",
        Duration::from_secs(30),
        || async move {
            cts.list(&ListParams::default())
                .await
                .unwrap()
                .items
                .is_empty()
                .then_some(())
        },
    )
    .await;
    crds.delete(&crd_name, &DeleteParams::default())
        .await
        .unwrap();
}

#[tokio::test]
async fn configmap_delete_answers_with_a_status_and_namespace_with_the_object() {
    let Some((_, client, ns)) = setup("crud-delete").await else {
        return;
    };
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), &ns);
    cms.create(&PostParams::default(), &named("gone"))
        .await
        .unwrap();
    let d = cms
        .delete("gone", &DeleteParams::background())
        .await
        .unwrap();
    assert!(
        matches!(d, Deleted::Status(ref s) if s.status.as_deref() == Some("Success")),
        "{d:?}"
    );
    let nss: Api<Namespace> = Api::all(client);
    match nss.delete(&ns, &DeleteParams::default()).await.unwrap() {
        Deleted::Object(n) => {
            assert!(n.metadata.deletion_timestamp.is_some());
            assert_eq!(n.status.unwrap().phase.as_deref(), Some("Terminating"));
        }
        other => panic!("expected the namespace object, got {other:?}"),
    }
}

#[tokio::test]
async fn server_errors_are_typed() {
    let Some((env, client, ns)) = setup("errors").await else {
        return;
    };
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), &ns);

    // 404 NotFound
    let err = cms.get("missing").await.unwrap_err();
    assert!(err.is_not_found() && !err.is_conflict(), "{err}");
    assert_eq!((err.code(), err.reason()), (Some(404), Some("NotFound")));
    assert!(cms.get_opt("missing").await.unwrap().is_none());

    // 409 AlreadyExists and 409 Conflict
    cms.create(&PostParams::default(), &named("dup"))
        .await
        .unwrap();
    let err = cms
        .create(&PostParams::default(), &named("dup"))
        .await
        .unwrap_err();
    assert!(err.is_already_exists() && !err.is_conflict(), "{err}");
    let mut stale: ConfigMap = named("dup");
    stale.metadata.resource_version = Some("1".into());
    let err = cms
        .replace("dup", &PostParams::default(), &stale)
        .await
        .unwrap_err();
    assert!(err.is_conflict() && !err.is_already_exists(), "{err}");

    // 422 Invalid: an upper-case name is not a DNS subdomain.
    let err = cms
        .create(&PostParams::default(), &named("Not_Valid"))
        .await
        .unwrap_err();
    assert_eq!(
        (err.code(), err.reason()),
        (Some(422), Some("Invalid")),
        "{err}"
    );
    let message = err
        .message()
        .expect("the server's Status carries a message");
    assert!(message.contains("Not_Valid"), "{message}");

    // 403 Forbidden for a user without RBAC rights; the Status names the user.
    let denied: Api<ConfigMap> = Api::namespaced(support::env::noperm_client(env), &ns);
    let err = denied.list(&ListParams::default()).await.unwrap_err();
    assert!(err.is_forbidden(), "{err}");
    assert_eq!(err.reason(), Some("Forbidden"));
    assert!(
        err.to_string().contains(k8s_client::testenv::NOPERM_USER),
        "{err}"
    );

    // 410 Gone: see tests/api_gone.rs (it needs a compacting API server).

    // A request the client refuses to build never reaches the server.
    let err = cms.get("a/b").await.unwrap_err();
    assert!(matches!(err, k8s_client::Error::Request(_)), "{err:?}");
}

#[tokio::test]
async fn deployment_scale_subresource() {
    let Some((_, client, ns)) = setup("scale").await else {
        return;
    };
    let deployments: Api<Deployment> = Api::namespaced(client, &ns);
    let d: Deployment = serde_json::from_value(json!({
        "metadata": {"name": "web"},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [{"name": "c", "image": "registry.k8s.io/pause:3.10"}]}
            }
        }
    }))
    .unwrap();
    deployments
        .create(&PostParams::default(), &d)
        .await
        .unwrap();
    let scale = deployments.get_scale("web").await.unwrap();
    assert_eq!(scale.spec.as_ref().unwrap().replicas, Some(1));
    // The controller keeps updating the Deployment's status: write unconditionally.
    let mut wanted = scale.clone();
    wanted.metadata.resource_version = None;
    wanted.spec.as_mut().unwrap().replicas = Some(2);
    let replaced = deployments
        .replace_scale("web", &PostParams::default(), &wanted)
        .await
        .unwrap();
    assert_eq!(replaced.spec.unwrap().replicas, Some(2));
    let patched = deployments
        .patch_scale(
            "web",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"replicas": 4}})),
        )
        .await
        .unwrap();
    assert_eq!(patched.spec.unwrap().replicas, Some(4));
    let d = deployments.get("web").await.unwrap();
    assert_eq!(d.spec.replicas, Some(4));
    // The first Scale's resourceVersion is stale by now: a conflict, as on any object.
    let err = deployments
        .replace_scale("web", &PostParams::default(), &scale)
        .await
        .unwrap_err();
    assert!(err.is_conflict(), "{err}");
}

#[tokio::test]
async fn built_in_kinds_through_dynamic_objects() {
    let Some((_, client, ns)) = setup("crud-dyn").await else {
        return;
    };
    let ar = ApiResource::new("", "v1", "ConfigMap", "configmaps", true);
    // Discovery resolves the kubectl short name to the same description.
    let mapping = client.discovery().resolve("cm").await.unwrap();
    assert_eq!(ApiResource::from(&mapping), ar);
    let api: Api<DynamicObject> = Api::namespaced_with(client, &ns, &ar);
    let cm = DynamicObject::new("dyn", &ar).data(json!({"data": {"a": "1"}}));
    api.create(&PostParams::default(), &cm).await.unwrap();
    // Items of a built-in list come without apiVersion/kind; the Api fills them in, so a
    // listed object can be sent straight back.
    let mut listed = api
        .list(&ListParams::default().fields("metadata.name=dyn"))
        .await
        .unwrap()
        .items
        .remove(0);
    assert_eq!(listed.types.as_ref().unwrap().kind, "ConfigMap");
    listed.data["data"]["a"] = json!("2");
    let replaced = api
        .replace("dyn", &PostParams::default(), &listed)
        .await
        .unwrap();
    assert_eq!(replaced.data["data"]["a"], "2");
}
