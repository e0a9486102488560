//! `/health`, `/ready` and `/metrics` against a real database, and the request id.

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use tower::ServiceExt as _;

use app::server::db;
use app::server::state::AppState;

use crate::support::{TestApp, TestDatabase, leptos_options, settings};

#[tokio::test]
async fn health_answers_ok_with_the_version() {
    let app = TestApp::spawn().await;
    let response = app.get("/health").await;
    assert_eq!(response.status(), StatusCode::OK);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["status"], "ok");
    assert_eq!(body["version"], env!("CARGO_PKG_VERSION"));
    app.stop().await;
}

#[tokio::test]
async fn ready_answers_200_once_migrated() {
    let app = TestApp::spawn().await;
    let response = app.get("/ready").await;
    assert_eq!(response.status(), StatusCode::OK);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["status"], "ready");
    let database = &body["detail"]["database"];
    assert_eq!(database["state"], "reachable");
    assert_eq!(database["migrations_applied"], db::expected_migrations());
    assert!(db::expected_migrations() >= 1);
    app.stop().await;
}

/// The state a server would have, on a database it has not migrated.
fn state_on(url: &str) -> AppState {
    let settings = settings(url);
    let pool = db::connect_lazy(&settings.database, settings.database.url.as_ref().unwrap()).unwrap();
    let cipher = app::server::secrets::Cipher::new(settings.secret_key.as_ref().unwrap(), &[]).unwrap();
    let live = app::server::live::LiveHub::start(pool.clone());
    AppState {
        leptos_options: leptos_options(),
        recorder: app::server::ingest::Recorder::start(
            pool.clone(),
            live.clone(),
            app::server::ingest::rate::IngestRates::new(0.0),
            "",
        ),
        live,
        senders: app::server::ingest::SenderDirectory::start(pool.clone(), cipher.clone()),
        db: pool,
        settings: Arc::new(settings),
        cipher,
        self_url: String::new(),
        outbound: reqwest::Client::new(),
        mailer: app::server::mail::send::Mailer::new(&Default::default()).unwrap(),
        api_rates: app::server::api_keys::rate::ApiRates::new(0.0),
    }
}

async fn ready_status(state: AppState) -> (StatusCode, serde_json::Value) {
    let response =
        server::startup::router(state).oneshot(Request::get("/ready").body(Body::empty()).unwrap()).await.unwrap();
    let status = response.status();
    let bytes = axum::body::to_bytes(response.into_body(), 1 << 20).await.unwrap();
    (status, serde_json::from_slice(&bytes).unwrap())
}

#[tokio::test]
async fn ready_answers_503_when_the_database_is_unreachable() {
    // A port nothing listens on: bind one, then free it.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let (status, body) = ready_status(state_on(&format!("postgres://postgres@127.0.0.1:{port}/none"))).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(body["status"], "not ready");
    assert_eq!(body["detail"]["database"]["state"], "unreachable");
}

#[tokio::test]
async fn ready_answers_503_while_migrations_are_pending() {
    let database = TestDatabase::empty().await;
    let (status, body) = ready_status(state_on(&database.url)).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(body["detail"]["database"]["state"], "reachable");
    assert_eq!(body["detail"]["database"]["migrations_applied"], 0);
}

#[tokio::test]
async fn metrics_count_requests_by_route_and_status() {
    let app = TestApp::spawn_with(|settings| settings.metrics_token = Some("scraper-token".to_string().into())).await;
    for _ in 0..3 {
        assert_eq!(app.get("/health").await.status(), StatusCode::OK);
    }
    assert_eq!(app.get("/no/such/page").await.status(), StatusCode::NOT_FOUND);

    let scrape = |token: &str| {
        app.client.get(format!("{}/metrics", app.address)).header("authorization", format!("Bearer {token}")).send()
    };
    assert_eq!(app.get("/metrics").await.status(), StatusCode::UNAUTHORIZED, "only for the operator's scraper");
    assert_eq!(scrape("scraper-tokeN").await.unwrap().status(), StatusCode::UNAUTHORIZED);
    let response = scrape("scraper-token").await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert!(response.headers()["content-type"].to_str().unwrap().starts_with("text/plain"));
    let text = response.text().await.unwrap();
    let count = |needle: &str| -> f64 {
        text.lines()
            .find(|line| line.starts_with(needle))
            .and_then(|line| line.rsplit(' ').next())
            .and_then(|value| value.parse().ok())
            .unwrap_or_else(|| panic!("no line starting with {needle} in:\n{text}"))
    };
    // The recorder is shared by every server in this process, so other tests add to it.
    assert!(count(r#"http_requests_total{method="GET",route="/health",status="200"}"#) >= 3.0);
    assert!(count(r#"http_requests_total{method="GET",route="unmatched",status="404"}"#) >= 1.0);
    assert!(count(r#"http_request_duration_seconds_bucket{method="GET",route="/health",le="+Inf"}"#) >= 3.0);
    assert!(count(r#"http_request_duration_seconds_count{method="GET",route="/health"}"#) >= 3.0);
    assert!(text.contains("# TYPE http_request_duration_seconds histogram"), "{text}");
    count(r#"db_pool_connections{state="idle"}"#);
    count(r#"db_pool_connections{state="in_use"}"#);
    assert_eq!(count("db_pool_max_connections"), 10.0);
    app.stop().await;
}

#[tokio::test]
async fn metrics_are_not_served_without_a_token_configured() {
    let app = TestApp::spawn().await;
    assert_eq!(app.get("/metrics").await.status(), StatusCode::NOT_FOUND);
    app.stop().await;
}

#[tokio::test]
async fn every_response_carries_a_request_id() {
    let app = TestApp::spawn().await;
    let generated = app.get("/health").await;
    let id = generated.headers()["x-request-id"].to_str().unwrap();
    assert_eq!(id.len(), 36, "a UUID: {id}");

    let given =
        app.client.get(format!("{}/health", app.address)).header("x-request-id", "trace-me-42").send().await.unwrap();
    assert_eq!(given.headers()["x-request-id"], "trace-me-42");
    app.stop().await;
}

#[tokio::test]
async fn responses_carry_the_security_headers() {
    let app = TestApp::spawn().await;
    for path in ["/", "/health", "/no/such/page"] {
        let response = app.get(path).await;
        let headers = response.headers();
        assert_eq!(headers["x-content-type-options"], "nosniff", "{path}");
        assert_eq!(headers["x-frame-options"], "DENY", "{path}");
        assert_eq!(headers["referrer-policy"], "strict-origin-when-cross-origin", "{path}");
        assert!(headers.get("strict-transport-security").is_none(), "not over plain HTTP: {path}");
    }
    app.stop().await;
}

/// Pages say which scripts may run: this site's and the inline ones carrying the
/// response's nonce (each response its own); over HTTPS, browsers are told to stay there.
#[tokio::test]
async fn pages_carry_a_content_security_policy_with_a_fresh_nonce_and_https_deployments_hsts() {
    let app = TestApp::spawn_with(|settings| settings.sessions.secure_cookies = true).await;
    let mut nonces = Vec::new();
    for path in ["/", "/login", "/no/such/page"] {
        let response = app.get(path).await;
        let policy = response.headers()["content-security-policy"].to_str().unwrap().to_string();
        assert_eq!(response.headers()["strict-transport-security"], "max-age=31536000; includeSubDomains", "{path}");
        let nonce = policy
            .split("'nonce-")
            .nth(1)
            .and_then(|rest| rest.split('\'').next())
            .unwrap_or_else(|| panic!("{path}: no nonce in {policy}"))
            .to_string();
        for directive in ["default-src 'self'", "'wasm-unsafe-eval'", "object-src 'none'", "frame-ancestors 'none'"] {
            assert!(policy.contains(directive), "{path}: {policy}");
        }
        let script_src = policy.split(';').find(|directive| directive.trim().starts_with("script-src")).unwrap();
        assert!(!script_src.contains("unsafe-inline"), "inline scripts need the nonce: {policy}");
        let html = response.text().await.unwrap();
        let scripts = html.matches("<script").count();
        assert!(scripts > 0, "{path}: the hydration script");
        assert_eq!(
            html.matches(&format!("nonce=\"{nonce}\"")).count(),
            scripts,
            "{path}: every inline script carries it"
        );
        nonces.push(nonce);
    }
    nonces.dedup();
    assert_eq!(nonces.len(), 3, "a nonce per response");
    assert!(app.get("/health").await.headers().get("strict-transport-security").is_some());
    app.stop().await;
}
