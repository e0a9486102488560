//! `/demo-k8s/<cluster id>/…`: the demo cluster's Kubernetes API, for the kube client
//! and kubectl. Authenticated by the bearer token of the cluster's kubeconfig.

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use uuid::Uuid;

use app::server::demo_cluster::{self, ApiRequest};
use app::server::state::AppState;

/// The largest request body the demo cluster reads.
const MAX_BODY: usize = 1024 * 1024;

/// The demo cluster routes.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route(&format!("{}/{{cluster}}", demo_cluster::BASE_PATH), any(serve_root))
        .route(&format!("{}/{{cluster}}/{{*path}}", demo_cluster::BASE_PATH), any(serve))
        .layer(DefaultBodyLimit::max(MAX_BODY))
}

async fn serve_root(
    state: State<AppState>,
    Path(cluster): Path<String>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    serve(state, Path((cluster, String::new())), method, uri, headers, body).await
}

async fn serve(
    State(state): State<AppState>,
    Path((cluster, path)): Path<(String, String)>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Ok(cluster) = Uuid::parse_str(&cluster) else {
        return (StatusCode::NOT_FOUND, "no such demo cluster").into_response();
    };
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Bearer "))
        .map(str::trim);
    let content_type = headers.get(header::CONTENT_TYPE).and_then(|value| value.to_str().ok()).unwrap_or("");
    let path = format!("/{path}");
    let request = ApiRequest {
        method: method.as_str(),
        path: &path,
        query: uri.query().unwrap_or(""),
        content_type,
        body: &body,
    };
    let answer = demo_cluster::serve(&state, cluster, bearer, &request).await;
    let status = StatusCode::from_u16(answer.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    (status, [(header::CONTENT_TYPE, answer.content_type)], answer.body).into_response()
}
