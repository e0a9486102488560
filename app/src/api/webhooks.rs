//! The team's outgoing webhooks: endpoints, their secrets, deliveries and replays.

use leptos::prelude::*;
use server_fn::codec::GetUrl;
use uuid::Uuid;

use crate::domain::webhook::{WebhookDelivery, WebhookEndpoint, WebhookEndpointWithSecret, WebhookEvent};
use crate::error::AppError;

/// The team's endpoints.
#[server(prefix = "/api", endpoint = "list_webhooks", input = GetUrl)]
pub async fn list_webhooks() -> Result<Vec<WebhookEndpoint>, AppError> {
    use crate::domain::account::Permission;
    let auth = crate::server::auth::context::require(Permission::ManageIntegrations).await?;
    crate::server::webhooks::list(&auth.request.state.db, auth.team_id()).await
}

/// Subscribes `url` to `events`; the signing secret is in the answer and never again.
#[server(prefix = "/api", endpoint = "create_webhook")]
pub async fn create_webhook(
    url: String,
    #[server(default)] events: Vec<WebhookEvent>,
) -> Result<WebhookEndpointWithSecret, AppError> {
    use crate::domain::account::Permission;
    let auth = crate::server::auth::context::require(Permission::ManageIntegrations).await?;
    crate::server::webhooks::create(auth.state(), &auth.acting, &url, &events).await
}

/// A new signing secret; the old one keeps signing for a day.
#[server(prefix = "/api", endpoint = "rotate_webhook_secret")]
pub async fn rotate_webhook_secret(id: Uuid) -> Result<WebhookEndpointWithSecret, AppError> {
    use crate::domain::account::Permission;
    let auth = crate::server::auth::context::require(Permission::ManageIntegrations).await?;
    crate::server::webhooks::rotate(auth.state(), &auth.acting, id).await
}

/// Removes an endpoint and its deliveries.
#[server(prefix = "/api", endpoint = "remove_webhook")]
pub async fn remove_webhook(id: Uuid) -> Result<(), AppError> {
    use crate::domain::account::Permission;
    let auth = crate::server::auth::context::require(Permission::ManageIntegrations).await?;
    crate::server::webhooks::remove(auth.state(), &auth.acting, id).await
}

/// An endpoint's latest deliveries with the answers they got; `before` continues.
#[server(prefix = "/api", endpoint = "list_webhook_deliveries", input = GetUrl)]
pub async fn list_webhook_deliveries(
    endpoint: Uuid,
    #[server(default)] before: Option<i64>,
) -> Result<Vec<WebhookDelivery>, AppError> {
    use crate::domain::account::Permission;
    let auth = crate::server::auth::context::require(Permission::ManageIntegrations).await?;
    crate::server::webhooks::deliveries(&auth.request.state.db, auth.team_id(), endpoint, before).await
}

/// Sends a delivery's event again.
#[server(prefix = "/api", endpoint = "replay_webhook_delivery")]
pub async fn replay_webhook_delivery(delivery: i64) -> Result<WebhookDelivery, AppError> {
    use crate::domain::account::Permission;
    let auth = crate::server::auth::context::require(Permission::ManageIntegrations).await?;
    crate::server::webhooks::replay(auth.state(), &auth.acting, delivery).await
}
