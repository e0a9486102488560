//! The project's contract: tenant isolation and the permission matrix, table-driven.
//! Every feature adds its server functions and routes to these tables.

use axum::http::StatusCode;
use uuid::Uuid;

use app::domain::account::{Permission, Role};

use crate::support::{PASSWORD, TestApp, User};

/// A team with an owner and one member of each other role.
struct Team {
    members: Vec<(Role, User, String)>,
}

impl Team {
    async fn create(app: &TestApp, name: &str) -> Team {
        let owner = app.user();
        let owner_email = format!("owner@{name}.example");
        owner.sign_up(&owner_email, name).await;
        let owner_id = owner.viewer().await["user_id"].as_str().unwrap().to_string();
        let mut members = Vec::new();
        for role in [Role::Admin, Role::Operator, Role::Viewer] {
            let email = format!("{role}@{name}.example");
            let created: serde_json::Value = owner
                .call("create_invitation", &[("email", &email), ("role", role.as_str())])
                .await
                .json()
                .await
                .unwrap();
            let token = created["link"].as_str().unwrap().trim_start_matches("/invitations/").to_string();
            let user = app.user();
            user.call("sign_up", &[("email", &email), ("password", PASSWORD), ("invitation", &token)]).await;
            let id = user.viewer().await["user_id"].as_str().unwrap().to_string();
            members.push((role, user, id));
        }
        members.insert(0, (Role::Owner, owner, owner_id));
        Team { members }
    }

    fn member(&self, role: Role) -> &User {
        &self.members.iter().find(|(r, _, _)| *r == role).unwrap().1
    }

    fn id_of(&self, role: Role) -> &str {
        &self.members.iter().find(|(r, _, _)| *r == role).unwrap().2
    }
}

/// One server function call: endpoint, the permission it needs, and its arguments.
/// Arguments name objects that do not exist (random ids) wherever possible, so that
/// an allowed call has no side effect (it answers 404) and a refused one answers 403.
/// A server function's form arguments.
type Args = Vec<(&'static str, String)>;

fn calls() -> Vec<(&'static str, Permission, Args)> {
    let nobody = Uuid::new_v4().to_string();
    vec![
        ("list_members", Permission::ReadTeam, vec![]),
        ("change_member_role", Permission::ManageMembers, vec![("user_id", nobody.clone()), ("role", "viewer".into())]),
        ("remove_member", Permission::ManageMembers, vec![("user_id", nobody.clone())]),
        (
            "create_invitation",
            Permission::ManageMembers,
            vec![("email", "new@else.example".into()), ("role", "viewer".into())],
        ),
        ("list_invitations", Permission::ManageMembers, vec![]),
        ("revoke_invitation", Permission::ManageMembers, vec![("invitation_id", nobody.clone())]),
        ("create_api_key", Permission::ManageApiKeys, vec![("name", "ci".into())]),
        ("list_api_keys", Permission::ManageApiKeys, vec![]),
        ("revoke_api_key", Permission::ManageApiKeys, vec![("key_id", nobody.clone())]),
        ("list_audit_log", Permission::ReadAuditLog, vec![]),
        (
            "change_password",
            Permission::ReadTeam,
            vec![("current_password", "wrong".into()), ("new_password", "x".into())],
        ),
        ("create_team", Permission::ReadTeam, vec![("team_name", String::new())]),
        ("switch_team", Permission::ReadTeam, vec![("team_id", nobody.clone())]),
        ("accept_invitation", Permission::ReadTeam, vec![("token", "no-such-token".into())]),
    ]
}

const QUERIES: &[&str] = &["list_members", "list_invitations", "list_api_keys", "list_audit_log"];

async fn call(user: &User, endpoint: &str, args: &[(&'static str, String)]) -> reqwest::Response {
    if QUERIES.contains(&endpoint) {
        user.query(endpoint).await
    } else {
        let form: Vec<(&str, &str)> = args.iter().map(|(k, v)| (*k, v.as_str())).collect();
        user.call(endpoint, &form).await
    }
}

#[tokio::test]
async fn every_server_function_answers_each_role_as_the_permission_matrix_says() {
    let app = TestApp::spawn().await;
    let team = Team::create(&app, "acme").await;
    for (endpoint, permission, args) in calls() {
        for role in Role::ALL {
            let status = call(team.member(role), endpoint, &args).await.status();
            if role.can(permission) {
                assert!(
                    status != StatusCode::FORBIDDEN && status != StatusCode::UNAUTHORIZED,
                    "{endpoint} as {role}: {status}"
                );
            } else {
                assert_eq!(status, StatusCode::FORBIDDEN, "{endpoint} as {role}");
            }
        }
        let anonymous = call(&app.user(), endpoint, &args).await.status();
        assert_eq!(anonymous, StatusCode::UNAUTHORIZED, "{endpoint} signed out");
    }
    // The CSV export follows the audit log's permission.
    for role in Role::ALL {
        let user = team.member(role);
        let status = user.client.get(format!("{}/settings/audit-log.csv", user.address)).send().await.unwrap().status();
        assert_eq!(status == StatusCode::OK, role.can(Permission::ReadAuditLog), "CSV as {role}: {status}");
    }
    app.stop().await;
}

#[tokio::test]
async fn a_member_of_one_team_never_reaches_another_teams_data() {
    let app = TestApp::spawn().await;
    let a = Team::create(&app, "alpha").await;
    let b = Team::create(&app, "bravo").await;
    let b_owner = b.member(Role::Owner);
    let b_invitation: serde_json::Value = b_owner
        .call("create_invitation", &[("email", "pending@bravo.example"), ("role", "viewer")])
        .await
        .json()
        .await
        .unwrap();
    let b_key: serde_json::Value =
        b_owner.call("create_api_key", &[("name", "bravo-secret-key")]).await.json().await.unwrap();
    let b_team_id = b_owner.viewer().await["team"]["team_id"].as_str().unwrap().to_string();
    let db = app.db().await;
    let snapshot = || async {
        sqlx::query_scalar::<_, String>(
            "select (select string_agg(m::text, '|' order by m::text) from memberships m)
                 || (select string_agg(i::text, '|' order by i::text) from invitations i)
                 || (select string_agg(k::text, '|' order by k::text) from api_keys k)",
        )
        .fetch_one(&db)
        .await
        .unwrap()
    };
    let before = snapshot().await;

    // Every call names B's objects; A's owner may do anything in A, nothing in B.
    let attacker = a.member(Role::Owner);
    let attempts: Vec<(&str, Args)> = vec![
        ("change_member_role", vec![("user_id", b.id_of(Role::Viewer).to_string()), ("role", "admin".into())]),
        ("remove_member", vec![("user_id", b.id_of(Role::Viewer).to_string())]),
        ("remove_member", vec![("user_id", b.id_of(Role::Owner).to_string())]),
        ("revoke_invitation", vec![("invitation_id", b_invitation["invitation"]["id"].as_str().unwrap().to_string())]),
        ("revoke_api_key", vec![("key_id", b_key["key"]["id"].as_str().unwrap().to_string())]),
        ("switch_team", vec![("team_id", b_team_id.clone())]),
    ];
    for (endpoint, args) in &attempts {
        let status = call(attacker, endpoint, args).await.status();
        assert_eq!(status, StatusCode::NOT_FOUND, "{endpoint} with B's ids");
    }
    assert_eq!(snapshot().await, before, "nothing of B changed");

    // Nothing of B appears in anything A can read.
    let mut seen = String::new();
    for endpoint in QUERIES.iter().chain(&["current_viewer"]) {
        seen.push_str(&attacker.query(endpoint).await.text().await.unwrap());
    }
    seen.push_str(
        &attacker
            .client
            .get(format!("{}/settings/audit-log.csv", attacker.address))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap(),
    );
    for secret in ["bravo", &b_team_id, b_key["key"]["prefix"].as_str().unwrap()] {
        assert!(!seen.contains(secret), "A saw {secret:?}");
    }
    app.stop().await;
}
