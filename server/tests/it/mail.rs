//! Mail against a real SMTP server (aiosmtpd): what arrives, retries while the server is
//! away, a sender killed mid-mail, and the password reset that mails its link.

use std::time::Duration;

use secrecy::SecretString;
use tokio::net::TcpListener;

use app::api::accounts::{ChangePassword, LogIn, RequestPasswordReset, ResetPassword};
use app::error::AppError;
use app::server::accounts::reset::LINK_UNUSABLE;
use app::server::auth::throttle::{RESET_MAILS_PER_EMAIL, RESETS_PER_ADDRESS};
use app::server::jobs;
use app::server::mail::send::Mails;

use crate::smtp_server::SmtpServer;
use crate::support::{PASSWORD, ServerProcess, TestApp};

const PUBLIC_URL: &str = "https://dreamops.example";
/// The reset mail's subject.
const RESET: &str = "Reset your DreamOps password";

/// A server whose mails go to `smtp` (SMTP_URL), its links to [`PUBLIC_URL`].
async fn mailing_to(smtp_url: &str) -> TestApp {
    let smtp_url = smtp_url.to_string();
    TestApp::spawn_with(move |settings| {
        settings.mail.smtp_url = Some(SecretString::from(smtp_url));
        settings.mail.from = "DreamOps <noreply@dreamops.example>".into();
        settings.public_url = Some(PUBLIC_URL.into());
    })
    .await
}

/// Drops the mails queued so far (the sign-up's confirmation), for a test about the
/// next one.
async fn forget_mails_so_far(app: &TestApp) {
    sqlx::query("delete from mails").execute(&app.db().await).await.unwrap();
}

fn reset_request(email: &str) -> RequestPasswordReset {
    RequestPasswordReset { email: email.into() }
}

/// Asks for a reset link for `email` as a stranger would.
async fn ask_for_reset(app: &TestApp, email: &str) {
    app.user().run(reset_request(email)).await.expect("the request is answered");
}

/// The token of the reset link in `mail`.
fn token_in(link: &str) -> String {
    link.split("token=").nth(1).expect("the link carries a token").to_string()
}

#[tokio::test]
async fn a_reset_mail_reaches_the_smtp_server_with_both_bodies_and_its_link_and_is_then_wiped() {
    let smtp = SmtpServer::start().await;
    let app = mailing_to(&smtp.url()).await;
    app.user().sign_up("ana@example.com", "Payments").await;

    ask_for_reset(&app, "Ana@Example.com").await;
    app.run_pending_jobs().await;

    let mail = smtp.wait_for("ana@example.com", RESET, 1).await.remove(0);
    assert_eq!(mail.from, "DreamOps <noreply@dreamops.example>");
    let link = mail.link(&format!("{PUBLIC_URL}/reset-password?token="));
    assert!(mail.html.contains(&format!("href=\"{link}\"")), "{}", mail.html);
    assert!(mail.text.contains("for 60 minutes"), "{}", mail.text);

    let db = app.db().await;
    let (id, state, text, html): (uuid::Uuid, String, String, String) =
        sqlx::query_as("select id, state, text_body, html_body from mails where purpose = 'password_reset'")
            .fetch_one(&db)
            .await
            .unwrap();
    assert_eq!(mail.message_id, format!("<{id}@dreamops.example>"));
    assert_eq!((state.as_str(), text.as_str(), html.as_str()), ("sent", "", ""), "sent, its link no longer stored");
    // The token is stored as its digest only.
    let token = token_in(&link);
    let stored: Vec<u8> = sqlx::query_scalar("select token_hash from password_resets").fetch_one(&db).await.unwrap();
    assert_eq!(stored, app::server::token::digest(&token));
    assert!(!stored.windows(token.len()).any(|w| w == token.as_bytes()));
    app.stop().await;
    smtp.stop().await;
}

#[tokio::test]
async fn an_address_without_an_account_gets_the_same_answer_and_no_mail() {
    let smtp = SmtpServer::start().await;
    let app = mailing_to(&smtp.url()).await;
    app.user().sign_up("ana@example.com", "Payments").await;

    let known = app.user().send(reset_request("ana@example.com")).await;
    let unknown = app.user().send(reset_request("nobody@example.com")).await;
    assert_eq!(known.status(), unknown.status());
    assert_eq!(known.text().await.unwrap(), unknown.text().await.unwrap());
    app.run_pending_jobs().await;
    assert_eq!(smtp.wait_for("ana@example.com", RESET, 1).await.len(), 1);
    assert!(smtp.messages().iter().all(|m| !m.to.contains("nobody@")), "{:?}", smtp.messages());

    let refused = app.user().run(reset_request("not an address")).await.unwrap_err();
    assert!(matches!(&refused, AppError::Validation(fields) if fields[0].field == "email"), "{refused:?}");
    app.stop().await;
    smtp.stop().await;
}

#[tokio::test]
async fn a_reset_sets_the_password_ends_every_session_and_every_other_link_and_signs_in() {
    let smtp = SmtpServer::start().await;
    let app = mailing_to(&smtp.url()).await;
    let ana = app.user();
    ana.sign_up("ana@example.com", "Payments").await;
    let elsewhere = app.user();
    elsewhere.log_in("ana@example.com", PASSWORD).await;

    ask_for_reset(&app, "ana@example.com").await;
    ask_for_reset(&app, "ana@example.com").await;
    app.run_pending_jobs().await;
    let mails = smtp.wait_for("ana@example.com", RESET, 2).await;
    let (first, second) = (token_in(&mails[0].link(PUBLIC_URL)), token_in(&mails[1].link(PUBLIC_URL)));

    // Too short a password is refused and the link still works.
    let stranger = app.user();
    let refused = stranger.run(ResetPassword { token: second.clone(), password: "short".into() }).await.unwrap_err();
    assert!(matches!(&refused, AppError::Validation(fields) if fields[0].field == "password"), "{refused:?}");
    stranger
        .run(ResetPassword { token: second.clone(), password: "a new horse battery".into() })
        .await
        .expect("the newest link sets the password");
    assert_eq!(stranger.viewer().await.expect("signed in").email, "ana@example.com");
    assert!(ana.viewer().await.is_none(), "the session from before the reset ended");
    assert!(elsewhere.viewer().await.is_none(), "every session from before the reset ended");

    // Each link works once, and using one ends the others.
    for used in [second, first] {
        let again = app.user().run(ResetPassword { token: used, password: "yet another phrase".into() }).await;
        assert_eq!(again.unwrap_err(), AppError::Conflict(LINK_UNUSABLE.into()));
    }
    let wrong = app.user().run(log_in("ana@example.com", PASSWORD)).await.unwrap_err();
    assert!(matches!(wrong, AppError::Validation(_)), "the old password no longer works: {wrong:?}");
    app.user().run(log_in("ana@example.com", "a new horse battery")).await.expect("the new one does");

    // The owner is told, and the audit log has it.
    app.run_pending_jobs().await;
    smtp.wait_for("ana@example.com", "Your DreamOps password was changed", 1).await;
    let actions: Vec<String> = sqlx::query_scalar("select action from audit_log where action like 'auth.password%'")
        .fetch_all(&app.db().await)
        .await
        .unwrap();
    assert_eq!(actions, ["auth.password_reset"]);
    app.stop().await;
    smtp.stop().await;
}

fn log_in(email: &str, password: &str) -> LogIn {
    LogIn { email: email.into(), password: password.into(), next: None }
}

#[tokio::test]
async fn a_link_expires_after_an_hour() {
    let smtp = SmtpServer::start().await;
    let app = mailing_to(&smtp.url()).await;
    app.user().sign_up("ana@example.com", "Payments").await;
    ask_for_reset(&app, "ana@example.com").await;
    app.run_pending_jobs().await;
    let token = token_in(&smtp.wait_for("ana@example.com", RESET, 1).await[0].link(PUBLIC_URL));
    let db = app.db().await;
    let valid_for: f64 =
        sqlx::query_scalar("select extract(epoch from expires_at - created_at)::float8 from password_resets")
            .fetch_one(&db)
            .await
            .unwrap();
    assert_eq!(valid_for, 3600.0);
    sqlx::query("update password_resets set expires_at = now() - interval '1 second'").execute(&db).await.unwrap();
    let late = app.user().run(ResetPassword { token, password: "a new horse battery".into() }).await;
    assert_eq!(late.unwrap_err(), AppError::Conflict(LINK_UNUSABLE.into()));
    app.user().run(log_in("ana@example.com", PASSWORD)).await.expect("the password is unchanged");
    app.stop().await;
    smtp.stop().await;
}

#[tokio::test]
async fn requests_are_throttled_per_address_and_a_mailbox_gets_only_a_few_links_an_hour() {
    let smtp = SmtpServer::start().await;
    let app = mailing_to(&smtp.url()).await;
    app.user().sign_up("ana@example.com", "Payments").await;
    for _ in 0..RESETS_PER_ADDRESS {
        ask_for_reset(&app, "ana@example.com").await;
    }
    match app.user().run(reset_request("ana@example.com")).await {
        Err(AppError::TooManyRequests { retry_after_secs }) => assert!(retry_after_secs > 3000, "{retry_after_secs}"),
        other => panic!("the address was not refused: {other:?}"),
    }
    app.run_pending_jobs().await;
    let sent = smtp.wait_for("ana@example.com", RESET, RESET_MAILS_PER_EMAIL as usize).await;
    assert_eq!(sent.len(), 3);
    app.stop().await;
    smtp.stop().await;
}

#[tokio::test]
async fn changing_the_password_does_not_need_mail_and_a_reset_link_from_before_still_is_single_use() {
    // The signed-in change (no mail) and a pending link do not interfere: the link sets
    // a password once, whatever the current one is.
    let smtp = SmtpServer::start().await;
    let app = mailing_to(&smtp.url()).await;
    let ana = app.user();
    ana.sign_up("ana@example.com", "Payments").await;
    ask_for_reset(&app, "ana@example.com").await;
    app.run_pending_jobs().await;
    let token = token_in(&smtp.wait_for("ana@example.com", RESET, 1).await[0].link(PUBLIC_URL));
    ana.run(ChangePassword { current_password: PASSWORD.into(), new_password: "changed while signed in".into() })
        .await
        .expect("changed");
    app.user().run(ResetPassword { token: token.clone(), password: "then reset by link".into() }).await.expect("reset");
    let again = app.user().run(ResetPassword { token, password: "and once more".into() }).await;
    assert_eq!(again.unwrap_err(), AppError::Conflict(LINK_UNUSABLE.into()));
    app.stop().await;
    smtp.stop().await;
}

#[tokio::test]
async fn while_the_smtp_server_is_away_a_mail_waits_and_goes_out_once_it_is_back() {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let app = mailing_to(&format!("smtp://127.0.0.1:{port}")).await;
    app.user().sign_up("ana@example.com", "Payments").await;
    forget_mails_so_far(&app).await;
    ask_for_reset(&app, "ana@example.com").await;

    // Nobody listens: the attempt fails, and the mail waits for its next turn.
    let state = app.state();
    let never = tokio_util::sync::CancellationToken::new();
    assert!(jobs::run_next::<Mails>(&state, "test", &never).await.unwrap(), "a mail was due");
    let db = app.db().await;
    let (status, attempts, error): (String, i32, Option<String>) =
        sqlx::query_as("select state, attempts, last_error from mails").fetch_one(&db).await.unwrap();
    assert_eq!((status.as_str(), attempts), ("queued", 1));
    assert!(error.unwrap_or_default().contains("could not take it"));

    let smtp = SmtpServer::start_on(port).await;
    sqlx::query("update mails set run_after = now()").execute(&db).await.unwrap();
    app.run_pending_jobs().await;
    assert_eq!(smtp.wait_for("ana@example.com", RESET, 1).await.len(), 1);
    let (status, attempts): (String, i32) =
        sqlx::query_as("select state, attempts from mails").fetch_one(&db).await.unwrap();
    assert_eq!((status.as_str(), attempts), ("sent", 2));
    app.stop().await;
    smtp.stop().await;
}

#[tokio::test]
async fn a_mail_no_server_can_take_is_parked_with_the_reason() {
    let smtp = SmtpServer::start().await;
    let app = mailing_to(&smtp.url()).await;
    let mut tx = app.state().db.begin().await.unwrap();
    let letter = app::server::mail::letters::password_reset("https://x.example/r", 60);
    app::server::mail::queue(&mut tx, app::server::mail::Mail { to: "not an address".into(), purpose: "test", letter })
        .await
        .unwrap();
    tx.commit().await.unwrap();
    app.run_pending_jobs().await;
    let parked = app.stop_with_parked_jobs().await;
    assert_eq!(parked.len(), 1, "{parked:?}");
    assert!(parked[0].contains("\"not an address\" is not a mail address"), "{parked:?}");
    assert!(smtp.messages().is_empty());
    smtp.stop().await;
}

#[tokio::test]
async fn a_sender_killed_while_handing_a_mail_over_neither_loses_nor_doubles_it() {
    use nix::sys::signal::Signal;

    let smtp = SmtpServer::start().await;
    let app = mailing_to(&smtp.url()).await;
    app.user().sign_up("ana@example.com", "Payments").await;
    forget_mails_so_far(&app).await;
    ask_for_reset(&app, "ana@example.com").await;

    // An SMTP server that takes the connection and never answers: the sender hangs in
    // the middle of handing the mail over, until it is killed.
    let silent = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let silent_url = format!("smtp://{}", silent.local_addr().unwrap());
    let sender = ServerProcess::start(|command| {
        command
            .env("DATABASE_URL", app.database_url())
            .env("DREAMOPS_SECRET_KEY", "0123456789abcdef".repeat(4))
            .env("AGENT_WORKERS", "0")
            .env("MAIL_WORKERS", "1")
            .env("SMTP_URL", &silent_url)
    });
    let (_connection, _) = tokio::time::timeout(Duration::from_secs(60), silent.accept())
        .await
        .expect("the sender reached the SMTP server within 60 s")
        .unwrap();
    sender.stop_with(Signal::SIGKILL).await;
    let db = app.db().await;
    let (status, attempts): (String, i32) =
        sqlx::query_as("select state, attempts from mails").fetch_one(&db).await.unwrap();
    assert_eq!((status.as_str(), attempts), ("sending", 1), "held by the killed sender");

    // Its lease runs out (made to, rather than waited for); the next sender takes it.
    sqlx::query("update mails set lease_until = now() - interval '1 second'").execute(&db).await.unwrap();
    app.run_pending_jobs().await;
    let delivered = smtp.wait_for("ana@example.com", RESET, 1).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(smtp.messages().len(), 1, "exactly one copy: {:?}", smtp.messages());
    let (status, attempts): (String, i32) =
        sqlx::query_as("select state, attempts from mails").fetch_one(&db).await.unwrap();
    assert_eq!((status.as_str(), attempts), ("sent", 2));
    let id: uuid::Uuid = sqlx::query_scalar("select id from mails").fetch_one(&db).await.unwrap();
    assert_eq!(delivered[0].message_id, format!("<{id}@dreamops.example>"));
    app.stop().await;
    smtp.stop().await;
}

#[tokio::test]
async fn without_an_smtp_server_mails_are_logged_and_listed_on_the_dev_page_only() {
    let app = TestApp::spawn().await;
    app.user().sign_up("ana@example.com", "Payments").await;
    ask_for_reset(&app, "ana@example.com").await;
    app.run_pending_jobs().await;
    let state: String = sqlx::query_scalar("select state from mails").fetch_one(&app.db().await).await.unwrap();
    assert_eq!(state, "logged");
    let page = app.get("/dev/mail").await;
    assert_eq!(page.status(), 200);
    let page = page.text().await.unwrap();
    assert!(page.contains("Reset your DreamOps password") && page.contains("/reset-password?token="), "{page}");
    app.stop().await;

    let smtp = SmtpServer::start().await;
    let sending = mailing_to(&smtp.url()).await;
    assert_eq!(sending.get("/dev/mail").await.status(), 404, "not where mails are really sent");
    sending.stop().await;
    smtp.stop().await;
}

#[tokio::test]
async fn an_invitation_is_mailed_with_the_same_link_the_admin_can_copy() {
    use app::api::invitations::CreateInvitation;
    use app::domain::account::Role;

    let smtp = SmtpServer::start().await;
    let app = mailing_to(&smtp.url()).await;
    let owner = app.user();
    owner.sign_up("owner@payments.example", "Payments").await;
    let created =
        owner.run(CreateInvitation { email: "Bob@Example.com".into(), role: Role::Operator }).await.expect("invited");
    app.run_pending_jobs().await;
    let subject = "owner@payments.example invited you to Payments on DreamOps";
    let mail = smtp.wait_for("Bob@Example.com", subject, 1).await.remove(0);
    assert_eq!(mail.link(PUBLIC_URL), format!("{PUBLIC_URL}{}", created.link));
    assert!(mail.text.contains("as operator"), "{}", mail.text);
    assert!(mail.html.contains(&format!("href=\"{PUBLIC_URL}{}\"", created.link)), "{}", mail.html);
    app.stop().await;
    smtp.stop().await;
}
