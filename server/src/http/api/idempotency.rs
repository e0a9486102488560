//! `Idempotency-Key` on the public API's POSTs: a client that retries after a timeout
//! gets the first answer again instead of a second effect. The same key with the same
//! request (method, path and body) is answered as the first time; with another request,
//! 422; while the first is still being answered, 409. Answers are kept a day; failures
//! on our side (5xx) are not kept, so a retry runs afresh.

use axum::body::{Body, to_bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderName, HeaderValue, Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use sha2::{Digest as _, Sha256};

use app::error::{AppError, OrInternal};
use app::server::api_keys::idempotency::{self, Claim};
use app::server::state::AppState;

use super::caller::Caller;
use super::problem::Problem;

/// The request header.
pub const IDEMPOTENCY_KEY: HeaderName = HeaderName::from_static("idempotency-key");
/// Set on an answer sent again.
const REPLAYED: HeaderName = HeaderName::from_static("idempotent-replayed");
/// The largest request or answer kept.
const MAX_BODY: usize = 1024 * 1024;

/// The middleware (inside [`super::caller::admit`], which names the key).
pub async fn replay(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let Some(key) = request.headers().get(&IDEMPOTENCY_KEY).cloned() else { return next.run(request).await };
    if request.method() != Method::POST {
        return next.run(request).await;
    }
    match answer(&state, key, request, next).await {
        Ok(response) | Err(response) => response,
    }
}

async fn answer(state: &AppState, key: HeaderValue, request: Request, next: Next) -> Result<Response, Response> {
    let key = key
        .to_str()
        .ok()
        .filter(|key| idempotency::valid_key(key))
        .ok_or_else(|| {
            Problem::bad_request("Idempotency-Key is 1 to 255 visible ASCII characters, e.g. a UUID.").into_response()
        })?
        .to_string();
    let caller =
        request.extensions().get::<Caller>().cloned().ok_or_else(|| Problem(AppError::Internal).into_response())?;
    let owner = idempotency::Owner { api_key: caller.key.key_id, team: caller.key.team_id };
    let (parts, body) = request.into_parts();
    let body = to_bytes(body, MAX_BODY)
        .await
        .map_err(|_| Problem::bad_request("The request body is larger than 1 MiB.").into_response())?;
    let mut hasher = Sha256::new();
    for piece in [parts.method.as_str().as_bytes(), b" ", parts.uri.path().as_bytes(), b"\n", &body] {
        hasher.update(piece);
    }
    let hash = hasher.finalize();
    let claim = idempotency::claim(&state.db, &state.cipher, owner, &key, &hash)
        .await
        .or_internal("claiming an idempotency key failed")
        .map_err(|error| Problem(error).into_response())?;
    match claim {
        Claim::Answered { status, body } => {
            let mut response = Response::new(Body::from(body));
            *response.status_mut() = axum::http::StatusCode::from_u16(status).unwrap_or_default();
            let content_type = if status >= 400 { super::problem::PROBLEM_JSON } else { "application/json" };
            response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
            response.headers_mut().insert(REPLAYED, HeaderValue::from_static("true"));
            Ok(response)
        }
        Claim::OtherRequest => Err(Problem(AppError::field(
            "Idempotency-Key",
            "This key was used for a different request; use a new key for a new request.",
        ))
        .into_response()),
        Claim::InProgress => Err(Problem(AppError::Conflict(
            "The first request with this Idempotency-Key is still being answered; retry in a moment.".into(),
        ))
        .into_response()),
        Claim::First { row } => {
            let response = next.run(Request::from_parts(parts, Body::from(body))).await;
            let status = response.status().as_u16();
            if status >= 500 {
                if let Err(error) = idempotency::release(&state.db, row).await {
                    tracing::warn!(%error, "releasing an idempotency key failed");
                }
                return Ok(response);
            }
            let (parts, body) = response.into_parts();
            let body = to_bytes(body, MAX_BODY).await.map_err(|_| Problem(AppError::Internal).into_response())?;
            idempotency::keep(&state.db, &state.cipher, owner, row, status, &body)
                .await
                .or_internal("keeping an idempotent answer failed")
                .map_err(|error| Problem(error).into_response())?;
            Ok(Response::from_parts(parts, Body::from(body)))
        }
    }
}
