//! Server-rendered pages and server functions through the real router.

use axum::http::StatusCode;

use crate::support::TestApp;

#[tokio::test]
async fn the_landing_page_is_rendered_on_the_server_with_a_status_reading() {
    let app = TestApp::spawn().await;
    let response = app.get("/").await;
    assert_eq!(response.status(), StatusCode::OK);
    let html = response.text().await.unwrap();
    assert!(html.contains("<title>DreamOps</title>"), "{html}");
    assert!(html.contains("Your alerts, diagnosed"), "{html}");
    assert!(html.contains("All systems operational"), "the status widget renders its first reading: {html}");
    assert!(html.contains(r#"href="/status""#), "navigation lists the status page");
    assert!(html.contains("/pkg/dreamops.js"), "the page loads the browser bundle");
    app.stop().await;
}

#[tokio::test]
async fn an_unknown_path_renders_the_404_page() {
    let app = TestApp::spawn().await;
    let response = app.get("/incidents/nowhere").await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    let html = response.text().await.unwrap();
    assert!(html.contains("Page not found"), "{html}");
    assert!(html.contains("Back to the home page"));
    app.stop().await;
}

#[tokio::test]
async fn the_status_server_function_answers_json() {
    let app = TestApp::spawn().await;
    let response = app.get("/api/system_status").await;
    assert_eq!(response.status(), StatusCode::OK);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(body["database"]["state"], "reachable");
    app.stop().await;
}
