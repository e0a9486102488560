//! Leaving and deleting: a user in no team, deleting a team with every row it had,
//! deleting an account with the teams it alone owns, and a team's export.

use axum::http::StatusCode;
use serde_json::{Value, json};
use uuid::Uuid;

use app::api::accounts::{CreateTeam, DeleteAccount, DeleteTeam, LogIn, PreviewAccountDeletion};
use app::api::api_keys::CreateApiKey;
use app::api::clusters::AddDemoCluster;
use app::api::incidents::ReportIncident;
use app::api::members::{LeaveTeam, ListMembers};
use app::domain::account::{Role, TeamToDelete};
use app::domain::incident::NewIncident;
use app::error::AppError;
use app::server::auth::context::NO_TEAM;

use crate::support::{PASSWORD, TestApp, User};

/// How many rows of `team` each table with a `team_id` column holds, by table.
async fn rows_of(app: &TestApp, team: Uuid) -> Vec<(String, i64)> {
    let db = app.state().db;
    let tables: Vec<String> = sqlx::query_scalar(
        "select table_name::text from information_schema.columns
         where table_schema = 'public' and column_name = 'team_id' order by table_name",
    )
    .fetch_all(&db)
    .await
    .unwrap();
    let mut rows = Vec::new();
    for table in tables {
        let count: i64 = sqlx::query_scalar(&format!("select count(*) from {table} where team_id = $1"))
            .bind(team)
            .fetch_one(&db)
            .await
            .unwrap();
        rows.push((table, count));
    }
    rows
}

fn count(rows: &[(String, i64)], table: &str) -> i64 {
    rows.iter().find(|(name, _)| name == table).map_or(0, |(_, count)| *count)
}

/// A team with something in most of its tables: a member, an API key, a demo cluster,
/// alerts and incidents (analysed), and a Stripe event; its owner, the member and id.
async fn populated_team(app: &TestApp, name: &str) -> (User, User, Uuid) {
    let owner = app.user();
    owner.sign_up(&format!("owner@{name}.example"), name).await;
    let member = app.member(&owner, &format!("member@{name}.example"), Role::Viewer).await;
    let team = owner.team().await;
    let key = owner.run(CreateApiKey { name: format!("{name}-key"), scopes: vec![] }).await.expect("a key").secret;
    owner.run(AddDemoCluster {}).await.expect("the demo cluster is added");
    let alert = json!({"title": format!("{name}: checkout is down"), "severity": "critical", "service": "checkout"});
    assert!(app.send_rest_alert(&key, &alert).await.status().is_success());
    let incident = NewIncident {
        title: format!("{name}-reported"),
        severity: None,
        service: Some("payments".into()),
        description: None,
    };
    owner.run(ReportIncident { incident }).await.expect("reported");
    app.run_pending_jobs().await;
    sqlx::query(
        "insert into stripe_events (id, type, created, team_id, outcome, payload)
         values ($1, 'customer.subscription.updated', now(), $2, 'applied', '\\x7b7d')",
    )
    .bind(format!("evt_{name}"))
    .bind(team)
    .execute(&app.state().db)
    .await
    .unwrap();
    (owner, member, team)
}

#[tokio::test]
async fn a_user_who_left_their_last_team_still_signs_in_and_creates_a_new_one() {
    let app = TestApp::spawn().await;
    let owner = app.user();
    owner.sign_up("owner@example.com", "Payments").await;
    let member = app.member(&owner, "member@example.com", Role::Operator).await;

    member.run(LeaveTeam {}).await.expect("left");
    let viewer = member.viewer().await.expect("still signed in");
    assert_eq!(viewer.team, None, "in no team");
    assert!(viewer.teams.is_empty());
    let refused = member.run(ListMembers {}).await;
    assert_eq!(refused, Err(AppError::Conflict(NO_TEAM.into())), "a team's data needs a team");

    // Signing in again works (it used to be refused), in no team.
    let again = app.user();
    again.log_in("member@example.com", PASSWORD).await;
    assert_eq!(again.viewer().await.expect("signed in").team, None);

    again.run(CreateTeam { team_name: "Search".into() }).await.expect("a team is created");
    let viewer = again.viewer().await.expect("signed in");
    let team = viewer.team.expect("in the new team");
    assert_eq!((team.team_name.as_str(), team.role), ("Search", Role::Owner));
    assert_eq!(again.run(ListMembers {}).await.expect("members").len(), 1);
    app.stop().await;
}

#[tokio::test]
async fn an_owner_deletes_their_team_with_every_row_it_had_and_no_other_teams() {
    let app = TestApp::spawn().await;
    let (owner, member, team) = populated_team(&app, "alpha").await;
    let (_, _, other) = populated_team(&app, "bravo").await;
    let admin = app.member(&owner, "admin@alpha.example", Role::Admin).await;
    let before = rows_of(&app, team).await;
    for table in
        ["incidents", "timeline_entries", "alerts", "analyses", "clusters", "api_keys", "audit_log", "memberships"]
    {
        assert!(count(&before, table) > 0, "the team has {table} before: {before:?}");
    }
    let other_before = rows_of(&app, other).await;

    // Only an owner, and only with the name typed.
    assert_eq!(admin.run(DeleteTeam { confirmation: "alpha".into() }).await, Err(AppError::Forbidden));
    let other_name = owner.run(DeleteTeam { confirmation: "bravo".into() }).await.unwrap_err();
    assert!(other_name.message_for("confirmation").is_some(), "another team's name deletes nothing: {other_name:?}");
    let mistyped = owner.run(DeleteTeam { confirmation: "alhpa".into() }).await.unwrap_err();
    assert!(mistyped.message_for("confirmation").is_some_and(|said| said.contains("alpha")), "{mistyped:?}");
    assert_eq!(rows_of(&app, team).await, before, "nothing is deleted without the name");

    owner.run(DeleteTeam { confirmation: " alpha ".into() }).await.expect("deleted");
    let after = rows_of(&app, team).await;
    assert!(after.iter().all(|(_, count)| *count == 0), "rows of the deleted team remain: {after:?}");
    assert_eq!(rows_of(&app, other).await, other_before, "another team's rows are untouched");

    // Its members carry on in no team, and were told.
    for user in [&owner, &member] {
        assert_eq!(user.viewer().await.expect("still signed in").team, None);
    }
    let told: Vec<String> = sqlx::query_scalar(
        "select recipient::text from mails where purpose = 'team_deleted' and subject like 'alpha%' order by 1",
    )
    .fetch_all(&app.state().db)
    .await
    .unwrap();
    assert_eq!(told, ["admin@alpha.example", "member@alpha.example", "owner@alpha.example"]);
    app.stop().await;
}

#[tokio::test]
async fn deleting_an_account_takes_the_teams_it_alone_owns_and_leaves_the_others() {
    let app = TestApp::spawn().await;
    let leaving = app.user();
    leaving.sign_up("leaving@example.com", "Solo").await;
    let solo = leaving.team().await;
    let colleague = app.member(&leaving, "colleague@example.com", Role::Viewer).await;
    let other_owner = app.user();
    other_owner.sign_up("owner@shared.example", "Shared").await;
    let shared = other_owner.team().await;
    let link = other_owner.invite("leaving@example.com", Role::Owner).await;
    leaving
        .run(app::api::invitations::AcceptInvitation { token: link.trim_start_matches("/invitations/").into() })
        .await
        .expect("joined");

    let preview = leaving.run(PreviewAccountDeletion {}).await.expect("a preview");
    assert_eq!(preview.deleted_teams, [TeamToDelete { name: "Solo".into(), other_members: 1 }]);
    assert_eq!(preview.left_teams, ["Shared"]);

    let wrong = leaving
        .run(DeleteAccount { password: "not-the-password".into(), confirmation: "leaving@example.com".into() })
        .await
        .unwrap_err();
    assert!(wrong.message_for("password").is_some(), "{wrong:?}");
    let unconfirmed =
        leaving.run(DeleteAccount { password: PASSWORD.into(), confirmation: "someone@else.example".into() }).await;
    assert!(unconfirmed.unwrap_err().message_for("confirmation").is_some());
    assert!(leaving.viewer().await.is_some(), "nothing happened yet");

    leaving
        .run(DeleteAccount { password: PASSWORD.into(), confirmation: "Leaving@Example.com".into() })
        .await
        .expect("deleted");
    assert_eq!(leaving.viewer().await, None, "signed out");
    let stranger = app.user();
    let again = stranger.run(LogIn { email: "leaving@example.com".into(), password: PASSWORD.into(), next: None });
    assert!(again.await.is_err(), "the account is gone");
    assert!(rows_of(&app, solo).await.iter().all(|(_, count)| *count == 0), "the team it alone owned is gone");
    assert_eq!(colleague.viewer().await.expect("signed in").team, None, "its other member is in no team");
    let members = other_owner.run(ListMembers {}).await.expect("the shared team stays");
    assert_eq!(members.iter().map(|member| member.email.as_str()).collect::<Vec<_>>(), ["owner@shared.example"]);
    let recorded: i64 = sqlx::query_scalar(
        "select count(*) from audit_log where team_id = $1 and action = 'member.account_deleted'
         and target = 'leaving@example.com'",
    )
    .bind(shared)
    .fetch_one(&app.state().db)
    .await
    .unwrap();
    assert_eq!(recorded, 1, "the shared team's audit log says who left");
    let confirmed: i64 = sqlx::query_scalar(
        "select count(*) from mails where recipient = 'leaving@example.com' and purpose = 'account_deleted'",
    )
    .fetch_one(&app.state().db)
    .await
    .unwrap();
    assert_eq!(confirmed, 1);

    // The address is free again.
    app.user().sign_up("leaving@example.com", "Second life").await;
    app.stop().await;
}

async fn export(user: &User) -> reqwest::Response {
    user.client.get(format!("{}/settings/team-export.json", user.address)).send().await.unwrap()
}

#[tokio::test]
async fn an_admin_exports_the_teams_incidents_timelines_analyses_and_audit_log_and_nothing_else() {
    let app = TestApp::spawn().await;
    let (owner, viewer, _) = populated_team(&app, "alpha").await;
    populated_team(&app, "bravo").await;

    assert_eq!(export(&viewer).await.status(), StatusCode::FORBIDDEN);
    assert_eq!(export(&app.user()).await.status(), StatusCode::UNAUTHORIZED);
    let response = export(&owner).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert!(response.headers()["content-disposition"].to_str().unwrap().starts_with("attachment"));
    let text = response.text().await.unwrap();
    assert!(!text.contains("bravo"), "another team's data leaked into the export");
    let document: Value = serde_json::from_str(&text).expect("the export is JSON");
    assert_eq!(document["format"], "dreamops-team-export/1");
    assert_eq!(document["team"]["name"], "alpha");
    let incidents = document["incidents"].as_array().expect("incidents");
    let titles: Vec<&str> = incidents.iter().filter_map(|incident| incident["title"].as_str()).collect();
    assert_eq!(titles, ["alpha: checkout is down", "alpha-reported"], "oldest first");
    assert!(incidents.iter().all(|incident| !incident["timeline"].as_array().unwrap().is_empty()));
    assert!(incidents.iter().any(|incident| incident["analysis"]["root_cause"].is_string()), "{incidents:?}");
    let actions: Vec<&str> =
        document["audit_log"].as_array().unwrap().iter().filter_map(|entry| entry["action"].as_str()).collect();
    assert!(actions.contains(&"account.signed_up") && actions.last() == Some(&"team.exported"), "{actions:?}");
    assert_eq!(document["members"].as_array().unwrap().len(), 2);
    app.stop().await;
}
