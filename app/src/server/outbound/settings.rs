//! A team's notification settings: the PagerDuty REST API key and the user it acts as,
//! the Slack incoming-webhook address — sealed at rest, never shown again.

use sqlx::PgPool;
use uuid::Uuid;

use crate::domain::integration::{Destination, FailedCall, NotificationSettings};
use crate::error::{AppError, OrInternal};
use crate::server::audit::Acting;
use crate::server::secrets::Place;
use crate::server::state::AppState;

/// What a call is sent with.
pub struct Credentials {
    /// The REST API key and the From email.
    pub pagerduty: Option<(String, String)>,
    pub slack: Option<String>,
}

/// The settings as stored (credentials sealed).
#[derive(Default, sqlx::FromRow)]
struct Saved {
    pagerduty_key: Option<Vec<u8>>,
    pagerduty_from: Option<String>,
    slack_webhook: Option<Vec<u8>>,
}

/// The team's credentials, opened.
pub async fn credentials(state: &AppState, team: Uuid) -> Result<Credentials, AppError> {
    let saved: Saved = sqlx::query_as(
        "select pagerduty_key, pagerduty_from, slack_webhook from team_notifications where team_id = $1",
    )
    .bind(team)
    .fetch_optional(&state.db)
    .await
    .or_internal("reading notification settings failed")?
    .unwrap_or_default();
    let Saved { pagerduty_key: key, pagerduty_from: from, slack_webhook: slack } = saved;
    let open = |sealed: Vec<u8>, place: Place| {
        state
            .cipher
            .open(&sealed, &place)
            .map(|plain| String::from_utf8_lossy(&plain).into_owned())
            .or_internal("opening a notification credential failed")
    };
    Ok(Credentials {
        pagerduty: match (key, from) {
            (Some(key), Some(from)) => Some((open(key, Place::pagerduty_key(team))?, from)),
            _ => None,
        },
        slack: slack.map(|sealed| open(sealed, Place::slack_webhook(team))).transpose()?,
    })
}

/// What the team configured, and the calls that gave up lately.
pub async fn view(db: &PgPool, team: Uuid) -> Result<NotificationSettings, AppError> {
    let row: Option<(Option<String>, bool, bool)> = sqlx::query_as(
        "select pagerduty_from, pagerduty_key is not null, slack_webhook is not null from team_notifications where team_id = $1",
    )
    .bind(team)
    .fetch_optional(db)
    .await
    .or_internal("reading notification settings failed")?;
    let recent_failures: Vec<FailedCall> = sqlx::query_as(
        "select target, purpose, incident_id, coalesce(last_error, '') as error, finished_at as at from outbound_calls
         where team_id = $1 and state = 'failed' and finished_at > now() - interval '7 days'
         order by finished_at desc limit 20",
    )
    .bind(team)
    .fetch_all(db)
    .await
    .or_internal("reading notification settings failed")?;
    let (from, has_key, slack) = row.unwrap_or_default();
    Ok(NotificationSettings { pagerduty_from: from.filter(|_| has_key), slack_configured: slack, recent_failures })
}

/// Saves PagerDuty write-back: a REST API key (blank keeps the saved one) and the email
/// of the PagerDuty user it acts as.
pub async fn set_pagerduty(
    state: &AppState,
    acting: &Acting,
    key: &str,
    from: &str,
) -> Result<NotificationSettings, AppError> {
    let (key, from) = (key.trim(), from.trim());
    let mut problems = crate::error::Checks::default();
    if !(from.contains('@') && from.len() <= 254 && !from.contains(char::is_whitespace)) {
        problems.fail("from", "Enter the email of the PagerDuty user DreamOps acts as.");
    }
    let saved: Option<bool> =
        sqlx::query_scalar("select pagerduty_key is not null from team_notifications where team_id = $1")
            .bind(acting.team_id)
            .fetch_optional(&state.db)
            .await
            .or_internal("reading notification settings failed")?;
    if key.is_empty() && saved != Some(true) {
        problems.fail("key", "Paste a PagerDuty REST API key.");
    } else if key.len() > 200 || key.contains(char::is_whitespace) {
        problems.fail("key", "That does not look like a PagerDuty API key.");
    }
    problems.finish()?;
    let sealed = (!key.is_empty()).then(|| state.cipher.seal(key.as_bytes(), &Place::pagerduty_key(acting.team_id)));
    let mut tx = state.db.begin().await.or_internal("reading notification settings failed")?;
    sqlx::query(
        "insert into team_notifications (team_id, pagerduty_key, pagerduty_from) values ($1, $2, $3)
         on conflict (team_id) do update set pagerduty_key = coalesce(excluded.pagerduty_key, team_notifications.pagerduty_key),
                                             pagerduty_from = excluded.pagerduty_from, updated_at = now()",
    )
    .bind(acting.team_id)
    .bind(sealed)
    .bind(from)
    .execute(&mut *tx)
    .await
    .or_internal("reading notification settings failed")?;
    acting
        .audit(
            &mut *tx,
            "notifications.pagerduty_saved",
            None,
            serde_json::json!({"from": from, "key_changed": !key.is_empty()}),
        )
        .await?;
    tx.commit().await.or_internal("reading notification settings failed")?;
    view(&state.db, acting.team_id).await
}

/// Saves the Slack incoming-webhook address.
pub async fn set_slack(state: &AppState, acting: &Acting, url: &str) -> Result<NotificationSettings, AppError> {
    let url = url.trim();
    if url.len() > 500 {
        return Err(AppError::field("url", "The address is 500 characters at most."));
    }
    match state.settings.outbound.policy().check_url(url) {
        Ok(_) => {}
        Err(refused @ crate::server::egress::Refused::Internal { .. }) => {
            return Err(AppError::field("url", format!("{refused}.")));
        }
        Err(_) => {
            return Err(AppError::field(
                "url",
                "Paste the Slack incoming-webhook address (https://hooks.slack.com/services/…).",
            ));
        }
    }
    let mut tx = state.db.begin().await.or_internal("reading notification settings failed")?;
    sqlx::query(
        "insert into team_notifications (team_id, slack_webhook) values ($1, $2)
         on conflict (team_id) do update set slack_webhook = excluded.slack_webhook, updated_at = now()",
    )
    .bind(acting.team_id)
    .bind(state.cipher.seal(url.as_bytes(), &Place::slack_webhook(acting.team_id)))
    .execute(&mut *tx)
    .await
    .or_internal("reading notification settings failed")?;
    acting.audit(&mut *tx, "notifications.slack_saved", None, serde_json::json!({})).await?;
    tx.commit().await.or_internal("reading notification settings failed")?;
    view(&state.db, acting.team_id).await
}

/// Removes PagerDuty write-back or the Slack webhook.
pub async fn remove(state: &AppState, acting: &Acting, which: Destination) -> Result<NotificationSettings, AppError> {
    let set = match which {
        Destination::Pagerduty => "pagerduty_key = null, pagerduty_from = null",
        Destination::Slack => "slack_webhook = null",
    };
    let mut tx = state.db.begin().await.or_internal("reading notification settings failed")?;
    sqlx::query(&format!("update team_notifications set {set}, updated_at = now() where team_id = $1"))
        .bind(acting.team_id)
        .execute(&mut *tx)
        .await
        .or_internal("reading notification settings failed")?;
    acting.audit(&mut *tx, &format!("notifications.{}_removed", which.as_str()), None, serde_json::json!({})).await?;
    tx.commit().await.or_internal("reading notification settings failed")?;
    view(&state.db, acting.team_id).await
}
