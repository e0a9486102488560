//! Sign-up, sign-in, sessions, passwords, throttling and CSRF, against real PostgreSQL.

use std::time::Duration;

use axum::http::StatusCode;

use app::api::accounts::{ChangePassword, LogIn, LogOut, SignUp, VerifyEmail};
use app::domain::account::Role;
use app::error::{AppError, FieldError};

use crate::support::{PASSWORD, TestApp, join_all};

fn sign_up(email: &str, password: &str, team_name: &str) -> SignUp {
    SignUp { email: email.into(), password: password.into(), team_name: team_name.into(), invitation: None }
}

fn log_in(email: &str, password: &str) -> LogIn {
    LogIn { email: email.into(), password: password.into(), next: None }
}

/// The fields a refusal names, in order; panics unless the input was refused as invalid.
fn refused_fields<T: std::fmt::Debug>(answer: Result<T, AppError>) -> Vec<FieldError> {
    match answer {
        Err(AppError::Validation(fields)) => fields,
        other => panic!("not refused as invalid input: {other:?}"),
    }
}

#[tokio::test]
async fn sign_up_creates_the_user_their_team_and_ownership_and_the_mailed_link_signs_in() {
    let app = TestApp::spawn().await;
    let ana = app.user();
    ana.run(sign_up("Ana@Example.com", PASSWORD, "Payments")).await.expect("signed up");
    assert!(ana.viewer().await.is_none(), "not signed in until the address is confirmed");
    let token = ana.mailed_token("ana@example.com", "verify_email").await;
    ana.run(VerifyEmail { token }).await.expect("the link confirms the address");

    let viewer = ana.viewer().await.expect("signed in");
    assert!(viewer.email_verified);
    assert_eq!(viewer.email, "Ana@Example.com");
    assert_eq!(viewer.team.as_ref().expect("in a team").team_name, "Payments");
    assert_eq!(viewer.team.as_ref().expect("in a team").role, Role::Owner);

    let db = app.db().await;
    let plan: String = sqlx::query_scalar("select plan from teams").fetch_one(&db).await.unwrap();
    assert_eq!(plan, "free");
    let actions: Vec<String> = sqlx::query_scalar("select action from audit_log").fetch_all(&db).await.unwrap();
    assert_eq!(actions, ["account.signed_up", "account.email_verified"]);
    app.stop().await;
}

#[tokio::test]
async fn passwords_are_hashed_with_argon2id_at_owasp_strength() {
    let app = TestApp::spawn().await;
    app.user().sign_up("ana@example.com", "Payments").await;
    let hash: String = sqlx::query_scalar("select password_hash from users").fetch_one(&app.db().await).await.unwrap();
    assert!(hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{hash}");
    assert!(!hash.contains(PASSWORD));
    app.stop().await;
}

#[tokio::test]
async fn sign_up_never_tells_whether_an_address_has_an_account_and_creates_nothing_twice() {
    let app = TestApp::spawn().await;
    app.user().sign_up("ana@example.com", "Payments").await;
    let form = |email: &'static str| [("email", email), ("password", PASSWORD), ("team_name", "Other")];
    let post = |email: &'static str| {
        let request = app.client.post(format!("{}/api/sign_up", app.address));
        async move { request.form(&form(email)).send().await.unwrap() }
    };
    let (taken, new) = (post("ANA@example.com").await, post("new@example.com").await);
    assert_eq!(taken.status(), new.status());
    assert_eq!(taken.headers().get("set-cookie").is_some(), new.headers().get("set-cookie").is_some());
    assert_eq!(taken.text().await.unwrap(), new.text().await.unwrap());

    let db = app.db().await;
    let teams: i64 = sqlx::query_scalar("select count(*) from teams").fetch_one(&db).await.unwrap();
    assert_eq!(teams, 2, "Payments and new@'s team; nothing for the taken address");
    // The holder of the taken address is told, by mail, how to sign in instead.
    let told: Vec<String> =
        sqlx::query_scalar("select purpose from mails where recipient = 'ana@example.com' order by created_at")
            .fetch_all(&db)
            .await
            .unwrap();
    assert_eq!(told, ["verify_email", "already_registered"]);
    app.stop().await;
}

#[tokio::test]
async fn signing_in_ignores_the_case_of_the_email() {
    let app = TestApp::spawn().await;
    app.user().sign_up("ana@example.com", "Payments").await;
    app.user().run(log_in("ANA@Example.COM", PASSWORD)).await.expect("the same account, however it is typed");
    app.stop().await;
}

#[tokio::test]
async fn bad_sign_up_input_names_every_field_and_creates_nothing() {
    let app = TestApp::spawn().await;
    let long_email = format!("{}@example.com", "a".repeat(250));
    let long_password = "x".repeat(129);
    let long_team = "t".repeat(81);
    let cases: [(&str, &str, &str, &[&str]); 6] = [
        ("", "", "", &["email", "password", "team_name"]),
        ("not-an-email", PASSWORD, "Team", &["email"]),
        (&long_email, PASSWORD, "Team", &["email"]),
        ("ana@example.com", "short", "Team", &["password"]),
        ("ana@example.com", &long_password, "Team", &["password"]),
        ("ana@example.com", "Password123", &long_team, &["password", "team_name"]),
    ];
    for (email, password, team, fields) in cases {
        let refused = refused_fields(app.user().run(sign_up(email, password, team)).await);
        let named: Vec<&str> = refused.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(named, fields, "{email:?} {password:?} {team:?}");
    }
    let users: i64 = sqlx::query_scalar("select count(*) from users").fetch_one(&app.db().await).await.unwrap();
    assert_eq!(users, 0);
    app.stop().await;
}

fn session_cookie(response: &reqwest::Response) -> Option<String> {
    response
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|value| value.to_str().ok())
        .find(|value| value.starts_with("dreamops_session="))
        .map(str::to_string)
}

#[tokio::test]
async fn the_session_id_changes_at_login_and_the_cookie_is_locked_down() {
    let app = TestApp::spawn().await;
    app.user().sign_up("ana@example.com", "Payments").await;

    // A visitor gets a session before signing in (here: a failed attempt stores nothing,
    // so plant one the way an attacker would, by sending a cookie).
    let planted = "dreamops_session=planted-session-id";
    let response = app
        .client
        .post(format!("{}/api/log_in", app.address))
        .header("cookie", planted)
        .form(&[("email", "ana@example.com"), ("password", PASSWORD)])
        .send()
        .await
        .unwrap();
    assert!(response.status().is_success() || response.status().is_redirection());
    let cookie = session_cookie(&response).expect("login sets the session cookie");
    assert!(!cookie.contains("planted-session-id"), "{cookie}");
    assert!(cookie.contains("HttpOnly"), "{cookie}");
    assert!(cookie.contains("SameSite=Lax"), "{cookie}");
    assert!(cookie.contains("Path=/"), "{cookie}");

    // Logging in twice gives two different sessions.
    let first = app.user();
    first.log_in("ana@example.com", PASSWORD).await;
    let response = app
        .client
        .post(format!("{}/api/log_in", app.address))
        .form(&[("email", "ana@example.com"), ("password", PASSWORD)])
        .send()
        .await
        .unwrap();
    let second_cookie = session_cookie(&response).unwrap();
    assert_ne!(second_cookie.split(';').next(), cookie.split(';').next());
    app.stop().await;
}

#[tokio::test]
async fn logout_deletes_the_server_side_session() {
    let app = TestApp::spawn().await;
    let ana = app.user();
    ana.sign_up("ana@example.com", "Payments").await;
    let db = app.db().await;
    let before: i64 = sqlx::query_scalar("select count(*) from tower_sessions.session").fetch_one(&db).await.unwrap();
    assert_eq!(before, 1);
    ana.run(LogOut {}).await.expect("signed out");
    let after: i64 = sqlx::query_scalar("select count(*) from tower_sessions.session").fetch_one(&db).await.unwrap();
    assert_eq!(after, 0);
    assert!(ana.viewer().await.is_none());
    app.stop().await;
}

#[tokio::test]
async fn changing_the_password_ends_every_other_session() {
    let app = TestApp::spawn().await;
    let laptop = app.user();
    laptop.sign_up("ana@example.com", "Payments").await;
    let phone = app.user();
    phone.log_in("ana@example.com", PASSWORD).await;
    assert!(phone.viewer().await.is_some());

    let change = |current: &str| ChangePassword {
        current_password: current.into(),
        new_password: "a new long passphrase".into(),
    };
    let wrong = laptop.run(change("nope nope")).await;
    assert!(matches!(wrong, Err(AppError::Validation(_))), "{wrong:?}");
    laptop.run(change(PASSWORD)).await.expect("the password is changed");

    assert!(phone.viewer().await.is_none(), "the other session ended");
    assert!(laptop.viewer().await.is_some(), "this session carries on");
    let stale = app.user();
    let old = stale.run(log_in("ana@example.com", PASSWORD)).await;
    assert!(matches!(old, Err(AppError::Validation(_))), "the old password no longer works: {old:?}");
    stale.log_in("ana@example.com", "a new long passphrase").await;
    app.stop().await;
}

#[tokio::test]
async fn a_wrong_password_gets_one_message_whether_or_not_the_account_exists() {
    let app = TestApp::spawn().await;
    app.user().sign_up("ana@example.com", "Payments").await;
    let mut messages = Vec::new();
    for email in ["ana@example.com", "nobody@example.com"] {
        let refused = refused_fields(app.user().run(log_in(email, "wrong password")).await);
        messages.push(refused[0].message.clone());
    }
    assert_eq!(messages[0], messages[1]);
    app.stop().await;
}

#[tokio::test]
async fn failed_logins_are_throttled_and_the_throttle_expires() {
    let app = TestApp::spawn().await;
    app.user().sign_up("ana@example.com", "Payments").await;
    let attacker = app.user();
    for attempt in 1..=10 {
        let refused = attacker.run(log_in("ana@example.com", "guess")).await;
        assert!(matches!(refused, Err(AppError::Validation(_))), "attempt {attempt}: {refused:?}");
    }
    // The raw answer: the throttle's header is part of it.
    let blocked = attacker.send(log_in("ana@example.com", PASSWORD)).await;
    assert_eq!(blocked.status(), StatusCode::TOO_MANY_REQUESTS);
    let retry_after: u64 = blocked.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=900).contains(&retry_after), "{retry_after}");
    let said: AppError = blocked.json().await.unwrap();
    assert!(matches!(said, AppError::TooManyRequests { retry_after_secs } if retry_after_secs > 0), "{said:?}");

    let db = app.db().await;
    let throttled: i64 = sqlx::query_scalar("select count(*) from audit_log where action = 'auth.login_throttled'")
        .fetch_one(&db)
        .await
        .unwrap();
    assert_eq!(throttled, 1, "the burst is in the audit trail once");

    // Fifteen minutes later the failures have aged out of the window.
    sqlx::query("update login_attempts set attempted_at = attempted_at - interval '16 minutes'")
        .execute(&db)
        .await
        .unwrap();
    attacker.log_in("ana@example.com", PASSWORD).await;
    app.stop().await;
}

/// Posts a sign-in from `address` (as the trusted proxy's header says); its status.
async fn log_in_from(app: &TestApp, address: &str, email: &str, password: &str) -> StatusCode {
    app.client
        .post(format!("{}/api/log_in", app.address))
        .header("x-client-ip", address)
        .form(&[("email", email), ("password", password)])
        .send()
        .await
        .unwrap()
        .status()
}

#[tokio::test]
async fn guesses_sent_in_parallel_are_all_counted() {
    let app = TestApp::spawn().await;
    app.user().sign_up("ana@example.com", "Payments").await;
    let statuses = join_all((0..40).map(|_| {
        let client = app.client.clone();
        let url = format!("{}/api/log_in", app.address);
        async move {
            client.post(url).form(&[("email", "ana@example.com"), ("password", "guess")]).send().await.unwrap().status()
        }
    }))
    .await;
    let checked = statuses.iter().filter(|status| **status == StatusCode::UNPROCESSABLE_ENTITY).count();
    let refused = statuses.iter().filter(|status| **status == StatusCode::TOO_MANY_REQUESTS).count();
    assert_eq!((checked, refused), (10, 30), "at most 10 guesses per address are checked: {statuses:?}");
    let right = app.client.post(format!("{}/api/log_in", app.address));
    let right = right.form(&[("email", "ana@example.com"), ("password", PASSWORD)]).send().await.unwrap();
    assert_eq!(right.status(), StatusCode::TOO_MANY_REQUESTS, "the address waits, even with the password");
    app.stop().await;
}

/// Guessing from many addresses slows an account's sign-ins down; it never locks its
/// owner out.
#[tokio::test]
async fn nobody_can_lock_someone_else_out_of_their_account() {
    let app = TestApp::spawn_with(|settings| settings.sessions.client_ip_header = Some("x-client-ip".into())).await;
    app.user().sign_up("ana@example.com", "Payments").await;
    // The account is the same however its address is typed: the guesses count together.
    let spellings = ["ana@example.com", "ANA@example.com", "Ana@Example.com", "anA@EXAMPLE.COM", "aNa@example.com"];
    for attacker in 0..6 {
        for spelling in spellings {
            let status = log_in_from(&app, &format!("203.0.113.{attacker}"), spelling, "guess").await;
            assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
        }
    }
    // 30 failures against the account: over its limit of 20, so slowed, never refused.
    let started = std::time::Instant::now();
    assert_eq!(log_in_from(&app, "198.51.100.7", "ana@example.com", PASSWORD).await, StatusCode::OK);
    println!("the owner signed in after {:?} with the account under attack", started.elapsed());
    assert!(started.elapsed() >= app::server::auth::throttle::SLOW_DOWN, "the account's attempts are slowed down");
    app.stop().await;
}

#[tokio::test]
async fn sign_ups_are_throttled_per_address_and_in_all() {
    let app = TestApp::spawn_with(|settings| {
        settings.sessions.client_ip_header = Some("x-client-ip".into());
        settings.sessions.sign_ups_per_address = 10;
        settings.sessions.sign_ups_in_all = 25;
    })
    .await;
    let sign_up = |address: String, n: usize| {
        let client = app.client.clone();
        let url = format!("{}/api/sign_up", app.address);
        async move {
            let email = format!("user{n}@{}.example", address.replace('.', "-"));
            let form = [("email", email.as_str()), ("password", PASSWORD), ("team_name", "Burst")];
            client.post(url).header("x-client-ip", address).form(&form).send().await.unwrap().status()
        }
    };
    // A burst of 30 from one address: 10 accounts, and 20 refusals before any hashing.
    let statuses = join_all((0..30).map(|n| sign_up("192.0.2.1".into(), n))).await;
    let created = statuses.iter().filter(|status| status.is_success() || status.is_redirection()).count();
    let refused = statuses.iter().filter(|status| **status == StatusCode::TOO_MANY_REQUESTS).count();
    assert_eq!((created, refused), (10, 20), "{statuses:?}");
    // From many addresses: the deployment's limit (25 attempts, the 30 above counted).
    let statuses = join_all((0..10).map(|n| sign_up(format!("192.0.2.{}", 10 + n), n))).await;
    assert!(statuses.iter().all(|status| *status == StatusCode::TOO_MANY_REQUESTS), "{statuses:?}");
    let users: i64 = sqlx::query_scalar("select count(*) from users").fetch_one(&app.db().await).await.unwrap();
    assert_eq!(users, 10);
    app.stop().await;
}

#[tokio::test]
async fn cross_origin_state_changes_are_refused() {
    let app = TestApp::spawn().await;
    let forged = app
        .client
        .post(format!("{}/api/sign_up", app.address))
        .header("origin", "https://evil.example")
        .form(&[("email", "ana@example.com"), ("password", PASSWORD), ("team_name", "Payments")])
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), StatusCode::FORBIDDEN);
    let fetched = app
        .client
        .post(format!("{}/api/sign_up", app.address))
        .header("sec-fetch-site", "cross-site")
        .form(&[("email", "ana@example.com"), ("password", PASSWORD), ("team_name", "Payments")])
        .send()
        .await
        .unwrap();
    assert_eq!(fetched.status(), StatusCode::FORBIDDEN);
    let users: i64 = sqlx::query_scalar("select count(*) from users").fetch_one(&app.db().await).await.unwrap();
    assert_eq!(users, 0, "nothing was created");

    let host = app.address.trim_start_matches("http://").to_string();
    let same = app
        .client
        .post(format!("{}/api/sign_up", app.address))
        .header("origin", format!("http://{host}"))
        .form(&[("email", "ana@example.com"), ("password", PASSWORD), ("team_name", "Payments")])
        .send()
        .await
        .unwrap();
    assert!(same.status().is_success() || same.status().is_redirection(), "{}", same.status());
    app.stop().await;
}

#[tokio::test]
async fn sessions_end_after_their_idle_timeout_and_their_absolute_lifetime() {
    let app = TestApp::spawn_with(|settings| settings.sessions.max_age = Duration::from_secs(2)).await;
    let ana = app.user();
    ana.sign_up("ana@example.com", "Payments").await;
    assert!(ana.viewer().await.is_some());

    // Idle: the store no longer returns a session past its expiry.
    let bob = app.user();
    bob.sign_up("bob@example.com", "Search").await;
    sqlx::query("update tower_sessions.session set expiry_date = now() - interval '1 second'")
        .execute(&app.db().await)
        .await
        .unwrap();
    assert!(bob.viewer().await.is_none(), "an idle session has ended");

    // Absolute: however busy, a session ends its lifetime after sign-in.
    let carol = app.user();
    carol.sign_up("carol@example.com", "Billing").await;
    assert!(carol.viewer().await.is_some());
    tokio::time::sleep(Duration::from_millis(3100)).await;
    assert!(carol.viewer().await.is_none(), "the session outlived its absolute lifetime");
    app.stop().await;
}

#[tokio::test]
async fn over_https_the_cookie_is_secure_and_host_bound() {
    let app = TestApp::spawn_with(|settings| settings.sessions.secure_cookies = true).await;
    app.user().run(sign_up("ana@example.com", PASSWORD, "Payments")).await.expect("signed up");
    let response = app
        .client
        .post(format!("{}/api/log_in", app.address))
        .form(&[("email", "ana@example.com"), ("password", PASSWORD)])
        .send()
        .await
        .unwrap();
    let cookie = response
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|value| value.to_str().ok())
        .find(|value| value.starts_with("__Host-dreamops_session="))
        .expect("the __Host- cookie")
        .to_string();
    assert!(cookie.contains("Secure") && cookie.contains("HttpOnly") && cookie.contains("Path=/"), "{cookie}");
    assert!(!cookie.contains("Domain="), "{cookie}");
    app.stop().await;
}

/// When the store says the session expires: pushed out each time the session is written.
async fn session_expiry(app: &TestApp) -> chrono::DateTime<chrono::Utc> {
    sqlx::query_scalar("select expiry_date from tower_sessions.session").fetch_one(&app.db().await).await.unwrap()
}

#[tokio::test]
async fn the_browser_bundle_is_served_without_touching_the_session() {
    // Renewed at most every second, so that the check at the end can see a renewal.
    let app = TestApp::spawn_with(|settings| settings.sessions.idle_timeout = Duration::from_secs(2)).await;
    let ana = app.user();
    ana.sign_up("ana@example.com", "Payments").await;
    let before = session_expiry(&app).await;
    tokio::time::sleep(Duration::from_millis(1100)).await;
    ana.client.get(format!("{}/pkg/dreamops.css", ana.address)).send().await.unwrap();
    assert_eq!(session_expiry(&app).await, before, "an asset request left the session alone");
    ana.viewer().await;
    assert!(session_expiry(&app).await > before, "a page's request renews it (the check above can fail)");
    app.stop().await;
}

#[tokio::test]
async fn a_session_in_use_is_written_at_most_once_per_renewal() {
    let app = TestApp::spawn_with(|settings| settings.sessions.idle_timeout = Duration::from_secs(4)).await;
    assert_eq!(app.state().settings.sessions.renewal(), Duration::from_secs(2));
    let ana = app.user();
    ana.sign_up("ana@example.com", "Payments").await;
    let signed_in = session_expiry(&app).await;
    for _ in 0..5 {
        assert!(ana.viewer().await.is_some());
        assert!(ana.client.get(format!("{}/dashboard", ana.address)).send().await.unwrap().status().is_success());
    }
    assert_eq!(session_expiry(&app).await, signed_in, "requests within the renewal read the session, never write it");

    tokio::time::sleep(Duration::from_millis(2100)).await;
    assert!(ana.viewer().await.is_some());
    let renewed = session_expiry(&app).await;
    assert!(renewed > signed_in, "the first request after the renewal interval writes it once");
    assert!(ana.viewer().await.is_some());
    assert_eq!(session_expiry(&app).await, renewed, "and the next one does not");
    app.stop().await;
}

#[tokio::test]
async fn an_idle_session_ends_within_its_timeout_plus_the_renewal_and_a_busy_one_lives_on() {
    let app = TestApp::spawn_with(|settings| settings.sessions.idle_timeout = Duration::from_secs(2)).await;
    let renewal = app.state().settings.sessions.renewal();
    let (ana, bob) = (app.user(), app.user());
    ana.sign_up("ana@example.com", "Payments").await;
    bob.sign_up("bob@example.com", "Search").await;

    // Ana keeps working for twice her idle timeout: renewed as she goes, she stays in.
    for _ in 0..8 {
        tokio::time::sleep(Duration::from_millis(500)).await;
        assert!(ana.viewer().await.is_some(), "a session in use does not end");
    }
    // Bob, idle all that time (4 s), was signed out by then: within timeout + renewal.
    assert!(Duration::from_secs(4) >= Duration::from_secs(2) + renewal);
    assert!(bob.viewer().await.is_none(), "an idle session ended within its timeout plus the renewal");
    app.stop().await;
}

/// Every table's rows, as one digest per table (the session store's schema aside: reading
/// a session may renew it).
async fn contents(db: &sqlx::PgPool) -> Vec<(String, String)> {
    let tables: Vec<String> = sqlx::query_scalar(
        "select table_name::text from information_schema.tables
         where table_schema = 'public' and table_type = 'BASE TABLE' order by 1",
    )
    .fetch_all(db)
    .await
    .unwrap();
    let mut digests = Vec::new();
    for table in tables {
        let digest: String = sqlx::query_scalar(&format!(
            "select md5(coalesce(string_agg(t::text, '|' order by t::text), '')) from {table} t"
        ))
        .fetch_one(db)
        .await
        .unwrap();
        digests.push((table, digest));
    }
    digests
}

/// No GET changes anything: every GET server function (read from the registry, so one
/// added later is covered), the pages, the CSV export and the probes, called with real
/// ids, leave every table as it was.
#[tokio::test]
async fn no_get_request_changes_anything() {
    let app = TestApp::spawn().await;
    let (owner, cluster, _) = crate::demo_cluster::with_demo_cluster(&app, "owner@reads.example").await;
    let key = owner.api_key("ci").await;
    let alert: serde_json::Value =
        app.send_rest_alert(&key, &serde_json::json!({"title": "Checkout is down"})).await.json().await.unwrap();
    let incident = alert["incident_id"].as_str().unwrap().to_string();
    let token = owner.invite("vic@reads.example", Role::Viewer).await.trim_start_matches("/invitations/").to_string();
    // Let the agent finish with the incident, so that only the requests below could write.
    app.run_pending_jobs().await;
    let db = app.db().await;
    let before = contents(&db).await;

    let mut paths: Vec<String> = leptos::server_fn::axum::server_fn_paths()
        .filter(|(_, method)| *method == axum::http::Method::GET)
        .flat_map(|(path, _)| {
            [&incident, &cluster.to_string()]
                .map(|id| format!("{path}?id={id}&token={token}&session=cs_test_unknown&cursor=&status=&q="))
        })
        .collect();
    assert!(paths.len() >= 40, "the GET server functions: {paths:?}");
    paths.extend(
        [
            "/",
            "/dashboard",
            "/incidents",
            &format!("/incidents/{incident}"),
            "/settings/integrations",
            "/settings/clusters",
            &format!("/settings/clusters/{cluster}"),
            "/settings/members",
            "/settings/api-keys",
            "/settings/account",
            "/settings/ai",
            "/settings/billing",
            "/settings/audit-log",
            "/settings/audit-log.csv",
            "/billing/checkout/cs_test_unknown",
            &format!("/invitations/{token}"),
            "/pricing",
            "/status",
            "/health",
            "/ready",
        ]
        .map(str::to_string),
    );
    for path in &paths {
        let response = owner.client.get(format!("{}{path}", app.address)).send().await.unwrap();
        assert!(response.status().as_u16() < 500, "{path}: {}", response.status());
    }
    let after = contents(&db).await;
    let changed: Vec<&String> =
        before.iter().zip(&after).filter(|(b, a)| b != a).map(|((table, _), _)| table).collect();
    assert!(changed.is_empty(), "GET requests changed {changed:?}");
    app.stop().await;
}
