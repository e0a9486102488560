//! Email notifications: each member gets the incident mails they chose (confirmed
//! addresses only), the weekly digest goes out once per team, and the signed link at
//! the foot of a mail — delivered by a real SMTP server — turns that one kind off
//! without signing in, and can do nothing else.

use axum::http::StatusCode;
use secrecy::SecretString;
use uuid::Uuid;

use app::api::incidents::{ReportIncident, ResolveIncident};
use app::api::members::{GetEmailNotifications, SetEmailNotifications};
use app::domain::account::{NotificationPreferences, Role};
use app::domain::incident::{NewIncident, Severity};

use crate::smtp_server::SmtpServer;
use crate::support::{TestApp, User};

fn choose(severity: &str, awaiting_approval: bool, resolved: bool, weekly_digest: bool) -> SetEmailNotifications {
    SetEmailNotifications { new_incident_severity: severity.into(), awaiting_approval, resolved, weekly_digest }
}

/// Who was mailed `purpose` about `subject` (or anything, when empty), by address.
async fn mailed(app: &TestApp, purpose: &str, subject: &str) -> Vec<String> {
    sqlx::query_scalar(
        "select recipient::text from mails where purpose = $1 and subject like '%' || $2 || '%' order by recipient",
    )
    .bind(purpose)
    .bind(subject)
    .fetch_all(&app.state().db)
    .await
    .unwrap()
}

async fn report(user: &User, title: &str, severity: Severity) -> Uuid {
    let incident = NewIncident { title: title.into(), severity: Some(severity), service: None, description: None };
    user.run(ReportIncident { incident }).await.expect("reported").id
}

#[tokio::test]
async fn members_get_the_incident_mails_they_chose_and_only_at_a_confirmed_address() {
    let app = TestApp::spawn().await;
    let owner = app.user();
    owner.sign_up("owner@example.com", "Payments").await;
    let operator = app.member(&owner, "operator@example.com", Role::Operator).await;
    let unconfirmed = app.member(&owner, "unconfirmed@example.com", Role::Viewer).await;
    sqlx::query("update users set email_verified_at = null where email = 'unconfirmed@example.com'")
        .execute(&app.state().db)
        .await
        .unwrap();

    // The defaults: critical incidents and approvals; no resolutions; the digest.
    let defaults = operator.run(GetEmailNotifications {}).await.expect("the defaults");
    assert_eq!(
        defaults,
        NotificationPreferences {
            new_incident_severity: Some(Severity::Critical),
            awaiting_approval: true,
            resolved: false,
            weekly_digest: true
        }
    );
    owner.run(choose("warning", true, true, true)).await.expect("saved");
    unconfirmed.run(choose("info", true, true, true)).await.expect("saved");
    let refused = owner.run(choose("loud", true, true, true)).await.unwrap_err();
    assert!(refused.message_for("new_incident_severity").is_some(), "{refused:?}");

    let error = report(&owner, "Checkout errors", Severity::Error).await;
    report(&owner, "Checkout down", Severity::Critical).await;
    report(&owner, "Disk at 70%", Severity::Info).await;
    app.run_pending_jobs().await;
    assert_eq!(mailed(&app, "new_incident", "Checkout errors").await, ["owner@example.com"]);
    assert_eq!(mailed(&app, "new_incident", "Checkout down").await, ["operator@example.com", "owner@example.com"]);
    assert!(mailed(&app, "new_incident", "Disk at 70%").await.is_empty(), "nobody asked for info");

    // Resolved by the operator: mailed to those who asked, but not to the one who did it.
    operator.run(choose("critical", true, true, true)).await.expect("saved");
    operator.run(ResolveIncident { id: error, note: Some("rolled back".into()) }).await.expect("resolved");
    assert_eq!(mailed(&app, "resolved", "Checkout errors").await, ["owner@example.com"]);
    let audit: i64 =
        sqlx::query_scalar("select count(*) from audit_log where action = 'notifications.changed' and target is null")
            .fetch_one(&app.state().db)
            .await
            .unwrap();
    assert_eq!(audit, 3, "every saved choice is audited (the refused one saved nothing)");
    app.stop().await;
}

#[tokio::test]
async fn an_action_awaiting_approval_and_its_verified_fix_are_mailed_to_who_asked() {
    let app = crate::remediation::with_remediation(3, 5).await;
    let (owner, cluster, team) = crate::demo_cluster::with_demo_cluster(&app, "owner@approvals.example").await;
    crate::agent::unlimited(&app, team).await;
    crate::remediation::set_policy(&owner, cluster, "approve", "low", "", false).await;
    let operator = app.member(&owner, "operator@approvals.example", Role::Operator).await;
    operator.run(choose("none", false, true, false)).await.expect("saved");

    let incident = crate::agent::send(&app, team, &crate::remediation::oom()).await;
    crate::agent::analysis(&owner, incident).await;
    assert_eq!(mailed(&app, "awaiting_approval", "").await, ["owner@approvals.example"]);
    crate::remediation::approve(&operator, incident, 0, "go").await.expect("approved");
    crate::remediation::settled(&operator, incident).await;
    assert_eq!(mailed(&app, "resolved", "").await, ["operator@approvals.example"]);
    app.stop().await;
}

#[tokio::test]
async fn the_weekly_digest_goes_out_once_per_team_however_many_instances_look() {
    let app = TestApp::spawn().await;
    let owner = app.user();
    owner.sign_up("owner@digest.example", "Digest").await;
    let quiet = app.member(&owner, "quiet@digest.example", Role::Viewer).await;
    quiet.run(choose("critical", true, false, false)).await.expect("saved");
    let idle = app.user();
    idle.sign_up("owner@idle.example", "Idle").await;
    for title in ["Last week's outage", "Last week's blip"] {
        let incident = report(&owner, title, Severity::Error).await;
        sqlx::query(
            "update incidents set first_seen_at = date_trunc('week', now() at time zone 'UTC') at time zone 'UTC'
                                                  - interval '3 days'
             where id = $1",
        )
        .bind(incident)
        .execute(&app.state().db)
        .await
        .unwrap();
    }

    let state = app.state();
    let runs = (0..4).map(|_| {
        let state = state.clone();
        async move { app::server::notifications::send_weekly_digests(&state).await.expect("digests") }
    });
    let claimed: u64 = futures::future::join_all(runs).await.into_iter().sum();
    assert_eq!(claimed, 1, "one team had a week to tell of, claimed once");
    assert_eq!(mailed(&app, "weekly_digest", "Digest").await, ["owner@digest.example"], "not to who opted out");
    let text: String = sqlx::query_scalar("select text_body from mails where purpose = 'weekly_digest'")
        .fetch_one(&app.state().db)
        .await
        .unwrap();
    assert!(text.contains("2 incidents opened, 0 resolved"), "{text}");
    app.stop().await;
}

#[tokio::test]
async fn the_signed_link_in_a_delivered_mail_turns_off_that_mail_only_without_signing_in() {
    let smtp = SmtpServer::start().await;
    let smtp_url = smtp.url();
    let app = TestApp::spawn_with(move |settings| {
        settings.mail.smtp_url = Some(SecretString::from(smtp_url));
        settings.public_url = Some("https://dreamops.example".into());
    })
    .await;
    let owner = app.user();
    owner.sign_up("owner@unsubscribe.example", "Payments").await;
    report(&owner, "Checkout down", Severity::Critical).await;
    app.run_pending_jobs().await;
    let delivered =
        smtp.wait_for("owner@unsubscribe.example", "[Payments] New critical incident: Checkout down", 1).await;
    let link = delivered[0].link("https://dreamops.example/unsubscribe?");
    let local = link.replace("https://dreamops.example", &app.address);

    // Anyone holding the link, signed out: a page that asks first, changing nothing.
    let page = app.client.get(&local).send().await.unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    assert!(page.text().await.unwrap().contains("Stop mails about new incidents from <strong>Payments</strong>"));
    assert_eq!(owner.run(GetEmailNotifications {}).await.unwrap().new_incident_severity, Some(Severity::Critical));

    // The same link changed in any way does nothing.
    let tampered = [
        local.replace("notice=new_incident", "notice=weekly_digest"),
        local.replace("signature=", "signature=0"),
        local.replace(&owner.team().await.to_string(), &Uuid::new_v4().to_string()),
    ];
    for other in tampered {
        let response = app.client.post(&other).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::NOT_FOUND, "{other}");
    }
    assert_eq!(owner.run(GetEmailNotifications {}).await.unwrap().new_incident_severity, Some(Severity::Critical));

    // A one-click POST (RFC 8058) turns off new-incident mails, and nothing else.
    let done = app.client.post(&local).form(&[("List-Unsubscribe", "One-Click")]).send().await.unwrap();
    assert_eq!(done.status(), StatusCode::OK);
    let now = owner.run(GetEmailNotifications {}).await.unwrap();
    assert_eq!(
        now,
        NotificationPreferences {
            new_incident_severity: None,
            awaiting_approval: true,
            resolved: false,
            weekly_digest: true
        }
    );
    report(&owner, "Checkout down again", Severity::Critical).await;
    app.run_pending_jobs().await;
    assert!(mailed(&app, "new_incident", "again").await.is_empty(), "no more mails about new incidents");
    app.stop().await;
    smtp.stop().await;
}
