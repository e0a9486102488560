//! Notion against a loopback server speaking Notion's documented JSON (`Notion-Version:
//! 2022-06-28`), with the requests asserted: the connection test and a refused token;
//! runbooks imported from a database across `next_cursor` pages, their text from the
//! pages' blocks, kept in sync by the periodic job (an edited page a new version, an
//! archived one removed, an unchanged one not read again); failures (a revoked token, a
//! rate limit) that leave the runbooks as they were and say why; a post-mortem exported
//! as a page, its blocks beyond Notion's 100 per request appended.

use std::sync::{Arc, Mutex};

use chrono::{DateTime, Duration, Utc};
use serde_json::{Value, json};

use app::api::incidents::ResolveIncident;
use app::api::notion::{
    ConnectNotion, ExportPostmortemToNotion, GetNotion, SetNotionPlaces, SyncNotionRunbooks, TestNotion,
};
use app::api::postmortems::{SavePostmortem, StartPostmortem};
use app::api::runbooks::{GetRunbook, ListRunbooks, SaveRunbook};
use app::error::AppError;

use crate::agent::analysis;
use crate::demo_cluster::with_demo_cluster;
use crate::github::crash_loop;
use crate::support::{TestApp, User};

const TOKEN: &str = "secret_loopback0123456789";
const DATABASE: &str = "1429989f-e8ac-4eff-bc8f-57f56486db54";
const PARENT: &str = "b55c9c91-384d-452b-81db-d1ef79372b75";

/// One request the loopback Notion received.
#[derive(Clone, Debug)]
struct Received {
    method: String,
    path: String,
    query: String,
    headers: axum::http::HeaderMap,
    body: Value,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
enum Mode {
    #[default]
    Normal,
    /// 401 `unauthorized` to everything.
    Revoked,
    /// 429 `rate_limited` with `Retry-After: 30`.
    RateLimited,
}

/// A page of the runbooks database.
#[derive(Clone, Debug)]
struct RunbookPage {
    id: String,
    title: String,
    alerts: Vec<&'static str>,
    services: &'static str,
    labels: &'static str,
    edited: DateTime<Utc>,
    archived: bool,
    blocks: Vec<Value>,
}

#[derive(Default)]
struct Loopback {
    received: Vec<Received>,
    mode: Mode,
    pages: Vec<RunbookPage>,
}

type Shared = Arc<Mutex<Loopback>>;

fn text(kind: &str, content: &str) -> Value {
    json!({"object": "block", "id": uuid::Uuid::new_v4().to_string(), "type": kind, "has_children": false,
           kind: {"rich_text": [{"type": "text", "text": {"content": content, "link": null}, "plain_text": content,
                                  "annotations": {"bold": false}, "href": null}], "color": "default"}})
}

fn page_json(page: &RunbookPage) -> Value {
    let rich = |content: &str| json!([{"type": "text", "text": {"content": content}, "plain_text": content}]);
    json!({
        "object": "page", "id": page.id, "created_time": "2026-11-01T09:00:00.000Z",
        "last_edited_time": page.edited.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        "archived": page.archived, "in_trash": page.archived,
        "url": format!("https://www.notion.so/{}", page.id.replace('-', "")),
        "parent": {"type": "database_id", "database_id": DATABASE},
        "properties": {
            "Name": {"id": "title", "type": "title", "title": rich(&page.title)},
            "Alerts": {"id": "a1", "type": "multi_select", "multi_select": page.alerts.iter().map(|name| json!({"id": "x", "name": name, "color": "red"})).collect::<Vec<_>>()},
            "Services": {"id": "s1", "type": "rich_text", "rich_text": rich(page.services)},
            "Labels": {"id": "l1", "type": "rich_text", "rich_text": rich(page.labels)},
        }
    })
}

fn error(status: axum::http::StatusCode, code: &str, message: &str) -> axum::response::Response {
    use axum::response::IntoResponse as _;
    let body = json!({"object": "error", "status": status.as_u16(), "code": code, "message": message});
    (status, axum::Json(body)).into_response()
}

async fn loopback_notion() -> (String, Shared) {
    use axum::extract::{Request, State};
    use axum::http::StatusCode;
    use axum::response::IntoResponse as _;
    let shared: Shared = Arc::default();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let answer = move |State(shared): State<Shared>, request: Request| async move {
        let (parts, body) = request.into_parts();
        let body = axum::body::to_bytes(body, 1 << 22).await.unwrap();
        let body: Value = serde_json::from_slice(&body).unwrap_or_default();
        let path = parts.uri.path().to_string();
        let query = parts.uri.query().unwrap_or("").to_string();
        let mut notion = shared.lock().unwrap();
        notion.received.push(Received {
            method: parts.method.to_string(),
            path: path.clone(),
            query: query.clone(),
            headers: parts.headers.clone(),
            body: body.clone(),
        });
        match notion.mode {
            Mode::Revoked => return error(StatusCode::UNAUTHORIZED, "unauthorized", "API token is invalid."),
            Mode::RateLimited => {
                let mut response = error(StatusCode::TOO_MANY_REQUESTS, "rate_limited", "You have been rate limited.");
                response.headers_mut().insert("retry-after", "30".parse().unwrap());
                return response;
            }
            Mode::Normal => {}
        }
        let bearer = parts.headers.get("authorization").and_then(|v| v.to_str().ok()).unwrap_or("");
        if bearer != format!("Bearer {TOKEN}") {
            return error(StatusCode::UNAUTHORIZED, "unauthorized", "API token is invalid.");
        }
        if parts.headers.get("notion-version").is_none_or(|v| v != "2022-06-28") {
            return error(StatusCode::BAD_REQUEST, "missing_version", "Notion-Version header failed validation.");
        }
        let method = parts.method.as_str();
        match (method, path.as_str()) {
            ("GET", "/v1/users/me") => {
                axum::Json(json!({"object": "user", "id": "5e3b", "name": "DreamOps", "type": "bot",
                "bot": {"owner": {"type": "workspace", "workspace": true}, "workspace_name": "Acme"}}))
                .into_response()
            }
            ("POST", query_path) if query_path == format!("/v1/databases/{DATABASE}/query") => {
                // Two pages of results: the first ends with a cursor.
                let pages: Vec<Value> = notion.pages.iter().map(page_json).collect();
                let (results, more) = if body["start_cursor"] == "cursor-2" {
                    (pages[2.min(pages.len())..].to_vec(), false)
                } else {
                    (pages[..2.min(pages.len())].to_vec(), pages.len() > 2)
                };
                axum::Json(json!({"object": "list", "results": results, "has_more": more,
                    "next_cursor": if more { json!("cursor-2") } else { Value::Null }, "type": "page_or_database"}))
                .into_response()
            }
            ("POST", "/v1/databases/00000000-0000-0000-0000-000000000000/query") => {
                error(StatusCode::NOT_FOUND, "object_not_found", "Could not find database.")
            }
            ("GET", children) if children.starts_with("/v1/blocks/") && children.ends_with("/children") => {
                let id = &children["/v1/blocks/".len()..children.len() - "/children".len()];
                let Some(page) = notion.pages.iter().find(|page| page.id == id) else {
                    return error(StatusCode::NOT_FOUND, "object_not_found", "Could not find block.");
                };
                // A page's blocks come 2 at a time here, to follow the cursor.
                let from: usize = query
                    .split('&')
                    .find_map(|pair| pair.strip_prefix("start_cursor="))
                    .and_then(|cursor| cursor.parse().ok())
                    .unwrap_or(0);
                let results: Vec<Value> = page.blocks.iter().skip(from).take(2).cloned().collect();
                let more = from + 2 < page.blocks.len();
                axum::Json(json!({"object": "list", "results": results, "has_more": more,
                    "next_cursor": if more { json!((from + 2).to_string()) } else { Value::Null }, "type": "block"}))
                .into_response()
            }
            ("POST", "/v1/pages") => {
                if body["children"].as_array().is_some_and(|blocks| blocks.len() > 100) {
                    return error(
                        StatusCode::BAD_REQUEST,
                        "validation_error",
                        "body.children.length should be ≤ `100`.",
                    );
                }
                let id = "7c0d2a31-90c4-4b6e-9d1e-2f8a61c0b9aa";
                axum::Json(json!({"object": "page", "id": id, "url": format!("https://www.notion.so/Post-mortem-{}", id.replace('-', "")),
                    "parent": body["parent"], "properties": body["properties"]}))
                .into_response()
            }
            ("PATCH", append) if append.starts_with("/v1/blocks/") && append.ends_with("/children") => {
                if body["children"].as_array().is_none_or(|blocks| blocks.len() > 100) {
                    return error(
                        StatusCode::BAD_REQUEST,
                        "validation_error",
                        "body.children.length should be ≤ `100`.",
                    );
                }
                axum::Json(
                    json!({"object": "list", "results": body["children"], "has_more": false, "next_cursor": null}),
                )
                .into_response()
            }
            _ => (StatusCode::NOT_FOUND, axum::Json(json!({"object": "error", "code": "object_not_found"})))
                .into_response(),
        }
    };
    let router = axum::Router::new().fallback(answer).with_state(shared.clone());
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    (base, shared)
}

async fn with_notion() -> (TestApp, Shared) {
    let (base, notion) = loopback_notion().await;
    let app = TestApp::spawn_with(|settings| settings.notion_api_base = base.clone()).await;
    (app, notion)
}

async fn connect(owner: &User) {
    assert_eq!(owner.run(ConnectNotion { token: TOKEN.into() }).await.unwrap(), "DreamOps in Acme");
}

fn runbook_pages() -> Vec<RunbookPage> {
    let at = Utc::now() - Duration::hours(2);
    vec![
        RunbookPage {
            id: "0f5c7e8a-1b2c-4d3e-8f9a-0b1c2d3e4f50".into(),
            title: "Crash-looping pods".into(),
            alerts: vec!["KubePodCrashLooping"],
            services: "checkout, payments",
            labels: "severity=warning",
            edited: at,
            archived: false,
            blocks: vec![
                text("heading_2", "First"),
                text("numbered_list_item", "Read the previous log"),
                text("numbered_list_item", "Roll back the last release"),
                text("paragraph", "Then tell the channel."),
                json!({"object": "block", "id": "c0de", "type": "code", "code": {"rich_text": [{"type": "text", "plain_text": "kubectl rollout undo deploy/web", "text": {"content": "kubectl rollout undo deploy/web"}}], "language": "shell"}}),
            ],
        },
        RunbookPage {
            id: "1a2b3c4d-5e6f-4a8b-9c0d-1e2f3a4b5c6d".into(),
            title: "Out of memory".into(),
            alerts: vec!["KubeContainerOOMKilled", "KubeMemoryOvercommit"],
            services: "",
            labels: "",
            edited: at,
            archived: false,
            blocks: vec![text("to_do", "Raise the memory limit")],
        },
        RunbookPage {
            id: "2b3c4d5e-6f7a-4b9c-8d1e-2f3a4b5c6d7e".into(),
            title: "Disk full".into(),
            alerts: vec!["KubePersistentVolumeFillingUp"],
            services: "",
            labels: "",
            edited: at,
            archived: false,
            blocks: vec![text("bulleted_list_item", "Delete old snapshots")],
        },
    ]
}

#[tokio::test]
async fn runbooks_are_imported_from_a_notion_database_and_kept_in_sync_by_the_periodic_job() {
    let (app, notion) = with_notion().await;
    let owner = app.user();
    owner.sign_up("owner@notion.example", "Notion").await;
    notion.lock().unwrap().pages = runbook_pages();

    let refused = owner.run(ConnectNotion { token: "secret_wrong".into() }).await;
    assert!(
        matches!(&refused, Err(AppError::Validation(e)) if e[0].message.contains("Notion refused the token")),
        "{refused:?}"
    );
    connect(&owner).await;
    let request = notion.lock().unwrap().received.last().cloned().unwrap();
    assert_eq!((request.method.as_str(), request.path.as_str()), ("GET", "/v1/users/me"));
    assert_eq!(request.headers["notion-version"], "2022-06-28");
    let stored: Vec<u8> =
        sqlx::query_scalar("select token from notion_connections").fetch_one(&app.db().await).await.unwrap();
    assert!(!String::from_utf8_lossy(&stored).contains(TOKEN), "the token is sealed");
    assert_eq!(owner.run(TestNotion {}).await.unwrap(), "DreamOps in Acme");

    let wrong =
        owner.run(SetNotionPlaces { runbooks_database: "runbooks".into(), postmortems_page: String::new() }).await;
    assert!(matches!(wrong, Err(AppError::Validation(_))), "{wrong:?}");
    let address = format!("https://www.notion.so/acme/Runbooks-{}?v=5d1", DATABASE.replace('-', ""));
    let placed =
        owner.run(SetNotionPlaces { runbooks_database: address, postmortems_page: String::new() }).await.unwrap();
    assert_eq!(placed.runbooks_database.as_deref(), Some(DATABASE));

    let synced = owner.run(SyncNotionRunbooks {}).await.unwrap();
    assert_eq!((synced.synced_runbooks, synced.sync_error.as_deref()), (3, None), "{synced:?}");
    let queries: Vec<Received> =
        notion.lock().unwrap().received.iter().filter(|r| r.path.ends_with("/query")).cloned().collect();
    assert_eq!(queries.len(), 2, "the second page of results was followed");
    assert_eq!(queries[0].body, json!({"page_size": 100}));
    assert_eq!(queries[1].body, json!({"page_size": 100, "start_cursor": "cursor-2"}));

    let children: Vec<String> = notion
        .lock()
        .unwrap()
        .received
        .iter()
        .filter(|r| r.path == format!("/v1/blocks/{}/children", runbook_pages()[0].id))
        .map(|r| r.query.clone())
        .collect();
    assert_eq!(children, ["page_size=100", "page_size=100&start_cursor=2", "page_size=100&start_cursor=4"]);
    let runbooks = owner.run(ListRunbooks { search: None }).await.unwrap();
    assert_eq!(runbooks.len(), 3);
    let crash = runbooks.iter().find(|r| r.title == "Crash-looping pods").unwrap();
    assert_eq!(crash.matching.alert_names, ["KubePodCrashLooping"]);
    assert_eq!(crash.matching.services, ["checkout", "payments"]);
    assert_eq!(crash.matching.labels, [("severity".to_string(), "warning".to_string())]);
    assert_eq!(crash.updated_by, "Notion sync");
    assert!(crash.notion_url.as_deref().is_some_and(|url| url.starts_with("https://www.notion.so/")));
    let whole = owner.run(GetRunbook { id: crash.id }).await.unwrap();
    assert_eq!(
        whole.body,
        "## First\n\n1. Read the previous log\n1. Roll back the last release\n\nThen tell the channel.\n\n```shell\nkubectl rollout undo deploy/web\n```",
        "all of the page's blocks, across their cursor"
    );
    let edit = SaveRunbook {
        id: Some(crash.id),
        version: Some(1),
        title: "Mine now".into(),
        body: "x".into(),
        alert_names: String::new(),
        services: String::new(),
        labels: String::new(),
    };
    let refused = owner.run(edit).await;
    assert!(matches!(&refused, Err(AppError::Conflict(said)) if said.contains("edit it there")), "{refused:?}");

    // In Notion: one page edited, one archived, one untouched; a new page without a title.
    {
        let mut notion = notion.lock().unwrap();
        notion.received.clear();
        notion.pages[0].edited = Utc::now();
        notion.pages[0].blocks = vec![text("numbered_list_item", "Roll back first")];
        notion.pages[2].archived = true;
        let mut untitled = runbook_pages()[1].clone();
        untitled.id = "3c4d5e6f-7a8b-4c0d-9e2f-3a4b5c6d7e8f".into();
        untitled.title = String::new();
        notion.pages.push(untitled);
    }
    // The periodic job syncs teams whose last sync is older than its period: this one's
    // was a moment ago, so it waits; 20 minutes later it is due.
    assert_eq!(app::server::notion::sync_due(&app.state()).await, 0);
    sqlx::query("update notion_connections set synced_at = now() - interval '20 minutes'")
        .execute(&app.db().await)
        .await
        .unwrap();
    assert_eq!(app::server::notion::sync_due(&app.state()).await, 1);

    let read: Vec<String> = notion.lock().unwrap().received.iter().map(|r| r.path.clone()).collect();
    assert!(!read.iter().any(|path| path.contains(&runbook_pages()[1].id)), "an unchanged page is not read: {read:?}");
    let runbooks = owner.run(ListRunbooks { search: None }).await.unwrap();
    let titles: Vec<&str> = runbooks.iter().map(|r| r.title.as_str()).collect();
    assert_eq!(titles.len(), 2, "the archived page's runbook is gone: {titles:?}");
    let crash = runbooks.iter().find(|r| r.title == "Crash-looping pods").unwrap();
    assert_eq!(crash.version, 2, "the edit is a new version");
    let whole = owner.run(GetRunbook { id: crash.id }).await.unwrap();
    assert_eq!(whole.body, "1. Roll back first");
    assert_eq!(whole.versions.len(), 2);
    let settings = owner.run(GetNotion {}).await.unwrap();
    assert_eq!(settings.synced_runbooks, 2);
    let said = settings.sync_error.unwrap_or_default();
    assert!(said.starts_with("1 page not imported: a page without a title: "), "{said}");
    app.stop().await;
}

#[tokio::test]
async fn notion_failures_leave_the_runbooks_as_they_were_and_say_why() {
    let (app, notion) = with_notion().await;
    let owner = app.user();
    owner.sign_up("owner@notion-down.example", "Notion down").await;
    notion.lock().unwrap().pages = runbook_pages();
    connect(&owner).await;
    owner.run(SetNotionPlaces { runbooks_database: DATABASE.into(), postmortems_page: String::new() }).await.unwrap();
    owner.run(SyncNotionRunbooks {}).await.unwrap();

    for (mode, said) in [
        (Mode::Revoked, "Notion refused the token (HTTP 401)"),
        (Mode::RateLimited, "Notion's rate limit is reached until"),
    ] {
        {
            let mut notion = notion.lock().unwrap();
            notion.mode = mode;
            notion.pages.clear();
        }
        let failed = owner.run(SyncNotionRunbooks {}).await;
        assert!(matches!(&failed, Err(AppError::Conflict(e)) if e.contains(said)), "{mode:?}: {failed:?}");
        assert_eq!(owner.run(ListRunbooks { search: None }).await.unwrap().len(), 3, "{mode:?}: nothing removed");
        let settings = owner.run(GetNotion {}).await.unwrap();
        assert!(settings.sync_error.is_some_and(|e| e.contains(said)), "{mode:?}");
        assert_eq!(settings.synced_runbooks, 3);
    }
    notion.lock().unwrap().mode = Mode::Normal;
    owner
        .run(SetNotionPlaces {
            runbooks_database: "00000000000000000000000000000000".into(),
            postmortems_page: String::new(),
        })
        .await
        .unwrap();
    let failed = owner.run(SyncNotionRunbooks {}).await;
    assert!(
        matches!(&failed, Err(AppError::Conflict(e)) if e.contains("not shared with the integration")),
        "{failed:?}"
    );
    app.stop().await;
}

#[tokio::test]
async fn a_post_mortem_is_exported_as_a_notion_page_with_its_blocks_appended_past_a_hundred() {
    let (app, notion) = with_notion().await;
    let (owner, cluster, _) = with_demo_cluster(&app, "owner@notion-pm.example").await;
    let (incident, _) = crash_loop(&app, &owner, cluster).await;
    analysis(&owner, incident).await;
    owner.run(ResolveIncident { id: incident, note: Some("rolled back".into()) }).await.unwrap();
    let postmortem = owner.run(StartPostmortem { incident }).await.unwrap();
    let id = postmortem.summary.id;

    let refused = owner.run(ExportPostmortemToNotion { id }).await;
    assert!(matches!(&refused, Err(AppError::Conflict(e)) if e.contains("Connect Notion")), "{refused:?}");
    connect(&owner).await;
    let refused = owner.run(ExportPostmortemToNotion { id }).await;
    assert!(matches!(&refused, Err(AppError::Conflict(e)) if e.contains("Choose the Notion page")), "{refused:?}");
    owner.run(SetNotionPlaces { runbooks_database: String::new(), postmortems_page: PARENT.into() }).await.unwrap();

    // Long enough for two requests: 150 more action items.
    let extra: String = (1..=150).map(|n| format!("- [ ] Follow-up {n}\n")).collect();
    let body = format!("{}{extra}", postmortem.body);
    owner.run(SavePostmortem { id, version: postmortem.summary.version, body: body.clone() }).await.unwrap();
    notion.lock().unwrap().received.clear();
    let url = owner.run(ExportPostmortemToNotion { id }).await.unwrap();
    assert!(url.starts_with("https://www.notion.so/Post-mortem-"), "{url}");

    let sent: Vec<Received> = notion.lock().unwrap().received.clone();
    assert_eq!((sent[0].method.as_str(), sent[0].path.as_str()), ("POST", "/v1/pages"));
    assert_eq!(sent[0].body["parent"], json!({"page_id": PARENT}));
    assert_eq!(sent[0].body["properties"]["title"]["title"][0]["text"]["content"], postmortem.summary.title);
    let first = sent[0].body["children"].as_array().unwrap();
    assert_eq!(first.len(), 100);
    assert_eq!(first[0]["type"], "heading_1");
    let appended: Vec<&Received> = sent[1..].iter().filter(|r| r.method == "PATCH").collect();
    assert_eq!(appended[0].path, "/v1/blocks/7c0d2a31-90c4-4b6e-9d1e-2f8a61c0b9aa/children");
    let total = 100 + appended.iter().map(|r| r.body["children"].as_array().unwrap().len()).sum::<usize>();
    let expected = app::server::notion::blocks::from_markdown(&body).len();
    assert_eq!(total, expected + 2, "every block, then the divider and the link back");
    let last = appended.last().unwrap().body["children"].as_array().unwrap().last().cloned().unwrap();
    let link = last["paragraph"]["rich_text"][0]["text"]["content"].as_str().unwrap().to_string();
    assert!(link.contains(&format!("/postmortems/{id}")), "{link}");
    assert!(sent.iter().all(|r| r.headers["notion-version"] == "2022-06-28"));
    let stored = owner.run(app::api::postmortems::GetPostmortem { id }).await.unwrap();
    assert_eq!(stored.notion_url.as_deref(), Some(url.as_str()));
    app.stop().await;
}
