//! Members, roles, invitations and API keys, against real PostgreSQL.

use app::api::accounts::{SignUp, SwitchTeam};
use app::api::api_keys::{CreateApiKey, ListApiKeys, RevokeApiKey};
use app::api::audit::ListAuditLog;
use app::api::invitations::{AcceptInvitation, GetInvitation};
use app::api::members::{ChangeMemberRole, LeaveTeam, RemoveMember};
use app::domain::account::Role;
use app::domain::audit::AuditFilter;
use app::error::AppError;
use app::server::api_keys::ApiKeyTeam;
use axum::Router;
use axum::http::StatusCode;
use axum::routing::get;
use uuid::Uuid;

use crate::support::{PASSWORD, TestApp};

fn token(link: &str) -> String {
    link.trim_start_matches("/invitations/").to_string()
}

/// Signing up as `email` through the invitation at `link`.
fn joining(email: &str, link: &str) -> SignUp {
    SignUp { email: email.into(), password: PASSWORD.into(), team_name: String::new(), invitation: Some(token(link)) }
}

/// Whether `error` is a conflict that says `why`.
fn conflict(error: &Result<(), AppError>, why: &str) -> bool {
    matches!(error, Err(AppError::Conflict(said)) if said.contains(why))
}

fn change_role(user_id: Uuid, role: Role) -> ChangeMemberRole {
    ChangeMemberRole { user_id, role }
}

#[tokio::test]
async fn an_invitation_is_single_use_and_joins_the_invited_team() {
    let app = TestApp::spawn().await;
    let owner = app.user();
    owner.sign_up("owner@example.com", "Payments").await;
    let link = owner.invite("vic@example.com", Role::Viewer).await;

    let preview = app.user().run(GetInvitation { token: token(&link) }).await.expect("the invitation is shown");
    assert_eq!((preview.team_name.as_str(), preview.role), ("Payments", Role::Viewer));

    let vic = app.user();
    vic.run(joining("vic@example.com", &link)).await.expect("vic joins");
    let viewer = vic.viewer().await.expect("signed in");
    assert_eq!(viewer.team.as_ref().expect("in a team").team_name, "Payments");
    assert_eq!(viewer.team.as_ref().expect("in a team").role, Role::Viewer);
    let teams: i64 = sqlx::query_scalar("select count(*) from teams").fetch_one(&app.db().await).await.unwrap();
    assert_eq!(teams, 1, "joining through an invitation creates no team");

    // Used once: the link is dead for everyone else.
    assert_eq!(app.user().run(joining("vic@example.com", &link)).await, Err(AppError::NotFound));
    assert_eq!(app.user().run(GetInvitation { token: token(&link) }).await, Err(AppError::NotFound));
    app.stop().await;
}

#[tokio::test]
async fn an_expired_invitation_says_so_and_adds_nobody() {
    let app = TestApp::spawn().await;
    let owner = app.user();
    owner.sign_up("owner@example.com", "Payments").await;
    let link = owner.invite("late@example.com", Role::Operator).await;
    let db = app.db().await;
    sqlx::query("update invitations set expires_at = now() - interval '1 second'").execute(&db).await.unwrap();

    let refused = app.user().run(joining("late@example.com", &link)).await;
    assert!(conflict(&refused, "expired"), "{refused:?}");
    let users: i64 = sqlx::query_scalar("select count(*) from users").fetch_one(&db).await.unwrap();
    assert_eq!(users, 1, "no account was created for the late invitee");
    app.stop().await;
}

#[tokio::test]
async fn an_invitation_works_only_for_its_email_address() {
    let app = TestApp::spawn().await;
    let owner = app.user();
    owner.sign_up("owner@example.com", "Payments").await;
    let link = owner.invite("vic@example.com", Role::Viewer).await;
    let refused = app.user().run(joining("mallory@example.com", &link)).await;
    assert!(matches!(&refused, Err(AppError::Validation(fields)) if fields[0].field == "email"), "{refused:?}");

    // A signed-in user with another address cannot accept it either.
    let other = app.user();
    other.sign_up("other@example.com", "Elsewhere").await;
    let refused = other.run(AcceptInvitation { token: token(&link) }).await;
    assert!(matches!(refused, Err(AppError::Conflict(_))), "{refused:?}");
    app.stop().await;
}

#[tokio::test]
async fn an_existing_user_accepts_and_switches_between_teams() {
    let app = TestApp::spawn().await;
    let owner = app.user();
    owner.sign_up("owner@example.com", "Payments").await;
    let ana = app.user();
    ana.sign_up("ana@example.com", "Search").await;
    let link = owner.invite("ana@example.com", Role::Operator).await;
    ana.run(AcceptInvitation { token: token(&link) }).await.expect("ana accepts");

    let viewer = ana.viewer().await.expect("signed in");
    assert_eq!(viewer.team.as_ref().expect("in a team").team_name, "Payments");
    assert_eq!(viewer.teams.len(), 2);
    let search = viewer.teams.iter().find(|t| t.team_name == "Search").unwrap().team_id;
    ana.run(SwitchTeam { team_id: search }).await.expect("ana switches");
    assert_eq!(ana.viewer().await.unwrap().team.as_ref().expect("in a team").team_name, "Search");
    app.stop().await;
}

#[tokio::test]
async fn the_last_owner_cannot_leave_or_be_demoted() {
    let app = TestApp::spawn().await;
    let owner = app.user();
    owner.sign_up("owner@example.com", "Payments").await;
    let me = owner.id().await;

    // With one owner, nobody can demote them, not even themselves.
    let demote = owner.run(change_role(me, Role::Admin)).await;
    assert!(conflict(&demote, "at least one owner"), "{demote:?}");
    assert!(matches!(owner.run(LeaveTeam {}).await, Err(AppError::Conflict(_))));

    // With a second owner, the first may leave.
    let second = app.member(&owner, "second@example.com", Role::Owner).await;
    let second_id = second.id().await;
    second.run(change_role(me, Role::Admin)).await.expect("an owner demotes another");
    let demote_last = owner.run(change_role(second_id, Role::Admin)).await;
    assert_eq!(demote_last, Err(AppError::Forbidden), "an admin cannot touch owners");
    let leave_last = second.run(LeaveTeam {}).await;
    assert!(matches!(leave_last, Err(AppError::Conflict(_))), "the only owner left cannot leave");
    app.stop().await;
}

#[tokio::test]
async fn an_api_key_is_shown_once_stored_as_a_hash_and_refused_once_revoked() {
    let app = TestApp::spawn().await;
    let owner = app.user();
    owner.sign_up("owner@example.com", "Payments").await;
    let created =
        owner.run(CreateApiKey { name: "Alertmanager prod".into(), scopes: vec![] }).await.expect("the key is created");
    let (secret, prefix) = (created.secret.clone(), created.key.prefix.clone());
    assert!(secret.starts_with(&format!("{prefix}_")));

    let listed = owner.send(ListApiKeys {}).await.text().await.unwrap();
    assert!(listed.contains(&prefix) && !listed.contains(&secret), "the list never shows the secret");
    let keys = owner.run(ListApiKeys {}).await.unwrap();
    assert_eq!(keys.iter().map(|key| key.name.as_str()).collect::<Vec<_>>(), ["Alertmanager prod"]);

    let db = app.db().await;
    let dump: String =
        sqlx::query_scalar("select string_agg(t::text, '|') from api_keys t").fetch_one(&db).await.unwrap();
    assert!(!dump.contains(&secret[prefix.len() + 1..]), "the secret is not stored");

    // The extractor on a real route: the key yields its team; revoked, it is refused.
    let state = app.state();
    let router = Router::new()
        .route("/whoami", get(|team: ApiKeyTeam| async move { team.team_id.to_string() }))
        .with_state(state);
    let call = |key: String| {
        let router = router.clone();
        async move {
            use tower::ServiceExt as _;
            let request = axum::http::Request::get("/whoami")
                .header("authorization", format!("Bearer {key}"))
                .body(axum::body::Body::empty())
                .unwrap();
            router.oneshot(request).await.unwrap().status()
        }
    };
    assert_eq!(call(secret.clone()).await, StatusCode::OK);
    assert_eq!(call(format!("{secret}x")).await, StatusCode::UNAUTHORIZED);
    owner.run(RevokeApiKey { key_id: created.key.id }).await.expect("the key is revoked");
    assert_eq!(call(secret).await, StatusCode::UNAUTHORIZED);
    let actions: Vec<String> =
        sqlx::query_scalar("select action from audit_log where action like 'api_key.%' order by id")
            .fetch_all(&db)
            .await
            .unwrap();
    assert_eq!(actions, ["api_key.created", "api_key.revoked"]);
    app.stop().await;
}

#[tokio::test]
async fn the_audit_log_filters_pages_and_exports() {
    let app = TestApp::spawn().await;
    let owner = app.user();
    owner.sign_up("owner@example.com", "Payments").await;
    for n in 0..55 {
        owner.api_key(&format!("key {n}")).await;
    }
    let keys = || AuditFilter { action: Some("api_key.".into()), ..AuditFilter::default() };
    let first = owner.run(ListAuditLog { filter: keys(), before: None }).await.unwrap();
    assert_eq!(first.entries.len(), 50);
    let before = first.next_before.expect("a second page");
    let second = owner.run(ListAuditLog { filter: keys(), before: Some(before) }).await.unwrap();
    assert_eq!(second.entries.len(), 5);
    assert_eq!(second.next_before, None);

    let csv =
        owner.client.get(format!("{}/settings/audit-log.csv?action=account.", owner.address)).send().await.unwrap();
    assert_eq!(csv.status(), StatusCode::OK);
    assert!(csv.headers()["content-type"].to_str().unwrap().starts_with("text/csv"));
    let text = csv.text().await.unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], "time,actor_kind,actor,action,target,client_address,details");
    assert_eq!(lines.len(), 3, "{text}");
    assert!(lines[1].contains("account.email_verified"), "newest first: {text}");
    assert!(lines[2].contains("account.signed_up"), "{text}");

    let stranger = app.user().client.get(format!("{}/settings/audit-log.csv", owner.address)).send().await.unwrap();
    assert_eq!(stranger.status(), StatusCode::UNAUTHORIZED);
    app.stop().await;
}

/// A key's answer at the REST API: whether it still authenticates.
async fn key_works(app: &TestApp, secret: &str) -> bool {
    let response = app.send_rest_alert(secret, &serde_json::json!({"title": "still valid?"})).await;
    response.status() != StatusCode::UNAUTHORIZED
}

/// What a member made stands no longer than their rights: demoted, their invitations to
/// roles they can no longer give and (without the right to manage keys) their API keys
/// are revoked; removed, all of them.
#[tokio::test]
async fn a_demoted_or_removed_members_invitations_and_keys_are_revoked() {
    let app = TestApp::spawn().await;
    let owner = app.user();
    owner.sign_up("owner@example.com", "Payments").await;
    let admin = app.member(&owner, "adam@example.com", Role::Admin).await;
    let to_operator = admin.invite("op@example.com", Role::Operator).await;
    let to_viewer = admin.invite("vi@example.com", Role::Viewer).await;
    let secret = admin.api_key("ci").await;
    assert!(key_works(&app, &secret).await);
    let pending = |link: String| {
        let user = app.user();
        async move { user.run(GetInvitation { token: token(&link) }).await.is_ok() }
    };

    // An operator invites no one and manages no keys.
    owner.run(change_role(admin.id().await, Role::Operator)).await.expect("the admin is demoted");
    assert!(!pending(to_operator.clone()).await && !pending(to_viewer.clone()).await, "invitations revoked");
    assert!(!key_works(&app, &secret).await, "the demoted admin's key was revoked");

    // Removed: what they made since is revoked too.
    let second = app.member(&owner, "bea@example.com", Role::Admin).await;
    let later = second.invite("later@example.com", Role::Viewer).await;
    let secret = second.api_key("deploys").await;
    let kept = owner.invite("kept@example.com", Role::Viewer).await;
    owner.run(RemoveMember { user_id: second.id().await }).await.expect("the admin is removed");
    assert!(!pending(later).await, "the removed admin's invitation was revoked");
    assert!(!key_works(&app, &secret).await, "the removed admin's key was revoked");
    assert!(pending(kept).await, "other members' invitations stand");
    app.stop().await;
}
