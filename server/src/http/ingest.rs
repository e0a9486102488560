//! The alert endpoints: PagerDuty webhooks, the Events API v2, Alertmanager, Grafana and
//! the REST API. Each authenticates its sender, stores the delivery in the same
//! transaction as its effect (`app::server::ingest::Recorder`), and only then answers —
//! in the shape its sender expects. An authentic delivery that cannot be understood
//! is stored as unparsed and answered 2xx (a 4xx would make the sender drop or disable
//! us), except where the sender's protocol defines validation errors (Events API, REST).

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde_json::json;
use subtle::ConstantTimeEq as _;

use app::domain::account::ApiScope;
use app::domain::integration::IntegrationKind;
use app::error::AppError;
use app::server::api_keys::ApiKeyTeam;
use app::server::ingest::{Delivery, Effect, Outcome, alertmanager, events_api, pagerduty, rest};
use app::server::state::AppState;
use app::server::webhook_signature::{self, SignatureHeader};

/// The largest body accepted (413 above it).
pub const MAX_BODY: usize = 512 * 1024;

/// The endpoints, with the body limit.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/webhooks/pagerduty/{token}", post(pagerduty_webhook))
        .route("/v2/enqueue", post(events_api_enqueue))
        .route("/webhooks/alertmanager/{token}", post(alertmanager_webhook))
        .route("/webhooks/grafana/{token}", post(grafana_webhook))
        .route("/api/v1/alerts", post(rest_alert))
        .layer(DefaultBodyLimit::max(MAX_BODY))
}

fn unauthorized(message: &str) -> Response {
    (StatusCode::UNAUTHORIZED, axum::Json(json!({ "error": message }))).into_response()
}

fn accepted() -> Response {
    (StatusCode::ACCEPTED, axum::Json(json!({ "status": "accepted" }))).into_response()
}

/// `POST /webhooks/pagerduty/{token}`.
async fn pagerduty_webhook(
    State(state): State<AppState>,
    Path(token): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    // Bounded before anything else is done for the request.
    let signature = headers.get("x-pagerduty-signature").and_then(|v| v.to_str().ok()).unwrap_or("");
    let signature = match SignatureHeader::read(signature) {
        Ok(signature) => signature,
        Err(oversized) => return unauthorized(&oversized.to_string()),
    };
    let integration = match state.senders.find(IntegrationKind::Pagerduty, &token).await {
        Ok(Some(integration)) => integration,
        Ok(None) => return unauthorized("unknown webhook URL"),
        Err(error) => return error.into_response(),
    };
    if !pagerduty::verify_signature(&signature, &body, &integration.secrets.signing_secrets) {
        return unauthorized("invalid X-PagerDuty-Signature");
    }
    // Replay protection keyed on what the signature covers (the event's id, else the
    // body), not on the unsigned `X-Webhook-Id`: a captured delivery sent again under
    // another id has no second effect.
    let delivery_id = Some(pagerduty::delivery_id(&body));
    let delivery = Delivery { team_id: integration.team_id, source: "pagerduty", delivery_id, raw: &body };
    match state.recorder.record(&delivery, pagerduty::parse(&body).map(|alert| vec![alert])).await {
        Ok(_) => accepted(),
        Err(error) => error.into_response(),
    }
}

/// PagerDuty's Events API error shape.
fn invalid_event(errors: Vec<String>) -> Response {
    (
        StatusCode::BAD_REQUEST,
        axum::Json(json!({ "status": "invalid event", "message": "Event object is invalid", "errors": errors })),
    )
        .into_response()
}

/// `POST /v2/enqueue`.
async fn events_api_enqueue(State(state): State<AppState>, body: Bytes) -> Response {
    let routing_key = match events_api::routing_key(&body) {
        Ok(key) => key,
        Err(errors) => return invalid_event(errors),
    };
    let integration = match state.senders.find(IntegrationKind::EventsApi, &routing_key).await {
        Ok(Some(integration)) => integration,
        Ok(None) => return invalid_event(vec!["Invalid routing key".to_string()]),
        Err(error) => return error.into_response(),
    };
    let delivery = Delivery { team_id: integration.team_id, source: "events_api", delivery_id: None, raw: &body };
    match events_api::parse(&body) {
        Err(errors) => {
            // Refused as PagerDuty would, and kept: nothing authentic is lost.
            match state.recorder.record(&delivery, Err(errors.join("; "))).await {
                Err(AppError::TooManyRequests { retry_after_secs }) => return throttled(retry_after_secs),
                Err(error) => return error.into_response(),
                Ok(_) => {}
            }
            invalid_event(errors)
        }
        Ok(alert) => match state.recorder.record(&delivery, Ok(vec![alert])).await {
            Ok(Outcome::Applied(applied)) => {
                let dedup_key = applied.first().map(|a| a.dedup_key.clone()).unwrap_or_default();
                (
                    StatusCode::ACCEPTED,
                    axum::Json(json!({ "status": "success", "message": "Event processed", "dedup_key": dedup_key })),
                )
                    .into_response()
            }
            Ok(_) => (StatusCode::ACCEPTED, axum::Json(json!({ "status": "success", "message": "Event processed" })))
                .into_response(),
            Err(AppError::TooManyRequests { retry_after_secs }) => throttled(retry_after_secs),
            Err(error) => error.into_response(),
        },
    }
}

/// Over the team's rate, in the Events API's words (its senders retry a 429 after
/// `Retry-After`).
fn throttled(retry_after_secs: u64) -> Response {
    let message = "Events for this integration are arriving faster than its plan takes; retry later.";
    let mut response =
        (StatusCode::TOO_MANY_REQUESTS, axum::Json(json!({ "status": "throttle event", "message": message })))
            .into_response();
    response.headers_mut().insert(header::RETRY_AFTER, retry_after_secs.into());
    response
}

/// Whether `headers` carry `Authorization: Bearer <expected>`, compared in constant time.
fn has_bearer(headers: &HeaderMap, expected: Option<&str>) -> bool {
    let Some(expected) = expected else { return false };
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .is_some_and(|given| bool::from(given.trim().as_bytes().ct_eq(expected.as_bytes())))
}

async fn alertmanager_like(
    state: AppState,
    kind: IntegrationKind,
    token: String,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let integration = match state.senders.find(kind, &token).await {
        Ok(Some(integration)) => integration,
        Ok(None) => return unauthorized("unknown webhook URL"),
        Err(error) => return error.into_response(),
    };
    if !has_bearer(&headers, integration.secrets.bearer.as_deref()) {
        return unauthorized("missing or wrong bearer token");
    }
    if let Some(secret) = integration.secrets.hmac.as_deref()
        && !grafana_signature_valid(&headers, &body, secret)
    {
        return unauthorized("invalid X-Grafana-Alerting-Signature");
    }
    let delivery = Delivery { team_id: integration.team_id, source: kind.as_str(), delivery_id: None, raw: &body };
    match state.recorder.record(&delivery, alertmanager::parse(kind.as_str(), &body)).await {
        Ok(_) => (StatusCode::OK, axum::Json(json!({ "status": "accepted" }))).into_response(),
        Err(error) => error.into_response(),
    }
}

/// Whether a Grafana delivery carries a valid, fresh signature under `secret`.
fn grafana_signature_valid(headers: &HeaderMap, body: &[u8], secret: &str) -> bool {
    let header = |name: &str| headers.get(name).and_then(|value| value.to_str().ok());
    header("x-grafana-alerting-signature").is_some_and(|signature| {
        webhook_signature::verify_grafana(
            signature,
            header("x-grafana-alerting-signature-timestamp"),
            body,
            secret.as_bytes(),
            super::unix_now(),
        )
    })
}

/// `POST /webhooks/alertmanager/{token}`.
async fn alertmanager_webhook(
    State(state): State<AppState>,
    Path(token): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    alertmanager_like(state, IntegrationKind::Alertmanager, token, headers, body).await
}

/// `POST /webhooks/grafana/{token}`.
async fn grafana_webhook(
    State(state): State<AppState>,
    Path(token): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    alertmanager_like(state, IntegrationKind::Grafana, token, headers, body).await
}

/// `POST /api/v1/alerts`, with a team API key.
async fn rest_alert(State(state): State<AppState>, team: Result<ApiKeyTeam, AppError>, body: Bytes) -> Response {
    let team = match team.and_then(|team| team.require_scope(ApiScope::Alerts).map(|()| team)) {
        Ok(team) => team,
        Err(error) => return error.into_response(),
    };
    let delivery = Delivery { team_id: team.team_id, source: "rest", delivery_id: None, raw: &body };
    match rest::parse(&body) {
        Err(invalid) => {
            if let Err(error) =
                state.recorder.record(&delivery, Err(format!("{}: {}", invalid.field, invalid.message))).await
            {
                return error.into_response();
            }
            let message = format!("{} {}", invalid.field, invalid.message);
            (StatusCode::BAD_REQUEST, axum::Json(json!({ "error": message, "field": invalid.field }))).into_response()
        }
        Ok(alert) => match state.recorder.record(&delivery, Ok(vec![alert])).await {
            Ok(Outcome::Applied(applied)) => {
                let Some(applied) = applied.into_iter().next() else { return accepted() };
                let quota_exceeded = matches!(applied.effect, Effect::Opened { over_quota: true });
                (
                    StatusCode::ACCEPTED,
                    axum::Json(json!({
                        "incident_id": applied.incident_id,
                        "dedup_key": applied.dedup_key,
                        "effect": applied.effect,
                        "quota_exceeded": quota_exceeded,
                    })),
                )
                    .into_response()
            }
            Ok(_) => accepted(),
            Err(error) => error.into_response(),
        },
    }
}
