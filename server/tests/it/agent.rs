//! The embedded agent end to end: alerts into ingestion, the durable queue, the demo
//! cluster read through the kube client, the diagnosis stored — for each demo app's
//! failure and near misses; a worker dying mid-job; two instances sharing the queue.

use std::time::Duration;

use serde_json::{Value, json};
use uuid::Uuid;

use crate::demo_cluster::with_demo_cluster;
use app::api::analysis::{GetAgentProgress, GiveAnalysisFeedback, RetryAnalysis};
use app::api::clusters::AddCluster;
use app::api::incidents::GetDashboard;
use app::domain::analysis::{AgentProgress, AnalysisView, Change, Family, Risk};
use app::error::AppError;
use app::server::agent::Analyses;

use crate::support::{TestApp, User};

/// An instance whose agent runs `workers` workers with a short lease.
pub(crate) async fn with_agent(workers: usize) -> TestApp {
    TestApp::spawn_with(|settings| {
        settings.agent.workers = workers;
        settings.agent.lease = Duration::from_secs(2);
    })
    .await
}

/// An Alertmanager webhook body for one firing alert.
pub(crate) fn alert(name: &str, labels: Value, summary: &str) -> Value {
    let mut labels = labels;
    labels["alertname"] = json!(name);
    labels["severity"] = json!("critical");
    json!({"version": "4", "status": "firing", "receiver": "dreamops", "groupKey": format!("{{}}:{name}"),
           "alerts": [{"status": "firing", "labels": labels, "annotations": {"summary": summary},
                       "startsAt": chrono::Utc::now().to_rfc3339(), "endsAt": "0001-01-01T00:00:00Z",
                       "fingerprint": Uuid::new_v4().simple().to_string()}]})
}

/// Sends `payload` through the team's own Alertmanager endpoint; the incident it opened.
pub(crate) async fn send(app: &TestApp, team: Uuid, payload: &Value) -> Uuid {
    let state = app.state();
    app::server::ingest::integrations::send_as_alertmanager(&state.db, &state.cipher, &state.self_url, team, payload)
        .await
        .unwrap();
    let fingerprint = payload["alerts"][0]["fingerprint"].as_str().unwrap();
    sqlx::query_scalar("select id from incidents where team_id = $1 and dedup_key like '%' || $2 || '%'")
        .bind(team)
        .bind(fingerprint)
        .fetch_one(&state.db)
        .await
        .unwrap_or_else(|_| panic!("no incident for {fingerprint}"))
}

/// The incident's analysis, once the server's jobs ran.
pub(crate) async fn analysis(user: &User, incident: Uuid) -> AnalysisView {
    user.run_pending_jobs().await;
    match progress(user, incident).await {
        AgentProgress::Done(analysis) => *analysis,
        other => panic!("no analysis of {incident}: {other:?}"),
    }
}

/// The incident's analysis once the instances' own workers stored it (waiting up to
/// 20 s), for tests of the workers themselves, where other jobs never end.
pub(crate) async fn analysed_in_background(user: &User, incident: Uuid) -> AnalysisView {
    for _ in 0..200 {
        if let AgentProgress::Done(analysis) = progress(user, incident).await {
            return *analysis;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("no analysis of {incident}");
}

/// Where the agent is with the incident.
pub(crate) async fn progress(user: &User, incident: Uuid) -> AgentProgress {
    user.run(GetAgentProgress { incident }).await.expect("the progress is readable")
}

/// The kinds of the analysis's recommended changes, in order.
pub(crate) fn change_kinds(analysis: &AnalysisView) -> Vec<&'static str> {
    analysis.actions.iter().map(|action| action.change.kind()).collect()
}

/// The analysis's evidence, one line each: where, and what was found.
pub(crate) fn evidence(analysis: &AnalysisView) -> String {
    analysis.evidence.iter().map(|e| format!("{}: {}\n", e.source, e.line)).collect()
}

pub(crate) async fn unlimited(app: &TestApp, team: Uuid) {
    sqlx::query("update teams set plan = 'enterprise' where id = $1")
        .bind(team)
        .execute(&app.state().db)
        .await
        .unwrap();
}

#[tokio::test]
async fn the_agent_diagnoses_each_demo_failure_from_its_alert_and_the_cluster() {
    let app = with_agent(2).await;
    let (owner, _, team) = with_demo_cluster(&app, "agent@demo.example").await;
    unlimited(&app, team).await;
    let demo = |labels: Value| {
        let mut labels = labels;
        labels["namespace"] = json!("demo");
        labels
    };
    let cases = [
        (
            "memory-hog",
            alert("KubeContainerOOMKilled", demo(json!({"deployment": "memory-hog"})), "Container was OOM-killed."),
        ),
        (
            "analytics-service",
            alert(
                "KubeContainerWaiting",
                demo(json!({"deployment": "analytics-service", "reason": "ImagePullBackOff"})),
                "waiting",
            ),
        ),
        (
            "payment-service",
            alert("KubePodCrashLooping", demo(json!({"deployment": "payment-service"})), "Pod is crash looping."),
        ),
        (
            "broken-database",
            alert("KubePodCrashLooping", demo(json!({"deployment": "broken-database"})), "Pod is crash looping."),
        ),
        ("frontend-app", alert("KubeServiceNoEndpoints", demo(json!({"service": "frontend-app"})), "No endpoints.")),
        (
            "orphan-service",
            alert("KubeServiceNoEndpoints", demo(json!({"service": "orphan-service"})), "No endpoints."),
        ),
        (
            "healthy-app",
            alert("KubePodCrashLooping", demo(json!({"deployment": "healthy-app"})), "Pod is crash looping."),
        ),
    ];
    let mut incidents = Vec::new();
    for (app_name, payload) in &cases {
        incidents.push((*app_name, send(&app, team, payload).await));
    }
    for (app_name, incident) in incidents {
        let found = analysis(&owner, incident).await;
        let cause = found.root_cause.clone();
        let kinds = change_kinds(&found);
        match app_name {
            "memory-hog" => {
                assert_eq!(found.family, Family::OomKill);
                assert!(cause.contains("OOM-killed") && cause.contains("256Mi"), "{cause}");
                let Change::SetMemoryLimit { from, to, .. } = &found.actions[0].change else {
                    panic!("not a raise: {found:?}")
                };
                assert_eq!((from.as_deref(), to.as_str()), (Some("256Mi"), "384Mi"));
                assert_eq!(found.actions[0].risk, Risk::Low);
                let evidence = evidence(&found);
                assert!(evidence.contains("OOMKilled") && evidence.contains("limits.memory: 256Mi"), "{evidence}");
            }
            "analytics-service" => {
                assert_eq!(found.family, Family::ImagePull);
                assert!(cause.contains("does not exist"), "{cause}");
                let Change::RollBack { to_revision, to_image, .. } = &found.actions[0].change else {
                    panic!("not a roll-back: {found:?}")
                };
                assert_eq!(*to_revision, 1);
                assert!(to_image.as_deref().unwrap().ends_with(":2.3.0"));
            }
            "payment-service" => {
                assert_eq!(found.family, Family::PodCrash);
                assert!(cause.contains("configuration file is missing"), "{cause}");
                assert_eq!(kinds, ["manual"], "a restart will not help: no automatic action");
                assert!(evidence(&found).contains("/etc/payment/config.yaml"));
            }
            "broken-database" => {
                assert!(cause.contains("POSTGRES_PASSWORD is not set"), "{cause}");
                assert!(!kinds.contains(&"rollout_restart"));
            }
            "frontend-app" => {
                assert!(cause.contains("scaled to zero"), "{cause}");
                let Change::Scale { to, .. } = &found.actions[0].change else { panic!("not a scale: {found:?}") };
                assert_eq!(*to, 1);
            }
            "orphan-service" => {
                assert!(cause.contains("selector app=orphan-backend matches no pod"), "{cause}");
                assert_eq!(kinds, ["manual"]);
            }
            // Near miss: the alert says crash loop, the cluster shows healthy pods.
            "healthy-app" => {
                assert_eq!(found.family, Family::PodCrash);
                assert!(cause.contains("does not show it now"), "{cause}");
                assert_eq!(kinds, ["manual"], "nothing to change in a healthy app");
            }
            _ => unreachable!(),
        }
    }

    // Each step went on the timeline, as the agent.
    let (_, memory_hog) = (cases[0].0, send(&app, team, &cases[0].1).await);
    analysis(&owner, memory_hog).await;
    let steps: Vec<String> = sqlx::query_scalar(
        "select message from timeline_entries where incident_id = $1 and actor = 'DreamOps agent' order by id",
    )
    .bind(memory_hog)
    .fetch_all(&app.state().db)
    .await
    .unwrap();
    assert!(steps[0].starts_with("Started analysing"), "{steps:?}");
    assert!(steps.iter().any(|s| s.starts_with("Classified as Out of memory")), "{steps:?}");
    assert!(steps.iter().any(|s| s.starts_with("Read deployment demo/memory-hog")), "{steps:?}");
    assert!(steps.iter().any(|s| s.starts_with("Read the previous log")), "{steps:?}");
    assert!(steps.last().unwrap().starts_with("Diagnosis (high confidence)"), "{steps:?}");
    app.stop().await;
}

#[tokio::test]
async fn incidents_outside_kubernetes_get_a_runbook_answer_and_nothing_is_analysed_over_quota() {
    let app = with_agent(1).await;
    let owner = app.user();
    owner.sign_up("runbook@agent.example", "Runbook").await;
    let team = owner.team().await;
    let mut events = owner.events().await;
    let payload = alert("PostgresqlTooManyConnections", json!({"instance": "db-1:5432"}), "too many connections");
    let incident = send(&app, team, &payload).await;
    let mut ready = false;
    while let Some((name, data)) = events.next(Duration::from_secs(10)).await {
        if name == "analysis.ready" {
            assert_eq!(data["incident_id"], incident.to_string());
            ready = true;
            break;
        }
    }
    assert!(ready, "the live stream says when the analysis is stored");
    let found = analysis(&owner, incident).await;
    assert_eq!(found.family, Family::DatabaseConnections);
    let Change::Manual { steps } = &found.actions[0].change else { panic!("not a manual step: {found:?}") };
    assert!(steps.iter().any(|step| step.contains("pg_stat_activity")), "{steps:?}");

    // Free allows 3 alerts a month: the 4th incident is held and not analysed.
    for _ in 0..2 {
        send(&app, team, &alert("NodeHighCpuLoad", json!({"instance": "web-1"}), "High CPU")).await;
    }
    let held = send(&app, team, &alert("NodeHighCpuLoad", json!({"instance": "web-2"}), "High CPU")).await;
    owner.run_pending_jobs().await;
    assert_eq!(progress(&owner, held).await, AgentProgress::NotQueued, "held over quota");
    // A larger plan releases it, and then it is analysed.
    unlimited(&app, team).await;
    app::server::quota::release_all_held(&app.state().db).await.unwrap();
    assert_eq!(analysis(&owner, held).await.family, Family::ServerResources);
    app.stop().await;
}

#[tokio::test]
async fn a_job_held_by_a_dead_worker_is_finished_by_another_once_its_lease_runs_out() {
    let app = with_agent(0).await;
    let owner = app.user();
    owner.sign_up("crash@agent.example", "Crash").await;
    let team = owner.team().await;
    let incident = send(&app, team, &alert("NodeHighCpuLoad", json!({"instance": "web-1"}), "High CPU")).await;
    let db = app.state().db;
    // A worker claims the job and dies without a word.
    let tuning = app::server::jobs::Tuning { workers: 1, lease: Duration::from_secs(2), max_attempts: 5, per_group: 1 };
    let (doomed, claimed) =
        app::server::jobs::claim::<Analyses>(&db, "doomed-worker", &tuning).await.unwrap().expect("a job is due");
    assert_eq!(claimed.incident_id, incident);

    let rescuer = app
        .another_instance_with(|settings| {
            settings.agent.workers = 1;
            settings.agent.lease = Duration::from_secs(2);
        })
        .await;
    let found = analysed_in_background(&owner, incident).await;
    assert_eq!(found.family, Family::ServerResources);
    let (attempts, state, analyses): (i32, String, i64) = sqlx::query_as(
        "select attempts, state, (select count(*) from analyses where incident_id = $1) from agent_jobs where incident_id = $1",
    )
    .bind(incident)
    .fetch_one(&db)
    .await
    .unwrap();
    assert_eq!((attempts, state.as_str(), analyses), (2, "done", 1));
    // The dead worker's late finish changes nothing.
    assert!(!doomed.finish(&db, "done").await.unwrap());
    rescuer.stop().await;
    app.stop().await;
}

#[tokio::test]
async fn two_instances_share_the_queue_and_analyse_each_of_100_incidents_once() {
    let first = with_agent(2).await;
    let second = first
        .another_instance_with(|settings| {
            settings.agent.workers = 2;
            settings.agent.lease = Duration::from_secs(2);
        })
        .await;
    let owner = first.user();
    owner.sign_up("shared@agent.example", "Shared").await;
    let team = owner.team().await;
    unlimited(&first, team).await;
    let secret = owner.api_key("load").await;
    for index in 0..100 {
        let target = if index % 2 == 0 { &first } else { &second };
        let body = json!({"title": format!("Checkout latency high #{index}"), "severity": "warning", "dedup_key": format!("load-{index}")});
        let response = target.send_rest_alert(&secret, &body).await;
        assert!(response.status().is_success(), "{}", response.status());
    }
    let db = first.state().db;
    for _ in 0..300 {
        let done: i64 = sqlx::query_scalar("select count(*) from analyses where team_id = $1")
            .bind(team)
            .fetch_one(&db)
            .await
            .unwrap();
        if done == 100 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (analyses, jobs_done, started, most_attempts): (i64, i64, i64, i32) = sqlx::query_as(
        "select (select count(*) from analyses where team_id = $1),
                (select count(*) from agent_jobs where team_id = $1 and state = 'done'),
                (select count(*) from timeline_entries where team_id = $1 and kind = 'agent.started'),
                (select max(attempts) from agent_jobs where team_id = $1)",
    )
    .bind(team)
    .fetch_one(&db)
    .await
    .unwrap();
    assert_eq!((analyses, jobs_done, started, most_attempts), (100, 100, 100, 1));
    let workers: i64 =
        sqlx::query_scalar("select count(distinct leased_by) from agent_jobs").fetch_one(&db).await.unwrap();
    assert_eq!(workers, 0, "no job is left leased");
    second.stop().await;
    first.stop().await;
}

#[tokio::test]
async fn a_failed_analysis_is_shown_and_can_be_retried_by_responders() {
    let app = with_agent(1).await;
    let owner = app.user();
    owner.sign_up("retry@agent.example", "Retry").await;
    let team = owner.team().await;
    let incident = send(&app, team, &alert("NodeHighCpuLoad", json!({"instance": "web-1"}), "High CPU")).await;
    analysis(&owner, incident).await;
    let db = app.state().db;
    // As if every attempt had failed.
    sqlx::query("delete from analyses where incident_id = $1").bind(incident).execute(&db).await.unwrap();
    sqlx::query("update agent_jobs set state = 'failed', attempts = 5, last_error = 'the cluster answered 500' where incident_id = $1")
        .bind(incident)
        .execute(&db)
        .await
        .unwrap();
    assert_eq!(
        progress(&owner, incident).await,
        AgentProgress::Failed { error: "the cluster answered 500".into(), attempts: 5 }
    );
    owner.run(RetryAnalysis { incident }).await.expect("a failed analysis is retried");
    assert_eq!(analysis(&owner, incident).await.family, Family::ServerResources);
    let again = owner.run(RetryAnalysis { incident }).await;
    assert!(matches!(again, Err(AppError::Conflict(_))), "nothing failed any more: {again:?}");
    app.stop().await;
}

#[tokio::test]
async fn responders_mark_analyses_right_or_wrong_and_the_dashboard_counts_them() {
    let app = with_agent(1).await;
    let owner = app.user();
    owner.sign_up("verdict@agent.example", "Verdicts").await;
    let team = owner.team().await;
    let first = send(&app, team, &alert("NodeHighCpuLoad", json!({"instance": "web-1"}), "High CPU")).await;
    let second =
        send(&app, team, &alert("PostgresqlTooManyConnections", json!({"instance": "db-1"}), "too many connections"))
            .await;
    analysis(&owner, first).await;
    analysis(&owner, second).await;
    let give = |incident: Uuid, right: bool, correction: &str| {
        owner.run(GiveAnalysisFeedback { incident, right, correction: Some(correction.to_string()) })
    };
    give(first, true, "").await.expect("a verdict is given");
    give(second, false, "A runaway cron job held the connections").await.expect("a verdict is given");
    let too_long = give(second, false, &"x".repeat(2001)).await;
    assert!(matches!(&too_long, Err(AppError::Validation(fields)) if fields[0].field == "correction"), "{too_long:?}");

    let feedback = analysis(&owner, second).await.feedback.expect("the verdict is shown");
    assert!(!feedback.right);
    assert_eq!(
        feedback.correction.as_deref(),
        Some("A runaway cron job held the connections"),
        "the refused one changed nothing"
    );
    let dashboard = owner.run(GetDashboard {}).await.unwrap();
    let weeks = &dashboard.accuracy.weeks;
    assert_eq!(weeks.len(), 8);
    let (_, right, all) = weeks.last().unwrap();
    assert_eq!((right, all), (&1, &2), "this week: 1 right of 2");
    assert_eq!(dashboard.accuracy.wrong[0].correction.as_deref(), Some("A runaway cron job held the connections"));
    // A verdict can change.
    give(second, true, "").await.expect("a verdict changes");
    let dashboard = owner.run(GetDashboard {}).await.unwrap();
    let (_, right, all) = dashboard.accuracy.weeks.last().unwrap();
    assert_eq!((right, all), (&2, &2));
    assert!(dashboard.accuracy.wrong.is_empty());
    assert!(dashboard.response_times[0].mttd_secs.unwrap() >= 0.0, "time to diagnosis is measured");
    app.stop().await;
}

#[tokio::test]
async fn on_shutdown_a_job_that_cannot_finish_in_time_is_given_back_for_another_worker() {
    let app = with_agent(0).await;
    let owner = app.user();
    owner.sign_up("shutdown@agent.example", "Shutdown").await;
    let team = owner.team().await;
    // A cluster that accepts connections and never answers: every read waits its time box.
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = silent.local_addr().unwrap();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = silent.accept().await {
            held.push(socket);
        }
    });
    let kubeconfig = format!(
        "apiVersion: v1\nkind: Config\ncurrent-context: c\nclusters:\n- name: k\n  cluster: {{server: 'http://{address}'}}\n\
         contexts:\n- name: c\n  context: {{cluster: k, user: u, namespace: shop}}\nusers:\n- name: u\n  user: {{token: t}}\n"
    );
    let added = AddCluster { name: "silent".into(), kubeconfig, context: "c".into(), namespace: None };
    owner.run(added).await.expect("the cluster is added");

    let worker = app
        .another_instance_with(|settings| {
            settings.agent.workers = 1;
            settings.agent.lease = Duration::from_secs(30);
            // A grace well inside a read's 5-second time box: the analysis cannot finish
            // in it (the reader stops at the first read the cluster does not answer, so
            // a grace as long as the time box would race it).
            settings.shutdown_timeout = Duration::from_secs(1);
        })
        .await;
    let incident = send(
        &app,
        team,
        &alert("KubePodCrashLooping", json!({"namespace": "shop", "deployment": "web"}), "Crash looping"),
    )
    .await;
    let db = app.state().db;
    for _ in 0..100 {
        let state: String = sqlx::query_scalar("select state from agent_jobs where incident_id = $1")
            .bind(incident)
            .fetch_one(&db)
            .await
            .unwrap();
        if state == "running" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // The instance stops: its worker may finish within the grace, else gives the job back.
    worker.stop().await;
    let (state, attempts, leased_by): (String, i32, Option<String>) =
        sqlx::query_as("select state, attempts, leased_by from agent_jobs where incident_id = $1")
            .bind(incident)
            .fetch_one(&db)
            .await
            .unwrap();
    assert_eq!((state.as_str(), attempts, leased_by), ("queued", 0, None), "given back, the attempt not counted");
    let analyses: i64 = sqlx::query_scalar("select count(*) from analyses").fetch_one(&db).await.unwrap();
    assert_eq!(analyses, 0);
    app.stop().await;
}

/// One team's cluster that accepts connections and never answers holds one worker at
/// a time, not all of them: another team's incident, arriving after, is analysed while
/// the first team's wait their turn.
#[tokio::test]
async fn a_team_with_a_stuck_cluster_does_not_hold_up_other_teams() {
    let app = TestApp::spawn_with(|settings| settings.agent.workers = 2).await;
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let stuck_at = silent.local_addr().unwrap();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((stream, _)) = silent.accept().await {
            held.push(stream);
        }
    });
    let stuck = app.user();
    stuck.sign_up("owner@stuck.example", "Stuck").await;
    let stuck_team = stuck.team().await;
    let kubeconfig = format!(
        "apiVersion: v1\nkind: Config\ncurrent-context: c\nclusters:\n- name: k\n  cluster: {{server: 'http://{stuck_at}'}}\n\
         contexts:\n- name: c\n  context: {{cluster: k, user: u}}\nusers:\n- name: u\n  user: {{token: t}}\n"
    );
    let added = AddCluster { name: "stuck".into(), kubeconfig, context: "c".into(), namespace: None };
    stuck.run(added).await.expect("the cluster is added");
    unlimited(&app, stuck_team).await;
    let other = app.user();
    other.sign_up("owner@other.example", "Other").await;
    let other_team = other.team().await;

    for n in 0..3 {
        send(&app, stuck_team, &alert("KubePodCrashLooping", json!({"pod": format!("web-{n}")}), "crash looping"))
            .await;
    }
    let incident =
        send(&app, other_team, &alert("KubePodCrashLooping", json!({"pod": "api-1"}), "crash looping")).await;
    analysed_in_background(&other, incident).await;
    let waiting: i64 =
        sqlx::query_scalar("select count(*) from agent_jobs where team_id = $1 and state in ('queued', 'running')")
            .bind(stuck_team)
            .fetch_one(&app.state().db)
            .await
            .unwrap();
    assert!(waiting >= 2, "the stuck team's analyses had the workers: {waiting} of 3 still waiting");
    app.stop().await;
}
