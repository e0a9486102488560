//! Live events: published through PostgreSQL, so that what happens at one instance
//! reaches the pages open at another — and only the team's own pages.

use std::time::{Duration, Instant};

use axum::http::StatusCode;

use crate::support::TestApp;

#[tokio::test]
async fn an_alert_at_one_instance_streams_to_the_teams_pages_at_another_and_nowhere_else() {
    let first = TestApp::spawn().await;
    let second = first.another_instance().await;
    let alpha = first.user();
    alpha.sign_up("owner@alpha.example", "Alpha").await;
    let bravo = first.user();
    bravo.sign_up("owner@bravo.example", "Bravo").await;
    let key: serde_json::Value = alpha.call("create_api_key", &[("name", "ci")]).await.json().await.unwrap();
    let key = key["secret"].as_str().unwrap().to_string();

    // Both teams watch at the second instance; the alert goes to the first.
    let mut alpha_events = alpha.at(&second).events().await;
    let mut bravo_events = bravo.at(&second).events().await;
    let sent = Instant::now();
    let response = first
        .client
        .post(format!("{}/api/v1/alerts", first.address))
        .bearer_auth(&key)
        .json(&serde_json::json!({"title": "Checkout is down", "severity": "critical"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    let answer: serde_json::Value = response.json().await.unwrap();
    let incident = answer["incident_id"].as_str().unwrap().to_string();

    let (name, data) = alpha_events.next(Duration::from_secs(1)).await.expect("an event within one second");
    let latency = sent.elapsed();
    assert!(latency < Duration::from_secs(1), "{latency:?}");
    let mut heard = vec![(name, data)];
    heard.extend(alpha_events.drain(Duration::from_millis(300)).await);
    let names: Vec<&str> = heard.iter().map(|(name, _)| name.as_str()).collect();
    for expected in ["alert.recorded", "incident.new", "timeline.entry"] {
        assert!(names.contains(&expected), "{expected} in {names:?}");
    }
    assert!(heard.iter().all(|(_, data)| data["incident_id"] == incident.as_str()), "{heard:?}");

    // A responder's change at the second instance streams too.
    let response = alpha.at(&second).call("acknowledge_incident", &[("id", &incident)]).await;
    assert_eq!(response.status(), StatusCode::OK, "{}", response.text().await.unwrap());
    let changes = alpha_events.drain(Duration::from_millis(500)).await;
    assert!(changes.iter().any(|(name, _)| name == "incident.update"), "{changes:?}");

    assert_eq!(bravo_events.drain(Duration::from_millis(300)).await, vec![], "Bravo hears nothing of Alpha");
    second.stop().await;
    first.stop().await;
}
