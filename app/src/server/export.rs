//! A team's data as one JSON document, for its admins to keep (before deleting the team,
//! or for their records): the team, its incidents with their timelines, analyses and
//! remediation actions, and its audit log. Credentials and alerts' raw bodies stay out.

use sqlx::PgPool;
use uuid::Uuid;

use crate::error::{AppError, OrInternal};

/// The export of `team`, built by PostgreSQL in one statement (one consistent
/// snapshot), oldest first in every list.
pub async fn team(pool: &PgPool, team: Uuid) -> Result<String, AppError> {
    let document: String = sqlx::query_scalar(
        "select json_build_object(
            'format', 'dreamops-team-export/1',
            'exported_at', now(),
            'team', (select json_build_object('id', id, 'name', name, 'plan', plan, 'created_at', created_at)
                     from teams where id = $1),
            'members', coalesce((select json_agg(json_build_object('email', u.email, 'role', m.role,
                                                                   'joined_at', m.created_at) order by m.created_at)
                                 from memberships m join users u on u.id = m.user_id where m.team_id = $1), '[]'),
            'incidents', coalesce((select json_agg(json_build_object(
                    'id', i.id, 'title', i.title, 'description', i.description, 'severity', i.severity,
                    'status', i.status, 'service', i.service, 'source', i.source, 'dedup_key', i.dedup_key,
                    'occurrences', i.occurrences, 'first_seen_at', i.first_seen_at, 'last_seen_at', i.last_seen_at,
                    'acknowledged_at', i.acknowledged_at, 'acknowledged_by', i.acknowledged_by,
                    'resolved_at', i.resolved_at, 'resolved_by', i.resolved_by, 'external_url', i.external_url,
                    'details', i.details,
                    'timeline', coalesce((select json_agg(json_build_object('at', e.at, 'kind', e.kind,
                                                  'actor', e.actor, 'message', e.message, 'details', e.details)
                                                  order by e.id)
                                          from timeline_entries e where e.incident_id = i.id), '[]'),
                    'analysis', (select json_build_object('family', a.family, 'root_cause', a.root_cause,
                                     'confidence', a.confidence, 'evidence', a.evidence, 'actions', a.actions,
                                     'workload', a.workload, 'llm_model', a.llm_model, 'llm_answer', a.llm_answer,
                                     'created_at', a.created_at)
                                 from analyses a where a.incident_id = i.id),
                    'remediation_actions', coalesce((select json_agg(json_build_object('title', r.title,
                                     'risk', r.risk, 'workload', r.workload, 'change', r.change,
                                     'automatic', r.automatic, 'requested_by', r.requested_by,
                                     'comment', r.comment, 'state', r.state, 'outcome', r.outcome,
                                     'created_at', r.created_at, 'finished_at', r.finished_at)
                                     order by r.created_at)
                                 from remediation_actions r where r.incident_id = i.id), '[]'))
                    order by i.first_seen_at, i.id)
                from incidents i where i.team_id = $1), '[]'),
            'audit_log', coalesce((select json_agg(json_build_object('at', l.created_at, 'actor', l.actor_label,
                                       'action', l.action, 'target', l.target, 'client_addr', l.client_addr,
                                       'details', l.details) order by l.id)
                                   from audit_log l where l.team_id = $1), '[]')
         )::text",
    )
    .bind(team)
    .fetch_one(pool)
    .await
    .or_internal("exporting a team failed")?;
    Ok(document)
}
