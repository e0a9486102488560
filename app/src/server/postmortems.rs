//! Post-mortems: the draft written from a resolved incident (summary, impact, timeline,
//! root cause from the analysis, what was done with its verification, action items),
//! edited in Markdown and saved as people type (a save made from an older version is
//! refused, not lost), who edited it, the list and its search, and the Markdown export.

use chrono::{DateTime, Utc};
use sqlx::PgPool;
use uuid::Uuid;

use crate::domain::analysis::AnalysisView;
use crate::domain::incident::{IncidentDetail, IncidentStatus};
use crate::domain::postmortem::{Postmortem, PostmortemSummary};
use crate::domain::remediation::{ActionState, ActionView};
use crate::error::{AppError, OrInternal};
use crate::server::audit::Acting;
use crate::server::state::AppState;

/// The longest post-mortem, in bytes.
pub const BODY_MAX: usize = 200_000;
/// Timeline entries the draft lists at most (the first and the last ones).
const TIMELINE_IN_DRAFT: usize = 200;

/// "1 h 12 min", "4 min", "40 s".
pub fn duration(milliseconds: i64) -> String {
    let seconds = (milliseconds.max(0) + 500) / 1000;
    match seconds {
        0..60 => format!("{seconds} s"),
        60..3600 => format!("{} min", seconds / 60),
        _ if seconds < 86_400 => format!("{} h {} min", seconds / 3600, seconds % 3600 / 60),
        _ => format!("{} d {} h", seconds / 86_400, seconds % 86_400 / 3600),
    }
}

fn time(at: DateTime<Utc>) -> String {
    at.format("%-d %b %Y %H:%M UTC").to_string()
}

/// The first draft of a resolved incident's post-mortem, in Markdown, from what
/// DreamOps knows of it.
pub fn draft(incident: &IncidentDetail, analysis: Option<&AnalysisView>, actions: &[ActionView]) -> String {
    let summary = &incident.summary;
    let opened = summary.first_seen_at;
    let mut out = format!("# Post-mortem: {}\n\n", summary.title);
    let service = summary.service.as_deref().unwrap_or("no service named");
    out.push_str("## Summary\n\n");
    out.push_str(&format!(
        "A {} incident on {service}, first alerted {}{}.",
        summary.severity.as_str(),
        time(opened),
        incident.resolved_at.map(|at| format!(" and resolved {}", time(at))).unwrap_or_default()
    ));
    if let Some(analysis) = analysis {
        out.push_str(&format!(" Root cause, as diagnosed: {}", analysis.root_cause));
    }
    out.push_str("\n\n_What happened, in two or three sentences for someone who was not there._\n\n");

    out.push_str("## Impact\n\n");
    if let Some(resolved) = incident.resolved_at {
        out.push_str(&format!(
            "- Duration: {} (first alert to resolution)\n",
            duration((resolved - opened).num_milliseconds())
        ));
    }
    match incident.acknowledged_at {
        Some(at) => out.push_str(&format!(
            "- Time to acknowledge: {}{}\n",
            duration((at - opened).num_milliseconds()),
            incident.acknowledged_by.as_deref().map(|by| format!(" ({by})")).unwrap_or_default()
        )),
        None => out.push_str("- Time to acknowledge: never acknowledged\n"),
    }
    if let Some(analysis) = analysis {
        out.push_str(&format!("- Time to diagnose: {} (the agent)\n", duration(analysis.diagnosed_after_ms)));
    }
    if let Some(resolved) = incident.resolved_at {
        out.push_str(&format!(
            "- Time to resolve: {}{}\n",
            duration((resolved - opened).num_milliseconds()),
            incident.resolved_by.as_deref().map(|by| format!(" ({by})")).unwrap_or_default()
        ));
    }
    out.push_str(&format!("- Alerts: {}\n", summary.occurrences));
    let mut services: Vec<&str> = summary.service.as_deref().into_iter().collect();
    for related in &incident.related {
        if let Some(other) = related.incident.service.as_deref()
            && !services.contains(&other)
            && related.incident.first_seen_at <= incident.resolved_at.unwrap_or(related.incident.first_seen_at)
            && related.incident.last_seen_at >= opened
        {
            services.push(other);
        }
    }
    out.push_str(&format!(
        "- Services: {}\n\n",
        if services.is_empty() { "none named".to_string() } else { services.join(", ") }
    ));

    out.push_str("## Timeline\n\n");
    let entries = &incident.timeline;
    let skipped = entries.len().saturating_sub(TIMELINE_IN_DRAFT);
    for (n, entry) in entries.iter().enumerate() {
        if skipped > 0 && n == TIMELINE_IN_DRAFT / 2 {
            out.push_str(&format!("- … {skipped} more entries …\n"));
        }
        if skipped > 0 && n >= TIMELINE_IN_DRAFT / 2 && n < TIMELINE_IN_DRAFT / 2 + skipped {
            continue;
        }
        out.push_str(&format!("- {} — {}: {}\n", entry.at.format("%H:%M:%S"), entry.actor, one_line(&entry.message)));
    }
    if entries.is_empty() {
        out.push_str("- (nothing recorded)\n");
    }

    out.push_str("\n## Root cause\n\n");
    match analysis {
        Some(analysis) => {
            out.push_str(&format!("{} ({} confidence)\n\n", analysis.root_cause, analysis.confidence.as_str()));
            for evidence in analysis.evidence.iter().take(10) {
                out.push_str(&format!("- {}: {}\n", evidence.source, one_line(&evidence.line)));
            }
            if let Some(feedback) = &analysis.feedback {
                out.push_str(&match (&feedback.right, &feedback.correction) {
                    (true, _) => format!("\n{} confirmed the diagnosis.\n", feedback.given_by),
                    (false, Some(correction)) => format!("\n{} corrected it: {correction}\n", feedback.given_by),
                    (false, None) => format!("\n{} said the diagnosis was wrong.\n", feedback.given_by),
                });
            }
        }
        None => out.push_str("The incident was not analysed. _What caused it?_\n"),
    }

    out.push_str("\n## What was done\n\n");
    if actions.is_empty() {
        out.push_str("- No remediation through DreamOps. _What did responders do?_\n");
    }
    for action in actions {
        let by = if action.automatic { "the agent, automatically".to_string() } else { action.requested_by.clone() };
        let verified = match action.state {
            ActionState::Verified => "verified: the workload recovered",
            ActionState::RolledBack => "not verified: it did not help and was undone",
            ActionState::NotFixed => "not verified: the workload did not recover",
            ActionState::Failed => "not carried out",
            ActionState::Cancelled => "cancelled before it began",
            ActionState::Intended | ActionState::Executing => "unfinished",
        };
        out.push_str(&format!(
            "- {} at {} by {by} — {verified}{}\n",
            action.title,
            action.created_at.format("%H:%M"),
            action.outcome.as_deref().map(|outcome| format!(" ({})", one_line(outcome))).unwrap_or_default()
        ));
    }

    out.push_str("\n## Action items\n\n");
    if let Some(analysis) = analysis {
        for recommended in analysis.actions.iter().take(5) {
            out.push_str(&format!("- [ ] Make \"{}\" unnecessary next time\n", recommended.title));
        }
    }
    out.push_str("- [ ] _What will stop this from happening again? One owner per item._\n");
    out
}

/// `text` on one line (timeline messages and log lines can span several).
fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// A post-mortem's title: its first `# ` heading, else `fallback`.
pub fn title_of(body: &str, fallback: &str) -> String {
    body.lines()
        .find_map(|line| line.strip_prefix("# "))
        .map(str::trim)
        .filter(|title| !title.is_empty())
        .unwrap_or(fallback)
        .chars()
        .take(200)
        .collect()
}

#[derive(sqlx::FromRow)]
struct Row {
    id: Uuid,
    incident_id: Uuid,
    title: String,
    body: String,
    version: i32,
    updated_by: String,
    updated_at: DateTime<Utc>,
    notion_url: Option<String>,
}

const COLUMNS: &str = "id, incident_id, title, body, version, updated_by, updated_at, notion_url";

impl Row {
    fn summary(&self) -> PostmortemSummary {
        PostmortemSummary {
            id: self.id,
            incident_id: self.incident_id,
            title: self.title.clone(),
            version: self.version,
            updated_by: self.updated_by.clone(),
            updated_at: self.updated_at,
        }
    }
}

async fn whole(db: &PgPool, row: Row) -> Result<Postmortem, AppError> {
    let editors: Vec<(String, DateTime<Utc>)> = sqlx::query_as(
        "select edited_by, last_edited_at from postmortem_editors where postmortem_id = $1 order by first_edited_at",
    )
    .bind(row.id)
    .fetch_all(db)
    .await
    .or_internal("reading a post-mortem failed")?;
    Ok(Postmortem { summary: row.summary(), body: row.body, editors, notion_url: row.notion_url })
}

/// The post-mortem of the team's resolved incident `incident`: the one written, or a
/// new draft.
pub async fn start(state: &AppState, acting: &Acting, incident: Uuid) -> Result<Postmortem, AppError> {
    let team = acting.team_id;
    let detail = crate::server::incidents::detail(&state.db, team, incident).await?;
    if detail.summary.status != IncidentStatus::Resolved {
        return Err(AppError::Conflict("A post-mortem is written once the incident is resolved.".into()));
    }
    let existing: Option<Row> =
        sqlx::query_as(&format!("select {COLUMNS} from postmortems where incident_id = $1 and team_id = $2"))
            .bind(incident)
            .bind(team)
            .fetch_optional(&state.db)
            .await
            .or_internal("reading a post-mortem failed")?;
    if let Some(row) = existing {
        return whole(&state.db, row).await;
    }
    let analysis = match crate::server::agent::progress(&state.db, team, incident).await? {
        crate::domain::analysis::AgentProgress::Done(analysis) => Some(*analysis),
        _ => None,
    };
    let actions = crate::server::remediation::incident_actions(state, acting, incident).await?.actions;
    let body = draft(&detail, analysis.as_ref(), &actions);
    let who = acting.name();
    let mut tx = state.db.begin().await.or_internal("writing a post-mortem failed")?;
    let row: Option<Row> = sqlx::query_as(&format!(
        "insert into postmortems (id, team_id, incident_id, title, body, updated_by) values ($1, $2, $3, $4, $5, $6)
         on conflict (incident_id) do nothing returning {COLUMNS}"
    ))
    .bind(Uuid::new_v4())
    .bind(team)
    .bind(incident)
    .bind(title_of(&body, &detail.summary.title))
    .bind(&body)
    .bind(&who)
    .fetch_optional(&mut *tx)
    .await
    .or_internal("writing a post-mortem failed")?;
    let Some(row) = row else {
        // Someone drafted it at the same moment: theirs stands.
        drop(tx);
        return Box::pin(start(state, acting, incident)).await;
    };
    sqlx::query("insert into postmortem_editors (postmortem_id, team_id, edited_by) values ($1, $2, $3)")
        .bind(row.id)
        .bind(team)
        .bind(&who)
        .execute(&mut *tx)
        .await
        .or_internal("writing a post-mortem failed")?;
    acting
        .audit(&mut *tx, "postmortem.drafted", Some(&row.id.to_string()), serde_json::json!({ "incident": incident }))
        .await?;
    tx.commit().await.or_internal("writing a post-mortem failed")?;
    whole(&state.db, row).await
}

/// The team's post-mortem `id`.
pub async fn get(db: &PgPool, team: Uuid, id: Uuid) -> Result<Postmortem, AppError> {
    let row: Row = sqlx::query_as(&format!("select {COLUMNS} from postmortems where id = $1 and team_id = $2"))
        .bind(id)
        .bind(team)
        .fetch_optional(db)
        .await
        .or_internal("reading a post-mortem failed")?
        .ok_or(AppError::NotFound)?;
    whole(db, row).await
}

/// The post-mortem of the team's incident `incident`, when one was written.
pub async fn of_incident(db: &PgPool, team: Uuid, incident: Uuid) -> Result<Option<Postmortem>, AppError> {
    let row: Option<Row> =
        sqlx::query_as(&format!("select {COLUMNS} from postmortems where incident_id = $1 and team_id = $2"))
            .bind(incident)
            .bind(team)
            .fetch_optional(db)
            .await
            .or_internal("reading a post-mortem failed")?;
    match row {
        Some(row) => whole(db, row).await.map(Some),
        None => Ok(None),
    }
}

/// The open action items of a post-mortem: the unticked task-list items (`- [ ] …`)
/// under its "Action items" heading, but for the draft's italic prompt.
pub fn action_items(body: &str) -> Vec<String> {
    let mut items = Vec::new();
    let mut within = false;
    for line in body.lines() {
        let trimmed = line.trim();
        if let Some(heading) = trimmed.strip_prefix('#') {
            within = heading.trim_start_matches('#').trim().eq_ignore_ascii_case("action items");
            continue;
        }
        let item = trimmed.strip_prefix("- [ ]").or_else(|| trimmed.strip_prefix("* [ ]")).map(str::trim);
        if let Some(item) = item.filter(|item| within && !item.is_empty() && !item.starts_with('_'))
            && !items.iter().any(|known| known == item)
        {
            items.push(item.chars().take(1000).collect());
        }
    }
    items
}

/// Saves `body` as the text of post-mortem `id`, made from `version`: a save from an
/// older version than the stored one (another person's edit came between) is refused.
pub async fn save(
    state: &AppState,
    acting: &Acting,
    id: Uuid,
    version: i32,
    body: &str,
) -> Result<PostmortemSummary, AppError> {
    if body.len() > BODY_MAX {
        return Err(AppError::field("body", format!("A post-mortem is {} KB at most.", BODY_MAX / 1000)));
    }
    if body.contains('\0') {
        return Err(AppError::field("body", "The text contains a NUL character, which cannot be stored."));
    }
    let who = acting.name();
    let mut tx = state.db.begin().await.or_internal("saving a post-mortem failed")?;
    let current: Row =
        sqlx::query_as(&format!("select {COLUMNS} from postmortems where id = $1 and team_id = $2 for update"))
            .bind(id)
            .bind(acting.team_id)
            .fetch_optional(&mut *tx)
            .await
            .or_internal("saving a post-mortem failed")?
            .ok_or(AppError::NotFound)?;
    if current.version != version {
        return Err(AppError::Conflict(format!(
            "{} saved this post-mortem meanwhile. Copy your last change, reload, and add it to theirs.",
            current.updated_by
        )));
    }
    if current.body == body {
        return Ok(current.summary());
    }
    let fallback = current.title.clone();
    let row: Row = sqlx::query_as(&format!(
        "update postmortems set body = $2, title = $3, version = version + 1, updated_by = $4, updated_at = now()
         where id = $1 returning {COLUMNS}"
    ))
    .bind(id)
    .bind(body)
    .bind(title_of(body, &fallback))
    .bind(&who)
    .fetch_one(&mut *tx)
    .await
    .or_internal("saving a post-mortem failed")?;
    sqlx::query(
        "insert into postmortem_editors (postmortem_id, team_id, edited_by) values ($1, $2, $3)
         on conflict (postmortem_id, edited_by) do update set last_edited_at = now()",
    )
    .bind(id)
    .bind(acting.team_id)
    .bind(&who)
    .execute(&mut *tx)
    .await
    .or_internal("saving a post-mortem failed")?;
    tx.commit().await.or_internal("saving a post-mortem failed")?;
    Ok(row.summary())
}

/// The team's post-mortems, newest change first; with `search`, those whose title or
/// text contains it.
pub async fn list(db: &PgPool, team: Uuid, search: Option<&str>) -> Result<Vec<PostmortemSummary>, AppError> {
    let search = search.map(str::trim).filter(|search| !search.is_empty()).map(|search| search.replace('\0', ""));
    let rows: Vec<Row> = sqlx::query_as(&format!(
        "select {COLUMNS} from postmortems where team_id = $1
           and ($2::text is null or strpos(lower(title), lower($2)) > 0 or strpos(lower(body), lower($2)) > 0)
         order by updated_at desc limit 200"
    ))
    .bind(team)
    .bind(search)
    .fetch_all(db)
    .await
    .or_internal("reading post-mortems failed")?;
    Ok(rows.iter().map(Row::summary).collect())
}

/// A file name from a post-mortem's `title` ("Post-mortem: Checkout is slow" →
/// `post-mortem-checkout-is-slow.md`).
pub fn file_name(title: &str) -> String {
    let mut slug = String::new();
    for c in title.to_lowercase().chars() {
        if c.is_ascii_alphanumeric() {
            slug.push(c);
        } else if !slug.ends_with('-') {
            slug.push('-');
        }
    }
    let slug: String = slug.trim_matches('-').chars().take(60).collect();
    format!("{}.md", if slug.is_empty() { "postmortem".to_string() } else { slug })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn action_items_are_the_open_tasks_under_their_heading() {
        let body = "# Post-mortem\n\n## What was done\n\n- [ ] not an action item\n\n## Action items\n\n- [ ] Alert on memory at 80 %\n- [x] Done already\n* [ ] Add a runbook\n- [ ] Alert on memory at 80 %\n- [ ] _What will stop this from happening again?_\n\n## Notes\n\n- [ ] later\n";
        assert_eq!(super::action_items(body), ["Alert on memory at 80 %", "Add a runbook"]);
        assert!(super::action_items("no headings\n- [ ] x").is_empty());
    }

    #[test]
    fn durations_read_as_people_say_them() {
        assert_eq!(duration(40_000), "40 s");
        assert_eq!(duration(4 * 60_000 + 10_000), "4 min");
        assert_eq!(duration(72 * 60_000), "1 h 12 min");
        assert_eq!(duration(26 * 3_600_000), "1 d 2 h");
        assert_eq!(duration(-5), "0 s");
    }

    #[test]
    fn the_title_is_the_first_heading_and_the_file_name_follows_it() {
        assert_eq!(title_of("intro\n# Checkout was slow \n## Impact", "x"), "Checkout was slow");
        assert_eq!(title_of("no heading", "The incident"), "The incident");
        assert_eq!(file_name("Post-mortem: Checkout p99 > 2 s!"), "post-mortem-checkout-p99-2-s.md");
        assert_eq!(file_name("¿¿"), "postmortem.md");
    }
}
