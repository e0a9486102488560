//! The public REST API, `/api/v1`: what a team's scripts, bots and reports may do with
//! an API key — incidents, analyses, remediations, figures, the audit log, integrations,
//! clusters, usage. Every handler checks the key's scopes against the one permission
//! matrix and calls the same backend function as the page's server function: no rule
//! lives here. This module holds the HTTP shape only: routes, the OpenAPI 3.1 document
//! generated from the Rust types, problem details, ETags and idempotency.

pub mod caller;
pub mod etag;
pub mod idempotency;
pub mod incidents;
pub mod problem;
pub mod reference;
pub mod reports;
pub mod settings;
pub mod webhooks;

use axum::Router;
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{IntoResponses, Modify, OpenApi, ToSchema};

use app::error::AppError;
use app::server::state::AppState;

use problem::{Problem, ProblemDetails, upper_first};

/// Where the OpenAPI document is served.
pub const OPENAPI_PATH: &str = "/api/v1/openapi.json";

/// The routes, behind the key check, limits, idempotency and ETags; the document and
/// the reference page are public.
pub fn routes(state: &AppState) -> Router<AppState> {
    let authenticated = Router::new()
        .route("/api/v1/incidents", get(incidents::list))
        .route("/api/v1/incidents/{id}", get(incidents::get).patch(incidents::update))
        .route("/api/v1/incidents/{id}/acknowledge", post(incidents::acknowledge))
        .route("/api/v1/incidents/{id}/resolve", post(incidents::resolve))
        .route("/api/v1/incidents/{id}/reopen", post(incidents::reopen))
        .route("/api/v1/incidents/{id}/notes", post(incidents::add_note))
        .route("/api/v1/incidents/{id}/timeline", get(incidents::timeline))
        .route("/api/v1/incidents/{id}/related", get(incidents::related))
        .route("/api/v1/incidents/{id}/alerts", get(incidents::alerts))
        .route("/api/v1/incidents/{id}/analysis", get(incidents::analysis))
        .route("/api/v1/incidents/{id}/analysis/feedback", post(incidents::feedback))
        .route("/api/v1/incidents/{id}/analysis/rerun", post(incidents::rerun))
        .route("/api/v1/incidents/{id}/actions", get(incidents::actions))
        .route("/api/v1/incidents/{id}/actions/{action_id}", get(incidents::action))
        .route("/api/v1/incidents/{id}/recommendations/{index}/approve", post(incidents::approve))
        .route("/api/v1/dashboard", get(reports::dashboard))
        .route("/api/v1/usage", get(reports::usage))
        .route("/api/v1/audit-log", get(reports::audit_log))
        .route("/api/v1/audit-log.csv", get(reports::audit_log_csv))
        .route("/api/v1/integrations", get(settings::integrations))
        .route("/api/v1/integrations/{kind}/test", post(settings::test_integration))
        .route("/api/v1/clusters", get(settings::clusters))
        .route("/api/v1/clusters/{id}/test", post(settings::test_cluster))
        .route("/api/v1/clusters/{id}/overview", get(settings::cluster_overview))
        .route("/api/v1/webhooks", get(webhooks::list).post(webhooks::create))
        .route("/api/v1/webhooks/{id}", axum::routing::delete(webhooks::remove))
        .route("/api/v1/webhooks/{id}/rotate-secret", post(webhooks::rotate))
        .route("/api/v1/webhooks/{id}/deliveries", get(webhooks::deliveries))
        .route("/api/v1/webhook-deliveries/{id}/replay", post(webhooks::replay))
        .route_layer(axum::middleware::from_fn(etag::tag))
        .route_layer(axum::middleware::from_fn_with_state(state.clone(), idempotency::replay))
        .route_layer(axum::middleware::from_fn_with_state(state.clone(), caller::admit));
    Router::new()
        .route(OPENAPI_PATH, get(document))
        .route(reference::PATH, get(reference::page))
        .merge(authenticated)
        .route("/api/v1/{*rest}", axum::routing::any(not_found))
}

/// `GET /api/v1/openapi.json`.
async fn document() -> Response {
    axum::Json(ApiDoc::openapi()).into_response()
}

async fn not_found() -> Problem {
    Problem(AppError::NotFound)
}

/// The OpenAPI document.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "DreamOps API",
        version = "1",
        description = "Incidents, analyses, remediations, figures, the audit log, integrations, clusters and \
                       usage of one team, for its scripts and bots. Authenticate with a team API key \
                       (`Authorization: Bearer dok_…`); what a key may do is set by its scopes. Errors are \
                       RFC 9457 problem details. Every POST takes an `Idempotency-Key`; reads carry ETags. \
                       Limits per key and per team are reported in `RateLimit-*` headers."
    ),
    paths(
        incidents::list,
        incidents::get,
        incidents::update,
        incidents::acknowledge,
        incidents::resolve,
        incidents::reopen,
        incidents::add_note,
        incidents::timeline,
        incidents::related,
        incidents::alerts,
        incidents::analysis,
        incidents::feedback,
        incidents::rerun,
        incidents::actions,
        incidents::action,
        incidents::approve,
        reports::dashboard,
        reports::usage,
        reports::audit_log,
        reports::audit_log_csv,
        settings::integrations,
        settings::test_integration,
        settings::clusters,
        settings::test_cluster,
        settings::cluster_overview,
        webhooks::list,
        webhooks::create,
        webhooks::remove,
        webhooks::rotate,
        webhooks::deliveries,
        webhooks::replay,
    ),
    modifiers(&BearerKey, &IdempotencyHeader),
    security(("api_key" = [])),
    tags(
        (name = "incidents", description = "Incidents, their timelines, alerts and related incidents."),
        (name = "analyses", description = "The agent's diagnosis of an incident, and responders' verdicts."),
        (name = "remediations", description = "Fixes proposed and carried out, and their approval."),
        (name = "reports", description = "The dashboard's figures, usage and the audit log."),
        (name = "settings", description = "Alert sources and Kubernetes clusters (never their credentials)."),
        (name = "webhooks", description = "Endpoints told when something happens, signed like Stripe's webhooks: \
            `DreamOps-Signature: t=<unix time>,v1=<hex>`, each `v1` the HMAC-SHA256 of `<t>.<raw body>` under one of \
            the endpoint's active secrets (two for a day after a rotation). Check it against the raw body, and refuse \
            a `t` more than five minutes away from your clock."),
    )
)]
pub struct ApiDoc;

/// Declares the bearer key.
struct BearerKey;

impl Modify for BearerKey {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "api_key",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some("A team API key, `dok_…`, made on the team's API keys page."))
                    .build(),
            ),
        );
    }
}

/// Declares the `Idempotency-Key` header on every POST.
struct IdempotencyHeader;

impl Modify for IdempotencyHeader {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::path::{ParameterBuilder, ParameterIn};
        use utoipa::openapi::{ObjectBuilder, Required, Type};
        for item in openapi.paths.paths.values_mut() {
            let Some(operation) = item.post.as_mut() else { continue };
            let schema = ObjectBuilder::new()
                .schema_type(Type::String)
                .min_length(Some(1))
                .max_length(Some(idempotency_key_max()))
                .pattern(Some("^[!-~]+$"));
            let parameter = ParameterBuilder::new()
                .name("Idempotency-Key")
                .parameter_in(ParameterIn::Header)
                .required(Required::False)
                .description(Some(
                    "Any unique string, e.g. a UUID: the same request sent again with the same key within a day \
                     is answered as the first time, without a second effect; another request with it is refused (422).",
                ))
                .schema(Some(schema));
            operation.parameters.get_or_insert_with(Vec::new).push(parameter.build());
        }
    }
}

fn idempotency_key_max() -> usize {
    app::server::api_keys::idempotency::KEY_MAX
}

/// The problems any authenticated operation may answer.
#[derive(IntoResponses)]
#[allow(dead_code)]
pub enum Problems {
    /// The request could not be read: a malformed id, query or body.
    #[response(status = 400, content_type = "application/problem+json")]
    BadRequest(ProblemDetails),
    /// No valid API key.
    #[response(status = 401, content_type = "application/problem+json")]
    Unauthorized(ProblemDetails),
    /// The key's scopes do not allow this.
    #[response(status = 403, content_type = "application/problem+json")]
    Forbidden(ProblemDetails),
    /// No such resource in the key's team.
    #[response(status = 404, content_type = "application/problem+json")]
    NotFound(ProblemDetails),
    /// The request conflicts with the resource's state (e.g. resolving a resolved incident).
    #[response(status = 409, content_type = "application/problem+json")]
    Conflict(ProblemDetails),
    /// A field was refused, or an `Idempotency-Key` reused for another request.
    #[response(status = 422, content_type = "application/problem+json")]
    Unprocessable(ProblemDetails),
    /// Over the key's or the team's request limit; retry after `Retry-After` seconds.
    #[response(status = 429, content_type = "application/problem+json")]
    TooManyRequests(ProblemDetails),
}

/// A JSON object body; refused as problem details: 400 when it is not JSON or cannot be
/// read, 422 when it is not an object of the right shape.
pub struct ApiJson<T>(pub T);

/// The largest body read.
const MAX_BODY: usize = 1024 * 1024;

impl<T, S> FromRequest<S> for ApiJson<T>
where
    T: serde::de::DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = Problem;

    async fn from_request(request: axum::extract::Request, _: &S) -> Result<Self, Self::Rejection> {
        if !is_json(request.headers()) {
            return Err(Problem::bad_request("Send the body as JSON, with `Content-Type: application/json`."));
        }
        let body = axum::body::to_bytes(request.into_body(), MAX_BODY)
            .await
            .map_err(|_| Problem::bad_request("The body is larger than 1 MiB."))?;
        read_object(&body).map(ApiJson)
    }
}

/// Whether the request says its body is JSON.
fn is_json(headers: &axum::http::HeaderMap) -> bool {
    headers
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.split(';').next())
        .map(|essence| essence.trim().to_ascii_lowercase())
        .is_some_and(|essence| essence == "application/json" || essence.ends_with("+json"))
}

/// `body` as `T`, from a JSON object (or `null`, where `T` takes it).
fn read_object<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, Problem> {
    let value: serde_json::Value = serde_json::from_slice(body)
        .map_err(|error| Problem::bad_request(format!("The body is not JSON: {error}.")))?;
    if !(value.is_object() || value.is_null()) {
        return Err(Problem(AppError::field("body", "The body is a JSON object.")));
    }
    serde_json::from_value(value)
        .map_err(|error| Problem(AppError::field("body", format!("{}.", upper_first(&error.to_string())))))
}

/// An optional JSON object body: the type's default when the body is empty or `null`.
pub struct ApiJsonOrEmpty<T>(pub T);

impl<T, S> FromRequest<S> for ApiJsonOrEmpty<T>
where
    T: Default + serde::de::DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = Problem;

    async fn from_request(request: axum::extract::Request, _: &S) -> Result<Self, Self::Rejection> {
        let json = is_json(request.headers());
        let body = axum::body::to_bytes(request.into_body(), MAX_BODY)
            .await
            .map_err(|_| Problem::bad_request("The body is larger than 1 MiB."))?;
        if body.iter().all(u8::is_ascii_whitespace) {
            return Ok(ApiJsonOrEmpty(T::default()));
        }
        if !json {
            return Err(Problem::bad_request("Send the body as JSON, with `Content-Type: application/json`, or none."));
        }
        Ok(ApiJsonOrEmpty(read_object::<Option<T>>(&body)?.unwrap_or_default()))
    }
}

/// Query parameters; refused as a 400 problem.
pub struct ApiQuery<T>(pub T);

impl<T, S> FromRequestParts<S> for ApiQuery<T>
where
    axum::extract::Query<T>: FromRequestParts<S, Rejection = QueryRejection>,
    S: Send + Sync,
{
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut axum::http::request::Parts, state: &S) -> Result<Self, Self::Rejection> {
        axum::extract::Query::<T>::from_request_parts(parts, state)
            .await
            .map(|query| ApiQuery(query.0))
            .map_err(|rejection| Problem::bad_request(app_error_text(&rejection.body_text())))
    }
}

/// Path parameters; refused as a 400 problem (an id that is not a UUID).
pub struct ApiPath<T>(pub T);

impl<T, S> FromRequestParts<S> for ApiPath<T>
where
    axum::extract::Path<T>: FromRequestParts<S, Rejection = PathRejection>,
    S: Send + Sync,
{
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut axum::http::request::Parts, state: &S) -> Result<Self, Self::Rejection> {
        axum::extract::Path::<T>::from_request_parts(parts, state)
            .await
            .map(|path| ApiPath(path.0))
            .map_err(|rejection| Problem::bad_request(app_error_text(&rejection.body_text())))
    }
}

/// Axum's rejection text, as a sentence.
fn app_error_text(text: &str) -> String {
    let text = text.trim();
    if text.ends_with('.') { text.to_string() } else { format!("{text}.") }
}

/// An answer with nothing to say but that it worked.
#[derive(serde::Serialize, ToSchema)]
pub struct Done {
    /// What happened, in a sentence.
    pub message: String,
}
