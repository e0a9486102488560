//! Post-mortems: drafted from a resolved incident's real history (an alert, the agent's
//! analysis, an approved fix verified on the demo cluster), edited by two people with
//! a stale save refused, searched, and downloaded as Markdown.

use axum::http::StatusCode;
use uuid::Uuid;

use app::api::incidents::{AcknowledgeIncident, ResolveIncident};
use app::api::postmortems::{GetPostmortem, ListPostmortems, SavePostmortem, StartPostmortem};
use app::domain::account::Role;
use app::error::AppError;

use crate::agent::{alert, analysis, send, unlimited};
use crate::demo_cluster::with_demo_cluster;
use crate::remediation::{approve, oom, set_policy, settled, with_remediation};
use crate::support::TestApp;

#[tokio::test]
async fn a_resolved_incidents_draft_tells_its_impact_timeline_cause_and_fix_and_is_edited_and_exported() {
    let app = with_remediation(3, 5).await;
    let (owner, cluster, team) = with_demo_cluster(&app, "owner@learnt.example").await;
    unlimited(&app, team).await;
    let operator = app.member(&owner, "operator@learnt.example", Role::Operator).await;
    let viewer = app.member(&owner, "viewer@learnt.example", Role::Viewer).await;
    let incident = send(&app, team, &oom()).await;
    let diagnosed = analysis(&owner, incident).await;
    operator.run(AcknowledgeIncident { id: incident }).await.expect("acknowledged");
    let refused = operator.run(StartPostmortem { incident }).await;
    assert!(
        matches!(&refused, Err(AppError::Conflict(said)) if said.contains("once the incident is resolved")),
        "{refused:?}"
    );

    set_policy(&owner, cluster, "approve", "low", "", false).await;
    approve(&operator, incident, 0, "as the agent says").await.expect("approved");
    settled(&operator, incident).await;
    let draft = operator.run(StartPostmortem { incident }).await.expect("drafted");
    let body = &draft.body;
    assert_eq!(draft.summary.title, "Post-mortem: Container was OOM-killed.");
    for expected in [
        "## Summary",
        &format!("Root cause, as diagnosed: {}", diagnosed.root_cause),
        "- Time to acknowledge: ",
        "(operator@learnt.example)",
        "- Time to diagnose: ",
        "(the agent)",
        "- Time to resolve: ",
        "- Alerts: 1",
        "## Timeline",
        "## Root cause",
        "## What was done",
        "by operator@learnt.example — verified: the workload recovered",
        "## Action items",
        "- [ ] ",
    ] {
        assert!(body.contains(expected), "the draft lacks {expected:?}:\n{body}");
    }
    let sections: Vec<&str> = body.lines().filter(|line| line.starts_with("## ")).collect();
    assert_eq!(
        sections,
        ["## Summary", "## Impact", "## Timeline", "## Root cause", "## What was done", "## Action items"]
    );
    assert!(body.contains(&format!("{}: ", diagnosed.evidence[0].source)), "the evidence is listed");

    // Drafting again opens the same one.
    assert_eq!(owner.run(StartPostmortem { incident }).await.unwrap().summary.id, draft.summary.id);
    assert_eq!(viewer.run(StartPostmortem { incident }).await, Err(AppError::Forbidden));

    // Two editors: the second save from the same version is refused, not lost.
    let id = draft.summary.id;
    let edited = format!("# Memory limits too tight\n\n{body}\nThe limit was set a year ago for half the traffic.\n");
    let saved = operator.run(SavePostmortem { id, version: 1, body: edited.clone() }).await.expect("saved");
    assert_eq!((saved.version, saved.title.as_str()), (2, "Memory limits too tight"));
    let stale = owner.run(SavePostmortem { id, version: 1, body: "# Mine\n".into() }).await;
    assert!(
        matches!(&stale, Err(AppError::Conflict(said)) if said.contains("operator@learnt.example saved")),
        "{stale:?}"
    );
    let owners = format!("{edited}\n- [ ] Alert on memory above 80 % of the limit (owner: platform)\n");
    owner.run(SavePostmortem { id, version: 2, body: owners.clone() }).await.expect("saved from the latest version");
    assert_eq!(viewer.run(SavePostmortem { id, version: 3, body: "x".into() }).await, Err(AppError::Forbidden));
    let read = viewer.run(GetPostmortem { id }).await.unwrap();
    assert_eq!(read.body, owners);
    let editors: Vec<&str> = read.editors.iter().map(|(who, _)| who.as_str()).collect();
    assert_eq!(editors, ["operator@learnt.example", "owner@learnt.example"]);

    // The list and its search.
    let found = viewer.run(ListPostmortems { search: Some("HALF THE TRAFFIC".into()) }).await.unwrap();
    assert_eq!(found.iter().map(|p| p.id).collect::<Vec<_>>(), [id]);
    assert!(viewer.run(ListPostmortems { search: Some("nowhere".into()) }).await.unwrap().is_empty());

    // The Markdown download, for members only.
    let download = viewer.client.get(format!("{}/postmortems/{id}/export.md", app.address)).send().await.unwrap();
    assert_eq!(download.status(), StatusCode::OK);
    assert_eq!(download.headers()["content-type"], "text/markdown; charset=utf-8");
    assert_eq!(download.headers()["content-disposition"], "attachment; filename=\"memory-limits-too-tight.md\"");
    assert_eq!(download.text().await.unwrap(), owners);
    let anonymous = app.get(&format!("/postmortems/{id}/export.md")).await;
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);
    app.stop().await;
}

#[tokio::test]
async fn an_unanalysed_incident_resolved_by_hand_gets_a_draft_that_asks_what_happened() {
    let app = TestApp::spawn().await;
    let owner = app.user();
    owner.sign_up("owner@manual.example", "manual").await;
    let team = owner.team().await;
    let incident =
        send(&app, team, &alert("BackupFailed", serde_json::json!({"job": "nightly"}), "The backup failed")).await;
    sqlx::query("delete from agent_jobs where incident_id = $1").bind(incident).execute(&app.state().db).await.unwrap();
    owner.run(ResolveIncident { id: incident, note: Some("re-ran the backup".into()) }).await.unwrap();
    let draft = owner.run(StartPostmortem { incident }).await.unwrap();
    for expected in [
        "- Time to acknowledge: never acknowledged",
        "The incident was not analysed. _What caused it?_",
        "- No remediation through DreamOps.",
        "owner@manual.example",
    ] {
        assert!(draft.body.contains(expected), "the draft lacks {expected:?}:\n{}", draft.body);
    }
    assert_eq!(owner.run(GetPostmortem { id: Uuid::new_v4() }).await, Err(AppError::NotFound));
    app.stop().await;
}
