//! Remediation on the demo cluster: each action's effect and verification, the undo when
//! it did not help, refusals (policy, preconditions, the dry run), the modes — read-only
//! never writes, approve writes only after an operator's approval, autonomous within risk,
//! namespaces, the hourly limit and the kill switch — and a worker killed between
//! "intended" and "done" (a server process killed at its write, before or after it
//! reached the cluster) never doing an action twice. The demo cluster's request log is
//! the witness of what was written.

use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use secrecy::ExposeSecret as _;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;
use uuid::Uuid;

use crate::agent::{alert, analysis, send, unlimited};
use crate::demo_cluster::with_demo_cluster;
use crate::support::{ServerProcess, TestApp, User};
use app::api::clusters::{AddCluster, SetClusterPolicy};
use app::api::remediation::{ApproveAction, GetIncidentActions, SetAutomationPaused};
use app::domain::account::Role;
use app::domain::cluster::RemediationMode;
use app::domain::remediation::{ActionState, ActionView, IncidentActions};
use app::error::AppError;
use app::server::demo_cluster::store;
use app::server::remediation::execute::Actions;

/// An instance whose workers verify for `verify` and take `per_hour` automatic actions.
pub(crate) async fn with_remediation(verify: u64, per_hour: i64) -> TestApp {
    TestApp::spawn_with(|settings| {
        settings.agent.workers = 2;
        settings.agent.lease = Duration::from_secs(2);
        settings.agent.remediation.verify = Duration::from_secs(verify);
        settings.agent.remediation.max_automatic_per_hour = per_hour;
    })
    .await
}

pub(crate) async fn set_policy(owner: &User, cluster: Uuid, mode: &str, risk: &str, excluded: &str, destructive: bool) {
    let policy = SetClusterPolicy {
        id: cluster,
        mode: mode.into(),
        max_autonomous_risk: risk.into(),
        excluded_namespaces: excluded.into(),
        destructive_allowed: destructive.then(|| "on".into()),
    };
    owner.run(policy).await.expect("the policy is saved");
}

/// The writes the cluster received (not reads, not dry runs): method and path.
async fn writes(app: &TestApp, cluster: Uuid) -> Vec<(String, String)> {
    store::requests(&app.state().db, cluster)
        .await
        .unwrap()
        .into_iter()
        .filter(|(method, path, query, _)| {
            method != "GET" && !path.ends_with("selfsubjectaccessreviews") && !query.contains("dryRun")
        })
        .map(|(method, path, _, _)| (method, path))
        .collect()
}

async fn dry_runs(app: &TestApp, cluster: Uuid) -> usize {
    store::requests(&app.state().db, cluster)
        .await
        .unwrap()
        .iter()
        .filter(|(_, _, query, _)| query.contains("dryRun=All"))
        .count()
}

/// The incident's actions once the server's jobs ran (every action finished).
pub(crate) async fn settled(user: &User, incident: Uuid) -> IncidentActions {
    user.run_pending_jobs().await;
    let actions = incident_actions(user, incident).await;
    assert!(
        !actions.actions.is_empty()
            && actions.actions.iter().all(|a| !matches!(a.state, ActionState::Intended | ActionState::Executing)),
        "the actions on {incident} did not finish: {actions:?}"
    );
    actions
}

async fn incident_actions(user: &User, incident: Uuid) -> IncidentActions {
    user.run(GetIncidentActions { incident }).await.expect("the actions are readable")
}

async fn incident_status(app: &TestApp, incident: Uuid) -> (String, Option<String>) {
    sqlx::query_as("select status, resolved_by from incidents where id = $1")
        .bind(incident)
        .fetch_one(&app.state().db)
        .await
        .unwrap()
}

fn demo(labels: Value) -> Value {
    let mut labels = labels;
    labels["namespace"] = json!("demo");
    labels
}

pub(crate) fn oom() -> Value {
    alert("KubeContainerOOMKilled", demo(json!({"deployment": "memory-hog"})), "Container was OOM-killed.")
}

pub(crate) async fn approve(user: &User, incident: Uuid, index: usize, comment: &str) -> Result<ActionView, AppError> {
    user.run(ApproveAction { incident, index, comment: Some(comment.into()) }).await
}

/// Stores an analysis recommending `change` for the team's incident, as the agent would
/// have (for actions the demo apps' own diagnoses do not recommend).
async fn recommend(
    app: &TestApp,
    team: Uuid,
    incident: Uuid,
    cluster: Uuid,
    change: Value,
    risk: &str,
    reversible: bool,
) {
    let actions =
        json!([{"title": "Recommended for the test", "risk": risk, "reversible": reversible, "change": change}]);
    sqlx::query(
        "insert into analyses (incident_id, team_id, family, root_cause, confidence, actions, cluster_id, diagnosed_after_ms)
         values ($1, $2, 'pod_crash', 'seeded', 'high', $3, $4, 1)
         on conflict (incident_id) do update set actions = excluded.actions, cluster_id = excluded.cluster_id",
    )
    .bind(incident)
    .bind(team)
    .bind(actions)
    .bind(cluster)
    .execute(&app.state().db)
    .await
    .unwrap();
}

/// An incident without the agent's analysis (the alert opens it; its job is taken away).
async fn bare_incident(app: &TestApp, team: Uuid, labels: Value) -> Uuid {
    let incident = send(app, team, &alert("SeededForRemediation", demo(labels), "seeded")).await;
    sqlx::query("delete from agent_jobs where incident_id = $1").bind(incident).execute(&app.state().db).await.unwrap();
    incident
}

#[tokio::test]
async fn approve_mode_writes_only_after_an_operators_approval_and_read_only_never_writes() {
    let app = with_remediation(3, 5).await;
    let (owner, cluster, team) = with_demo_cluster(&app, "approve@remediation.example").await;
    unlimited(&app, team).await;
    let viewer = app.member(&owner, "viewer@remediation.example", Role::Viewer).await;
    let operator = app.member(&owner, "operator@remediation.example", Role::Operator).await;
    let mut events = operator.events().await;

    // Read-only (the default): the analysis recommends, nobody can approve, nothing is written.
    let incident = send(&app, team, &oom()).await;
    let found = analysis(&owner, incident).await;
    assert_eq!(found.actions[0].change.kind(), "set_memory_limit");
    let actions = incident_actions(&owner, incident).await;
    assert_eq!((actions.mode, actions.can_approve), (Some(RemediationMode::ReadOnly), false));
    let refused = approve(&operator, incident, 0, "").await;
    assert!(matches!(&refused, Err(AppError::Conflict(why)) if why.contains("read-only")), "{refused:?}");
    assert!(writes(&app, cluster).await.is_empty(), "read-only never writes");

    // Approve mode: a viewer may not approve; a manual step cannot be approved; an
    // operator's approval is carried out, verified, and resolves the incident live.
    set_policy(&owner, cluster, "approve", "low", "", false).await;
    assert_eq!(approve(&viewer, incident, 0, "").await, Err(AppError::Forbidden));
    assert!(writes(&app, cluster).await.is_empty(), "nothing is written without an approval");
    approve(&operator, incident, 0, "raising it as the agent says").await.expect("approved");
    // Approving it again: in flight, or done and the incident resolved — refused either way.
    assert!(matches!(approve(&operator, incident, 0, "").await, Err(AppError::Conflict(_))));
    let actions = settled(&operator, incident).await;
    let action = &actions.actions[0];
    assert_eq!(action.state, ActionState::Verified, "{actions:?}");
    assert_eq!(action.requested_by, "operator@remediation.example");
    assert_eq!(action.comment.as_deref(), Some("raising it as the agent says"));
    assert!(action.outcome.as_deref().unwrap_or_default().contains("1 of 1 pods ready"), "{action:?}");
    assert_eq!(actions.actions.len(), 1, "one action however often approved");
    assert_eq!(incident_status(&app, incident).await, ("resolved".into(), Some("DreamOps agent".into())));
    let written = writes(&app, cluster).await;
    assert_eq!(written, [("PATCH".to_string(), "/apis/apps/v1/namespaces/demo/deployments/memory-hog".to_string())]);
    assert_eq!(dry_runs(&app, cluster).await, 1, "a server-side dry run first");
    let seen = events.drain(Duration::from_millis(500)).await;
    assert!(
        seen.iter().any(|(name, data)| name == "action.executed" && data["incident_id"] == incident.to_string()),
        "{seen:?}"
    );
    // Audited with who, what, before and after.
    let audit: Vec<(String, String, Value)> = sqlx::query_as(
        "select action, actor_label, details from audit_log where team_id = $1 and action like 'remediation.%' order by id",
    )
    .bind(team)
    .fetch_all(&app.state().db)
    .await
    .unwrap();
    assert_eq!(audit[0].0, "remediation.approved");
    assert_eq!(audit[0].1, "operator@remediation.example");
    assert_eq!((audit[1].0.as_str(), audit[1].1.as_str()), ("remediation.executed", "DreamOps agent"));
    assert_eq!(audit[1].2["before"]["memory"]["memory-hog"], "256Mi");
    assert_eq!(audit[1].2["change"]["to"], "384Mi");
    app.stop().await;
}

#[tokio::test]
async fn each_action_is_verified_and_one_that_does_not_help_is_undone_or_reported() {
    let app = with_remediation(2, 5).await;
    let (owner, cluster, team) = with_demo_cluster(&app, "actions@remediation.example").await;
    unlimited(&app, team).await;
    set_policy(&owner, cluster, "approve", "low", "", false).await;

    // Roll back analytics-service (image pull): verified.
    let pull = alert(
        "KubeContainerWaiting",
        demo(json!({"deployment": "analytics-service", "reason": "ImagePullBackOff"})),
        "w",
    );
    let incident = send(&app, team, &pull).await;
    analysis(&owner, incident).await;
    approve(&owner, incident, 0, "").await.expect("approved");
    assert_eq!(settled(&owner, incident).await.actions[0].state, ActionState::Verified);

    // Scale frontend-app up: verified.
    let no_endpoints = alert("KubeServiceNoEndpoints", demo(json!({"service": "frontend-app"})), "No endpoints.");
    let incident = send(&app, team, &no_endpoints).await;
    analysis(&owner, incident).await;
    approve(&owner, incident, 0, "").await.expect("approved");
    assert_eq!(settled(&owner, incident).await.actions[0].state, ActionState::Verified);

    // Restarting payment-service does not help (its configuration is missing): not fixed,
    // nothing to undo, the incident stays open.
    let incident = bare_incident(&app, team, json!({"deployment": "payment-service"})).await;
    let restart = json!({"kind": "rollout_restart", "namespace": "demo", "deployment": "payment-service"});
    recommend(&app, team, incident, cluster, restart, "low", true).await;
    approve(&owner, incident, 0, "").await.expect("approved");
    let action = settled(&owner, incident).await.actions[0].clone();
    assert_eq!(action.state, ActionState::NotFixed, "{action:?}");
    assert!(action.outcome.as_deref().unwrap_or_default().contains("CrashLoopBackOff"), "{action:?}");
    assert_eq!(incident_status(&app, incident).await.0, "triggered");

    // The wrong fix: raising broken-database's memory does not give it its password —
    // the change is undone.
    let incident = bare_incident(&app, team, json!({"deployment": "broken-database"})).await;
    let raise = json!({"kind": "set_memory_limit", "namespace": "demo", "deployment": "broken-database",
                       "container": "broken-database", "from": "512Mi", "to": "768Mi"});
    recommend(&app, team, incident, cluster, raise, "low", true).await;
    approve(&owner, incident, 0, "").await.expect("approved");
    let action = settled(&owner, incident).await.actions[0].clone();
    assert_eq!(action.state, ActionState::RolledBack, "{action:?}");
    assert!(action.outcome.as_deref().unwrap_or_default().contains("the memory limit is 512Mi again"), "{action:?}");
    let database =
        store::get(&app.state().db, cluster, "deployments", "demo", "broken-database").await.unwrap().unwrap();
    assert_eq!(database["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"]["memory"], "512Mi");

    // Deleting a pod is destructive: refused by the policy, then allowed and verified.
    let pod = store::list(&app.state().db, cluster, "pods", Some("demo"))
        .await
        .unwrap()
        .into_iter()
        .find(|p| p["metadata"]["labels"]["app"] == "healthy-app")
        .unwrap()["metadata"]["name"]
        .as_str()
        .unwrap()
        .to_string();
    let incident = bare_incident(&app, team, json!({"deployment": "healthy-app"})).await;
    recommend(
        &app,
        team,
        incident,
        cluster,
        json!({"kind": "delete_pod", "namespace": "demo", "pod": pod}),
        "low",
        false,
    )
    .await;
    let refused = approve(&owner, incident, 0, "").await;
    assert!(matches!(&refused, Err(AppError::Conflict(why)) if why.contains("destructive")), "{refused:?}");
    set_policy(&owner, cluster, "approve", "low", "", true).await;
    approve(&owner, incident, 0, "").await.expect("approved");
    assert_eq!(settled(&owner, incident).await.actions[0].state, ActionState::Verified);
    assert!(store::get(&app.state().db, cluster, "pods", "demo", &pod).await.unwrap().is_none());

    // Refusals write nothing: an excluded namespace; a precondition no longer true; a
    // change the cluster's dry run refuses.
    let before = writes(&app, cluster).await.len();
    set_policy(&owner, cluster, "approve", "low", "demo", true).await;
    let incident = bare_incident(&app, team, json!({"deployment": "healthy-app"})).await;
    let scale = json!({"kind": "scale", "namespace": "demo", "deployment": "healthy-app", "from": 0, "to": 3});
    recommend(&app, team, incident, cluster, scale, "low", true).await;
    let refused = approve(&owner, incident, 0, "").await;
    assert!(matches!(&refused, Err(AppError::Conflict(why)) if why.contains("excluded")), "{refused:?}");
    set_policy(&owner, cluster, "approve", "low", "", true).await;
    approve(&owner, incident, 0, "").await.expect("approved");
    let action = settled(&owner, incident).await.actions[0].clone();
    assert_eq!(action.state, ActionState::Failed);
    assert!(action.outcome.as_deref().unwrap_or_default().contains("runs 2 replicas now, not 0"), "{action:?}");
    let incident = bare_incident(&app, team, json!({"deployment": "cpu-intensive"})).await;
    let nonsense = json!({"kind": "set_memory_limit", "namespace": "demo", "deployment": "cpu-intensive",
                          "container": "cpu-intensive", "from": null, "to": "lots"});
    recommend(&app, team, incident, cluster, nonsense, "low", true).await;
    approve(&owner, incident, 0, "").await.expect("approved");
    let action = settled(&owner, incident).await.actions[0].clone();
    assert_eq!(action.state, ActionState::Failed);
    assert!(action.outcome.as_deref().unwrap_or_default().starts_with("The cluster refused the dry run"), "{action:?}");
    assert_eq!(writes(&app, cluster).await.len(), before, "refused actions write nothing");
    app.stop().await;
}

#[tokio::test]
async fn autonomous_mode_acts_within_risk_namespaces_the_hourly_limit_and_the_kill_switch() {
    let app = with_remediation(2, 2).await;
    let (owner, cluster, team) = with_demo_cluster(&app, "autonomous@remediation.example").await;
    unlimited(&app, team).await;
    set_policy(&owner, cluster, "autonomous", "low", "", false).await;
    let steps = async |incident: Uuid| -> Vec<String> {
        sqlx::query_scalar("select message from timeline_entries where incident_id = $1 order by id")
            .bind(incident)
            .fetch_all(&app.state().db)
            .await
            .unwrap()
    };

    // A medium-risk roll-back is above the policy's low: recommended, not taken.
    let pull = alert(
        "KubeContainerWaiting",
        demo(json!({"deployment": "analytics-service", "reason": "ImagePullBackOff"})),
        "w",
    );
    let incident = send(&app, team, &pull).await;
    analysis(&owner, incident).await;
    assert!(steps(incident).await.iter().any(|s| s.contains("no recommended action is within the cluster's policy")));

    // A low-risk memory raise is taken without a click, verified, and resolves the incident.
    let incident = send(&app, team, &oom()).await;
    analysis(&owner, incident).await;
    let action = settled(&owner, incident).await.actions[0].clone();
    assert_eq!((action.state, action.automatic), (ActionState::Verified, true), "{action:?}");
    assert_eq!(incident_status(&app, incident).await, ("resolved".into(), Some("DreamOps agent".into())));

    // The kill switch: nothing automatic while it is on.
    let client = app::server::cluster_client::connect(&app.state(), team, cluster).await.unwrap();
    let break_hog = async || {
        let writes = app::server::cluster_client::writes::set_memory_limit;
        writes(&client, "demo", "memory-hog", "memory-hog", "256Mi", false).await.unwrap();
    };
    break_hog().await;
    owner.run(SetAutomationPaused { paused: true }).await.expect("the kill switch is on");
    let incident = send(&app, team, &oom()).await;
    analysis(&owner, incident).await;
    assert!(steps(incident).await.iter().any(|s| s.contains("kill switch is on")));
    let actions = incident_actions(&owner, incident).await;
    assert!(actions.actions.is_empty());
    assert!(actions.automation_paused);
    owner.run(SetAutomationPaused { paused: false }).await.expect("the kill switch is off");

    // The hourly limit (2 here): one more automatic action, then none.
    let incident = send(&app, team, &oom()).await;
    analysis(&owner, incident).await;
    assert_eq!(settled(&owner, incident).await.actions[0].state, ActionState::Verified);
    break_hog().await;
    let incident = send(&app, team, &oom()).await;
    analysis(&owner, incident).await;
    assert!(
        steps(incident).await.iter().any(|s| s.contains("automatic actions this hour")),
        "{:?}",
        steps(incident).await
    );

    // Excluded namespaces: not touched.
    sqlx::query("delete from remediation_actions where team_id = $1")
        .bind(team)
        .execute(&app.state().db)
        .await
        .unwrap();
    set_policy(&owner, cluster, "autonomous", "medium", "demo", false).await;
    break_hog().await;
    let incident = send(&app, team, &oom()).await;
    analysis(&owner, incident).await;
    assert!(steps(incident).await.iter().any(|s| s.contains("no recommended action is within the cluster's policy")));
    app.stop().await;
}

/// Where the relay stops the write it waits for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Stop {
    /// The write never reaches the cluster.
    BeforeWrite,
    /// The cluster makes the change; its answer never reaches the worker.
    AfterWrite,
}

/// The write a relay waits for: where to stop, the request line, whom to tell.
type Armed = Arc<Mutex<Option<(Stop, String, oneshot::Sender<()>)>>>;

/// A TCP relay in front of the server (the address of a cluster saved to reach the demo
/// cluster through it). Armed, it stops at the first request whose line starts with `line` and is not a dry
/// run, and says so: the worker that sent it hangs there until it is killed.
struct Relay {
    address: String,
    upstream: Arc<OnceLock<String>>,
    armed: Armed,
}

impl Relay {
    async fn start() -> Relay {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = format!("http://{}", listener.local_addr().unwrap());
        let upstream: Arc<OnceLock<String>> = Arc::default();
        let armed: Armed = Arc::default();
        let (to, arming) = (upstream.clone(), armed.clone());
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let Some(target) = to.get().cloned() else { continue };
                tokio::spawn(relay(client, target, arming.clone()));
            }
        });
        Relay { address, upstream, armed }
    }

    /// Relays to `app` from now on.
    fn to(&self, app: &TestApp) {
        self.upstream.set(app.address.trim_start_matches("http://").to_string()).unwrap();
    }

    /// Stops at the next write whose request line starts with `line`; the receiver
    /// completes when it has.
    fn arm(&self, stop: Stop, line: String) -> oneshot::Receiver<()> {
        let (reached, stopped) = oneshot::channel();
        *self.armed.lock().unwrap() = Some((stop, line, reached));
        stopped
    }
}

async fn relay(client: TcpStream, target: String, armed: Armed) {
    let Ok(server) = TcpStream::connect(target).await else { return };
    let (mut from_client, mut to_client) = client.into_split();
    let (mut from_server, mut to_server) = server.into_split();
    // Once the write passed: told when its answer arrives, which is then withheld.
    let answered: Arc<Mutex<Option<oneshot::Sender<()>>>> = Arc::default();
    let withheld = answered.clone();
    let up = async move {
        let mut buffer = vec![0u8; 64 * 1024];
        while let Ok(read) = from_client.read(&mut buffer).await
            && read > 0
        {
            let chunk = &buffer[..read];
            let reached = {
                let text = String::from_utf8_lossy(chunk);
                let mut armed = armed.lock().unwrap();
                let hit = armed.as_ref().is_some_and(|(_, line, _)| {
                    text.lines().any(|request| request.starts_with(line.as_str()) && !request.contains("dryRun"))
                });
                if hit { armed.take() } else { None }
            };
            match reached {
                Some((Stop::BeforeWrite, _, sender)) => {
                    let _ = sender.send(());
                    // Nothing more reaches the server from this worker, until it is gone.
                    while from_client.read(&mut buffer).await.is_ok_and(|read| read > 0) {}
                    return;
                }
                Some((Stop::AfterWrite, _, sender)) => *withheld.lock().unwrap() = Some(sender),
                None => {}
            }
            if to_server.write_all(chunk).await.is_err() {
                return;
            }
        }
    };
    let down = async move {
        let mut buffer = vec![0u8; 64 * 1024];
        while let Ok(read) = from_server.read(&mut buffer).await
            && read > 0
        {
            let waiting = answered.lock().unwrap().take();
            if let Some(sender) = waiting {
                let _ = sender.send(());
                // Nothing more reaches the worker; the relay ends when it is gone.
                std::future::pending::<()>().await;
            }
            if to_client.write_all(&buffer[..read]).await.is_err() {
                return;
            }
        }
    };
    tokio::select! {
        () = up => {}
        () = down => {}
    }
}

#[tokio::test]
async fn a_worker_killed_between_intended_and_done_never_acts_twice() {
    use nix::sys::signal::Signal;

    let app = TestApp::spawn().await;
    let relay = Relay::start().await;
    relay.to(&app);
    let (owner, demo, team) = with_demo_cluster(&app, "crash@remediation.example").await;
    unlimited(&app, team).await;
    // The team's cluster: the demo cluster, reached through the relay.
    let kubeconfig = app::server::clusters::kubeconfig(&app.state(), team, demo).await.unwrap();
    let token = kubeconfig.auth_infos[0].auth_info.as_ref().unwrap().token.clone().unwrap();
    let relayed = format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: relayed\n  cluster: {{server: '{}/demo-k8s/{demo}'}}\n\
         contexts:\n- name: relayed\n  context: {{cluster: relayed, user: u, namespace: demo}}\n\
         users:\n- name: u\n  user: {{token: '{}'}}\n",
        relay.address,
        token.expose_secret()
    );
    let added = AddCluster { name: "relayed".into(), kubeconfig: relayed, context: "relayed".into(), namespace: None };
    let cluster = owner.run(added).await.expect("the relayed cluster is added").id;
    set_policy(&owner, cluster, "approve", "low", "", false).await;
    let db = app.state().db.clone();
    let raise = json!({"kind": "set_memory_limit", "namespace": "demo", "deployment": "memory-hog",
                       "container": "memory-hog", "from": "256Mi", "to": "384Mi"});
    let write = format!("PATCH /demo-k8s/{demo}/apis/apps/v1/namespaces/demo/deployments/memory-hog");
    let patches = async || {
        writes(&app, demo).await.into_iter().filter(|(m, p)| m == "PATCH" && p.ends_with("/memory-hog")).count()
    };
    let client = app::server::cluster_client::connect(&app.state(), team, demo).await.unwrap();

    for stop in [Stop::BeforeWrite, Stop::AfterWrite] {
        // The limit put back for the round: one call may outlast its five seconds on a
        // busy machine (CI saw it), so the test tries a few times.
        let mut tries = 0;
        while let Err(error) = app::server::cluster_client::writes::set_memory_limit(
            &client,
            "demo",
            "memory-hog",
            "memory-hog",
            "256Mi",
            false,
        )
        .await
        {
            tries += 1;
            assert!(tries < 5, "{stop:?}: putting the limit back failed {tries} times: {error}");
        }
        let before = patches().await;
        let incident = bare_incident(&app, team, json!({"deployment": "memory-hog"})).await;
        recommend(&app, team, incident, cluster, raise.clone(), "low", true).await;
        approve(&owner, incident, 0, "").await.expect("approved");

        // A server process with one worker takes the action and is killed at its write.
        let reached = relay.arm(stop, write.clone());
        let worker = ServerProcess::start(|command| {
            command
                .env("DATABASE_URL", app.database_url())
                .env("DREAMOPS_SECRET_KEY", "0123456789abcdef".repeat(4))
                .env("AGENT_WORKERS", "1")
                .env("AGENT_LEASE_SECS", "2")
                .env("REMEDIATION_VERIFY_SECS", "30")
                // The relay standing in for the cluster listens on loopback.
                .env("OUTBOUND_ALLOW_PRIVATE", "true")
                .env("OUTBOUND_ALLOW_HTTP", "true")
        });
        tokio::time::timeout(Duration::from_secs(60), reached)
            .await
            .unwrap_or_else(|_| panic!("{stop:?}: the worker did not reach its write within 60 s"))
            .unwrap();
        if stop == Stop::BeforeWrite {
            // A live worker keeps its lease however long the action takes.
            tokio::time::sleep(Duration::from_secs(3)).await;
            let tuning = app::server::jobs::Tuning {
                workers: 1,
                lease: Duration::from_secs(2),
                max_attempts: 1,
                per_group: i64::MAX,
            };
            let taken = app::server::jobs::claim::<Actions>(&db, "another", &tuning).await.unwrap();
            assert!(taken.is_none(), "the action was taken from a worker still at it");
        }
        worker.stop_with(Signal::SIGKILL).await;
        let (state, attempts, recorded): (String, i32, bool) = sqlx::query_as(
            "select state, attempts, before is not null from remediation_actions where incident_id = $1",
        )
        .bind(incident)
        .fetch_one(&db)
        .await
        .unwrap();
        assert_eq!((state.as_str(), attempts, recorded), ("executing", 1, true), "{stop:?}: killed mid-action");
        let written = usize::from(stop == Stop::AfterWrite);
        assert_eq!(patches().await, before + written, "{stop:?}: what the killed worker wrote");

        // Another instance resumes it once the lease has run out.
        let resumer = app
            .another_instance_with(|settings| {
                settings.agent.workers = 1;
                settings.agent.lease = Duration::from_secs(2);
                settings.agent.remediation.verify = Duration::from_secs(20);
            })
            .await;
        let action = settled(&owner, incident).await.actions[0].clone();
        assert_eq!(action.state, ActionState::Verified, "{stop:?}: {action:?}");
        assert_eq!(patches().await, before + 1, "{stop:?}: the change is written exactly once");
        let attempts: i32 = sqlx::query_scalar("select attempts from remediation_actions where incident_id = $1")
            .bind(incident)
            .fetch_one(&db)
            .await
            .unwrap();
        assert_eq!(attempts, 2, "{stop:?}");
        let steps: Vec<String> = sqlx::query_scalar("select message from timeline_entries where incident_id = $1")
            .bind(incident)
            .fetch_all(&db)
            .await
            .unwrap();
        let recognised = steps.iter().any(|s| s.contains("the cluster shows it was already done"));
        assert_eq!(recognised, stop == Stop::AfterWrite, "{stop:?}: {steps:?}");
        assert_eq!(incident_status(&app, incident).await, ("resolved".to_string(), Some("DreamOps agent".into())));
        resumer.stop().await;
    }
    app.stop().await;
}

#[tokio::test]
async fn autonomous_mode_never_takes_a_high_risk_action_and_deletes_pods_only_where_allowed() {
    use app::domain::analysis::{Change, RecommendedAction, Risk};
    use app::server::config::RemediationSettings;
    use app::server::remediation::propose;

    // Workers off: what the agent would record is looked at, not carried out.
    let app = TestApp::spawn().await;
    let (owner, cluster, team) = with_demo_cluster(&app, "limits@remediation.example").await;
    let incident = bare_incident(&app, team, json!({"deployment": "healthy-app"})).await;
    let settings = RemediationSettings::default();
    let action =
        |risk: Risk, change: Change| RecommendedAction { title: "test".into(), risk, reversible: true, change };
    let restart = Change::RolloutRestart { namespace: "demo".into(), deployment: "healthy-app".into() };
    let delete = Change::DeletePod { namespace: "demo".into(), pod: "healthy-app-x".into() };
    let proposed = async |actions: Vec<RecommendedAction>| {
        let mut db = app.state().db.acquire().await.unwrap();
        let said = propose(&mut db, &settings, team, incident, cluster, &actions).await.unwrap();
        let recorded: i64 = sqlx::query_scalar("select count(*) from remediation_actions where incident_id = $1")
            .bind(incident)
            .fetch_one(&mut *db)
            .await
            .unwrap();
        sqlx::query("delete from remediation_actions").execute(&mut *db).await.unwrap();
        (said.note.unwrap_or_default(), recorded, said.awaiting.is_some())
    };

    // Even with the policy at "high", a high-risk action waits for an approval.
    set_policy(&owner, cluster, "autonomous", "high", "", true).await;
    let (said, recorded, awaiting) = proposed(vec![action(Risk::High, restart.clone())]).await;
    assert_eq!((recorded, awaiting), (0, true), "{said}");
    let (_, recorded, awaiting) = proposed(vec![action(Risk::Medium, restart.clone())]).await;
    assert_eq!((recorded, awaiting), (1, false), "taken automatically: nothing awaits an approval");

    // Deleting a pod: only with destructive operations allowed.
    let (_, recorded, _) = proposed(vec![action(Risk::Low, delete.clone())]).await;
    assert_eq!(recorded, 1);
    set_policy(&owner, cluster, "autonomous", "high", "", false).await;
    let (said, recorded, awaiting) = proposed(vec![action(Risk::Low, delete.clone())]).await;
    assert_eq!((recorded, awaiting), (0, true));
    assert!(said.contains("no recommended action is within the cluster's policy"), "{said}");
    // Approve mode: nothing automatic at all, the action awaits an approval; read-only:
    // nothing, and nothing to approve.
    set_policy(&owner, cluster, "approve", "high", "", true).await;
    assert_eq!(proposed(vec![action(Risk::Low, restart.clone())]).await, (String::new(), 0, true));
    set_policy(&owner, cluster, "read_only", "high", "", true).await;
    assert_eq!(proposed(vec![action(Risk::Low, restart)]).await, (String::new(), 0, false));
    app.stop().await;
}
