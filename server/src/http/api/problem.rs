//! Errors of the public API as RFC 9457 problem details (`application/problem+json`):
//! the one [`AppError`] every backend function returns, in the shape HTTP clients and
//! the OpenAPI document expect.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

use app::error::AppError;

/// The media type of problem details.
pub const PROBLEM_JSON: &str = "application/problem+json";

/// A problem, as RFC 9457 describes it.
#[derive(Debug, Serialize, ToSchema)]
pub struct ProblemDetails {
    /// Always `about:blank`: the status says what kind of problem it is.
    #[serde(rename = "type")]
    pub kind: String,
    /// The status's phrase, e.g. "Not Found".
    pub title: String,
    /// The HTTP status.
    pub status: u16,
    /// What went wrong, in words a person can act on.
    pub detail: String,
    /// For 422: every field refused, and why.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldProblem>,
}

/// One field refused.
#[derive(Debug, Serialize, ToSchema)]
pub struct FieldProblem {
    /// The field, as named in the request.
    pub field: String,
    /// Why.
    pub message: String,
}

/// An error answered as problem details.
#[derive(Debug)]
pub struct Problem(pub AppError);

impl From<AppError> for Problem {
    fn from(error: AppError) -> Self {
        Problem(error)
    }
}

impl Problem {
    /// A 400 saying what is wrong with the request.
    pub fn bad_request(detail: impl Into<String>) -> Self {
        Problem(AppError::BadRequest(detail.into()))
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let error = self.0;
        let status = StatusCode::from_u16(error.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let errors = match &error {
            AppError::Validation(errors) => errors
                .iter()
                .map(|error| FieldProblem { field: error.field.clone(), message: error.message.clone() })
                .collect(),
            _ => Vec::new(),
        };
        let detail = match &error {
            // The message says "log in", which an API client does not do.
            AppError::Unauthorized => {
                "Send a valid API key: Authorization: Bearer dok_… (keys are made on the team's API keys page)."
                    .to_string()
            }
            AppError::Forbidden => "This API key's scopes do not allow this.".to_string(),
            AppError::NotFound => "There is no such resource in this key's team.".to_string(),
            other => upper_first(&other.to_string()),
        };
        let problem = ProblemDetails {
            kind: "about:blank".to_string(),
            title: status.canonical_reason().unwrap_or("Error").to_string(),
            status: status.as_u16(),
            detail,
            errors,
        };
        let mut response = (status, axum::Json(problem)).into_response();
        let headers = response.headers_mut();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
        match error {
            AppError::TooManyRequests { retry_after_secs } => {
                headers.insert(header::RETRY_AFTER, retry_after_secs.into());
            }
            AppError::Unauthorized => {
                headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            }
            _ => {}
        }
        response
    }
}

/// `text` with its first letter in upper case, as a sentence starts.
pub(super) fn upper_first(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// What an API handler returns.
pub type ApiResult<T> = Result<T, Problem>;

#[cfg(test)]
mod tests {
    use super::*;

    async fn body(problem: Problem) -> (StatusCode, serde_json::Value, Option<String>) {
        let response = problem.into_response();
        let status = response.status();
        assert_eq!(response.headers()[header::CONTENT_TYPE], PROBLEM_JSON);
        let retry = response.headers().get(header::RETRY_AFTER).map(|v| v.to_str().unwrap().to_string());
        let bytes = axum::body::to_bytes(response.into_body(), 10_000).await.unwrap();
        (status, serde_json::from_slice(&bytes).unwrap(), retry)
    }

    #[tokio::test]
    async fn errors_become_problem_details_with_their_status() {
        let (status, json, _) = body(Problem(AppError::field("title", "Give the incident a title."))).await;
        assert_eq!(status, 422);
        assert_eq!(json["type"], "about:blank");
        assert_eq!(json["title"], "Unprocessable Entity");
        assert_eq!(json["status"], 422);
        assert_eq!(json["errors"][0]["field"], "title");
        let (status, json, retry) = body(Problem(AppError::TooManyRequests { retry_after_secs: 7 })).await;
        assert_eq!((status.as_u16(), retry.as_deref()), (429, Some("7")));
        assert!(json.get("errors").is_none());
        let (status, json, _) = body(Problem(AppError::Conflict("It is already resolved.".into()))).await;
        assert_eq!((status.as_u16(), json["detail"].as_str()), (409, Some("It is already resolved.")));
    }
}
