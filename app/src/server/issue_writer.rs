//! The worker of the GitHub issue queue (`github::issues` keeps the records and the
//! queue): what each issue says, written from what DreamOps knows when the call runs —
//! an incident with its analysis and a link to its timeline, a post-mortem, an action
//! item — and the calls themselves: open the issue; on resolve, comment and close it
//! when the team wants. A rate limit waits until GitHub's reset without using up an
//! attempt; GitHub down is retried with the runner's back-off; a refusal (revoked
//! token, no access, issues turned off) is said on the incident's timeline.
//!
//! An issue opened whose record could not be stored (the instance died between the
//! two) is opened again by the retry: GitHub has no idempotency key for issues.

use std::time::Duration;

use crate::domain::analysis::AgentProgress;
use crate::domain::github::IssueSubject;
use crate::domain::incident::{AGENT_NAME, IncidentDetail};
use crate::domain::live::{LiveEvent, LiveKind};
use crate::error::AppError;
use crate::server::config::Settings;
use crate::server::github::api::Failure;
use crate::server::github::issues::{self, Call, CallKind, IssueRecord};
use crate::server::jobs::{Held, Kind, Outcome, Queue, Tuning};
use crate::server::state::AppState;

/// GitHub's longest issue body, in characters.
const BODY_MAX: usize = 65_000;

/// The queue of GitHub issue calls.
pub struct IssueCalls;

impl Kind for IssueCalls {
    type Id = i64;
    type Job = Call;

    const QUEUE: Queue = issues::QUEUE;

    fn tuning(settings: &Settings) -> Tuning {
        Tuning {
            workers: 2,
            lease: Duration::from_secs(60),
            max_attempts: settings.outbound.max_attempts,
            per_group: 1,
        }
    }

    async fn run(state: &AppState, held: &Held<Self>, call: &Call) -> Outcome {
        let ran = match call.call {
            CallKind::Open => open(state, held, call).await,
            CallKind::Resolved => resolved(state, held, call).await,
        };
        match ran {
            Ok(()) => Outcome::Finished,
            Err(Stop::GitHub(Failure::RateLimited(until))) => {
                Outcome::Later { until, error: Failure::RateLimited(until).to_string() }
            }
            Err(Stop::GitHub(failure @ Failure::Unavailable(_))) => Outcome::Retry(failure.to_string()),
            Err(Stop::GitHub(failure)) => Outcome::Park(failure.to_string()),
            Err(Stop::Unable(why)) => Outcome::Park(why),
            Err(Stop::Ours(error)) => Outcome::Retry(error),
        }
    }

    /// Says on the incident's timeline that GitHub refused the call.
    async fn parked(state: &AppState, call: &Call, error: &str) {
        let what = match call.call {
            CallKind::Open => "could not be opened",
            CallKind::Resolved => "could not be updated as resolved",
        };
        let record = issues::record(&state.db, call.issue_id).await.ok().flatten();
        let message = format!("The GitHub issue for {} {what}: {error}", record.as_ref().map_or("the incident", about));
        tell(state, call, "github.issue_failed", &message).await;
    }
}

/// Why a call stopped.
enum Stop {
    GitHub(Failure),
    /// It cannot be done as things stand, and why, for people.
    Unable(String),
    /// Our side failed (the database): try again.
    Ours(String),
}

impl From<sqlx::Error> for Stop {
    fn from(error: sqlx::Error) -> Self {
        Stop::Ours(format!("recording the GitHub call failed: {error}"))
    }
}

impl From<AppError> for Stop {
    fn from(error: AppError) -> Self {
        Stop::Ours(format!("reading what the issue says failed: {error}"))
    }
}

/// "the incident", "the post-mortem", "the action item "…"".
fn about(record: &IssueRecord) -> &'static str {
    match record.subject.0 {
        IssueSubject::Incident => "the incident",
        IssueSubject::Postmortem => "the post-mortem",
        IssueSubject::ActionItem => "an action item",
    }
}

/// Writes `message` on the call's incident timeline and tells its pages.
async fn tell(state: &AppState, call: &Call, kind: &str, message: &str) {
    match crate::server::db::timeline::append(&state.db, call.team_id, call.incident_id, kind, AGENT_NAME, message)
        .await
    {
        Ok(_) => state.live.publish(call.team_id, [LiveEvent::new(LiveKind::TimelineEntry, call.incident_id)]),
        Err(error) => tracing::warn!(%error, call = call.id, "writing a GitHub call to the timeline failed"),
    }
}

async fn open(state: &AppState, held: &Held<IssueCalls>, call: &Call) -> Result<(), Stop> {
    let Some(record) = issues::record(&state.db, call.issue_id).await? else {
        held.finish(&state.db, "done").await?;
        return Ok(());
    };
    if record.number.is_some() {
        held.finish(&state.db, "done").await?;
        return Ok(());
    }
    let github = crate::server::github::client(state, call.team_id)
        .await?
        .ok_or_else(|| Stop::Unable("GitHub is no longer connected".into()))?;
    let settings = issues::settings(&state.db, call.team_id).await?.unwrap_or_default();
    let incident = crate::server::incidents::detail(&state.db, call.team_id, call.incident_id).await?;
    let repository = issues::repository_for(&state.db, call.team_id, incident.summary.service.as_deref())
        .await?
        .ok_or_else(|| {
            Stop::Unable(
                "no repository for it: map the incident's service to one, or choose a repository for issues, on the integrations page"
                    .into(),
            )
        })?;
    let (title, body) = write(state, call, &record, &incident).await?;
    let issue = github.create_issue(&repository, &title, &body, &settings.labels).await.map_err(Stop::GitHub)?;
    let mut tx = state.db.begin().await?;
    issues::opened(&mut *tx, record.id, &repository, issue.number, &issue.html_url).await?;
    let message =
        format!("GitHub issue {repository}#{} opened for {}: {}", issue.number, about(&record), issue.html_url);
    done(state, held, call, tx, "github.issue_opened", &message).await
}

/// Ends `call` in `tx`, which holds what it stored: `message` on the incident's timeline
/// as `kind`, the job done, then the incident's pages told.
async fn done(
    state: &AppState,
    held: &Held<IssueCalls>,
    call: &Call,
    mut tx: sqlx::Transaction<'_, sqlx::Postgres>,
    kind: &str,
    message: &str,
) -> Result<(), Stop> {
    crate::server::db::timeline::append(&mut *tx, call.team_id, call.incident_id, kind, AGENT_NAME, message).await?;
    held.finish(&mut *tx, "done").await?;
    tx.commit().await?;
    state.live.publish(call.team_id, [LiveEvent::new(LiveKind::TimelineEntry, call.incident_id)]);
    Ok(())
}

async fn resolved(state: &AppState, held: &Held<IssueCalls>, call: &Call) -> Result<(), Stop> {
    let record = issues::record(&state.db, call.issue_id).await?;
    let Some((record, repository, number)) =
        record.and_then(|r| Some((r.repository.clone()?, r.number?)).map(|(repo, n)| (r, repo, n)))
    else {
        // Never opened: nothing to say on GitHub.
        held.finish(&state.db, "done").await?;
        return Ok(());
    };
    let github = crate::server::github::client(state, call.team_id)
        .await?
        .ok_or_else(|| Stop::Unable("GitHub is no longer connected".into()))?;
    let close = issues::settings(&state.db, call.team_id).await?.is_some_and(|s| s.close_on_resolve);
    if !record.commented {
        let link = format!("{}/incidents/{}", state.public_url(), call.incident_id);
        let body = format!("**Resolved in DreamOps.** {}\n\n[The incident's timeline]({link})", call.note);
        github.comment(&repository, number, &body).await.map_err(Stop::GitHub)?;
        // Stored at once: a retry of the close does not comment twice.
        issues::resolved_on_github(&state.db, record.id, false).await?;
    }
    if close && !record.closed {
        github.close_issue(&repository, number).await.map_err(Stop::GitHub)?;
    }
    let mut tx = state.db.begin().await?;
    issues::resolved_on_github(&mut *tx, record.id, close).await?;
    let message = if close {
        format!("GitHub issue {repository}#{number} commented on and closed: the incident is resolved")
    } else {
        format!("GitHub issue {repository}#{number} commented on: the incident is resolved")
    };
    done(state, held, call, tx, "github.issue_resolved", &message).await
}

/// The issue's title and body.
async fn write(
    state: &AppState,
    call: &Call,
    record: &IssueRecord,
    incident: &IncidentDetail,
) -> Result<(String, String), Stop> {
    let base = state.public_url();
    let link = format!("{base}/incidents/{}", call.incident_id);
    let (title, body) = match record.subject.0 {
        IssueSubject::Incident => {
            let analysis = match crate::server::agent::progress(&state.db, call.team_id, call.incident_id).await? {
                AgentProgress::Done(analysis) => Some(*analysis),
                _ => None,
            };
            let title = format!("[{}] {}", incident.summary.severity.as_str(), incident.summary.title);
            (title, incident_body(incident, analysis.as_ref(), &link))
        }
        IssueSubject::Postmortem => {
            let postmortem = crate::server::postmortems::of_incident(&state.db, call.team_id, call.incident_id)
                .await?
                .ok_or_else(|| Stop::Unable("the post-mortem was deleted".into()))?;
            let body = format!(
                "{}\n\n---\nExported from DreamOps by {}: [the post-mortem]({base}/postmortems/{}) · [the incident]({link})",
                postmortem.body, record.requested_by, postmortem.summary.id
            );
            (postmortem.summary.title, body)
        }
        IssueSubject::ActionItem => {
            let title: String = record.item.chars().take(250).collect();
            let body = format!(
                "An action item from the post-mortem of \"{}\", written down by {}.\n\n> {}\n\n[The incident and its post-mortem in DreamOps]({link})",
                incident.summary.title, record.requested_by, record.item
            );
            (title, body)
        }
    };
    Ok((title, cut(body)))
}

/// An incident's issue: what it is, the agent's analysis, what it recommends, and the
/// link to its timeline.
pub fn incident_body(
    incident: &IncidentDetail,
    analysis: Option<&crate::domain::analysis::AnalysisView>,
    link: &str,
) -> String {
    let summary = &incident.summary;
    let mut out = format!(
        "**{}** incident{}, first alerted {} ({} alert{}).\n\n",
        summary.severity.as_str(),
        summary.service.as_deref().map(|service| format!(" on `{service}`")).unwrap_or_default(),
        summary.first_seen_at.format("%-d %b %Y %H:%M UTC"),
        summary.occurrences,
        if summary.occurrences == 1 { "" } else { "s" },
    );
    if let Some(description) = incident.description.as_deref().filter(|d| !d.trim().is_empty()) {
        out.push_str(&format!("{}\n\n", description.trim()));
    }
    out.push_str("### Analysis\n\n");
    match analysis {
        Some(analysis) => {
            out.push_str(&format!("{} ({} confidence)\n\n", analysis.root_cause, analysis.confidence.as_str()));
            for evidence in analysis.evidence.iter().take(8) {
                let line = evidence.line.split_whitespace().collect::<Vec<_>>().join(" ");
                out.push_str(&format!("- {}: `{}`\n", evidence.source, line.replace('`', "'")));
            }
            if !analysis.actions.is_empty() {
                out.push_str("\n### Recommended\n\n");
                for action in &analysis.actions {
                    out.push_str(&format!("- {}\n", action.title));
                }
            }
        }
        None => out.push_str("The agent's analysis is not ready yet; the incident's page shows it when it is.\n"),
    }
    out.push_str(&format!("\n[The incident and its live timeline in DreamOps]({link})\n"));
    out
}

/// `body` within GitHub's limit.
fn cut(body: String) -> String {
    if body.chars().count() <= BODY_MAX {
        return body;
    }
    let mut cut: String = body.chars().take(BODY_MAX).collect();
    cut.push_str("\n\n… (cut here: the whole text is in DreamOps)");
    cut
}

/// A responder exports the team's post-mortem `id` to GitHub: as one issue, or
/// (`action_items`) one issue per open action item; how many were queued.
pub async fn export_postmortem(
    state: &AppState,
    acting: &crate::server::audit::Acting,
    id: uuid::Uuid,
    action_items: bool,
) -> Result<usize, AppError> {
    let postmortem = crate::server::postmortems::get(&state.db, acting.team_id, id).await?;
    let incident = postmortem.summary.incident_id;
    if !action_items {
        return issues::request(state, acting, incident, IssueSubject::Postmortem, &[]).await;
    }
    let items = crate::server::postmortems::action_items(&postmortem.body);
    if items.is_empty() {
        return Err(AppError::Conflict(
            "The post-mortem has no open action items: write them as \"- [ ] …\" under \"## Action items\".".into(),
        ));
    }
    issues::request(state, acting, incident, IssueSubject::ActionItem, &items).await
}

/// The GitHub issues of the team's post-mortem `id`'s incident.
pub async fn of_postmortem(
    db: &sqlx::PgPool,
    team: uuid::Uuid,
    id: uuid::Uuid,
) -> Result<crate::domain::github::IncidentIssues, AppError> {
    let postmortem = crate::server::postmortems::get(db, team, id).await?;
    issues::of_incident(db, team, postmortem.summary.incident_id).await
}
