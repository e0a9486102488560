//! Who calls the public API: the team API key in `Authorization: Bearer`, checked once
//! per request with the team's request limits, and the `RateLimit-*` headers that say
//! where those limits stand.

use axum::extract::{FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderName, HeaderValue, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use app::domain::account::Permission;
use app::error::AppError;
use app::server::api_keys::rate::Throttled;
use app::server::api_keys::{self, ApiKeyTeam};
use app::server::audit::Acting;
use app::server::auth::context::client_addr;
use app::server::rate_limit::Standing;
use app::server::state::AppState;

use super::problem::Problem;

const LIMIT: HeaderName = HeaderName::from_static("ratelimit-limit");
const REMAINING: HeaderName = HeaderName::from_static("ratelimit-remaining");
const RESET: HeaderName = HeaderName::from_static("ratelimit-reset");

/// The authenticated caller of an API request.
#[derive(Clone, Debug)]
pub struct Caller {
    /// The key and its team.
    pub key: ApiKeyTeam,
    /// Where the request came from.
    pub client_addr: String,
}

impl Caller {
    /// The key acting in its team if its scopes allow `permission`; else 403.
    pub fn acting(&self, permission: Permission) -> Result<Acting, Problem> {
        Ok(self.key.acting(permission, self.client_addr.clone())?)
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Caller {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        parts.extensions.get::<Caller>().cloned().ok_or_else(|| {
            tracing::error!("an API route outside the caller middleware");
            Problem(AppError::Internal)
        })
    }
}

/// The middleware: authenticates the key (401 without a valid one), admits the request
/// under the key's and the team's limits (429 with `Retry-After` beyond them), and
/// sets `RateLimit-Limit`, `-Remaining` and `-Reset` on the answer.
pub async fn admit(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let (mut parts, body) = request.into_parts();
    let key = match bearer(&parts.headers) {
        None => return Problem(AppError::Unauthorized).into_response(),
        Some(presented) => match api_keys::authenticate(&state.db, presented).await {
            Ok(Some(key)) => key,
            Ok(None) => return Problem(AppError::Unauthorized).into_response(),
            Err(error) => return Problem(error).into_response(),
        },
    };
    let standing = match state.api_rates.admit(key.key_id, key.team_id, &key.plan) {
        Ok(standing) => standing,
        Err(Throttled { retry_after_secs, limit }) => {
            let mut response = Problem(AppError::TooManyRequests { retry_after_secs }).into_response();
            set_headers(response.headers_mut(), Standing { limit, remaining: 0, reset_secs: retry_after_secs });
            return response;
        }
    };
    let client_addr = client_addr(&state, &parts);
    parts.extensions.insert(Caller { key, client_addr });
    let mut response = next.run(Request::from_parts(parts, body)).await;
    if let Some(standing) = standing {
        set_headers(response.headers_mut(), standing);
    }
    response
}

/// The key of `Authorization: Bearer <key>`.
fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, key) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| key.trim()).filter(|key| !key.is_empty())
}

fn set_headers(headers: &mut HeaderMap, standing: Standing) {
    for (name, value) in [(LIMIT, standing.limit), (REMAINING, standing.remaining), (RESET, standing.reset_secs)] {
        headers.insert(name, HeaderValue::from(value));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bearer_scheme_is_case_insensitive_and_the_key_required() {
        let with = |value: &'static str| {
            let mut headers = HeaderMap::new();
            headers.insert(header::AUTHORIZATION, HeaderValue::from_static(value));
            headers
        };
        assert_eq!(bearer(&with("Bearer dok_1")), Some("dok_1"));
        assert_eq!(bearer(&with("bearer  dok_1 ")), Some("dok_1"));
        assert_eq!(bearer(&with("Basic dok_1")), None);
        assert_eq!(bearer(&with("Bearer ")), None);
        assert_eq!(bearer(&HeaderMap::new()), None);
    }
}
