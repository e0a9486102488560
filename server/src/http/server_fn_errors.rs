//! Gives failed server-function calls the HTTP status of their error.
//!
//! Leptos answers every failed server function with 500 and the error, encoded as
//! JSON, in the body. The body is an [`AppError`]; this middleware reads it back and
//! sets its status (401, 403, 404, 409, 422, 429, ...), so that clients, proxies, logs
//! and metrics see what really happened. One place, instead of in every function.

use axum::body::{Body, to_bytes};
use axum::extract::Request;
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::Response;

use app::error::AppError;

/// The header Leptos marks server-function error responses with.
const SERVER_FN_ERROR: &str = "serverfnerror";
/// Error bodies are small; anything larger is left alone.
const MAX_ERROR_BODY: usize = 64 * 1024;

/// The middleware.
pub async fn set_status(request: Request, next: Next) -> Response {
    let response = next.run(request).await;
    if response.status() != StatusCode::INTERNAL_SERVER_ERROR || !response.headers().contains_key(SERVER_FN_ERROR) {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    let Ok(bytes) = to_bytes(body, MAX_ERROR_BODY).await else {
        return Response::from_parts(parts, Body::empty());
    };
    if let Ok(error) = serde_json::from_slice::<AppError>(&bytes) {
        parts.status = StatusCode::from_u16(error.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        if let AppError::TooManyRequests { retry_after_secs } = error {
            parts.headers.insert(header::RETRY_AFTER, HeaderValue::from(retry_after_secs));
        }
    }
    Response::from_parts(parts, Body::from(bytes))
}
