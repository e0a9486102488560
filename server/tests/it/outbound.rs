//! PagerDuty write-back and Slack messages against loopback servers speaking their
//! documented formats: the REST API's headers (`Token token=`, the v2 Accept, `From`)
//! and bodies for acknowledge, note and resolve; Slack's incoming-webhook `text`;
//! a 5xx retried; calls that keep failing parked and shown on the incident, never
//! holding up the analysis or the fix.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::IntoResponse;
use serde_json::{Value, json};
use uuid::Uuid;

use app::api::integrations::{GetNotificationSettings, RevealIntegration, SetPagerdutyWriteback, SetSlackWebhook};
use app::api::remediation::SetAutomationPaused;
use app::domain::integration::NotificationSettings;
use app::error::AppError;

use crate::agent::{alert, analysis, send, unlimited};
use crate::demo_cluster::with_demo_cluster;
use crate::remediation::{approve, set_policy};
use crate::support::{TestApp, User};

/// Saves PagerDuty write-back as `from` with `key`.
async fn writeback(owner: &User, key: &str, from: &str) -> Result<NotificationSettings, AppError> {
    owner.run(SetPagerdutyWriteback { key: key.into(), from: from.into() }).await
}

/// Saves the team's Slack webhook.
async fn slack_webhook(owner: &User, url: &str) -> Result<NotificationSettings, AppError> {
    owner.run(SetSlackWebhook { url: url.into() }).await
}

/// A request a loopback server received.
#[derive(Clone, Debug)]
struct Received {
    method: String,
    path: String,
    headers: HeaderMap,
    body: Value,
}

/// A loopback server answering `failures` requests with 503, then 200; what it received.
async fn loopback(failures: usize) -> (String, Arc<Mutex<Vec<Received>>>) {
    let received: Arc<Mutex<Vec<Received>>> = Arc::default();
    let log = received.clone();
    let handler = move |method: Method, uri: Uri, headers: HeaderMap, body: String| {
        let log = log.clone();
        async move {
            let mut log = log.lock().unwrap();
            log.push(Received {
                method: method.to_string(),
                path: uri.path().to_string(),
                headers,
                body: serde_json::from_str(&body).unwrap_or(Value::Null),
            });
            if log.len() <= failures {
                (StatusCode::SERVICE_UNAVAILABLE, "try later").into_response()
            } else {
                (StatusCode::OK, axum::Json(json!({"incident": {"id": "PX1", "type": "incident"}}))).into_response()
            }
        }
    };
    let router = axum::Router::new().fallback(handler);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    (format!("http://{address}"), received)
}

async fn with_outbound(pagerduty: &str, max_attempts: i32) -> TestApp {
    let pagerduty = pagerduty.to_string();
    TestApp::spawn_with(move |settings| {
        settings.agent.workers = 2;
        settings.agent.remediation.verify = Duration::from_secs(2);
        settings.outbound.pagerduty_api = pagerduty;
        settings.outbound.max_attempts = max_attempts;
    })
    .await
}

/// Opens an incident from a PagerDuty webhook about PagerDuty incident `id`.
async fn from_pagerduty(app: &TestApp, owner: &User, team: Uuid, id: &str) -> Uuid {
    use hmac::{Hmac, Mac};
    let state = app.state();
    app::server::ingest::integrations::add_signing_secret(&state, team, "pd-secret").await.unwrap();
    let path = owner.run(RevealIntegration { kind: "pagerduty".into() }).await.expect("revealed").path;
    let body = json!({"event": {"id": Uuid::new_v4().to_string(), "event_type": "incident.triggered", "resource_type": "incident",
        "occurred_at": "2026-11-29T02:00:00Z", "agent": {"summary": "Ana"},
        "data": {"id": id, "type": "incident", "title": "memory-hog OOMKilled in demo", "urgency": "high",
                 "status": "triggered", "service": {"summary": "memory-hog"},
                 "html_url": format!("https://acme.pagerduty.com/incidents/{id}")}}})
    .to_string();
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(b"pd-secret").unwrap();
    mac.update(body.as_bytes());
    let signature = format!("v1={}", hex::encode(mac.finalize().into_bytes()));
    let answer = app
        .client
        .post(format!("{}{path}", app.address))
        .header("content-type", "application/json")
        .header("x-pagerduty-signature", signature)
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), StatusCode::ACCEPTED);
    sqlx::query_scalar("select id from incidents where team_id = $1 and dedup_key = $2")
        .bind(team)
        .bind(format!("pagerduty:{id}"))
        .fetch_one(&state.db)
        .await
        .unwrap()
}

/// What `received` holds once the server's jobs ran; at least `count` requests.
async fn until(user: &User, received: &Arc<Mutex<Vec<Received>>>, count: usize) -> Vec<Received> {
    user.run_pending_jobs().await;
    let received = received.lock().unwrap().clone();
    assert!(received.len() >= count, "expected {count} requests, got {received:?}");
    received
}

#[tokio::test]
async fn pagerduty_hears_acknowledge_note_and_resolve_and_slack_hears_each_step() {
    let (pagerduty, pd_received) = loopback(1).await;
    let (slack, slack_received) = loopback(0).await;
    let app = with_outbound(&pagerduty, 5).await;
    let (owner, cluster, team) = with_demo_cluster(&app, "outbound@notify.example").await;
    unlimited(&app, team).await;

    // Settings: validated, the key sealed and never shown again.
    let refused = writeback(&owner, "", "not an email").await;
    assert!(matches!(refused, Err(AppError::Validation(_))), "{refused:?}");
    let saved = owner
        .send(SetPagerdutyWriteback { key: "pd-rest-key-77".into(), from: "oncall@notify.example".into() })
        .await
        .text()
        .await
        .unwrap();
    assert!(saved.contains("oncall@notify.example") && !saved.contains("pd-rest-key-77"), "{saved}");
    let shown = owner.run(GetNotificationSettings {}).await.unwrap();
    assert_eq!(shown.pagerduty_from.as_deref(), Some("oncall@notify.example"));
    let refused = slack_webhook(&owner, "ftp://hooks.example").await;
    assert!(matches!(refused, Err(AppError::Validation(_))), "{refused:?}");
    let webhook = format!("{slack}/services/T0/B0/secret");
    slack_webhook(&owner, &webhook).await.expect("the webhook is saved");
    let stored: String = sqlx::query_scalar(
        "select encode(pagerduty_key, 'escape') || encode(slack_webhook, 'escape') from team_notifications",
    )
    .fetch_one(&app.state().db)
    .await
    .unwrap();
    assert!(!stored.contains("pd-rest-key-77") && !stored.contains("/services/T0"), "sealed at rest");
    set_policy(&owner, cluster, "approve", "low", "", false).await;

    // An alert from PagerDuty: acknowledged when the agent starts (after one 503), the
    // diagnosis added as a note.
    let incident = from_pagerduty(&app, &owner, team, "PX1").await;
    analysis(&owner, incident).await;
    let calls = until(&owner, &pd_received, 3).await;
    let first = &calls[0];
    assert_eq!((first.method.as_str(), first.path.as_str()), ("PUT", "/incidents/PX1"), "answered 503, tried again");
    let ack = calls[1..].iter().find(|c| c.method == "PUT").expect("the acknowledgement again");
    let note = calls[1..].iter().find(|c| c.method == "POST").expect("the note");
    assert_eq!(ack.path, "/incidents/PX1");
    assert_eq!(ack.body, json!({"incident": {"type": "incident_reference", "status": "acknowledged"}}));
    assert_eq!(ack.headers["authorization"], "Token token=pd-rest-key-77");
    assert_eq!(ack.headers["accept"], "application/vnd.pagerduty+json;version=2");
    assert_eq!(ack.headers["from"], "oncall@notify.example");
    assert_eq!((note.method.as_str(), note.path.as_str()), ("POST", "/incidents/PX1/notes"));
    assert!(note.body["note"]["content"].as_str().unwrap().starts_with("DreamOps diagnosis: "), "{:?}", note.body);

    // Slack: the new incident, then the action awaiting approval with a link.
    let messages = until(&owner, &slack_received, 2).await;
    assert_eq!(messages[0].path, "/services/T0/B0/secret");
    let texts: Vec<&str> = messages.iter().map(|m| m.body["text"].as_str().unwrap()).collect();
    assert!(texts[0].contains("New") && texts[0].contains("memory-hog OOMKilled in demo"), "{texts:?}");
    assert!(texts[1].starts_with(":hand: Awaiting approval"), "{texts:?}");
    assert!(texts[1].contains(&format!("/incidents/{incident}|")), "{texts:?}");

    // An approved fix verified: resolved in PagerDuty and announced in Slack.
    approve(&owner, incident, 0, "").await.expect("approved");
    let calls = until(&owner, &pd_received, 4).await;
    assert_eq!(calls[3].body, json!({"incident": {"type": "incident_reference", "status": "resolved"}}));
    let messages = until(&owner, &slack_received, 3).await;
    assert!(messages[2].body["text"].as_str().unwrap().starts_with(":white_check_mark: Resolved"), "{:?}", messages[2]);
    app.stop().await;
}

#[tokio::test]
async fn calls_that_keep_failing_are_parked_and_shown_without_holding_up_the_analysis() {
    let (pagerduty, pd_received) = loopback(usize::MAX).await;
    let app = with_outbound(&pagerduty, 2).await;
    let (owner, _, team) = with_demo_cluster(&app, "failing@notify.example").await;
    unlimited(&app, team).await;
    writeback(&owner, "pd-key", "oncall@notify.example").await.expect("write-back is saved");
    let incident = from_pagerduty(&app, &owner, team, "PX9").await;
    // The analysis is stored whatever PagerDuty does.
    analysis(&owner, incident).await;
    until(&owner, &pd_received, 4).await;
    let failures = owner.run(GetNotificationSettings {}).await.unwrap().recent_failures;
    assert_eq!(failures.len(), 2, "acknowledge and note, each after 2 attempts: {failures:?}");
    // The status, never the remote's body ("try later").
    assert!(failures.iter().all(|f| f.error == "PagerDuty's API answered HTTP 503"), "{failures:?}");
    let steps: Vec<String> = sqlx::query_scalar(
        "select message from timeline_entries where incident_id = $1 and kind = 'outbound.failed' order by id",
    )
    .bind(incident)
    .fetch_all(&app.state().db)
    .await
    .unwrap();
    assert!(
        steps
            .iter()
            .any(|s| s
                == "PagerDuty write-back (acknowledge) failed after 2 attempts: PagerDuty's API answered HTTP 503"),
        "{steps:?}"
    );
    // Nothing else about other teams: a team without settings makes no call.
    let quiet = alert("KubeContainerOOMKilled", json!({"namespace": "demo", "deployment": "memory-hog"}), "oom");
    let before = pd_received.lock().unwrap().len();
    let (other_owner, _, other_team) = with_demo_cluster(&app, "quiet@notify.example").await;
    unlimited(&app, other_team).await;
    let other = send(&app, other_team, &quiet).await;
    analysis(&other_owner, other).await;
    assert_eq!(pd_received.lock().unwrap().len(), before);
    let parked = app.stop_with_parked_jobs().await;
    assert_eq!(parked.len(), 2, "the acknowledgement and the note: {parked:?}");
    assert!(parked.iter().all(|p| p.ends_with("PagerDuty's API answered HTTP 503")), "{parked:?}");
}

#[tokio::test]
async fn in_autonomous_mode_slack_hears_of_an_approval_only_when_the_agent_does_not_act() {
    let (slack, slack_received) = loopback(0).await;
    let app = with_outbound("http://127.0.0.1:9", 2).await;
    let (owner, cluster, team) = with_demo_cluster(&app, "autonomous@notify.example").await;
    unlimited(&app, team).await;
    slack_webhook(&owner, &format!("{slack}/services/T0/B0/secret")).await.expect("the webhook is saved");
    set_policy(&owner, cluster, "autonomous", "low", "", false).await;
    let oom =
        |name: &str| alert(name, json!({"namespace": "demo", "deployment": "memory-hog"}), "memory-hog OOMKilled");
    let texts = |from: usize| -> Vec<String> {
        slack_received.lock().unwrap()[from..].iter().map(|m| m.body["text"].as_str().unwrap().to_string()).collect()
    };

    // The kill switch is on: the agent does not act, so the fix waits for an approval.
    owner.run(SetAutomationPaused { paused: true }).await.expect("the kill switch is on");
    let incident = send(&app, team, &oom("KubeContainerOOMKilled")).await;
    analysis(&owner, incident).await;
    let messages = until(&owner, &slack_received, 2).await;
    assert!(messages[1].body["text"].as_str().unwrap().starts_with(":hand: Awaiting approval"), "{:?}", texts(0));

    // Switched back on: the agent carries the fix out itself; Slack hears it resolved,
    // and of no approval.
    owner.run(SetAutomationPaused { paused: false }).await.expect("the kill switch is off");
    let before = slack_received.lock().unwrap().len();
    let incident = send(&app, team, &oom("KubePodCrashLooping")).await;
    analysis(&owner, incident).await;
    until(&owner, &slack_received, before + 2).await;
    let heard = texts(before);
    assert!(heard.iter().any(|t| t.starts_with(":white_check_mark: Resolved")), "{heard:?}");
    assert!(!heard.iter().any(|t| t.starts_with(":hand:")), "{heard:?}");
    app.stop().await;
}

/// Only an incident PagerDuty's signed webhook opened names a PagerDuty incident: an
/// alert sent with an API key cannot make the agent acknowledge, annotate or resolve an
/// incident in PagerDuty by naming it in its details.
#[tokio::test]
async fn alerts_from_other_senders_cannot_steer_pagerduty_write_back() {
    let (pagerduty, pd_received) = loopback(0).await;
    let (slack, slack_received) = loopback(0).await;
    let app = with_outbound(&pagerduty, 5).await;
    let (owner, _cluster, team) = with_demo_cluster(&app, "steer@notify.example").await;
    unlimited(&app, team).await;
    writeback(&owner, "pd-rest-key-77", "oncall@notify.example").await.expect("write-back is saved");
    slack_webhook(&owner, &format!("{slack}/services/T0/B0/secret")).await.expect("the webhook is saved");
    let key = owner.api_key("ci").await;
    let steering = json!({"title": "memory-hog OOMKilled in demo", "severity": "critical", "service": "memory-hog",
                          "details": {"pagerduty_incident": "PSTEER"}});
    let sent = app.send_rest_alert(&key, &steering).await;
    assert!(sent.status().is_success(), "{}", sent.text().await.unwrap());
    let incident: Uuid = sqlx::query_scalar("select id from incidents where team_id = $1")
        .bind(team)
        .fetch_one(&app.state().db)
        .await
        .unwrap();
    analysis(&owner, incident).await;
    until(&owner, &slack_received, 1).await;
    assert!(pd_received.lock().unwrap().is_empty(), "PagerDuty was called: {:?}", pd_received.lock().unwrap());
    app.stop().await;
}

/// A loopback Slack that takes `delay` to answer; what it received, and the most
/// requests it had in hand at once.
async fn slow_slack(delay: Duration) -> (String, Arc<Mutex<Vec<String>>>, Arc<Mutex<(usize, usize)>>) {
    let received: Arc<Mutex<Vec<String>>> = Arc::default();
    let in_hand: Arc<Mutex<(usize, usize)>> = Arc::default();
    let (log, counts) = (received.clone(), in_hand.clone());
    let handler = move |body: String| {
        let (log, counts) = (log.clone(), counts.clone());
        async move {
            let text = serde_json::from_str::<Value>(&body).unwrap()["text"].as_str().unwrap_or("").to_string();
            log.lock().unwrap().push(text);
            {
                let mut counts = counts.lock().unwrap();
                counts.0 += 1;
                counts.1 = counts.1.max(counts.0);
            }
            tokio::time::sleep(delay).await;
            counts.lock().unwrap().0 -= 1;
            "ok"
        }
    };
    let router = axum::Router::new().fallback(handler);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    (format!("http://{address}/services/T0/B0/secret"), received, in_hand)
}

/// Queues a Slack message for `team` (about `incident`, if any) and announces it, as the
/// agent does.
async fn queue_slack(db: &sqlx::PgPool, team: Uuid, incident: Option<Uuid>, text: &str) {
    sqlx::query(
        "insert into outbound_calls (team_id, incident_id, target, purpose, method, path, body)
         values ($1, $2, 'slack', 'new_incident', 'POST', '', $3)",
    )
    .bind(team)
    .bind(incident)
    .bind(json!({ "text": text }))
    .execute(db)
    .await
    .unwrap();
    let queue = <app::server::outbound::deliver::Calls as app::server::jobs::Kind>::QUEUE;
    app::server::jobs::announce(db, &queue).await.unwrap();
}

/// One team's slow Slack webhook holds a couple of the deliverer's workers, not all of
/// them; an incident's messages still go in the order they were made.
#[tokio::test]
async fn a_slow_destination_does_not_hold_up_other_teams_calls() {
    let app = TestApp::spawn().await;
    let db = app.db().await;
    let mut teams = Vec::new();
    for name in ["slow", "quick"] {
        let owner = app.user();
        owner.sign_up(&format!("owner@{name}.example"), name).await;
        let team = owner.team().await;
        teams.push((owner, team));
    }
    let [(slow_owner, slow), (quick_owner, quick)] = &teams[..] else { unreachable!() };
    // The quick team's incident, opened before any webhook is set (so nothing is queued yet).
    let key = quick_owner.api_key("ci").await;
    let answer: Value = app.send_rest_alert(&key, &json!({"title": "Checkout is down"})).await.json().await.unwrap();
    let incident: Uuid = answer["incident_id"].as_str().unwrap().parse().unwrap();
    let (slow_webhook, slow_received, slow_in_hand) = slow_slack(Duration::from_secs(3)).await;
    let (quick_webhook, quick_received, _) = slow_slack(Duration::ZERO).await;
    for (owner, webhook) in [(slow_owner, &slow_webhook), (quick_owner, &quick_webhook)] {
        slack_webhook(owner, webhook).await.expect("the webhook is saved");
    }
    for n in 0..6 {
        queue_slack(&db, *slow, None, &format!("slow {n}")).await;
    }
    for step in ["first", "second", "third"] {
        queue_slack(&db, *quick, Some(incident), step).await;
    }

    for _ in 0..100 {
        if quick_received.lock().unwrap().len() == 3 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(*quick_received.lock().unwrap(), ["first", "second", "third"], "in the order they were made");
    let slow_so_far = slow_received.lock().unwrap().len();
    assert!(
        slow_so_far <= app::server::outbound::deliver::PER_DESTINATION as usize,
        "the quick team's messages went while the slow webhook held its first calls ({slow_so_far} sent to it)"
    );
    for _ in 0..300 {
        if slow_received.lock().unwrap().len() == 6 && slow_in_hand.lock().unwrap().0 == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(slow_received.lock().unwrap().len(), 6, "the slow team's messages all went in the end");
    let most = slow_in_hand.lock().unwrap().1;
    assert_eq!(most, app::server::outbound::deliver::PER_DESTINATION as usize, "at most this many at once");
    app.stop().await;
}
