//! The HTTP edge outside Leptos: probes, metrics, and the middleware every request
//! passes through (request id, tracing span, request metrics).

pub mod api;
pub mod audit_export;
pub mod billing;
pub mod bundle;
pub mod csrf;
pub mod demo_cluster;
pub mod dev_mail;
pub mod ingest;
pub mod live;
pub mod metrics;
pub mod postmortem_export;
pub mod probes;
pub mod server_fn_errors;
pub mod sso;
pub mod team_export;
pub mod unsubscribe;

use axum::Router;
use axum::http::{HeaderName, HeaderValue, Request, header};
use tower::ServiceBuilder;
use tower_http::compression::CompressionLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::trace::{DefaultOnResponse, TraceLayer};
use tracing::Level;

/// The header carrying each request's id, taken from the client if it sent one.
pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Headers on every response that tell browsers to be strict: no MIME sniffing, no
/// framing by other sites (clickjacking), no full URLs leaked to other origins.
const SECURITY_HEADERS: [(HeaderName, &str); 3] = [
    (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
    (header::X_FRAME_OPTIONS, "DENY"),
    (header::REFERRER_POLICY, "strict-origin-when-cross-origin"),
];

/// Browsers that saw DreamOps over HTTPS use nothing else for a year: sent when cookies
/// are `Secure` (`SECURE_COOKIES=true`, i.e. served over HTTPS).
const STRICT_TRANSPORT_SECURITY: &str = "max-age=31536000; includeSubDomains";

/// Wraps `router` in the middleware every request passes through, outermost first:
/// assign a request id, open a span carrying it, record metrics, echo the id back,
/// add the security headers (HSTS when `https_only`), compress the answer (brotli or gzip, as the client
/// accepts; never an event stream, an image or what is compressed already), refuse
/// cross-origin writes, give server-function errors their status.
pub fn with_middleware<S: Clone + Send + Sync + 'static>(router: Router<S>, https_only: bool) -> Router<S> {
    // Requests are counted from the first one on, not from the first scrape.
    metrics::recorder();
    let mut router = router
        .layer(axum::middleware::from_fn(server_fn_errors::set_status))
        .layer(axum::middleware::from_fn(csrf::refuse_cross_origin))
        .layer(CompressionLayer::new())
        .layer(axum::middleware::from_fn(metrics::track_request));
    for (name, value) in SECURITY_HEADERS {
        router = router.layer(SetResponseHeaderLayer::if_not_present(name, HeaderValue::from_static(value)));
    }
    if https_only {
        router = router.layer(SetResponseHeaderLayer::if_not_present(
            header::STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static(STRICT_TRANSPORT_SECURITY),
        ));
    }
    router.layer(
        ServiceBuilder::new()
            .layer(SetRequestIdLayer::new(REQUEST_ID, MakeRequestUuid))
            .layer(
                TraceLayer::new_for_http()
                    .make_span_with(request_span)
                    .on_response(DefaultOnResponse::new().level(Level::INFO)),
            )
            .layer(PropagateRequestIdLayer::new(REQUEST_ID)),
    )
}

/// A page drawn on the server alone, for what must work without the app's code (single
/// sign-on, unsubscribing, the API reference): `title` as its heading, `body` (HTML,
/// already escaped) at most `width_rem` wide.
pub fn plain_page(status: axum::http::StatusCode, title: &str, width_rem: u32, body: &str) -> axum::response::Response {
    use axum::response::IntoResponse as _;
    let html = format!(
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><title>{title} · DreamOps</title>\
         <link rel=\"icon\" type=\"image/svg+xml\" href=\"/favicon.svg\"></head>\
         <body style=\"font-family:system-ui,sans-serif;max-width:{width_rem}rem;margin:3rem auto;padding:0 1rem;line-height:1.5\">\
         <h1 style=\"font-size:1.4rem\">{title}</h1>{body}</body></html>"
    );
    (status, axum::response::Html(html)).into_response()
}

/// Seconds since the Unix epoch, for signatures' timestamps.
pub fn unix_now() -> i64 {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    i64::try_from(now.as_secs()).unwrap_or(i64::MAX)
}

/// One span per request. The query string is left out (it may carry tokens), and so are
/// the tokens in paths ([`loggable_path`]).
fn request_span<B>(request: &Request<B>) -> tracing::Span {
    let request_id = request.headers().get(&REQUEST_ID).and_then(|value| value.to_str().ok()).unwrap_or("");
    tracing::info_span!(
        "request",
        method = %request.method(),
        path = %loggable_path(request.uri().path()),
        request_id = %request_id,
    )
}

/// `path` with the secrets some paths carry replaced by their route's placeholder:
/// webhook URLs (`/webhooks/<kind>/{token}`: the token is the sender's credential),
/// invitations (`/invitations/{token}`), checkouts (`/billing/checkout/{session}`) and
/// PhonePe payments (`/billing/phonepe/return/{payment}`, `/phonepe-sandbox/pay/{payment}`).
pub fn loggable_path(path: &str) -> std::borrow::Cow<'_, str> {
    let segments: Vec<&str> = path.split('/').collect();
    let secret_at = match segments.as_slice() {
        ["", "webhooks", _, _, ..] => Some((3, "{token}")),
        ["", "invitations", _, ..] => Some((2, "{token}")),
        ["", "billing", "checkout", _, ..] => Some((3, "{session}")),
        ["", "billing", "phonepe", "return", _, ..] => Some((4, "{payment}")),
        ["", "phonepe-sandbox", "pay", _, ..] => Some((3, "{payment}")),
        _ => None,
    };
    match secret_at {
        Some((index, placeholder)) => {
            let mut segments = segments;
            segments[index] = placeholder;
            std::borrow::Cow::Owned(segments.join("/"))
        }
        None => std::borrow::Cow::Borrowed(path),
    }
}

#[cfg(test)]
mod tests {
    use super::loggable_path;

    #[test]
    fn paths_are_logged_without_the_secrets_they_carry() {
        for (path, logged) in [
            ("/webhooks/pagerduty/5c54e94a0fbf42fb", "/webhooks/pagerduty/{token}"),
            ("/webhooks/alertmanager/abc/extra", "/webhooks/alertmanager/{token}/extra"),
            ("/webhooks/stripe", "/webhooks/stripe"),
            ("/invitations/inv_secret", "/invitations/{token}"),
            ("/billing/checkout/cs_test_1", "/billing/checkout/{session}"),
            ("/billing/phonepe/return/DO1", "/billing/phonepe/return/{payment}"),
            ("/phonepe-sandbox/pay/DO1", "/phonepe-sandbox/pay/{payment}"),
            ("/api/log_in", "/api/log_in"),
            ("/incidents/8f0e", "/incidents/8f0e"),
        ] {
            assert_eq!(loggable_path(path), logged);
        }
    }
}
