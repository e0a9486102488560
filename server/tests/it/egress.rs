//! The outbound policy from outside, as production runs it (no private networks, no plain
//! HTTP): every destination a user types — a kubeconfig's server, the Slack webhook, an
//! LLM endpoint — and PagerDuty's API are refused on loopback, private, link-local,
//! cloud-metadata and unique-local addresses, names that resolve to loopback included,
//! before any byte is sent: listeners on loopback record every connection, and none
//! arrives. Redirects are never followed.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use app::api::analysis::SetTeamLlm;
use app::api::clusters::{AddCluster, TestClusterConnection};
use app::api::integrations::{SetPagerdutyWriteback, SetSlackWebhook};
use app::error::AppError;
use axum::http::StatusCode;
use uuid::Uuid;

use crate::support::{TestApp, User};

/// Whether `answer` is a refusal of input (an address typed where it may not go).
fn invalid<T: std::fmt::Debug>(answer: &Result<T, AppError>) -> bool {
    matches!(answer, Err(AppError::Validation(_)))
}

/// The team's own OpenAI-compatible LLM at `base_url`.
fn team_llm(base_url: &str) -> SetTeamLlm {
    SetTeamLlm { kind: "openai".into(), base_url: base_url.into(), model: "m".into(), key: "k".into() }
}

/// A listener that records every connection it accepts, and closes it.
struct Recorder {
    port: u16,
    connections: Arc<AtomicUsize>,
}

impl Recorder {
    /// Listens on `address`; `None` where the machine has no such address (IPv6).
    async fn bind(address: &str) -> Option<Recorder> {
        let listener = tokio::net::TcpListener::bind(address).await.ok()?;
        let port = listener.local_addr().unwrap().port();
        let connections = Arc::new(AtomicUsize::new(0));
        let counted = connections.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                counted.fetch_add(1, Ordering::SeqCst);
                drop(stream);
            }
        });
        Some(Recorder { port, connections })
    }

    fn connections(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }
}

/// An instance with the policy as production has it, PagerDuty's API at `pagerduty`.
async fn strict(pagerduty: String) -> TestApp {
    TestApp::spawn_with(move |settings| {
        settings.outbound.allow_private = false;
        settings.outbound.allow_http = false;
        settings.outbound.pagerduty_api = pagerduty;
    })
    .await
}

async fn owner(app: &TestApp, name: &str) -> (User, Uuid) {
    let owner = app.user();
    owner.sign_up(&format!("owner@{name}.example"), name).await;
    let team = owner.team().await;
    (owner, team)
}

/// The destinations to refuse: `host:port`, and whether it is a name (refused when it
/// resolves, at use) rather than an address (refused as soon as it is typed).
fn destinations(v4: &Recorder, v6: Option<&Recorder>) -> Vec<(String, bool)> {
    let mut destinations = vec![
        (format!("127.0.0.1:{}", v4.port), false),
        (format!("localhost:{}", v4.port), true),
        ("10.0.0.1:443".to_string(), false),
        ("169.254.169.254:80".to_string(), false),
        ("100.64.0.1:443".to_string(), false),
        ("[fd00:ec2::254]:443".to_string(), false),
    ];
    destinations.push((format!("[::1]:{}", v6.map_or(6443, |v6| v6.port)), false));
    destinations
}

/// Queues a call to `target` for the team and runs it; the error it was parked with.
async fn delivered(app: &TestApp, team: Uuid, target: &str) -> String {
    let db = app.db().await;
    let id: i64 = sqlx::query_scalar(
        "insert into outbound_calls (team_id, target, purpose, method, path, body)
         values ($1, $2, 'new_incident', 'POST', '/incidents/PX1', '{\"text\": \"hello\"}') returning id",
    )
    .bind(team)
    .bind(target)
    .fetch_one(&db)
    .await
    .unwrap();
    app.run_pending_jobs().await;
    let (state, error): (String, Option<String>) =
        sqlx::query_as("select state, last_error from outbound_calls where id = $1")
            .bind(id)
            .fetch_one(&db)
            .await
            .unwrap();
    assert_eq!(state, "failed", "the call to {target} was neither refused nor parked");
    error.unwrap_or_default()
}

#[tokio::test]
async fn every_destination_kind_refuses_internal_addresses_before_any_byte_is_sent() {
    let v4 = Recorder::bind("127.0.0.1:0").await.unwrap();
    let v6 = Recorder::bind("[::1]:0").await;
    let app = strict(format!("https://localhost:{}", v4.port)).await;
    let (owner, team) = owner(&app, "egress").await;
    let refused = |body: &str| body.contains("DreamOps does not connect to");

    for (destination, is_name) in destinations(&v4, v6.as_ref()) {
        // The kubeconfig's server.
        let kubeconfig = format!(
            "apiVersion: v1\nkind: Config\ncurrent-context: c\nclusters:\n- name: k\n  cluster: {{server: 'https://{destination}'}}\n\
             contexts:\n- name: c\n  context: {{cluster: k, user: u}}\nusers:\n- name: u\n  user: {{token: t}}\n"
        );
        let name = format!("c-{}", Uuid::new_v4().simple());
        let added = owner.run(AddCluster { name, kubeconfig, context: "c".into(), namespace: None }).await;
        if is_name {
            let id = added.unwrap_or_else(|error| panic!("{destination}: {error}")).id;
            let tested = owner.run(TestClusterConnection { id }).await;
            let Err(AppError::Conflict(why)) = tested else { panic!("{destination}: {tested:?}") };
            assert!(refused(&why) && why.contains("loopback"), "{destination}: {why}");
        } else {
            assert!(invalid(&added) && refused(&format!("{added:?}")), "{destination}: {added:?}");
        }

        // The Slack webhook.
        let saved = owner.run(SetSlackWebhook { url: format!("https://{destination}/services/T/B/x") }).await;
        if is_name {
            assert!(saved.is_ok(), "{destination}: {saved:?}");
            let error = delivered(&app, team, "slack").await;
            assert!(refused(&error) && error.contains("the Slack webhook"), "{destination}: {error}");
        } else {
            assert!(invalid(&saved) && refused(&format!("{saved:?}")), "{destination}: {saved:?}");
        }

        // The team's LLM endpoint.
        let base_url = format!("https://{destination}/v1");
        let saved = owner.run(team_llm(&base_url)).await;
        if is_name {
            assert!(saved.is_ok(), "{destination}: {saved:?}");
            let state = app.state();
            let provider = app::server::agent::team_llm::provider(&state, team).await.unwrap().unwrap();
            let policy = state.settings.outbound.policy();
            let error = app::server::agent::llm::ask(&policy, &[provider], "why?", Duration::from_secs(2))
                .await
                .unwrap_err()
                .to_string();
            assert!(refused(&error), "{destination}: {error}");
        } else {
            assert!(invalid(&saved) && refused(&format!("{saved:?}")), "{destination}: {saved:?}");
        }
    }

    // PagerDuty's API, set by the operator to a name that resolves to loopback.
    let writeback = SetPagerdutyWriteback { key: "u+key".into(), from: "ops@egress.example".into() };
    owner.run(writeback).await.expect("write-back is saved");
    let error = delivered(&app, team, "pagerduty").await;
    assert!(refused(&error) && error.contains("PagerDuty's API"), "{error}");

    assert_eq!(v4.connections(), 0, "nothing reached the loopback listener");
    assert_eq!(v6.map_or(0, |v6| v6.connections()), 0, "nothing reached the IPv6 loopback listener");
    let parked = app.stop_with_parked_jobs().await;
    assert!(parked.iter().all(|p| p.starts_with("outbound calls") && refused(p)), "only the refused calls: {parked:?}");
}

#[tokio::test]
async fn redirects_are_not_followed() {
    // Private networks allowed (as the test instances are), so the first hop is reached.
    let app = TestApp::spawn().await;
    let (owner, team) = owner(&app, "redirect").await;
    let target = Recorder::bind("127.0.0.1:0").await.unwrap();
    let location = format!("http://127.0.0.1:{}/internal", target.port);
    let redirecting = axum::Router::new().fallback(move || {
        let location = location.clone();
        async move { (StatusCode::FOUND, [("location", location)], "moved") }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let first_hop = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, redirecting).await.unwrap() });

    owner.run(SetSlackWebhook { url: format!("http://{first_hop}/hook") }).await.expect("the webhook is saved");
    let error = delivered(&app, team, "slack").await;
    assert!(error.contains("HTTP 302") && error.contains("redirect"), "{error}");
    assert!(!error.contains("moved"), "the remote's body is not shown: {error}");

    owner.run(team_llm(&format!("http://{first_hop}/v1"))).await.expect("the team's LLM is saved");
    let state = app.state();
    let provider = app::server::agent::team_llm::provider(&state, team).await.unwrap().unwrap();
    let error =
        app::server::agent::llm::ask(&state.settings.outbound.policy(), &[provider], "why?", Duration::from_secs(2))
            .await
            .unwrap_err()
            .to_string();
    assert!(error.contains("redirect"), "{error}");
    assert_eq!(target.connections(), 0, "the redirect's target was never contacted");
    let parked = app.stop_with_parked_jobs().await;
    assert_eq!(parked.len(), 1, "the redirected Slack message: {parked:?}");
}
