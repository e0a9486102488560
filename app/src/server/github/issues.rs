//! GitHub issues' records and their queue: where a team's issues go and when they are
//! opened on their own (its issue settings); each issue asked for — for an incident, its
//! post-mortem or one of the post-mortem's action items — with what GitHub answered; and
//! the calls queued for it (open it; when the incident is resolved, comment on it and
//! close it if the team wants), in the transaction of what asked for them. The
//! `issue_writer` runs the calls.

use sqlx::{PgConnection, PgExecutor, PgPool};
use uuid::Uuid;

use crate::domain::github::{GitHubIssue, IncidentIssues, IssueSettings, IssueState, IssueSubject};
use crate::domain::incident::Severity;
use crate::domain::live::{LiveEvent, LiveKind};
use crate::error::{AppError, OrInternal};
use crate::server::audit::Acting;
use crate::server::jobs::{self, Queue};
use crate::server::state::AppState;

/// Who asks for the issues the team's settings open on their own.
pub const AUTOMATIC: &str = "DreamOps agent";
/// Labels an issue carries at most.
const LABELS_MAX: usize = 10;

/// The queue of calls to GitHub for issues. Calls of one team go one at a time (GitHub
/// asks integrations not to make concurrent writes); an issue's calls go in the order
/// they were made (opened before commented on), retries included.
pub const QUEUE: Queue = Queue {
    name: "GitHub issue calls",
    table: "github_calls",
    channel: "github_calls",
    waiting: "queued",
    running: "running",
    parked: "failed",
    group: &["team_id"],
    also: "and not exists (select 1 from github_calls e
                           where e.issue_id = q.issue_id and e.id < q.id and e.state in ('queued', 'running'))",
};

/// What a call does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CallKind {
    /// Open the issue.
    Open,
    /// The incident was resolved: comment on its issue, and close it if the team wants.
    Resolved,
}

impl CallKind {
    fn as_str(self) -> &'static str {
        match self {
            CallKind::Open => "open",
            CallKind::Resolved => "resolved",
        }
    }
}

impl TryFrom<String> for CallKind {
    type Error = String;

    fn try_from(stored: String) -> Result<Self, Self::Error> {
        match stored.as_str() {
            "open" => Ok(CallKind::Open),
            "resolved" => Ok(CallKind::Resolved),
            other => Err(format!("unknown GitHub call {other}")),
        }
    }
}

/// A queued call, as the runner claims it.
#[derive(sqlx::FromRow)]
pub struct Call {
    pub id: i64,
    pub team_id: Uuid,
    pub incident_id: Uuid,
    pub issue_id: Uuid,
    #[sqlx(try_from = "String")]
    pub call: CallKind,
    /// What the resolve comment says.
    pub note: String,
    pub attempts: i32,
}

/// An issue as stored: what it is for, who asked, and what GitHub answered.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct IssueRecord {
    pub id: Uuid,
    #[sqlx(try_from = "String")]
    pub subject: Subject,
    pub item: String,
    pub requested_by: String,
    pub repository: Option<String>,
    pub number: Option<i64>,
    pub url: Option<String>,
    pub commented: bool,
    pub closed: bool,
}

/// [`IssueSubject`] as a column.
#[derive(Clone, Copy, Debug)]
pub struct Subject(pub IssueSubject);

impl TryFrom<String> for Subject {
    type Error = &'static str;

    fn try_from(stored: String) -> Result<Self, Self::Error> {
        stored.parse().map(Subject)
    }
}

/// The issue `id`.
pub async fn record(db: impl PgExecutor<'_>, id: Uuid) -> Result<Option<IssueRecord>, sqlx::Error> {
    sqlx::query_as(
        "select id, subject, item, requested_by, repository, number, url,
                commented_at is not null as commented, closed_at is not null as closed
         from github_issues where id = $1",
    )
    .bind(id)
    .fetch_optional(db)
    .await
}

/// Records that GitHub opened issue `id` as `number` in `repository`.
pub async fn opened(
    db: impl PgExecutor<'_>,
    id: Uuid,
    repository: &str,
    number: i64,
    url: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query("update github_issues set repository = $2, number = $3, url = $4 where id = $1")
        .bind(id)
        .bind(repository)
        .bind(number)
        .bind(url)
        .execute(db)
        .await
        .map(|_| ())
}

/// Records that issue `id` was commented on as resolved (and closed, when `closed`).
pub async fn resolved_on_github(db: impl PgExecutor<'_>, id: Uuid, closed: bool) -> Result<(), sqlx::Error> {
    sqlx::query(
        "update github_issues set commented_at = coalesce(commented_at, now()),
                closed_at = case when $2 then coalesce(closed_at, now()) else closed_at end
         where id = $1",
    )
    .bind(id)
    .bind(closed)
    .execute(db)
    .await
    .map(|_| ())
}

/// The team's issue settings; `None` when GitHub is not connected.
pub async fn settings(db: impl PgExecutor<'_>, team: Uuid) -> Result<Option<IssueSettings>, sqlx::Error> {
    /// Repository, severities, labels, close on resolve.
    type Stored = (Option<String>, Vec<String>, Vec<String>, bool);
    let row: Option<Stored> = sqlx::query_as(
        "select issue_repository, issue_severities, issue_labels, close_issues
         from github_connections where team_id = $1",
    )
    .bind(team)
    .fetch_optional(db)
    .await?;
    Ok(row.map(|(repository, severities, labels, close_on_resolve)| IssueSettings {
        repository,
        severities: severities.iter().filter_map(|s| s.parse().ok()).collect(),
        labels,
        close_on_resolve,
    }))
}

/// Whether `repository` is written `owner/name` as GitHub allows.
pub fn is_repository(repository: &str) -> bool {
    let name_ok = |part: &str| {
        !part.is_empty() && part.len() <= 100 && part.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
    };
    repository.split_once('/').is_some_and(|(owner, name)| name_ok(owner) && name_ok(name))
}

/// Saves the team's issue settings.
pub async fn set_settings(
    state: &AppState,
    acting: &Acting,
    settings: IssueSettings,
) -> Result<IssueSettings, AppError> {
    let repository = settings.repository.as_deref().map(str::trim).filter(|r| !r.is_empty()).map(str::to_string);
    if let Some(repository) = &repository
        && !is_repository(repository)
    {
        return Err(AppError::field("repository", format!("\"{repository}\" is not owner/repository.")));
    }
    let mut labels: Vec<String> = Vec::new();
    for label in settings.labels.iter().map(|label| label.trim()).filter(|label| !label.is_empty()) {
        if label.chars().count() > 50 {
            return Err(AppError::field("labels", format!("\"{label}\" is longer than GitHub's 50 characters.")));
        }
        if !labels.iter().any(|known| known.eq_ignore_ascii_case(label)) {
            labels.push(label.to_string());
        }
    }
    if labels.len() > LABELS_MAX {
        return Err(AppError::field("labels", format!("At most {LABELS_MAX} labels.")));
    }
    let mut severities = settings.severities.clone();
    severities.sort();
    severities.dedup();
    let saved = sqlx::query(
        "update github_connections set issue_repository = $2, issue_severities = $3, issue_labels = $4,
                close_issues = $5, updated_at = now()
         where team_id = $1",
    )
    .bind(acting.team_id)
    .bind(&repository)
    .bind(severities.iter().map(|s| s.as_str()).collect::<Vec<_>>())
    .bind(&labels)
    .bind(settings.close_on_resolve)
    .execute(&state.db)
    .await
    .or_internal("saving the issue settings failed")?;
    if saved.rows_affected() == 0 {
        return Err(AppError::Conflict("Connect GitHub first.".into()));
    }
    let saved = IssueSettings { repository, severities, labels, close_on_resolve: settings.close_on_resolve };
    acting
        .audit(&state.db, "github.issue_settings_set", None, serde_json::to_value(&saved).unwrap_or_default())
        .await?;
    Ok(saved)
}

/// The repository an issue about an incident on `service` goes to: the service's, else
/// the team's repository for issues.
pub async fn repository_for(db: &PgPool, team: Uuid, service: Option<&str>) -> Result<Option<String>, sqlx::Error> {
    if let Some(service) = service
        && let Some((repository, _)) = super::repository_of(db, team, service).await?
    {
        return Ok(Some(repository));
    }
    Ok(sqlx::query_scalar::<_, Option<String>>("select issue_repository from github_connections where team_id = $1")
        .bind(team)
        .fetch_optional(db)
        .await?
        .flatten())
}

async fn queue_call(
    db: &mut PgConnection,
    team: Uuid,
    incident: Uuid,
    issue: Uuid,
    call: CallKind,
    note: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query("insert into github_calls (team_id, incident_id, issue_id, call, note) values ($1, $2, $3, $4, $5)")
        .bind(team)
        .bind(incident)
        .bind(issue)
        .bind(call.as_str())
        .bind(note)
        .execute(&mut *db)
        .await?;
    jobs::announce(db, &QUEUE).await
}

/// What asking for an issue did.
#[derive(Debug, PartialEq, Eq)]
pub enum Asked {
    /// Queued for GitHub (again, when it had failed).
    Queued,
    /// It is open already, or queued.
    Already,
}

/// Asks for an issue about the team's incident `incident` (`item` is the action item's
/// text, else empty): queued unless it is open or queued already; a failed one is
/// queued again.
pub async fn ask(
    db: &mut PgConnection,
    team: Uuid,
    incident: Uuid,
    subject: IssueSubject,
    item: &str,
    requested_by: &str,
) -> Result<Asked, sqlx::Error> {
    let id: Option<Uuid> = sqlx::query_scalar(
        "insert into github_issues (id, team_id, incident_id, subject, item, requested_by)
         values ($1, $2, $3, $4, $5, $6) on conflict (incident_id, subject, item) do nothing returning id",
    )
    .bind(Uuid::new_v4())
    .bind(team)
    .bind(incident)
    .bind(subject.as_str())
    .bind(item)
    .bind(requested_by)
    .fetch_optional(&mut *db)
    .await?;
    if let Some(id) = id {
        queue_call(db, team, incident, id, CallKind::Open, "").await?;
        return Ok(Asked::Queued);
    }
    // Asked before: ask again only when it was never opened and nothing is queued for it.
    let failed: Option<Uuid> = sqlx::query_scalar(
        "select i.id from github_issues i
         where i.incident_id = $1 and i.subject = $2 and i.item = $3 and i.team_id = $4 and i.number is null
           and not exists (select 1 from github_calls c where c.issue_id = i.id and c.state in ('queued', 'running'))
         for update",
    )
    .bind(incident)
    .bind(subject.as_str())
    .bind(item)
    .bind(team)
    .fetch_optional(&mut *db)
    .await?;
    match failed {
        Some(id) => {
            sqlx::query("update github_issues set requested_by = $2 where id = $1")
                .bind(id)
                .bind(requested_by)
                .execute(&mut *db)
                .await?;
            queue_call(db, team, incident, id, CallKind::Open, "").await?;
            Ok(Asked::Queued)
        }
        None => Ok(Asked::Already),
    }
}

/// Whether `incident` is the team's.
async fn incident_known(db: impl PgExecutor<'_>, team: Uuid, incident: Uuid) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar("select exists (select 1 from incidents where id = $1 and team_id = $2)")
        .bind(incident)
        .bind(team)
        .fetch_one(db)
        .await
}

/// A responder asks for issues (one per item, or one with `items` empty) about the
/// team's incident `incident`; how many were queued. GitHub must be connected.
pub async fn request(
    state: &AppState,
    acting: &Acting,
    incident: Uuid,
    subject: IssueSubject,
    items: &[String],
) -> Result<usize, AppError> {
    let team = acting.team_id;
    let mut tx = state.db.begin().await.or_internal("asking for a GitHub issue failed")?;
    if !incident_known(&mut *tx, team, incident).await.or_internal("asking for a GitHub issue failed")? {
        return Err(AppError::NotFound);
    }
    if settings(&mut *tx, team).await.or_internal("asking for a GitHub issue failed")?.is_none() {
        return Err(AppError::Conflict("Connect GitHub on the integrations page first.".into()));
    }
    let empty = [String::new()];
    let items = if items.is_empty() { &empty[..] } else { items };
    let mut queued = 0;
    for item in items {
        let item: String = item.trim().chars().take(1000).collect();
        if ask(&mut tx, team, incident, subject, &item, &acting.name())
            .await
            .or_internal("asking for a GitHub issue failed")?
            == Asked::Queued
        {
            queued += 1;
        }
    }
    if queued == 0 {
        return Err(AppError::Conflict("It is on GitHub already, or on its way.".into()));
    }
    acting
        .audit(
            &mut *tx,
            "github.issue_requested",
            Some(&incident.to_string()),
            serde_json::json!({ "subject": subject.as_str(), "issues": queued }),
        )
        .await?;
    tx.commit().await.or_internal("asking for a GitHub issue failed")?;
    state.live.publish(team, [LiveEvent::new(LiveKind::TimelineEntry, incident)]);
    Ok(queued)
}

/// The agent diagnosed incident `incident`: when the team opens issues on their own for
/// its severity, one is asked for.
pub async fn diagnosed(db: &mut PgConnection, team: Uuid, incident: Uuid) -> Result<(), sqlx::Error> {
    let Some(settings) = settings(&mut *db, team).await? else { return Ok(()) };
    let severity: Option<String> = sqlx::query_scalar("select severity from incidents where id = $1 and team_id = $2")
        .bind(incident)
        .bind(team)
        .fetch_optional(&mut *db)
        .await?;
    if severity.and_then(|s| s.parse::<Severity>().ok()).is_some_and(|s| settings.severities.contains(&s)) {
        ask(db, team, incident, IssueSubject::Incident, "", AUTOMATIC).await?;
    }
    Ok(())
}

/// Incident `incident` was resolved (`how`): its issue, when it has one, is commented on
/// (and closed, when the team wants).
pub async fn incident_resolved(
    db: &mut PgConnection,
    team: Uuid,
    incident: Uuid,
    how: &str,
) -> Result<(), sqlx::Error> {
    let issue: Option<Uuid> = sqlx::query_scalar(
        "select id from github_issues where incident_id = $1 and team_id = $2 and subject = 'incident'",
    )
    .bind(incident)
    .bind(team)
    .fetch_optional(&mut *db)
    .await?;
    match issue {
        Some(issue) => queue_call(db, team, incident, issue, CallKind::Resolved, how).await,
        None => Ok(()),
    }
}

#[derive(sqlx::FromRow)]
struct Listed {
    #[sqlx(try_from = "String")]
    subject: Subject,
    item: String,
    repository: Option<String>,
    number: Option<i64>,
    url: Option<String>,
    closed: bool,
    failure: Option<String>,
}

/// The issues asked for about the team's incident `incident`, oldest first.
pub async fn of_incident(db: &PgPool, team: Uuid, incident: Uuid) -> Result<IncidentIssues, AppError> {
    if !incident_known(db, team, incident).await.or_internal("reading the GitHub issues failed")? {
        return Err(AppError::NotFound);
    }
    let connected = settings(db, team).await.or_internal("reading the GitHub issues failed")?.is_some();
    let rows: Vec<Listed> = sqlx::query_as(
        "select i.subject, i.item, i.repository, i.number, i.url, i.closed_at is not null as closed,
                case when not exists (select 1 from github_calls c
                                      where c.issue_id = i.id and c.state in ('queued', 'running'))
                     then (select c.last_error from github_calls c
                           where c.issue_id = i.id and c.call = 'open' and c.state = 'failed'
                           order by c.id desc limit 1)
                end as failure
         from github_issues i where i.incident_id = $1 and i.team_id = $2 order by i.created_at, i.item",
    )
    .bind(incident)
    .bind(team)
    .fetch_all(db)
    .await
    .or_internal("reading the GitHub issues failed")?;
    let issues = rows
        .into_iter()
        .map(|row| {
            let state = match (row.repository, row.number, row.url, row.failure) {
                (Some(repository), Some(number), Some(url), _) if row.closed => {
                    IssueState::Closed { repository, number, url }
                }
                (Some(repository), Some(number), Some(url), _) => IssueState::Open { repository, number, url },
                (_, _, _, Some(failure)) => IssueState::Failed(failure),
                _ => IssueState::Opening,
            };
            GitHubIssue { subject: row.subject.0, item: row.item, state }
        })
        .collect();
    Ok(IncidentIssues { connected, issues })
}
