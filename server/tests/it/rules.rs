//! Every diagnosis rule through the whole pipeline: the state it recognises is made in a
//! team's demo cluster through the Kubernetes API (as a user's kubectl would), the alert
//! goes into ingestion, the agent reads the cluster and stores its analysis — and for each
//! rule a near miss, a state that looks alike, must not be diagnosed as it.

use std::time::Duration;

use k8s_openapi::api::admissionregistration::v1::ValidatingWebhookConfiguration;
use k8s_openapi::api::apps::v1::{DaemonSet, Deployment, StatefulSet};
use k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscaler;
use k8s_openapi::api::batch::v1::{CronJob, Job};
use k8s_openapi::api::core::v1::{
    ConfigMap, Node, PersistentVolumeClaim, Pod, PodSpec, ResourceQuota, Secret, Service, ServiceAccount,
};
use k8s_openapi::api::networking::v1::{Ingress, NetworkPolicy};
use k8s_openapi::api::node::v1::RuntimeClass;
use k8s_openapi::api::rbac::v1::{Role, RoleBinding};
use kube::api::{Patch, PatchParams, PostParams};
use kube::{Api, Client};
use serde_json::{Value, json};

use crate::agent::{alert, analysis, change_kinds, evidence, send, unlimited, with_agent};
use crate::demo_cluster::with_demo_cluster;
use crate::support::TestApp;
use app::api::clusters::SimulateFailure;
use app::domain::analysis::{AnalysisView, Change};
use app::domain::cluster::SimulatedFailure;
use app::server::cluster_client;

const APP: &str = "healthy-app";

/// The analysis of `alert` after `seed` changed a fresh team's demo cluster.
async fn diagnosed(app: &TestApp, case: &str, seed: impl AsyncFnOnce(Client), alert: Value) -> AnalysisView {
    diagnosed_as(app, case, async move |client| {
        seed(client).await;
        alert
    })
    .await
}

/// The analysis of the alert `seed` returns once it changed a fresh team's demo cluster
/// (for alerts that name what the cluster made: a pod, a cron job's job).
async fn diagnosed_as(app: &TestApp, case: &str, seed: impl AsyncFnOnce(Client) -> Value) -> AnalysisView {
    let (owner, id, team) = with_demo_cluster(app, &format!("{case}@rules.example")).await;
    unlimited(app, team).await;
    let client = cluster_client::connect(&app.state(), team, id).await.unwrap();
    let alert = seed(client).await;
    let incident = send(app, team, &alert).await;
    analysis(&owner, incident).await
}

fn demo(labels: Value) -> Value {
    let mut labels = labels;
    labels["namespace"] = json!("demo");
    labels
}

/// An alert about healthy-app's deployment.
fn about_app(name: &str, summary: &str) -> Value {
    alert(name, demo(json!({"deployment": APP})), summary)
}

/// Changes `deployment`'s pod template as `change` does and replaces it (a new revision).
async fn change_pods(client: &Client, deployment: &str, change: impl FnOnce(&mut PodSpec)) {
    let api: Api<Deployment> = Api::namespaced(client.clone(), "demo");
    let mut current = api.get(deployment).await.unwrap();
    change(current.spec.template.spec.as_mut().unwrap());
    api.replace(deployment, &PostParams::default(), &current).await.unwrap();
}

/// Creates `object` in namespace demo of the demo cluster.
async fn create<K>(client: &Client, object: Value)
where
    K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope>
        + Clone
        + std::fmt::Debug
        + serde::Serialize
        + serde::de::DeserializeOwned,
    K::DynamicType: Default,
{
    post(Api::<K>::namespaced(client.clone(), "demo"), object).await
}

/// Creates `object` through `api` (`Api::all` for a cluster-wide object).
async fn post<K>(api: Api<K>, object: Value)
where
    K: kube::Resource + Clone + std::fmt::Debug + serde::Serialize + serde::de::DeserializeOwned,
{
    let object: K = serde_json::from_value(object).unwrap();
    api.create(&PostParams::default(), &object).await.unwrap();
}

/// Adds volumes and the first container's mounts, given as JSON.
fn mount(spec: &mut PodSpec, volume: Value, mount: Value) {
    spec.volumes.get_or_insert_default().push(serde_json::from_value(volume).unwrap());
    spec.containers[0].volume_mounts.get_or_insert_default().push(serde_json::from_value(mount).unwrap());
}

/// Mounts the volume claim `claim` into healthy-app's pods.
async fn mount_claim(client: &Client, claim: &str) {
    change_pods(client, APP, |spec| {
        mount(
            spec,
            json!({"name": "data", "persistentVolumeClaim": {"claimName": claim}}),
            json!({"name": "data", "mountPath": "/var/lib/app"}),
        )
    })
    .await
}

fn cause(found: &AnalysisView) -> String {
    found.root_cause.clone()
}

/// The cluster does not confirm the alert: the answer every near miss ends in when no
/// other rule holds.
fn not_confirmed(found: &AnalysisView) {
    assert!(cause(found).contains("does not show it now"), "{found:?}");
    assert_eq!(change_kinds(found), ["manual"], "{found:?}");
}

#[tokio::test]
async fn each_rule_names_the_state_it_recognises_and_not_its_near_miss() {
    let app = with_agent(2).await;

    // OOMKilled: raise the limit; a limit above the working set is not an OOM kill.
    let oom_alert = || about_app("KubeContainerOOMKilled", "Container was OOM-killed.");
    // A quantity of the first container's resources (`limits` or `requests`).
    let resource = |kind: &'static str, name: &'static str, value: &'static str| {
        async move |client: Client| {
            change_pods(&client, APP, |spec| {
                let resources = spec.containers[0].resources.get_or_insert_default();
                let map = if kind == "limits" { &mut resources.limits } else { &mut resources.requests };
                let quantity = k8s_openapi::apimachinery::pkg::api::resource::Quantity(value.into());
                map.get_or_insert_default().insert(name.into(), quantity);
            })
            .await
        }
    };
    let found = diagnosed(&app, "oom", resource("limits", "memory", "64Mi"), oom_alert()).await;
    assert_eq!(found.family.as_str(), "oom_kill", "{found:?}");
    let Change::SetMemoryLimit { to, .. } = &found.actions[0].change else { panic!("not a raise: {found:?}") };
    assert_eq!(to, "128Mi", "{found:?}");
    not_confirmed(&diagnosed(&app, "oom-near", resource("limits", "memory", "128Mi"), oom_alert()).await);

    // Image pull after a rollout: roll back; an image that exists pulls.
    let image = |tag: &'static str| {
        async move |client: Client| {
            change_pods(&client, APP, |spec| {
                spec.containers[0].image = Some(format!("registry.dreamops.demo/healthy-app:{tag}"))
            })
            .await
        }
    };
    let waiting = || alert("KubeContainerWaiting", demo(json!({"deployment": APP, "reason": "ImagePullBackOff"})), "w");
    let found = diagnosed(&app, "pull", image("1.9.1-hotfix"), waiting()).await;
    assert_eq!(found.family.as_str(), "image_pull", "{found:?}");
    let Change::RollBack { to_revision, .. } = &found.actions[0].change else { panic!("not a roll-back: {found:?}") };
    assert_eq!(*to_revision, 1, "{found:?}");
    not_confirmed(&diagnosed(&app, "pull-near", image("1.9.0"), waiting()).await);

    // A variable from a Secret that does not exist: create it; a Secret that exists is used.
    let from_secret = async |client: &Client| {
        change_pods(client, APP, |spec| {
            spec.containers[0].env = Some(vec![
                serde_json::from_value(json!({"name": "DATABASE_URL",
                "valueFrom": {"secretKeyRef": {"name": "db-credentials", "key": "url"}}}))
                .unwrap(),
            ]);
        })
        .await
    };
    let crash = || about_app("KubePodCrashLooping", "Pod is crash looping.");
    let found = diagnosed(&app, "config", async |client| from_secret(&client).await, crash()).await;
    assert!(cause(&found).contains("secret \"db-credentials\" not found"), "{found:?}");
    assert!(evidence(&found).contains("CreateContainerConfigError"), "{found:?}");
    assert_eq!(change_kinds(&found), ["manual"], "{found:?}");
    let seed = async |client: Client| {
        create::<Secret>(
            &client,
            json!({"metadata": {"name": "db-credentials"}, "stringData": {"url": "postgres://db"}}),
        )
        .await;
        from_secret(&client).await;
    };
    not_confirmed(&diagnosed(&app, "config-near", seed, crash()).await);

    // A claim whose storage class does not exist (or no claim at all): the pods cannot be
    // scheduled; a claim of the default class is bound and the pods run.
    let claimed = |class: Option<&'static str>| {
        async move |client: Client| {
            let mut claim = json!({"metadata": {"name": "data"}, "spec": {"accessModes": ["ReadWriteOnce"],
                                    "resources": {"requests": {"storage": "1Gi"}}}});
            if let Some(class) = class {
                claim["spec"]["storageClassName"] = json!(class);
            }
            create::<PersistentVolumeClaim>(&client, claim).await;
            mount_claim(&client, "data").await
        }
    };
    let mismatch = || about_app("KubeDeploymentReplicasMismatch", "Deployment has not matched the expected replicas.");
    let found = diagnosed(&app, "claim", claimed(Some("fast-ssd")), mismatch()).await;
    assert_eq!(found.family.as_str(), "volume_problem", "{found:?}");
    assert!(cause(&found).contains("volume claim data is Pending"), "{found:?}");
    assert!(cause(&found).contains("storageclass.storage.k8s.io \"fast-ssd\" not found"), "{found:?}");
    not_confirmed(&diagnosed(&app, "claim-near", claimed(None), mismatch()).await);
    let no_claim = async |client: Client| mount_claim(&client, "nowhere").await;
    let found = diagnosed(&app, "claim-missing", no_claim, mismatch()).await;
    assert!(cause(&found).contains("volume claim nowhere does not exist"), "{found:?}");

    // More memory requested than any node has: roll back; a request that fits is placed.
    let found = diagnosed(&app, "unschedulable", resource("requests", "memory", "64Gi"), mismatch()).await;
    assert_eq!(found.family.as_str(), "unschedulable", "{found:?}");
    assert!(cause(&found).contains("Insufficient memory"), "{found:?}");
    assert_eq!(change_kinds(&found), ["roll_back", "manual"], "{found:?}");
    not_confirmed(&diagnosed(&app, "unschedulable-near", resource("requests", "memory", "1Gi"), mismatch()).await);

    // Evicted for writing more than its ephemeral-storage limit; a limit above it is not.
    let found = diagnosed(&app, "evicted", resource("limits", "ephemeral-storage", "10Mi"), mismatch()).await;
    assert!(cause(&found).contains("was evicted"), "{found:?}");
    assert!(cause(&found).contains("exceeds the total limit of containers 10Mi"), "{found:?}");
    not_confirmed(&diagnosed(&app, "evicted-near", resource("limits", "ephemeral-storage", "1Gi"), mismatch()).await);

    // A Secret volume that does not exist: stuck creating; once it exists, it mounts.
    let tls = async |client: &Client| {
        change_pods(client, APP, |spec| {
            mount(
                spec,
                json!({"name": "tls", "secret": {"secretName": "tls-certs"}}),
                json!({"name": "tls", "mountPath": "/etc/tls"}),
            )
        })
        .await
    };
    let found = diagnosed(&app, "mount", async |client| tls(&client).await, mismatch()).await;
    assert_eq!(found.family.as_str(), "volume_problem", "{found:?}");
    assert!(cause(&found).contains("FailedMount"), "{found:?}");
    assert!(cause(&found).contains("secret \"tls-certs\" not found"), "{found:?}");
    let seed = async |client: Client| {
        create::<Secret>(&client, json!({"metadata": {"name": "tls-certs"}, "stringData": {"tls.crt": "x"}})).await;
        tls(&client).await;
    };
    not_confirmed(&diagnosed(&app, "mount-near", seed, mismatch()).await);

    // Crash loop with a missing configuration file: no automatic action; mounting the
    // file fixes it, and the fixed app is not in a crash loop.
    let payment_crash = || alert("KubePodCrashLooping", demo(json!({"deployment": "payment-service"})), "crash");
    let found = diagnosed(&app, "crash", async |_| {}, payment_crash()).await;
    assert!(cause(&found).contains("configuration file is missing"), "{found:?}");
    assert_eq!(change_kinds(&found), ["manual"]);
    let configured = async |client: Client| {
        create::<ConfigMap>(
            &client,
            json!({"metadata": {"name": "payment-config"}, "data": {"config.yaml": "port: 8080"}}),
        )
        .await;
        change_pods(&client, "payment-service", |spec| {
            mount(
                spec,
                json!({"name": "config", "configMap": {"name": "payment-config"}}),
                json!({"name": "config", "mountPath": "/etc/payment"}),
            )
        })
        .await
    };
    not_confirmed(&diagnosed(&app, "crash-near", configured, payment_crash()).await);

    // Scaled to zero: scale up; with its replicas the service has endpoints.
    let no_endpoints = || alert("KubeServiceNoEndpoints", demo(json!({"service": APP})), "No endpoints.");
    let scale = |replicas: i32| {
        async move |client: Client| {
            let patch = Patch::Merge(json!({"spec": {"replicas": replicas}}));
            Api::<Deployment>::namespaced(client, "demo")
                .patch_scale(APP, &PatchParams::default(), &patch)
                .await
                .unwrap();
        }
    };
    let found = diagnosed(&app, "zero", scale(0), no_endpoints()).await;
    assert!(cause(&found).contains("scaled to zero"), "{found:?}");
    assert_eq!(found.actions[0].change.kind(), "scale", "{found:?}");
    not_confirmed(&diagnosed(&app, "zero-near", scale(2), no_endpoints()).await);

    // A selector that matches no pod; a selector that matches failing pods is not that
    // (the pods' own failure is named instead).
    let found = diagnosed(
        &app,
        "selector",
        async |_| {},
        alert("KubeServiceNoEndpoints", demo(json!({"service": "orphan-service"})), "No endpoints."),
    )
    .await;
    assert!(cause(&found).contains("matches no pod"), "{found:?}");
    let found = diagnosed(
        &app,
        "selector-near",
        async |_| {},
        alert("KubeServiceNoEndpoints", demo(json!({"service": "payment-service"})), "No endpoints."),
    )
    .await;
    assert!(!cause(&found).contains("matches no pod"), "{found:?}");
    assert!(cause(&found).contains("configuration file is missing"), "{found:?}");

    // A quota refuses the pods: ReplicaFailure; a quota with room does not.
    let quota = |pods: &'static str| {
        async move |client: Client| {
            create::<ResourceQuota>(
                &client,
                json!({"metadata": {"name": "demo-quota"}, "spec": {"hard": {"pods": pods}}}),
            )
            .await;
            let patch = Patch::Merge(json!({"spec": {"replicas": 6}}));
            Api::<Deployment>::namespaced(client, "demo")
                .patch_scale(APP, &PatchParams::default(), &patch)
                .await
                .unwrap();
        }
    };
    let found = diagnosed(&app, "quota", quota("12"), mismatch()).await;
    assert_eq!(found.family.as_str(), "rollout_failure", "{found:?}");
    assert!(cause(&found).contains("exceeded quota: demo-quota"), "{found:?}");
    not_confirmed(&diagnosed(&app, "quota-near", quota("30"), mismatch()).await);

    // A readiness probe on a path the app does not serve: the probe is named, with a
    // roll-back (the probe came with the new revision) and no restart; past the
    // deployment's progress deadline the rollout is stuck. A probe on a served path passes.
    let probe = |path: &'static str, deadline: Option<i32>| {
        async move |client: Client| {
            change_pods(&client, APP, |spec| {
                spec.containers[0].readiness_probe = Some(
                    serde_json::from_value(json!({"httpGet": {"path": path, "port": 8080}, "periodSeconds": 5}))
                        .unwrap(),
                )
            })
            .await;
            if let Some(deadline) = deadline {
                let api: Api<Deployment> = Api::namespaced(client, "demo");
                let patch = Patch::Merge(json!({"spec": {"progressDeadlineSeconds": deadline}}));
                api.patch(APP, &PatchParams::default(), &patch).await.unwrap();
                tokio::time::sleep(Duration::from_millis(deadline as u64 * 1000 + 200)).await;
                // The deployment controller looks again (any change does).
                let touch = Patch::Merge(json!({"metadata": {"annotations": {"touched": "yes"}}}));
                api.patch(APP, &PatchParams::default(), &touch).await.unwrap();
            }
        }
    };
    let not_ready = || about_app("KubePodNotReady", "Pod has been in a non-ready state for more than 15 minutes.");
    let found = diagnosed(&app, "probe", probe("/ready-v2", None), not_ready()).await;
    assert_eq!(found.family.as_str(), "probe_failure", "{found:?}");
    assert!(cause(&found).contains("Readiness probe failed: HTTP probe failed with statuscode: 404"), "{found:?}");
    assert_eq!(change_kinds(&found), ["roll_back", "manual"], "{found:?}");
    not_confirmed(&diagnosed(&app, "probe-near", probe("/healthz", None), not_ready()).await);
    let stuck = || about_app("KubeDeploymentRolloutStuck", "Deployment rollout is not progressing.");
    let found = diagnosed(&app, "stuck", probe("/ready-v2", Some(1)), stuck()).await;
    assert!(cause(&found).contains("The rollout of healthy-app is stuck"), "{found:?}");
    assert_eq!(found.actions[0].change.kind(), "roll_back", "{found:?}");
    // The near miss of a stuck rollout: within its deadline it is still progressing.
    let found = diagnosed(&app, "stuck-near", probe("/ready-v2", None), stuck()).await;
    assert!(!cause(&found).contains("stuck"), "{found:?}");

    // A liveness probe on a port nothing listens on restarts the pods: the probe is
    // named, not a crash of the app.
    let liveness = async |client: Client| {
        change_pods(&client, APP, |spec| {
            spec.containers[0].liveness_probe =
                Some(serde_json::from_value(json!({"tcpSocket": {"port": 9090}})).unwrap())
        })
        .await
    };
    let found = diagnosed(&app, "liveness", liveness, crash()).await;
    assert_eq!(found.family.as_str(), "probe_failure", "{found:?}");
    assert!(cause(&found).contains("Liveness probe failed"), "{found:?}");
    assert!(cause(&found).contains("connection refused"), "{found:?}");

    // A node not ready; all nodes ready is no node problem.
    let node_down = async |client: Client| {
        let patch = Patch::Strategic(json!({"status": {"conditions": [{"type": "Ready", "status": "Unknown",
            "reason": "NodeStatusUnknown", "message": "Kubelet stopped posting node status."}]}}));
        Api::<Node>::all(client).patch_status("demo-node-2", &PatchParams::default(), &patch).await.unwrap();
    };
    let node_alert = || alert("KubeNodeNotReady", json!({"node": "demo-node-2"}), "Node is not ready.");
    let found = diagnosed(&app, "node", node_down, node_alert()).await;
    assert_eq!(found.family.as_str(), "node_not_ready", "{found:?}");
    assert!(cause(&found).contains("Node demo-node-2 is unhealthy (Ready=Unknown)"), "{found:?}");
    assert!(evidence(&found).contains("Kubelet stopped posting node status."), "{found:?}");
    not_confirmed(&diagnosed(&app, "node-near", async |_| {}, node_alert()).await);

    // A job that ran out of retries: the log line that says why; a job that completed is
    // not failed.
    let job = |env: Value| {
        async move |client: Client| {
            create::<Job>(&client, json!({"metadata": {"name": "db-migrate"}, "spec": {"backoffLimit": 2, "template": {"spec": {
                "restartPolicy": "Never",
                "containers": [{"name": "migrate", "image": "registry.dreamops.demo/broken-database:15.4", "env": env}]}}}}))
            .await
        }
    };
    let job_alert = || alert("KubeJobFailed", demo(json!({"job_name": "db-migrate"})), "Job failed to complete.");
    let found = diagnosed(&app, "job", job(json!([])), job_alert()).await;
    assert_eq!(found.family.as_str(), "job_failure", "{found:?}");
    assert!(cause(&found).contains("Job db-migrate failed (BackoffLimitExceeded) after 3 attempts"), "{found:?}");
    assert!(cause(&found).contains("POSTGRES_PASSWORD is not set"), "{found:?}");
    let set = json!([{"name": "POSTGRES_PASSWORD", "value": "s3cret-demo"}]);
    not_confirmed(&diagnosed(&app, "job-near", job(set), job_alert()).await);

    app.stop().await;
}

/// An alert as kube-prometheus-stack sends it from kube-state-metrics: the exporter's own
/// labels beside the object's.
fn from_kube_state_metrics(name: &str, labels: Value, summary: &str) -> Value {
    let mut all = json!({"job": "kube-state-metrics", "service": "kube-prometheus-stack-kube-state-metrics",
                         "instance": "10.244.1.17:8080", "endpoint": "http", "container": "kube-state-metrics",
                         "pod": "kube-prometheus-stack-kube-state-metrics-6d8f9c7b5-kx2zq", "namespace": "monitoring"});
    for (key, value) in labels.as_object().unwrap() {
        all[key] = value.clone();
    }
    alert(name, all, summary)
}

/// Creates a StatefulSet of healthy-app's container with `env` and a volume claim template.
async fn stateful_set(client: &Client, env: Value) {
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), "demo");
    let template = deployments.get(APP).await.unwrap().spec.template.spec.unwrap();
    let mut container = serde_json::to_value(&template.containers[0]).unwrap();
    container["env"] = env;
    container["volumeMounts"] = json!([{"name": "data", "mountPath": "/var/lib/ledger"}]);
    create::<StatefulSet>(
        client,
        json!({"metadata": {"name": "ledger"}, "spec": {"replicas": 2, "serviceName": "ledger",
               "selector": {"matchLabels": {"app": "ledger"}},
               "template": {"metadata": {"labels": {"app": "ledger"}}, "spec": {"containers": [container]}},
               "volumeClaimTemplates": [{"metadata": {"name": "data"}, "spec": {"accessModes": ["ReadWriteOnce"],
                                          "resources": {"requests": {"storage": "1Gi"}}}}]}}),
    )
    .await;
}

#[tokio::test]
async fn statefulsets_ingresses_and_autoscalers_are_read_and_diagnosed_and_their_near_misses_are_not() {
    let app = with_agent(2).await;

    // A StatefulSet's pod found up its owner chain from a kube-state-metrics alert that
    // also carries the exporter's pod: the missing variable named, the set as the workload.
    let crash = || {
        from_kube_state_metrics(
            "KubePodCrashLooping",
            json!({"namespace": "demo", "pod": "ledger-0", "container": "healthy-app", "reason": "CrashLoopBackOff"}),
            "Pod is crash looping.",
        )
    };
    let found = diagnosed(&app, "sts", async |client: Client| stateful_set(&client, json!([])).await, crash()).await;
    assert_eq!(found.family.as_str(), "pod_crash", "{found:?}");
    assert!(cause(&found).contains("DATABASE_URL is not set"), "{found:?}");
    assert_eq!(found.workload.as_deref(), Some("demo/statefulset/ledger"), "{found:?}");
    let healthy = json!([{"name": "DATABASE_URL", "value": "postgres://ledger@db/ledger"}]);
    let seed = async move |client: Client| {
        stateful_set(&client, healthy).await;
        // Both pods started in order, each with its claim from the template, bound.
        let claims: Api<PersistentVolumeClaim> = Api::namespaced(client.clone(), "demo");
        for name in ["data-ledger-0", "data-ledger-1"] {
            let claim = claims.get(name).await.unwrap();
            assert_eq!(claim.status.unwrap().phase.as_deref(), Some("Bound"), "{name}");
        }
    };
    not_confirmed(&diagnosed(&app, "sts-near", seed, crash()).await);

    // An Ingress routing to a Service that does not exist; one routing to a serving one.
    let ingress = |backend: &'static str| {
        async move |client: Client| {
            create::<Ingress>(
                &client,
                json!({"metadata": {"name": "shop"}, "spec": {"ingressClassName": "nginx", "rules": [{"host": "shop.example.com",
                       "http": {"paths": [{"path": "/", "pathType": "Prefix",
                                           "backend": {"service": {"name": backend, "port": {"number": 80}}}}]}}]}}),
            )
            .await
        }
    };
    let errors = |backend: &str| {
        alert(
            "NginxIngressHighErrorRate",
            json!({"job": "ingress-nginx-controller-metrics", "namespace": "ingress-nginx",
                   "pod": "ingress-nginx-controller-7c9d8b6f5-q2w3e", "exported_namespace": "demo",
                   "ingress": "shop", "exported_service": backend}),
            "Ingress shop answers with 5xx",
        )
    };
    let found = diagnosed(&app, "ingress", ingress("shop-frontend"), errors("shop-frontend")).await;
    assert_eq!(found.family.as_str(), "ingress", "{found:?}");
    assert!(cause(&found).contains("Service shop-frontend, which does not exist"), "{found:?}");
    not_confirmed(&diagnosed(&app, "ingress-near", ingress(APP), errors(APP)).await);

    // Autoscalers: a target that does not exist, pods without the CPU request the
    // autoscaler measures — and one that can scale.
    let autoscaler = |target: &'static str| {
        async move |client: Client| {
            create::<HorizontalPodAutoscaler>(
                &client,
                json!({"metadata": {"name": "healthy-app"}, "spec": {"minReplicas": 2, "maxReplicas": 10,
                       "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": target},
                       "metrics": [{"type": "Resource", "resource": {"name": "cpu",
                                    "target": {"type": "Utilization", "averageUtilization": 70}}}]}}),
            )
            .await
        }
    };
    let mismatch = || {
        from_kube_state_metrics(
            "KubeHpaReplicasMismatch",
            json!({"namespace": "demo", "horizontalpodautoscaler": "healthy-app"}),
            "HPA has not matched desired number of replicas.",
        )
    };
    let found = diagnosed(&app, "hpa-target", autoscaler("healthy-app-v2"), mismatch()).await;
    assert_eq!(found.family.as_str(), "autoscaling", "{found:?}");
    assert!(cause(&found).contains("Deployment healthy-app-v2 does not exist"), "{found:?}");
    let no_request = async |client: Client| {
        change_pods(&client, APP, |spec| {
            if let Some(requests) = spec.containers[0].resources.as_mut().and_then(|r| r.requests.as_mut()) {
                requests.remove("cpu");
            }
        })
        .await;
        autoscaler(APP)(client).await
    };
    let found = diagnosed(&app, "hpa-request", no_request, mismatch()).await;
    assert!(cause(&found).contains("no cpu request (container healthy-app)"), "{found:?}");
    not_confirmed(&diagnosed(&app, "hpa-near", autoscaler(APP), mismatch()).await);
    app.stop().await;
}

#[tokio::test]
async fn the_panels_new_failures_are_diagnosed_by_name() {
    let app = with_agent(2).await;
    for (failure, family, named) in [
        (SimulatedFailure::AutoscalerBlind, "autoscaling", "no cpu request (container healthy-app)"),
        (SimulatedFailure::IngressMisrouted, "ingress", "Service healthy-app-web, which does not exist"),
    ] {
        let (owner, id, team) = with_demo_cluster(&app, &format!("{failure:?}@rules.example").to_lowercase()).await;
        unlimited(&app, team).await;
        let simulated = owner.run(SimulateFailure { id, failure }).await;
        assert!(simulated.is_ok(), "{failure:?}: {simulated:?}");
        let incident: uuid::Uuid = sqlx::query_scalar("select id from incidents where team_id = $1")
            .bind(team)
            .fetch_one(&app.state().db)
            .await
            .unwrap();
        let found = analysis(&owner, incident).await;
        assert_eq!(found.family.as_str(), family, "{found:?}");
        assert!(cause(&found).contains(named), "{found:?}");
    }
    app.stop().await;
}

/// healthy-app's container as its deployment runs it, changed by `change` (given as JSON
/// fields to set).
async fn app_container(client: &Client, change: Value) -> Value {
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), "demo");
    let template = deployments.get(APP).await.unwrap().spec.template.spec.unwrap();
    let mut container = serde_json::to_value(&template.containers[0]).unwrap();
    for (field, value) in change.as_object().unwrap() {
        container[field] = value.clone();
    }
    container
}

#[tokio::test]
async fn daemon_sets_cron_jobs_init_containers_hooks_and_commands_are_diagnosed_and_their_near_misses_are_not() {
    let app = with_agent(2).await;

    // A DaemonSet runs a pod on every node; one whose pods crash for a missing variable is
    // named as the workload, and with the variable set it rolls out.
    let daemon_set = |env: Value| {
        async move |client: Client| {
            let container = app_container(&client, json!({"env": env})).await;
            create::<DaemonSet>(
                &client,
                json!({"metadata": {"name": "log-agent"}, "spec": {"selector": {"matchLabels": {"app": "log-agent"}},
                       "template": {"metadata": {"labels": {"app": "log-agent"}}, "spec": {"containers": [container]}}}}),
            )
            .await;
            let pods: Api<Pod> = Api::namespaced(client.clone(), "demo");
            let listed = pods.list(&kube::api::ListParams::default().labels("app=log-agent")).await.unwrap();
            let mut nodes: Vec<String> =
                listed.items.iter().filter_map(|p| p.spec.as_ref()?.node_name.clone()).collect();
            nodes.sort();
            assert_eq!(nodes, ["demo-node-1", "demo-node-2", "demo-node-3"], "one pod on every node");
        }
    };
    let stuck = || {
        from_kube_state_metrics(
            "KubeDaemonSetRolloutStuck",
            json!({"namespace": "demo", "daemonset": "log-agent"}),
            "DaemonSet rollout is stuck.",
        )
    };
    let found = diagnosed(&app, "daemonset", daemon_set(json!([])), stuck()).await;
    assert_eq!(found.family.as_str(), "pod_crash", "{found:?}");
    assert!(cause(&found).contains("DATABASE_URL is not set"), "{found:?}");
    assert_eq!(found.workload.as_deref(), Some("demo/daemonset/log-agent"), "{found:?}");
    let healthy = json!([{"name": "DATABASE_URL", "value": "postgres://agent@db/logs"}]);
    not_confirmed(&diagnosed(&app, "daemonset-near", daemon_set(healthy), stuck()).await);

    // A CronJob's job whose command is not in the image: the runtime cannot start it, and
    // the job fails naming the command; a command the image has completes.
    let cron_job = |command: &'static str| {
        async move |client: Client| {
            let container = app_container(&client, json!({"command": [command, "--since=24h"]})).await;
            create::<CronJob>(
                &client,
                json!({"metadata": {"name": "nightly-report"}, "spec": {"schedule": "0 3 * * *",
                       "jobTemplate": {"spec": {"backoffLimit": 1, "template": {"spec": {
                           "restartPolicy": "Never", "containers": [container]}}}}}}),
            )
            .await;
            let jobs: Api<Job> = Api::namespaced(client.clone(), "demo");
            let job = jobs.list(&Default::default()).await.unwrap().items.pop().expect("the schedule came once");
            let owner = &job.metadata.owner_references.as_ref().unwrap()[0];
            assert_eq!((owner.kind.as_str(), owner.name.as_str()), ("CronJob", "nightly-report"));
            from_kube_state_metrics(
                "KubeJobFailed",
                json!({"namespace": "demo", "job_name": job.metadata.name.unwrap()}),
                "Job failed to complete.",
            )
        }
    };
    let found = diagnosed_as(&app, "cronjob", cron_job("/app/report")).await;
    assert_eq!(found.family.as_str(), "job_failure", "{found:?}");
    assert!(cause(&found).contains("/app/report"), "{found:?}");
    not_confirmed(&diagnosed_as(&app, "cronjob-near", cron_job("/app/healthy-app")).await);

    // An init container whose script calls a command the image lacks holds every pod in
    // Init:CrashLoopBackOff: the init container and the command are named. A script the
    // image can run completes, and the app starts.
    let init = |script: &'static str| {
        async move |client: Client| {
            change_pods(&client, APP, |spec| {
                let mut wait = spec.containers[0].clone();
                wait.name = "wait-for-db".into();
                wait.command = Some(vec!["/bin/sh".into(), "-c".into(), script.into()]);
                spec.init_containers = Some(vec![wait]);
            })
            .await
        }
    };
    let mismatch = || about_app("KubeDeploymentReplicasMismatch", "Deployment has not matched the expected replicas.");
    let found = diagnosed(&app, "init", init("pg_isready -h db.demo -p 5432"), mismatch()).await;
    assert_eq!(found.family.as_str(), "pod_crash", "{found:?}");
    assert!(cause(&found).contains("pg_isready"), "{found:?}");
    assert!(cause(&found).contains("init container wait-for-db"), "{found:?}");
    not_confirmed(&diagnosed(&app, "init-near", init("echo database reachable"), mismatch()).await);

    // A postStart hook whose command is not in the image: the kubelet kills the container
    // again and again; the hook and its command are named. A hook that runs is no failure.
    let hook = |command: &'static str| {
        async move |client: Client| {
            change_pods(&client, APP, |spec| {
                spec.containers[0].lifecycle = Some(
                    serde_json::from_value(json!({"postStart": {"exec": {"command": [command, "--warm"]}}})).unwrap(),
                );
            })
            .await
        }
    };
    let crash = || about_app("KubePodCrashLooping", "Pod is crash looping.");
    let found = diagnosed(&app, "hook", hook("/app/warm-cache"), crash()).await;
    assert_eq!(found.family.as_str(), "pod_crash", "{found:?}");
    assert!(cause(&found).contains("postStart lifecycle hook fails"), "{found:?}");
    assert!(cause(&found).contains("warm-cache"), "{found:?}");
    not_confirmed(&diagnosed(&app, "hook-near", hook("echo"), crash()).await);

    // A container command the image does not have never starts: the command is named, and
    // no restart is offered. The image's own command runs.
    let command = |command: &'static str| {
        async move |client: Client| {
            change_pods(&client, APP, |spec| spec.containers[0].command = Some(vec![command.into()])).await
        }
    };
    let found = diagnosed(&app, "command", command("gunicorn"), crash()).await;
    assert_eq!(found.family.as_str(), "pod_crash", "{found:?}");
    assert!(cause(&found).contains("gunicorn"), "{found:?}");
    assert!(!change_kinds(&found).contains(&"rollout_restart"), "{found:?}");
    not_confirmed(&diagnosed(&app, "command-near", command("healthy-app"), crash()).await);
    app.stop().await;
}

#[tokio::test]
async fn dependencies_that_do_not_resolve_refuse_or_are_blocked_and_full_volumes_are_named_and_their_near_misses_are_not()
 {
    let app = with_agent(2).await;
    // orders-api connects to its database at start; what it meets is made first.
    let orders = |made: Vec<(&'static str, Value)>| {
        async move |client: Client| {
            for (kind, object) in made {
                match kind {
                    "service" => create::<Service>(&client, object).await,
                    _ => create::<NetworkPolicy>(&client, object).await,
                }
            }
            create::<Deployment>(
                &client,
                json!({"metadata": {"name": "orders"}, "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "orders"}},
                       "template": {"metadata": {"labels": {"app": "orders"}}, "spec": {"containers": [{
                           "name": "orders-api", "image": "registry.dreamops.demo/orders-api:1.0.0",
                           "env": [{"name": "DATABASE_URL", "value": "postgres://orders@orders-db.demo:5432/orders"}]}]}}}}),
            )
            .await
        }
    };
    let database = |selects: &str| {
        (
            "service",
            json!({"metadata": {"name": "orders-db"}, "spec": {"selector": {"app": selects},
                            "ports": [{"name": "postgres", "port": 5432, "targetPort": 8080}]}}),
        )
    };
    let policy = |admits: &str| {
        (
            "policy",
            json!({"metadata": {"name": "only-web"}, "spec": {"podSelector": {"matchLabels": {"app": APP}},
                           "policyTypes": ["Ingress"], "ingress": [{"from": [{"podSelector": {"matchLabels": {"app": admits}}}]}]}}),
        )
    };
    let crash = || alert("KubePodCrashLooping", demo(json!({"deployment": "orders"})), "Pod is crash looping.");

    let found = diagnosed(&app, "dns", orders(vec![]), crash()).await;
    assert_eq!(found.family.as_str(), "dependency", "{found:?}");
    assert!(cause(&found).contains("cannot resolve the host name orders-db.demo"), "{found:?}");
    assert!(cause(&found).contains("there is no Service orders-db in namespace demo"), "{found:?}");

    let found = diagnosed(&app, "refused", orders(vec![database("nothing")]), crash()).await;
    assert_eq!(found.family.as_str(), "dependency", "{found:?}");
    assert!(cause(&found).contains("orders-db"), "{found:?}");
    assert!(cause(&found).contains("refuse"), "{found:?}");

    let found = diagnosed(&app, "policy", orders(vec![database(APP), policy("web")]), crash()).await;
    assert!(cause(&found).contains("only-web"), "{found:?}");

    // A default-deny policy selects every pod of its namespace (`podSelector: {}`).
    let deny_all = (
        "policy",
        json!({"metadata": {"name": "default-deny"}, "spec": {"podSelector": {}, "policyTypes": ["Ingress"]}}),
    );
    let found = diagnosed(&app, "deny-all", orders(vec![database(APP), deny_all]), crash()).await;
    assert!(cause(&found).contains("default-deny"), "{found:?}");

    // orders-api keeps 600 MiB of data at /var/lib/orders: a 512Mi claim there fills up,
    // and the claim is named with its size; a 1Gi claim holds it.
    let with_claim = |size: &'static str| {
        async move |client: Client| {
            create::<PersistentVolumeClaim>(
                &client,
                json!({"metadata": {"name": "orders-data"}, "spec": {"accessModes": ["ReadWriteOnce"],
                       "resources": {"requests": {"storage": size}}}}),
            )
            .await;
            orders(vec![database(APP)])(client.clone()).await;
            change_pods(&client, "orders", |spec| {
                mount(
                    spec,
                    json!({"name": "data", "persistentVolumeClaim": {"claimName": "orders-data"}}),
                    json!({"name": "data", "mountPath": "/var/lib/orders"}),
                )
            })
            .await
        }
    };
    let found = diagnosed(&app, "full", with_claim("512Mi"), crash()).await;
    assert!(cause(&found).contains("its volume claim orders-data (512Mi) is full"), "{found:?}");
    not_confirmed(&diagnosed(&app, "roomy", with_claim("1Gi"), crash()).await);

    // Near misses: the Service with ready endpoints, and a policy that admits orders.
    not_confirmed(&diagnosed(&app, "reachable", orders(vec![database(APP)]), crash()).await);
    not_confirmed(&diagnosed(&app, "admitted", orders(vec![database(APP), policy("orders")]), crash()).await);
    app.stop().await;
}

/// The pods the demo cluster has placed on `node` that still hold their place there.
async fn pods_on(client: &Client, node: &str) -> usize {
    let pods: Api<Pod> = Api::all(client.clone());
    let fields = format!("spec.nodeName={node}");
    let listed = pods.list(&kube::api::ListParams::default().fields(&fields)).await.unwrap();
    listed
        .items
        .iter()
        .filter(|pod| !matches!(pod.status.as_ref().and_then(|s| s.phase.as_deref()), Some("Succeeded" | "Failed")))
        .count()
}

#[tokio::test]
async fn forbidden_api_calls_admission_webhooks_sandboxes_and_full_nodes_are_named_and_their_near_misses_are_not() {
    let app = with_agent(2).await;

    // A program that lists ConfigMaps at start, run as a service account no Role grants
    // that: the API server's refusal is in its log, and the account, verb and resource
    // are named. Bound to a Role that grants it, it runs.
    let reloader = |granted: bool| {
        async move |client: Client| {
            create::<ServiceAccount>(&client, json!({"metadata": {"name": "config-reloader"}})).await;
            if granted {
                create::<Role>(
                    &client,
                    json!({"metadata": {"name": "read-config"},
                           "rules": [{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get", "list", "watch"]}]}),
                )
                .await;
                create::<RoleBinding>(
                    &client,
                    json!({"metadata": {"name": "config-reloader-reads-config"},
                           "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "read-config"},
                           "subjects": [{"kind": "ServiceAccount", "name": "config-reloader", "namespace": "demo"}]}),
                )
                .await;
            }
            let image = app::server::demo_cluster::programs::demo_image("config-reloader", "0.9.0");
            create::<Deployment>(
                &client,
                json!({"metadata": {"name": "config-reloader"}, "spec": {"replicas": 1,
                       "selector": {"matchLabels": {"app": "config-reloader"}},
                       "template": {"metadata": {"labels": {"app": "config-reloader"}},
                                    "spec": {"serviceAccountName": "config-reloader",
                                             "containers": [{"name": "config-reloader", "image": image}]}}}}),
            )
            .await;
        }
    };
    let mismatch = |deployment: &str| {
        from_kube_state_metrics(
            "KubeDeploymentReplicasMismatch",
            json!({"namespace": "demo", "deployment": deployment}),
            "Deployment has not matched the expected number of replicas.",
        )
    };
    let found = diagnosed(&app, "rbac", reloader(false), mismatch("config-reloader")).await;
    assert_eq!(found.family.as_str(), "permissions", "{found:?}");
    for named in ["demo/config-reloader", "list", "configmaps"] {
        assert!(cause(&found).contains(named), "{named}: {found:?}");
    }
    not_confirmed(&diagnosed(&app, "rbac-near", reloader(true), mismatch("config-reloader")).await);

    // A validating webhook for pods whose Service does not exist refuses every pod of a
    // StatefulSet (failurePolicy Fail): the webhook and why it cannot be called are named.
    // With its Service up, the webhook admits and the StatefulSet runs.
    let guarded = |service_up: bool| {
        async move |client: Client| {
            if service_up {
                create::<Service>(
                    &client,
                    json!({"metadata": {"name": "policy-guard"}, "spec": {"selector": {"app": APP},
                           "ports": [{"port": 443, "targetPort": 8080}]}}),
                )
                .await;
            }
            post(
                Api::<ValidatingWebhookConfiguration>::all(client.clone()),
                json!({"metadata": {"name": "policy-guard"}, "webhooks": [{
                    "name": "pods.policy-guard.example.com", "admissionReviewVersions": ["v1"], "sideEffects": "None",
                    "failurePolicy": "Fail",
                    "clientConfig": {"service": {"namespace": "demo", "name": "policy-guard", "path": "/validate"}},
                    "rules": [{"operations": ["CREATE"], "apiGroups": [""], "apiVersions": ["v1"], "resources": ["pods"]}]}]}),
            )
            .await;
            stateful_set(&client, json!([{"name": "DATABASE_URL", "value": "postgres://ledger@db/ledger"}])).await;
        }
    };
    let stateful_mismatch = || {
        from_kube_state_metrics(
            "KubeStatefulSetReplicasMismatch",
            json!({"namespace": "demo", "statefulset": "ledger"}),
            "StatefulSet has not matched the expected number of replicas.",
        )
    };
    let found = diagnosed(&app, "webhook", guarded(false), stateful_mismatch()).await;
    assert_eq!(found.family.as_str(), "rollout_failure", "{found:?}");
    assert!(cause(&found).contains("admission webhook pods.policy-guard.example.com cannot be reached"), "{found:?}");
    assert!(cause(&found).contains("service \"policy-guard\" not found"), "{found:?}");
    assert_eq!(found.workload.as_deref(), Some("demo/statefulset/ledger"), "{found:?}");
    not_confirmed(&diagnosed(&app, "webhook-near", guarded(true), stateful_mismatch()).await);

    // Pods of a RuntimeClass whose handler the nodes' runtime lacks (or of no such class)
    // never get a sandbox: the runtime's message is named. A class the nodes run is fine.
    let sandboxed = |class: Option<&'static str>| {
        async move |client: Client| {
            if let Some(handler) = class {
                post(
                    Api::<RuntimeClass>::all(client.clone()),
                    json!({"metadata": {"name": "sandboxed"}, "handler": handler}),
                )
                .await;
            }
            change_pods(&client, APP, |spec| spec.runtime_class_name = Some("sandboxed".into())).await
        }
    };
    let mismatch_app =
        || about_app("KubeDeploymentReplicasMismatch", "Deployment has not matched the expected replicas.");
    let found = diagnosed(&app, "sandbox", sandboxed(Some("runsc")), mismatch_app()).await;
    assert!(cause(&found).contains("FailedCreatePodSandBox"), "{found:?}");
    assert!(cause(&found).contains("no runtime for \"runsc\" is configured"), "{found:?}");
    let found = diagnosed(&app, "sandbox-class", sandboxed(None), mismatch_app()).await;
    assert!(cause(&found).contains("runtimeclass.node.k8s.io \"sandboxed\" not found"), "{found:?}");
    not_confirmed(&diagnosed(&app, "sandbox-near", sandboxed(Some("runc")), mismatch_app()).await);

    // A node whose kubelet allows no more pods than it runs: the scheduler places new pods
    // elsewhere, and KubeletTooManyPods names the node and its limit. With room to spare
    // the alert is not confirmed.
    let node = "demo-node-2";
    let capped = |spare: usize| {
        async move |client: Client| {
            let running = pods_on(&client, node).await;
            let allowed = (running + spare).to_string();
            let nodes: Api<Node> = Api::all(client.clone());
            let capacity = json!({"status": {"capacity": {"pods": allowed}, "allocatable": {"pods": allowed}}});
            nodes.patch_status(node, &PatchParams::default(), &Patch::Merge(capacity)).await.unwrap();
            let deployments: Api<Deployment> = Api::namespaced(client.clone(), "demo");
            let scale = json!({"spec": {"replicas": 6}});
            deployments.patch_scale(APP, &PatchParams::default(), &Patch::Merge(scale)).await.unwrap();
            if spare == 0 {
                assert_eq!(pods_on(&client, node).await, running, "no new pod is placed on the full node");
            }
        }
    };
    let too_many =
        || from_kube_state_metrics("KubeletTooManyPods", json!({"node": node}), "Kubelet is running at capacity.");
    let found = diagnosed(&app, "node-full", capped(0), too_many()).await;
    assert_eq!(found.family.as_str(), "unschedulable", "{found:?}");
    assert!(cause(&found).contains(node) && cause(&found).contains("maxPods"), "{found:?}");
    not_confirmed(&diagnosed(&app, "node-full-near", capped(50), too_many()).await);
    app.stop().await;
}
