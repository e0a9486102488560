//! Email notifications to a team's members, as each of them chose: new incidents at or
//! above a severity, actions awaiting approval, resolutions, and a weekly digest. Only
//! confirmed addresses are mailed. Every mail carries a signed link that turns off that
//! one kind of mail, for that member in that team, without signing in.

use std::fmt::Write as _;

use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use crate::domain::account::NotificationPreferences;
use crate::domain::incident::Severity;
use crate::error::{AppError, OrInternal};
use crate::server::audit::Acting;
use crate::server::mail::{self, Mail, letters};
use crate::server::state::AppState;

/// A kind of notification mail, each with its own unsubscribe link.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Notice {
    NewIncident,
    AwaitingApproval,
    Resolved,
    WeeklyDigest,
}

impl Notice {
    const ALL: [Notice; 4] = [Notice::NewIncident, Notice::AwaitingApproval, Notice::Resolved, Notice::WeeklyDigest];

    /// Its name in links and in the mails' purpose.
    pub fn as_str(self) -> &'static str {
        match self {
            Notice::NewIncident => "new_incident",
            Notice::AwaitingApproval => "awaiting_approval",
            Notice::Resolved => "resolved",
            Notice::WeeklyDigest => "weekly_digest",
        }
    }

    /// What the member stops receiving, in words.
    pub fn label(self) -> &'static str {
        match self {
            Notice::NewIncident => "mails about new incidents",
            Notice::AwaitingApproval => "mails about actions awaiting approval",
            Notice::Resolved => "mails about resolved incidents",
            Notice::WeeklyDigest => "the weekly digest",
        }
    }

    /// The kind named `name`, if any.
    pub fn parse(name: &str) -> Option<Notice> {
        Notice::ALL.into_iter().find(|notice| notice.as_str() == name)
    }

    /// The preference column it reads.
    fn column(self) -> &'static str {
        match self {
            Notice::NewIncident => "new_incident_severity",
            Notice::AwaitingApproval => "awaiting_approval",
            Notice::Resolved => "resolved",
            Notice::WeeklyDigest => "weekly_digest",
        }
    }
}

#[derive(sqlx::FromRow)]
struct PreferenceRow {
    new_incident_severity: Option<String>,
    awaiting_approval: bool,
    resolved: bool,
    weekly_digest: bool,
}

/// The acting member's preferences in their team (the defaults until they save some).
pub async fn preferences(db: &PgPool, acting: &Acting) -> Result<NotificationPreferences, AppError> {
    let row: PreferenceRow = sqlx::query_as(
        "select new_incident_severity, awaiting_approval, resolved, weekly_digest
         from member_notifications where team_id = $1 and user_id = $2",
    )
    .bind(acting.team_id)
    .bind(acting.member()?.user_id)
    .fetch_optional(db)
    .await
    .or_internal("reading notification preferences failed")?
    .ok_or(AppError::NotFound)?;
    Ok(NotificationPreferences {
        new_incident_severity: row.new_incident_severity.and_then(|severity| severity.parse().ok()),
        awaiting_approval: row.awaiting_approval,
        resolved: row.resolved,
        weekly_digest: row.weekly_digest,
    })
}

/// Saves the acting member's preferences in their team.
pub async fn save(state: &AppState, acting: &Acting, chosen: &NotificationPreferences) -> Result<(), AppError> {
    let mut tx = state.db.begin().await.or_internal("saving notification preferences failed")?;
    sqlx::query(
        "insert into notification_preferences
             (team_id, user_id, new_incident_severity, awaiting_approval, resolved, weekly_digest)
         values ($1, $2, $3, $4, $5, $6)
         on conflict (team_id, user_id) do update set
             new_incident_severity = excluded.new_incident_severity, awaiting_approval = excluded.awaiting_approval,
             resolved = excluded.resolved, weekly_digest = excluded.weekly_digest, updated_at = now()",
    )
    .bind(acting.team_id)
    .bind(acting.member()?.user_id)
    .bind(chosen.new_incident_severity.map(Severity::as_str))
    .bind(chosen.awaiting_approval)
    .bind(chosen.resolved)
    .bind(chosen.weekly_digest)
    .execute(&mut *tx)
    .await
    .or_internal("saving notification preferences failed")?;
    let details = serde_json::to_value(chosen).unwrap_or_default();
    acting.audit(&mut *tx, "notifications.changed", None, details).await?;
    tx.commit().await.or_internal("saving notification preferences failed")
}

/// The signature of an unsubscribe link: HMAC-SHA256 (under the instance's secret key)
/// of what it turns off, for whom, where — good for that and nothing else.
fn signature(state: &AppState, user: Uuid, team: Uuid, notice: Notice) -> String {
    state.cipher.derive(&format!("unsubscribe:{}:{user}:{team}", notice.as_str()))
}

/// The link that turns `notice` off for `user` in `team`.
pub fn unsubscribe_link(state: &AppState, user: Uuid, team: Uuid, notice: Notice) -> String {
    format!(
        "{}/unsubscribe?user={user}&team={team}&notice={}&signature={}",
        state.public_url(),
        notice.as_str(),
        signature(state, user, team, notice)
    )
}

/// Checks an unsubscribe link's signature; the team's name when it holds.
pub async fn check_link(
    state: &AppState,
    user: Uuid,
    team: Uuid,
    notice: Notice,
    presented: &str,
) -> Result<String, AppError> {
    use subtle::ConstantTimeEq as _;
    let expected = signature(state, user, team, notice);
    if !bool::from(expected.as_bytes().ct_eq(presented.as_bytes())) {
        return Err(AppError::NotFound);
    }
    let name: Option<String> = sqlx::query_scalar(
        "select t.name from teams t join memberships m on m.team_id = t.id where t.id = $1 and m.user_id = $2",
    )
    .bind(team)
    .bind(user)
    .fetch_optional(&state.db)
    .await
    .or_internal("reading an unsubscribe link failed")?;
    name.ok_or(AppError::NotFound)
}

/// Turns `notice` off for `user` in `team`, once the link's signature holds (the other
/// preferences stay as they were); the team's name.
pub async fn unsubscribe(
    state: &AppState,
    user: Uuid,
    team: Uuid,
    notice: Notice,
    presented: &str,
) -> Result<String, AppError> {
    let name = check_link(state, user, team, notice, presented).await?;
    let column = notice.column();
    let off = if notice == Notice::NewIncident { "null" } else { "false" };
    let mut tx = state.db.begin().await.or_internal("unsubscribing failed")?;
    sqlx::query(
        "insert into notification_preferences
             (team_id, user_id, new_incident_severity, awaiting_approval, resolved, weekly_digest)
         select team_id, user_id, new_incident_severity, awaiting_approval, resolved, weekly_digest
         from member_notifications where team_id = $1 and user_id = $2
         on conflict (team_id, user_id) do nothing",
    )
    .bind(team)
    .bind(user)
    .execute(&mut *tx)
    .await
    .or_internal("unsubscribing failed")?;
    sqlx::query(&format!(
        "update notification_preferences set {column} = {off}, updated_at = now() where team_id = $1 and user_id = $2"
    ))
    .bind(team)
    .bind(user)
    .execute(&mut *tx)
    .await
    .or_internal("unsubscribing failed")?;
    let email: String = sqlx::query_scalar("select email::text from users where id = $1")
        .bind(user)
        .fetch_one(&mut *tx)
        .await
        .or_internal("unsubscribing failed")?;
    let actor = crate::server::audit::Actor::User { id: user, email: email.clone() };
    let event = crate::server::audit::Event {
        team_id: team,
        actor: &actor,
        action: "notifications.unsubscribed",
        target: Some(notice.as_str()),
        client_addr: None,
        details: serde_json::json!({}),
    };
    crate::server::audit::record(&mut *tx, event).await.or_internal("unsubscribing failed")?;
    tx.commit().await.or_internal("unsubscribing failed")?;
    Ok(name)
}

/// Who gets `notice` in `team` (confirmed addresses only), but `except`.
async fn recipients(
    db: &mut PgConnection,
    team: Uuid,
    notice: Notice,
    severity: Option<Severity>,
    except: Option<Uuid>,
) -> Result<Vec<(Uuid, String)>, sqlx::Error> {
    let wanted = match notice {
        // Severities rank worst first: mailed when at least as bad as the chosen one.
        Notice::NewIncident => {
            "array_position(array['critical', 'error', 'warning', 'info'], $3)
             <= array_position(array['critical', 'error', 'warning', 'info'], new_incident_severity)"
        }
        Notice::AwaitingApproval => "awaiting_approval and $3::text is null",
        Notice::Resolved => "resolved and $3::text is null",
        Notice::WeeklyDigest => "weekly_digest and $3::text is null",
    };
    sqlx::query_as(&format!(
        "select user_id, email from member_notifications
         where team_id = $1 and verified and user_id is distinct from $2 and {wanted}
         order by email"
    ))
    .bind(team)
    .bind(except)
    .bind(severity.map(Severity::as_str))
    .fetch_all(db)
    .await
}

/// What mails about an incident say of it.
#[derive(sqlx::FromRow)]
struct IncidentFacts {
    title: String,
    severity: String,
    service: Option<String>,
    team_name: String,
}

async fn incident_facts(
    db: &mut PgConnection,
    team: Uuid,
    incident: Uuid,
) -> Result<Option<IncidentFacts>, sqlx::Error> {
    sqlx::query_as(
        "select i.title, i.severity, i.service, t.name as team_name
         from incidents i join teams t on t.id = i.team_id where i.id = $1 and i.team_id = $2",
    )
    .bind(incident)
    .bind(team)
    .fetch_optional(db)
    .await
}

/// Queues `notice` about `incident` to each member who wants it, the letter written by
/// `write` from the facts and the incident's link.
async fn about_incident(
    db: &mut PgConnection,
    state: &AppState,
    (team, incident): (Uuid, Uuid),
    notice: Notice,
    except: Option<Uuid>,
    write: impl Fn(&IncidentFacts, &str) -> letters::Letter,
) -> Result<(), sqlx::Error> {
    let Some(facts) = incident_facts(db, team, incident).await? else { return Ok(()) };
    let severity = match notice {
        Notice::NewIncident => facts.severity.parse::<Severity>().ok(),
        _ => None,
    };
    if notice == Notice::NewIncident && severity.is_none() {
        return Ok(());
    }
    let link = format!("{}/incidents/{incident}", state.public_url());
    for (user, email) in recipients(db, team, notice, severity, except).await? {
        let mut letter = write(&facts, &link);
        letter.small_print.push(unsubscribe_line(state, user, team, notice, &facts.team_name));
        mail::queue(db, Mail { to: email, purpose: notice.as_str(), letter }).await?;
    }
    Ok(())
}

fn unsubscribe_line(state: &AppState, user: Uuid, team: Uuid, notice: Notice, team_name: &str) -> String {
    format!(
        "You get this as a member of {team_name}. To stop {}: {}",
        notice.label(),
        unsubscribe_link(state, user, team, notice)
    )
}

/// A new incident: mailed to members who want incidents of its severity.
pub async fn incident_opened(
    db: &mut PgConnection,
    state: &AppState,
    team: Uuid,
    incident: Uuid,
) -> Result<(), sqlx::Error> {
    about_incident(db, state, (team, incident), Notice::NewIncident, None, |facts, link| {
        letters::incident_opened(&facts.team_name, &facts.title, &facts.severity, facts.service.as_deref(), link)
    })
    .await
}

/// An action awaits an operator's approval.
pub async fn awaiting_approval(
    db: &mut PgConnection,
    state: &AppState,
    team: Uuid,
    incident: Uuid,
    action: &str,
) -> Result<(), sqlx::Error> {
    about_incident(db, state, (team, incident), Notice::AwaitingApproval, None, |facts, link| {
        letters::awaiting_approval(&facts.team_name, &facts.title, action, link)
    })
    .await
}

/// The incident was resolved (`how`), by `by` (not mailed about it) or the agent.
pub async fn resolved(
    db: &mut PgConnection,
    state: &AppState,
    team: Uuid,
    incident: Uuid,
    how: &str,
    by: Option<Uuid>,
) -> Result<(), sqlx::Error> {
    about_incident(db, state, (team, incident), Notice::Resolved, by, |facts, link| {
        letters::incident_resolved(&facts.team_name, &facts.title, how, link)
    })
    .await
}

/// A team's week, for its digest.
#[derive(sqlx::FromRow)]
struct WeekOfTeam {
    team: Uuid,
    name: String,
    opened: i64,
    resolved: i64,
    /// Mean minutes from first alert to resolution, of those resolved.
    minutes: Option<f64>,
    /// The service most of its incidents were in.
    top_service: Option<String>,
}

/// How often instances look for weekly digests to send.
pub const DIGEST_EVERY: std::time::Duration = std::time::Duration::from_secs(15 * 60);

/// Sends each team's digest of the week that ended last Monday (UTC), once: the first
/// instance to claim a team's week sends it. Teams with no incident that week are
/// skipped. How many teams' digests were queued.
pub async fn send_weekly_digests(state: &AppState) -> Result<u64, sqlx::Error> {
    let mut tx = state.db.begin().await?;
    let claimed: Vec<WeekOfTeam> = sqlx::query_as(
        "with week as (select date_trunc('week', now() at time zone 'UTC') at time zone 'UTC' as ends),
              busy as (
                select t.id, t.name,
                       count(i.id) as opened,
                       count(i.resolved_at) as resolved,
                       avg(extract(epoch from i.resolved_at - i.first_seen_at) / 60)::float8 as minutes_to_resolve,
                       mode() within group (order by i.service) as top_service
                from teams t join incidents i on i.team_id = t.id, week
                where i.first_seen_at >= week.ends - interval '7 days' and i.first_seen_at < week.ends
                  -- A week already claimed is not added up again (every instance looks).
                  and not exists (select 1 from weekly_digests d
                                  where d.team_id = t.id and d.week = (week.ends at time zone 'UTC')::date)
                group by t.id, t.name),
              claimed as (
                insert into weekly_digests (team_id, week)
                select busy.id, (week.ends at time zone 'UTC')::date from busy, week
                on conflict do nothing returning team_id)
         select busy.id as team, busy.name, busy.opened, busy.resolved, busy.minutes_to_resolve as minutes,
                busy.top_service
         from busy join claimed on claimed.team_id = busy.id",
    )
    .fetch_all(&mut *tx)
    .await?;
    for WeekOfTeam { team, name, opened, resolved, minutes, top_service } in &claimed {
        let mut summary =
            format!("{opened} incident{} opened, {resolved} resolved", if *opened == 1 { "" } else { "s" });
        if let Some(minutes) = minutes {
            let _ = write!(summary, "; {minutes:.0} minutes to resolve on average");
        }
        if let Some(service) = top_service {
            let _ = write!(summary, "; most of them in {service}");
        }
        let link = format!("{}/dashboard", state.public_url());
        for (user, email) in recipients(&mut tx, *team, Notice::WeeklyDigest, None, None).await? {
            let mut letter = letters::weekly_digest(name, &summary, &link);
            letter.small_print.push(unsubscribe_line(state, user, *team, Notice::WeeklyDigest, name));
            mail::queue(&mut tx, Mail { to: email, purpose: Notice::WeeklyDigest.as_str(), letter }).await?;
        }
    }
    tx.commit().await?;
    Ok(claimed.len() as u64)
}
