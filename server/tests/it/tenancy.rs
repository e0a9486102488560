//! The project's contract: tenant isolation and the permission matrix, table-driven.
//! Every feature adds its server functions and routes to these tables.

use axum::http::StatusCode;
use uuid::Uuid;

use app::api::api_keys::CreateApiKey;
use app::api::clusters::{AddCluster, AddDemoCluster};
use app::api::github::SetGithubRepositories;
use app::api::incidents::{ReportIncident, ResolveIncident};
use app::api::integrations::ListIntegrations;
use app::api::invitations::CreateInvitation;
use app::api::postmortems::StartPostmortem;
use app::api::runbooks::SaveRunbook;
use app::api::webhooks::CreateWebhook;
use app::domain::account::{Permission, Role};
use app::domain::incident::NewIncident;
use app::domain::webhook::WebhookEvent;

use crate::support::{TestApp, User};

/// A team with an owner and one member of each other role.
struct Team {
    members: Vec<(Role, User, String)>,
}

impl Team {
    async fn create(app: &TestApp, name: &str) -> Team {
        let owner = app.user();
        let owner_email = format!("owner@{name}.example");
        owner.sign_up(&owner_email, name).await;
        let owner_id = owner.id().await.to_string();
        let mut members = Vec::new();
        for role in [Role::Admin, Role::Operator, Role::Viewer] {
            let user = app.member(&owner, &format!("{role}@{name}.example"), role).await;
            let id = user.id().await.to_string();
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
        // Every member's own account: answered (a conflict, a wrong password) with no effect.
        ("resend_verification", Permission::ReadTeam, vec![]),
        (
            "change_email",
            Permission::ReadTeam,
            vec![("new_email", "moved@else.example".into()), ("password", "wrong".into())],
        ),
        ("confirm_two_factor", Permission::ReadTeam, vec![("code", "000000".into())]),
        ("turn_off_two_factor", Permission::ReadTeam, vec![("password", "wrong".into())]),
        ("team_two_factor", Permission::ReadTeam, vec![]),
        ("set_team_two_factor", Permission::ManageOwners, vec![("required", "false".into())]),
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
        // Not the team's name: an owner is refused for the field (422), deleting nothing.
        ("delete_team", Permission::DeleteTeam, vec![("confirmation", "not the name".into())]),
        ("preview_account_deletion", Permission::ReadTeam, vec![]),
        ("get_email_notifications", Permission::ReadTeam, vec![]),
        ("get_sso", Permission::ManageSso, vec![]),
        // Not on Enterprise: an owner is told so (409), saving nothing.
        (
            "save_sso",
            Permission::ManageSso,
            vec![
                ("issuer", "https://id.example".into()),
                ("client_id", "x".into()),
                ("allowed_domains", "example.com".into()),
                ("default_role", "viewer".into()),
            ],
        ),
        // Nothing saved: an owner is told so (404).
        ("remove_sso", Permission::ManageSso, vec![]),
        // Not a severity: refused for the field (422), saving nothing.
        (
            "set_email_notifications",
            Permission::ReadTeam,
            vec![("new_incident_severity", "loud".into()), ("resolved", "true".into())],
        ),
        // A wrong password: refused for the field (422), deleting nothing.
        ("delete_account", Permission::ReadTeam, vec![("password", "wrong".into()), ("confirmation", String::new())]),
        ("switch_team", Permission::ReadTeam, vec![("team_id", nobody.clone())]),
        ("accept_invitation", Permission::ReadTeam, vec![("token", "no-such-token".into())]),
        ("list_integrations", Permission::ManageIntegrations, vec![]),
        ("reveal_integration", Permission::ManageIntegrations, vec![("kind", "no-such-kind".into())]),
        ("rotate_integration", Permission::ManageIntegrations, vec![("kind", "no-such-kind".into())]),
        ("add_pagerduty_secret", Permission::ManageIntegrations, vec![("secret", String::new())]),
        ("revoke_old_pagerduty_secret", Permission::ManageIntegrations, vec![]),
        ("send_test_alert", Permission::ManageIntegrations, vec![("kind", "no-such-kind".into())]),
        ("get_usage", Permission::ReadTeam, vec![]),
        ("list_incidents", Permission::ReadTeam, vec![]),
        ("get_incident", Permission::ReadTeam, vec![("id", nobody.clone())]),
        ("acknowledge_incident", Permission::RespondToIncidents, vec![("id", nobody.clone())]),
        ("resolve_incident", Permission::RespondToIncidents, vec![("id", nobody.clone()), ("note", "done".into())]),
        ("reopen_incident", Permission::RespondToIncidents, vec![("id", nobody.clone())]),
        ("add_incident_note", Permission::RespondToIncidents, vec![("id", nobody.clone()), ("text", "hi".into())]),
        (
            "set_incident_severity",
            Permission::RespondToIncidents,
            vec![("id", nobody.clone()), ("severity", "critical".into())],
        ),
        // A blank title: allowed roles are refused for the title (422), creating nothing.
        ("report_incident", Permission::RespondToIncidents, vec![("incident[title]", String::new())]),
        ("get_dashboard", Permission::ReadTeam, vec![]),
        ("get_billing", Permission::ManageBilling, vec![]),
        // Not a plan on sale: an owner is refused for the plan (422), opening nothing.
        ("start_checkout", Permission::ManageBilling, vec![("plan", "no-such-plan".into())]),
        ("get_test_checkout", Permission::ManageBilling, vec![("session", "cs_nobody".into())]),
        (
            "pay_test_checkout",
            Permission::ManageBilling,
            vec![("session", "cs_nobody".into()), ("card", "4242424242424242".into())],
        ),
        // No subscription: an owner is told so (409).
        ("cancel_subscription", Permission::ManageBilling, vec![]),
        // Test mode has no portal: an owner is told so (409).
        ("open_billing_portal", Permission::ManageBilling, vec![]),
        // The provider the team pays through already: nothing changes.
        ("set_payment_provider", Permission::ManageBilling, vec![("provider", "stripe".into())]),
        ("list_postmortems", Permission::ReadTeam, vec![]),
        ("get_postmortem", Permission::ReadTeam, vec![("id", nobody.clone())]),
        ("start_postmortem", Permission::RespondToIncidents, vec![("incident", nobody.clone())]),
        (
            "save_postmortem",
            Permission::RespondToIncidents,
            vec![("id", nobody.clone()), ("version", "1".into()), ("body", "x".into())],
        ),
        ("get_github", Permission::ManageIntegrations, vec![]),
        // A blank token: refused for the field (422) before GitHub is asked.
        ("connect_github", Permission::ManageIntegrations, vec![("token", String::new())]),
        // A blank app id: refused for the field (422) before GitHub is asked.
        ("connect_github_app", Permission::ManageIntegrations, vec![("app_id", String::new())]),
        // Not connected: allowed roles are told so (409).
        ("test_github", Permission::ManageIntegrations, vec![]),
        ("disconnect_github", Permission::ManageIntegrations, vec![]),
        // A line that is not a mapping: refused for the field (422), saving nothing.
        ("set_github_repositories", Permission::ManageIntegrations, vec![("repositories", "nonsense".into())]),
        // Not a repository: refused for the field (422), saving nothing.
        ("set_github_issue_settings", Permission::ManageIntegrations, vec![("repository", "nonsense".into())]),
        ("incident_github_issues", Permission::ReadTeam, vec![("incident", nobody.clone())]),
        ("postmortem_github_issues", Permission::ReadTeam, vec![("id", nobody.clone())]),
        // No such incident: allowed roles are told so (404).
        ("create_github_issue", Permission::RespondToIncidents, vec![("incident", nobody.clone())]),
        ("export_postmortem_to_github", Permission::RespondToIncidents, vec![("id", nobody.clone())]),
        ("get_notion", Permission::ManageIntegrations, vec![]),
        // A blank token: refused for the field (422) before Notion is asked.
        ("connect_notion", Permission::ManageIntegrations, vec![("token", String::new())]),
        // Not connected: allowed roles are told so (409).
        ("test_notion", Permission::ManageIntegrations, vec![]),
        ("disconnect_notion", Permission::ManageIntegrations, vec![]),
        ("set_notion_places", Permission::ManageIntegrations, vec![("runbooks_database", "nonsense".into())]),
        ("sync_notion_runbooks", Permission::ManageIntegrations, vec![]),
        ("export_postmortem_to_notion", Permission::RespondToIncidents, vec![("id", nobody.clone())]),
        ("list_runbooks", Permission::ReadTeam, vec![]),
        ("get_runbook", Permission::ReadTeam, vec![("id", nobody.clone())]),
        // A blank title: allowed roles are refused for the field (422), saving nothing.
        ("save_runbook", Permission::RespondToIncidents, vec![("title", String::new()), ("body", String::new())]),
        ("delete_runbook", Permission::ManageIntegrations, vec![("id", nobody.clone())]),
        ("get_incident_runbook", Permission::ReadTeam, vec![("incident", nobody.clone())]),
        (
            "tick_runbook_step",
            Permission::RespondToIncidents,
            vec![("incident", nobody.clone()), ("runbook", nobody.clone()), ("step", "0".into())],
        ),
        // Blank input: allowed roles are refused for the field (422), saving nothing.
        ("read_kubeconfig", Permission::ManageClusters, vec![("kubeconfig", String::new())]),
        (
            "add_cluster",
            Permission::ManageClusters,
            vec![("name", String::new()), ("kubeconfig", String::new()), ("context", String::new())],
        ),
        ("list_clusters", Permission::ReadTeam, vec![]),
        ("rename_cluster", Permission::ManageClusters, vec![("id", nobody.clone()), ("name", "x".into())]),
        ("remove_cluster", Permission::ManageClusters, vec![("id", nobody.clone())]),
        ("get_cluster", Permission::ReadTeam, vec![("id", nobody.clone())]),
        // The first allowed role adds it; the next are told the team has it (409).
        ("add_demo_cluster", Permission::ManageClusters, vec![]),
        ("test_cluster_connection", Permission::ReadTeam, vec![("id", nobody.clone())]),
        ("get_cluster_overview", Permission::ReadTeam, vec![("id", nobody.clone())]),
        (
            "set_cluster_policy",
            Permission::ManageClusters,
            vec![("id", nobody.clone()), ("mode", "approve".into()), ("max_autonomous_risk", "low".into())],
        ),
        ("reset_demo_cluster", Permission::ManageClusters, vec![("id", nobody.clone())]),
        ("simulate_failure", Permission::ManageClusters, vec![("id", nobody.clone()), ("failure", "pod_crash".into())]),
        ("get_agent_progress", Permission::ReadTeam, vec![("incident", nobody.clone())]),
        ("retry_analysis", Permission::RespondToIncidents, vec![("incident", nobody.clone())]),
        (
            "give_analysis_feedback",
            Permission::RespondToIncidents,
            vec![("incident", nobody.clone()), ("right", "true".into())],
        ),
        ("get_llm_settings", Permission::ManageIntegrations, vec![]),
        // Blank input: allowed roles are refused for the fields (422), saving nothing.
        (
            "set_team_llm",
            Permission::ManageIntegrations,
            vec![("kind", String::new()), ("base_url", String::new()), ("model", String::new())],
        ),
        // None saved: allowed roles are told so (404).
        ("remove_team_llm", Permission::ManageIntegrations, vec![]),
        ("get_incident_actions", Permission::ReadTeam, vec![("incident", nobody.clone())]),
        ("approve_action", Permission::ApproveRemediations, vec![("incident", nobody.clone()), ("index", "0".into())]),
        ("get_automation_paused", Permission::ReadTeam, vec![]),
        ("set_automation_paused", Permission::ManageClusters, vec![("paused", "false".into())]),
        ("get_notification_settings", Permission::ManageIntegrations, vec![]),
        // Blank or wrong input: allowed roles are refused for the fields (422), saving nothing.
        (
            "set_pagerduty_writeback",
            Permission::ManageIntegrations,
            vec![("key", String::new()), ("from", String::new())],
        ),
        ("set_slack_webhook", Permission::ManageIntegrations, vec![("url", String::new())]),
        ("remove_notification", Permission::ManageIntegrations, vec![("which", "nothing".into())]),
        ("list_webhooks", Permission::ManageIntegrations, vec![]),
        // A blank URL: allowed roles are refused for the field (422), saving nothing.
        ("create_webhook", Permission::ManageIntegrations, vec![("url", String::new())]),
        ("rotate_webhook_secret", Permission::ManageIntegrations, vec![("id", nobody.clone())]),
        ("remove_webhook", Permission::ManageIntegrations, vec![("id", nobody.clone())]),
        ("list_webhook_deliveries", Permission::ManageIntegrations, vec![("endpoint", nobody.clone())]),
        ("replay_webhook_delivery", Permission::ManageIntegrations, vec![("delivery", "1".into())]),
    ]
}

const QUERIES: &[&str] = &[
    "list_members",
    "team_two_factor",
    "list_invitations",
    "list_api_keys",
    "list_audit_log",
    "list_integrations",
    "get_usage",
    "list_incidents",
    "get_incident",
    "get_dashboard",
    "get_billing",
    "get_test_checkout",
    "list_clusters",
    "get_cluster",
    "get_agent_progress",
    "get_llm_settings",
    "get_incident_actions",
    "get_automation_paused",
    "preview_account_deletion",
    "get_email_notifications",
    "get_sso",
    "get_notification_settings",
    "list_webhooks",
    "list_webhook_deliveries",
    "list_runbooks",
    "get_runbook",
    "get_github",
    "list_postmortems",
    "get_postmortem",
    "get_incident_runbook",
    "incident_github_issues",
    "postmortem_github_issues",
    "get_notion",
];

async fn call(user: &User, endpoint: &str, args: &[(&'static str, String)]) -> reqwest::Response {
    if QUERIES.contains(&endpoint) {
        let query: Vec<String> = args
            .iter()
            .map(|(k, v)| format!("{k}={}", url::form_urlencoded::byte_serialize(v.as_bytes()).collect::<String>()))
            .collect();
        user.query(&format!("{endpoint}?{}", query.join("&"))).await
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
    // The live event stream is for every member, and only members.
    for role in Role::ALL {
        let user = team.member(role);
        let status = user.client.get(format!("{}/events", user.address)).send().await.unwrap().status();
        assert_eq!(status, StatusCode::OK, "events as {role}");
    }
    assert_eq!(app.get("/events").await.status(), StatusCode::UNAUTHORIZED, "events signed out");
    // The downloads follow their permissions.
    for (path, permission) in
        [("audit-log.csv", Permission::ReadAuditLog), ("team-export.json", Permission::ExportTeamData)]
    {
        for role in Role::ALL {
            let user = team.member(role);
            let status = user.client.get(format!("{}/settings/{path}", user.address)).send().await.unwrap().status();
            assert_eq!(status == StatusCode::OK, role.can(permission), "{path} as {role}: {status}");
        }
    }
    app.stop().await;
}

#[tokio::test]
async fn a_member_of_one_team_never_reaches_another_teams_data() {
    let app = TestApp::spawn().await;
    let a = Team::create(&app, "alpha").await;
    let b = Team::create(&app, "bravo").await;
    let b_owner = b.member(Role::Owner);
    let b_invitation = b_owner
        .run(CreateInvitation { email: "pending@bravo.example".into(), role: Role::Viewer })
        .await
        .expect("invited");
    let b_key = b_owner
        .run(CreateApiKey { name: "bravo-secret-key".into(), scopes: vec![] })
        .await
        .expect("the key is created");
    let b_team_id = b_owner.team().await.to_string();
    let hook =
        CreateWebhook { url: "https://bravo-hooks.example/in".into(), events: vec![WebhookEvent::IncidentOpened] };
    let b_webhook = b_owner.run(hook).await.expect("the webhook is added").endpoint.id.to_string();
    let reported = NewIncident {
        title: "bravo-incident-title".into(),
        severity: None,
        service: Some("bravo-svc".into()),
        description: None,
    };
    let b_incident = b_owner.run(ReportIncident { incident: reported }).await.expect("reported").id.to_string();
    let b_runbook = b_owner
        .run(SaveRunbook {
            id: None,
            version: None,
            title: "bravo-runbook-title".into(),
            body: "1. bravo-runbook-step\n".into(),
            alert_names: String::new(),
            services: "bravo-svc".into(),
            labels: String::new(),
        })
        .await
        .expect("the runbook is saved")
        .id
        .to_string();
    b_owner
        .run(SetGithubRepositories { repositories: "bravo-svc = bravo-org/bravo-repo".into() })
        .await
        .expect("the map is saved");
    let b_closed = b_owner
        .run(ReportIncident {
            incident: NewIncident { title: "bravo-closed".into(), severity: None, service: None, description: None },
        })
        .await
        .expect("reported")
        .id;
    b_owner.run(ResolveIncident { id: b_closed, note: None }).await.expect("resolved");
    let b_postmortem =
        b_owner.run(StartPostmortem { incident: b_closed }).await.expect("drafted").summary.id.to_string();
    let b_closed = b_closed.to_string();
    let b_kubeconfig = "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster: {server: 'https://bravo.example'}\n\
                        contexts:\n- name: bravo-context\n  context: {cluster: c, user: u}\n\
                        users:\n- name: u\n  user: {token: bravo-cluster-token}\n";
    let added = AddCluster {
        name: "bravo-cluster".into(),
        kubeconfig: b_kubeconfig.into(),
        context: "bravo-context".into(),
        namespace: None,
    };
    let b_cluster = b_owner.run(added).await.expect("the cluster is added").id.to_string();
    let b_demo = b_owner.run(AddDemoCluster {}).await.expect("the demo cluster is added").id.to_string();
    let db = app.db().await;
    let b_delivery: i64 = sqlx::query_scalar("select id from webhook_deliveries").fetch_one(&db).await.unwrap();
    let snapshot = || async {
        sqlx::query_scalar::<_, String>(
            "select (select string_agg(m::text, '|' order by m::text) from memberships m)
                 || (select string_agg(i::text, '|' order by i::text) from invitations i)
                 || (select string_agg(k::text, '|' order by k::text) from api_keys k)
                 || (select string_agg(i::text, '|' order by i::text) from incidents i)
                 || (select count(*) from timeline_entries)::text
                 || (select string_agg(c.name || c.remediation_mode, '|' order by c.name) from clusters c)
                 || (select string_agg(o.object::text, '|' order by o.resource, o.namespace, o.name) from demo_objects o)
                 || (select count(*) from remediation_actions)::text
                 || (select count(*) from team_notifications)::text
                 || (select string_agg(t.automation_paused::text, '|' order by t.id) from teams t)
                 || (select string_agg(w::text, '|' order by w.id) from webhook_endpoints w)
                 || (select count(*) from webhook_deliveries)::text
                 || (select t.plan || t.payment_provider from teams t where t.name = 'bravo')
                 || (select count(*) from phonepe_payments)::text
                 || (select string_agg(r.title || r.version, '|' order by r.id) from runbooks r)
                 || (select count(*) from runbook_versions)::text
                 || (select count(*) from runbook_ticks)::text
                 || (select string_agg(p.body || p.version || coalesce(p.notion_url, ''), '|' order by p.id) from postmortems p)
                 || (select count(*) from github_issues)::text || (select count(*) from github_calls)::text
                 || (select string_agg(g.service || g.repository, '|') from github_repositories g
                     join teams t on t.id = g.team_id where t.name = 'bravo')",
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
        ("revoke_invitation", vec![("invitation_id", b_invitation.invitation.id.to_string())]),
        ("revoke_api_key", vec![("key_id", b_key.key.id.to_string())]),
        ("switch_team", vec![("team_id", b_team_id.clone())]),
        ("get_incident", vec![("id", b_incident.clone())]),
        ("acknowledge_incident", vec![("id", b_incident.clone())]),
        ("resolve_incident", vec![("id", b_incident.clone())]),
        ("add_incident_note", vec![("id", b_incident.clone()), ("text", "from A".into())]),
        ("set_incident_severity", vec![("id", b_incident.clone()), ("severity", "info".into())]),
        ("rename_cluster", vec![("id", b_cluster.clone()), ("name", "from A".into())]),
        ("remove_cluster", vec![("id", b_cluster.clone())]),
        ("get_cluster", vec![("id", b_cluster.clone())]),
        ("test_cluster_connection", vec![("id", b_cluster.clone())]),
        ("get_cluster_overview", vec![("id", b_demo.clone())]),
        ("test_cluster_connection", vec![("id", b_demo.clone())]),
        (
            "set_cluster_policy",
            vec![("id", b_demo.clone()), ("mode", "autonomous".into()), ("max_autonomous_risk", "high".into())],
        ),
        ("reset_demo_cluster", vec![("id", b_demo.clone())]),
        ("simulate_failure", vec![("id", b_demo.clone()), ("failure", "oom_kill".into())]),
        ("retry_analysis", vec![("incident", b_incident.clone())]),
        ("give_analysis_feedback", vec![("incident", b_incident.clone()), ("right", "false".into())]),
        ("get_incident_actions", vec![("incident", b_incident.clone())]),
        ("approve_action", vec![("incident", b_incident.clone()), ("index", "0".into())]),
        ("rotate_webhook_secret", vec![("id", b_webhook.clone())]),
        ("remove_webhook", vec![("id", b_webhook.clone())]),
        ("list_webhook_deliveries", vec![("endpoint", b_webhook.clone())]),
        ("replay_webhook_delivery", vec![("delivery", b_delivery.to_string())]),
        ("get_runbook", vec![("id", b_runbook.clone())]),
        ("save_runbook", vec![("id", b_runbook.clone()), ("title", "from A".into()), ("body", "1. from A\n".into())]),
        ("delete_runbook", vec![("id", b_runbook.clone())]),
        ("get_postmortem", vec![("id", b_postmortem.clone())]),
        ("save_postmortem", vec![("id", b_postmortem.clone()), ("version", "1".into()), ("body", "from A".into())]),
        ("start_postmortem", vec![("incident", b_closed.clone())]),
        ("get_incident_runbook", vec![("incident", b_incident.clone())]),
        ("incident_github_issues", vec![("incident", b_incident.clone())]),
        ("postmortem_github_issues", vec![("id", b_postmortem.clone())]),
        ("create_github_issue", vec![("incident", b_incident.clone())]),
        ("export_postmortem_to_github", vec![("id", b_postmortem.clone())]),
        ("export_postmortem_to_github", vec![("id", b_postmortem.clone()), ("action_items", "true".into())]),
        ("export_postmortem_to_notion", vec![("id", b_postmortem.clone())]),
        (
            "tick_runbook_step",
            vec![("incident", b_incident.clone()), ("runbook", b_runbook.clone()), ("step", "0".into())],
        ),
    ];
    for (endpoint, args) in &attempts {
        let status = call(attacker, endpoint, args).await.status();
        assert_eq!(status, StatusCode::NOT_FOUND, "{endpoint} with B's ids");
    }
    let export = attacker.client.get(format!("{}/postmortems/{b_postmortem}/export.md", attacker.address)).send().await;
    assert_eq!(export.unwrap().status(), StatusCode::NOT_FOUND, "B's post-mortem download");
    // Settings calls take no ids: they change A's own team only.
    let status = call(attacker, "set_github_repositories", &[("repositories", "a = alpha/repo".into())]).await.status();
    assert_eq!(status, StatusCode::OK, "A maps its own services");
    // Billing calls take no ids: they change A's own team only.
    let status = call(attacker, "set_payment_provider", &[("provider", "phonepe".into())]).await.status();
    assert_eq!(status, StatusCode::OK, "A chooses PhonePe for A");
    // B's name deletes nothing: deletion is of A's own team, by its own name.
    let status = call(attacker, "delete_team", &[("confirmation", "bravo".into())]).await.status();
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "delete_team with B's name");
    assert_eq!(snapshot().await, before, "nothing of B changed");

    // Nothing of B appears in anything A can read.
    let mut seen = String::new();
    for endpoint in QUERIES.iter().chain(&["current_viewer"]) {
        seen.push_str(&call(attacker, endpoint, &[]).await.text().await.unwrap());
    }
    for download in ["team-export.json", "audit-log.csv"] {
        let url = format!("{}/settings/{download}", attacker.address);
        seen.push_str(&attacker.client.get(url).send().await.unwrap().text().await.unwrap());
    }
    for secret in [
        "bravo",
        &b_runbook,
        &b_postmortem,
        &b_team_id,
        b_key.key.prefix.as_str(),
        &b_incident,
        &b_cluster,
        &b_demo,
        &b_webhook,
    ] {
        assert!(!seen.contains(secret), "A saw {secret:?}");
    }
    app.stop().await;
}

#[tokio::test]
async fn one_teams_alert_credentials_never_write_into_another_team() {
    let app = TestApp::spawn().await;
    let a = Team::create(&app, "alpha").await;
    let b = Team::create(&app, "bravo").await;
    let state = app.state();
    let a_id = a.member(Role::Owner).team().await;
    let b_id = b.member(Role::Owner).team().await;
    let a_sources = app::server::ingest::integrations::ensure(&state.db, &state.cipher, a_id).await.unwrap();
    let b_sources = app::server::ingest::integrations::ensure(&state.db, &state.cipher, b_id).await.unwrap();
    let source = |list: &[app::server::ingest::integrations::Integration], kind: &str| {
        list.iter().find(|i| i.kind.as_str() == kind).unwrap().secrets.clone()
    };

    // B has an open incident with a well-known dedup key.
    let trigger = |key: &str| {
        serde_json::json!({"routing_key": key, "event_action": "trigger", "dedup_key": "shared-key",
            "payload": {"summary": "disk full", "source": "db", "severity": "error"}})
        .to_string()
    };
    let send = |body: String| app.client.post(format!("{}/v2/enqueue", app.address)).body(body).send();
    assert_eq!(send(trigger(&source(&b_sources, "events_api").token)).await.unwrap().status(), StatusCode::ACCEPTED);
    // A's routing key with the same dedup key, and a resolve: both stay in A.
    assert_eq!(send(trigger(&source(&a_sources, "events_api").token)).await.unwrap().status(), StatusCode::ACCEPTED);
    let resolve = serde_json::json!({"routing_key": source(&a_sources, "events_api").token, "event_action": "resolve", "dedup_key": "shared-key"}).to_string();
    send(resolve).await.unwrap();
    let db = app.db().await;
    let b_state: (String, i32) = sqlx::query_as("select status, occurrences from incidents where team_id = $1")
        .bind(b_id)
        .fetch_one(&db)
        .await
        .unwrap();
    assert_eq!(b_state, ("triggered".to_string(), 1), "B's incident untouched");

    // A's Alertmanager bearer on B's URL is refused, and nothing is stored for B.
    let b_url = format!("{}/webhooks/alertmanager/{}", app.address, source(&b_sources, "alertmanager").token);
    let response = app
        .client
        .post(b_url)
        .header("authorization", format!("Bearer {}", source(&a_sources, "alertmanager").bearer.unwrap()))
        .body(r#"{"version":"4","alerts":[]}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let b_alerts: i64 =
        sqlx::query_scalar("select count(*) from alerts where team_id = $1").bind(b_id).fetch_one(&db).await.unwrap();
    assert_eq!(b_alerts, 1);

    // A's views never show B's tokens.
    let seen = a.member(Role::Owner).send(ListIntegrations {}).await.text().await.unwrap();
    for secret in [source(&b_sources, "alertmanager").token, source(&b_sources, "events_api").token] {
        assert!(!seen.contains(&secret));
    }
    app.stop().await;
}

/// The account functions anyone may call signed out (they are reached from mailed
/// links): without a valid link they change nothing and say nothing about any account.
#[tokio::test]
async fn the_signed_out_account_functions_change_nothing_without_a_valid_link() {
    let app = TestApp::spawn().await;
    let team = Team::create(&app, "alpha").await;
    let db = app.db().await;
    let snapshot = || async {
        sqlx::query_scalar::<_, String>(
            "select (select string_agg(u.email || u.password_hash || u.session_version || coalesce(u.email_verified_at::text, ''), '|' order by u.id) from users u)
                 || (select count(*) from memberships)::text || (select count(*) from mails)::text",
        )
        .fetch_one(&db)
        .await
        .unwrap()
    };
    let before = snapshot().await;
    let stranger = app.user();
    let forged = app::server::token::random_hex(32);
    for (endpoint, args) in [
        ("reset_password", vec![("token", forged.clone()), ("password", "a new horse battery".to_string())]),
        ("verify_email", vec![("token", forged.clone())]),
    ] {
        let status = call(&stranger, endpoint, &args).await.status();
        assert_eq!(status, StatusCode::CONFLICT, "{endpoint} with a forged token");
    }
    let unknown = call(&stranger, "request_password_reset", &[("email", "nobody@else.example".into())]).await;
    assert_eq!(unknown.status(), StatusCode::OK);
    assert_eq!(snapshot().await, before, "nothing changed, no mail queued");
    assert!(stranger.viewer().await.is_none(), "and nobody was signed in");
    assert!(team.member(Role::Owner).viewer().await.is_some(), "the team's sessions carry on");
    app.stop().await;
}
