//! `/api/v1/webhooks`: the team's webhook endpoints, their deliveries, and replays
//! (admin scope).

use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use app::domain::account::Permission;
use app::domain::webhook::{WebhookDelivery, WebhookEndpoint, WebhookEndpointWithSecret, WebhookEvent};
use app::server::state::AppState;

use super::caller::Caller;
use super::problem::{ApiResult, Problem};
use super::{ApiJson, ApiPath, ApiQuery, Problems};

/// An endpoint to subscribe.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewWebhook {
    /// Where to POST deliveries: https, not an internal address.
    #[schema(min_length = 1, max_length = 2048, format = "uri", pattern = "^https?://")]
    pub url: String,
    /// What to send it (at least one).
    #[schema(min_items = 1)]
    pub events: Vec<WebhookEvent>,
}

/// The team's webhook endpoints.
#[utoipa::path(get, path = "/api/v1/webhooks", operation_id = "list_webhooks", tag = "webhooks",
    responses((status = 200, description = "The endpoints.", body = Vec<WebhookEndpoint>),
              (status = 304, description = "Unchanged since the ETag sent in If-None-Match."), Problems))]
pub async fn list(State(state): State<AppState>, caller: Caller) -> ApiResult<axum::Json<Vec<WebhookEndpoint>>> {
    let acting = caller.acting(Permission::ManageIntegrations)?;
    Ok(axum::Json(app::server::webhooks::list(&state.db, acting.team_id).await?))
}

/// Subscribes a URL to events; the answer holds the signing secret, shown this once.
#[utoipa::path(post, path = "/api/v1/webhooks", operation_id = "create_webhook", tag = "webhooks",
    request_body = NewWebhook,
    responses((status = 201, description = "The endpoint and its secret.", body = WebhookEndpointWithSecret), Problems))]
pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(new): ApiJson<NewWebhook>,
) -> ApiResult<(StatusCode, axum::Json<WebhookEndpointWithSecret>)> {
    let acting = caller.acting(Permission::ManageIntegrations)?;
    let created = app::server::webhooks::create(&state, &acting, &new.url, &new.events).await?;
    Ok((StatusCode::CREATED, axum::Json(created)))
}

/// Removes an endpoint and its deliveries.
#[utoipa::path(delete, path = "/api/v1/webhooks/{id}", operation_id = "remove_webhook", tag = "webhooks",
    params(("id" = Uuid, Path)),
    responses((status = 204, description = "Removed."), Problems))]
pub async fn remove(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<StatusCode> {
    let acting = caller.acting(Permission::ManageIntegrations)?;
    app::server::webhooks::remove(&state, &acting, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Gives the endpoint a new signing secret; the old one also signs deliveries for a day.
#[utoipa::path(post, path = "/api/v1/webhooks/{id}/rotate-secret", operation_id = "rotate_webhook_secret",
    tag = "webhooks", params(("id" = Uuid, Path)),
    responses((status = 200, description = "The endpoint and its new secret.", body = WebhookEndpointWithSecret), Problems))]
pub async fn rotate(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<axum::Json<WebhookEndpointWithSecret>> {
    let acting = caller.acting(Permission::ManageIntegrations)?;
    Ok(axum::Json(app::server::webhooks::rotate(&state, &acting, id).await?))
}

/// Which deliveries.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DeliveriesQuery {
    /// The `id` of the last delivery of the page before, to continue the listing.
    #[param(minimum = 1)]
    before: Option<i64>,
}

/// The endpoint's deliveries, newest first (50 a page), with the answers they got.
#[utoipa::path(get, path = "/api/v1/webhooks/{id}/deliveries", operation_id = "list_webhook_deliveries",
    tag = "webhooks", params(("id" = Uuid, Path), DeliveriesQuery),
    responses((status = 200, description = "The deliveries.", body = Vec<WebhookDelivery>),
              (status = 304, description = "Unchanged since the ETag sent in If-None-Match."), Problems))]
pub async fn deliveries(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<Uuid>,
    ApiQuery(query): ApiQuery<DeliveriesQuery>,
) -> ApiResult<axum::Json<Vec<WebhookDelivery>>> {
    let acting = caller.acting(Permission::ManageIntegrations)?;
    if query.before.is_some_and(|before| before < 1) {
        return Err(Problem::bad_request("`before` is a delivery's id: 1 or more."));
    }
    Ok(axum::Json(app::server::webhooks::deliveries(&state.db, acting.team_id, id, query.before).await?))
}

/// Sends a delivery's event again, as a new delivery with the same event id.
#[utoipa::path(post, path = "/api/v1/webhook-deliveries/{id}/replay", operation_id = "replay_webhook_delivery",
    tag = "webhooks", params(("id" = i64, Path, minimum = 1)),
    responses((status = 201, description = "The new delivery, queued.", body = WebhookDelivery), Problems))]
pub async fn replay(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<i64>,
) -> ApiResult<(StatusCode, axum::Json<WebhookDelivery>)> {
    let acting = caller.acting(Permission::ManageIntegrations)?;
    Ok((StatusCode::CREATED, axum::Json(app::server::webhooks::replay(&state, &acting, id).await?)))
}
