//! GitHub against a loopback server speaking GitHub's documented JSON: the connection
//! test and a revoked token, the service map, and "what changed" in the agent's
//! analysis — merged pull requests found across `Link` pages, matched with the demo
//! cluster's rollout — and GitHub's rate limits (403 and 429 with their reset headers).

use std::sync::{Arc, Mutex};

use chrono::{Duration, Utc};
use serde_json::{Value, json};

use app::api::clusters::SimulateFailure;
use app::api::github::{ConnectGithub, GetGithub, SetGithubRepositories, TestGithub};
use app::domain::cluster::SimulatedFailure;
use app::error::AppError;

use crate::agent::analysis;
use crate::demo_cluster::with_demo_cluster;
use crate::support::{TestApp, User};

/// The private key of the loopback's GitHub App (made for these tests; it signs nothing
/// else), as GitHub hands one out: PKCS#1 PEM.
pub(crate) const APP_KEY: &str = "-----BEGIN RSA PRIVATE KEY-----\nMIIEogIBAAKCAQEArv/+Ead8hlFeSnsDtRGBsTiNaxU66WxCmDyk1nZdl9ieOc8R\nILghuj6psEswWLfOb1MhBy4PcjIPqAj1Ij36gb5am6+gaXMB/sAxYDVW9GoWEQgw\n/WPlqwKmFvy+QhY69M0hN8BUUSnvQap6H5THwjejX/1zgA10sjkKR/WtbWoGJEOd\nyQFMj7EYwet5J0klsiPmcosg10KkqmidiQuc8qIpqe4niAZnDwwl5cBSW2qvT8UB\nb0kh3xe8klHmSETH11AjyqgsfXooisWdud74ZuHreeL4CTdtvxBd/WJEWGqJiSRC\n8Bu/r+DYczOF7KReeebqWHNdpdhNDiOJ3oV8NwIDAQABAoIBAE91uinO+FpOyPcd\nqx3E0LQk/wV/0suZVhWk953PigjAGXwbOuY15U6ZVFhRk6a88vWWc9k8P1Q1Semd\nA51kMgJGagLl+HrY9y9ymhjar1x0bQeXxhLQEMEZB0xJv6PnTybHm40ifcaKuXIC\nE8iSOC/GLp8PyKl8sp+YCcSJ15Dlgp9hHIdm0Uu2Y+FenfbtSuKmpt0GNi5ecLmk\nkni0tYXtS6poMJKeT0xR6/owWKqTiCKc0TinzAptR/z0jB3fq2RPxxG3vloS8LTF\nsgjlNa6hm6Dz4yZ5XzLs1Hw2xugYp1mYAkdabSU+Ck5+auLwXyJJwJcdGX6WV4QK\nDd8xEg0CgYEA1sERQ0e7Q1Ep1Cu2/oS5yBaBsyMQZuWzZDTzNvWRTjl9Az8vUFr6\ncUid0A/P056gJkSgAgVMhFtS0D2sMiE2czip0bWGM98ZnhHRvp21e3HIS85xf0AO\nPnvULBKiImuoDa0SLWwLNXIJjYcqyyewBR+vwyfIOfZZ4Ws5+zX0E7UCgYEA0JxP\nJNKrxaE0v5Rsme+pO1fbBJqcqJqTK2pc1Y4YWVM5YQFOO7/fesh0gEFpj2xkLBaX\nT1A8/A7xmT8SKwpn7EIoo1LmDTLD+8DWzdff6U/d08ONe10Qyii71iq+uq21bwjx\nxuzujwTd6pzQB3B8JijdtKyS9ciFX/9qBCDrG7sCgYBCY4UWq4I0mU65DJqRrC5S\nsMJ/woM7jB8dB1F42AmHiTYgXtQdn0J06uH+hCTXYt5XdjeQ6FpzQFglkCs/hAz1\nKbs13UwTlRCyUQfqSY7lDpPA+50SnZbJsjYxOcFtqqJVN/+6kwAUEaDqY7LTAv3j\nV5xaVF4NrR60FRXjlxZRUQKBgDUZtKOg5Ix3zl99vm8orCEo6d0wJfRc9F02w86w\nTs5d+tsQZAOdgZtVbyI+hEo3wv/d+EH+IKfgfesOPOerzGw9Iu7/6QMvCugIXCUl\ncB+JbuO6gUcHl4B+AeIwG0CVevt6gWCrasYI7RwNMn7SSSfFeznEO9xIYHrhHvFS\nF8aFAoGATtv3FQ/6GRyYu3ETtc1Bk/cKydJrqZSw96FxIobcnEtuAg3JWqt9zjQG\nMt3pojX3Wiq9DzEuMZ7qu6e0VSj/n58uSqV+2ndK7F8Vri6In/0DKv0FqXbPkrn/\neCMCby0mKJZvTVQj0CryFT3jswiU9rjh1xx1xoN+D3wWrahl/3Q=\n-----END RSA PRIVATE KEY-----";
/// The loopback app's id and its one installation.
pub(crate) const APP_ID: &str = "123456";
pub(crate) const INSTALLATION: i64 = 77;

/// Whether `authorization` carries a JWT of the loopback app, as GitHub checks one: RS256
/// signed with the app's key, issued by its id, issued in the past and expiring within
/// ten minutes.
fn app_jwt_valid(authorization: &str) -> bool {
    use base64::Engine as _;
    use rsa::pkcs1::DecodeRsaPrivateKey as _;
    use rsa::signature::Verifier as _;
    let Some(jwt) = authorization.strip_prefix("Bearer ") else { return false };
    let parts: Vec<&str> = jwt.split('.').collect();
    let decode = |part: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(part).unwrap_or_default();
    if parts.len() != 3 {
        return false;
    }
    let header: Value = serde_json::from_slice(&decode(parts[0])).unwrap_or_default();
    let claims: Value = serde_json::from_slice(&decode(parts[1])).unwrap_or_default();
    let key = rsa::RsaPrivateKey::from_pkcs1_pem(APP_KEY).unwrap().to_public_key();
    let verifying = rsa::pkcs1v15::VerifyingKey::<sha2::Sha256>::new(key);
    let Ok(signature) = rsa::pkcs1v15::Signature::try_from(decode(parts[2]).as_slice()) else { return false };
    let now = Utc::now().timestamp();
    header["alg"] == "RS256"
        && verifying.verify(format!("{}.{}", parts[0], parts[1]).as_bytes(), &signature).is_ok()
        && claims["iss"] == APP_ID
        && claims["iat"].as_i64().is_some_and(|iat| iat <= now)
        && claims["exp"].as_i64().is_some_and(|exp| exp > now && exp <= now + 600)
}

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
    /// Installation tokens minted so far.
    pub minted: i64,
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
                // As the app (its JWT): who it is, and a token for its installation.
                if path == "/app" || path.starts_with("/app/") {
                    if !app_jwt_valid(token) || github.mode == Mode::Revoked {
                        let refused = json!({"message": "A JSON web token could not be decoded", "documentation_url": "https://docs.github.com/rest"});
                        return (StatusCode::UNAUTHORIZED, axum::Json(refused)).into_response();
                    }
                    if path == "/app" {
                        return axum::Json(json!({"id": 123456, "slug": "dreamops-acme", "name": "DreamOps Acme", "owner": {"login": "acme"}}))
                            .into_response();
                    }
                    if path == format!("/app/installations/{INSTALLATION}/access_tokens") && write {
                        github.minted += 1;
                        let token = format!("ghs_loopback_installation_{}", github.minted);
                        let expires =
                            (Utc::now() + Duration::hours(1)).to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
                        let minted = json!({"token": token, "expires_at": expires, "permissions": {"issues": "write", "pull_requests": "read"}, "repository_selection": "selected"});
                        return (StatusCode::CREATED, axum::Json(minted)).into_response();
                    }
                    return (StatusCode::NOT_FOUND, axum::Json(json!({"message": "Not Found"}))).into_response();
                }
                let installation = token.starts_with("Bearer ghs_loopback_installation_");
                if path == "/user" && installation {
                    // GitHub's answer to an installation token asking who it is.
                    let refused = json!({"message": "Resource not accessible by integration", "status": "403"});
                    return (StatusCode::FORBIDDEN, axum::Json(refused)).into_response();
                }
                if (token != "Bearer ghp_loopback_token" && !installation) || github.mode == Mode::Revoked {
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

#[tokio::test]
async fn a_github_app_installation_signs_its_jwt_and_reads_what_changed_with_a_token_it_keeps() {
    use app::api::github::ConnectGithubApp;
    let (app, github) = with_github().await;
    let (owner, cluster, _) = with_demo_cluster(&app, "owner@github-app.example").await;
    let connect = |app_id: &str, installation: &str, key: &str| ConnectGithubApp {
        app_id: app_id.into(),
        installation_id: installation.into(),
        private_key: key.into(),
    };
    let installation = INSTALLATION.to_string();
    for (attempt, field, said) in [
        (
            connect(APP_ID, &installation, "-----BEGIN RSA PRIVATE KEY-----\nnope\n-----END RSA PRIVATE KEY-----"),
            "private_key",
            "Paste the app's private key",
        ),
        (connect("999", &installation, APP_KEY), "app_id", "GitHub refused the token (HTTP 401)"),
        (connect(APP_ID, "78", APP_KEY), "installation_id", "(HTTP 404)"),
        (connect(APP_ID, "seventy", APP_KEY), "installation_id", "The installation's number"),
    ] {
        let refused = owner.run(attempt).await;
        let Err(AppError::Validation(errors)) = &refused else { panic!("{field}: {refused:?}") };
        assert_eq!(errors[0].field, field, "{errors:?}");
        assert!(errors[0].message.contains(said), "{field}: {errors:?}");
    }
    assert_eq!(owner.run(GetGithub {}).await.unwrap().login, None, "nothing is saved");

    assert_eq!(owner.run(connect(APP_ID, &installation, APP_KEY)).await.unwrap(), "dreamops-acme[bot]");
    assert_eq!(owner.run(GetGithub {}).await.unwrap().login.as_deref(), Some("dreamops-acme[bot]"));
    let stored: Vec<u8> =
        sqlx::query_scalar("select token from github_connections").fetch_one(&app.db().await).await.unwrap();
    assert!(!String::from_utf8_lossy(&stored).contains("PRIVATE KEY"), "the key is sealed");
    assert_eq!(owner.run(TestGithub {}).await.unwrap(), "dreamops-acme[bot]");
    let minted = github.lock().unwrap().minted;
    assert_eq!(minted, 2, "one token to check the installation, one for the test");

    github.lock().unwrap().merged_at = Some(Utc::now() - Duration::minutes(8));
    let (incident, service) = crash_loop(&app, &owner, cluster).await;
    owner.run(SetGithubRepositories { repositories: format!("{service} = acme/shop") }).await.unwrap();
    let analysed = analysis(&owner, incident).await;
    let changed = analysed.evidence.iter().find(|e| e.source == "what changed (GitHub)").expect("what changed");
    assert!(changed.line.starts_with("Changed 8 minutes before the first alert: PR #123"), "{}", changed.line);
    let requests = github.lock().unwrap().received.clone();
    let mut tokens: Vec<String> = requests
        .iter()
        .filter(|r| r.path.starts_with("/repos/"))
        .map(|r| r.headers["authorization"].to_str().unwrap().to_string())
        .collect();
    tokens.dedup();
    assert_eq!(tokens, [format!("Bearer ghs_loopback_installation_{minted}")], "the test's token, kept and reused");
    assert_eq!(github.lock().unwrap().minted, minted, "no token minted while one is kept");
    app.stop().await;
}
