//! `POST /webhooks/stripe`: Stripe's signed payment callbacks. The signature is checked
//! on the raw body before anything is parsed; an authentic event is applied (or stored,
//! when not understood) and answered 200, so Stripe stops retrying it.

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde_json::json;

use app::server::billing::{self, Handled, signature};
use app::server::state::AppState;

/// The payment routes.
pub fn routes() -> Router<AppState> {
    Router::new().route("/webhooks/stripe", post(stripe_webhook)).layer(DefaultBodyLimit::max(super::ingest::MAX_BODY))
}

/// The handler.
async fn stripe_webhook(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    let secrets = billing::webhook_secrets(&state.settings.stripe, &state.cipher);
    let secrets: Vec<&str> = secrets.iter().map(String::as_str).collect();
    let header = headers.get("stripe-signature").and_then(|value| value.to_str().ok());
    if let Err(refused) = signature::verify(header, &body, &secrets, super::unix_now()) {
        metrics::counter!("stripe_webhooks_refused_total").increment(1);
        return (StatusCode::BAD_REQUEST, axum::Json(json!({ "error": refused.to_string() }))).into_response();
    }
    match billing::handle(&state.db, &state.settings.stripe, &body).await {
        Ok(handled) => {
            let outcome = match &handled {
                Handled::Applied => "applied",
                Handled::Duplicate => "duplicate",
                Handled::Ignored(_) => "ignored",
                Handled::Unparsed(_) => {
                    metrics::counter!("stripe_events_unparsed_total").increment(1);
                    "unparsed"
                }
            };
            (StatusCode::OK, axum::Json(json!({ "received": true, "outcome": outcome }))).into_response()
        }
        Err(error) => {
            tracing::error!(%error, "applying a Stripe event failed; Stripe will retry it");
            (StatusCode::INTERNAL_SERVER_ERROR, axum::Json(json!({ "error": "try again later" }))).into_response()
        }
    }
}
