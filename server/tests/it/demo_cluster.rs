//! The demo cluster through the real kube client over HTTP: lists, gets, logs, patches,
//! scales and deletes behave as the Kubernetes API documents (status codes, Status
//! bodies, resourceVersion conflicts), it reacts to fixes as a cluster would, the
//! "simulate failure" panel breaks it and alerts, and one team's token never reaches
//! another team's cluster.

use axum::http::StatusCode;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Event, Pod};
use kube::api::{ListParams, LogParams, Patch, PatchParams, PostParams};
use kube::{Api, Client};
use uuid::Uuid;

use app::api::clusters::{
    AddDemoCluster, GetCluster, GetClusterOverview, ResetDemoCluster, SetClusterPolicy, SimulateFailure,
    TestClusterConnection,
};
use app::domain::cluster::{RemediationMode, SimulatedFailure};
use app::error::AppError;
use app::server::cluster_client::{self, writes};
use app::server::demo_cluster::store;

use crate::support::{TestApp, User};

/// A signed-up owner with the demo cluster; its id and team.
pub async fn with_demo_cluster(app: &TestApp, email: &str) -> (User, Uuid, Uuid) {
    let owner = app.user();
    owner.sign_up(email, "Demo team").await;
    let added = owner.run(AddDemoCluster {}).await.expect("the demo cluster is added");
    assert!(added.demo);
    let team = owner.team().await;
    (owner, added.id, team)
}

async fn pods(client: &Client, app: &str) -> Vec<Pod> {
    Api::<Pod>::namespaced(client.clone(), "demo")
        .list(&ListParams::default().labels(&format!("app={app}")))
        .await
        .unwrap()
        .items
}

fn waiting(pod: &Pod) -> String {
    pod.status
        .as_ref()
        .and_then(|s| s.container_statuses.as_ref())
        .and_then(|c| c[0].state.as_ref()?.waiting.as_ref()?.reason.clone())
        .unwrap_or_default()
}

fn ready(pod: &Pod) -> bool {
    pod.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|c| c.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
}

fn api_error(error: kube::Error) -> (u16, String, String) {
    match error {
        kube::Error::Api(status) => (status.code, status.reason.clone(), status.message.clone()),
        other => panic!("expected an API error, got {other:?}"),
    }
}

#[tokio::test]
async fn the_kube_client_reads_the_demo_cluster_as_a_real_one() {
    let app = TestApp::spawn().await;
    let (_, id, team) = with_demo_cluster(&app, "reads@demo.example").await;
    let client = cluster_client::connect(&app.state(), team, id).await.unwrap();

    let version = client.apiserver_version().await.unwrap();
    assert!(version.git_version.contains("dreamops-demo"), "{version:?}");
    assert_eq!(client.default_namespace(), "demo");

    let payment = pods(&client, "payment-service").await;
    assert_eq!(payment.len(), 2);
    assert!(payment.iter().all(|pod| waiting(pod) == "CrashLoopBackOff"));
    let all: Vec<Pod> = Api::<Pod>::all(client.clone()).list(&ListParams::default()).await.unwrap().items;
    assert!(all.len() > 8, "{} pods", all.len());
    assert!(pods(&client, "frontend-app").await.is_empty(), "scaled to zero");

    let pods_api = Api::<Pod>::namespaced(client.clone(), "demo");
    let name = payment[0].metadata.name.clone().unwrap();
    let previous =
        pods_api.logs(&name, &LogParams { previous: true, tail_lines: Some(2), ..LogParams::default() }).await.unwrap();
    assert_eq!(previous.lines().count(), 2);
    assert!(previous.contains("/etc/payment/config.yaml is missing"), "{previous}");

    let healthy = pods(&client, "healthy-app").await;
    let healthy_name = healthy[0].metadata.name.clone().unwrap();
    let (code, reason, message) = api_error(
        pods_api.logs(&healthy_name, &LogParams { previous: true, ..LogParams::default() }).await.unwrap_err(),
    );
    assert_eq!((code, reason.as_str()), (400, "BadRequest"));
    assert!(message.contains("previous terminated container"), "{message}");
    assert!(pods_api.logs(&healthy_name, &LogParams::default()).await.unwrap().contains("listening"));

    let (code, reason, message) = api_error(pods_api.get("no-such-pod").await.unwrap_err());
    assert_eq!((code, reason.as_str(), message.as_str()), (404, "NotFound", "pods \"no-such-pod\" not found"));

    let events = Api::<Event>::namespaced(client.clone(), "demo")
        .list(&ListParams::default().fields(&format!("involvedObject.kind=Pod,involvedObject.name={name}")))
        .await
        .unwrap();
    assert!(!events.items.is_empty());
    assert!(events.items.iter().all(|e| e.involved_object.name.as_deref() == Some(name.as_str())));
    assert!(events.items.iter().any(|e| e.reason.as_deref() == Some("BackOff")), "{:?}", events.items);

    let analytics = pods(&client, "analytics-service").await;
    let (code, _, message) = api_error(
        pods_api.logs(analytics[0].metadata.name.as_ref().unwrap(), &LogParams::default()).await.unwrap_err(),
    );
    assert_eq!(code, 400);
    assert!(message.contains("waiting to start: trying and failing to pull image"), "{message}");
    app.stop().await;
}

#[tokio::test]
async fn writes_change_the_demo_cluster_as_kubernetes_documents_and_fixes_work_only_where_they_address_the_cause() {
    let app = TestApp::spawn().await;
    let (_, id, team) = with_demo_cluster(&app, "writes@demo.example").await;
    let client = cluster_client::connect(&app.state(), team, id).await.unwrap();
    let deployments = Api::<Deployment>::namespaced(client.clone(), "demo");

    // Scaling frontend-app (at zero) creates ready pods; a dry run changes nothing.
    writes::scale(&client, "demo", "frontend-app", 3, true).await.unwrap();
    assert!(pods(&client, "frontend-app").await.is_empty(), "a dry run writes nothing");
    writes::scale(&client, "demo", "frontend-app", 2, false).await.unwrap();
    let frontend = pods(&client, "frontend-app").await;
    assert_eq!(frontend.len(), 2);
    assert!(frontend.iter().all(ready));
    let status = deployments.get("frontend-app").await.unwrap().status.unwrap();
    assert_eq!((status.ready_replicas, status.available_replicas), (Some(2), Some(2)));

    // Raising memory-hog's limit above its working set makes it run.
    writes::set_memory_limit(&client, "demo", "memory-hog", "memory-hog", "384Mi", false).await.unwrap();
    let hog = pods(&client, "memory-hog").await;
    assert_eq!(hog.len(), 1);
    assert!(ready(&hog[0]), "{:?}", hog[0].status);
    let container = &deployments.get("memory-hog").await.unwrap().spec.template.spec.unwrap().containers[0];
    let limits = container.resources.as_ref().unwrap().limits.as_ref().unwrap();
    assert_eq!(limits["memory"].0, "384Mi");
    assert_eq!(limits["cpu"].0, "500m", "a strategic merge keeps the rest");

    // Rolling analytics-service back to revision 1 makes it pull and run.
    assert_eq!(writes::roll_back(&client, "demo", "analytics-service", false).await.unwrap(), 1);
    let analytics = pods(&client, "analytics-service").await;
    assert!(analytics.len() == 2 && analytics.iter().all(ready), "{analytics:?}");
    let deployment = deployments.get("analytics-service").await.unwrap();
    assert_eq!(deployment.metadata.annotations.unwrap()["deployment.kubernetes.io/revision"], "3");

    // Restarting payment-service does not help: its cause is configuration.
    let before: Vec<String> =
        pods(&client, "payment-service").await.into_iter().filter_map(|p| p.metadata.name).collect();
    writes::rollout_restart(&client, "demo", "payment-service", chrono::Utc::now(), false).await.unwrap();
    let after = pods(&client, "payment-service").await;
    let fresh: Vec<&Pod> = after.iter().filter(|pod| !before.contains(pod.metadata.name.as_ref().unwrap())).collect();
    assert_eq!(fresh.len(), 1, "the rollout surges by one pod: {after:?}");
    assert_eq!(waiting(fresh[0]), "CrashLoopBackOff", "the restarted pod fails the same way");
    assert_eq!(after.len(), 3, "no old pod goes while no new one is ready");
    // The new rollout has its progress deadline (600 s) before it counts as stuck.
    let progressing = deployments.get("payment-service").await.unwrap().status.unwrap().conditions.unwrap();
    assert!(
        progressing.iter().any(|c| c.type_.as_deref() == Some("Progressing")
            && c.status.as_deref() == Some("True")
            && c.reason.as_deref() == Some("ReplicaSetUpdated")),
        "{progressing:?}"
    );
    // Deleting one of its pods gets a new one, failing just the same.
    let victim = after[0].metadata.name.clone().unwrap();
    writes::delete_pod(&client, "demo", &victim, false).await.unwrap();
    let replaced = pods(&client, "payment-service").await;
    assert!(!replaced.iter().any(|p| p.metadata.name.as_deref() == Some(&victim)));
    assert!(replaced.iter().any(|pod| waiting(pod) == "CrashLoopBackOff"));
    let (code, reason, _) = api_error(writes::delete_pod(&client, "demo", &victim, false).await.unwrap_err());
    assert_eq!((code, reason.as_str()), (404, "NotFound"));
    // Nothing earlier to roll back to.
    assert!(matches!(
        writes::roll_back(&client, "demo", "broken-database", false).await,
        Err(writes::RollBackError::NoEarlierRevision(_))
    ));

    // A stale resourceVersion is a conflict, by patch or by replace.
    let current = deployments.get("healthy-app").await.unwrap();
    let stale = serde_json::json!({"metadata": {"resourceVersion": "1"}, "spec": {"replicas": 3}});
    let (code, reason, message) =
        api_error(deployments.patch("healthy-app", &PatchParams::default(), &Patch::Merge(&stale)).await.unwrap_err());
    assert_eq!((code, reason.as_str()), (409, "Conflict"));
    assert!(message.contains("the object has been modified"), "{message}");
    let mut replaced = current.clone();
    replaced.spec.replicas = Some(4);
    let accepted = deployments.replace("healthy-app", &PostParams::default(), &replaced).await.unwrap();
    assert_eq!(accepted.spec.replicas, Some(4));
    assert_ne!(accepted.metadata.resource_version, current.metadata.resource_version);
    let (code, ..) =
        api_error(deployments.replace("healthy-app", &PostParams::default(), &replaced).await.unwrap_err());
    assert_eq!(code, 409, "the second replace carries the old resourceVersion");
    let negative = serde_json::json!({"spec": {"replicas": -1}});
    let (code, reason, _) = api_error(
        deployments.patch("healthy-app", &PatchParams::default(), &Patch::Merge(&negative)).await.unwrap_err(),
    );
    assert_eq!((code, reason.as_str()), (422, "Invalid"));

    // The request log holds what was asked, dry runs included.
    let log = store::requests(&app.state().db, id).await.unwrap();
    let writes_logged = log.iter().filter(|(method, ..)| method != "GET").count();
    assert!(writes_logged >= 9, "{log:?}");
    assert!(log.iter().any(|(method, path, query, status)| method == "PATCH"
        && path.ends_with("/deployments/frontend-app/scale")
        && query.contains("dryRun=All")
        && *status == 200));
    app.stop().await;
}

#[tokio::test]
async fn the_demo_cluster_answers_only_its_own_token() {
    let app = TestApp::spawn().await;
    let (_, a_id, _) = with_demo_cluster(&app, "a@tokens.example").await;
    let (_, b_id, b_team) = with_demo_cluster(&app, "b@tokens.example").await;
    let state = app.state();
    let b_kubeconfig = app::server::clusters::kubeconfig(&state, b_team, b_id).await.unwrap();
    let b_token = b_kubeconfig.auth_infos[0].auth_info.as_ref().unwrap().token.clone().unwrap();
    let b_token = secrecy::ExposeSecret::expose_secret(&b_token).to_string();
    let get = |cluster: Uuid, token: Option<&str>| {
        let mut request = app.client.get(format!("{}/demo-k8s/{cluster}/api/v1/namespaces/demo/pods", app.address));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        request.send()
    };
    assert_eq!(get(b_id, Some(&b_token)).await.unwrap().status(), StatusCode::OK);
    let refused = get(a_id, Some(&b_token)).await.unwrap();
    assert_eq!(refused.status(), StatusCode::UNAUTHORIZED, "B's token on A's cluster");
    let body: serde_json::Value = refused.json().await.unwrap();
    assert_eq!((body["kind"].as_str(), body["reason"].as_str()), (Some("Status"), Some("Unauthorized")));
    assert_eq!(get(b_id, None).await.unwrap().status(), StatusCode::UNAUTHORIZED);
    assert_eq!(get(b_id, Some("guess")).await.unwrap().status(), StatusCode::UNAUTHORIZED);
    let unsupported = app
        .client
        .patch(format!("{}/demo-k8s/{b_id}/apis/apps/v1/namespaces/demo/deployments/healthy-app", app.address))
        .bearer_auth(&b_token)
        .header("content-type", "text/plain")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(unsupported.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    app.stop().await;
}

#[tokio::test]
async fn the_connection_test_and_the_overview_see_the_demo_apps() {
    let app = TestApp::spawn().await;
    let (owner, id, _) = with_demo_cluster(&app, "overview@demo.example").await;
    let report = owner.run(TestClusterConnection { id }).await.expect("the connection is tested");
    assert_eq!(report.error, None, "{report:?}");
    assert!(report.version.as_deref().unwrap().starts_with("v1.31"));
    assert!(report.namespaces.iter().any(|ns| ns == "demo"));
    assert!(report.permissions.len() >= 10);
    assert!(report.permissions.iter().all(|p| p.allowed == Some(true)), "{report:?}");

    let overview = owner.run(GetClusterOverview { id }).await.expect("the overview is read");
    let names = |found: &[app::domain::cluster::Finding]| -> Vec<String> {
        found.iter().map(|finding| finding.name.clone()).collect()
    };
    assert_eq!(overview.nodes.len(), 3);
    assert!(overview.nodes.iter().all(|node| node.ready));
    let crash = names(&overview.crash_looping);
    assert!(
        crash.iter().any(|n| n.starts_with("payment-service"))
            && crash.iter().any(|n| n.starts_with("broken-database")),
        "{crash:?}"
    );
    let pulls = names(&overview.image_pull_failing);
    assert!(pulls.iter().all(|n| n.starts_with("analytics-service")) && pulls.len() == 2, "{pulls:?}");
    assert!(names(&overview.oom_killed).iter().any(|n| n.starts_with("memory-hog")));
    assert!(names(&overview.services_without_endpoints).contains(&"orphan-service".to_string()));
    let unavailable = names(&overview.unavailable_deployments);
    assert!(unavailable.contains(&"frontend-app".to_string()) && !unavailable.contains(&"healthy-app".to_string()));
    app.stop().await;
}

#[tokio::test]
async fn simulated_failures_break_the_cluster_and_alert_through_the_teams_own_ingestion() {
    let app = TestApp::spawn().await;
    let (owner, id, team) = with_demo_cluster(&app, "chaos@demo.example").await;
    let client = cluster_client::connect(&app.state(), team, id).await.unwrap();
    let simulated = owner.run(SimulateFailure { id, failure: SimulatedFailure::OomKill }).await.unwrap();
    assert!(simulated.contains("KubeContainerOOMKilled"), "{simulated}");
    let killed = pods(&client, "healthy-app").await.into_iter().find(|pod| {
        pod.status.as_ref().and_then(|s| s.container_statuses.as_ref()).is_some_and(|c| {
            c[0].last_state.as_ref().and_then(|s| s.terminated.as_ref()).and_then(|t| t.reason.as_deref())
                == Some("OOMKilled")
        })
    });
    assert!(killed.is_some(), "a new pod is OOM-killed");

    let db = app.state().db;
    let (title, source, body): (String, String, String) = sqlx::query_as(
        "select i.title, i.source, convert_from(a.raw_body, 'UTF8') from incidents i join alerts a on a.incident_id = i.id
         where i.team_id = $1",
    )
    .bind(team)
    .fetch_one(&db)
    .await
    .unwrap();
    assert_eq!(source, "alertmanager");
    assert!(title.contains("OOM"), "{title}");
    let body: serde_json::Value = serde_json::from_str(&body).unwrap();
    let labels = &body["labels"];
    assert_eq!(labels["namespace"], "demo", "{body}");
    assert_eq!(labels["pod"], killed.unwrap().metadata.name.unwrap(), "{body}");

    // A failure the panel does not offer: the typed arguments cannot say it, the wire can.
    let unknown = owner.call("simulate_failure", &[("id", &id.to_string()), ("failure", "meteor")]).await;
    assert_eq!(unknown.status(), StatusCode::BAD_REQUEST);
    owner.run(ResetDemoCluster { id }).await.expect("the demo cluster is reset");
    assert!(pods(&client, "healthy-app").await.iter().all(ready));
    app.stop().await;
}

#[tokio::test]
async fn the_remediation_policy_is_kept_and_checked() {
    let app = TestApp::spawn().await;
    let (owner, id, _) = with_demo_cluster(&app, "policy@demo.example").await;
    let set = |mode: &str, risk: &str, excluded: &str| {
        owner.run(SetClusterPolicy {
            id,
            mode: mode.into(),
            max_autonomous_risk: risk.into(),
            excluded_namespaces: excluded.into(),
            destructive_allowed: Some("on".into()),
        })
    };
    let saved = set("autonomous", "medium", "kube-system, payments ,kube-system").await.expect("the policy is saved");
    assert_eq!(saved.policy.mode, RemediationMode::Autonomous);
    assert_eq!(saved.policy.excluded_namespaces, ["kube-system", "payments"]);
    assert!(saved.policy.destructive_allowed);
    for (mode, risk, excluded, field) in [
        ("yolo", "low", "", "mode"),
        ("approve", "extreme", "", "max_autonomous_risk"),
        ("approve", "low", "Kube_System", "excluded_namespaces"),
    ] {
        let refused = set(mode, risk, excluded).await;
        assert!(
            matches!(&refused, Err(AppError::Validation(fields)) if fields.iter().any(|f| f.field == field)),
            "{field}: {refused:?}"
        );
    }
    let kept = owner.run(GetCluster { id }).await.expect("the cluster is shown");
    assert_eq!(kept.policy.mode, RemediationMode::Autonomous, "refused changes keep what was saved");
    app.stop().await;
}

#[tokio::test]
async fn objects_are_created_as_the_api_server_creates_them_and_controllers_act_on_them() {
    use k8s_openapi::api::batch::v1::Job;
    use k8s_openapi::api::core::v1::{ConfigMap, PersistentVolumeClaim, Secret};
    use kube::api::DeleteParams;

    let app = TestApp::spawn().await;
    let (_, id, team) = with_demo_cluster(&app, "creates@demo.example").await;
    let client = cluster_client::connect(&app.state(), team, id).await.unwrap();
    let post = PostParams::default();

    // Created once (201), its name taken afterwards (409), nowhere in an unknown namespace.
    let maps: Api<ConfigMap> = Api::namespaced(client.clone(), "demo");
    let map: ConfigMap =
        serde_json::from_value(serde_json::json!({"metadata": {"name": "settings"}, "data": {"a": "1"}})).unwrap();
    let created = maps.create(&post, &map).await.unwrap();
    assert!(created.metadata.uid.is_some() && created.metadata.resource_version.is_some());
    let (code, reason, message) = api_error(maps.create(&post, &map).await.unwrap_err());
    assert_eq!(
        (code, reason.as_str(), message.as_str()),
        (409, "AlreadyExists", "configmaps \"settings\" already exists")
    );
    let elsewhere: Api<ConfigMap> = Api::namespaced(client.clone(), "nowhere");
    assert_eq!(api_error(elsewhere.create(&post, &map).await.unwrap_err()).0, 404);
    let generated: ConfigMap =
        serde_json::from_value(serde_json::json!({"metadata": {"generateName": "gen-"}})).unwrap();
    let named = maps.create(&post, &generated).await.unwrap().metadata.name.unwrap();
    assert!(named.starts_with("gen-") && named.len() == 9, "{named}");

    // A secret's stringData is kept as base64 data.
    let secrets: Api<Secret> = Api::namespaced(client.clone(), "demo");
    let secret: Secret =
        serde_json::from_value(serde_json::json!({"metadata": {"name": "s"}, "stringData": {"k": "v"}})).unwrap();
    secrets.create(&post, &secret).await.unwrap();
    let stored = store::get(&app.state().db, id, "secrets", "demo", "s").await.unwrap().unwrap();
    assert_eq!(stored["data"]["k"], "dg==");
    assert!(stored.get("stringData").is_none());

    // Claims bind through the default class; an unknown class leaves them Pending.
    let claims: Api<PersistentVolumeClaim> = Api::namespaced(client.clone(), "demo");
    for (name, class) in [("bound", None), ("pending", Some("fast-ssd"))] {
        let mut claim = serde_json::json!({"metadata": {"name": name}, "spec": {"accessModes": ["ReadWriteOnce"],
                                            "resources": {"requests": {"storage": "1Gi"}}}});
        if let Some(class) = class {
            claim["spec"]["storageClassName"] = serde_json::json!(class);
        }
        claims.create(&post, &serde_json::from_value(claim).unwrap()).await.unwrap();
    }
    let phase = |claim: PersistentVolumeClaim| claim.status.unwrap().phase.unwrap();
    assert_eq!(phase(claims.get("bound").await.unwrap()), "Bound");
    assert_eq!(phase(claims.get("pending").await.unwrap()), "Pending");

    // A job needs a restart policy of Never or OnFailure; it runs to completion; deleting
    // it takes its pods.
    let jobs: Api<Job> = Api::namespaced(client.clone(), "demo");
    let job = |policy: &str| -> Job {
        serde_json::from_value(serde_json::json!({"metadata": {"name": "once"}, "spec": {"template": {"spec": {
            "restartPolicy": policy, "containers": [{"name": "c", "image": "registry.dreamops.demo/frontend-app:4.0.2"}]}}}}))
        .unwrap()
    };
    assert_eq!(api_error(jobs.create(&post, &job("Always")).await.unwrap_err()).0, 422);
    jobs.create(&post, &job("Never")).await.unwrap();
    let done = jobs.get("once").await.unwrap().status.unwrap();
    assert_eq!(done.succeeded, Some(1));
    assert!(done.conditions.unwrap().iter().any(|c| c.type_ == "Complete" && c.status == "True"));
    let job_pods = |client: Client| async move {
        Api::<Pod>::namespaced(client, "demo").list(&ListParams::default().labels("job-name=once")).await.unwrap().items
    };
    assert_eq!(job_pods(client.clone()).await.len(), 1);
    jobs.delete("once", &DeleteParams::default()).await.unwrap();
    assert!(job_pods(client.clone()).await.is_empty());
}
