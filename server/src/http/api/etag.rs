//! ETags on the public API's reads: a strong validator computed from the answer's
//! bytes, and `304 Not Modified` when `If-None-Match` names it. A client polling an
//! incident spends no bandwidth until something changed.

use axum::body::{Body, to_bytes};
use axum::extract::Request;
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use sha2::{Digest as _, Sha256};

/// Answers larger than this are sent without an ETag (an audit CSV can be large).
const MAX_TAGGED: usize = 4 * 1024 * 1024;

/// The middleware.
pub async fn tag(request: Request, next: Next) -> Response {
    let read = matches!(*request.method(), Method::GET | Method::HEAD);
    let if_none_match = request.headers().get(header::IF_NONE_MATCH).cloned();
    let response = next.run(request).await;
    if !read || response.status() != StatusCode::OK {
        return response;
    }
    // Only an answer of known, bounded size is read whole for its tag.
    let bounded =
        axum::body::HttpBody::size_hint(response.body()).upper().is_some_and(|size| size <= MAX_TAGGED as u64);
    if !bounded {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    let bytes = match to_bytes(body, MAX_TAGGED).await {
        Ok(bytes) => bytes,
        Err(error) => {
            tracing::warn!(%error, "an API answer could not be read for its ETag");
            return (StatusCode::INTERNAL_SERVER_ERROR, "").into_response();
        }
    };
    let etag = format!("\"{}\"", &hex::encode(Sha256::digest(&bytes))[..32]);
    let Ok(value) = HeaderValue::from_str(&etag) else { return Response::from_parts(parts, Body::from(bytes)) };
    parts.headers.insert(header::ETAG, value.clone());
    if if_none_match.is_some_and(|wanted| matches(&wanted, &etag)) {
        parts.status = StatusCode::NOT_MODIFIED;
        parts.headers.remove(header::CONTENT_LENGTH);
        return Response::from_parts(parts, Body::empty());
    }
    Response::from_parts(parts, Body::from(bytes))
}

/// Whether `If-None-Match` (a list of tags, weak or strong, or `*`) names `etag`.
fn matches(if_none_match: &HeaderValue, etag: &str) -> bool {
    let Ok(list) = if_none_match.to_str() else { return false };
    list.split(',').map(str::trim).any(|tag| tag == "*" || tag.trim_start_matches("W/") == etag)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_bounded_answer_is_tagged_and_a_large_one_passes_whole_untagged() {
        use tower::ServiceExt as _;
        let app = axum::Router::new()
            .route("/small", axum::routing::get(|| async { "hello" }))
            .route("/large", axum::routing::get(|| async { "x".repeat(MAX_TAGGED + 1) }))
            .layer(axum::middleware::from_fn(tag));
        let get = |path: &str| Request::get(path).body(Body::empty()).unwrap();
        let small = app.clone().oneshot(get("/small")).await.unwrap();
        assert_eq!(small.status(), StatusCode::OK);
        assert!(small.headers().contains_key(header::ETAG));
        let large = app.oneshot(get("/large")).await.unwrap();
        assert_eq!(large.status(), StatusCode::OK);
        assert!(!large.headers().contains_key(header::ETAG));
        assert_eq!(to_bytes(large.into_body(), usize::MAX).await.unwrap().len(), MAX_TAGGED + 1);
    }

    #[test]
    fn if_none_match_lists_weak_and_strong_tags() {
        let etag = "\"abc\"";
        for (header, matched) in
            [("\"abc\"", true), ("W/\"abc\"", true), ("\"x\", \"abc\"", true), ("*", true), ("\"abd\"", false)]
        {
            assert_eq!(matches(&HeaderValue::from_static(header), etag), matched, "{header}");
        }
    }
}
