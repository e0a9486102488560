//! Confirming an address: what an unconfirmed account may not do, the links (single
//! use, a day, a few an hour), moving an account to another address, and the other
//! ways an address is proven (a password reset, an invitation's link).

use app::api::accounts::{
    ChangeEmail, LogIn, RequestPasswordReset, ResendVerification, ResetPassword, SignUp, VerifyEmail,
};
use app::api::billing::StartCheckout;
use app::api::invitations::{AcceptInvitation, CreateInvitation};
use app::domain::account::Role;
use app::error::AppError;
use app::server::accounts::verification::{LINK_UNUSABLE, LINKS_PER_HOUR};

use crate::support::{PASSWORD, TestApp, User};

fn sign_up(email: &str, team: &str) -> SignUp {
    SignUp { email: email.into(), password: PASSWORD.into(), team_name: team.into(), invitation: None }
}

/// Signs `email` up and in with the password, leaving the address unconfirmed.
async fn unconfirmed(app: &TestApp, email: &str, team: &str) -> User {
    let user = app.user();
    user.run(sign_up(email, team)).await.expect("signed up");
    user.log_in(email, PASSWORD).await;
    assert!(!user.viewer().await.expect("signed in").email_verified);
    user
}

fn conflict(answer: Result<impl std::fmt::Debug, AppError>) -> String {
    match answer {
        Err(AppError::Conflict(message)) => message,
        other => panic!("not refused as a conflict: {other:?}"),
    }
}

#[tokio::test]
async fn an_unconfirmed_account_uses_its_team_but_cannot_accept_invitations_or_upgrade_until_confirmed() {
    let app = TestApp::spawn().await;
    let ana = unconfirmed(&app, "ana@example.com", "Payments").await;
    assert_eq!(
        ana.viewer().await.unwrap().team.as_ref().expect("in a team").team_name,
        "Payments",
        "its own team works"
    );

    let refused = conflict(ana.run(StartCheckout { plan: "pro".into() }).await);
    assert!(refused.contains("Confirm your email address before you upgrade"), "{refused}");
    assert!(refused.contains("ana@example.com"), "{refused}");

    let owner = app.user();
    owner.sign_up("owner@search.example", "Search").await;
    let link = owner
        .run(CreateInvitation { email: "ana@example.com".into(), role: Role::Viewer })
        .await
        .expect("invited")
        .link;
    let token = link.rsplit('/').next().unwrap().to_string();
    let refused = conflict(ana.run(AcceptInvitation { token: token.clone() }).await);
    assert!(refused.contains("before you accept an invitation"), "{refused}");

    let confirm = ana.mailed_token("ana@example.com", "verify_email").await;
    ana.run(VerifyEmail { token: confirm }).await.expect("confirmed");
    assert!(ana.viewer().await.unwrap().email_verified);
    ana.run(StartCheckout { plan: "pro".into() }).await.expect("now an upgrade can start");
    ana.run(AcceptInvitation { token }).await.expect("and the invitation is accepted");
    app.stop().await;
}

#[tokio::test]
async fn a_link_works_once_and_for_a_day_and_only_a_few_are_mailed_an_hour() {
    let app = TestApp::spawn().await;
    let ana = unconfirmed(&app, "ana@example.com", "Payments").await;
    let first = ana.mailed_token("ana@example.com", "verify_email").await;
    for _ in 1..LINKS_PER_HOUR {
        ana.run(ResendVerification {}).await.expect("sent again");
    }
    match ana.run(ResendVerification {}).await {
        Err(AppError::TooManyRequests { retry_after_secs }) => assert!(retry_after_secs > 3000, "{retry_after_secs}"),
        other => panic!("a fourth link within the hour was sent: {other:?}"),
    }
    let latest = ana.mailed_token("ana@example.com", "verify_email").await;
    assert_ne!(first, latest);

    let db = app.db().await;
    sqlx::query("update email_verifications set expires_at = now() - interval '1 second' where token_hash = $1")
        .bind(app::server::token::digest(&latest))
        .execute(&db)
        .await
        .unwrap();
    assert_eq!(conflict(app.user().run(VerifyEmail { token: latest }).await), LINK_UNUSABLE);
    let valid_for: f64 =
        sqlx::query_scalar("select max(extract(epoch from expires_at - created_at))::float8 from email_verifications")
            .fetch_one(&db)
            .await
            .unwrap();
    assert_eq!(valid_for, 86_400.0);

    // Used from another browser: it confirms and signs in there; then it is spent, and
    // so are the account's other links.
    let elsewhere = app.user();
    elsewhere.run(VerifyEmail { token: first.clone() }).await.expect("confirmed");
    assert_eq!(elsewhere.viewer().await.unwrap().email, "ana@example.com");
    assert_eq!(conflict(app.user().run(VerifyEmail { token: first }).await), LINK_UNUSABLE);
    let open: i64 = sqlx::query_scalar("select count(*) from email_verifications where used_at is null")
        .fetch_one(&db)
        .await
        .unwrap();
    assert_eq!(open, 0);
    let again = conflict(ana.run(ResendVerification {}).await);
    assert!(again.contains("already confirmed"), "{again}");
    app.stop().await;
}

#[tokio::test]
async fn a_new_address_takes_effect_only_when_its_link_is_used_and_the_old_one_is_told() {
    let app = TestApp::spawn().await;
    let ana = app.user();
    ana.sign_up("ana@example.com", "Payments").await;
    app.user().sign_up("taken@example.com", "Other").await;

    let wrong = ana.run(ChangeEmail { new_email: "ana@new.example".into(), password: "not it".into() }).await;
    assert!(matches!(&wrong, Err(AppError::Validation(fields)) if fields[0].field == "password"), "{wrong:?}");
    let same = ana.run(ChangeEmail { new_email: "ANA@example.com".into(), password: PASSWORD.into() }).await;
    assert!(matches!(&same, Err(AppError::Validation(fields)) if fields[0].field == "new_email"), "{same:?}");

    ana.run(ChangeEmail { new_email: "ana@new.example".into(), password: PASSWORD.into() }).await.expect("requested");
    assert_eq!(ana.viewer().await.unwrap().email, "ana@example.com", "nothing changes before the link is used");
    // A taken address gets the same answer, and no link.
    ana.run(ChangeEmail { new_email: "taken@example.com".into(), password: PASSWORD.into() }).await.expect("answered");
    let db = app.db().await;
    let to_taken: i64 = sqlx::query_scalar(
        "select count(*) from mails where recipient = 'taken@example.com' and purpose = 'confirm_new_email'",
    )
    .fetch_one(&db)
    .await
    .unwrap();
    assert_eq!(to_taken, 0);

    let token = ana.mailed_token("ana@new.example", "confirm_new_email").await;
    ana.run(VerifyEmail { token }).await.expect("moved");
    let viewer = ana.viewer().await.unwrap();
    assert_eq!((viewer.email.as_str(), viewer.email_verified), ("ana@new.example", true));
    let told: i64 = sqlx::query_scalar(
        "select count(*) from mails where recipient = 'ana@example.com' and purpose = 'email_changed'",
    )
    .fetch_one(&db)
    .await
    .unwrap();
    assert_eq!(told, 1, "the old address is told");
    let old = app.user().run(LogIn { email: "ana@example.com".into(), password: PASSWORD.into(), next: None }).await;
    assert!(matches!(old, Err(AppError::Validation(_))), "{old:?}");
    app.user().log_in("ana@new.example", PASSWORD).await;
    let actions: Vec<String> = sqlx::query_scalar(
        "select action from audit_log where team_id = $1 and action like 'account.email%' order by id",
    )
    .bind(ana.team().await)
    .fetch_all(&db)
    .await
    .unwrap();
    assert_eq!(
        actions,
        [
            "account.email_verified",
            "account.email_change_requested",
            "account.email_change_requested",
            "account.email_changed"
        ]
    );
    app.stop().await;
}

#[tokio::test]
async fn a_move_to_an_address_taken_in_the_meantime_is_refused() {
    let app = TestApp::spawn().await;
    let ana = app.user();
    ana.sign_up("ana@example.com", "Payments").await;
    ana.run(ChangeEmail { new_email: "bob@example.com".into(), password: PASSWORD.into() }).await.expect("requested");
    app.user().sign_up("bob@example.com", "Search").await;
    let token = ana.mailed_token("bob@example.com", "confirm_new_email").await;
    let refused = conflict(ana.run(VerifyEmail { token }).await);
    assert!(refused.contains("bob@example.com now belongs to another account"), "{refused}");
    assert_eq!(ana.viewer().await.unwrap().email, "ana@example.com");
    app.stop().await;
}

#[tokio::test]
async fn a_password_reset_and_an_invitation_link_confirm_the_address_they_reached() {
    let app = TestApp::spawn().await;
    let ana = unconfirmed(&app, "ana@example.com", "Payments").await;
    app.user().run(RequestPasswordReset { email: "ana@example.com".into() }).await.expect("asked");
    let token = ana.mailed_token("ana@example.com", "password_reset").await;
    ana.run(ResetPassword { token, password: "a new horse battery".into() }).await.expect("reset");
    assert!(ana.viewer().await.unwrap().email_verified);

    let owner = app.user();
    owner.sign_up("owner@search.example", "Search").await;
    let member = app.member(&owner, "bob@search.example", Role::Operator).await;
    assert!(member.viewer().await.unwrap().email_verified);
    app.stop().await;
}
