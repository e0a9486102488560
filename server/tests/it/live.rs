//! Live events: published through PostgreSQL, so that what happens at one instance
//! reaches the pages open at another — and only the team's own pages.

use std::time::{Duration, Instant};

use app::api::accounts::LogOut;
use app::api::incidents::AcknowledgeIncident;
use app::api::members::{ChangeMemberRole, RemoveMember};
use app::domain::account::Role;
use axum::http::StatusCode;

use crate::support::{PASSWORD, TestApp};

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
    let incident: uuid::Uuid = answer["incident_id"].as_str().unwrap().parse().unwrap();

    let (name, data) = alpha_events.next(Duration::from_secs(1)).await.expect("an event within one second");
    let latency = sent.elapsed();
    assert!(latency < Duration::from_secs(1), "{latency:?}");
    let mut heard = vec![(name, data)];
    heard.extend(alpha_events.drain(Duration::from_millis(300)).await);
    let names: Vec<&str> = heard.iter().map(|(name, _)| name.as_str()).collect();
    for expected in ["alert.recorded", "incident.new", "timeline.entry"] {
        assert!(names.contains(&expected), "{expected} in {names:?}");
    }
    assert!(heard.iter().all(|(_, data)| data["incident_id"] == incident.to_string()), "{heard:?}");

    // A responder's change at the second instance streams too.
    alpha.at(&second).run(AcknowledgeIncident { id: incident }).await.expect("acknowledged at the second instance");
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
    let operator = first.member(&owner, "op@alpha.example", Role::Operator).await;
    let viewer = first.member(&owner, "vi@alpha.example", Role::Viewer).await;

    // Each change is made at the first instance; the streams are open at the second.
    let mut operators = operator.at(&second).events().await;
    let mut viewers = viewer.at(&second).events().await;
    let mut owners = owner.at(&second).events().await;
    let demoted = ChangeMemberRole { user_id: operator.id().await, role: Role::Viewer };
    owner.run(demoted).await.expect("the operator is demoted");
    assert!(operators.ends_within(Duration::from_secs(3)).await, "a role change ends the member's streams");
    owner.run(RemoveMember { user_id: viewer.id().await }).await.expect("the viewer is removed");
    assert!(viewers.ends_within(Duration::from_secs(3)).await, "removal ends the member's streams");
    assert!(!owners.ends_within(Duration::from_secs(1)).await, "everyone else's stay open");
    let reopened = operator.at(&second).events().await;
    drop(reopened);

    // Signing out ends the session's streams wherever they are.
    let again = first.user();
    again.log_in("owner@alpha.example", PASSWORD).await;
    let mut signed_out = again.at(&second).events().await;
    again.run(LogOut {}).await.expect("signed out");
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
