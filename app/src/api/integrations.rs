//! The team's alert sources, and its alert usage.

use leptos::prelude::*;
use server_fn::codec::GetUrl;

use crate::domain::incident::Usage;
use crate::domain::integration::{IntegrationView, RevealedSecrets};
use crate::error::AppError;

/// The team's alert sources, tokens masked, with their recent deliveries.
#[server(prefix = "/api", endpoint = "list_integrations", input = GetUrl)]
pub async fn list_integrations() -> Result<Vec<IntegrationView>, AppError> {
    use crate::domain::account::Permission;
    let auth = crate::server::auth::context::require(Permission::ManageIntegrations).await?;
    let state = &auth.request.state;
    crate::server::ingest::integrations::views(&state.db, &state.cipher, auth.team_id()).await
}

/// One source's URL token, routing key or bearer token, in clear (audited).
#[server(prefix = "/api", endpoint = "reveal_integration")]
pub async fn reveal_integration(kind: String) -> Result<RevealedSecrets, AppError> {
    use crate::domain::account::Permission;
    let auth = crate::server::auth::context::require(Permission::ManageIntegrations).await?;
    let state = &auth.request.state;
    let kind = known_kind(&kind)?;
    let revealed = crate::server::ingest::integrations::reveal(&state.db, &state.cipher, auth.team_id(), kind).await?;
    auth.acting.audit(&state.db, "integration.secret_revealed", Some(kind.as_str()), serde_json::json!({})).await?;
    Ok(revealed)
}

/// Replaces a source's token: the old URL (or routing key, or bearer) stops working.
#[server(prefix = "/api", endpoint = "rotate_integration")]
pub async fn rotate_integration(kind: String) -> Result<(), AppError> {
    use crate::domain::account::Permission;
    let auth = crate::server::auth::context::require(Permission::ManageIntegrations).await?;
    let state = &auth.request.state;
    let kind = known_kind(&kind)?;
    crate::server::ingest::integrations::rotate(state, auth.team_id(), kind).await?;
    auth.acting.audit(&state.db, "integration.token_rotated", Some(kind.as_str()), serde_json::json!({})).await
}

/// Adds the signing secret PagerDuty showed for the webhook subscription; the previous
/// one stays valid beside it until revoked.
#[server(prefix = "/api", endpoint = "add_pagerduty_secret")]
pub async fn add_pagerduty_secret(secret: String) -> Result<(), AppError> {
    use crate::domain::account::Permission;
    let auth = crate::server::auth::context::require(Permission::ManageIntegrations).await?;
    let state = &auth.request.state;
    crate::server::ingest::integrations::add_signing_secret(state, auth.team_id(), &secret).await?;
    auth.acting.audit(&state.db, "integration.signing_secret_added", Some("pagerduty"), serde_json::json!({})).await
}

/// Sets (or, blank, removes) the secret Grafana signs its deliveries with.
#[server(prefix = "/api", endpoint = "set_grafana_secret")]
pub async fn set_grafana_secret(#[server(default)] secret: String) -> Result<(), AppError> {
    use crate::domain::account::Permission;
    let auth = crate::server::auth::context::require(Permission::ManageIntegrations).await?;
    let state = &auth.request.state;
    crate::server::ingest::integrations::set_grafana_secret(state, auth.team_id(), &secret).await?;
    let action =
        if secret.trim().is_empty() { "integration.signing_secret_removed" } else { "integration.signing_secret_set" };
    auth.acting.audit(&state.db, action, Some("grafana"), serde_json::json!({})).await
}

/// Keeps only the newest PagerDuty signing secret.
#[server(prefix = "/api", endpoint = "revoke_old_pagerduty_secret")]
pub async fn revoke_old_pagerduty_secret() -> Result<(), AppError> {
    use crate::domain::account::Permission;
    let auth = crate::server::auth::context::require(Permission::ManageIntegrations).await?;
    let state = &auth.request.state;
    crate::server::ingest::integrations::revoke_old_signing_secret(state, auth.team_id()).await?;
    auth.acting.audit(&state.db, "integration.signing_secret_revoked", Some("pagerduty"), serde_json::json!({})).await
}

/// Sends a sample alert through the source's real endpoint.
#[server(prefix = "/api", endpoint = "send_test_alert")]
pub async fn send_test_alert(kind: String) -> Result<String, AppError> {
    use crate::domain::account::Permission;
    let auth = crate::server::auth::context::require(Permission::ManageIntegrations).await?;
    crate::server::ingest::integrations::test(auth.state(), &auth.acting, known_kind(&kind)?).await
}

/// How much of its alert quota the team has used this period.
#[server(prefix = "/api", endpoint = "get_usage", input = GetUrl)]
pub async fn get_usage() -> Result<Usage, AppError> {
    use crate::domain::account::Permission;
    let auth = crate::server::auth::context::require(Permission::ReadTeam).await?;
    crate::server::quota::usage(&auth.request.state.db, auth.team_id())
        .await
        .map_err(|error| AppError::internal("reading alert usage failed", &error))
}

/// Where DreamOps tells other tools what happened (PagerDuty write-back, Slack).
#[server(prefix = "/api", endpoint = "get_notification_settings", input = GetUrl)]
pub async fn get_notification_settings() -> Result<crate::domain::integration::NotificationSettings, AppError> {
    use crate::domain::account::Permission;
    let auth = crate::server::auth::context::require(Permission::ManageIntegrations).await?;
    crate::server::outbound::settings::view(&auth.request.state.db, auth.team_id()).await
}

/// Saves PagerDuty write-back: a REST API key (blank keeps the saved one) and the email of
/// the PagerDuty user it acts as.
#[server(prefix = "/api", endpoint = "set_pagerduty_writeback")]
pub async fn set_pagerduty_writeback(
    #[server(default)] key: String,
    from: String,
) -> Result<crate::domain::integration::NotificationSettings, AppError> {
    use crate::domain::account::Permission;
    let auth = crate::server::auth::context::require(Permission::ManageIntegrations).await?;
    crate::server::outbound::settings::set_pagerduty(auth.state(), &auth.acting, &key, &from).await
}

/// Saves the Slack incoming-webhook address.
#[server(prefix = "/api", endpoint = "set_slack_webhook")]
pub async fn set_slack_webhook(url: String) -> Result<crate::domain::integration::NotificationSettings, AppError> {
    use crate::domain::account::Permission;
    let auth = crate::server::auth::context::require(Permission::ManageIntegrations).await?;
    crate::server::outbound::settings::set_slack(auth.state(), &auth.acting, &url).await
}

/// Removes PagerDuty write-back (`pagerduty`) or the Slack webhook (`slack`).
#[server(prefix = "/api", endpoint = "remove_notification")]
pub async fn remove_notification(which: String) -> Result<crate::domain::integration::NotificationSettings, AppError> {
    use crate::domain::account::Permission;
    let auth = crate::server::auth::context::require(Permission::ManageIntegrations).await?;
    let which = which.parse().map_err(|refusal: &str| AppError::field("which", refusal))?;
    crate::server::outbound::settings::remove(auth.state(), &auth.acting, which).await
}

/// The alert source a form names; 404 for any other.
#[cfg(feature = "ssr")]
fn known_kind(kind: &str) -> Result<crate::domain::integration::IntegrationKind, AppError> {
    kind.parse().map_err(|_| AppError::NotFound)
}
