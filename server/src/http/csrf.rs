//! Refuses state-changing requests that a browser sent on behalf of another site.
//!
//! Browsers label every request with `Sec-Fetch-Site`, and cross-origin POSTs with
//! `Origin`; a forged form post or fetch from another site carries `cross-site` or a
//! foreign origin and is refused here, before any handler runs. Requests that carry an
//! `Authorization` header are authenticated by a token, not by the session cookie, and
//! are not subject to this check; neither are requests with neither header (not from
//! a browser). GET, HEAD and OPTIONS never change state, so they pass.
//! <https://cheatsheetseries.owasp.org/cheatsheets/Cross-Site_Request_Forgery_Prevention_Cheat_Sheet.html>

use axum::extract::Request;
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

/// The middleware.
pub async fn refuse_cross_origin(request: Request, next: Next) -> Response {
    if is_cross_origin_write(request.method(), request.headers()) {
        tracing::warn!(path = %request.uri().path(), "refused a cross-origin request");
        return (StatusCode::FORBIDDEN, axum::Json(serde_json::json!({ "error": "cross-origin request refused" })))
            .into_response();
    }
    next.run(request).await
}

fn is_cross_origin_write(method: &Method, headers: &HeaderMap) -> bool {
    if matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS) || headers.contains_key(header::AUTHORIZATION) {
        return false;
    }
    if let Some(site) = headers.get("sec-fetch-site").and_then(|value| value.to_str().ok()) {
        return !matches!(site, "same-origin" | "none");
    }
    match headers.get(header::ORIGIN).and_then(|value| value.to_str().ok()) {
        None => false,
        Some(origin) => {
            let host = headers.get(header::HOST).and_then(|value| value.to_str().ok());
            let origin_host = origin.split_once("://").map(|(_, rest)| rest);
            origin_host.is_none() || origin_host != host
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(*name, value.parse().unwrap());
        }
        map
    }

    #[test]
    fn reads_never_count() {
        assert!(!is_cross_origin_write(&Method::GET, &headers(&[("sec-fetch-site", "cross-site")])));
    }

    #[test]
    fn fetch_metadata_decides_when_present() {
        assert!(is_cross_origin_write(&Method::POST, &headers(&[("sec-fetch-site", "cross-site")])));
        assert!(is_cross_origin_write(&Method::POST, &headers(&[("sec-fetch-site", "same-site")])));
        assert!(!is_cross_origin_write(&Method::POST, &headers(&[("sec-fetch-site", "same-origin")])));
        assert!(!is_cross_origin_write(&Method::POST, &headers(&[("sec-fetch-site", "none")])));
    }

    #[test]
    fn otherwise_the_origin_must_match_the_host() {
        let same = headers(&[("origin", "http://app.example:3000"), ("host", "app.example:3000")]);
        assert!(!is_cross_origin_write(&Method::POST, &same));
        let other = headers(&[("origin", "https://evil.example"), ("host", "app.example")]);
        assert!(is_cross_origin_write(&Method::POST, &other));
        assert!(is_cross_origin_write(&Method::POST, &headers(&[("origin", "null"), ("host", "app.example")])));
        assert!(!is_cross_origin_write(&Method::POST, &headers(&[("host", "app.example")])));
    }

    #[test]
    fn token_authenticated_requests_are_exempt() {
        let with_token = headers(&[("sec-fetch-site", "cross-site"), ("authorization", "Bearer dok_x")]);
        assert!(!is_cross_origin_write(&Method::POST, &with_token));
    }
}
