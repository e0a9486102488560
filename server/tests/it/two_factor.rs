//! Two-factor sign-in with codes computed here from the secret, as an authenticator app
//! computes them: enrolment, the second step, replayed and wrong codes, recovery codes,
//! remembered browsers, turning it off, and a team that requires it.

use axum::http::StatusCode;
use totp_rs::{Algorithm, Secret, TOTP};

use app::api::accounts::{
    ChangePassword, ConfirmTwoFactor, LogIn, LogInWithCode, SetTeamTwoFactor, StartTwoFactor, TurnOffTwoFactor,
};
use app::api::members::ListMembers;
use app::domain::account::{Role, SignInStep};
use app::error::AppError;

use crate::support::{PASSWORD, TestApp, User};

/// The authenticator app: codes of `secret` (base32) at a time step from now.
struct App(TOTP);

impl App {
    fn new(secret: &str) -> App {
        let bytes = Secret::Encoded(secret.to_string()).to_bytes().unwrap();
        App(TOTP::new(Algorithm::SHA1, 6, 1, 30, bytes, None, String::new()).unwrap())
    }

    /// The code `steps` 30-second steps from now.
    fn code(&self, steps: i64) -> String {
        let now = chrono::Utc::now().timestamp() + steps * 30;
        self.0.generate(u64::try_from(now).unwrap())
    }
}

/// Turns two-factor sign-in on for `user`; the app and the recovery codes.
async fn enrol(user: &User) -> (App, Vec<String>) {
    let setup = user.run(StartTwoFactor {}).await.expect("enrolment starts");
    assert!(setup.qr_svg.starts_with("<?xml") || setup.qr_svg.contains("<svg"), "{}", &setup.qr_svg[..60]);
    assert!(setup.otpauth_url.contains(&format!("secret={}", setup.secret)), "{}", setup.otpauth_url);
    let app = App::new(&setup.secret);
    let codes = user.run(ConfirmTwoFactor { code: app.code(0) }).await.expect("the first code turns it on");
    (app, codes)
}

fn log_in(email: &str, password: &str) -> LogIn {
    LogIn { email: email.into(), password: password.into(), next: None }
}

fn with_code(code: &str, remember: bool) -> LogInWithCode {
    LogInWithCode { code: code.into(), remember_device: remember.then(|| "true".into()), next: None }
}

fn field_refused<T: std::fmt::Debug>(answer: Result<T, AppError>, field: &str) {
    assert!(matches!(&answer, Err(AppError::Validation(fields)) if fields[0].field == field), "{answer:?}");
}

#[tokio::test]
async fn enrolment_needs_a_right_first_code_and_then_signing_in_asks_for_a_fresh_one() {
    let app = TestApp::spawn().await;
    let ana = app.user();
    ana.sign_up("ana@example.com", "Payments").await;
    let setup = ana.run(StartTwoFactor {}).await.unwrap();
    field_refused(ana.run(ConfirmTwoFactor { code: "000000".into() }).await, "code");
    assert!(!ana.viewer().await.unwrap().two_factor, "not on before a right code");
    let phone = App::new(&setup.secret);
    let codes = ana.run(ConfirmTwoFactor { code: phone.code(0) }).await.expect("on");
    assert_eq!(codes.len(), 10);
    assert!(ana.viewer().await.unwrap().two_factor);
    // The secret is sealed at rest.
    let db = app.db().await;
    let stored: Vec<u8> = sqlx::query_scalar("select secret from two_factor").fetch_one(&db).await.unwrap();
    let raw = Secret::Encoded(setup.secret.clone()).to_bytes().unwrap();
    assert!(!stored.windows(raw.len()).any(|w| w == raw.as_slice()));

    // Signing in: the password, then a code.
    let browser = app.user();
    assert_eq!(browser.run(log_in("ana@example.com", PASSWORD)).await.unwrap(), SignInStep::CodeNeeded);
    assert!(browser.viewer().await.is_none(), "not signed in on the password alone");
    field_refused(browser.run(with_code("123456", false)).await, "code");
    field_refused(browser.run(with_code(&phone.code(0), false)).await, "code"); // used at enrolment
    browser.run(with_code(&phone.code(1), false)).await.expect("the next code signs in");
    assert_eq!(browser.viewer().await.unwrap().email, "ana@example.com");
    let again = app.user();
    again.run(log_in("ana@example.com", PASSWORD)).await.unwrap();
    field_refused(again.run(with_code(&phone.code(1), false)).await, "code"); // each code once
    app.stop().await;
}

#[tokio::test]
async fn a_code_without_a_password_first_signs_nobody_in() {
    let app = TestApp::spawn().await;
    let ana = app.user();
    ana.sign_up("ana@example.com", "Payments").await;
    let (phone, _) = enrol(&ana).await;
    let stranger = app.user();
    let answer = stranger.run(with_code(&phone.code(1), false)).await;
    assert!(matches!(&answer, Err(AppError::Conflict(message)) if message.contains("timed out")), "{answer:?}");
    assert!(stranger.viewer().await.is_none());
    app.stop().await;
}

#[tokio::test]
async fn recovery_codes_work_once_each() {
    let app = TestApp::spawn().await;
    let ana = app.user();
    ana.sign_up("ana@example.com", "Payments").await;
    let (_, codes) = enrol(&ana).await;
    let first = app.user();
    first.run(log_in("ana@example.com", PASSWORD)).await.unwrap();
    first
        .run(with_code(&codes[3].to_uppercase().replace('-', " "), false))
        .await
        .expect("a recovery code, loosely typed");
    let second = app.user();
    second.run(log_in("ana@example.com", PASSWORD)).await.unwrap();
    field_refused(second.run(with_code(&codes[3], false)).await, "code");
    second.run(with_code(&codes[4], false)).await.expect("another one");
    app.stop().await;
}

#[tokio::test]
async fn a_remembered_browser_skips_the_code_until_the_password_changes() {
    let app = TestApp::spawn().await;
    let ana = app.user();
    ana.sign_up("ana@example.com", "Payments").await;
    let (phone, _) = enrol(&ana).await;
    let laptop = app.user();
    laptop.run(log_in("ana@example.com", PASSWORD)).await.unwrap();
    let answer = laptop.send(with_code(&phone.code(1), true)).await;
    let cookie = answer
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|value| value.to_str().ok())
        .find(|value| value.starts_with("dreamops_device="))
        .expect("the browser is remembered")
        .to_string();
    assert!(cookie.contains("HttpOnly") && cookie.contains("Max-Age=2592000"), "{cookie}");
    laptop.run(app::api::accounts::LogOut {}).await.unwrap();
    assert_eq!(laptop.run(log_in("ana@example.com", PASSWORD)).await.unwrap(), SignInStep::SignedIn);
    let elsewhere = app.user();
    assert_eq!(elsewhere.run(log_in("ana@example.com", PASSWORD)).await.unwrap(), SignInStep::CodeNeeded);

    laptop
        .run(ChangePassword { current_password: PASSWORD.into(), new_password: "a new horse battery".into() })
        .await
        .unwrap();
    laptop.run(app::api::accounts::LogOut {}).await.unwrap();
    let after = laptop.run(log_in("ana@example.com", "a new horse battery")).await.unwrap();
    assert_eq!(after, SignInStep::CodeNeeded, "a password change forgets the remembered browsers");
    app.stop().await;
}

#[tokio::test]
async fn wrong_codes_count_as_password_guesses() {
    let app = TestApp::spawn().await;
    let ana = app.user();
    ana.sign_up("ana@example.com", "Payments").await;
    let (phone, _) = enrol(&ana).await;
    let attacker = app.user();
    attacker.run(log_in("ana@example.com", PASSWORD)).await.unwrap();
    for _ in 0..app::server::auth::throttle::PER_ADDRESS {
        field_refused(attacker.run(with_code("000000", false)).await, "code");
    }
    let blocked = attacker.send(with_code(&phone.code(1), false)).await;
    assert_eq!(blocked.status(), StatusCode::TOO_MANY_REQUESTS, "the address waits, even with the right code");
    app.stop().await;
}

#[tokio::test]
async fn turning_it_off_needs_the_password() {
    let app = TestApp::spawn().await;
    let ana = app.user();
    ana.sign_up("ana@example.com", "Payments").await;
    enrol(&ana).await;
    field_refused(ana.run(TurnOffTwoFactor { password: "wrong".into() }).await, "password");
    ana.run(TurnOffTwoFactor { password: PASSWORD.into() }).await.expect("off");
    assert!(!ana.viewer().await.unwrap().two_factor);
    assert_eq!(app.user().run(log_in("ana@example.com", PASSWORD)).await.unwrap(), SignInStep::SignedIn);
    let left: i64 =
        sqlx::query_scalar("select (select count(*) from two_factor) + (select count(*) from recovery_codes)")
            .fetch_one(&app.db().await)
            .await
            .unwrap();
    assert_eq!(left, 0);
    app.stop().await;
}

#[tokio::test]
async fn a_team_that_requires_it_is_closed_to_members_without_it_until_they_set_it_up() {
    let app = TestApp::spawn().await;
    let owner = app.user();
    owner.sign_up("owner@payments.example", "Payments").await;
    let refused = owner.run(SetTeamTwoFactor { required: true }).await;
    assert!(matches!(&refused, Err(AppError::Conflict(m)) if m.contains("for yourself first")), "{refused:?}");
    enrol(&owner).await;
    let bob = app.member(&owner, "bob@payments.example", Role::Operator).await;
    let forbidden = bob.run(SetTeamTwoFactor { required: false }).await;
    assert_eq!(forbidden.unwrap_err(), AppError::Forbidden, "only owners");
    owner.run(SetTeamTwoFactor { required: true }).await.expect("required");

    let viewer = bob.viewer().await.unwrap();
    assert!(viewer.two_factor_required);
    let closed = bob.run(ListMembers {}).await;
    assert!(matches!(&closed, Err(AppError::Conflict(m)) if m.contains("requires two-factor sign-in")), "{closed:?}");
    let events = bob.client.get(format!("{}/events", bob.address)).send().await.unwrap();
    assert_eq!(events.status(), StatusCode::CONFLICT, "nor the live events");
    enrol(&bob).await;
    assert!(!bob.viewer().await.unwrap().two_factor_required);
    bob.run(ListMembers {}).await.expect("open again");
    owner.run(ListMembers {}).await.expect("the owner has it");
    let actions: Vec<String> =
        sqlx::query_scalar("select action from audit_log where action like 'team.two_factor%' or action like 'auth.two_factor%' order by id")
            .fetch_all(&app.db().await)
            .await
            .unwrap();
    assert_eq!(actions, ["auth.two_factor_enabled", "team.two_factor_required", "auth.two_factor_enabled"]);
    app.stop().await;
}
