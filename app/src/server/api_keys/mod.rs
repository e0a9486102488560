//! Team API keys: creating (the secret is shown once), listing, revoking, and
//! authenticating requests that carry `Authorization: Bearer <key>`.
//!
//! A key looks like `dok_<8 hex prefix>_<64 hex secret>`. The prefix is stored in
//! clear (to recognise and look up the key); only a SHA-256 of the whole key is kept.

pub mod idempotency;
pub mod rate;
pub(crate) mod store;

use axum::extract::FromRequestParts;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use subtle::ConstantTimeEq as _;
use uuid::Uuid;

use crate::domain::account::{ApiKeySummary, ApiScope, CreatedApiKey, Permission};
use crate::error::{AppError, OrInternal};
use crate::server::audit::{Acting, Actor, Principal};
use crate::server::state::AppState;
use crate::server::token;

const KEY_PREFIX: &str = "dok_";

/// Creates a key named `name` for the caller's team, allowed `scopes` (sending alerts
/// when none are given, which is what keys were first made for).
pub async fn create(
    state: &AppState,
    acting: &Acting,
    name: &str,
    scopes: &[ApiScope],
) -> Result<CreatedApiKey, AppError> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 80 {
        return Err(AppError::field("name", "Give the key a name of 1 to 80 characters, e.g. \"Alertmanager prod\"."));
    }
    let mut scopes = if scopes.is_empty() { vec![ApiScope::Alerts] } else { scopes.to_vec() };
    scopes.sort();
    scopes.dedup();
    let pool = &state.db;
    let mut tx = pool.begin().await.or_internal("an API key query failed")?;
    // A clash of 32-bit prefixes is rare; a few tries make it vanishingly so.
    for _ in 0..5 {
        let prefix = format!("{KEY_PREFIX}{}", token::random_hex(4));
        let secret = format!("{prefix}_{}", token::random_hex(32));
        let summary = ApiKeySummary {
            id: Uuid::new_v4(),
            name: name.to_string(),
            prefix,
            created_at: chrono::Utc::now(),
            last_used_at: None,
            revoked_at: None,
            scopes: scopes.clone(),
        };
        if store::insert(&mut *tx, &summary, acting.team_id, &token::digest(&secret), acting.member()?.user_id)
            .await
            .or_internal("an API key query failed")?
        {
            acting
                .audit(
                    &mut *tx,
                    "api_key.created",
                    Some(&summary.prefix),
                    serde_json::json!({ "name": summary.name, "scopes": summary.scopes }),
                )
                .await?;
            tx.commit().await.or_internal("an API key query failed")?;
            return Ok(CreatedApiKey { key: summary, secret });
        }
    }
    tracing::error!("could not find a free API key prefix in 5 tries");
    Err(AppError::Internal)
}

/// The caller's team's keys.
pub async fn list(state: &AppState, acting: &Acting) -> Result<Vec<ApiKeySummary>, AppError> {
    store::list(&state.db, acting.team_id).await.or_internal("an API key query failed")
}

/// Revokes one of the caller's team's keys; 404 for any other key.
pub async fn revoke(state: &AppState, acting: &Acting, id: Uuid) -> Result<(), AppError> {
    let mut tx = state.db.begin().await.or_internal("an API key query failed")?;
    let revoked = store::revoke(&mut *tx, acting.team_id, id)
        .await
        .or_internal("an API key query failed")?
        .ok_or(AppError::NotFound)?;
    acting
        .audit(&mut *tx, "api_key.revoked", Some(&revoked.prefix), serde_json::json!({ "name": revoked.name }))
        .await?;
    tx.commit().await.or_internal("an API key query failed")
}

/// A request authenticated by a team API key: the team it may act for, and how.
#[derive(Clone, Debug)]
pub struct ApiKeyTeam {
    /// The team the key belongs to.
    pub team_id: Uuid,
    /// The key.
    pub key_id: Uuid,
    /// The key's name, for the audit trail.
    pub key_name: String,
    /// What it may do.
    pub scopes: Vec<ApiScope>,
    /// The team's plan (which sizes its request limit).
    pub plan: String,
}

impl ApiKeyTeam {
    /// The actor for the audit trail.
    pub fn actor(&self) -> Actor {
        Actor::ApiKey { id: self.key_id, name: self.key_name.clone() }
    }

    /// Refuses (403) a key without `scope`.
    pub fn require_scope(&self, scope: ApiScope) -> Result<(), AppError> {
        if self.scopes.contains(&scope) { Ok(()) } else { Err(AppError::Forbidden) }
    }

    /// The key acting in its team, from `client_addr`, if its scopes allow `permission`
    /// (else 403): what the backend functions take, as they take a member.
    pub fn acting(&self, permission: Permission, client_addr: String) -> Result<Acting, AppError> {
        let acting = Acting {
            team_id: self.team_id,
            by: Principal::ApiKey { id: self.key_id, name: self.key_name.clone(), scopes: self.scopes.clone() },
            client_addr,
        };
        if acting.can(permission) { Ok(acting) } else { Err(AppError::Forbidden) }
    }
}

/// Finds the active key `presented` and returns its team, or `None`.
pub async fn authenticate(pool: &sqlx::PgPool, presented: &str) -> Result<Option<ApiKeyTeam>, AppError> {
    let Some(prefix) = presented.get(..KEY_PREFIX.len() + 8).filter(|p| p.starts_with(KEY_PREFIX)) else {
        return Ok(None);
    };
    let Some((key_id, team_id, key_name, stored, scopes, plan)) =
        store::find_active_by_prefix(pool, prefix).await.or_internal("an API key query failed")?
    else {
        return Ok(None);
    };
    if !bool::from(token::digest(presented).ct_eq(&stored)) {
        return Ok(None);
    }
    store::touch(pool, key_id).await.or_internal("an API key query failed")?;
    Ok(Some(ApiKeyTeam { team_id, key_id, key_name, scopes: store::parse_scopes(&scopes), plan }))
}

impl FromRequestParts<AppState> for ApiKeyTeam {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let presented = parts
            .headers
            .get(AUTHORIZATION)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.strip_prefix("Bearer "))
            .map(str::trim)
            .ok_or(AppError::Unauthorized)?;
        authenticate(&state.db, presented).await?.ok_or(AppError::Unauthorized)
    }
}
