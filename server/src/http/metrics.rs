//! `GET /metrics` in Prometheus text format: requests by route and status, request
//! latency as a histogram, and the database pool's connections.

use std::sync::OnceLock;
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

use app::server::state::AppState;

const REQUESTS: &str = "http_requests_total";
const DURATION: &str = "http_request_duration_seconds";
const POOL_CONNECTIONS: &str = "db_pool_connections";
const POOL_MAX: &str = "db_pool_max_connections";

/// Latency buckets, in seconds: fine-grained below 100 ms, where a healthy DreamOps lives.
const LATENCY_BUCKETS: &[f64] = &[0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0];

/// The process-wide metrics recorder, installed on first use. The `metrics` facade has
/// one global recorder, so every server built in this process shares it.
pub fn recorder() -> &'static PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE.get_or_init(|| {
        let handle = PrometheusBuilder::new()
            .set_buckets_for_metric(Matcher::Full(DURATION.to_string()), LATENCY_BUCKETS)
            .expect("the latency buckets are not empty")
            .install_recorder()
            .expect("no other metrics recorder is installed in this process");
        metrics::describe_counter!(REQUESTS, "HTTP requests answered, by method, route and status.");
        metrics::describe_histogram!(DURATION, metrics::Unit::Seconds, "Time to answer HTTP requests.");
        metrics::describe_gauge!(POOL_CONNECTIONS, "Database connections held by the pool, by state.");
        metrics::describe_gauge!(POOL_MAX, "The most database connections the pool may hold.");
        handle
    })
}

/// Middleware: counts each request and records its latency under its route pattern
/// (`/incidents/{id}`, never the concrete path, so the label set stays small).
pub async fn track_request(matched: Option<MatchedPath>, request: Request, next: Next) -> Response {
    let route = matched.map_or_else(|| "unmatched".to_string(), |path| path.as_str().to_string());
    let method = request.method().to_string();
    let started = Instant::now();
    let response = next.run(request).await;
    let status = response.status().as_u16().to_string();
    metrics::counter!(REQUESTS, "method" => method.clone(), "route" => route.clone(), "status" => status).increment(1);
    metrics::histogram!(DURATION, "method" => method, "route" => route).record(started.elapsed().as_secs_f64());
    response
}

/// The `/metrics` handler: for the operator's scraper only (`METRICS_TOKEN` as a bearer
/// token, compared in constant time); not served at all without a token configured.
pub async fn render(State(state): State<AppState>, headers: HeaderMap) -> Response {
    use secrecy::ExposeSecret as _;
    use subtle::ConstantTimeEq as _;
    let Some(token) = state.settings.metrics_token.as_ref() else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let given = headers
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Bearer "))
        .unwrap_or("");
    if !bool::from(given.trim().as_bytes().ct_eq(token.expose_secret().as_bytes())) {
        return (StatusCode::UNAUTHORIZED, [(header::WWW_AUTHENTICATE, "Bearer")]).into_response();
    }
    let handle = recorder();
    let total = state.db.size();
    let idle = u32::try_from(state.db.num_idle()).unwrap_or(u32::MAX);
    metrics::gauge!(POOL_CONNECTIONS, "state" => "idle").set(f64::from(idle));
    metrics::gauge!(POOL_CONNECTIONS, "state" => "in_use").set(f64::from(total.saturating_sub(idle)));
    metrics::gauge!(POOL_MAX).set(f64::from(state.db.options().get_max_connections()));
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], handle.render()).into_response()
}
