//! Members, roles, invitations and API keys, against real PostgreSQL.

use app::domain::account::Role;
use app::server::api_keys::ApiKeyTeam;
use axum::Router;
use axum::http::StatusCode;
use axum::routing::get;

use crate::support::{PASSWORD, TestApp, User};

/// Invites `email` as `role` from `admin`'s team; returns the link's path.
pub(crate) async fn invite(admin: &User, email: &str, role: &str) -> String {
    let response = admin.call("create_invitation", &[("email", email), ("role", role)]).await;
    assert_eq!(response.status(), StatusCode::OK, "{}", response.text().await.unwrap());
    let created: serde_json::Value = response.json().await.unwrap();
    created["link"].as_str().unwrap().to_string()
}

fn token(link: &str) -> &str {
    link.trim_start_matches("/invitations/")
}

#[tokio::test]
async fn an_invitation_is_single_use_and_joins_the_invited_team() {
    let app = TestApp::spawn().await;
    let owner = app.user();
    owner.sign_up("owner@example.com", "Payments").await;
    let link = invite(&owner, "vic@example.com", "viewer").await;

    let preview = app.user().query(&format!("get_invitation?token={}", token(&link))).await;
    assert_eq!(preview.status(), StatusCode::OK);
    let preview: serde_json::Value = preview.json().await.unwrap();
    assert_eq!(preview["team_name"], "Payments");
    assert_eq!(preview["role"], "viewer");

    let vic = app.user();
    let joined = vic
        .call("sign_up", &[("email", "vic@example.com"), ("password", PASSWORD), ("invitation", token(&link))])
        .await;
    assert!(joined.status().is_success() || joined.status().is_redirection(), "{}", joined.text().await.unwrap());
    let viewer = vic.viewer().await.expect("signed in");
    assert_eq!(viewer.team.team_name, "Payments");
    assert_eq!(viewer.team.role, Role::Viewer);
    let teams: i64 = sqlx::query_scalar("select count(*) from teams").fetch_one(&app.db().await).await.unwrap();
    assert_eq!(teams, 1, "joining through an invitation creates no team");

    // Used once: the link is dead for everyone else.
    let again = app
        .user()
        .call("sign_up", &[("email", "vic@example.com"), ("password", PASSWORD), ("invitation", token(&link))])
        .await;
    assert_eq!(again.status(), StatusCode::NOT_FOUND);
    let preview = app.user().query(&format!("get_invitation?token={}", token(&link))).await;
    assert_eq!(preview.status(), StatusCode::NOT_FOUND);
    app.stop().await;
}

#[tokio::test]
async fn an_expired_invitation_says_so_and_adds_nobody() {
    let app = TestApp::spawn().await;
    let owner = app.user();
    owner.sign_up("owner@example.com", "Payments").await;
    let link = invite(&owner, "late@example.com", "operator").await;
    let db = app.db().await;
    sqlx::query("update invitations set expires_at = now() - interval '1 second'").execute(&db).await.unwrap();

    let response = app
        .user()
        .call("sign_up", &[("email", "late@example.com"), ("password", PASSWORD), ("invitation", token(&link))])
        .await;
    assert_eq!(response.status(), StatusCode::CONFLICT);
    let body: serde_json::Value = response.json().await.unwrap();
    assert!(body["Conflict"].as_str().unwrap().contains("expired"), "{body}");
    let users: i64 = sqlx::query_scalar("select count(*) from users").fetch_one(&db).await.unwrap();
    assert_eq!(users, 1, "no account was created for the late invitee");
    app.stop().await;
}

#[tokio::test]
async fn an_invitation_works_only_for_its_email_address() {
    let app = TestApp::spawn().await;
    let owner = app.user();
    owner.sign_up("owner@example.com", "Payments").await;
    let link = invite(&owner, "vic@example.com", "viewer").await;
    let response = app
        .user()
        .call("sign_up", &[("email", "mallory@example.com"), ("password", PASSWORD), ("invitation", token(&link))])
        .await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);

    // A signed-in user with another address cannot accept it either.
    let other = app.user();
    other.sign_up("other@example.com", "Elsewhere").await;
    let response = other.call("accept_invitation", &[("token", token(&link))]).await;
    assert_eq!(response.status(), StatusCode::CONFLICT);
    app.stop().await;
}

#[tokio::test]
async fn an_existing_user_accepts_and_switches_between_teams() {
    let app = TestApp::spawn().await;
    let owner = app.user();
    owner.sign_up("owner@example.com", "Payments").await;
    let ana = app.user();
    ana.sign_up("ana@example.com", "Search").await;
    let link = invite(&owner, "ana@example.com", "operator").await;
    let response = ana.call("accept_invitation", &[("token", token(&link))]).await;
    assert!(response.status().is_success() || response.status().is_redirection());

    let viewer = ana.viewer().await.expect("signed in");
    assert_eq!(viewer.team.team_name, "Payments");
    assert_eq!(viewer.teams.len(), 2);
    let search = viewer.teams.iter().find(|t| t.team_name == "Search").unwrap().team_id.to_string();
    let response = ana.call("switch_team", &[("team_id", &search)]).await;
    assert!(response.status().is_success(), "{}", response.status());
    assert_eq!(ana.viewer().await.unwrap().team.team_name, "Search");
    app.stop().await;
}

#[tokio::test]
async fn the_last_owner_cannot_leave_or_be_demoted() {
    let app = TestApp::spawn().await;
    let owner = app.user();
    owner.sign_up("owner@example.com", "Payments").await;
    let me = owner.id().await.to_string();

    // With one owner, nobody can demote them, not even themselves.
    let demote = owner.call("change_member_role", &[("user_id", &me), ("role", "admin")]).await;
    assert_eq!(demote.status(), StatusCode::CONFLICT);
    let body: serde_json::Value = demote.json().await.unwrap();
    assert!(body["Conflict"].as_str().unwrap().contains("at least one owner"), "{body}");
    let leave = owner.call("leave_team", &[]).await;
    assert_eq!(leave.status(), StatusCode::CONFLICT);

    // With a second owner, the first may leave.
    let link = invite(&owner, "second@example.com", "owner").await;
    let second = app.user();
    second
        .call("sign_up", &[("email", "second@example.com"), ("password", PASSWORD), ("invitation", token(&link))])
        .await;
    let second_id = second.id().await.to_string();
    let demote_other = second.call("change_member_role", &[("user_id", &me), ("role", "admin")]).await;
    assert_eq!(demote_other.status(), StatusCode::OK);
    let demote_last = owner.call("change_member_role", &[("user_id", &second_id), ("role", "admin")]).await;
    assert_eq!(demote_last.status(), StatusCode::FORBIDDEN, "an admin cannot touch owners");
    let leave_last = second.call("leave_team", &[]).await;
    assert_eq!(leave_last.status(), StatusCode::CONFLICT, "the only owner left cannot leave");
    app.stop().await;
}

#[tokio::test]
async fn an_api_key_is_shown_once_stored_as_a_hash_and_refused_once_revoked() {
    let app = TestApp::spawn().await;
    let owner = app.user();
    owner.sign_up("owner@example.com", "Payments").await;
    let created = owner.call("create_api_key", &[("name", "Alertmanager prod")]).await;
    assert_eq!(created.status(), StatusCode::OK);
    let created: serde_json::Value = created.json().await.unwrap();
    let secret = created["secret"].as_str().unwrap().to_string();
    let prefix = created["key"]["prefix"].as_str().unwrap().to_string();
    assert!(secret.starts_with(&format!("{prefix}_")));

    let listed = owner.query("list_api_keys").await.text().await.unwrap();
    assert!(listed.contains(&prefix) && !listed.contains(&secret), "the list never shows the secret");

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
    let id = created["key"]["id"].as_str().unwrap();
    assert_eq!(owner.call("revoke_api_key", &[("key_id", id)]).await.status(), StatusCode::OK);
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
        owner.call("create_api_key", &[("name", &format!("key {n}"))]).await;
    }
    let first: serde_json::Value = owner.query("list_audit_log?filter[action]=api_key.").await.json().await.unwrap();
    assert_eq!(first["entries"].as_array().unwrap().len(), 50);
    let before = first["next_before"].as_i64().expect("a second page");
    let second: serde_json::Value =
        owner.query(&format!("list_audit_log?filter[action]=api_key.&before={before}")).await.json().await.unwrap();
    assert_eq!(second["entries"].as_array().unwrap().len(), 5);
    assert!(second["next_before"].is_null());

    let csv =
        owner.client.get(format!("{}/settings/audit-log.csv?action=account.", owner.address)).send().await.unwrap();
    assert_eq!(csv.status(), StatusCode::OK);
    assert!(csv.headers()["content-type"].to_str().unwrap().starts_with("text/csv"));
    let text = csv.text().await.unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], "time,actor_kind,actor,action,target,client_address,details");
    assert_eq!(lines.len(), 2, "{text}");
    assert!(lines[1].contains("account.signed_up"));

    let stranger = app.user().client.get(format!("{}/settings/audit-log.csv", owner.address)).send().await.unwrap();
    assert_eq!(stranger.status(), StatusCode::UNAUTHORIZED);
    app.stop().await;
}

/// Joins `team_owner`'s team as `email` with `role`, through an invitation; the member.
pub(crate) async fn member(app: &TestApp, team_owner: &User, email: &str, role: &str) -> (User, String) {
    let link = invite(team_owner, email, role).await;
    let user = app.user();
    let joined = user.call("sign_up", &[("email", email), ("password", PASSWORD), ("invitation", token(&link))]).await;
    assert!(joined.status().is_success() || joined.status().is_redirection(), "{}", joined.text().await.unwrap());
    let id = user.id().await.to_string();
    (user, id)
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
    let (admin, admin_id) = member(&app, &owner, "adam@example.com", "admin").await;
    let to_operator = invite(&admin, "op@example.com", "operator").await;
    let to_viewer = invite(&admin, "vi@example.com", "viewer").await;
    let secret = admin.api_key("ci").await;
    assert!(key_works(&app, &secret).await);
    let pending = |link: String| {
        let user = app.user();
        async move { user.query(&format!("get_invitation?token={}", token(&link))).await.status() == StatusCode::OK }
    };

    // An operator invites no one and manages no keys.
    let demoted = owner.call("change_member_role", &[("user_id", &admin_id), ("role", "operator")]).await;
    assert_eq!(demoted.status(), StatusCode::OK);
    assert!(!pending(to_operator.clone()).await && !pending(to_viewer.clone()).await, "invitations revoked");
    assert!(!key_works(&app, &secret).await, "the demoted admin's key was revoked");

    // Removed: what they made since is revoked too.
    let (second, second_id) = member(&app, &owner, "bea@example.com", "admin").await;
    let later = invite(&second, "later@example.com", "viewer").await;
    let secret = second.api_key("deploys").await;
    let kept = invite(&owner, "kept@example.com", "viewer").await;
    assert_eq!(owner.call("remove_member", &[("user_id", &second_id)]).await.status(), StatusCode::OK);
    assert!(!pending(later).await, "the removed admin's invitation was revoked");
    assert!(!key_works(&app, &secret).await, "the removed admin's key was revoked");
    assert!(pending(kept).await, "other members' invitations stand");
    app.stop().await;
}
