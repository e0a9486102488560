//! The `audit_log` table.

use chrono::{DateTime, Days, Utc};
use sqlx::{PgExecutor, QueryBuilder};
use uuid::Uuid;

use super::escape_like;
use crate::domain::audit::{AuditEntry, AuditFilter};

/// An entry to append.
pub struct NewAuditEntry<'a> {
    pub team_id: Uuid,
    pub actor_kind: &'a str,
    pub actor_id: Option<Uuid>,
    pub actor_label: &'a str,
    pub action: &'a str,
    pub target: Option<&'a str>,
    pub client_addr: Option<&'a str>,
    pub details: serde_json::Value,
}

/// Appends an entry.
pub async fn insert(db: impl PgExecutor<'_>, entry: &NewAuditEntry<'_>) -> Result<(), sqlx::Error> {
    sqlx::query(
        "insert into audit_log (team_id, actor_kind, actor_id, actor_label, action, target, client_addr, details)
         values ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(entry.team_id)
    .bind(entry.actor_kind)
    .bind(entry.actor_id)
    .bind(entry.actor_label)
    .bind(entry.action)
    .bind(entry.target)
    .bind(entry.client_addr)
    .bind(&entry.details)
    .execute(db)
    .await?;
    Ok(())
}

#[derive(sqlx::FromRow)]
struct AuditRow {
    id: i64,
    created_at: DateTime<Utc>,
    actor_kind: String,
    actor_label: String,
    action: String,
    target: Option<String>,
    client_addr: Option<String>,
    details: serde_json::Value,
}

/// Up to `limit` of the team's entries matching `filter`, newest first, older than
/// the entry `before` when given (keyset pagination: stable while entries are added).
pub async fn list(
    db: impl PgExecutor<'_>,
    team: Uuid,
    filter: &AuditFilter,
    before: Option<i64>,
    limit: i64,
) -> Result<Vec<AuditEntry>, sqlx::Error> {
    let mut query = QueryBuilder::new(
        "select id, created_at, actor_kind, actor_label, action, target, client_addr, details
         from audit_log where team_id = ",
    );
    query.push_bind(team);
    if let Some(before) = before {
        query.push(" and id < ").push_bind(before);
    }
    if let Some(actor) = filter.actor.as_deref().filter(|a| !a.is_empty()) {
        query.push(" and actor_label ilike ").push_bind(format!("%{}%", escape_like(actor)));
    }
    if let Some(action) = filter.action.as_deref().filter(|a| !a.is_empty()) {
        query.push(" and action like ").push_bind(format!("{}%", escape_like(action)));
    }
    if let Some(from) = filter.from {
        query.push(" and created_at >= ").push_bind(from.and_hms_opt(0, 0, 0).map(|t| t.and_utc()));
    }
    if let Some(to) = filter.to.and_then(|to| to.checked_add_days(Days::new(1))) {
        query.push(" and created_at < ").push_bind(to.and_hms_opt(0, 0, 0).map(|t| t.and_utc()));
    }
    query.push(" order by id desc limit ").push_bind(limit);
    let rows: Vec<AuditRow> = query.build_query_as().fetch_all(db).await?;
    Ok(rows
        .into_iter()
        .map(|row| AuditEntry {
            id: row.id,
            at: row.created_at,
            actor_kind: row.actor_kind,
            actor: row.actor_label,
            action: row.action,
            target: row.target,
            client_addr: row.client_addr,
            details: row.details.to_string(),
        })
        .collect())
}
