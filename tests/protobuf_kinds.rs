//! Protobuf decoding against the real API server: for one realistic object of each of
//! 30+ built-in kinds, the object read as protobuf (`get` and `list`) and decoded by
//! `k8s_client::codec` equals the same object read as JSON and decoded by serde.

#![recursion_limit = "512"]

mod support;

use k8s_client::Client;
use k8s_client::api::{Api, ObjectList, PostParams, Resource};
use k8s_client::codec;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use std::fmt::Debug;
use support::api::setup;

async fn get_json<T: DeserializeOwned>(client: &Client, path: &str) -> T {
    let req = http::Request::get(path)
        .header(http::header::ACCEPT, "application/json")
        .body(Vec::new())
        .unwrap();
    client.request(req).await.unwrap()
}

async fn get_protobuf(client: &Client, path: &str) -> bytes::Bytes {
    let req = http::Request::get(path)
        .header(http::header::ACCEPT, codec::PROTOBUF)
        .body(Vec::new())
        .unwrap();
    let body = client.request_bytes(req).await.unwrap();
    assert!(body.starts_with(codec::MAGIC), "{path}: not protobuf");
    body
}

/// The JSON paths where `a` and `b` differ, with both values.
fn diff(path: &str, a: &Value, b: &Value, out: &mut Vec<String>) {
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            let keys: std::collections::BTreeSet<_> = x.keys().chain(y.keys()).collect();
            for k in keys {
                let (va, vb) = (
                    x.get(k).unwrap_or(&Value::Null),
                    y.get(k).unwrap_or(&Value::Null),
                );
                if x.contains_key(k) != y.contains_key(k) {
                    out.push(format!(
                        "{path}.{k}: JSON {va} / protobuf {vb} (present {} / {})",
                        x.contains_key(k),
                        y.contains_key(k)
                    ));
                } else {
                    diff(&format!("{path}.{k}"), va, vb, out);
                }
            }
        }
        (Value::Array(x), Value::Array(y)) if x.len() == y.len() => {
            for (i, (va, vb)) in x.iter().zip(y).enumerate() {
                diff(&format!("{path}[{i}]"), va, vb, out);
            }
        }
        _ if a != b => out.push(format!("{path}: JSON {a} / protobuf {b}")),
        _ => {}
    }
}

fn assert_same<T: Serialize + PartialEq + Debug>(what: &str, json: &T, proto: &T) {
    if json != proto {
        let mut out = Vec::new();
        diff(
            "",
            &serde_json::to_value(json).unwrap(),
            &serde_json::to_value(proto).unwrap(),
            &mut out,
        );
        if out.is_empty() {
            out.push(format!("{json:?}\n{proto:?}"));
        }
        panic!(
            "{what}: protobuf and JSON decode differently:\n{}",
            out.join("\n")
        );
    }
}

/// Creates `object` through `api`, then compares get and list over both encodings.
/// Controllers may change the object between the two reads: the comparison is made
/// once both reads saw the same `resourceVersion`.
async fn check<K>(client: &Client, api: &Api<K>, object: Value)
where
    K: Resource<DynamicType = ()>
        + Serialize
        + DeserializeOwned
        + PartialEq
        + Debug
        + Clone
        + Send
        + 'static,
{
    assert!(codec::supports::<K>(), "{}", std::any::type_name::<K>());
    let object: K = serde_json::from_value(object).unwrap();
    let name = object.meta().name.clone().unwrap();
    let created = api.create(&PostParams::default(), &object).await.unwrap();
    assert_eq!(created.meta().name.as_deref(), Some(name.as_str()));
    let what = format!("{} {name}", K::kind(&()));
    let item = format!("{}/{name}", api.request().collection());
    let list = format!(
        "{}?fieldSelector=metadata.name%3D{name}",
        api.request().collection()
    );
    for attempt in 0.. {
        assert!(attempt < 20, "{what}: kept changing between reads");
        let json: K = get_json(client, &item).await;
        let proto: K = codec::decode(&get_protobuf(client, &item).await).unwrap();
        if json.meta().resource_version != proto.meta().resource_version {
            continue;
        }
        assert_same(&what, &json, &proto);
        break;
    }
    for attempt in 0.. {
        assert!(attempt < 20, "{what}: list kept changing between reads");
        let json: ObjectList<K> = get_json(client, &list).await;
        let proto: ObjectList<K> = codec::decode_list(&get_protobuf(client, &list).await).unwrap();
        assert_eq!(json.items.len(), 1, "{what}");
        assert_eq!(proto.items.len(), 1, "{what}");
        if json.items[0].meta().resource_version != proto.items[0].meta().resource_version {
            continue;
        }
        assert_same(&format!("{what} (list)"), &json.items, &proto.items);
        assert!(
            proto.metadata.resource_version.is_some(),
            "{what}: list metadata"
        );
        break;
    }
}

fn pod_spec() -> Value {
    json!({
        "initContainers": [{"name": "init", "image": "busybox", "command": ["true"]}],
        "containers": [{
            "name": "app",
            "image": "nginx:1.27",
            "args": ["-g", "daemon off;"],
            "workingDir": "/srv",
            "ports": [{"name": "http", "containerPort": 80, "protocol": "TCP"},
                      {"containerPort": 443, "hostPort": 8443}],
            "env": [{"name": "A", "value": "1"},
                    {"name": "EMPTY", "value": ""},
                    {"name": "POD", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
                    {"name": "CPU", "valueFrom": {"resourceFieldRef": {"resource": "limits.cpu", "divisor": "1m"}}}],
            "envFrom": [{"prefix": "CFG_", "configMapRef": {"name": "cfg", "optional": true}}],
            "resources": {"limits": {"cpu": "500m", "memory": "128Mi"},
                          "requests": {"cpu": "0.1", "memory": "64M", "ephemeral-storage": "1Gi"}},
            "livenessProbe": {"httpGet": {"path": "/healthz", "port": "http", "scheme": "HTTP",
                                          "httpHeaders": [{"name": "X", "value": "y"}]},
                              "initialDelaySeconds": 3, "periodSeconds": 10, "failureThreshold": 0},
            "readinessProbe": {"tcpSocket": {"port": 80}, "timeoutSeconds": 2},
            "startupProbe": {"exec": {"command": ["cat", "/tmp/ok"]}},
            "lifecycle": {"preStop": {"sleep": {"seconds": 5}}},
            "volumeMounts": [{"name": "cfg", "mountPath": "/cfg", "readOnly": true},
                             {"name": "scratch", "mountPath": "/tmp", "subPath": "x"}],
            "securityContext": {"runAsNonRoot": true, "runAsUser": 1000, "allowPrivilegeEscalation": false,
                                "capabilities": {"drop": ["ALL"], "add": ["NET_BIND_SERVICE"]},
                                "seccompProfile": {"type": "RuntimeDefault"}},
            "imagePullPolicy": "IfNotPresent",
            "stdin": false,
            "tty": true
        }],
        "volumes": [
            {"name": "cfg", "configMap": {"name": "cfg", "defaultMode": 420,
                                          "items": [{"key": "a", "path": "a.txt", "mode": 256}]}},
            {"name": "scratch", "emptyDir": {"medium": "Memory", "sizeLimit": "64Mi"}},
            {"name": "sec", "secret": {"secretName": "s", "optional": false}},
            {"name": "proj", "projected": {"sources": [
                {"serviceAccountToken": {"path": "token", "expirationSeconds": 3600, "audience": "api"}},
                {"downwardAPI": {"items": [{"path": "labels", "fieldRef": {"fieldPath": "metadata.labels"}}]}}]}},
            {"name": "hp", "hostPath": {"path": "/var/log", "type": "Directory"}}
        ],
        "affinity": {
            "nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
                {"matchExpressions": [{"key": "kubernetes.io/os", "operator": "In", "values": ["linux"]}]}]},
                "preferredDuringSchedulingIgnoredDuringExecution": [{"weight": 1, "preference": {
                    "matchExpressions": [{"key": "zone", "operator": "Exists"}]}}]},
            "podAntiAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [{"weight": 100,
                "podAffinityTerm": {"topologyKey": "kubernetes.io/hostname",
                                    "labelSelector": {"matchLabels": {"app": "web"}}}}]}
        },
        "tolerations": [{"key": "k", "operator": "Equal", "value": "v", "effect": "NoSchedule"},
                        {"operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 30}],
        "topologySpreadConstraints": [{"maxSkew": 1, "topologyKey": "zone", "whenUnsatisfiable": "ScheduleAnyway",
                                       "labelSelector": {"matchLabels": {"app": "web"}}}],
        "dnsPolicy": "None",
        "dnsConfig": {"nameservers": ["1.1.1.1"], "searches": ["svc.local"],
                      "options": [{"name": "ndots", "value": "2"}, {"name": "edns0"}]},
        "hostAliases": [{"ip": "10.0.0.1", "hostnames": ["a", "b"]}],
        "readinessGates": [{"conditionType": "example.com/ready"}],
        "securityContext": {"fsGroup": 2000, "supplementalGroups": [3000, 4000],
                            "sysctls": [{"name": "net.ipv4.ip_local_port_range", "value": "1024 65535"}]},
        "terminationGracePeriodSeconds": 30,
        "activeDeadlineSeconds": 600,
        "nodeSelector": {"disk": "ssd"},
        "priority": 0,
        "enableServiceLinks": false
    })
}

fn template(app: &str) -> Value {
    let mut spec = pod_spec();
    spec["restartPolicy"] = json!("Always");
    spec.as_object_mut()
        .unwrap()
        .remove("activeDeadlineSeconds");
    json!({"metadata": {"labels": {"app": app}, "annotations": {"a": "b"}}, "spec": spec})
}

#[tokio::test]
async fn every_builtin_kind_decodes_from_protobuf_like_from_json() {
    use k8s_openapi::api::{
        admissionregistration::v1 as admission, apps::v1 as apps, autoscaling::v2 as hpa,
        batch::v1 as batch, coordination::v1 as coordination, core::v1 as core,
        discovery::v1 as discovery, events::v1 as events, networking::v1 as networking,
        policy::v1 as policy, rbac::v1 as rbac, scheduling::v1 as scheduling,
        storage::v1 as storage,
    };
    use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
    use k8s_openapi::kube_aggregator::pkg::apis::apiregistration::v1::APIService;

    let Some((_env, client, ns)) = setup("protobuf-kinds").await else {
        return;
    };
    let c = &client;
    let nsd = || client.clone();
    let _ = &ns;
    macro_rules! namespaced {
        ($t:ty, $obj:expr) => {
            check(c, &Api::<$t>::namespaced(nsd(), &ns), $obj).await
        };
    }
    macro_rules! cluster {
        ($t:ty, $obj:expr) => {
            check(c, &Api::<$t>::all(nsd()), $obj).await
        };
    }
    let unique = |n: &str| format!("{ns}-{n}");

    let mut pod = json!({"metadata": {"name": "web", "labels": {"app": "web"},
        "annotations": {"note": "ünïcödé", "empty": ""}, "finalizers": ["example.com/keep"]}});
    pod["spec"] = pod_spec();
    pod["spec"]["restartPolicy"] = json!("Never");
    namespaced!(core::Pod, pod);
    namespaced!(
        core::ConfigMap,
        json!({"metadata": {"name": "cfg"},
        "data": {"a": "1", "empty": "", "multi": "line1\nline2"},
        "binaryData": {"bin": "AAECA/8="}, "immutable": true})
    );
    namespaced!(
        core::Secret,
        json!({"metadata": {"name": "s"}, "type": "Opaque",
        "data": {"raw": "/wD+AAEC", "empty": ""}, "stringData": {"text": "hello"}})
    );
    namespaced!(
        core::ServiceAccount,
        json!({"metadata": {"name": "robot"},
        "automountServiceAccountToken": false, "imagePullSecrets": [{"name": "regcred"}]})
    );
    namespaced!(
        core::Service,
        json!({"metadata": {"name": "web"}, "spec": {
        "selector": {"app": "web"}, "type": "NodePort", "sessionAffinity": "ClientIP",
        "sessionAffinityConfig": {"clientIP": {"timeoutSeconds": 600}},
        "ports": [{"name": "http", "port": 80, "targetPort": "http", "protocol": "TCP"},
                  {"name": "https", "port": 443, "targetPort": 8443, "appProtocol": "https"}],
        "externalTrafficPolicy": "Local", "publishNotReadyAddresses": true}})
    );
    namespaced!(
        core::PersistentVolumeClaim,
        json!({"metadata": {"name": "data"}, "spec": {
        "accessModes": ["ReadWriteOnce"], "storageClassName": "none",
        "resources": {"requests": {"storage": "1Gi"}, "limits": {"storage": "2Gi"}},
        "volumeMode": "Filesystem", "selector": {"matchExpressions": [
            {"key": "tier", "operator": "NotIn", "values": ["cold"]}]}}})
    );
    namespaced!(
        core::ResourceQuota,
        json!({"metadata": {"name": "quota"}, "spec": {
        "hard": {"pods": "10", "requests.cpu": "2.5", "requests.memory": "1.5Gi", "count/configmaps": "1k"},
        "scopeSelector": {"matchExpressions": [{"scopeName": "PriorityClass", "operator": "In", "values": ["high"]}]}}})
    );
    namespaced!(
        core::LimitRange,
        json!({"metadata": {"name": "limits"}, "spec": {"limits": [
        {"type": "Container", "default": {"cpu": "500m", "memory": "512Mi"},
         "defaultRequest": {"cpu": "100m"}, "max": {"cpu": "2"}, "min": {"memory": "4Mi"},
         "maxLimitRequestRatio": {"cpu": "4"}}]}})
    );
    namespaced!(
        core::Event,
        json!({"metadata": {"name": "ev.1"},
        "involvedObject": {"kind": "Pod", "name": "web", "namespace": ns, "apiVersion": "v1", "fieldPath": "spec.containers{app}"},
        "reason": "Started", "message": "Started container", "type": "Normal", "count": 3,
        "firstTimestamp": "2024-01-02T03:04:05Z", "lastTimestamp": "2024-01-02T03:05:05Z",
        "source": {"component": "kubelet", "host": "node-1"}})
    );
    namespaced!(
        core::Endpoints,
        json!({"metadata": {"name": "legacy"}, "subsets": [{
        "addresses": [{"ip": "10.1.2.3", "hostname": "a", "targetRef": {"kind": "Pod", "name": "web"}}],
        "notReadyAddresses": [{"ip": "10.1.2.4"}],
        "ports": [{"name": "http", "port": 80, "protocol": "TCP"}]}]})
    );
    namespaced!(
        core::ReplicationController,
        json!({"metadata": {"name": "rc"}, "spec": {
        "replicas": 0, "selector": {"app": "rc"}, "template": template("rc")}})
    );
    namespaced!(
        core::PodTemplate,
        json!({"metadata": {"name": "tpl"}, "template": template("tpl")})
    );

    namespaced!(
        apps::Deployment,
        json!({"metadata": {"name": "web"}, "spec": {
        "replicas": 0, "selector": {"matchLabels": {"app": "web"}}, "template": template("web"),
        "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": 1}},
        "revisionHistoryLimit": 3, "progressDeadlineSeconds": 120, "minReadySeconds": 0}})
    );
    namespaced!(
        apps::StatefulSet,
        json!({"metadata": {"name": "db"}, "spec": {
        "replicas": 0, "serviceName": "db", "selector": {"matchLabels": {"app": "db"}},
        "template": template("db"), "podManagementPolicy": "Parallel",
        "updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"partition": 0, "maxUnavailable": "50%"}},
        "persistentVolumeClaimRetentionPolicy": {"whenDeleted": "Delete", "whenScaled": "Retain"},
        "volumeClaimTemplates": [{"metadata": {"name": "data"}, "spec": {"accessModes": ["ReadWriteOnce"],
            "resources": {"requests": {"storage": "1Gi"}}}}]}})
    );
    namespaced!(
        apps::DaemonSet,
        json!({"metadata": {"name": "agent"}, "spec": {
        "selector": {"matchLabels": {"app": "agent"}}, "template": template("agent"),
        "updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 1, "maxSurge": 0}}}})
    );
    namespaced!(
        apps::ReplicaSet,
        json!({"metadata": {"name": "rs"}, "spec": {
        "replicas": 0, "selector": {"matchLabels": {"app": "rs"}}, "template": template("rs")}})
    );
    namespaced!(
        apps::ControllerRevision,
        json!({"metadata": {"name": "rev"}, "revision": 7,
        "data": {"spec": {"template": {"metadata": {"labels": {"a": "b"}}}}, "n": 1.5, "list": [1, "x", null]}})
    );
    let mut job_tpl = template("job");
    job_tpl["spec"]["restartPolicy"] = json!("Never");
    namespaced!(
        batch::Job,
        json!({"metadata": {"name": "job"}, "spec": {
        "suspend": true, "parallelism": 2, "completions": 4, "backoffLimit": 1,
        "completionMode": "Indexed", "ttlSecondsAfterFinished": 60, "template": job_tpl.clone(),
        "podFailurePolicy": {"rules": [{"action": "FailJob", "onExitCodes": {"containerName": "app",
            "operator": "In", "values": [42]}}, {"action": "Ignore",
            "onPodConditions": [{"type": "DisruptionTarget", "status": "True"}]}]}}})
    );
    namespaced!(
        batch::CronJob,
        json!({"metadata": {"name": "cron"}, "spec": {
        "schedule": "*/5 * * * *", "timeZone": "Etc/UTC", "suspend": true, "concurrencyPolicy": "Forbid",
        "successfulJobsHistoryLimit": 1, "failedJobsHistoryLimit": 0, "startingDeadlineSeconds": 30,
        "jobTemplate": {"metadata": {"labels": {"x": "y"}}, "spec": {"template": job_tpl}}}})
    );
    namespaced!(
        discovery::EndpointSlice,
        json!({"metadata": {"name": "web-1",
        "labels": {"kubernetes.io/service-name": "web"}}, "addressType": "IPv4",
        "endpoints": [{"addresses": ["10.0.0.5"], "conditions": {"ready": true, "serving": true, "terminating": false},
                       "hostname": "web-0", "nodeName": "node-1", "zone": "a",
                       "targetRef": {"kind": "Pod", "name": "web-0", "namespace": ns},
                       "hints": {"forZones": [{"name": "a"}]}}],
        "ports": [{"name": "http", "port": 80, "protocol": "TCP", "appProtocol": "http"}]})
    );
    namespaced!(
        rbac::Role,
        json!({"metadata": {"name": "reader"}, "rules": [
        {"apiGroups": [""], "resources": ["pods", "pods/log"], "verbs": ["get", "list", "watch"]},
        {"apiGroups": ["apps"], "resources": ["deployments"], "resourceNames": ["web"], "verbs": ["*"]}]})
    );
    namespaced!(
        rbac::RoleBinding,
        json!({"metadata": {"name": "reader"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "reader"},
        "subjects": [{"kind": "ServiceAccount", "name": "robot", "namespace": ns},
                     {"kind": "User", "name": "jane", "apiGroup": "rbac.authorization.k8s.io"}]})
    );
    namespaced!(
        coordination::Lease,
        json!({"metadata": {"name": "leader"}, "spec": {
        "holderIdentity": "pod-a", "leaseDurationSeconds": 15, "leaseTransitions": 2,
        "acquireTime": "2024-05-06T07:08:09.123456Z", "renewTime": "2024-05-06T07:08:19.000001Z"}})
    );
    namespaced!(
        events::Event,
        json!({"metadata": {"name": "ev.2"},
        "eventTime": "2024-05-06T07:08:09.654321Z", "reportingController": "example.com/ctl",
        "reportingInstance": "ctl-1", "action": "Scale", "reason": "Scaled", "type": "Warning",
        "note": "scaled up", "regarding": {"kind": "Deployment", "name": "web", "namespace": ns},
        "series": {"count": 2, "lastObservedTime": "2024-05-06T07:09:09.000100Z"}})
    );
    namespaced!(
        networking::NetworkPolicy,
        json!({"metadata": {"name": "deny"}, "spec": {
        "podSelector": {"matchLabels": {"app": "web"}}, "policyTypes": ["Ingress", "Egress"],
        "ingress": [{"from": [{"ipBlock": {"cidr": "10.0.0.0/8", "except": ["10.1.0.0/16"]}},
                              {"namespaceSelector": {}}], "ports": [{"protocol": "TCP", "port": "http"},
                              {"port": 8000, "endPort": 8080}]}],
        "egress": [{}]}})
    );
    namespaced!(
        networking::Ingress,
        json!({"metadata": {"name": "web"}, "spec": {
        "ingressClassName": "nginx", "tls": [{"hosts": ["a.example.com"], "secretName": "tls"}],
        "defaultBackend": {"service": {"name": "web", "port": {"number": 80}}},
        "rules": [{"host": "a.example.com", "http": {"paths": [
            {"path": "/", "pathType": "Prefix", "backend": {"service": {"name": "web", "port": {"name": "http"}}}},
            {"path": "/static", "pathType": "Exact", "backend": {"resource": {"apiGroup": "example.com", "kind": "Bucket", "name": "b"}}}]}}]}})
    );
    namespaced!(
        hpa::HorizontalPodAutoscaler,
        json!({"metadata": {"name": "web"}, "spec": {
        "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
        "minReplicas": 1, "maxReplicas": 10,
        "metrics": [{"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 70}}},
                    {"type": "Pods", "pods": {"metric": {"name": "qps", "selector": {"matchLabels": {"a": "b"}}},
                                              "target": {"type": "AverageValue", "averageValue": "1500m"}}}],
        "behavior": {"scaleDown": {"stabilizationWindowSeconds": 300, "selectPolicy": "Min",
            "policies": [{"type": "Percent", "value": 10, "periodSeconds": 60}]}}}})
    );
    namespaced!(
        policy::PodDisruptionBudget,
        json!({"metadata": {"name": "web"}, "spec": {
        "minAvailable": "50%", "selector": {"matchLabels": {"app": "web"}},
        "unhealthyPodEvictionPolicy": "AlwaysAllow"}})
    );

    cluster!(
        core::Namespace,
        json!({"metadata": {"name": unique("extra"), "labels": {"team": "a"}},
        "spec": {"finalizers": ["kubernetes"]}})
    );
    cluster!(
        core::Node,
        json!({"metadata": {"name": unique("node"), "labels": {"kubernetes.io/os": "linux"}},
        "spec": {"podCIDR": "10.244.0.0/24", "podCIDRs": ["10.244.0.0/24"], "unschedulable": true,
                 "taints": [{"key": "dedicated", "value": "gpu", "effect": "NoSchedule"}]}})
    );
    cluster!(
        core::PersistentVolume,
        json!({"metadata": {"name": unique("pv")}, "spec": {
        "capacity": {"storage": "10Gi"}, "accessModes": ["ReadWriteOnce", "ReadOnlyMany"],
        "persistentVolumeReclaimPolicy": "Retain", "storageClassName": "none", "mountOptions": ["ro"],
        "hostPath": {"path": "/data", "type": "DirectoryOrCreate"},
        "nodeAffinity": {"required": {"nodeSelectorTerms": [{"matchFields": [
            {"key": "metadata.name", "operator": "In", "values": ["node-1"]}]}]}}}})
    );
    cluster!(
        rbac::ClusterRole,
        json!({"metadata": {"name": unique("agg")},
        "aggregationRule": {"clusterRoleSelectors": [{"matchLabels": {"agg": unique("x")}}]}})
    );
    cluster!(
        rbac::ClusterRole,
        json!({"metadata": {"name": unique("view")}, "rules": [
        {"nonResourceURLs": ["/healthz", "/metrics"], "verbs": ["get"]}]})
    );
    cluster!(
        rbac::ClusterRoleBinding,
        json!({"metadata": {"name": unique("crb")},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": unique("view")},
        "subjects": [{"kind": "Group", "name": "devs", "apiGroup": "rbac.authorization.k8s.io"}]})
    );
    cluster!(
        scheduling::PriorityClass,
        json!({"metadata": {"name": unique("high")}, "value": 1000000,
        "globalDefault": false, "description": "high", "preemptionPolicy": "Never"})
    );
    cluster!(
        storage::StorageClass,
        json!({"metadata": {"name": unique("fast")},
        "provisioner": "example.com/csi", "parameters": {"type": "ssd", "iops": "3000"},
        "reclaimPolicy": "Retain", "allowVolumeExpansion": true, "volumeBindingMode": "WaitForFirstConsumer",
        "mountOptions": ["debug"], "allowedTopologies": [{"matchLabelExpressions": [
            {"key": "zone", "values": ["a", "b"]}]}]})
    );
    cluster!(
        admission::ValidatingWebhookConfiguration,
        json!({"metadata": {"name": unique("hook")},
        "webhooks": [{"name": "check.example.com", "admissionReviewVersions": ["v1"], "sideEffects": "None",
            "failurePolicy": "Ignore", "matchPolicy": "Equivalent", "timeoutSeconds": 5,
            "clientConfig": {"url": "https://example.com/check", "caBundle": "AAEC"},
            "rules": [{"apiGroups": [""], "apiVersions": ["v1"], "operations": ["CREATE", "UPDATE"],
                       "resources": ["configmaps"], "scope": "Namespaced"}],
            "namespaceSelector": {"matchLabels": {"hook": unique("never")}},
            "matchConditions": [{"name": "not-system", "expression": "!request.userInfo.username.startsWith('system:')"}]}]})
    );
    cluster!(
        APIService,
        json!({"metadata": {"name": "v1alpha1.protobuf.example.com"}, "spec": {
        "group": "protobuf.example.com", "version": "v1alpha1", "groupPriorityMinimum": 100,
        "versionPriority": 10, "insecureSkipTLSVerify": true,
        "service": {"name": "api", "namespace": ns, "port": 443}}})
    );
    cluster!(
        CustomResourceDefinition,
        json!({"metadata": {"name": "widgets.protobuf.example.com"},
        "spec": {"group": "protobuf.example.com", "scope": "Namespaced",
            "names": {"plural": "widgets", "singular": "widget", "kind": "Widget", "shortNames": ["wd"],
                      "categories": ["all"]},
            "versions": [{"name": "v1", "served": true, "storage": true,
                "subresources": {"status": {}, "scale": {"specReplicasPath": ".spec.replicas",
                    "statusReplicasPath": ".status.replicas"}},
                "additionalPrinterColumns": [{"name": "Size", "type": "integer", "jsonPath": ".spec.size", "priority": 1}],
                "schema": {"openAPIV3Schema": {"type": "object", "description": "A widget",
                    "required": ["spec"],
                    "properties": {
                        "spec": {"type": "object",
                            "x-kubernetes-validations": [{"rule": "self.size >= 0", "message": "non-negative",
                                                          "fieldPath": ".size", "reason": "FieldValueInvalid"}],
                            "properties": {
                                "replicas": {"type": "integer", "format": "int32", "minimum": 0, "maximum": 100,
                                             "exclusiveMaximum": true, "default": 1},
                                "size": {"type": "integer", "multipleOf": 2},
                                "ratio": {"type": "number", "minimum": 0.5, "maximum": 99.5, "exclusiveMinimum": true},
                                "color": {"type": "string", "enum": ["red", "green", null], "nullable": true,
                                          "pattern": "^[a-z]+$", "maxLength": 10, "default": "red"},
                                "tags": {"type": "array", "items": {"type": "string"}, "x-kubernetes-list-type": "set",
                                         "maxItems": 5, "uniqueItems": false},
                                "labels": {"type": "object", "additionalProperties": {"type": "string"},
                                           "x-kubernetes-map-type": "granular"},
                                "free": {"type": "object", "x-kubernetes-preserve-unknown-fields": true},
                                "port": {"x-kubernetes-int-or-string": true,
                                         "anyOf": [{"type": "integer"}, {"type": "string"}]},
                                "embedded": {"type": "object", "x-kubernetes-embedded-resource": true,
                                             "x-kubernetes-preserve-unknown-fields": true},
                                "items": {"type": "array", "x-kubernetes-list-type": "map",
                                          "x-kubernetes-list-map-keys": ["name"],
                                          "items": {"type": "object", "required": ["name"],
                                                    "properties": {"name": {"type": "string"}},
                                                    "example": {"name": "x"}}}}},
                        "status": {"type": "object", "properties": {"replicas": {"type": "integer"}}}}}}}]}})
    );
}
