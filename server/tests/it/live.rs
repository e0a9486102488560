//! Live events: published through PostgreSQL, so that what happens at one instance
//! reaches the pages open at another — and only the team's own pages.

use std::time::{Duration, Instant};

use axum::http::StatusCode;

use crate::support::{PASSWORD, TestApp};
use crate::teams::member;

#[tokio::test]
async fn an_alert_at_one_instance_streams_to_the_teams_pages_at_another_and_nowhere_else() {
    let first = TestApp::spawn().await;
    let second = first.another_instance().await;
    let alpha = first.user();
    alpha.sign_up("owner@alpha.example", "Alpha").await;
    let bravo = first.user();
    bravo.sign_up("owner@bravo.example", "Bravo").await;
    let key = alpha.api_key("ci").await;

    // Both teams watch at the second instance; the alert goes to the first.
    let mut alpha_events = alpha.at(&second).events().await;
    let mut bravo_events = bravo.at(&second).events().await;
    let sent = Instant::now();
    let response =
        first.send_rest_alert(&key, &serde_json::json!({"title": "Checkout is down", "severity": "critical"})).await;
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

#[tokio::test]
async fn streams_end_with_their_sign_in_and_a_session_holds_a_few() {
    let first = TestApp::spawn().await;
    let second = first.another_instance().await;
    let owner = first.user();
    owner.sign_up("owner@alpha.example", "Alpha").await;
    let (operator, operator_id) = member(&first, &owner, "op@alpha.example", "operator").await;
    let (viewer, viewer_id) = member(&first, &owner, "vi@alpha.example", "viewer").await;

    // Each change is made at the first instance; the streams are open at the second.
    let mut operators = operator.at(&second).events().await;
    let mut viewers = viewer.at(&second).events().await;
    let mut owners = owner.at(&second).events().await;
    let changed = owner.call("change_member_role", &[("user_id", &operator_id), ("role", "viewer")]).await;
    assert_eq!(changed.status(), StatusCode::OK);
    assert!(operators.ends_within(Duration::from_secs(3)).await, "a role change ends the member's streams");
    let removed = owner.call("remove_member", &[("user_id", &viewer_id)]).await;
    assert_eq!(removed.status(), StatusCode::OK);
    assert!(viewers.ends_within(Duration::from_secs(3)).await, "removal ends the member's streams");
    assert!(!owners.ends_within(Duration::from_secs(1)).await, "everyone else's stay open");
    let reopened = operator.at(&second).events().await;
    drop(reopened);

    // Signing out ends the session's streams wherever they are.
    let again = first.user();
    again.log_in("owner@alpha.example", PASSWORD).await;
    let mut signed_out = again.at(&second).events().await;
    assert_eq!(again.call("log_out", &[]).await.status(), StatusCode::OK);
    assert!(signed_out.ends_within(Duration::from_secs(3)).await, "signing out ends the session's streams");
    assert!(!owners.ends_within(Duration::from_secs(1)).await, "the owner's other session stays signed in");

    // One session holds a few streams at one instance; closing one frees its place.
    let mut open = Vec::new();
    for _ in 1..app::server::live::MAX_STREAMS_PER_SESSION {
        open.push(owner.at(&second).events().await);
    }
    let refused = owner.at(&second).client.get(format!("{}/events", second.address)).send().await.unwrap();
    assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(refused.headers().contains_key("retry-after"));
    assert!(refused.text().await.unwrap().contains("live streams open"));
    // A page that went away is noticed at the stream's next keep-alive (every 10 s).
    drop(owners);
    let mut freed = None;
    for _ in 0..40 {
        let response = owner.at(&second).client.get(format!("{}/events", second.address)).send().await.unwrap();
        if response.status() == StatusCode::OK {
            freed = Some(response);
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    assert!(freed.is_some(), "the closed stream's place is free again");
    second.stop().await;
    first.stop().await;
}
