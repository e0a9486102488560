//! Every diagnosis rule through the whole pipeline: the state it recognises is made in a
//! team's demo cluster through the Kubernetes API (as a user's kubectl would), the alert
//! goes into ingestion, the agent reads the cluster and stores its analysis — and for each
//! rule a near miss, a state that looks alike, must not be diagnosed as it.

use std::time::Duration;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{ConfigMap, Node, PersistentVolumeClaim, PodSpec, ResourceQuota, Secret};
use kube::api::{Patch, PatchParams, PostParams};
use kube::{Api, Client};
use serde_json::{Value, json};

use crate::agent::{alert, analysis, change_kinds, send, unlimited, with_agent};
use crate::demo_cluster::with_demo_cluster;
use crate::support::TestApp;
use app::server::cluster_client;

const APP: &str = "healthy-app";

/// The analysis of `alert` after `seed` changed a fresh team's demo cluster.
async fn diagnosed(app: &TestApp, case: &str, seed: impl AsyncFnOnce(Client), alert: Value) -> Value {
    let (owner, id, team) = with_demo_cluster(app, &format!("{case}@rules.example")).await;
    unlimited(app, team).await;
    let client = cluster_client::connect(&app.state(), team, id).await.unwrap();
    seed(client).await;
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

async fn create<K>(client: &Client, object: Value)
where
    K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope>
        + Clone
        + std::fmt::Debug
        + serde::Serialize
        + serde::de::DeserializeOwned,
    K::DynamicType: Default,
{
    let object: K = serde_json::from_value(object).unwrap();
    Api::<K>::namespaced(client.clone(), "demo").create(&PostParams::default(), &object).await.unwrap();
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

fn cause(found: &Value) -> String {
    found["root_cause"].as_str().unwrap().to_string()
}

/// The cluster does not confirm the alert: the answer every near miss ends in when no
/// other rule holds.
fn not_confirmed(found: &Value) {
    assert!(cause(found).contains("does not show it now"), "{found}");
    assert_eq!(change_kinds(found), ["manual"], "{found}");
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
    assert_eq!(found["family"], "oom_kill", "{found}");
    let raise = &found["actions"][0]["change"];
    assert_eq!((raise["kind"].as_str(), raise["to"].as_str()), (Some("set_memory_limit"), Some("128Mi")), "{found}");
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
    assert_eq!(found["family"], "image_pull", "{found}");
    assert_eq!(found["actions"][0]["change"]["kind"], "roll_back", "{found}");
    assert_eq!(found["actions"][0]["change"]["to_revision"], 1, "{found}");
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
    assert!(cause(&found).contains("secret \"db-credentials\" not found"), "{found}");
    assert!(found["evidence"].to_string().contains("CreateContainerConfigError"), "{found}");
    assert_eq!(change_kinds(&found), ["manual"], "{found}");
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
    assert_eq!(found["family"], "volume_problem", "{found}");
    assert!(cause(&found).contains("volume claim data is Pending"), "{found}");
    assert!(cause(&found).contains("storageclass.storage.k8s.io \"fast-ssd\" not found"), "{found}");
    not_confirmed(&diagnosed(&app, "claim-near", claimed(None), mismatch()).await);
    let no_claim = async |client: Client| mount_claim(&client, "nowhere").await;
    let found = diagnosed(&app, "claim-missing", no_claim, mismatch()).await;
    assert!(cause(&found).contains("volume claim nowhere does not exist"), "{found}");

    // More memory requested than any node has: roll back; a request that fits is placed.
    let found = diagnosed(&app, "unschedulable", resource("requests", "memory", "64Gi"), mismatch()).await;
    assert_eq!(found["family"], "unschedulable", "{found}");
    assert!(cause(&found).contains("Insufficient memory"), "{found}");
    assert_eq!(change_kinds(&found), ["roll_back", "manual"], "{found}");
    not_confirmed(&diagnosed(&app, "unschedulable-near", resource("requests", "memory", "1Gi"), mismatch()).await);

    // Evicted for writing more than its ephemeral-storage limit; a limit above it is not.
    let found = diagnosed(&app, "evicted", resource("limits", "ephemeral-storage", "10Mi"), mismatch()).await;
    assert!(cause(&found).contains("was evicted"), "{found}");
    assert!(cause(&found).contains("exceeds the total limit of containers 10Mi"), "{found}");
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
    assert_eq!(found["family"], "volume_problem", "{found}");
    assert!(cause(&found).contains("FailedMount"), "{found}");
    assert!(cause(&found).contains("secret \"tls-certs\" not found"), "{found}");
    let seed = async |client: Client| {
        create::<Secret>(&client, json!({"metadata": {"name": "tls-certs"}, "stringData": {"tls.crt": "x"}})).await;
        tls(&client).await;
    };
    not_confirmed(&diagnosed(&app, "mount-near", seed, mismatch()).await);

    // Crash loop with a missing configuration file: no automatic action; mounting the
    // file fixes it, and the fixed app is not in a crash loop.
    let payment_crash = || alert("KubePodCrashLooping", demo(json!({"deployment": "payment-service"})), "crash");
    let found = diagnosed(&app, "crash", async |_| {}, payment_crash()).await;
    assert!(cause(&found).contains("configuration file is missing"), "{found}");
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
    assert!(cause(&found).contains("scaled to zero"), "{found}");
    assert_eq!(found["actions"][0]["change"]["kind"], "scale", "{found}");
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
    assert!(cause(&found).contains("matches no pod"), "{found}");
    let found = diagnosed(
        &app,
        "selector-near",
        async |_| {},
        alert("KubeServiceNoEndpoints", demo(json!({"service": "payment-service"})), "No endpoints."),
    )
    .await;
    assert!(!cause(&found).contains("matches no pod"), "{found}");
    assert!(cause(&found).contains("configuration file is missing"), "{found}");

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
    assert_eq!(found["family"], "rollout_failure", "{found}");
    assert!(cause(&found).contains("exceeded quota: demo-quota"), "{found}");
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
    assert_eq!(found["family"], "probe_failure", "{found}");
    assert!(cause(&found).contains("Readiness probe failed: HTTP probe failed with statuscode: 404"), "{found}");
    assert_eq!(change_kinds(&found), ["roll_back", "manual"], "{found}");
    not_confirmed(&diagnosed(&app, "probe-near", probe("/healthz", None), not_ready()).await);
    let stuck = || about_app("KubeDeploymentRolloutStuck", "Deployment rollout is not progressing.");
    let found = diagnosed(&app, "stuck", probe("/ready-v2", Some(1)), stuck()).await;
    assert!(cause(&found).contains("The rollout of healthy-app is stuck"), "{found}");
    assert_eq!(found["actions"][0]["change"]["kind"], "roll_back", "{found}");
    // The near miss of a stuck rollout: within its deadline it is still progressing.
    let found = diagnosed(&app, "stuck-near", probe("/ready-v2", None), stuck()).await;
    assert!(!cause(&found).contains("stuck"), "{found}");

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
    assert_eq!(found["family"], "probe_failure", "{found}");
    assert!(cause(&found).contains("Liveness probe failed"), "{found}");
    assert!(cause(&found).contains("connection refused"), "{found}");

    // A node not ready; all nodes ready is no node problem.
    let node_down = async |client: Client| {
        let patch = Patch::Strategic(json!({"status": {"conditions": [{"type": "Ready", "status": "Unknown",
            "reason": "NodeStatusUnknown", "message": "Kubelet stopped posting node status."}]}}));
        Api::<Node>::all(client).patch_status("demo-node-2", &PatchParams::default(), &patch).await.unwrap();
    };
    let node_alert = || alert("KubeNodeNotReady", json!({"node": "demo-node-2"}), "Node is not ready.");
    let found = diagnosed(&app, "node", node_down, node_alert()).await;
    assert_eq!(found["family"], "node_not_ready", "{found}");
    assert!(cause(&found).contains("Node demo-node-2 is unhealthy (Ready=Unknown)"), "{found}");
    assert!(found["evidence"].to_string().contains("Kubelet stopped posting node status."), "{found}");
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
    assert_eq!(found["family"], "job_failure", "{found}");
    assert!(cause(&found).contains("Job db-migrate failed (BackoffLimitExceeded) after 3 attempts"), "{found}");
    assert!(cause(&found).contains("POSTGRES_PASSWORD is not set"), "{found}");
    let set = json!([{"name": "POSTGRES_PASSWORD", "value": "s3cret-demo"}]);
    not_confirmed(&diagnosed(&app, "job-near", job(set), job_alert()).await);

    app.stop().await;
}
