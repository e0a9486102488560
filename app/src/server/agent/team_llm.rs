//! A team's own LLM provider (its key sealed at rest, never shown again), asked before
//! the deployment's, and what the team's analyses used of their monthly budget.

use secrecy::SecretString;
use uuid::Uuid;

use crate::domain::analysis::{LlmView, TeamLlmProvider};
use crate::error::{AppError, OrInternal};
use crate::server::audit::Acting;
use crate::server::config::{Provider, ProviderKind};
use crate::server::secrets::Place;
use crate::server::state::AppState;

type Row = (String, String, String, Option<Vec<u8>>);

async fn row(db: &sqlx::PgPool, team: Uuid) -> Result<Option<Row>, AppError> {
    sqlx::query_as("select kind, base_url, model, key_ciphertext from team_llm_providers where team_id = $1")
        .bind(team)
        .fetch_optional(db)
        .await
        .or_internal("reading or saving the LLM provider failed")
}

/// The team's own provider, its key opened, for asking it.
pub async fn provider(state: &AppState, team: Uuid) -> Result<Option<Provider>, AppError> {
    let Some((kind, base_url, model, sealed)) = row(&state.db, team).await? else { return Ok(None) };
    let api_key = match sealed {
        Some(sealed) => {
            let key =
                state.cipher.open(&sealed, &Place::team_llm_key(team)).or_internal("opening an LLM key failed")?;
            Some(SecretString::from(String::from_utf8_lossy(&key).into_owned()))
        }
        None => None,
    };
    let kind = if kind == "anthropic" { ProviderKind::Anthropic } else { ProviderKind::OpenAiCompatible };
    Ok(Some(Provider { kind, base_url, api_key, model }))
}

/// What the team's admins see of its LLM use.
pub async fn view(state: &AppState, team: Uuid) -> Result<LlmView, AppError> {
    let settings = &state.settings.agent.llm;
    let team_provider = row(&state.db, team).await?.map(|(kind, base_url, model, sealed)| TeamLlmProvider {
        kind,
        base_url,
        model,
        has_key: sealed.is_some(),
    });
    let tokens_this_month: i64 = sqlx::query_scalar(
        "select coalesce((select tokens from llm_usage where team_id = $1 and month = date_trunc('month', now())::date), 0)",
    )
    .bind(team)
    .fetch_one(&state.db)
    .await
    .or_internal("reading or saving the LLM provider failed")?;
    Ok(LlmView {
        deployment_providers: settings.providers.iter().map(Provider::name).collect(),
        team_provider,
        tokens_this_month,
        monthly_tokens: settings.monthly_tokens,
    })
}

/// Saves the team's own provider; a blank `key` keeps the saved one.
pub async fn set(
    state: &AppState,
    acting: &Acting,
    kind: &str,
    base_url: &str,
    model: &str,
    key: &str,
) -> Result<LlmView, AppError> {
    let mut problems = crate::error::Checks::default();
    let kind = problems.field(
        "kind",
        if matches!(kind, "anthropic" | "openai") {
            Ok(kind)
        } else {
            Err("Choose Anthropic or an OpenAI-compatible endpoint.")
        },
    );
    let base_url = base_url.trim().trim_end_matches('/');
    let base_url = problems.field(
        "base_url",
        match state.settings.outbound.policy().check_url(base_url) {
            Ok(_) if base_url.len() <= 500 => Ok(base_url),
            Err(refused @ crate::server::egress::Refused::Internal { .. }) => Err(format!("{refused}.")),
            _ => Err("Give the endpoint's address, starting with https://.".to_string()),
        },
    );
    let model = model.trim();
    let model = problems.field(
        "model",
        if (1..=100).contains(&model.chars().count()) {
            Ok(model)
        } else {
            Err("Name the model (100 characters at most).")
        },
    );
    let key = key.trim();
    if key.len() > 500 {
        problems.fail("key", "A key is 500 characters at most.");
    }
    problems.finish()?;
    let (Some(kind), Some(base_url), Some(model)) = (kind, base_url, model) else { return Err(AppError::Internal) };
    let sealed = (!key.is_empty()).then(|| state.cipher.seal(key.as_bytes(), &Place::team_llm_key(acting.team_id)));
    let mut tx = state.db.begin().await.or_internal("reading or saving the LLM provider failed")?;
    let has_key: bool = sqlx::query_scalar(
        "insert into team_llm_providers (team_id, kind, base_url, model, key_ciphertext) values ($1, $2, $3, $4, $5)
         on conflict (team_id) do update set kind = excluded.kind, base_url = excluded.base_url, model = excluded.model,
             key_ciphertext = coalesce(excluded.key_ciphertext, team_llm_providers.key_ciphertext), updated_at = now()
         returning key_ciphertext is not null",
    )
    .bind(acting.team_id)
    .bind(kind)
    .bind(base_url)
    .bind(model)
    .bind(sealed)
    .fetch_one(&mut *tx)
    .await
    .or_internal("reading or saving the LLM provider failed")?;
    if kind == "anthropic" && !has_key {
        return Err(AppError::field("key", "Anthropic needs an API key."));
    }
    acting
        .audit(
            &mut *tx,
            "llm.provider_set",
            None,
            serde_json::json!({"kind": kind, "base_url": base_url, "model": model, "key_changed": !key.is_empty()}),
        )
        .await?;
    tx.commit().await.or_internal("reading or saving the LLM provider failed")?;
    view(state, acting.team_id).await
}

/// Removes the team's own provider and its key.
pub async fn remove(state: &AppState, acting: &Acting) -> Result<LlmView, AppError> {
    let mut tx = state.db.begin().await.or_internal("reading or saving the LLM provider failed")?;
    let removed = sqlx::query("delete from team_llm_providers where team_id = $1")
        .bind(acting.team_id)
        .execute(&mut *tx)
        .await
        .or_internal("reading or saving the LLM provider failed")?;
    if removed.rows_affected() == 0 {
        return Err(AppError::NotFound);
    }
    acting.audit(&mut *tx, "llm.provider_removed", None, serde_json::json!({})).await?;
    tx.commit().await.or_internal("reading or saving the LLM provider failed")?;
    view(state, acting.team_id).await
}
