//! The payment providers' routes. `POST /webhooks/stripe`: Stripe's signed payment
//! callbacks. The signature is checked on the raw body before anything is parsed; an
//! authentic event is applied (or stored, when not understood) and answered 200, so
//! Stripe stops retrying it. `POST /webhooks/phonepe` and `/billing/phonepe/return/…`:
//! PhonePe's server-to-server callback and the browser coming back from its pay page,
//! each of which only makes DreamOps ask PhonePe's status API. And in test mode,
//! `/phonepe-sandbox/…`: the simulated PhonePe.

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Form, Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use serde_json::json;

use app::server::billing::phonepe::{self, Callback, Settled, sandbox};
use app::server::billing::{self, Handled, signature};
use app::server::state::AppState;

/// The largest PhonePe callback or sandbox request read: they are a few hundred bytes.
const PHONEPE_MAX_BODY: usize = 64 * 1024;

/// The payment routes.
pub fn routes() -> Router<AppState> {
    let phonepe = Router::new()
        .route("/webhooks/phonepe", post(phonepe_callback))
        .route("/billing/phonepe/return/{payment}", get(phonepe_return).post(phonepe_return))
        .route("/phonepe-sandbox/pg/v1/pay", post(sandbox_pay))
        .route("/phonepe-sandbox/pg/v1/status/{merchant}/{payment}", get(sandbox_status))
        .route("/phonepe-sandbox/pay/{payment}", get(sandbox_page).post(sandbox_decide))
        .layer(DefaultBodyLimit::max(PHONEPE_MAX_BODY));
    Router::new()
        .route("/webhooks/stripe", post(stripe_webhook))
        .layer(DefaultBodyLimit::max(super::ingest::MAX_BODY))
        .merge(phonepe)
}

/// PhonePe's server-to-server callback: 400 unless its checksum is ours (nothing stored
/// or asked then); 200 once PhonePe's status API was asked and acted on; 503 when it
/// could not be asked now, for PhonePe to call again.
async fn phonepe_callback(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    let x_verify = headers.get("x-verify").and_then(|value| value.to_str().ok());
    match phonepe::callback(&state, x_verify, &body).await {
        Callback::Refused(why) => {
            metrics::counter!("phonepe_callbacks_refused_total").increment(1);
            (StatusCode::BAD_REQUEST, axum::Json(json!({ "error": why }))).into_response()
        }
        Callback::Settled(settled) => {
            let outcome = match settled {
                Settled::Granted => "granted",
                Settled::Failed => "failed",
                Settled::Pending => "pending",
                Settled::Already(_) => "duplicate",
                Settled::Unknown => "unknown",
            };
            (StatusCode::OK, axum::Json(json!({ "received": true, "outcome": outcome }))).into_response()
        }
        Callback::Later(_) => {
            (StatusCode::SERVICE_UNAVAILABLE, axum::Json(json!({ "error": "try again later" }))).into_response()
        }
    }
}

/// The browser back from PhonePe's pay page: PhonePe is asked where the payment stands,
/// and the billing page says it.
async fn phonepe_return(State(state): State<AppState>, Path(payment): Path<String>) -> Response {
    let outcome = phonepe::returned(&state, &payment).await;
    Redirect::to(&format!("/settings/billing?checkout={outcome}")).into_response()
}

/// The simulated PhonePe's answers, in PhonePe's JSON.
fn sandbox_answer((status, body): sandbox::Answered) -> Response {
    (StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR), axum::Json(body)).into_response()
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|value| value.to_str().ok())
}

async fn sandbox_pay(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    if !sandbox::serves(&state) {
        return StatusCode::NOT_FOUND.into_response();
    }
    sandbox_answer(sandbox::pay(&state, header(&headers, "x-verify"), &body).await)
}

async fn sandbox_status(
    State(state): State<AppState>,
    Path((merchant, payment)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    if !sandbox::serves(&state) {
        return StatusCode::NOT_FOUND.into_response();
    }
    let answered =
        sandbox::status(&state, &merchant, &payment, header(&headers, "x-verify"), header(&headers, "x-merchant-id"))
            .await;
    sandbox_answer(answered)
}

/// The simulated pay page: the amount, and a button to pay or to decline.
async fn sandbox_page(State(state): State<AppState>, Path(payment): Path<String>) -> Response {
    use app::server::mail::letters::escape;
    if !sandbox::serves(&state) {
        return StatusCode::NOT_FOUND.into_response();
    }
    let found = match sandbox::page(&state, &payment).await {
        Ok(found) => found,
        Err(_) => return StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    };
    let Some(found) = found else {
        let body =
            "<p>PhonePe's test mode knows no such payment.</p><p><a href=\"/settings/billing\">Back to billing</a></p>";
        return super::plain_page(StatusCode::NOT_FOUND, "Payment not found", 32, body);
    };
    let rupees = format!("₹{}", found.amount_paise / 100);
    let body = if found.state == "PENDING" {
        format!(
            "<p style=\"background:#f3ecff;padding:.5rem .75rem;border-radius:6px\">Test mode: PhonePe is simulated; no money moves.</p>\
             <p>Pay <strong data-testid=\"phonepe-amount\">{rupees}</strong> to DreamOps ({merchant}).</p>\
             <form method=\"post\"><button name=\"outcome\" value=\"pay\" style=\"font-size:1rem;padding:.5rem 1rem\">Pay {rupees} with UPI</button> \
             <button name=\"outcome\" value=\"decline\" style=\"font-size:1rem;padding:.5rem 1rem\">Decline</button></form>",
            merchant = escape(&found.merchant_id),
        )
    } else {
        format!(
            "<p>This payment is {}.</p><p><a href=\"{}\">Back to DreamOps</a></p>",
            escape(&found.state.to_ascii_lowercase()),
            escape(&found.redirect_url)
        )
    };
    super::plain_page(StatusCode::OK, "PhonePe (test mode)", 32, &body)
}

#[derive(serde::Deserialize)]
struct Decision {
    outcome: String,
}

async fn sandbox_decide(
    State(state): State<AppState>,
    Path(payment): Path<String>,
    Form(decision): Form<Decision>,
) -> Response {
    if !sandbox::serves(&state) {
        return StatusCode::NOT_FOUND.into_response();
    }
    match sandbox::decide(&state, &payment, decision.outcome == "pay").await {
        Ok(back) => Redirect::to(&back).into_response(),
        Err(app::error::AppError::NotFound) => StatusCode::NOT_FOUND.into_response(),
        Err(_) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
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
