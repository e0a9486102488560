//! Outgoing webhooks end to end: events queued with what they report, delivered to a
//! receiver (a separate Python process) that checks each signature with nothing but
//! the documented algorithm, both secrets during a rotation, an endpoint that is down
//! tried again with its answers kept, replays, another team's endpoints out of reach,
//! and internal addresses refused.

use std::time::Duration;

use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt as _, BufReader, Lines};
use tokio::process::{Child, ChildStdout};

use crate::support::TestApp;
use app::domain::account::ApiScope;

/// The receiver: its process, and what it printed.
struct Receiver {
    port: u16,
    _process: Child,
    lines: Lines<BufReader<ChildStdout>>,
}

impl Receiver {
    async fn start_on(port: u16, secrets: &[&str]) -> Receiver {
        let mut process = tokio::process::Command::new("python3")
            .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/webhook_receiver.py"))
            .arg(port.to_string())
            .env("WEBHOOK_SECRETS", secrets.join(","))
            .stdout(std::process::Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("python3 runs the receiver");
        let lines = BufReader::new(process.stdout.take().unwrap()).lines();
        for _ in 0..100 {
            if tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_ok() {
                return Receiver { port, _process: process, lines };
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("the webhook receiver did not start");
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// The next request it saw.
    async fn next(&mut self) -> Value {
        let line = tokio::time::timeout(Duration::from_secs(10), self.lines.next_line())
            .await
            .expect("a delivery arrives")
            .unwrap()
            .expect("the receiver is running");
        serde_json::from_str(&line).unwrap()
    }
}

async fn api(app: &TestApp, key: &str, method: reqwest::Method, path: &str, body: Option<Value>) -> (u16, Value) {
    let mut request = app.client.request(method, format!("{}{path}", app.address)).bearer_auth(key);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn deliveries_are_signed_as_documented_retried_kept_and_replayable() {
    let app = TestApp::spawn().await;
    let owner = app.user();
    owner.sign_up("hooks@webhooks.example", "Hooks").await;
    let admin = owner.api_key_with("hooks admin", &[ApiScope::Admin, ApiScope::Respond]).await;
    let sender = owner.api_key("sender").await;
    use reqwest::Method;

    // The receiver is given the secret only after the endpoint exists.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let url = format!("http://127.0.0.1:{port}/hook");
    let (status, created) = api(
        &app,
        &admin,
        Method::POST,
        "/api/v1/webhooks",
        Some(json!({"url": url, "events": ["incident.opened", "incident.updated", "incident.resolved"]})),
    )
    .await;
    assert_eq!(status, 201, "{created}");
    let secret = created["secret"].as_str().unwrap().to_string();
    assert!(secret.starts_with("whsec_"));
    let endpoint = created["endpoint"]["id"].as_str().unwrap().to_string();
    let mut receiver = Receiver::start_on(port, &[&secret]).await;

    // An alert opens an incident (queued in ingestion's own statement); a responder's
    // changes follow; each arrives signed, in order.
    let sent = app.send_rest_alert(&sender, &json!({"title": "payments 5xx", "service": "payments"})).await;
    let incident = sent.json::<Value>().await.unwrap()["incident_id"].as_str().unwrap().to_string();
    app.run_pending_jobs().await;
    let opened = receiver.next().await;
    assert_eq!(
        (opened["verified"].as_bool(), opened["type"].as_str()),
        (Some(true), Some("incident.opened")),
        "{opened}"
    );
    assert_eq!(opened["header_event"], "incident.opened");
    api(&app, &admin, Method::POST, &format!("/api/v1/incidents/{incident}/acknowledge"), None).await;
    api(
        &app,
        &admin,
        Method::POST,
        &format!("/api/v1/incidents/{incident}/resolve"),
        Some(json!({"note": "rolled back"})),
    )
    .await;
    app.run_pending_jobs().await;
    let updated = receiver.next().await;
    let resolved = receiver.next().await;
    assert_eq!((updated["type"].as_str(), updated["verified"].as_bool()), (Some("incident.updated"), Some(true)));
    assert_eq!((resolved["type"].as_str(), resolved["verified"].as_bool()), (Some("incident.resolved"), Some(true)));

    // Kept with the answer; the payload names the incident and what changed.
    let (_, deliveries) =
        api(&app, &admin, Method::GET, &format!("/api/v1/webhooks/{endpoint}/deliveries"), None).await;
    let deliveries = deliveries.as_array().unwrap().clone();
    assert_eq!(deliveries.len(), 3);
    assert!(
        deliveries
            .iter()
            .all(|d| d["state"] == "delivered" && d["response_status"] == 200 && d["response_body"] == "thanks")
    );
    let newest: Value = serde_json::from_str(deliveries[0]["body"].as_str().unwrap()).unwrap();
    assert_eq!(newest["data"]["incident"]["id"], incident);
    assert_eq!(newest["data"]["incident"]["status"], "resolved");
    assert_eq!(newest["data"]["change"]["message"], "Resolved by API key hooks admin: rolled back");

    // Rotation: the receiver still knows only the old secret, and deliveries still
    // verify, carrying both signatures for a day.
    let (status, rotated) =
        api(&app, &admin, Method::POST, &format!("/api/v1/webhooks/{endpoint}/rotate-secret"), None).await;
    assert_eq!(status, 200);
    assert_ne!(rotated["secret"], secret.as_str());
    assert!(rotated["endpoint"]["previous_secret_until"].is_string());
    api(&app, &admin, Method::POST, &format!("/api/v1/incidents/{incident}/reopen"), None).await;
    app.run_pending_jobs().await;
    let after_rotation = receiver.next().await;
    assert_eq!((after_rotation["verified"].as_bool(), after_rotation["signatures"].as_u64()), (Some(true), Some(2)));

    // Replay: the same event again, under its own id.
    let first_id = deliveries[2]["id"].as_i64().unwrap();
    let (status, replayed) =
        api(&app, &admin, Method::POST, &format!("/api/v1/webhook-deliveries/{first_id}/replay"), None).await;
    assert_eq!(status, 201, "{replayed}");
    app.run_pending_jobs().await;
    let again = receiver.next().await;
    assert_eq!((again["id"].clone(), again["verified"].as_bool()), (opened["id"].clone(), Some(true)));

    // An endpoint that is down: its answer kept, tried again later, not lost.
    let (_, down) = api(
        &app,
        &admin,
        Method::POST,
        "/api/v1/webhooks",
        Some(json!({"url": receiver.url("/down"), "events": ["incident.updated"]})),
    )
    .await;
    let down_id = down["endpoint"]["id"].as_str().unwrap().to_string();
    api(
        &app,
        &admin,
        Method::POST,
        &format!("/api/v1/incidents/{incident}/notes"),
        Some(json!({"text": "still on it"})),
    )
    .await;
    // The first attempts run now (to both endpoints); the next to /down is due after a back-off.
    while server::runtime::run_due_job(&app.state(), "test").await {}
    let paths = [receiver.next().await["path"].clone(), receiver.next().await["path"].clone()];
    assert!(paths.contains(&json!("/down")) && paths.contains(&json!("/hook")), "{paths:?}");
    let (_, down_deliveries) =
        api(&app, &admin, Method::GET, &format!("/api/v1/webhooks/{down_id}/deliveries"), None).await;
    let failing = &down_deliveries[0];
    assert_eq!(
        (failing["state"].as_str(), failing["response_status"].as_i64()),
        (Some("queued"), Some(503)),
        "{failing}"
    );
    assert_eq!(failing["response_body"], "down for maintenance");
    assert!(failing["last_error"].as_str().unwrap().contains("503"));
    assert!(failing["next_attempt_at"].is_string());

    // Removing the endpoint takes its queued deliveries with it.
    let (status, _) = api(&app, &admin, Method::DELETE, &format!("/api/v1/webhooks/{down_id}"), None).await;
    assert_eq!(status, 204);
    app.stop().await;
}

#[tokio::test]
async fn endpoints_are_the_teams_own_and_internal_addresses_are_refused() {
    let app = TestApp::spawn_with(|settings| {
        settings.outbound.allow_private = false;
        settings.outbound.allow_http = false;
    })
    .await;
    let a = app.user();
    a.sign_up("a@webhooks.example", "A").await;
    let a_key = a.api_key_with("a", &[ApiScope::Admin]).await;
    let b = app.user();
    b.sign_up("b@webhooks.example", "B").await;
    let b_key = b.api_key_with("b", &[ApiScope::Admin, ApiScope::Read]).await;
    use reqwest::Method;
    for url in [
        "https://127.0.0.1/hook",
        "https://169.254.169.254/latest",
        "https://10.0.0.8/x",
        "http://hooks.example/x",
        "ftp://x",
    ] {
        let (status, problem) = api(
            &app,
            &a_key,
            Method::POST,
            "/api/v1/webhooks",
            Some(json!({"url": url, "events": ["incident.opened"]})),
        )
        .await;
        assert_eq!(status, 422, "{url}: {problem}");
        assert_eq!(problem["errors"][0]["field"], "url");
    }
    let (status, _) = api(
        &app,
        &a_key,
        Method::POST,
        "/api/v1/webhooks",
        Some(json!({"url": "https://hooks.example/x", "events": []})),
    )
    .await;
    assert_eq!(status, 422);
    let (status, created) = api(
        &app,
        &a_key,
        Method::POST,
        "/api/v1/webhooks",
        Some(json!({"url": "https://hooks.example/dreamops", "events": ["incident.opened"]})),
    )
    .await;
    assert_eq!(status, 201);
    let endpoint = created["endpoint"]["id"].as_str().unwrap();
    // Team B cannot see, rotate, read or remove it; a read key cannot manage webhooks.
    for (method, path) in [
        (Method::POST, format!("/api/v1/webhooks/{endpoint}/rotate-secret")),
        (Method::GET, format!("/api/v1/webhooks/{endpoint}/deliveries")),
        (Method::DELETE, format!("/api/v1/webhooks/{endpoint}")),
    ] {
        assert_eq!(api(&app, &b_key, method.clone(), &path, None).await.0, 404, "{method} {path}");
    }
    assert_eq!(api(&app, &b_key, Method::GET, "/api/v1/webhooks", None).await.1, json!([]));
    let read_only = a.api_key_with("reader", &[ApiScope::Read]).await;
    assert_eq!(api(&app, &read_only, Method::GET, "/api/v1/webhooks", None).await.0, 403);
    // The secret is sealed at rest.
    let stored: Vec<u8> =
        sqlx::query_scalar("select secret from webhook_endpoints").fetch_one(&app.state().db).await.unwrap();
    assert!(!String::from_utf8_lossy(&stored).contains(created["secret"].as_str().unwrap()));
    // An answer kept for its Idempotency-Key shows the secret again to a retry, and is
    // sealed too.
    let rotate = || {
        app.client
            .post(format!("{}/api/v1/webhooks/{endpoint}/rotate-secret", app.address))
            .bearer_auth(&a_key)
            .header("idempotency-key", "rotate-once")
            .send()
    };
    let first: Value = rotate().await.unwrap().json().await.unwrap();
    let retried: Value = rotate().await.unwrap().json().await.unwrap();
    assert_eq!(first["secret"], retried["secret"], "one rotation, the same answer");
    let kept: Vec<u8> =
        sqlx::query_scalar("select body from api_idempotency").fetch_one(&app.state().db).await.unwrap();
    assert!(!String::from_utf8_lossy(&kept).contains(first["secret"].as_str().unwrap()));
    app.stop().await;
}
