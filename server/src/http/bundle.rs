//! The browser bundle under `/pkg`: the precompressed copy a browser accepts (brotli,
//! gzip, else the file), cached for a year when the file names carry their content's
//! hash, revalidated on every use when they do not (a debug build's fixed names).

use axum::Router;
use axum::http::HeaderValue;
use axum::http::header::{CACHE_CONTROL, VARY};
use axum::response::Response;
use leptos::prelude::LeptosOptions;
use tower_http::services::ServeDir;
use tower_http::set_header::SetResponseHeaderLayer;

/// For file names that change whenever their content does.
pub const CACHE_HASHED: &str = "public, max-age=31536000, immutable";
/// For fixed file names: the browser may keep a copy but asks whether it is current.
pub const CACHE_UNHASHED: &str = "no-cache";

/// The `/pkg/...` route, outside every session and page layer.
pub fn routes<S: Clone + Send + Sync + 'static>(options: &LeptosOptions) -> Router<S> {
    let files = ServeDir::new(&*options.site_root).precompressed_br().precompressed_gzip();
    let cache = if options.hash_files { CACHE_HASHED } else { CACHE_UNHASHED };
    Router::new()
        .route_service(&leptos_axum::site_pkg_dir_service_route_path(options), files)
        // Only answers that found a file: a 404 is not worth a year in a cache.
        .layer(SetResponseHeaderLayer::overriding(CACHE_CONTROL, move |response: &Response| {
            response.status().is_success().then(|| HeaderValue::from_static(cache))
        }))
        // Which copy was sent depends on Accept-Encoding: shared caches must know.
        .layer(SetResponseHeaderLayer::appending(VARY, HeaderValue::from_static("accept-encoding")))
}
