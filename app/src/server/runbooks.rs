//! Runbooks: a team's Markdown runbooks, every change kept as a version with who made
//! it; which runbook an incident matches (by alert name, service and labels, the most
//! specific first); its steps (the top-level items of its lists), ticked off on an
//! incident into the timeline; the runbook the agent quotes; and the runbooks imported
//! from Notion (`notion` reads them), which are edited there.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use sqlx::{PgExecutor, PgPool};
use uuid::Uuid;

use crate::domain::live::{LiveEvent, LiveKind};
use crate::domain::runbook::{IncidentRunbook, Runbook, RunbookMatch, RunbookStep, RunbookSummary, RunbookVersion};
use crate::error::{AppError, OrInternal};
use crate::server::alert_subject;
use crate::server::audit::Acting;
use crate::server::state::AppState;

/// The longest title, in characters.
pub const TITLE_MAX: usize = 200;
/// The longest text, in bytes.
pub const BODY_MAX: usize = 100_000;
/// The most alert names, services or labels a runbook lists.
const CRITERIA_MAX: usize = 50;

/// A runbook as it is to be saved.
#[derive(Clone, Debug, Default)]
pub struct Draft {
    pub title: String,
    pub body: String,
    pub matching: RunbookMatch,
}

impl Draft {
    /// A draft from a form's fields: alert names and services separated by commas or
    /// lines, labels as `name=value` likewise. Every field's mistake is named.
    pub fn from_form(
        title: &str,
        body: &str,
        alert_names: &str,
        services: &str,
        labels: &str,
    ) -> Result<Draft, AppError> {
        let mut errors = Vec::new();
        let title = title.trim();
        if title.is_empty() {
            errors.push(("title", "Give the runbook a title.".to_string()));
        } else if title.chars().count() > TITLE_MAX {
            errors.push(("title", format!("A title is {TITLE_MAX} characters at most.")));
        }
        if body.len() > BODY_MAX {
            errors.push(("body", format!("A runbook is {} KB at most.", BODY_MAX / 1000)));
        }
        for (field, text) in
            [("title", title), ("body", body), ("alert_names", alert_names), ("services", services), ("labels", labels)]
        {
            if text.contains('\0') {
                errors.push((field, "The text contains a NUL character, which cannot be stored.".to_string()));
            }
        }
        let list = |field: &'static str, text: &str, errors: &mut Vec<(&'static str, String)>| {
            let items = items(text);
            if items.len() > CRITERIA_MAX || items.iter().any(|item| item.chars().count() > TITLE_MAX) {
                errors.push((field, format!("At most {CRITERIA_MAX} entries of {TITLE_MAX} characters each.")));
            }
            items
        };
        let alert_names = list("alert_names", alert_names, &mut errors);
        let services = list("services", services, &mut errors);
        let mut pairs = Vec::new();
        for item in list("labels", labels, &mut errors) {
            match item.split_once('=').map(|(name, value)| (name.trim(), value.trim())) {
                Some((name, value)) if !name.is_empty() && !value.is_empty() => {
                    if !pairs.iter().any(|(known, _): &(String, String)| known == name) {
                        pairs.push((name.to_string(), value.to_string()));
                    }
                }
                _ => errors
                    .push(("labels", format!("Write labels as name=value, separated by commas: \"{item}\" is not."))),
            }
        }
        if !errors.is_empty() {
            return Err(AppError::Validation(
                errors
                    .into_iter()
                    .map(|(field, message)| crate::error::FieldError { field: field.into(), message })
                    .collect(),
            ));
        }
        Ok(Draft {
            title: title.to_string(),
            body: body.trim_end().to_string(),
            matching: RunbookMatch { alert_names, services, labels: pairs },
        })
    }
}

/// The entries of a comma- or line-separated list, trimmed, without blanks or repeats.
fn items(text: &str) -> Vec<String> {
    let mut found: Vec<String> = Vec::new();
    for item in text.split([',', '\n']).map(str::trim).filter(|item| !item.is_empty()) {
        if !found.iter().any(|known| known == item) {
            found.push(item.to_string());
        }
    }
    found
}

/// The steps of a runbook: the top-level items of its Markdown lists (`- `, `* `, `+ `,
/// `1. `, `1) `, with or without a `[ ]` box), outside code blocks, in order.
pub fn steps(body: &str) -> Vec<String> {
    let mut steps = Vec::new();
    let mut in_code = false;
    for line in body.lines() {
        if line.trim_start().starts_with("```") || line.trim_start().starts_with("~~~") {
            in_code = !in_code;
            continue;
        }
        if in_code || line.starts_with([' ', '\t']) {
            continue;
        }
        let item = ["- ", "* ", "+ "].iter().find_map(|bullet| line.strip_prefix(bullet)).or_else(|| {
            let digits = line.bytes().take_while(u8::is_ascii_digit).count();
            (digits > 0 && digits < 4)
                .then(|| line[digits..].strip_prefix(". ").or_else(|| line[digits..].strip_prefix(") ")))
                .flatten()
        });
        if let Some(item) = item {
            let item = item.trim();
            let item = ["[ ] ", "[x] ", "[X] "].iter().find_map(|box_| item.strip_prefix(box_)).unwrap_or(item).trim();
            if !item.is_empty() {
                steps.push(item.to_string());
            }
        }
    }
    steps
}

/// What an incident offers to match a runbook against.
#[derive(Clone, Debug, Default)]
pub struct Subject {
    pub alert_name: Option<String>,
    pub service: Option<String>,
    pub details: serde_json::Value,
}

impl Subject {
    /// The subject of an incident with this service and alert details.
    pub fn of(service: Option<&str>, details: &serde_json::Value) -> Subject {
        Subject {
            alert_name: alert_subject::label(details, &["alertname", "alert_name"]),
            service: service.map(str::to_string),
            details: details.clone(),
        }
    }
}

/// Whether `matching` holds for `subject`: how many criteria it names, and in words
/// what matched. Every criterion given must hold; none given matches nothing.
pub fn matches(matching: &RunbookMatch, subject: &Subject) -> Option<(usize, String)> {
    if matching.is_empty() {
        return None;
    }
    let mut why = Vec::new();
    if !matching.alert_names.is_empty() {
        let name = subject.alert_name.as_deref()?;
        matching.alert_names.iter().find(|wanted| wanted.eq_ignore_ascii_case(name))?;
        why.push(format!("alert name {name}"));
    }
    if !matching.services.is_empty() {
        let service = subject.service.as_deref()?;
        matching.services.iter().find(|wanted| wanted.eq_ignore_ascii_case(service))?;
        why.push(format!("service {service}"));
    }
    for (name, value) in &matching.labels {
        if alert_subject::label(&subject.details, &[name.as_str()]).as_deref() != Some(value.as_str()) {
            return None;
        }
        why.push(format!("{name}={value}"));
    }
    let specificity = usize::from(!matching.alert_names.is_empty())
        + usize::from(!matching.services.is_empty())
        + matching.labels.len();
    Some((specificity, why.join(", ")))
}

#[derive(sqlx::FromRow)]
struct Row {
    id: Uuid,
    title: String,
    body: String,
    alert_names: Vec<String>,
    services: Vec<String>,
    labels: serde_json::Value,
    version: i32,
    updated_by: String,
    updated_at: DateTime<Utc>,
    notion_url: Option<String>,
}

const COLUMNS: &str = "id, title, body, alert_names, services, labels, version, updated_by, updated_at, notion_url";

impl Row {
    fn matching(&self) -> RunbookMatch {
        let mut labels: Vec<(String, String)> = self
            .labels
            .as_object()
            .map(|object| {
                object.iter().filter_map(|(name, value)| Some((name.clone(), value.as_str()?.to_string()))).collect()
            })
            .unwrap_or_default();
        labels.sort();
        RunbookMatch { alert_names: self.alert_names.clone(), services: self.services.clone(), labels }
    }

    fn summary(&self) -> RunbookSummary {
        RunbookSummary {
            id: self.id,
            title: self.title.clone(),
            matching: self.matching(),
            version: self.version,
            updated_by: self.updated_by.clone(),
            updated_at: self.updated_at,
            notion_url: self.notion_url.clone(),
        }
    }
}

fn labels_json(labels: &[(String, String)]) -> serde_json::Value {
    serde_json::Value::Object(labels.iter().map(|(name, value)| (name.clone(), value.clone().into())).collect())
}

/// The team's runbooks, newest change first; with `search`, those whose title or text
/// contains it.
pub async fn list(db: &PgPool, team: Uuid, search: Option<&str>) -> Result<Vec<RunbookSummary>, AppError> {
    let search = search.map(str::trim).filter(|search| !search.is_empty()).map(|search| search.replace('\0', ""));
    let rows: Vec<Row> = sqlx::query_as(&format!(
        "select {COLUMNS} from runbooks where team_id = $1
           and ($2::text is null or strpos(lower(title), lower($2)) > 0 or strpos(lower(body), lower($2)) > 0)
         order by updated_at desc limit 500"
    ))
    .bind(team)
    .bind(search)
    .fetch_all(db)
    .await
    .or_internal("reading runbooks failed")?;
    Ok(rows.iter().map(Row::summary).collect())
}

/// The team's runbook `id` with its history.
pub async fn get(db: &PgPool, team: Uuid, id: Uuid) -> Result<Runbook, AppError> {
    let row: Row = sqlx::query_as(&format!("select {COLUMNS} from runbooks where id = $1 and team_id = $2"))
        .bind(id)
        .bind(team)
        .fetch_optional(db)
        .await
        .or_internal("reading a runbook failed")?
        .ok_or(AppError::NotFound)?;
    let versions: Vec<(i32, String, String, String, DateTime<Utc>)> = sqlx::query_as(
        "select version, title, body, edited_by, edited_at from runbook_versions
         where runbook_id = $1 order by version desc limit 100",
    )
    .bind(id)
    .fetch_all(db)
    .await
    .or_internal("reading a runbook failed")?;
    Ok(Runbook {
        summary: row.summary(),
        body: row.body.clone(),
        versions: versions
            .into_iter()
            .map(|(version, title, body, edited_by, edited_at)| RunbookVersion {
                version,
                title,
                body,
                edited_by,
                edited_at,
            })
            .collect(),
    })
}

/// Saves `draft` as a new runbook (`id` none) or as the next version of runbook `id`,
/// which must still be at `expected` (when given): a change made meanwhile is not
/// overwritten. A save that changes nothing makes no version.
pub async fn save(
    state: &AppState,
    acting: &Acting,
    id: Option<Uuid>,
    expected: Option<i32>,
    draft: &Draft,
) -> Result<RunbookSummary, AppError> {
    let who = acting.name();
    let mut tx = state.db.begin().await.or_internal("saving a runbook failed")?;
    let (id, version, action) = match id {
        None => (Uuid::new_v4(), 1, "runbook.created"),
        Some(id) => {
            let current: Row =
                sqlx::query_as(&format!("select {COLUMNS} from runbooks where id = $1 and team_id = $2 for update"))
                    .bind(id)
                    .bind(acting.team_id)
                    .fetch_optional(&mut *tx)
                    .await
                    .or_internal("saving a runbook failed")?
                    .ok_or(AppError::NotFound)?;
            if current.notion_url.is_some() {
                return Err(AppError::Conflict(
                    "This runbook is imported from Notion: edit it there, and the next sync brings the change.".into(),
                ));
            }
            if expected.is_some_and(|expected| expected != current.version) {
                return Err(AppError::Conflict(format!(
                    "{} changed this runbook meanwhile (version {}). Reload it to see their change, then edit again.",
                    current.updated_by, current.version
                )));
            }
            let unchanged = current.title == draft.title
                && current.body == draft.body
                && current.matching() == {
                    let mut matching = draft.matching.clone();
                    matching.labels.sort();
                    matching
                };
            if unchanged {
                return Ok(current.summary());
            }
            (id, current.version + 1, "runbook.updated")
        }
    };
    let row = write(&mut tx, acting.team_id, id, version, draft, (&who, acting.user_id()), None)
        .await
        .or_internal("saving a runbook failed")?;
    let details = serde_json::json!({ "title": draft.title, "version": version });
    acting.audit(&mut *tx, action, Some(&id.to_string()), details).await?;
    tx.commit().await.or_internal("saving a runbook failed")?;
    Ok(row.summary())
}

/// The Notion page a runbook is imported from: its id, address, and when it was last
/// edited there.
pub struct NotionPage<'a> {
    pub id: &'a str,
    pub url: &'a str,
    pub edited_at: DateTime<Utc>,
}

/// Who makes a version: a name, and the member when it is one.
type Editor<'a> = (&'a str, Option<Uuid>);

/// Stores `draft` as version `version` of the team's runbook `id` (new at version 1),
/// with the version's record.
async fn write(
    tx: &mut sqlx::PgConnection,
    team: Uuid,
    id: Uuid,
    version: i32,
    draft: &Draft,
    (who, user): Editor<'_>,
    notion: Option<&NotionPage<'_>>,
) -> Result<Row, sqlx::Error> {
    let labels = labels_json(&draft.matching.labels);
    let row: Row = sqlx::query_as(&format!(
        "insert into runbooks (id, team_id, title, body, alert_names, services, labels, version, updated_by,
                               notion_page, notion_url, notion_edited_at)
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
         on conflict (id) do update set title = $3, body = $4, alert_names = $5, services = $6, labels = $7,
                                        version = $8, updated_by = $9, updated_at = now(), notion_url = $11,
                                        notion_edited_at = $12
         returning {COLUMNS}"
    ))
    .bind(id)
    .bind(team)
    .bind(&draft.title)
    .bind(&draft.body)
    .bind(&draft.matching.alert_names)
    .bind(&draft.matching.services)
    .bind(&labels)
    .bind(version)
    .bind(who)
    .bind(notion.map(|page| page.id))
    .bind(notion.map(|page| page.url))
    .bind(notion.map(|page| page.edited_at))
    .fetch_one(&mut *tx)
    .await?;
    sqlx::query(
        "insert into runbook_versions
             (runbook_id, team_id, version, title, body, alert_names, services, labels, edited_by_user, edited_by)
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
    )
    .bind(id)
    .bind(team)
    .bind(version)
    .bind(&draft.title)
    .bind(&draft.body)
    .bind(&draft.matching.alert_names)
    .bind(&draft.matching.services)
    .bind(&labels)
    .bind(user)
    .bind(who)
    .execute(&mut *tx)
    .await?;
    Ok(row)
}

/// What importing a page did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Imported {
    New,
    Changed,
    Unchanged,
}

/// Imports `draft` from Notion `page` into the team's runbooks: a new runbook, or the
/// next version of the one imported from that page when it was edited since.
pub async fn import(
    tx: &mut sqlx::PgConnection,
    team: Uuid,
    page: &NotionPage<'_>,
    draft: &Draft,
    who: &str,
) -> Result<Imported, sqlx::Error> {
    let current: Option<(Uuid, i32, Option<DateTime<Utc>>)> = sqlx::query_as(
        "select id, version, notion_edited_at from runbooks where team_id = $1 and notion_page = $2 for update",
    )
    .bind(team)
    .bind(page.id)
    .fetch_optional(&mut *tx)
    .await?;
    match current {
        Some((_, _, Some(edited))) if edited == page.edited_at => Ok(Imported::Unchanged),
        Some((id, version, _)) => {
            write(tx, team, id, version + 1, draft, (who, None), Some(page)).await?;
            Ok(Imported::Changed)
        }
        None => {
            write(tx, team, Uuid::new_v4(), 1, draft, (who, None), Some(page)).await?;
            Ok(Imported::New)
        }
    }
}

/// Deletes the team's runbooks imported from Notion pages other than `kept` (pages
/// removed from the database, archived or no longer shared); how many.
pub async fn remove_imported_except(
    tx: &mut sqlx::PgConnection,
    team: Uuid,
    kept: &[String],
) -> Result<u64, sqlx::Error> {
    let removed = sqlx::query(
        "delete from runbooks where team_id = $1 and notion_page is not null and not (notion_page = any($2))",
    )
    .bind(team)
    .bind(kept)
    .execute(&mut *tx)
    .await?;
    Ok(removed.rows_affected())
}

/// Deletes the team's runbook `id` with its history (and its ticks on incidents; the
/// timeline entries they wrote stay).
pub async fn remove(state: &AppState, acting: &Acting, id: Uuid) -> Result<(), AppError> {
    let mut tx = state.db.begin().await.or_internal("deleting a runbook failed")?;
    let title: String = sqlx::query_scalar("delete from runbooks where id = $1 and team_id = $2 returning title")
        .bind(id)
        .bind(acting.team_id)
        .fetch_optional(&mut *tx)
        .await
        .or_internal("deleting a runbook failed")?
        .ok_or(AppError::NotFound)?;
    acting.audit(&mut *tx, "runbook.deleted", Some(&id.to_string()), serde_json::json!({ "title": title })).await?;
    tx.commit().await.or_internal("deleting a runbook failed")
}

/// The team's runbook that fits `subject` best: the most criteria met, then the most
/// recently changed. With what matched, in words.
pub async fn best(
    db: impl PgExecutor<'_>,
    team: Uuid,
    subject: &Subject,
) -> Result<Option<(RunbookSummary, String, String)>, sqlx::Error> {
    let rows: Vec<Row> = sqlx::query_as(&format!(
        "select {COLUMNS} from runbooks where team_id = $1 order by updated_at desc limit 500"
    ))
    .bind(team)
    .fetch_all(db)
    .await?;
    let mut found: Option<(usize, &Row, String)> = None;
    for row in &rows {
        if let Some((specificity, why)) = matches(&row.matching(), subject)
            && found.as_ref().is_none_or(|(best, _, _)| specificity > *best)
        {
            found = Some((specificity, row, why));
        }
    }
    Ok(found.map(|(_, row, why)| (row.summary(), row.body.clone(), why)))
}

/// The runbook matched to the team's incident `incident`, with its steps as ticked
/// there; `None` when no runbook fits.
pub async fn for_incident(db: &PgPool, team: Uuid, incident: Uuid) -> Result<Option<IncidentRunbook>, AppError> {
    let row: Option<(Option<String>, serde_json::Value)> =
        sqlx::query_as("select service, details from incidents where id = $1 and team_id = $2")
            .bind(incident)
            .bind(team)
            .fetch_optional(db)
            .await
            .or_internal("reading the incident's runbook failed")?;
    let (service, details) = row.ok_or(AppError::NotFound)?;
    let subject = Subject::of(service.as_deref(), &details);
    let Some((summary, body, matched_by)) =
        best(db, team, &subject).await.or_internal("reading the incident's runbook failed")?
    else {
        return Ok(None);
    };
    let ticks: Vec<(i32, String, DateTime<Utc>)> = sqlx::query_as(
        "select step, ticked_by, ticked_at from runbook_ticks where incident_id = $1 and runbook_id = $2",
    )
    .bind(incident)
    .bind(summary.id)
    .fetch_all(db)
    .await
    .or_internal("reading the incident's runbook failed")?;
    let ticks: HashMap<i32, (String, DateTime<Utc>)> =
        ticks.into_iter().map(|(step, by, at)| (step, (by, at))).collect();
    let steps = steps(&body)
        .into_iter()
        .zip(0..)
        .map(|(text, index)| RunbookStep { index, text, ticked: ticks.get(&index).cloned() })
        .collect();
    Ok(Some(IncidentRunbook { summary, matched_by, body, steps }))
}

/// Ticks off step `step` of runbook `runbook` on the team's incident `incident`, into
/// its timeline. Ticking a step twice writes it once.
pub async fn tick(state: &AppState, acting: &Acting, incident: Uuid, runbook: Uuid, step: i32) -> Result<(), AppError> {
    let team = acting.team_id;
    let mut tx = state.db.begin().await.or_internal("ticking a runbook step failed")?;
    let exists: Option<Uuid> = sqlx::query_scalar("select id from incidents where id = $1 and team_id = $2 for share")
        .bind(incident)
        .bind(team)
        .fetch_optional(&mut *tx)
        .await
        .or_internal("ticking a runbook step failed")?;
    exists.ok_or(AppError::NotFound)?;
    let (title, body, version): (String, String, i32) =
        sqlx::query_as("select title, body, version from runbooks where id = $1 and team_id = $2 for share")
            .bind(runbook)
            .bind(team)
            .fetch_optional(&mut *tx)
            .await
            .or_internal("ticking a runbook step failed")?
            .ok_or(AppError::NotFound)?;
    let steps = steps(&body);
    let Some(text) = usize::try_from(step).ok().and_then(|at| steps.get(at)) else {
        return Err(AppError::field("step", format!("The runbook has {} steps.", steps.len())));
    };
    let who = acting.name();
    let ticked = sqlx::query(
        "insert into runbook_ticks (incident_id, team_id, runbook_id, step, version, text, ticked_by)
         values ($1, $2, $3, $4, $5, $6, $7) on conflict do nothing",
    )
    .bind(incident)
    .bind(team)
    .bind(runbook)
    .bind(step)
    .bind(version)
    .bind(text)
    .bind(&who)
    .execute(&mut *tx)
    .await
    .or_internal("ticking a runbook step failed")?;
    if ticked.rows_affected() == 0 {
        return Ok(());
    }
    let message = format!("Runbook step {} of {} done: {text} (\"{title}\", version {version})", step + 1, steps.len());
    crate::server::db::timeline::append(&mut *tx, team, incident, "runbook.step", &who, &message)
        .await
        .or_internal("ticking a runbook step failed")?;
    let details = serde_json::json!({ "runbook": runbook, "step": step, "version": version });
    acting.audit(&mut *tx, "runbook.step_ticked", Some(&incident.to_string()), details).await?;
    tx.commit().await.or_internal("ticking a runbook step failed")?;
    state.live.publish(team, [LiveEvent::new(LiveKind::TimelineEntry, incident)]);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_are_the_top_level_list_items_outside_code() {
        let body = "# Checkout is down\n\nFirst:\n\n1. Check the pods\n   - nested detail\n2) Read the logs\n\
                    - [ ] Roll back if a deploy preceded it\n* [x] Tell #ops\n\n```\n- not a step\n```\n+ Close the loop\n\
                    10000. too long a number\n-not a list\n";
        assert_eq!(
            steps(body),
            ["Check the pods", "Read the logs", "Roll back if a deploy preceded it", "Tell #ops", "Close the loop"]
        );
        assert!(steps("Just prose.").is_empty());
    }

    #[test]
    fn every_criterion_given_must_hold_and_none_matches_nothing() {
        let details = serde_json::json!({ "labels": { "alertname": "KubePodCrashLooping", "namespace": "shop" } });
        let subject = Subject::of(Some("checkout"), &details);
        let matching = |names: &[&str], services: &[&str], labels: &[(&str, &str)]| RunbookMatch {
            alert_names: names.iter().map(|s| s.to_string()).collect(),
            services: services.iter().map(|s| s.to_string()).collect(),
            labels: labels.iter().map(|(n, v)| (n.to_string(), v.to_string())).collect(),
        };
        assert_eq!(matches(&matching(&["kubepodcrashlooping"], &[], &[]), &subject).unwrap().0, 1);
        let (specificity, why) =
            matches(&matching(&["KubePodCrashLooping"], &["checkout"], &[("namespace", "shop")]), &subject).unwrap();
        assert_eq!(
            (specificity, why.as_str()),
            (3, "alert name KubePodCrashLooping, service checkout, namespace=shop")
        );
        assert!(matches(&matching(&["KubePodCrashLooping"], &["payments"], &[]), &subject).is_none());
        assert!(matches(&matching(&[], &[], &[("namespace", "other")]), &subject).is_none());
        assert!(matches(&RunbookMatch::default(), &subject).is_none());
    }

    #[test]
    fn forms_are_read_into_lists_and_labels_and_mistakes_are_named() {
        let draft =
            Draft::from_form(" DB pool ", "1. Check\n", "A, B\nA", "", "namespace=shop, team = payments").unwrap();
        assert_eq!(draft.title, "DB pool");
        assert_eq!(draft.matching.alert_names, ["A", "B"]);
        assert_eq!(draft.matching.labels, [("namespace".into(), "shop".into()), ("team".into(), "payments".into())]);
        let Err(AppError::Validation(errors)) = Draft::from_form("", "x", "", "", "namespace") else { panic!() };
        let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["title", "labels"]);
    }
}
