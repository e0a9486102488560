//! The public REST API (`/api/v1`) as its clients meet it: keys held to their scopes,
//! another team's ids answered 404, a whole incident's life (with a remediation approved
//! by a key), problem details, ETags, `Idempotency-Key`, the request limits — and two
//! clients no one here wrote against: Schemathesis, generating valid and invalid
//! requests for every operation from the OpenAPI document, and a Python client built
//! from that document alone.

use std::time::Duration;

use reqwest::{Method, Response, StatusCode};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::agent::{send, unlimited};
use crate::demo_cluster::with_demo_cluster;
use crate::remediation::{oom, set_policy, settled, with_remediation};
use crate::support::TestApp;
use app::domain::account::ApiScope;

/// A client of the API with one key.
struct Client {
    http: reqwest::Client,
    base: String,
    key: String,
}

impl Client {
    fn new(app: &TestApp, key: &str) -> Self {
        Client { http: reqwest::Client::new(), base: app.address.clone(), key: key.to_string() }
    }

    async fn send(&self, method: Method, path: &str, body: Option<&Value>) -> Response {
        let mut request = self.http.request(method, format!("{}{path}", self.base)).bearer_auth(&self.key);
        if let Some(body) = body {
            request = request.json(body);
        }
        request.send().await.expect("the API answers")
    }

    async fn get(&self, path: &str) -> Response {
        self.send(Method::GET, path, None).await
    }

    async fn post(&self, path: &str, body: Option<&Value>) -> Response {
        self.send(Method::POST, path, body).await
    }

    /// `method path` answered `status`; its JSON.
    async fn expect(&self, method: Method, path: &str, body: Option<&Value>, status: u16) -> Value {
        let response = self.send(method.clone(), path, body).await;
        let got = response.status();
        let text = response.text().await.unwrap();
        assert_eq!(got.as_u16(), status, "{method} {path}: {text}");
        serde_json::from_str(&text).unwrap_or(Value::Null)
    }
}

/// Every operation with ids of the given incident, action and cluster, and what it needs:
/// `None` for reading (any scope but `alerts`), else the one scope.
fn operations(incident: Uuid, action: Uuid, cluster: Uuid) -> Vec<(Method, String, Option<Value>, Option<ApiScope>)> {
    let i = format!("/api/v1/incidents/{incident}");
    vec![
        (Method::GET, "/api/v1/incidents".into(), None, None),
        (Method::GET, i.clone(), None, None),
        (Method::GET, format!("{i}/timeline"), None, None),
        (Method::GET, format!("{i}/related"), None, None),
        (Method::GET, format!("{i}/alerts"), None, None),
        (Method::GET, format!("{i}/analysis"), None, None),
        (Method::GET, format!("{i}/actions"), None, None),
        (Method::GET, format!("{i}/actions/{action}"), None, None),
        (Method::GET, "/api/v1/dashboard".into(), None, None),
        (Method::GET, "/api/v1/usage".into(), None, None),
        (Method::GET, "/api/v1/clusters".into(), None, None),
        (Method::GET, format!("/api/v1/clusters/{cluster}/overview"), None, None),
        (Method::POST, format!("/api/v1/clusters/{cluster}/test"), None, None),
        (Method::PATCH, i.clone(), Some(json!({"severity": "critical"})), Some(ApiScope::Respond)),
        (Method::POST, format!("{i}/acknowledge"), None, Some(ApiScope::Respond)),
        (Method::POST, format!("{i}/notes"), Some(json!({"text": "looking"})), Some(ApiScope::Respond)),
        (Method::POST, format!("{i}/resolve"), Some(json!({"note": "done"})), Some(ApiScope::Respond)),
        (Method::POST, format!("{i}/reopen"), None, Some(ApiScope::Respond)),
        (Method::POST, format!("{i}/analysis/feedback"), Some(json!({"right": true})), Some(ApiScope::Respond)),
        (Method::POST, format!("{i}/analysis/rerun"), None, Some(ApiScope::Respond)),
        (Method::POST, format!("{i}/recommendations/0/approve"), None, Some(ApiScope::Approve)),
        (Method::GET, "/api/v1/audit-log".into(), None, Some(ApiScope::Admin)),
        (Method::GET, "/api/v1/audit-log.csv".into(), None, Some(ApiScope::Admin)),
        (Method::GET, "/api/v1/integrations".into(), None, Some(ApiScope::Admin)),
        (Method::POST, "/api/v1/integrations/events_api/test".into(), None, Some(ApiScope::Admin)),
        (Method::GET, "/api/v1/webhooks".into(), None, Some(ApiScope::Admin)),
        (
            Method::POST,
            "/api/v1/webhooks".into(),
            Some(json!({"url": "https://hooks.example/dreamops", "events": ["incident.opened"]})),
            Some(ApiScope::Admin),
        ),
        (Method::POST, format!("/api/v1/webhooks/{action}/rotate-secret"), None, Some(ApiScope::Admin)),
        (Method::GET, format!("/api/v1/webhooks/{action}/deliveries"), None, Some(ApiScope::Admin)),
        (Method::DELETE, format!("/api/v1/webhooks/{action}"), None, Some(ApiScope::Admin)),
        (Method::POST, "/api/v1/webhook-deliveries/1/replay".into(), None, Some(ApiScope::Admin)),
    ]
}

#[tokio::test]
async fn each_key_may_do_what_its_scopes_allow_and_nothing_else() {
    let app = TestApp::spawn().await;
    let (owner, cluster, team) = with_demo_cluster(&app, "scopes@api.example").await;
    unlimited(&app, team).await;
    let incident = send(&app, team, &oom()).await;
    let mut table =
        String::from("| operation | alerts | read | respond | approve | admin |\n|---|---|---|---|---|---|\n");
    let keys: Vec<(ApiScope, Client)> = {
        let mut keys = Vec::new();
        for scope in ApiScope::ALL {
            keys.push((scope, Client::new(&app, &owner.api_key_with(&format!("only {scope}"), &[scope]).await)));
        }
        keys
    };
    for (method, path, body, needs) in operations(incident, Uuid::new_v4(), cluster) {
        table.push_str(&format!("| `{method} {path}` |"));
        for (scope, client) in &keys {
            let allowed = match needs {
                None => *scope != ApiScope::Alerts,
                Some(needed) => needed == *scope,
            };
            let status = client.send(method.clone(), &path, body.as_ref()).await.status();
            assert_eq!(status == StatusCode::FORBIDDEN, !allowed, "{method} {path} with a {scope} key: {status}");
            table.push_str(if allowed { " yes |" } else { " 403 |" });
        }
        table.push('\n');
    }
    println!("{table}");
    // Keys never manage people, keys or money: the server functions refuse them (they
    // take a session), and no API operation exists for them.
    let admin = &keys[4].1;
    assert_eq!(admin.post("/api/v1/api-keys", Some(&json!({"name": "x"}))).await.status(), 404);
    // The scopes show on the keys page, and the key that sends alerts keeps doing so.
    let listed = owner.run(app::api::api_keys::ListApiKeys {}).await.unwrap();
    assert!(listed.iter().any(|key| key.name == "only approve" && key.scopes == [ApiScope::Approve]));
    let sent = app.send_rest_alert(&keys[0].1.key, &json!({"title": "disk full", "severity": "warning"})).await;
    assert_eq!(sent.status(), 202);
    let refused = app.send_rest_alert(&keys[1].1.key, &json!({"title": "disk full", "severity": "warning"})).await;
    assert_eq!(refused.status(), 403, "a read key does not send alerts");
    app.stop().await;
}

#[tokio::test]
async fn another_teams_ids_are_not_found_with_any_key() {
    let app = TestApp::spawn().await;
    let (owner_a, cluster_a, team_a) = with_demo_cluster(&app, "a@api.example").await;
    unlimited(&app, team_a).await;
    let incident_a = send(&app, team_a, &oom()).await;
    let action_a: Uuid = Uuid::new_v4();
    let owner_b = app.user();
    owner_b.sign_up("b@api.example", "Team B").await;
    let b = Client::new(&app, &owner_b.api_key_with("everything", &ApiScope::ALL).await);
    for (method, path, body, _) in operations(incident_a, action_a, cluster_a) {
        if !path.contains(&incident_a.to_string()) && !path.contains(&cluster_a.to_string()) {
            continue;
        }
        let response = b.send(method.clone(), &path, body.as_ref()).await;
        assert_eq!(response.status(), 404, "{method} {path} with team B's key");
        assert_eq!(response.headers()["content-type"], "application/problem+json");
    }
    // Team B's lists hold nothing of team A's.
    let listed = b.expect(Method::GET, "/api/v1/incidents", None, 200).await;
    assert_eq!(listed["incidents"], json!([]));
    let clusters = b.expect(Method::GET, "/api/v1/clusters", None, 200).await;
    assert_eq!(clusters, json!([]));
    // And team A's incident is untouched.
    let a = Client::new(&app, &owner_a.api_key_with("read", &[ApiScope::Read]).await);
    let incident = a.expect(Method::GET, &format!("/api/v1/incidents/{incident_a}"), None, 200).await;
    assert_eq!(incident["status"], "triggered");
    app.stop().await;
}

#[tokio::test]
async fn a_key_takes_an_incident_through_its_life_and_approves_its_fix() {
    let app = with_remediation(2, 5).await;
    let (owner, cluster, team) = with_demo_cluster(&app, "life@api.example").await;
    unlimited(&app, team).await;
    set_policy(&owner, cluster, "approve", "low", "", false).await;
    let bot = Client::new(&app, &owner.api_key_with("chat bot", &[ApiScope::Respond, ApiScope::Approve]).await);
    let incident = send(&app, team, &oom()).await;
    app.run_pending_jobs().await;

    let listed = bot.expect(Method::GET, "/api/v1/incidents?status=triggered", None, 200).await;
    assert_eq!(listed["incidents"][0]["id"], incident.to_string());
    assert_eq!(listed["counts"]["triggered"], 1);
    let path = format!("/api/v1/incidents/{incident}");
    let renamed =
        bot.expect(Method::PATCH, &path, Some(&json!({"title": "memory-hog OOM", "severity": "critical"})), 200).await;
    assert_eq!((renamed["title"].as_str(), renamed["severity"].as_str()), (Some("memory-hog OOM"), Some("critical")));
    let acknowledged = bot.expect(Method::POST, &format!("{path}/acknowledge"), None, 200).await;
    assert_eq!(acknowledged["acknowledged_by"], "API key chat bot");
    bot.expect(Method::POST, &format!("{path}/notes"), Some(&json!({"text": "raising the limit"})), 201).await;
    let analysis = bot.expect(Method::GET, &format!("{path}/analysis"), None, 200).await;
    assert_eq!(analysis["Done"]["actions"][0]["change"]["kind"], "set_memory_limit", "{analysis}");
    let approved = bot
        .expect(Method::POST, &format!("{path}/recommendations/0/approve"), Some(&json!({"comment": "go"})), 201)
        .await;
    assert_eq!(approved["requested_by"], "API key chat bot");
    let action_id = approved["id"].as_str().unwrap().to_string();
    settled(&owner, incident).await;
    let action = bot.expect(Method::GET, &format!("{path}/actions/{action_id}"), None, 200).await;
    assert_eq!(action["state"], "verified", "{action}");
    // The verified fix resolved it; reopen, then resolve with a note.
    let reopened = bot.expect(Method::POST, &format!("{path}/reopen"), None, 200).await;
    assert_eq!(reopened["status"], "triggered");
    let resolved =
        bot.expect(Method::POST, &format!("{path}/resolve"), Some(&json!({"note": "fixed for good"})), 200).await;
    assert_eq!(
        (resolved["status"].as_str(), resolved["resolved_by"].as_str()),
        (Some("resolved"), Some("API key chat bot"))
    );
    let refused = bot.send(Method::POST, &format!("{path}/resolve"), None).await;
    assert_eq!(refused.status(), 409);
    let timeline = bot.expect(Method::GET, &format!("{path}/timeline"), None, 200).await;
    let messages: Vec<&str> = timeline.as_array().unwrap().iter().filter_map(|e| e["message"].as_str()).collect();
    for expected in [
        "Title changed to \"memory-hog OOM\" by API key chat bot",
        "raising the limit",
        "Resolved by API key chat bot: fixed for good",
    ] {
        assert!(messages.contains(&expected), "{expected:?} not in {messages:?}");
    }
    let alerts = bot.expect(Method::GET, &format!("{path}/alerts"), None, 200).await;
    assert_eq!(alerts.as_array().unwrap().len(), 1);
    // The audit trail names the key.
    let actors: Vec<(String, String)> = sqlx::query_as(
        "select actor_kind, actor_label from audit_log where team_id = $1 and action = 'incident.resolve'",
    )
    .bind(team)
    .fetch_all(&app.state().db)
    .await
    .unwrap();
    assert_eq!(actors, [("api_key".to_string(), "chat bot".to_string())]);
    app.stop().await;
}

#[tokio::test]
async fn errors_are_problem_details_reads_carry_etags_and_posts_are_idempotent() {
    let app = TestApp::spawn().await;
    let owner = app.user();
    owner.sign_up("edges@api.example", "Edges").await;
    let team = owner.team().await;
    let key = owner.api_key_with("edges", &[ApiScope::Respond]).await;
    let client = Client::new(&app, &key);
    let sent = app.send_rest_alert(&owner.api_key("alerts").await, &json!({"title": "queue backlog"})).await;
    let incident: Uuid = sent.json::<Value>().await.unwrap()["incident_id"].as_str().unwrap().parse().unwrap();
    let path = format!("/api/v1/incidents/{incident}");

    // Problem details, with the status that fits.
    let anonymous = reqwest::Client::new().get(format!("{}{path}", app.address)).send().await.unwrap();
    assert_eq!(anonymous.status(), 401);
    assert_eq!(anonymous.headers()["www-authenticate"], "Bearer");
    let wrong_key = Client::new(&app, "dok_00000000_0000");
    assert_eq!(wrong_key.get(&path).await.status(), 401);
    for (method, target, body, status) in [
        (Method::GET, "/api/v1/incidents/not-a-uuid".to_string(), None, 400),
        (Method::GET, format!("/api/v1/incidents/{}", Uuid::new_v4()), None, 404),
        (Method::GET, "/api/v1/nothing-here".to_string(), None, 404),
        (Method::GET, "/api/v1/incidents?status=sleeping".to_string(), None, 400),
        (Method::GET, "/api/v1/incidents?cursor=abc".to_string(), None, 400),
        (Method::PATCH, path.clone(), Some(json!({"title": ""})), 422),
        (Method::PATCH, path.clone(), Some(json!({"severity": "apocalyptic"})), 422),
        (Method::POST, format!("{path}/notes"), Some(json!({"text": 5})), 422),
    ] {
        let response = client.send(method.clone(), &target, body.as_ref()).await;
        assert_eq!(response.status().as_u16(), status, "{method} {target}");
        assert_eq!(response.headers()["content-type"], "application/problem+json", "{method} {target}");
        let problem: Value = response.json().await.unwrap();
        assert_eq!((problem["status"].as_u64(), problem["type"].as_str()), (Some(status as u64), Some("about:blank")));
        assert!(!problem["detail"].as_str().unwrap().is_empty());
    }
    let not_json = client
        .http
        .post(format!("{}{path}/notes", app.address))
        .bearer_auth(&key)
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(not_json.status(), 400);

    // A PATCH that changes nothing is answered with the incident as it is.
    let unchanged = client.expect(Method::PATCH, &path, Some(&json!({"title": null})), 200).await;
    assert_eq!(unchanged["title"], "queue backlog");

    // ETags: the same answer is not sent twice; a change makes a new one.
    let first = client.get(&path).await;
    let etag = first.headers()["etag"].to_str().unwrap().to_string();
    let again = client.http.get(format!("{}{path}", app.address)).bearer_auth(&key).header("if-none-match", &etag);
    let again = again.send().await.unwrap();
    assert_eq!(again.status(), 304);
    assert!(again.bytes().await.unwrap().is_empty());
    client.expect(Method::PATCH, &path, Some(&json!({"severity": "critical"})), 200).await;
    let changed = client.http.get(format!("{}{path}", app.address)).bearer_auth(&key).header("if-none-match", &etag);
    let changed = changed.send().await.unwrap();
    assert_eq!(changed.status(), 200);
    assert_ne!(changed.headers()["etag"].to_str().unwrap(), etag);

    // Idempotency-Key: the same request twice has one effect and one answer; another
    // request under the same key is refused; without a key, each request counts.
    let note = |text: &str, idempotency: Option<&str>| {
        let mut request =
            client.http.post(format!("{}{path}/notes", app.address)).bearer_auth(&key).json(&json!({ "text": text }));
        if let Some(idempotency) = idempotency {
            request = request.header("idempotency-key", idempotency);
        }
        request.send()
    };
    let first = note("once", Some("note-1")).await.unwrap();
    assert_eq!(first.status(), 201);
    let first_body = first.text().await.unwrap();
    let retried = note("once", Some("note-1")).await.unwrap();
    assert_eq!(retried.status(), 201);
    assert_eq!(retried.headers()["idempotent-replayed"], "true");
    assert_eq!(retried.text().await.unwrap(), first_body);
    let reused = note("something else", Some("note-1")).await.unwrap();
    assert_eq!(reused.status(), 422);
    assert_eq!(note("twice", None).await.unwrap().status(), 201);
    assert_eq!(note("twice", None).await.unwrap().status(), 201);
    let bad_key = note("x", Some("")).await.unwrap();
    assert_eq!(bad_key.status(), 400);
    let notes: Vec<String> = sqlx::query_scalar(
        "select message from timeline_entries where team_id = $1 and incident_id = $2 and kind = 'note' order by id",
    )
    .bind(team)
    .bind(incident)
    .fetch_all(&app.state().db)
    .await
    .unwrap();
    assert_eq!(notes, ["once", "twice", "twice"]);
    // A refusal is kept like any answer: the same conflict again, not a second try.
    let resolve = |key_header: &'static str| {
        client
            .http
            .post(format!("{}{path}/reopen", app.address))
            .bearer_auth(&key)
            .header("idempotency-key", key_header)
            .send()
    };
    assert_eq!(resolve("reopen-1").await.unwrap().status(), 409);
    assert_eq!(resolve("reopen-1").await.unwrap().status(), 409);
    app.stop().await;
}

#[tokio::test]
async fn a_key_over_its_limit_is_told_when_to_come_back_and_other_teams_are_not_slowed() {
    let app = TestApp::spawn_with(|settings| settings.api_rate_scale = 0.25).await;
    let owner = app.user();
    owner.sign_up("busy@api.example", "Busy").await;
    let client = Client::new(&app, &owner.api_key_with("loop", &[ApiScope::Read]).await);
    // Free: 120 requests a minute, a quarter of it here.
    let first = client.get("/api/v1/usage").await;
    assert_eq!(first.status(), 200);
    assert_eq!(first.headers()["ratelimit-limit"], "30");
    assert_eq!(first.headers()["ratelimit-remaining"], "29");
    let mut refused = None;
    for _ in 0..40 {
        let response = client.get("/api/v1/usage").await;
        if response.status() == StatusCode::TOO_MANY_REQUESTS {
            refused = Some(response);
            break;
        }
    }
    let refused = refused.expect("the 31st request in a minute is refused");
    let retry_after: u64 = refused.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=3).contains(&retry_after), "{retry_after}");
    assert_eq!(refused.headers()["ratelimit-remaining"], "0");
    assert_eq!(refused.headers()["content-type"], "application/problem+json");
    let other = app.user();
    other.sign_up("calm@api.example", "Calm").await;
    let calm = Client::new(&app, &other.api_key_with("calm", &[ApiScope::Read]).await);
    assert_eq!(calm.get("/api/v1/usage").await.status(), 200);
    tokio::time::sleep(Duration::from_secs(retry_after)).await;
    assert_eq!(client.get("/api/v1/usage").await.status(), 200, "served again after Retry-After");
    app.stop().await;
}

#[tokio::test]
async fn the_openapi_document_describes_every_route_and_the_reference_page_shows_it() {
    let app = TestApp::spawn().await;
    let document: Value = app.get("/api/v1/openapi.json").await.json().await.unwrap();
    assert!(document["openapi"].as_str().unwrap().starts_with("3.1"), "{}", document["openapi"]);
    let mut operations = 0;
    for (path, item) in document["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            operations += 1;
            assert!(operation["operationId"].is_string(), "{method} {path}");
            // Every documented operation is routed: without a key it is refused, not missing.
            let concrete = path
                .replace("{id}", &Uuid::new_v4().to_string())
                .replace("{action_id}", &Uuid::new_v4().to_string())
                .replace("{index}", "0")
                .replace("{kind}", "events_api");
            let method: Method = method.to_uppercase().parse().unwrap();
            let response =
                app.client.request(method.clone(), format!("{}{concrete}", app.address)).send().await.unwrap();
            assert_eq!(response.status(), 401, "{method} {path}");
            if method == Method::POST {
                let takes_key = operation["parameters"].as_array().is_some_and(|parameters| {
                    parameters.iter().any(|p| p["name"] == "Idempotency-Key" && p["in"] == "header")
                });
                assert!(takes_key, "{path} documents Idempotency-Key");
            }
        }
    }
    assert_eq!(operations, 31);
    let page = app.get("/docs/api").await;
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    assert!(html.contains("<code>POST /api/v1/incidents/{id}/resolve</code>"));
    assert!(html.contains("<code>approve</code>"));
    app.stop().await;
}

/// Schemathesis is the one `SCHEMATHESIS` names (the test command installs it), else
/// the one under `target/tools`.
fn schemathesis() -> String {
    std::env::var("SCHEMATHESIS").unwrap_or_else(|_| {
        concat!(env!("CARGO_MANIFEST_DIR"), "/../target/tools/schemathesis-4.32.5/bin/schemathesis").to_string()
    })
}

#[tokio::test]
async fn schemathesis_finds_no_server_error_and_no_answer_outside_the_document() {
    let binary = schemathesis();
    assert!(
        std::path::Path::new(&binary).exists(),
        "Schemathesis is not installed at {binary}: run `bash .ci/test` once, or `source .ci/lib.sh && ensure_schemathesis`"
    );
    let app = TestApp::spawn().await;
    let (owner, cluster, team) = with_demo_cluster(&app, "fuzz@api.example").await;
    unlimited(&app, team).await;
    let incident = send(&app, team, &oom()).await;
    app.run_pending_jobs().await;
    let key = owner.api_key_with("schemathesis", &ApiScope::ALL).await;
    // Real ids for the path parameters, so that generated requests reach the handlers'
    // logic rather than stopping at "not found".
    let directory = std::env::temp_dir().join(format!("dreamops-schemathesis-{}", Uuid::new_v4()));
    std::fs::create_dir_all(&directory).unwrap();
    let config = directory.join("schemathesis.toml");
    std::fs::write(
        &config,
        format!(
            "[[operations]]\ninclude-path-regex = \"^/api/v1/incidents/\"\nparameters = {{ \"path.id\" = \"{incident}\" }}\n\n\
             [[operations]]\ninclude-path-regex = \"^/api/v1/clusters/\"\nparameters = {{ \"path.id\" = \"{cluster}\" }}\n"
        ),
    )
    .unwrap();
    let output = tokio::process::Command::new(&binary)
        .arg("--config-file")
        .arg(&config)
        .arg("run")
        .arg(format!("{}/api/v1/openapi.json", app.address))
        .args(["--header", &format!("Authorization: Bearer {key}")])
        .args([
            "--checks",
            "all",
            "--max-examples",
            "30",
            "--seed",
            "1",
            "--workers",
            "2",
            "--no-color",
            "--generation-allow-x00",
            "false",
        ])
        .args(["--phases", "examples,coverage,fuzzing,stateful", "--request-timeout", "30"])
        .current_dir(&directory)
        .env("PYTHONPATH", concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures"))
        .env("SCHEMATHESIS_HOOKS", "schemathesis_hooks")
        .kill_on_drop(true)
        .output()
        .await
        .expect("Schemathesis runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    // The closing summary: operations, phases, test cases, failures.
    let lines: Vec<&str> = stdout.lines().collect();
    let summary = lines[lines.len().saturating_sub(24)..].to_vec();
    println!("Schemathesis summary:\n{}", summary.join("\n"));
    assert!(
        output.status.success(),
        "Schemathesis found problems:\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let _ = std::fs::remove_dir_all(&directory);
    app.stop().await;
}

#[tokio::test]
async fn a_python_client_written_from_the_document_alone_runs_an_incidents_life() {
    let app = TestApp::spawn().await;
    let owner = app.user();
    owner.sign_up("python@api.example", "Python").await;
    let alerts = owner.api_key("sender").await;
    let key = owner.api_key_with("python", &[ApiScope::Read, ApiScope::Respond]).await;
    let sent = app.send_rest_alert(&alerts, &json!({"title": "checkout latency", "service": "checkout"})).await;
    assert_eq!(sent.status(), 202);
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/api_client.py");
    let output = tokio::process::Command::new("python3")
        .arg(script)
        .arg(&app.address)
        .env("DREAMOPS_API_KEY", &key)
        .kill_on_drop(true)
        .output()
        .await
        .expect("python3 runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&output.stderr));
    assert!(stdout.contains("resolved by API key python"), "{stdout}");
    app.stop().await;
}
