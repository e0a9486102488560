//! The `timeline_entries` table: what happened to an incident, by whom, in order.

use sqlx::PgExecutor;
use uuid::Uuid;

/// Appends an entry to the team's incident's timeline: its `kind` (`status.resolved`,
/// `agent.step`, `action.outcome` …), who wrote it (an email, or the agent), and what.
pub async fn append(
    db: impl PgExecutor<'_>,
    team: Uuid,
    incident: Uuid,
    kind: &str,
    actor: &str,
    message: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query("insert into timeline_entries (team_id, incident_id, kind, actor, message) values ($1, $2, $3, $4, $5)")
        .bind(team)
        .bind(incident)
        .bind(kind)
        .bind(actor)
        .bind(message)
        .execute(db)
        .await
        .map(|_| ())
}
