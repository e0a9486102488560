//! GitHub against a loopback server speaking GitHub's documented JSON: the connection
//! test and a revoked token, the service map, and "what changed" in the agent's
//! analysis — merged pull requests found across `Link` pages, matched with the demo
//! cluster's rollout — and GitHub's rate limits (403 and 429 with their reset headers).

use std::sync::{Arc, Mutex};

use chrono::{Duration, Utc};
use serde_json::json;

use app::api::clusters::SimulateFailure;
use app::api::github::{ConnectGithub, GetGithub, SetGithubRepositories, TestGithub};
use app::domain::cluster::SimulatedFailure;
use app::error::AppError;

use crate::agent::analysis;
use crate::demo_cluster::with_demo_cluster;
use crate::support::{TestApp, User};

/// One request the loopback GitHub received.
#[derive(Clone, Debug)]
pub(crate) struct Received {
    pub method: String,
    pub path: String,
    pub query: String,
    pub headers: axum::http::HeaderMap,
    /// The JSON body, `null` when none.
    pub body: serde_json::Value,
    pub at: std::time::Instant,
}

/// How the loopback GitHub answers.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) enum Mode {
    #[default]
    Normal,
    /// 403 with `x-ratelimit-remaining: 0` and `x-ratelimit-reset` 7 minutes ahead.
    RateLimited403,
    /// 429 with `retry-after: 120`.
    RateLimited429,
    /// The next write only: 403 with no requests remaining until `x-ratelimit-reset`,
    /// 2 s ahead; then as usual.
    WriteLimitedOnce403,
    /// The next write only: 429 with `retry-after: 1`; then as usual.
    WriteLimitedOnce429,
    /// Issues are turned off in the repository (410 on opening one).
    IssuesDisabled,
    /// The token was revoked: 401 to everything.
    Revoked,
}

#[derive(Default)]
pub(crate) struct Loopback {
    pub received: Vec<Received>,
    pub mode: Mode,
    /// When the pull request was merged.
    pub merged_at: Option<chrono::DateTime<Utc>>,
    /// Issues opened so far.
    pub issues: i64,
}

pub(crate) type Shared = Arc<Mutex<Loopback>>;

pub(crate) async fn loopback_github() -> (String, Shared) {
    use axum::extract::{Request, State};
    use axum::http::StatusCode;
    use axum::response::IntoResponse as _;
    let shared: Shared = Arc::default();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let answer = {
        let base = base.clone();
        move |State(shared): State<Shared>, request: Request| {
            let base = base.clone();
            async move {
                let (parts, body) = request.into_parts();
                let body = axum::body::to_bytes(body, 1 << 20).await.unwrap();
                let body: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
                let path = parts.uri.path().to_string();
                let query = parts.uri.query().unwrap_or("").to_string();
                let mut github = shared.lock().unwrap();
                github.received.push(Received {
                    method: parts.method.to_string(),
                    path: path.clone(),
                    query: query.clone(),
                    headers: parts.headers.clone(),
                    body: body.clone(),
                    at: std::time::Instant::now(),
                });
                let write = parts.method != axum::http::Method::GET;
                match github.mode {
                    Mode::WriteLimitedOnce403 if write => {
                        github.mode = Mode::Normal;
                        let reset = (Utc::now() + Duration::seconds(2)).timestamp().to_string();
                        let mut response = (
                            StatusCode::FORBIDDEN,
                            axum::Json(json!({"message": "API rate limit exceeded for user ID 1."})),
                        )
                            .into_response();
                        response.headers_mut().insert("x-ratelimit-remaining", "0".parse().unwrap());
                        response.headers_mut().insert("x-ratelimit-reset", reset.parse().unwrap());
                        return response;
                    }
                    Mode::WriteLimitedOnce429 if write => {
                        github.mode = Mode::Normal;
                        let mut response = (
                            StatusCode::TOO_MANY_REQUESTS,
                            axum::Json(json!({"message": "You have exceeded a secondary rate limit."})),
                        )
                            .into_response();
                        response.headers_mut().insert("retry-after", "1".parse().unwrap());
                        return response;
                    }
                    Mode::RateLimited403 => {
                        let reset = (Utc::now() + Duration::minutes(7)).timestamp().to_string();
                        let mut response = (
                            StatusCode::FORBIDDEN,
                            axum::Json(json!({"message": "API rate limit exceeded for user ID 1.", "documentation_url": "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api"})),
                        )
                            .into_response();
                        response.headers_mut().insert("x-ratelimit-remaining", "0".parse().unwrap());
                        response.headers_mut().insert("x-ratelimit-reset", reset.parse().unwrap());
                        return response;
                    }
                    Mode::RateLimited429 => {
                        let mut response = (
                            StatusCode::TOO_MANY_REQUESTS,
                            axum::Json(json!({"message": "You have exceeded a secondary rate limit."})),
                        )
                            .into_response();
                        response.headers_mut().insert("retry-after", "120".parse().unwrap());
                        return response;
                    }
                    _ => {}
                }
                let token = parts.headers.get("authorization").and_then(|v| v.to_str().ok()).unwrap_or("");
                if token != "Bearer ghp_loopback_token" || github.mode == Mode::Revoked {
                    let body = json!({"message": "Bad credentials", "documentation_url": "https://docs.github.com/rest", "status": "401"});
                    return (StatusCode::UNAUTHORIZED, axum::Json(body)).into_response();
                }
                let merged = github.merged_at.unwrap_or_else(Utc::now);
                match path.as_str() {
                    "/user" => axum::Json(json!({"login": "octo-bot", "id": 1, "type": "User"})).into_response(),
                    "/repos/acme/shop/pulls" if !query.contains("page=2") => {
                        // The first page: a pull request closed without merging; the
                        // merged one is on the next page.
                        let page = json!([{"number": 124, "title": "Try a new font", "user": {"login": "bob"},
                            "state": "closed", "merged_at": null, "updated_at": Utc::now().to_rfc3339(),
                            "html_url": "https://github.com/acme/shop/pull/124", "merge_commit_sha": null}]);
                        let mut response = axum::Json(page).into_response();
                        let next = format!(
                            "<{base}/repos/acme/shop/pulls?state=closed&base=main&page=2>; rel=\"next\", <{base}/repos/acme/shop/pulls?page=2>; rel=\"last\""
                        );
                        response.headers_mut().insert("link", next.parse().unwrap());
                        response
                    }
                    "/repos/acme/shop/pulls" => axum::Json(json!([{"number": 123, "title": "Bump cache size",
                        "user": {"login": "alice"}, "state": "closed", "merged_at": merged.to_rfc3339(),
                        "updated_at": merged.to_rfc3339(), "html_url": "https://github.com/acme/shop/pull/123",
                        "merge_commit_sha": "9f2c1e0d5b7a"}]))
                    .into_response(),
                    "/repos/acme/shop/deployments" | "/repos/acme/shop/commits" => {
                        axum::Json(json!([])).into_response()
                    }
                    "/repos/acme/shop/issues" | "/repos/acme/ops/issues" if write => {
                        if github.mode == Mode::IssuesDisabled {
                            let gone = json!({"message": "Issues are disabled for this repo"});
                            return (StatusCode::GONE, axum::Json(gone)).into_response();
                        }
                        if body["title"].as_str().is_none_or(str::is_empty) {
                            let refused = json!({"message": "Validation Failed", "errors": [{"resource": "Issue", "code": "missing_field", "field": "title"}]});
                            return (StatusCode::UNPROCESSABLE_ENTITY, axum::Json(refused)).into_response();
                        }
                        github.issues += 1;
                        let number = 41 + github.issues;
                        let repository = &path["/repos/".len()..path.len() - "/issues".len()];
                        let url = format!("https://github.com/{repository}/issues/{number}");
                        let issue = json!({"id": 9000 + number, "number": number, "html_url": url, "state": "open",
                            "title": body["title"], "body": body["body"], "user": {"login": "octo-bot"}});
                        (StatusCode::CREATED, axum::Json(issue)).into_response()
                    }
                    comments if write && comments.starts_with("/repos/acme/") && comments.ends_with("/comments") => {
                        let comment = json!({"id": 1, "body": body["body"], "html_url": "https://github.com/acme/shop/issues/1#issuecomment-1"});
                        (StatusCode::CREATED, axum::Json(comment)).into_response()
                    }
                    issue if parts.method == axum::http::Method::PATCH && issue.starts_with("/repos/acme/") => {
                        axum::Json(json!({"number": 1, "state": body["state"], "state_reason": body["state_reason"]}))
                            .into_response()
                    }
                    _ => (StatusCode::NOT_FOUND, axum::Json(json!({"message": "Not Found"}))).into_response(),
                }
            }
        }
    };
    let router = axum::Router::new().fallback(answer).with_state(shared.clone());
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    (base, shared)
}

pub(crate) async fn with_github() -> (TestApp, Shared) {
    let (base, github) = loopback_github().await;
    let app = TestApp::spawn_with(|settings| settings.github_api_base = base.clone()).await;
    (app, github)
}

pub(crate) async fn connect(owner: &User) -> Result<String, AppError> {
    owner.run(ConnectGithub { token: "ghp_loopback_token".into() }).await
}

#[tokio::test]
async fn a_token_is_tested_with_githubs_headers_kept_sealed_and_a_revoked_one_is_refused() {
    let (app, github) = with_github().await;
    let owner = app.user();
    owner.sign_up("owner@gh.example", "gh").await;

    let refused = owner.run(ConnectGithub { token: "ghp_revoked".into() }).await;
    let Err(AppError::Validation(errors)) = &refused else { panic!("{refused:?}") };
    assert!(errors[0].message.contains("GitHub refused the token (HTTP 401)"), "{errors:?}");
    assert_eq!(owner.run(GetGithub {}).await.unwrap().login, None, "nothing is saved");

    assert_eq!(connect(&owner).await.unwrap(), "octo-bot");
    let request = github.lock().unwrap().received.last().cloned().unwrap();
    assert_eq!((request.method.as_str(), request.path.as_str()), ("GET", "/user"));
    assert_eq!(request.headers["authorization"], "Bearer ghp_loopback_token");
    assert_eq!(request.headers["accept"], "application/vnd.github+json");
    assert_eq!(request.headers["x-github-api-version"], "2022-11-28");
    assert!(request.headers["user-agent"].to_str().unwrap().starts_with("DreamOps/"));
    let stored: Vec<u8> =
        sqlx::query_scalar("select token from github_connections").fetch_one(&app.state().db).await.unwrap();
    assert!(!String::from_utf8_lossy(&stored).contains("ghp_loopback_token"), "the token is sealed");
    assert_eq!(owner.run(TestGithub {}).await.unwrap(), "octo-bot");

    // The service map: one per line, the branch main unless named; mistakes named.
    let saved = owner
        .run(SetGithubRepositories { repositories: "checkout = acme/shop\npayments = acme/pay@release\n".into() })
        .await
        .unwrap();
    assert_eq!(saved.len(), 2);
    assert_eq!((saved[1].repository.as_str(), saved[1].branch.as_str()), ("acme/pay", "release"));
    for bad in
        ["checkout acme/shop", "checkout = acme", "checkout = acme/shop\ncheckout = acme/other", "x = ../etc/passwd"]
    {
        let refused = owner.run(SetGithubRepositories { repositories: bad.into() }).await;
        assert!(matches!(refused, Err(AppError::Validation(_))), "{bad}: {refused:?}");
    }
    assert_eq!(owner.run(GetGithub {}).await.unwrap().repositories.len(), 2, "a refused map changes nothing");

    // Rate limited: the test says so, with when to come back.
    github.lock().unwrap().mode = Mode::RateLimited403;
    let limited = owner.run(TestGithub {}).await;
    assert!(matches!(&limited, Err(AppError::Conflict(said)) if said.contains("rate limit is reached")), "{limited:?}");
    app.stop().await;
}

/// The incident the demo cluster's crash-looping release opened, and its service.
pub(crate) async fn crash_loop(app: &TestApp, owner: &User, cluster: uuid::Uuid) -> (uuid::Uuid, String) {
    owner.run(SimulateFailure { id: cluster, failure: SimulatedFailure::PodCrash }).await.expect("simulated");
    let (incident, service): (uuid::Uuid, Option<String>) =
        sqlx::query_as("select id, service from incidents order by first_seen_at desc limit 1")
            .fetch_one(&app.state().db)
            .await
            .unwrap();
    (incident, service.expect("the alert names a service"))
}

#[tokio::test]
async fn the_analysis_names_the_pull_request_merged_before_the_first_alert_and_its_rollout() {
    let (app, github) = with_github().await;
    let (owner, cluster, _) = with_demo_cluster(&app, "owner@changed.example").await;
    connect(&owner).await.unwrap();
    github.lock().unwrap().merged_at = Some(Utc::now() - Duration::minutes(12));
    let (incident, service) = crash_loop(&app, &owner, cluster).await;
    owner.run(SetGithubRepositories { repositories: format!("{service} = acme/shop") }).await.unwrap();

    let analysed = analysis(&owner, incident).await;
    let changed =
        analysed.evidence.iter().find(|e| e.source == "what changed (GitHub)").expect("what changed is evidence");
    assert!(
        changed.line.starts_with("Changed 12 minutes before the first alert: PR #123 \"Bump cache size\" by alice (acme/shop), deployed as revision "),
        "{}",
        changed.line
    );
    let requests = github.lock().unwrap().received.clone();
    let pulls: Vec<&Received> = requests.iter().filter(|r| r.path == "/repos/acme/shop/pulls").collect();
    assert_eq!(pulls.len(), 2, "the second page was followed");
    for expected in ["state=closed", "base=main", "sort=updated", "direction=desc", "per_page=100"] {
        assert!(pulls[0].query.contains(expected), "{expected} in {}", pulls[0].query);
    }
    assert!(pulls[1].query.contains("page=2"));
    assert!(requests.iter().all(|r| r.headers["x-github-api-version"] == "2022-11-28"));
    let steps = app.agent_steps(incident).await;
    assert!(steps.iter().any(|step| step.starts_with("Changed 12 minutes before the first alert")), "{steps:?}");
    assert!(analysed.actions.iter().any(|a| a.change.kind() == "roll_back"), "{:?}", analysed.actions);
    assert_eq!(analysed.confidence.as_str(), "high", "a rollout right after a merge makes rolling back likelier");
    app.stop().await;
}

#[tokio::test]
async fn a_rate_limited_github_leaves_the_analysis_whole_and_says_when_it_can_be_asked_again() {
    for mode in [Mode::RateLimited403, Mode::RateLimited429] {
        let (app, github) = with_github().await;
        let (owner, cluster, _) = with_demo_cluster(&app, "owner@limited.example").await;
        connect(&owner).await.unwrap();
        let (incident, service) = crash_loop(&app, &owner, cluster).await;
        owner.run(SetGithubRepositories { repositories: format!("{service} = acme/shop") }).await.unwrap();
        github.lock().unwrap().mode = mode;
        let analysed = analysis(&owner, incident).await;
        assert!(analysed.evidence.iter().all(|e| e.source != "what changed (GitHub)"), "{mode:?}");
        let steps = app.agent_steps(incident).await;
        let said = steps.iter().find(|step| step.starts_with("What changed could not be read from GitHub")).cloned();
        assert!(analysed.root_cause.len() > 10, "the analysis stands without GitHub");
        let said = said.unwrap_or_else(|| panic!("{mode:?}: {steps:?}"));
        assert!(said.contains("GitHub's rate limit is reached until"), "{said}");
        app.stop().await;
    }
}
