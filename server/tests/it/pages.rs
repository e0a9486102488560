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

/// A signed-in page is rendered once on the server: each of its resources is fetched and
/// sent to the browser once. (Rendered twice, the browser hydrates the page with the
/// first rendering's data under the second's HTML; where the data changed in between —
/// an incident whose analysis is being written — the page fails to hydrate.)
#[tokio::test]
async fn a_signed_in_page_is_rendered_once_and_sends_each_resource_once() {
    use app::api::incidents::ReportIncident;
    use app::domain::incident::NewIncident;
    let app = TestApp::spawn().await;
    let owner = app.user();
    owner.sign_up("owner@once.example", "Once").await;
    let reported = NewIncident {
        title: "Rendered-once-marker".into(),
        severity: None,
        service: Some("once".into()),
        description: None,
    };
    let incident = owner.run(ReportIncident { incident: reported }).await.unwrap().id;
    let html =
        owner.client.get(format!("{}/incidents/{incident}", owner.address)).send().await.unwrap().text().await.unwrap();
    let resources = html.matches("__RESOLVED_RESOURCES[").count();
    // Each resource's value is a string literal: `__RESOLVED_RESOURCES[7] = "…";`.
    let values = html.split("__RESOLVED_RESOURCES[").skip(1).map(|part| part.split("\";").next().unwrap_or(part));
    let incidents = values.filter(|value| value.contains("Rendered-once-marker")).count();
    assert_eq!(incidents, 1, "the incident is sent once among {resources} resources");
    let list = owner.client.get(format!("{}/incidents", owner.address)).send().await.unwrap().text().await.unwrap();
    let values = list.split("__RESOLVED_RESOURCES[").skip(1).map(|part| part.split("\";").next().unwrap_or(part));
    assert_eq!(values.filter(|value| value.contains("Rendered-once-marker")).count(), 1, "the list is sent once");
    app.stop().await;
}
