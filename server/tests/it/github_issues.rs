//! GitHub issues against the loopback GitHub (`github.rs`), with the requests asserted:
//! an incident's issue opened by hand with its analysis and timeline link, commented on
//! and closed when the incident is resolved; issues opened on their own for chosen
//! severities; rate limits (403 and 429 with their reset headers) that only delay a
//! call; refusals (a revoked token, issues turned off, no repository) said on the
//! timeline; a post-mortem and its action items exported as issues.

use app::api::github::{
    CreateGithubIssue, ExportPostmortemToGithub, IncidentGithubIssues, SetGithubIssueSettings, SetGithubRepositories,
};
use app::api::incidents::ResolveIncident;
use app::api::postmortems::{SavePostmortem, StartPostmortem};
use app::domain::github::{IssueState, IssueSubject};
use app::error::AppError;
use uuid::Uuid;

use crate::agent::analysis;
use crate::demo_cluster::with_demo_cluster;
use crate::github::{Mode, Received, Shared, connect, crash_loop, with_github};
use crate::support::{TestApp, User};

/// Issue settings as the integrations page's form sends them.
fn issue_settings(repository: &str, labels: &str, open_for: Option<&str>, close: bool) -> SetGithubIssueSettings {
    let on = |severity: &str| (open_for == Some(severity)).then(|| "on".to_string());
    SetGithubIssueSettings {
        repository: repository.into(),
        labels: labels.into(),
        critical: on("critical"),
        error: on("error"),
        warning: on("warning"),
        info: on("info"),
        close_on_resolve: close.then(|| "on".into()),
    }
}

/// A connected team with the demo cluster's crash-looping release as an incident, its
/// service mapped to acme/shop, analysed.
async fn analysed_incident(app: &TestApp, email: &str) -> (User, Uuid) {
    let (owner, cluster, _) = with_demo_cluster(app, email).await;
    connect(&owner).await.unwrap();
    let (incident, service) = crash_loop(app, &owner, cluster).await;
    owner.run(SetGithubRepositories { repositories: format!("{service} = acme/shop") }).await.unwrap();
    analysis(&owner, incident).await;
    (owner, incident)
}

fn writes(github: &Shared) -> Vec<Received> {
    github.lock().unwrap().received.iter().filter(|r| r.method != "GET").cloned().collect()
}

async fn severity_of(app: &TestApp, incident: Uuid) -> String {
    sqlx::query_scalar("select severity from incidents where id = $1")
        .bind(incident)
        .fetch_one(&app.db().await)
        .await
        .unwrap()
}

#[tokio::test]
async fn an_incident_gets_an_issue_with_its_analysis_commented_on_and_closed_when_resolved() {
    let (app, github) = with_github().await;
    let (owner, incident) = analysed_incident(&app, "owner@issues.example").await;
    let saved = owner.run(issue_settings("", "incident, on-call ,incident", None, true)).await.unwrap();
    assert_eq!(saved.labels, ["incident", "on-call"], "trimmed, without repeats");
    let refused = owner.run(issue_settings("not a repository", "", None, true)).await;
    assert!(matches!(refused, Err(AppError::Validation(_))), "{refused:?}");

    assert_eq!(owner.run(CreateGithubIssue { incident }).await.unwrap(), 1);
    let again = owner.run(CreateGithubIssue { incident }).await;
    assert!(matches!(again, Err(AppError::Conflict(_))), "one issue per incident: {again:?}");
    let listed = owner.run(IncidentGithubIssues { incident }).await.unwrap();
    assert!(listed.connected);
    // Queued for the runner (whose workers may have sent it already).
    assert!(matches!(listed.issues[0].state, IssueState::Opening | IssueState::Open { .. }), "{listed:?}");
    app.run_pending_jobs().await;

    let sent = writes(&github);
    assert_eq!(sent.len(), 1, "{sent:?}");
    let opened = &sent[0];
    assert_eq!((opened.method.as_str(), opened.path.as_str()), ("POST", "/repos/acme/shop/issues"));
    assert_eq!(opened.headers["x-github-api-version"], "2022-11-28");
    assert_eq!(opened.headers["accept"], "application/vnd.github+json");
    assert_eq!(opened.headers["authorization"], "Bearer ghp_loopback_token");
    let (title, body) = (opened.body["title"].as_str().unwrap(), opened.body["body"].as_str().unwrap());
    let severity = severity_of(&app, incident).await;
    assert!(title.starts_with(&format!("[{severity}] ")), "{title}");
    let analysed = analysis(&owner, incident).await;
    assert!(body.contains(&analysed.root_cause), "the analysis is in the issue: {body}");
    assert!(body.contains("### Recommended"), "{body}");
    assert!(body.contains(&format!("/incidents/{incident})")), "the timeline's link: {body}");
    assert_eq!(opened.body["labels"], serde_json::json!(["incident", "on-call"]));

    let listed = owner.run(IncidentGithubIssues { incident }).await.unwrap();
    let IssueState::Open { repository, number, url } = &listed.issues[0].state else { panic!("{listed:?}") };
    assert_eq!((repository.as_str(), *number), ("acme/shop", 42));
    assert_eq!(url, "https://github.com/acme/shop/issues/42");
    let timeline = app.timeline(incident, "github.").await;
    let said = "GitHub issue acme/shop#42 opened for the incident: https://github.com/acme/shop/issues/42";
    assert!(timeline.iter().any(|step| step == said), "{timeline:?}");

    owner.run(ResolveIncident { id: incident, note: Some("rolled back the release".into()) }).await.unwrap();
    app.run_pending_jobs().await;
    let sent = writes(&github);
    assert_eq!(sent.len(), 3, "{sent:?}");
    assert_eq!((sent[1].method.as_str(), sent[1].path.as_str()), ("POST", "/repos/acme/shop/issues/42/comments"));
    let comment = sent[1].body["body"].as_str().unwrap();
    assert!(comment.contains("Resolved by") && comment.contains("rolled back the release"), "{comment}");
    assert_eq!((sent[2].method.as_str(), sent[2].path.as_str()), ("PATCH", "/repos/acme/shop/issues/42"));
    assert_eq!(sent[2].body, serde_json::json!({"state": "closed", "state_reason": "completed"}));
    let listed = owner.run(IncidentGithubIssues { incident }).await.unwrap();
    assert!(matches!(listed.issues[0].state, IssueState::Closed { number: 42, .. }), "{listed:?}");
    app.stop().await;
}

#[tokio::test]
async fn issues_open_on_their_own_for_chosen_severities_and_a_rate_limit_only_delays_them() {
    for (mode, wait) in [(Mode::WriteLimitedOnce403, 1.0), (Mode::WriteLimitedOnce429, 0.9)] {
        let (app, github) = with_github().await;
        let (owner, cluster, _) = with_demo_cluster(&app, "owner@auto.example").await;
        connect(&owner).await.unwrap();
        // Chosen before the incident (the demo's crash loop is a warning): the issue
        // comes with the diagnosis. Its service is mapped to nothing, so it goes to
        // the team's repository for issues.
        owner.run(issue_settings("acme/ops", "", Some("warning"), false)).await.unwrap();
        github.lock().unwrap().mode = mode;
        let (incident, _) = crash_loop(&app, &owner, cluster).await;
        assert_eq!(severity_of(&app, incident).await, "warning");
        analysis(&owner, incident).await;
        app.run_pending_jobs().await;

        let opened: Vec<Received> =
            writes(&github).into_iter().filter(|r| r.path == "/repos/acme/ops/issues").collect();
        assert_eq!(opened.len(), 2, "{mode:?}: refused once for the limit, then opened: {opened:?}");
        let waited = opened[1].at.duration_since(opened[0].at).as_secs_f64();
        assert!(waited >= wait, "{mode:?}: asked again after {waited} s, before the limit's reset");
        let listed = owner.run(IncidentGithubIssues { incident }).await.unwrap();
        assert!(matches!(&listed.issues[0].state, IssueState::Open { repository, .. } if repository == "acme/ops"));
        let attempts: i32 = sqlx::query_scalar("select attempts from github_calls where call = 'open'")
            .fetch_one(&app.db().await)
            .await
            .unwrap();
        assert_eq!(attempts, 1, "{mode:?}: waiting out a limit is not a failed attempt");
        app.stop().await;
    }
}

#[tokio::test]
async fn githubs_refusals_are_said_on_the_timeline_and_the_issue_can_be_asked_for_again() {
    let (app, github) = with_github().await;
    let (owner, incident) = analysed_incident(&app, "owner@refused.example").await;
    // Nothing to open: GitHub is not asked when there is no repository.
    let unmapped = owner.run(SetGithubRepositories { repositories: String::new() }).await;
    assert!(unmapped.is_ok());
    owner.run(CreateGithubIssue { incident }).await.unwrap();
    app.run_pending_jobs().await;
    assert!(writes(&github).is_empty());
    let listed = owner.run(IncidentGithubIssues { incident }).await.unwrap();
    let IssueState::Failed(why) = &listed.issues[0].state else { panic!("{listed:?}") };
    assert!(why.contains("no repository for it"), "{why}");

    for (mode, said) in [
        (Mode::Revoked, "GitHub refused the token (HTTP 401)"),
        (Mode::IssuesDisabled, "issues are turned off in this repository (HTTP 410)"),
    ] {
        owner.run(issue_settings("acme/shop", "", None, false)).await.unwrap();
        github.lock().unwrap().mode = mode;
        assert_eq!(owner.run(CreateGithubIssue { incident }).await.unwrap(), 1, "a refused issue is asked again");
        app.run_pending_jobs().await;
        let listed = owner.run(IncidentGithubIssues { incident }).await.unwrap();
        let IssueState::Failed(why) = &listed.issues[0].state else { panic!("{mode:?}: {listed:?}") };
        assert!(why.contains(said), "{mode:?}: {why}");
        let timeline = app.timeline(incident, "github.").await;
        assert!(
            timeline.iter().any(|step| step.starts_with("The GitHub issue for the incident could not be opened:")
                && step.contains(said)),
            "{mode:?}: {timeline:?}"
        );
    }
    github.lock().unwrap().mode = Mode::Normal;
    owner.run(CreateGithubIssue { incident }).await.unwrap();
    app.run_pending_jobs().await;
    let listed = owner.run(IncidentGithubIssues { incident }).await.unwrap();
    assert!(matches!(listed.issues[0].state, IssueState::Open { .. }), "{listed:?}");
    let parked = app.stop_with_parked_jobs().await;
    assert_eq!(parked.len(), 3, "the refused calls stay failed, for the record: {parked:?}");
}

#[tokio::test]
async fn a_post_mortem_and_its_action_items_become_issues_once_each() {
    let (app, github) = with_github().await;
    let (owner, incident) = analysed_incident(&app, "owner@pm-issues.example").await;
    owner.run(ResolveIncident { id: incident, note: Some("rolled back".into()) }).await.unwrap();
    let postmortem = owner.run(StartPostmortem { incident }).await.unwrap();
    let body = format!(
        "{}\n- [ ] Alert on crash loops before users notice\n- [x] Roll back (done)\n",
        postmortem.body.replace("- [ ] _What will stop this from happening again? One owner per item._\n", "")
    );
    let saved = owner
        .run(SavePostmortem { id: postmortem.summary.id, version: postmortem.summary.version, body: body.clone() })
        .await
        .unwrap();
    assert!(saved.version > postmortem.summary.version);

    let id = postmortem.summary.id;
    assert_eq!(owner.run(ExportPostmortemToGithub { id, action_items: false }).await.unwrap(), 1);
    let items = app::server::postmortems::action_items(&body);
    assert!(items.contains(&"Alert on crash loops before users notice".to_string()), "{items:?}");
    assert_eq!(owner.run(ExportPostmortemToGithub { id, action_items: true }).await.unwrap(), items.len());
    let again = owner.run(ExportPostmortemToGithub { id, action_items: true }).await;
    assert!(matches!(again, Err(AppError::Conflict(_))), "each item once: {again:?}");
    app.run_pending_jobs().await;

    let opened: Vec<Received> = writes(&github).into_iter().filter(|r| r.path == "/repos/acme/shop/issues").collect();
    assert_eq!(opened.len(), 1 + items.len());
    assert_eq!(opened[0].body["title"], postmortem.summary.title);
    let exported = opened[0].body["body"].as_str().unwrap();
    assert!(exported.starts_with(&body), "the post-mortem as written");
    assert!(exported.contains(&format!("/postmortems/{id})")), "{exported}");
    let titles: Vec<&str> = opened[1..].iter().map(|r| r.body["title"].as_str().unwrap()).collect();
    for item in &items {
        assert!(titles.contains(&item.as_str()), "{item} in {titles:?}");
    }
    assert!(!titles.contains(&"Roll back (done)"), "a done item is not an issue");
    let listed = owner.run(IncidentGithubIssues { incident }).await.unwrap();
    assert_eq!(listed.issues.iter().filter(|i| i.subject == IssueSubject::ActionItem).count(), items.len());
    assert!(listed.issues.iter().all(|i| matches!(i.state, IssueState::Open { .. })), "{listed:?}");
    app.stop().await;
}
