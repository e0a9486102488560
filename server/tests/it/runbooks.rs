//! Runbooks: versions with who changed what and a stale edit refused; the most specific
//! runbook matched to an incident, its steps ticked into the timeline once each; and
//! the agent quoting it, to the team and to the LLM.

use serde_json::json;
use uuid::Uuid;

use app::api::incidents::GetIncident;
use app::api::runbooks::{DeleteRunbook, GetIncidentRunbook, GetRunbook, ListRunbooks, SaveRunbook, TickRunbookStep};
use app::domain::account::Role;
use app::domain::runbook::RunbookSummary;
use app::error::AppError;
use app::server::config::ProviderKind;

use crate::agent::{alert, analysis, send};
use crate::llm::{Behaviour, app_with, loopback};
use crate::support::{TestApp, User};

/// A runbook's form.
fn form(title: &str, body: &str, alert_names: &str, labels: &str) -> SaveRunbook {
    SaveRunbook {
        id: None,
        version: None,
        title: title.into(),
        body: body.into(),
        alert_names: alert_names.into(),
        services: String::new(),
        labels: labels.into(),
    }
}

async fn write(user: &User, runbook: SaveRunbook) -> RunbookSummary {
    user.run(runbook).await.expect("the runbook is saved")
}

const CRASH_LOOP: &str = "# A pod restarts in a loop\n\n1. Read the previous log\n2. Check the last rollout\n3. Roll back if the rollout preceded the crashes\n";

#[tokio::test]
async fn a_runbook_keeps_every_version_with_who_changed_it_and_a_stale_edit_is_refused() {
    let app = TestApp::spawn().await;
    let owner = app.user();
    owner.sign_up("owner@books.example", "books").await;
    let operator = app.member(&owner, "operator@books.example", Role::Operator).await;

    let first = write(&owner, form("Pod crash loop", CRASH_LOOP, "KubePodCrashLooping", "")).await;
    assert_eq!((first.version, first.updated_by.as_str()), (1, "owner@books.example"));
    let mut edit =
        form("Pod crash loop", &format!("{CRASH_LOOP}4. Tell #payments\n"), "KubePodCrashLooping", "namespace=shop");
    edit.id = Some(first.id);
    edit.version = Some(1);
    let second = write(&operator, edit.clone()).await;
    assert_eq!((second.version, second.updated_by.as_str()), (2, "operator@books.example"));
    assert_eq!(second.matching.labels, [("namespace".to_string(), "shop".to_string())]);

    // The owner still holds version 1: their save would overwrite the operator's.
    let mut stale = form("Pod crash loop (owner)", CRASH_LOOP, "KubePodCrashLooping", "");
    stale.id = Some(first.id);
    stale.version = Some(1);
    match owner.run(stale).await {
        Err(AppError::Conflict(said)) => {
            assert!(said.contains("operator@books.example changed this runbook"), "{said}")
        }
        other => panic!("{other:?}"),
    }
    // Saving what is there already makes no version.
    edit.version = Some(2);
    assert_eq!(write(&operator, edit).await.version, 2);

    let runbook = owner.run(GetRunbook { id: first.id }).await.unwrap();
    let history: Vec<(i32, &str)> = runbook.versions.iter().map(|v| (v.version, v.edited_by.as_str())).collect();
    assert_eq!(history, [(2, "operator@books.example"), (1, "owner@books.example")]);
    assert!(runbook.versions[1].body.ends_with("preceded the crashes"), "version 1 keeps its own text");
    assert!(runbook.body.contains("Tell #payments"));

    // Search reads titles and text; mistakes are named by field.
    write(&owner, form("Disk full", "- Free space\n", "NodeFilesystemAlmostOutOfSpace", "")).await;
    let found = owner.run(ListRunbooks { search: Some("#PAYMENTS".into()) }).await.unwrap();
    assert_eq!(found.iter().map(|r| r.title.as_str()).collect::<Vec<_>>(), ["Pod crash loop"]);
    assert_eq!(owner.run(ListRunbooks { search: None }).await.unwrap().len(), 2);
    let Err(AppError::Validation(errors)) = owner.run(form("", "x\0y", "", "namespace")).await else {
        panic!("a blank title, a NUL and a label without a value are refused")
    };
    let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
    assert_eq!(fields, ["title", "body", "labels"]);

    // Operators write runbooks; deleting one is for admins and owners.
    assert_eq!(operator.run(DeleteRunbook { id: first.id }).await, Err(AppError::Forbidden));
    owner.run(DeleteRunbook { id: first.id }).await.expect("deleted");
    assert_eq!(owner.run(GetRunbook { id: first.id }).await, Err(AppError::NotFound));
    let audited: Vec<String> =
        sqlx::query_scalar("select action from audit_log where action like 'runbook.%' order by id")
            .fetch_all(&app.state().db)
            .await
            .unwrap();
    assert_eq!(audited, ["runbook.created", "runbook.updated", "runbook.created", "runbook.deleted"]);
    app.stop().await;
}

#[tokio::test]
async fn an_incident_shows_its_most_specific_runbook_whose_steps_are_ticked_into_the_timeline_once() {
    let app = TestApp::spawn().await;
    let owner = app.user();
    owner.sign_up("owner@steps.example", "steps").await;
    let team = owner.team().await;
    let operator = app.member(&owner, "operator@steps.example", Role::Operator).await;
    let viewer = app.member(&owner, "viewer@steps.example", Role::Viewer).await;
    let general = write(&owner, form("Any crash loop", CRASH_LOOP, "KubePodCrashLooping", "")).await;
    let shop = write(
        &owner,
        form(
            "Shop crash loop",
            "- Page the shop team\n- Check the payment provider\n",
            "KubePodCrashLooping",
            "namespace=shop",
        ),
    )
    .await;
    write(&owner, form("Everything", "- Panic\n", "", "")).await;

    let in_shop =
        send(&app, team, &alert("KubePodCrashLooping", json!({"namespace": "shop", "pod": "web-1"}), "web-1 restarts"))
            .await;
    let elsewhere =
        send(&app, team, &alert("KubePodCrashLooping", json!({"namespace": "blog", "pod": "b-1"}), "b-1 restarts"))
            .await;
    let unrelated = send(&app, team, &alert("NodeClockSkewDetected", json!({"instance": "n1"}), "clock")).await;

    let matched = owner.run(GetIncidentRunbook { incident: in_shop }).await.unwrap().expect("a runbook matches");
    assert_eq!(matched.summary.id, shop.id, "the runbook naming a label too is the more specific");
    assert_eq!(matched.matched_by, "alert name KubePodCrashLooping, namespace=shop");
    let general_match = owner.run(GetIncidentRunbook { incident: elsewhere }).await.unwrap().unwrap();
    assert_eq!(general_match.summary.id, general.id);
    assert_eq!(general_match.steps.len(), 3);
    assert_eq!(
        owner.run(GetIncidentRunbook { incident: unrelated }).await.unwrap(),
        None,
        "a runbook without criteria matches nothing"
    );

    let tick = TickRunbookStep { incident: elsewhere, runbook: general.id, step: 1 };
    operator.run(tick.clone()).await.expect("ticked");
    operator.run(tick.clone()).await.expect("ticking again changes nothing");
    assert_eq!(viewer.run(tick).await, Err(AppError::Forbidden));
    let out_of_range = operator.run(TickRunbookStep { incident: elsewhere, runbook: general.id, step: 3 }).await;
    assert!(matches!(out_of_range, Err(AppError::Validation(_))), "{out_of_range:?}");
    let other_runbook = operator.run(TickRunbookStep { incident: elsewhere, runbook: Uuid::new_v4(), step: 0 }).await;
    assert_eq!(other_runbook, Err(AppError::NotFound));

    let steps = owner.run(GetIncidentRunbook { incident: elsewhere }).await.unwrap().unwrap().steps;
    assert_eq!(steps[0].ticked, None);
    assert_eq!(steps[1].ticked.as_ref().map(|(by, _)| by.as_str()), Some("operator@steps.example"));
    let timeline = owner.run(GetIncident { id: elsewhere }).await.unwrap().timeline;
    let ticked: Vec<&str> =
        timeline.iter().filter(|entry| entry.kind == "runbook.step").map(|entry| entry.message.as_str()).collect();
    assert_eq!(ticked, ["Runbook step 2 of 3 done: Check the last rollout (\"Any crash loop\", version 1)"]);
    app.stop().await;
}

#[tokio::test]
async fn the_agent_quotes_the_matched_runbook_in_its_evidence_and_gives_it_to_the_llm() {
    let (anthropic, received) = loopback(ProviderKind::Anthropic, Behaviour::Answer).await;
    let app = app_with(vec![anthropic], 1_000_000).await;
    let owner = app.user();
    owner.sign_up("owner@quoted.example", "quoted").await;
    let team = owner.team().await;
    let body = "Load is high when the nightly batch overlaps with traffic.\n\n1. Check whether the nightly batch runs\n2. Pause it with `batchctl pause`\n";
    write(&owner, form("High CPU", body, "NodeHighCpuLoad", "")).await;

    let incident = send(&app, team, &alert("NodeHighCpuLoad", json!({"instance": "web-1"}), "High CPU on web-1")).await;
    let analysed = analysis(&owner, incident).await;
    let quoted = analysed.evidence.iter().find(|e| e.source == "runbook \"High CPU\" (version 1)").expect("quoted");
    assert_eq!(
        quoted.line,
        "matched by alert name NodeHighCpuLoad; its steps: 1. Check whether the nightly batch runs 2. Pause it with `batchctl pause`"
    );
    let sent = received.all().into_iter().map(|(_, body)| body.to_string()).collect::<String>();
    assert!(sent.contains("The team's runbook for this incident, \\\"High CPU\\\""), "{sent}");
    assert!(sent.contains("batchctl pause"), "the LLM reads the runbook's text");
    let steps = app.agent_steps(incident).await;
    assert!(steps.iter().any(|step| step.starts_with("Found the team's runbook \"High CPU\"")), "{steps:?}");
    app.stop().await;
}
