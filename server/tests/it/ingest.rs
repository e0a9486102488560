//! Alerts in, through every endpoint, with the senders' real payloads; dedup,
//! lifecycle, the quota, bad input, and a real Alertmanager.

use std::time::{Duration, Instant};

use axum::http::StatusCode;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use sqlx::PgPool;
use uuid::Uuid;

use app::api::incidents::GetIncident;
use app::api::integrations::{
    AddPagerdutySecret, GetUsage, ListIntegrations, RevealIntegration, RotateIntegration, SendTestAlert,
    SetGrafanaSecret,
};
use app::domain::integration::IntegrationKind;
use app::error::AppError;
use app::server::ingest::integrations::{self, Integration};

use crate::support::{TestApp, User, join_all};

/// A signed-up team, its integrations and a pool on its database.
struct Team {
    owner: User,
    id: Uuid,
    integrations: Vec<Integration>,
    db: PgPool,
}

impl Team {
    async fn create(app: &TestApp, name: &str) -> Team {
        let owner = app.user();
        owner.sign_up(&format!("owner@{name}.example"), name).await;
        let id = owner.team().await;
        let state = app.state();
        let integrations = integrations::ensure(&state.db, &state.cipher, id).await.unwrap();
        Team { owner, id, integrations, db: app.db().await }
    }

    fn integration(&self, kind: &str) -> &Integration {
        self.integrations.iter().find(|i| i.kind.as_str() == kind).unwrap()
    }

    /// Where an Alertmanager or Grafana integration takes deliveries, and its
    /// `Authorization` header.
    fn webhook(&self, kind: &str) -> (String, String) {
        let integration = self.integration(kind);
        let bearer = integration.secrets.bearer.clone().unwrap();
        (format!("/webhooks/{kind}/{}", integration.secrets.token), format!("Bearer {bearer}"))
    }

    async fn count(&self, sql: &str) -> i64 {
        sqlx::query_scalar(sql).bind(self.id).fetch_one(&self.db).await.unwrap()
    }

    async fn incident(&self, dedup_key: &str) -> (String, i32, String, Option<Uuid>) {
        sqlx::query_as(
            "select status, occurrences, analysis, previous_incident_id from incidents
             where team_id = $1 and dedup_key = $2 order by first_seen_at desc limit 1",
        )
        .bind(self.id)
        .bind(dedup_key)
        .fetch_one(&self.db)
        .await
        .unwrap()
    }
}

fn fixture(name: &str) -> String {
    std::fs::read_to_string(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(name)).unwrap()
}

fn sign(secret: &str, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(body);
    format!("v1={}", hex::encode(mac.finalize().into_bytes()))
}

async fn post(
    app: &TestApp,
    path: &str,
    headers: &[(&str, String)],
    body: impl Into<reqwest::Body>,
) -> reqwest::Response {
    let mut request = app.client.post(format!("{}{path}", app.address)).header("content-type", "application/json");
    for (name, value) in headers {
        request = request.header(*name, value);
    }
    request.body(body).send().await.unwrap()
}

fn pagerduty_event(id: &str, kind: &str, incident: &str) -> String {
    serde_json::json!({"event": {"id": id, "event_type": kind, "resource_type": "incident",
        "occurred_at": "2026-11-22T02:00:00Z", "agent": {"summary": "Ana"},
        "data": {"id": incident, "type": "incident", "title": "Checkout is down", "urgency": "high",
                 "status": "triggered", "service": {"summary": "checkout"},
                 "html_url": "https://acme.pagerduty.com/incidents/PX1"}}})
    .to_string()
}

#[tokio::test]
async fn pagerduty_webhooks_verify_the_published_vector_and_refuse_a_changed_byte() {
    let app = TestApp::spawn().await;
    let team = Team::create(&app, "pd").await;
    let vector: serde_json::Value = serde_json::from_str(&fixture("pagerduty_v3_signature_vector.json")).unwrap();
    let state = app.state();
    integrations::add_signing_secret(&state, team.id, vector["secret"].as_str().unwrap()).await.unwrap();
    let path = format!("/webhooks/pagerduty/{}", team.integration("pagerduty").secrets.token);
    let body = vector["body"].as_str().unwrap().to_string();

    let mut changed = body.clone().into_bytes();
    changed[20] ^= 1;
    let refused =
        post(&app, &path, &[("x-pagerduty-signature", vector["valid_header"].as_str().unwrap().into())], changed).await;
    assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);
    let mismatched = post(
        &app,
        &path,
        &[("x-pagerduty-signature", vector["mismatched_header"].as_str().unwrap().into())],
        body.clone(),
    )
    .await;
    assert_eq!(mismatched.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(team.count("select count(*) from alerts where team_id = $1").await, 0, "nothing stored");

    let accepted =
        post(&app, &path, &[("x-pagerduty-signature", vector["valid_header"].as_str().unwrap().into())], body).await;
    assert_eq!(accepted.status(), StatusCode::ACCEPTED);
    assert_eq!(team.count("select count(*) from alerts where team_id = $1 and parse_status = 'parsed'").await, 1);
    app.stop().await;
}

/// A stranger's signature header once cost one MAC of the body per `v1=` entry (8,000
/// empty entries on a 400 KB body: 2.15 s of CPU). Now a header over the bounds is
/// refused before any MAC, at either webhook.
#[tokio::test]
async fn signature_headers_over_the_bounds_are_refused_before_any_mac() {
    let logs = crate::support::captured_logs();
    let app = TestApp::spawn().await;
    let team = Team::create(&app, "bounded").await;
    let pagerduty = format!("/webhooks/pagerduty/{}", team.integration("pagerduty").secrets.token);
    let body = vec![b' '; 400 * 1024];
    let now = chrono::Utc::now().timestamp();
    let hostile = [
        ("8,000 empty entries", format!("t={now},{}", "v1=,".repeat(8_000))),
        ("100 KB", format!("t={now},v1={}", "a".repeat(100 * 1024))),
        ("17 signatures", format!("t={now},{}", vec![sign("s", b"{}"); 17].join(","))),
    ];
    for (what, header) in hostile {
        for (path, name) in [("/webhooks/stripe", "stripe-signature"), (pagerduty.as_str(), "x-pagerduty-signature")] {
            let started = Instant::now();
            let answer = post(&app, path, &[(name, header.clone())], body.clone()).await;
            let elapsed = started.elapsed();
            let status = answer.status();
            let message = answer.json::<serde_json::Value>().await.unwrap()["error"].as_str().unwrap_or("").to_string();
            println!("{what} at {name}: {status} in {elapsed:?} ({message})");
            assert!(status == StatusCode::BAD_REQUEST || status == StatusCode::UNAUTHORIZED, "{what} at {path}");
            assert!(message.starts_with("the signature header"), "{what} at {path}: {message}");
        }
    }
    // The webhook's token is its sender's credential: logged as the route's placeholder.
    let logged = logs.text();
    let token = &team.integration("pagerduty").secrets.token;
    assert!(logged.contains("/webhooks/pagerduty/{token}"), "the requests were logged");
    assert!(!logged.contains(token.as_str()), "the webhook token is in the logs");
    app.stop().await;
}
#[tokio::test]
async fn pagerduty_lifecycle_rotation_and_redelivery() {
    let app = TestApp::spawn().await;
    let team = Team::create(&app, "pd2").await;
    let state = app.state();
    integrations::add_signing_secret(&state, team.id, "old-secret").await.unwrap();
    let path = format!("/webhooks/pagerduty/{}", team.integration("pagerduty").secrets.token);
    let send = |id: &str, kind: &str, secret: &str| {
        let body = pagerduty_event(id, kind, "PX1");
        let signature = sign(secret, body.as_bytes());
        let (app, path, id) = (&app, path.clone(), id.to_string());
        async move { post(app, &path, &[("x-pagerduty-signature", signature), ("x-webhook-id", id)], body).await.status() }
    };

    assert_eq!(send("E1", "incident.triggered", "old-secret").await, StatusCode::ACCEPTED);
    assert_eq!(team.incident("pagerduty:PX1").await.0, "triggered");
    // Redelivery of the same webhook: one effect.
    assert_eq!(send("E1", "incident.triggered", "old-secret").await, StatusCode::ACCEPTED);
    assert_eq!(team.incident("pagerduty:PX1").await.1, 1, "no second occurrence");
    // A replay of the signed body under another (unsigned) X-Webhook-Id: no effect either.
    let body = pagerduty_event("E1", "incident.triggered", "PX1");
    let replayed = [("x-pagerduty-signature", sign("old-secret", body.as_bytes())), ("x-webhook-id", "other".into())];
    assert_eq!(post(&app, &path, &replayed, body).await.status(), StatusCode::ACCEPTED);
    assert_eq!(team.incident("pagerduty:PX1").await.1, 1, "a replay under a new id is the same delivery");

    // Rotation: both secrets verify while switching; then the old one is refused.
    integrations::add_signing_secret(&state, team.id, "new-secret").await.unwrap();
    assert_eq!(send("E2", "incident.acknowledged", "old-secret").await, StatusCode::ACCEPTED);
    assert_eq!(team.incident("pagerduty:PX1").await.0, "acknowledged");
    integrations::revoke_old_signing_secret(&state, team.id).await.unwrap();
    assert_eq!(send("E3", "incident.resolved", "old-secret").await, StatusCode::UNAUTHORIZED);
    assert_eq!(send("E4", "incident.resolved", "new-secret").await, StatusCode::ACCEPTED);
    assert_eq!(team.incident("pagerduty:PX1").await.0, "resolved");

    // Reopened: a new incident linked to the resolved one.
    assert_eq!(send("E5", "incident.reopened", "new-secret").await, StatusCode::ACCEPTED);
    let (status, _, _, previous) = team.incident("pagerduty:PX1").await;
    assert_eq!(status, "triggered");
    assert!(previous.is_some());
    let kinds: Vec<String> = sqlx::query_scalar("select kind from timeline_entries where team_id = $1 order by id")
        .bind(team.id)
        .fetch_all(&team.db)
        .await
        .unwrap();
    assert_eq!(kinds, ["alert.received", "status.acknowledged", "status.resolved", "alert.received"]);

    // Other events are notes, on the open incident with the key (not the resolved one).
    assert_eq!(send("E6", "incident.priority_updated", "new-secret").await, StatusCode::ACCEPTED);
    let noted = team
        .count(
            "select count(*) from timeline_entries t join incidents i on i.id = t.incident_id
             where t.team_id = $1 and t.kind = 'note' and i.status <> 'resolved'",
        )
        .await;
    assert_eq!(noted, 1);

    // Authentic but not understood: stored as unparsed, answered 2xx.
    let odd = r#"{"something":"else"}"#;
    let status =
        post(&app, &path, &[("x-pagerduty-signature", sign("new-secret", odd.as_bytes()))], odd).await.status();
    assert_eq!(status, StatusCode::ACCEPTED);
    assert_eq!(team.count("select count(*) from alerts where team_id = $1 and parse_status = 'unparsed'").await, 1);
    app.stop().await;
}

#[tokio::test]
async fn the_events_api_speaks_pagerdutys_protocol() {
    let app = TestApp::spawn().await;
    let team = Team::create(&app, "ev").await;
    let key = team.integration("events_api").secrets.token.clone();
    let trigger = serde_json::json!({"routing_key": key, "event_action": "trigger", "dedup_key": "disk-1",
        "payload": {"summary": "Disk 95% full on db-1", "source": "db-1", "severity": "error"}})
    .to_string();

    let response = post(&app, "/v2/enqueue", &[], trigger.clone()).await;
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body, serde_json::json!({"status": "success", "message": "Event processed", "dedup_key": "disk-1"}));
    post(&app, "/v2/enqueue", &[], trigger.clone()).await;
    assert_eq!(team.incident("disk-1").await.1, 2, "the same dedup key counts an occurrence");

    let ack = serde_json::json!({"routing_key": key, "event_action": "acknowledge", "dedup_key": "disk-1"}).to_string();
    assert_eq!(post(&app, "/v2/enqueue", &[], ack).await.status(), StatusCode::ACCEPTED);
    assert_eq!(team.incident("disk-1").await.0, "acknowledged");
    let resolve = serde_json::json!({"routing_key": key, "event_action": "resolve", "dedup_key": "disk-1"}).to_string();
    assert_eq!(post(&app, "/v2/enqueue", &[], resolve).await.status(), StatusCode::ACCEPTED);
    assert_eq!(team.incident("disk-1").await.0, "resolved");
    post(&app, "/v2/enqueue", &[], trigger).await;
    let (status, occurrences, _, previous) = team.incident("disk-1").await;
    assert_eq!((status.as_str(), occurrences), ("triggered", 1), "a trigger after resolution opens a new incident");
    assert!(previous.is_some(), "linked to the previous one");
    // Every member sees the alerts as received, but not the integration's routing key.
    let id: uuid::Uuid =
        sqlx::query_scalar("select id from incidents where team_id = $1 and dedup_key = 'disk-1' limit 1")
            .bind(team.id)
            .fetch_one(&team.db)
            .await
            .unwrap();
    let shown = team.owner.send(GetIncident { id }).await.text().await.unwrap();
    assert!(shown.contains("Disk 95% full") && shown.contains("routing_key"), "{shown}");
    assert!(!shown.contains(&key), "the routing key is shown to viewers");

    // A generated dedup key when none is given.
    let anonymous = serde_json::json!({"routing_key": key, "event_action": "trigger",
        "payload": {"summary": "x", "source": "y", "severity": "info"}})
    .to_string();
    let body: serde_json::Value = post(&app, "/v2/enqueue", &[], anonymous).await.json().await.unwrap();
    assert!(!body["dedup_key"].as_str().unwrap().is_empty());

    // Invalid events: PagerDuty's shape, the field named, and the event kept as unparsed.
    let invalid = serde_json::json!({"routing_key": key, "event_action": "trigger", "payload": {"source": "db-1", "severity": "error"}}).to_string();
    let response = post(&app, "/v2/enqueue", &[], invalid).await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["status"], "invalid event");
    assert_eq!(body["errors"][0], "'payload.summary' is missing or blank");
    assert_eq!(team.count("select count(*) from alerts where team_id = $1 and parse_status = 'unparsed'").await, 1);

    let before = team.count("select count(*) from alerts where team_id = $1").await;
    let unknown = serde_json::json!({"routing_key": "nope", "event_action": "resolve", "dedup_key": "x"}).to_string();
    let response = post(&app, "/v2/enqueue", &[], unknown).await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert_eq!(response.json::<serde_json::Value>().await.unwrap()["errors"][0], "Invalid routing key");
    assert_eq!(post(&app, "/v2/enqueue", &[], "{oops").await.status(), StatusCode::BAD_REQUEST);
    assert_eq!(
        team.count("select count(*) from alerts where team_id = $1").await,
        before,
        "nothing stored for strangers"
    );
    app.stop().await;
}

#[tokio::test]
async fn alertmanager_deliveries_open_and_resolve_by_fingerprint() {
    let app = TestApp::spawn().await;
    let team = Team::create(&app, "am").await;
    let (path, bearer) = team.webhook("alertmanager");
    let deliveries = fixture("alertmanager_0.25_v4_firing_then_resolved.jsonl");
    let mut lines = deliveries.lines();

    let wrong =
        post(&app, &path, &[("authorization", "Bearer nope".into())], lines.clone().next().unwrap().to_string()).await;
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(team.count("select count(*) from alerts where team_id = $1").await, 0);

    let firing = post(&app, &path, &[("authorization", bearer.clone())], lines.next().unwrap().to_string()).await;
    assert_eq!(firing.status(), StatusCode::OK);
    assert_eq!(team.incident("alertmanager:0df005333d9e37c9").await.0, "triggered");
    let resolved = post(&app, &path, &[("authorization", bearer.clone())], lines.next().unwrap().to_string()).await;
    assert_eq!(resolved.status(), StatusCode::OK);
    assert_eq!(team.incident("alertmanager:0df005333d9e37c9").await.0, "resolved");

    let odd = post(&app, &path, &[("authorization", bearer)], r#"{"version":"4","alerts":"many"}"#).await;
    assert_eq!(odd.status(), StatusCode::OK, "authentic but not understood: kept, answered 2xx");
    assert_eq!(team.count("select count(*) from alerts where team_id = $1 and parse_status = 'unparsed'").await, 1);
    app.stop().await;
}

#[tokio::test]
async fn the_rest_api_takes_team_keys_and_reports_the_quota() {
    let app = TestApp::spawn().await;
    let team = Team::create(&app, "rest").await;
    let key = team.owner.api_key("ci").await;
    let auth = format!("Bearer {}", &key);

    for n in 0..4 {
        let body = serde_json::json!({"title": format!("Job {n} failed"), "severity": "error", "service": "batch"})
            .to_string();
        let response = post(&app, "/api/v1/alerts", &[("authorization", auth.clone())], body).await;
        assert_eq!(response.status(), StatusCode::ACCEPTED);
        let body: serde_json::Value = response.json().await.unwrap();
        assert_eq!(body["quota_exceeded"], n >= 3, "alert {n}: {body}");
        assert!(body["incident_id"].is_string());
    }
    assert_eq!(team.count("select count(*) from incidents where team_id = $1 and analysis = 'over_quota'").await, 1);
    let note: i64 =
        team.count("select count(*) from timeline_entries where team_id = $1 and kind = 'quota.exceeded'").await;
    assert_eq!(note, 1, "the held incident says why");

    let missing = post(&app, "/api/v1/alerts", &[("authorization", auth.clone())], r#"{"severity":"error"}"#).await;
    assert_eq!(missing.status(), StatusCode::BAD_REQUEST);
    assert_eq!(missing.json::<serde_json::Value>().await.unwrap()["field"], "title");
    assert_eq!(post(&app, "/api/v1/alerts", &[], r#"{"title":"x"}"#).await.status(), StatusCode::UNAUTHORIZED);

    let huge = format!(r#"{{"title":"{}"}}"#, "x".repeat(600 * 1024));
    assert_eq!(
        post(&app, "/api/v1/alerts", &[("authorization", auth)], huge).await.status(),
        StatusCode::PAYLOAD_TOO_LARGE
    );
    app.stop().await;
}

#[tokio::test]
async fn under_any_concurrency_exactly_the_remaining_quota_is_granted() {
    // Three instances on one database, as when scaled out: each applies its share in
    // its own transactions, concurrently with the others'.
    let app = TestApp::spawn().await;
    let (second, third) = (app.another_instance().await, app.another_instance().await);
    let addresses = [app.address.clone(), second.address.clone(), third.address.clone()];
    let team = Team::create(&app, "race").await;
    let key = team.integration("events_api").secrets.token.clone();
    let sends = (0..200).map(|n| {
        let body = serde_json::json!({"routing_key": key, "event_action": "trigger", "dedup_key": format!("race-{n}"),
            "payload": {"summary": format!("alert {n}"), "source": "load", "severity": "warning"}})
        .to_string();
        let request = app.client.post(format!("{}/v2/enqueue", addresses[n % 3])).body(body).send();
        async move { request.await.map(|response| response.status()) }
    });
    let statuses = join_all(sends).await;
    assert!(statuses.iter().all(|status| matches!(status, Ok(s) if *s == StatusCode::ACCEPTED)), "{statuses:?}");
    assert_eq!(team.count("select count(*) from incidents where team_id = $1").await, 200, "none lost");
    assert_eq!(team.count("select count(*) from incidents where team_id = $1 and analysis = 'eligible'").await, 3);
    assert_eq!(team.count("select count(*) from incidents where team_id = $1 and analysis = 'over_quota'").await, 197);
    assert_eq!(team.count("select count(*) from alerts where team_id = $1").await, 200);
    second.stop().await;
    third.stop().await;
    app.stop().await;
}

#[tokio::test]
async fn copies_of_one_delivery_arriving_at_once_have_one_effect() {
    let app = TestApp::spawn().await;
    let second = app.another_instance().await;
    let team = Team::create(&app, "copies").await;
    let state = app.state();
    integrations::add_signing_secret(&state, team.id, "secret").await.unwrap();
    let path = format!("/webhooks/pagerduty/{}", team.integration("pagerduty").secrets.token);
    let body = pagerduty_event("E-copies", "incident.triggered", "PX9");
    let signature = sign("secret", body.as_bytes());
    let sends = (0..20).map(|n| {
        let address = if n % 2 == 0 { &app.address } else { &second.address };
        let request = app
            .client
            .post(format!("{address}{path}"))
            .header("x-pagerduty-signature", &signature)
            .header("x-webhook-id", "W-copies")
            .body(body.clone())
            .send();
        async move { request.await.map(|response| response.status()) }
    });
    let statuses = join_all(sends).await;
    assert!(statuses.iter().all(|status| matches!(status, Ok(s) if *s == StatusCode::ACCEPTED)), "{statuses:?}");
    assert_eq!(team.count("select count(*) from alerts where team_id = $1").await, 1);
    assert_eq!(team.count("select count(*) from incidents where team_id = $1").await, 1);
    assert_eq!(team.incident("pagerduty:PX9").await.1, 1, "no second occurrence");
    assert_eq!(team.count("select count(*) from timeline_entries where team_id = $1").await, 1);
    second.stop().await;
    app.stop().await;
}

/// The Alertmanager binary: on PATH, or where Debian's package puts it.
fn alertmanager_binary() -> Option<std::path::PathBuf> {
    ["prometheus-alertmanager", "alertmanager"]
        .iter()
        .flat_map(|name| {
            std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default())
                .map(move |dir| dir.join(name))
                .collect::<Vec<_>>()
        })
        .find(|path| path.is_file())
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

#[tokio::test]
async fn a_real_alertmanager_delivers_firing_then_resolved() {
    let binary =
        alertmanager_binary().expect("Alertmanager is installed (the test command installs prometheus-alertmanager)");
    let app = TestApp::spawn().await;
    let team = Team::create(&app, "realam").await;
    let integration = team.integration("alertmanager");
    let dir =
        std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("alertmanager-{}", Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    let config = format!(
        "route:\n  receiver: dreamops\n  group_by: ['alertname']\n  group_wait: 0s\n  group_interval: 1s\n  repeat_interval: 1h\n\
         receivers:\n  - name: dreamops\n    webhook_configs:\n      - url: '{}/webhooks/alertmanager/{}'\n        send_resolved: true\n\
         \x20       http_config:\n          authorization:\n            type: Bearer\n            credentials: '{}'\n",
        app.address,
        integration.secrets.token,
        integration.secrets.bearer.clone().unwrap()
    );
    std::fs::write(dir.join("alertmanager.yml"), config).unwrap();
    let port = free_port();
    let mut child = std::process::Command::new(binary)
        .arg(format!("--config.file={}", dir.join("alertmanager.yml").display()))
        .arg(format!("--storage.path={}", dir.display()))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .arg("--cluster.listen-address=")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("Alertmanager starts");
    let api = format!("http://127.0.0.1:{port}/api/v2/alerts");
    let alert = |ends_at: Option<String>| {
        let mut alert = serde_json::json!({"labels": {"alertname": "PodCrashLooping", "severity": "critical", "namespace": "shop"},
            "annotations": {"summary": "payment-service is crash-looping"}});
        if let Some(ends_at) = ends_at {
            alert["endsAt"] = serde_json::Value::String(ends_at);
        }
        serde_json::json!([alert])
    };
    let wait_for = |status: &'static str| {
        let team = &team;
        async move {
            let deadline = Instant::now() + Duration::from_secs(30);
            loop {
                let found: Option<String> = sqlx::query_scalar(
                    "select status from incidents where team_id = $1 and title = 'payment-service is crash-looping'",
                )
                .bind(team.id)
                .fetch_optional(&team.db)
                .await
                .unwrap();
                if found.as_deref() == Some(status) {
                    return;
                }
                assert!(Instant::now() < deadline, "no {status} incident within 30 s (have {found:?})");
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    };
    let client = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    while client.post(&api).json(&alert(None)).send().await.map(|r| !r.status().is_success()).unwrap_or(true) {
        assert!(Instant::now() < deadline, "Alertmanager's API did not come up");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    wait_for("triggered").await;
    let ended = (chrono::Utc::now() - chrono::Duration::seconds(1)).to_rfc3339();
    client.post(&api).json(&alert(Some(ended))).send().await.unwrap();
    wait_for("resolved").await;

    child.kill().ok();
    child.wait().ok();
    std::fs::remove_dir_all(&dir).ok();
    app.stop().await;
}

#[tokio::test]
async fn test_alerts_go_through_the_real_endpoints_and_rotation_retires_old_tokens() {
    let app = TestApp::spawn().await;
    let team = Team::create(&app, "admin").await;

    let test_alert = |kind: &str| team.owner.run(SendTestAlert { kind: kind.into() });
    let refused = test_alert("pagerduty").await;
    assert!(matches!(refused, Err(AppError::Conflict(_))), "PagerDuty needs its signing secret first: {refused:?}");
    team.owner.run(AddPagerdutySecret { secret: "from-pagerduty".into() }).await.expect("the secret is added");
    for kind in ["pagerduty", "events_api", "alertmanager", "grafana"] {
        test_alert(kind).await.unwrap_or_else(|error| panic!("{kind}: {error}"));
    }
    assert_eq!(team.count("select count(*) from incidents where team_id = $1").await, 4);
    for view in team.owner.run(ListIntegrations {}).await.unwrap() {
        assert_eq!(view.last_delivery_result.as_deref(), Some("parsed"), "{view:?}");
        assert_eq!(view.recent.len(), 1);
        assert!(view.path.contains("••") || view.kind == IntegrationKind::EventsApi, "{view:?}");
    }

    let old = team.integration("alertmanager").secrets.clone();
    let revealed = team.owner.run(RevealIntegration { kind: "alertmanager".into() }).await.unwrap();
    assert_eq!(revealed.bearer, old.bearer.clone());
    team.owner.run(RotateIntegration { kind: "alertmanager".into() }).await.expect("rotated");
    let path = format!("/webhooks/alertmanager/{}", old.token);
    let body = fixture("alertmanager_0.25_v4_firing_then_resolved.jsonl").lines().next().unwrap().to_string();
    let response = post(&app, &path, &[("authorization", format!("Bearer {}", old.bearer.unwrap()))], body).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "the old URL stopped working");
    let actions: Vec<String> = sqlx::query_scalar(
        "select action from audit_log where team_id = $1 and action like 'integration.%' order by id",
    )
    .bind(team.id)
    .fetch_all(&team.db)
    .await
    .unwrap();
    assert!(
        actions.contains(&"integration.secret_revealed".to_string())
            && actions.contains(&"integration.token_rotated".to_string())
    );
    app.stop().await;
}

#[tokio::test]
async fn unlimited_plans_analyse_everything_and_count_it() {
    let app = TestApp::spawn().await;
    let team = Team::create(&app, "big").await;
    sqlx::query("update teams set plan = 'enterprise' where id = $1").bind(team.id).execute(&team.db).await.unwrap();
    let key = team.integration("events_api").secrets.token.clone();
    for n in 0..5 {
        let body = serde_json::json!({"routing_key": key, "event_action": "trigger", "dedup_key": format!("u-{n}"),
            "payload": {"summary": "s", "source": "s", "severity": "info"}})
        .to_string();
        assert_eq!(post(&app, "/v2/enqueue", &[], body).await.status(), StatusCode::ACCEPTED);
    }
    assert_eq!(team.count("select count(*) from incidents where team_id = $1 and analysis = 'eligible'").await, 5);
    let usage = team.owner.run(GetUsage {}).await.unwrap();
    assert_eq!((usage.used, usage.limit, usage.plan.as_str()), (5, None, "Enterprise"));
    app.stop().await;
}

#[tokio::test]
async fn held_incidents_become_eligible_when_a_new_period_or_a_bigger_plan_allows() {
    let app = TestApp::spawn().await;
    let team = Team::create(&app, "held").await;
    let key = team.integration("events_api").secrets.token.clone();
    for n in 0..8 {
        let body = serde_json::json!({"routing_key": key, "event_action": "trigger", "dedup_key": format!("h-{n}"),
            "payload": {"summary": format!("alert {n}"), "source": "s", "severity": "info"}})
        .to_string();
        post(&app, "/v2/enqueue", &[], body).await;
    }
    assert_eq!(team.count("select count(*) from incidents where team_id = $1 and analysis = 'over_quota'").await, 5);

    // Nothing to release within the same period.
    assert_eq!(app::server::quota::release_all_held(&team.db).await.unwrap(), 0);

    // A new period: its 3 alerts go to the oldest held incidents.
    sqlx::query("update alert_usage set period_start = period_start - interval '1 month' where team_id = $1")
        .bind(team.id)
        .execute(&team.db)
        .await
        .unwrap();
    assert_eq!(app::server::quota::release_all_held(&team.db).await.unwrap(), 3);
    let released: Vec<String> = sqlx::query_scalar(
        "select title from incidents where team_id = $1 and analysis = 'eligible' order by first_seen_at",
    )
    .bind(team.id)
    .fetch_all(&team.db)
    .await
    .unwrap();
    assert_eq!(released, ["alert 0", "alert 1", "alert 2", "alert 3", "alert 4", "alert 5"]);

    // An upgrade to an unlimited plan frees the rest.
    sqlx::query("update teams set plan = 'enterprise' where id = $1").bind(team.id).execute(&team.db).await.unwrap();
    assert_eq!(app::server::quota::release_held(&team.db, team.id).await.unwrap(), 2);
    assert_eq!(team.count("select count(*) from incidents where team_id = $1 and analysis = 'over_quota'").await, 0);
    assert_eq!(
        team.count("select count(*) from timeline_entries where team_id = $1 and kind = 'quota.released'").await,
        5
    );
    app.stop().await;
}

/// An Alertmanager delivery whose alerts have these (fingerprint, status)s, in order.
fn alertmanager_group(alerts: &[(&str, &str)]) -> String {
    let alerts: Vec<_> = alerts
        .iter()
        .map(|(fingerprint, status)| {
            serde_json::json!({"status": status, "labels": {"alertname": format!("Alert{fingerprint}")},
                "annotations": {"summary": format!("alert {fingerprint}")}, "startsAt": "2026-11-22T02:00:00Z",
                "endsAt": "0001-01-01T00:00:00Z", "fingerprint": fingerprint})
        })
        .collect();
    serde_json::json!({"version": "4", "status": "firing", "receiver": "dreamops", "groupKey": "{}:{}",
        "alerts": alerts})
    .to_string()
}

#[tokio::test]
async fn the_alerts_of_one_delivery_apply_in_order_and_take_the_quota_in_order() {
    // One delivery is applied in one transaction: several alerts for one key and more
    // new incidents than the quota allows, all at once.
    let app = TestApp::spawn().await;
    let team = Team::create(&app, "group").await;
    let (path, bearer) = team.webhook("alertmanager");
    let body = alertmanager_group(&[
        ("a", "firing"),
        ("b", "firing"),
        ("a", "resolved"),
        ("a", "firing"),
        ("c", "firing"),
        ("d", "firing"),
        ("b", "firing"),
    ]);
    assert_eq!(post(&app, &path, &[("authorization", bearer)], body).await.status(), StatusCode::OK);

    let incidents: Vec<(String, String, i32, String, bool)> = sqlx::query_as(
        "select dedup_key, status, occurrences, analysis, previous_incident_id is not null from incidents
         where team_id = $1 order by first_seen_at, dedup_key, status desc",
    )
    .bind(team.id)
    .fetch_all(&team.db)
    .await
    .unwrap();
    let incidents: Vec<_> = incidents
        .iter()
        .map(|(key, status, n, analysis, linked)| {
            (key.trim_start_matches("alertmanager:"), status.as_str(), *n, analysis.as_str(), *linked)
        })
        .collect();
    assert_eq!(
        incidents,
        [
            ("a", "triggered", 1, "eligible", true),
            ("a", "resolved", 1, "eligible", false),
            ("b", "triggered", 2, "eligible", false),
            ("c", "triggered", 1, "over_quota", false),
            ("d", "triggered", 1, "over_quota", false),
        ],
        "the free plan's 3 alerts go to the first three new incidents, in the order sent"
    );
    let timeline: Vec<String> = sqlx::query_scalar(
        "select t.kind from timeline_entries t join incidents i on i.id = t.incident_id
         where t.team_id = $1 and i.dedup_key = 'alertmanager:a' order by t.id",
    )
    .bind(team.id)
    .fetch_all(&team.db)
    .await
    .unwrap();
    assert_eq!(timeline, ["alert.received", "status.resolved", "alert.received"]);
    assert_eq!(
        team.count("select count(*) from timeline_entries where team_id = $1 and kind = 'quota.exceeded'").await,
        2
    );
    assert_eq!(team.count("select count(*) from alerts where team_id = $1").await, 7, "every alert stored");
    app.stop().await;
}

#[tokio::test]
async fn a_rotated_token_stops_working_at_every_instance() {
    // Instances remember the integrations they have looked up; a change made at one
    // reaches the others through the database's notifications.
    let app = TestApp::spawn().await;
    let second = app.another_instance().await;
    let team = Team::create(&app, "rotate").await;
    let old = team.integration("events_api").secrets.token.clone();
    let event = |key: &str, n: usize| {
        serde_json::json!({"routing_key": key, "event_action": "trigger", "dedup_key": format!("r-{n}"),
            "payload": {"summary": "s", "source": "s", "severity": "info"}})
        .to_string()
    };
    let send = |address: String, body: String| {
        let request = app.client.post(format!("{address}/v2/enqueue")).body(body).send();
        async move { request.await.unwrap().status() }
    };
    // Both instances now know the routing key.
    assert_eq!(send(app.address.clone(), event(&old, 0)).await, StatusCode::ACCEPTED);
    assert_eq!(send(second.address.clone(), event(&old, 1)).await, StatusCode::ACCEPTED);

    team.owner.run(RotateIntegration { kind: "events_api".into() }).await.expect("rotated");
    assert_eq!(send(app.address.clone(), event(&old, 2)).await, StatusCode::BAD_REQUEST, "refused at once here");
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut n = 3;
    while send(second.address.clone(), event(&old, n)).await != StatusCode::BAD_REQUEST {
        assert!(Instant::now() < deadline, "the other instance still takes the old routing key");
        tokio::time::sleep(Duration::from_millis(20)).await;
        n += 1;
    }
    let revealed = team.owner.run(RevealIntegration { kind: "events_api".into() }).await.unwrap();
    let new = revealed.routing_key.expect("the Events API has a routing key");
    assert_eq!(send(second.address.clone(), event(&new, 100)).await, StatusCode::ACCEPTED);
    second.stop().await;
    app.stop().await;
}

/// Text PostgreSQL cannot store (`\u0000`) and fields too large for an index arrive in
/// real payloads now and then: the alert carrying them is stored without them, and the
/// other alerts of its delivery are stored as they came.
#[tokio::test]
async fn a_nul_character_or_an_oversized_field_spoils_nothing_else_in_its_delivery() {
    let app = TestApp::spawn().await;
    let team = Team::create(&app, "odd").await;
    let (path, bearer) = team.webhook("alertmanager");
    let alert = |fingerprint: &str, name: &str, summary: &str| {
        serde_json::json!({
            "status": "firing", "fingerprint": fingerprint, "startsAt": "2026-12-05T10:00:00Z",
            "labels": {"alertname": name, "severity": "critical", "namespace": "shop"},
            "annotations": {"summary": summary},
            "generatorURL": "http://prometheus/graph"
        })
    };
    let long = "x".repeat(20_000);
    let body = serde_json::json!({
        "version": "4", "status": "firing", "receiver": "dreamops", "groupKey": "{}:{}",
        "alerts": [
            alert("aaaa000000000001", "NulInName\u{0}", "a summary with \u{0} inside"),
            alert("aaaa000000000002", &long, &long),
            alert(&"f".repeat(5_000), "LongFingerprint", "a fingerprint of 5,000 characters"),
            alert("aaaa000000000004", "Plain", "an ordinary alert"),
        ]
    });
    let answer = post(&app, &path, &[("authorization", bearer)], body.to_string()).await;
    let status = answer.status();
    assert_eq!(status, StatusCode::OK, "{}", answer.text().await.unwrap());
    assert_eq!(
        team.count("select count(*) from incidents where team_id = $1").await,
        4,
        "every alert opened its incident"
    );
    let titles: Vec<String> = sqlx::query_scalar("select title from incidents where team_id = $1 order by title")
        .bind(team.id)
        .fetch_all(&team.db)
        .await
        .unwrap();
    assert!(titles.iter().all(|title| !title.contains('\u{0}')), "{titles:?}");
    assert!(titles.iter().any(|title| title == "an ordinary alert"), "{titles:?}");
    assert!(titles.contains(&"a summary with  inside".to_string()), "the NUL removed, the rest kept: {titles:?}");
    app.stop().await;
}

/// Grafana's signing secret is set on the integrations page; deliveries must then be
/// signed, with a timestamp within five minutes (a captured delivery cannot be replayed).
#[tokio::test]
async fn grafana_deliveries_are_signed_and_fresh_once_a_secret_is_set() {
    let app = TestApp::spawn().await;
    let team = Team::create(&app, "grafana").await;
    let (path, bearer) = team.webhook("grafana");
    let body = |fingerprint: &str| {
        serde_json::json!({"version": "1", "status": "firing", "receiver": "dreamops", "alerts": [{
            "status": "firing", "fingerprint": fingerprint, "startsAt": "2026-12-05T10:00:00Z",
            "labels": {"alertname": "HighLatency"}, "annotations": {"summary": "p99 over 2 s"}}]})
        .to_string()
    };
    let signed = |body: &str, at: i64, secret: &str| {
        let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
        mac.update(format!("{at}:{body}").as_bytes());
        vec![
            ("authorization", bearer.clone()),
            ("x-grafana-alerting-signature", hex::encode(mac.finalize().into_bytes())),
            ("x-grafana-alerting-signature-timestamp", at.to_string()),
        ]
    };
    let now = chrono::Utc::now().timestamp();
    let unsigned = vec![("authorization", bearer.clone())];
    assert_eq!(post(&app, &path, &unsigned, body("g1")).await.status(), StatusCode::OK, "no secret: not checked");

    let grafana_secret = |secret: &str| team.owner.run(SetGrafanaSecret { secret: secret.into() });
    grafana_secret("grafana-hmac-secret").await.expect("the secret is set");
    let integrations = team.owner.send(ListIntegrations {}).await.text().await.unwrap();
    assert!(!integrations.contains("grafana-hmac-secret"), "{integrations}");
    let grafana = team.owner.run(ListIntegrations {}).await.unwrap();
    assert!(grafana.iter().any(|view| view.kind == IntegrationKind::Grafana && view.signed));
    for (what, headers, status) in [
        ("unsigned", unsigned.clone(), StatusCode::UNAUTHORIZED),
        ("another secret", signed(&body("g2"), now, "not-the-secret"), StatusCode::UNAUTHORIZED),
        ("signed 10 minutes ago", signed(&body("g2"), now - 600, "grafana-hmac-secret"), StatusCode::UNAUTHORIZED),
        ("signed now", signed(&body("g2"), now, "grafana-hmac-secret"), StatusCode::OK),
    ] {
        assert_eq!(post(&app, &path, &headers, body("g2")).await.status(), status, "{what}");
    }
    let test = team.owner.run(SendTestAlert { kind: "grafana".into() }).await;
    assert!(test.is_ok(), "the test alert is signed: {test:?}");

    grafana_secret("").await.expect("the secret is removed");
    assert_eq!(post(&app, &path, &unsigned, body("g3")).await.status(), StatusCode::OK, "the check is off again");
    app.stop().await;
}

/// A team's flood is answered 429 with `Retry-After` once its plan's minute of burst is
/// spent (Free: 10 alerts a second, 600 at once), in each sender's format, while another
/// team's alerts keep being taken.
#[tokio::test]
async fn a_flooding_team_is_throttled_by_its_plan_and_others_are_not() {
    let app = TestApp::spawn_with(|settings| settings.ingest_rate_scale = 1.0).await;
    let flooding = Team::create(&app, "flood").await;
    let other = Team::create(&app, "calm").await;
    let events = |team: &Team, n: usize| {
        serde_json::json!({"routing_key": team.integration("events_api").secrets.token, "event_action": "trigger",
            "dedup_key": format!("k-{}", n % 50), "payload": {"summary": "flood", "source": "x", "severity": "info"}})
        .to_string()
    };
    let mut statuses = Vec::new();
    let mut refused = None;
    for chunk in 0..7 {
        let sent = join_all((0..100).map(|n| {
            let (client, url, body) =
                (app.client.clone(), format!("{}/v2/enqueue", app.address), events(&flooding, chunk * 100 + n));
            async move { client.post(url).body(body).send().await.unwrap() }
        }))
        .await;
        for response in sent {
            statuses.push(response.status());
            if response.status() == StatusCode::TOO_MANY_REQUESTS {
                refused = Some(response);
            }
        }
    }
    let accepted = statuses.iter().filter(|status| **status == StatusCode::ACCEPTED).count();
    let throttled = statuses.iter().filter(|status| **status == StatusCode::TOO_MANY_REQUESTS).count();
    // A minute's worth at once, then what refills while the flood goes on.
    assert!(
        accepted >= 600 && throttled >= 30 && accepted + throttled == 700,
        "{accepted} accepted, {throttled} throttled"
    );

    let refused = refused.unwrap();
    assert!(refused.headers()["retry-after"].to_str().unwrap().parse::<u64>().unwrap() >= 1);
    let body: serde_json::Value = refused.json().await.unwrap();
    assert_eq!(body["status"], "throttle event", "PagerDuty's shape: {body}");
    // A delivery of more alerts than the bucket refills in the meantime.
    let (path, bearer) = flooding.webhook("alertmanager");
    let alerts: Vec<serde_json::Value> = (0..700)
        .map(|n| {
            serde_json::json!({"status": "firing", "fingerprint": format!("f{n}"), "labels": {"alertname": "X"},
                               "startsAt": "2026-12-05T10:00:00Z"})
        })
        .collect();
    let batch = serde_json::json!({"version": "4", "status": "firing", "alerts": alerts});
    let alertmanager = post(&app, &path, &[("authorization", bearer)], batch.to_string()).await;
    assert_eq!(alertmanager.status(), StatusCode::TOO_MANY_REQUESTS, "Alertmanager retries a 429");
    assert!(alertmanager.headers().contains_key("retry-after"));

    let calm = post(&app, "/v2/enqueue", &[], events(&other, 1)).await;
    assert_eq!(calm.status(), StatusCode::ACCEPTED, "another team is not held back");
    app.stop().await;
}

/// Raw deliveries are kept as long as the plan says; then their bodies go and their
/// rows stay, and the incident page says so.
#[tokio::test]
async fn raw_deliveries_are_removed_after_their_plans_retention() {
    let app = TestApp::spawn().await;
    let free = Team::create(&app, "free").await;
    let pro = Team::create(&app, "pro").await;
    sqlx::query("update teams set plan = 'pro' where id = $1").bind(pro.id).execute(&pro.db).await.unwrap();
    for team in [&free, &pro] {
        let (path, bearer) = team.webhook("alertmanager");
        let body = alertmanager_group(&[("fff0000000000001", "firing"), ("fff0000000000002", "firing")]);
        let answer = post(&app, &path, &[("authorization", bearer)], body).await;
        assert_eq!(answer.status(), StatusCode::OK);
    }
    // Eight days on: past Free's seven, within Pro's ninety. One of Free's is recent.
    sqlx::query("update alerts set received_at = now() - interval '8 days' where team_id = any($1)")
        .bind(vec![free.id, pro.id])
        .execute(&free.db)
        .await
        .unwrap();
    let recent: Uuid = sqlx::query_scalar("select id from alerts where team_id = $1 limit 1")
        .bind(free.id)
        .fetch_one(&free.db)
        .await
        .unwrap();
    sqlx::query("update alerts set received_at = now() where id = $1").bind(recent).execute(&free.db).await.unwrap();

    let removed = app::server::ingest::retention::remove_expired(&free.db).await.unwrap();
    assert_eq!(removed, 1, "only Free's old body");
    let kept = "select count(*) from alerts where team_id = $1 and raw_removed_at is null and length(raw_body) > 0";
    assert_eq!(free.count(kept).await, 1, "Free's recent body stays");
    assert_eq!(pro.count(kept).await, 2, "Pro keeps ninety days");
    assert_eq!(free.count("select count(*) from alerts where team_id = $1").await, 2, "the rows stay");
    assert_eq!(app::server::ingest::retention::remove_expired(&free.db).await.unwrap(), 0, "a second pass finds none");

    let incident: String =
        sqlx::query_scalar("select incident_id::text from alerts where team_id = $1 and raw_removed_at is not null")
            .bind(free.id)
            .fetch_one(&free.db)
            .await
            .unwrap();
    let page = free.owner.run(GetIncident { id: incident.parse().unwrap() }).await.unwrap();
    let shown = &page.alerts[0];
    assert!(shown.removed, "{page:?}");
    assert_eq!(shown.raw, "");
    app.stop().await;
}
