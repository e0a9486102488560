//! The incident list: filters, status counts, and keyset pages that stay correct while
//! incidents arrive.

use std::collections::HashSet;

use axum::http::StatusCode;
use uuid::Uuid;

use crate::support::{TestApp, User, join_all};

/// A signed-up team on the unlimited plan, and its Events API routing key.
async fn team(app: &TestApp, name: &str) -> (User, String) {
    let owner = app.user();
    owner.sign_up(&format!("owner@{name}.example"), name).await;
    let id: Uuid = owner.viewer().await["team"]["team_id"].as_str().unwrap().parse().unwrap();
    let state = app.state();
    sqlx::query("update teams set plan = 'enterprise' where id = $1").bind(id).execute(&state.db).await.unwrap();
    let integrations = app::server::ingest::integrations::ensure(&state.db, &state.cipher, id).await.unwrap();
    let key = integrations.iter().find(|i| i.kind == "events_api").unwrap().secrets.token.clone();
    (owner, key)
}

async fn send(app: &TestApp, key: &str, action: &str, dedup_key: &str, summary: &str, severity: &str) {
    enqueue(app.client.clone(), app.address.clone(), event(key, action, dedup_key, summary, severity)).await;
}

fn event(key: &str, action: &str, dedup_key: &str, summary: &str, severity: &str) -> serde_json::Value {
    serde_json::json!({"routing_key": key, "event_action": action, "dedup_key": dedup_key,
        "payload": {"summary": summary, "source": "web-1", "severity": severity}})
}

async fn enqueue(client: reqwest::Client, address: String, event: serde_json::Value) {
    let response = client.post(format!("{address}/v2/enqueue")).body(event.to_string()).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::ACCEPTED);
}

fn encode(value: &str) -> String {
    url::form_urlencoded::byte_serialize(value.as_bytes()).collect()
}

/// `list_incidents` with the query string `query`.
async fn list(user: &User, query: &str) -> serde_json::Value {
    let response = user.query(&format!("list_incidents?{query}")).await;
    assert_eq!(response.status(), StatusCode::OK);
    response.json().await.unwrap()
}

fn ids(page: &serde_json::Value) -> Vec<String> {
    page["incidents"].as_array().unwrap().iter().map(|i| i["id"].as_str().unwrap().to_string()).collect()
}

#[tokio::test]
async fn pages_neither_repeat_nor_skip_while_incidents_arrive() {
    let app = TestApp::spawn().await;
    let (owner, key) = team(&app, "pages").await;
    // Sent concurrently, so that many share one batch and one last-activity time: the
    // id breaks the ties.
    join_all((0..120).map(|n| {
        let event = event(&key, "trigger", &format!("old-{n}"), &format!("old {n}"), "error");
        enqueue(app.client.clone(), app.address.clone(), event)
    }))
    .await;

    let mut seen = Vec::new();
    let mut page = list(&owner, "").await;
    let mut arrived = 0;
    loop {
        seen.extend(ids(&page));
        // New incidents arrive between pages; they belong before the first page.
        for _ in 0..7 {
            send(&app, &key, "trigger", &format!("new-{arrived}"), "new", "error").await;
            arrived += 1;
        }
        let Some(next) = page["next"].as_object() else { break };
        let query = format!(
            "after[last_seen_at]={}&after[id]={}",
            encode(next["last_seen_at"].as_str().unwrap()),
            next["id"].as_str().unwrap()
        );
        page = list(&owner, &query).await;
    }
    let unique: HashSet<&String> = seen.iter().collect();
    assert_eq!(unique.len(), seen.len(), "no incident on two pages");
    assert_eq!(seen.len(), 120, "every incident that existed when listing began, once");
    let first_page_count = app::server::incidents::PAGE_SIZE;
    assert!(seen.len() > first_page_count, "the listing took more than one page");
    app.stop().await;
}

#[tokio::test]
async fn filters_narrow_the_list_and_the_counts_follow_them() {
    let app = TestApp::spawn().await;
    let (owner, key) = team(&app, "filters").await;
    send(&app, &key, "trigger", "disk", "Disk full on db-1", "critical").await;
    send(&app, &key, "trigger", "cpu", "CPU hot on web-1", "warning").await;
    send(&app, &key, "trigger", "mem", "Memory high on web-2", "warning").await;
    send(&app, &key, "acknowledge", "cpu", "", "warning").await;
    send(&app, &key, "resolve", "mem", "", "warning").await;

    let all = list(&owner, "").await;
    assert_eq!(all["incidents"].as_array().unwrap().len(), 3);
    assert_eq!(all["counts"], serde_json::json!({"triggered": 1, "acknowledged": 1, "resolved": 1}));
    assert!(all["next"].is_null());
    // Most recent activity first: the resolution of "mem" was the last thing to happen.
    assert_eq!(all["incidents"][0]["title"], "Memory high on web-2");

    let warnings = list(&owner, "filter[severity]=warning").await;
    assert_eq!(warnings["incidents"].as_array().unwrap().len(), 2);
    assert_eq!(warnings["counts"], serde_json::json!({"triggered": 0, "acknowledged": 1, "resolved": 1}));

    let open_warnings = list(&owner, "filter[severity]=warning&filter[status]=acknowledged").await;
    assert_eq!(open_warnings["incidents"][0]["title"], "CPU hot on web-1");
    assert_eq!(open_warnings["incidents"].as_array().unwrap().len(), 1);

    // Text matches part of the title, case aside, wildcards taken literally.
    let web = list(&owner, "filter[text]=WEB-").await;
    assert_eq!(web["incidents"].as_array().unwrap().len(), 2);
    assert_eq!(list(&owner, "filter[text]=%25").await["incidents"].as_array().unwrap().len(), 0);
    assert_eq!(list(&owner, "filter[source]=events_api").await["incidents"].as_array().unwrap().len(), 3);
    assert_eq!(list(&owner, "filter[source]=pagerduty").await["incidents"].as_array().unwrap().len(), 0);

    // A filter value that is not one of the set is refused with a clear status.
    let bad = owner.query("list_incidents?filter[status]=open").await;
    assert!(bad.status().is_client_error(), "{}", bad.status());
    app.stop().await;
}
