//! A team's alert sources: one integration per kind, found by the token in its URL
//! (or, for the Events API, the routing key), with its secrets sealed at rest.
//!
//! - `pagerduty`: `POST /webhooks/pagerduty/<token>`, signed with the secrets PagerDuty
//!   gave the team (up to two active while rotating).
//! - `events_api`: `POST /v2/enqueue` with `routing_key` = the token.
//! - `alertmanager`, `grafana`: `POST /webhooks/<kind>/<token>` with
//!   `Authorization: Bearer <bearer>`; Grafana may also sign with an HMAC secret.

use chrono::Utc;
use serde::{Deserialize, Serialize};
use sqlx::PgPool;
use uuid::Uuid;

use crate::domain::integration::{DeliveryView, IntegrationKind, IntegrationView, RevealedSecrets};

use crate::error::{AppError, OrInternal};
use crate::server::audit::Acting;
use crate::server::secrets::{Cipher, Place};
use crate::server::state::AppState;
use crate::server::token;

/// An integration's secrets (sealed together in the database).
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Secrets {
    /// The URL token or routing key.
    pub token: String,
    /// The bearer token senders must present (Alertmanager, Grafana).
    pub bearer: Option<String>,
    /// Grafana's optional HMAC signing secret.
    pub hmac: Option<String>,
    /// PagerDuty's signing secrets, newest first (two while rotating).
    pub signing_secrets: Vec<String>,
}

/// One of a team's integrations.
#[derive(Clone, Debug)]
pub struct Integration {
    /// Its id.
    pub id: Uuid,
    /// The team it belongs to.
    pub team_id: Uuid,
    /// Its kind.
    pub kind: IntegrationKind,
    /// Its secrets, opened.
    pub secrets: Secrets,
}

fn open(cipher: &Cipher, team: Uuid, id: Uuid, sealed: &[u8]) -> Result<Secrets, AppError> {
    let bytes = cipher.open(sealed, &Place::integration(team, id)).or_internal("opening integration secrets failed")?;
    serde_json::from_slice(&bytes).or_internal("integration secrets are malformed")
}

fn seal(cipher: &Cipher, team: Uuid, id: Uuid, secrets: &Secrets) -> Vec<u8> {
    cipher.seal(&serde_json::to_vec(secrets).expect("secrets serialise"), &Place::integration(team, id))
}

/// Creates the team's integrations that do not exist yet (one of each kind), in `tx`:
/// every new team gets them in the transaction that creates it.
pub async fn create_missing(tx: &mut sqlx::PgConnection, cipher: &Cipher, team: Uuid) -> Result<(), AppError> {
    for kind in IntegrationKind::ALL {
        let token = token::random_hex(24);
        let secrets = Secrets {
            token: token.clone(),
            bearer: kind.has_bearer().then(|| token::random_hex(24)),
            ..Secrets::default()
        };
        let id = Uuid::new_v4();
        sqlx::query(
            "insert into integrations (id, team_id, kind, token_hash, secrets_ciphertext) values ($1, $2, $3, $4, $5)
             on conflict (team_id, kind) do nothing",
        )
        .bind(id)
        .bind(team)
        .bind(kind.as_str())
        .bind(token::digest(&token))
        .bind(seal(cipher, team, id, &secrets))
        .execute(&mut *tx)
        .await
        .or_internal("an integration query failed")?;
    }
    Ok(())
}

/// The team's integrations, creating any that do not exist yet.
pub async fn ensure(pool: &PgPool, cipher: &Cipher, team: Uuid) -> Result<Vec<Integration>, AppError> {
    let existing = load(pool, cipher, team).await?;
    if existing.len() == IntegrationKind::ALL.len() {
        return Ok(existing);
    }
    let mut connection = pool.acquire().await.or_internal("an integration query failed")?;
    create_missing(&mut connection, cipher, team).await?;
    load(pool, cipher, team).await
}

/// Creates the integrations of every team that lacks some (teams made before every new
/// team got them at once): run at start-up, so that reading a team's integrations never
/// writes. Returns how many teams it completed.
pub async fn complete_every_team(pool: &PgPool, cipher: &Cipher) -> Result<usize, AppError> {
    let lacking: Vec<Uuid> = sqlx::query_scalar(
        "select t.id from teams t left join integrations i on i.team_id = t.id
         group by t.id having count(i.id) < $1",
    )
    .bind(IntegrationKind::ALL.len() as i64)
    .fetch_all(pool)
    .await
    .or_internal("an integration query failed")?;
    for &team in &lacking {
        ensure(pool, cipher, team).await?;
    }
    Ok(lacking.len())
}

/// The team's integrations as stored.
async fn load(pool: &PgPool, cipher: &Cipher, team: Uuid) -> Result<Vec<Integration>, AppError> {
    let rows: Vec<(Uuid, String, Vec<u8>)> = sqlx::query_as(
        "select id, kind, secrets_ciphertext from integrations where team_id = $1
         order by array_position(array['pagerduty', 'events_api', 'alertmanager', 'grafana'], kind)",
    )
    .bind(team)
    .fetch_all(pool)
    .await
    .or_internal("an integration query failed")?;
    rows.into_iter()
        .filter_map(|(id, kind, sealed)| {
            let kind = kind.parse().ok()?;
            Some(open(cipher, team, id, &sealed).map(|secrets| Integration { id, team_id: team, kind, secrets }))
        })
        .collect()
}

/// The integration of `kind` whose token is `token`, as stored (requests find it through
/// the [`SenderDirectory`](super::SenderDirectory)).
pub async fn find(
    pool: &PgPool,
    cipher: &Cipher,
    kind: IntegrationKind,
    token: &str,
) -> Result<Option<Integration>, AppError> {
    let row: Option<(Uuid, Uuid, Vec<u8>)> =
        sqlx::query_as("select id, team_id, secrets_ciphertext from integrations where token_hash = $1 and kind = $2")
            .bind(token::digest(token))
            .bind(kind.as_str())
            .fetch_optional(pool)
            .await
            .or_internal("an integration query failed")?;
    row.map(|(id, team_id, sealed)| Ok(Integration { id, team_id, kind, secrets: open(cipher, team_id, id, &sealed)? }))
        .transpose()
}

/// Adds a PagerDuty signing secret; the previous newest stays active beside it (so
/// deliveries signed with either verify during the switch), any older one is dropped.
pub async fn add_signing_secret(state: &AppState, team: Uuid, secret: &str) -> Result<(), AppError> {
    let secret = secret.trim();
    if secret.is_empty() || secret.len() > 256 {
        return Err(AppError::field("secret", "Paste the signing secret PagerDuty showed for the subscription."));
    }
    update_secrets(state, team, IntegrationKind::Pagerduty, |secrets| {
        secrets.signing_secrets.insert(0, secret.to_string());
        secrets.signing_secrets.truncate(2);
    })
    .await
}

/// Sets Grafana's HMAC signing secret (the contact point's "HMAC signature" secret):
/// deliveries must then be signed with it, with a timestamp within five minutes. Blank
/// turns the check off.
pub async fn set_grafana_secret(state: &AppState, team: Uuid, secret: &str) -> Result<(), AppError> {
    let secret = secret.trim();
    if secret.len() > 256 {
        return Err(AppError::field("secret", "A signing secret is 256 characters at most."));
    }
    let secret = (!secret.is_empty()).then(|| secret.to_string());
    update_secrets(state, team, IntegrationKind::Grafana, |secrets| secrets.hmac = secret).await
}

/// Keeps only the newest PagerDuty signing secret (after the switch is complete).
pub async fn revoke_old_signing_secret(state: &AppState, team: Uuid) -> Result<(), AppError> {
    update_secrets(state, team, IntegrationKind::Pagerduty, |secrets| secrets.signing_secrets.truncate(1)).await
}

/// Changes an integration's secrets under a row lock (its token hash follows the token).
/// Every instance forgets what it remembered of it (at once here, on notice elsewhere).
async fn update_secrets(
    state: &AppState,
    team: Uuid,
    kind: IntegrationKind,
    change: impl FnOnce(&mut Secrets),
) -> Result<(), AppError> {
    let (pool, cipher) = (&state.db, &state.cipher);
    ensure(pool, cipher, team).await?;
    let mut tx = pool.begin().await.or_internal("an integration query failed")?;
    let (id, sealed): (Uuid, Vec<u8>) =
        sqlx::query_as("select id, secrets_ciphertext from integrations where team_id = $1 and kind = $2 for update")
            .bind(team)
            .bind(kind.as_str())
            .fetch_one(&mut *tx)
            .await
            .or_internal("an integration query failed")?;
    let mut secrets = open(cipher, team, id, &sealed)?;
    change(&mut secrets);
    sqlx::query("update integrations set token_hash = $2, secrets_ciphertext = $3 where id = $1")
        .bind(id)
        .bind(token::digest(&secrets.token))
        .bind(seal(cipher, team, id, &secrets))
        .execute(&mut *tx)
        .await
        .or_internal("an integration query failed")?;
    tx.commit().await.or_internal("an integration query failed")?;
    state.senders.forget_all();
    Ok(())
}

/// The path senders post to; `token` may be a mask.
pub fn path(kind: IntegrationKind, token: &str) -> String {
    match kind {
        IntegrationKind::EventsApi => "/v2/enqueue".to_string(),
        kind => format!("/webhooks/{kind}/{token}"),
    }
}

/// How a token is shown until revealed.
const MASK: &str = "••••••••";

/// The team's integrations as the page shows them, tokens masked.
pub async fn views(pool: &PgPool, cipher: &Cipher, team: Uuid) -> Result<Vec<IntegrationView>, AppError> {
    let integrations = load(pool, cipher, team).await?;
    let mut views = Vec::with_capacity(integrations.len());
    for integration in integrations {
        let recent: Vec<DeliveryView> = sqlx::query_as(
            "select received_at, parse_status, parse_error, event_action as action, incident_id from alerts
             where team_id = $1 and source = $2 order by received_at desc limit 10",
        )
        .bind(team)
        .bind(integration.kind.as_str())
        .fetch_all(pool)
        .await
        .or_internal("an integration query failed")?;
        views.push(IntegrationView {
            path: path(integration.kind, MASK),
            signing_secrets: integration.secrets.signing_secrets.len(),
            signed: integration.secrets.hmac.is_some(),
            kind: integration.kind,
            last_delivery_at: recent.first().map(|delivery| delivery.received_at),
            last_delivery_result: recent.first().map(|delivery| delivery.parse_status.clone()),
            recent,
        });
    }
    Ok(views)
}

/// The secrets of one of the team's integrations.
pub async fn reveal(
    pool: &PgPool,
    cipher: &Cipher,
    team: Uuid,
    kind: IntegrationKind,
) -> Result<RevealedSecrets, AppError> {
    let integration = load(pool, cipher, team).await?.into_iter().find(|i| i.kind == kind).ok_or(AppError::NotFound)?;
    let secrets = integration.secrets;
    Ok(RevealedSecrets {
        path: path(kind, &secrets.token),
        routing_key: (kind == IntegrationKind::EventsApi).then(|| secrets.token.clone()),
        bearer: secrets.bearer,
    })
}

/// Replaces the integration's token (and bearer token): the old URL, routing key and
/// bearer stop working at once.
pub async fn rotate(state: &AppState, team: Uuid, kind: IntegrationKind) -> Result<(), AppError> {
    update_secrets(state, team, kind, |secrets| {
        secrets.token = token::random_hex(24);
        if secrets.bearer.is_some() {
            secrets.bearer = Some(token::random_hex(24));
        }
    })
    .await
}

/// A test alert sent by `acting` (audited first): see [`send_test_alert`].
pub async fn test(state: &AppState, acting: &Acting, kind: IntegrationKind) -> Result<String, AppError> {
    acting.audit(&state.db, "integration.test_sent", Some(kind.as_str()), serde_json::json!({})).await?;
    send_test_alert(&state.db, &state.cipher, &state.self_url, acting.team_id, kind).await
}

/// Sends a sample alert of `kind` through this instance's own public endpoint, exactly
/// as the real sender would (signed or with the bearer token), and reports the answer.
pub async fn send_test_alert(
    pool: &PgPool,
    cipher: &Cipher,
    self_url: &str,
    team: Uuid,
    kind: IntegrationKind,
) -> Result<String, AppError> {
    let integration =
        ensure(pool, cipher, team).await?.into_iter().find(|i| i.kind == kind).ok_or(AppError::NotFound)?;
    let secrets = &integration.secrets;
    let id = Uuid::new_v4().simple().to_string();
    let title = "Test alert from DreamOps";
    let (body, headers): (String, Vec<(&str, String)>) = match kind {
        IntegrationKind::Pagerduty => {
            let Some(secret) = secrets.signing_secrets.first() else {
                return Err(AppError::Conflict("Add the signing secret PagerDuty gave you first.".into()));
            };
            let body = serde_json::json!({"event": {"id": id, "event_type": "incident.triggered", "resource_type": "incident",
                "occurred_at": Utc::now().to_rfc3339(), "agent": {"summary": "DreamOps test"},
                "data": {"id": format!("TEST{id}"), "type": "incident", "title": title, "urgency": "low", "status": "triggered"}}})
            .to_string();
            let signature = crate::server::webhook_signature::sign(secret.as_bytes(), &[body.as_bytes()]);
            (body, vec![("x-pagerduty-signature", format!("v1={signature}")), ("x-webhook-id", id.clone())])
        }
        IntegrationKind::EventsApi => (
            serde_json::json!({"routing_key": secrets.token, "event_action": "trigger", "dedup_key": format!("dreamops-test-{id}"),
                "payload": {"summary": title, "source": "dreamops", "severity": "info"}})
            .to_string(),
            vec![],
        ),
        _ => {
            let body = serde_json::json!({"version": "4", "status": "firing", "receiver": "dreamops", "groupKey": "{}:{alertname=\"DreamOpsTest\"}",
                "alerts": [{"status": "firing", "labels": {"alertname": "DreamOpsTest", "severity": "info"},
                            "annotations": {"summary": title}, "startsAt": Utc::now().to_rfc3339(),
                            "endsAt": "0001-01-01T00:00:00Z", "fingerprint": id}]})
            .to_string();
            let mut headers = vec![("authorization", format!("Bearer {}", secrets.bearer.clone().unwrap_or_default()))];
            if let Some(secret) = &secrets.hmac {
                let timestamp = Utc::now().timestamp().to_string();
                let signature = crate::server::webhook_signature::sign(
                    secret.as_bytes(),
                    &[timestamp.as_bytes(), b":", body.as_bytes()],
                );
                headers.push(("x-grafana-alerting-signature", signature));
                headers.push(("x-grafana-alerting-signature-timestamp", timestamp));
            }
            (body, headers)
        }
    };
    deliver(self_url, &path(kind, &secrets.token), body, &headers).await
}

/// Posts `body` with `headers` to this instance's own endpoint at `path`, and reports
/// the answer: "Delivered" with the status, or the refusal as a conflict.
async fn deliver(self_url: &str, path: &str, body: String, headers: &[(&str, String)]) -> Result<String, AppError> {
    let mut request = reqwest::Client::new()
        .post(format!("{self_url}{path}"))
        .header("content-type", "application/json")
        .timeout(std::time::Duration::from_secs(10))
        .body(body);
    for (name, value) in headers {
        request = request.header(*name, value);
    }
    let response = request.send().await.or_internal("delivering an alert failed")?;
    let status = response.status();
    if status.is_success() {
        Ok(format!("Delivered: the endpoint answered {status}."))
    } else {
        Err(AppError::Conflict(format!(
            "The endpoint answered {status}: {}",
            response.text().await.unwrap_or_default()
        )))
    }
}

/// Sends an Alertmanager webhook `payload` to the team's own Alertmanager endpoint, as
/// Alertmanager would (with the bearer token).
pub async fn send_as_alertmanager(
    pool: &PgPool,
    cipher: &Cipher,
    self_url: &str,
    team: Uuid,
    payload: &serde_json::Value,
) -> Result<String, AppError> {
    let integration = ensure(pool, cipher, team)
        .await?
        .into_iter()
        .find(|i| i.kind == IntegrationKind::Alertmanager)
        .ok_or(AppError::NotFound)?;
    let secrets = &integration.secrets;
    let authorization = format!("Bearer {}", secrets.bearer.clone().unwrap_or_default());
    deliver(
        self_url,
        &path(IntegrationKind::Alertmanager, &secrets.token),
        payload.to_string(),
        &[("authorization", authorization)],
    )
    .await
}
