//! What a first visit transfers: the bundle under `/pkg` precompressed and cached by its
//! hashed name, pages and server-function answers compressed, event streams never.

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use leptos::prelude::LeptosOptions;
use tower::ServiceExt as _;

use server::http::bundle;

use crate::support::TestApp;

/// A site directory with one bundle file and its precompressed copies, each with a
/// body that says which it is.
struct Site {
    root: std::path::PathBuf,
}

impl Site {
    fn new() -> Self {
        let root = std::env::temp_dir().join(format!("dreamops-site-{}", uuid::Uuid::new_v4()));
        let pkg = root.join("pkg");
        std::fs::create_dir_all(&pkg).unwrap();
        for (name, body) in
            [("dreamops.a1b2.wasm", "raw"), ("dreamops.a1b2.wasm.br", "brotli"), ("dreamops.a1b2.wasm.gz", "gzip")]
        {
            std::fs::write(pkg.join(name), body).unwrap();
        }
        Site { root }
    }

    fn options(&self, hash_files: bool) -> LeptosOptions {
        LeptosOptions::builder()
            .output_name("dreamops")
            .site_root(self.root.to_str().unwrap())
            .hash_files(hash_files)
            .build()
    }
}

impl Drop for Site {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.root);
    }
}

async fn fetch(
    options: &LeptosOptions,
    path: &str,
    accept_encoding: Option<&str>,
) -> (StatusCode, Vec<(String, String)>, String) {
    let mut request = Request::get(path);
    if let Some(accept) = accept_encoding {
        request = request.header(header::ACCEPT_ENCODING, accept);
    }
    let response = bundle::routes::<()>(options).oneshot(request.body(Body::empty()).unwrap()).await.unwrap();
    let status = response.status();
    let headers = response
        .headers()
        .iter()
        .map(|(name, value)| (name.to_string(), value.to_str().unwrap_or_default().to_string()))
        .collect();
    let body = axum::body::to_bytes(response.into_body(), usize::MAX).await.unwrap();
    (status, headers, String::from_utf8_lossy(&body).into_owned())
}

fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers.iter().find(|(n, _)| n == name).map(|(_, value)| value.as_str())
}

#[tokio::test]
async fn the_bundle_is_sent_precompressed_as_the_browser_accepts_and_cached_for_a_year_by_its_hash() {
    let site = Site::new();
    let options = site.options(true);
    let path = "/pkg/dreamops.a1b2.wasm";

    let (status, headers, body) = fetch(&options, path, Some("gzip, deflate, br")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, "brotli");
    assert_eq!(header(&headers, "content-encoding"), Some("br"));
    assert_eq!(header(&headers, "content-type"), Some("application/wasm"));
    assert_eq!(header(&headers, "cache-control"), Some("public, max-age=31536000, immutable"));
    let vary: Vec<&str> = headers.iter().filter(|(name, _)| name == "vary").map(|(_, value)| value.as_str()).collect();
    assert_eq!(vary, ["accept-encoding"], "said once");

    let (_, headers, body) = fetch(&options, path, Some("gzip, deflate")).await;
    assert_eq!((body.as_str(), header(&headers, "content-encoding")), ("gzip", Some("gzip")));

    let (_, headers, body) = fetch(&options, path, None).await;
    assert_eq!((body.as_str(), header(&headers, "content-encoding")), ("raw", None));

    let (status, headers, _) = fetch(&options, "/pkg/dreamops.gone.wasm", Some("br")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(header(&headers, "cache-control"), None, "a missing file is not cached");
}

#[tokio::test]
async fn without_hashed_names_the_bundle_is_revalidated_on_every_use() {
    let site = Site::new();
    let (_, headers, _) = fetch(&site.options(false), "/pkg/dreamops.a1b2.wasm", Some("br")).await;
    assert_eq!(header(&headers, "cache-control"), Some("no-cache"));
}

#[tokio::test]
async fn pages_and_server_function_answers_are_compressed_and_event_streams_are_not() {
    let app = TestApp::spawn().await;
    for (path, accept, encoding) in [
        ("/", "gzip, deflate, br", Some("br")),
        ("/", "gzip", Some("gzip")),
        ("/", "identity", None),
        ("/api/system_status", "gzip, br", Some("br")),
    ] {
        let response =
            app.client.get(format!("{}{path}", app.address)).header("accept-encoding", accept).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{path}");
        assert_eq!(
            response.headers().get("content-encoding").map(|value| value.to_str().unwrap()),
            encoding,
            "{path} with Accept-Encoding: {accept}"
        );
    }

    let ana = app.user();
    ana.sign_up("ana@example.com", "Payments").await;
    let stream = ana
        .client
        .get(format!("{}{}", ana.address, app::domain::live::EVENTS_PATH))
        .header("accept-encoding", "gzip, br")
        .send()
        .await
        .unwrap();
    assert_eq!(stream.status(), StatusCode::OK);
    assert!(stream.headers().get("content-encoding").is_none(), "events reach the browser as they happen");
    drop(stream);
    app.stop().await;
}
