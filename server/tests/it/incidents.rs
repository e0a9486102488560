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
    let id = owner.team().await;
    let state = app.state();
    sqlx::query("update teams set plan = 'enterprise' where id = $1").bind(id).execute(&state.db).await.unwrap();
    let integrations = app::server::ingest::integrations::ensure(&state.db, &state.cipher, id).await.unwrap();
    let key = integrations.iter().find(|i| i.kind.as_str() == "events_api").unwrap().secrets.token.clone();
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

/// The incident with dedup key `key`.
async fn incident_id(app: &TestApp, key: &str) -> String {
    let id: Uuid =
        sqlx::query_scalar("select id from incidents where dedup_key = $1 order by first_seen_at desc limit 1")
            .bind(key)
            .fetch_one(&app.state().db)
            .await
            .unwrap();
    id.to_string()
}

async fn detail(user: &User, id: &str) -> serde_json::Value {
    let response = user.query(&format!("get_incident?id={id}")).await;
    assert_eq!(response.status(), StatusCode::OK);
    response.json().await.unwrap()
}

fn timeline_kinds(detail: &serde_json::Value) -> Vec<String> {
    detail["timeline"].as_array().unwrap().iter().map(|e| e["kind"].as_str().unwrap().to_string()).collect()
}

#[tokio::test]
async fn the_incident_page_shows_its_timeline_alerts_and_related_incidents() {
    let app = TestApp::spawn().await;
    let (owner, key) = team(&app, "page").await;
    send(&app, &key, "trigger", "db-disk", "Disk almost full on db-1", "critical").await;
    send(&app, &key, "trigger", "db-disk", "Disk almost full on db-1", "critical").await;
    send(&app, &key, "trigger", "other", "Disk almost full on db-2", "warning").await;
    send(&app, &key, "trigger", "unrelated", "Certificate expires soon", "info").await;
    let id = incident_id(&app, "db-disk").await;

    let page = detail(&owner, &id).await;
    assert_eq!(page["summary"]["title"], "Disk almost full on db-1");
    assert_eq!(page["summary"]["occurrences"], 2);
    assert_eq!(page["dedup_key"], "db-disk");
    assert_eq!(timeline_kinds(&page), ["alert.received", "alert.repeated"], "oldest first");
    assert_eq!(page["earlier_entries"], 0);
    let alerts = page["alerts"].as_array().unwrap();
    assert_eq!(alerts.len(), 2);
    let raw: serde_json::Value = serde_json::from_str(alerts[0]["raw"].as_str().unwrap()).unwrap();
    assert_eq!(raw["payload"]["summary"], "Disk almost full on db-1", "the payload as received");
    let related: Vec<(&str, &str)> = page["related"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["incident"]["title"].as_str().unwrap(), r["reason"].as_str().unwrap()))
        .collect();
    assert_eq!(related, [("Disk almost full on db-2", "similar title")]);

    let missing = owner.query(&format!("get_incident?id={}", Uuid::new_v4())).await;
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
    app.stop().await;
}

#[tokio::test]
async fn responders_acknowledge_resolve_reopen_annotate_and_change_severity_with_an_audit_trail() {
    let app = TestApp::spawn().await;
    let (owner, key) = team(&app, "respond").await;
    send(&app, &key, "trigger", "api-5xx", "API errors above 5%", "error").await;
    let id = incident_id(&app, "api-5xx").await;
    let act = |endpoint: &'static str, args: Vec<(&'static str, String)>| {
        let owner = &owner;
        async move {
            let form: Vec<(&str, &str)> = args.iter().map(|(k, v)| (*k, v.as_str())).collect();
            owner.call(endpoint, &form).await.status()
        }
    };
    let with_id = |extra: &[(&'static str, &str)]| {
        let mut args = vec![("id", id.clone())];
        args.extend(extra.iter().map(|(k, v)| (*k, v.to_string())));
        args
    };

    assert_eq!(act("acknowledge_incident", with_id(&[])).await, StatusCode::OK);
    assert_eq!(act("acknowledge_incident", with_id(&[])).await, StatusCode::CONFLICT, "already acknowledged");
    assert_eq!(act("set_incident_severity", with_id(&[("severity", "critical")])).await, StatusCode::OK);
    assert_eq!(act("add_incident_note", with_id(&[("text", "   ")])).await, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(act("add_incident_note", with_id(&[("text", "Rolled back the deploy")])).await, StatusCode::OK);
    assert_eq!(act("reopen_incident", with_id(&[])).await, StatusCode::CONFLICT, "still open");
    assert_eq!(act("resolve_incident", with_id(&[("note", "Error rate back to 0.1%")])).await, StatusCode::OK);
    assert_eq!(act("resolve_incident", with_id(&[])).await, StatusCode::CONFLICT, "already resolved");

    let page = detail(&owner, &id).await;
    assert_eq!(page["summary"]["status"], "resolved");
    assert_eq!(page["summary"]["severity"], "critical");
    assert_eq!(page["acknowledged_by"], "owner@respond.example");
    assert_eq!(page["resolved_by"], "owner@respond.example");
    assert_eq!(
        timeline_kinds(&page),
        ["alert.received", "status.acknowledged", "severity.changed", "note", "status.resolved"]
    );
    let messages: Vec<&str> =
        page["timeline"].as_array().unwrap().iter().map(|e| e["message"].as_str().unwrap()).collect();
    assert_eq!(messages[3], "Rolled back the deploy");
    assert_eq!(messages[4], "Resolved by owner@respond.example: Error rate back to 0.1%");

    // The same key fires again: a new incident opens, so the old one cannot reopen.
    send(&app, &key, "trigger", "api-5xx", "API errors above 5%", "error").await;
    assert_eq!(act("reopen_incident", with_id(&[])).await, StatusCode::CONFLICT, "a newer incident is open");
    send(&app, &key, "resolve", "api-5xx", "", "error").await;
    assert_eq!(act("reopen_incident", with_id(&[])).await, StatusCode::OK);
    let page = detail(&owner, &id).await;
    assert_eq!(page["summary"]["status"], "triggered");
    assert!(page["resolved_at"].is_null() && page["acknowledged_at"].is_null());

    let audited: Vec<String> =
        sqlx::query_scalar("select action from audit_log where target = $1 and action like 'incident.%' order by id")
            .bind(&id)
            .fetch_all(&app.state().db)
            .await
            .unwrap();
    assert_eq!(
        audited,
        ["incident.acknowledge", "incident.severity", "incident.note", "incident.resolve", "incident.reopen"]
    );
    app.stop().await;
}

#[tokio::test]
async fn incidents_reported_by_hand_count_against_the_alert_quota() {
    let app = TestApp::spawn().await;
    let owner = app.user();
    owner.sign_up("owner@manual.example", "Manual").await;
    let report = |title: &str| {
        let owner = &owner;
        let title = title.to_string();
        async move {
            owner
                .call(
                    "report_incident",
                    &[("incident[title]", &title), ("incident[severity]", "critical"), ("incident[service]", "web")],
                )
                .await
        }
    };
    let blank = report("  ").await;
    assert_eq!(blank.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(blank.text().await.unwrap().contains("Give the incident a title."));

    let mut held = Vec::new();
    for n in 0..4 {
        let response = report(&format!("Customers cannot log in ({n})")).await;
        assert_eq!(response.status(), StatusCode::OK);
        let reported: serde_json::Value = response.json().await.unwrap();
        held.push(reported["over_quota"].as_bool().unwrap());
    }
    assert_eq!(held, [false, false, false, true], "Free allows three alerts a month");
    let usage: serde_json::Value = owner.query("get_usage").await.json().await.unwrap();
    assert_eq!(usage["used"], 3);

    let page = list(&owner, "filter[source]=manual").await;
    assert_eq!(page["incidents"].as_array().unwrap().len(), 4);
    assert_eq!(page["incidents"][0]["over_quota"], true);
    let id = page["incidents"][0]["id"].as_str().unwrap();
    let incident = detail(&owner, id).await;
    assert_eq!(incident["summary"]["severity"], "critical");
    assert_eq!(incident["summary"]["service"], "web");
    assert_eq!(timeline_kinds(&incident), ["alert.received", "quota.exceeded"]);
    assert_eq!(incident["timeline"][0]["actor"], "owner@manual.example");
    app.stop().await;
}

#[tokio::test]
async fn the_dashboard_counts_what_happened_in_its_windows() {
    let app = TestApp::spawn().await;
    let (owner, key) = team(&app, "dash").await;
    let team_id = owner.team().await;
    let db = app.state().db;
    // Two incidents opened now: one open critical, one warning acknowledged after 60 s.
    send(&app, &key, "trigger", "a", "A", "critical").await;
    send(&app, &key, "trigger", "b", "B", "warning").await;
    send(&app, &key, "acknowledge", "b", "", "warning").await;
    sqlx::query("update incidents set acknowledged_at = first_seen_at + interval '60 seconds' where dedup_key = 'b'")
        .execute(&db)
        .await
        .unwrap();
    // Three days ago: resolved after 10 minutes on service "api", once by the agent.
    for (key, by) in [("c", "owner@dash.example"), ("d", app::domain::incident::AGENT_NAME)] {
        sqlx::query(
            "insert into incidents (id, team_id, title, severity, status, service, source, dedup_key, analysis,
                                    first_seen_at, last_seen_at, acknowledged_at, resolved_at, resolved_by)
             values (gen_random_uuid(), $1, 'old', 'error', 'resolved', 'api', 'rest', $2, 'eligible',
                     now() - interval '3 days', now() - interval '3 days',
                     now() - interval '3 days' + interval '120 seconds',
                     now() - interval '3 days' + interval '600 seconds', $3)",
        )
        .bind(team_id)
        .bind(key)
        .bind(by)
        .execute(&db)
        .await
        .unwrap();
    }
    // Forty days ago: outside every window.
    sqlx::query(
        "insert into incidents (id, team_id, title, severity, status, source, dedup_key, analysis, first_seen_at)
         values (gen_random_uuid(), $1, 'ancient', 'info', 'triggered', 'rest', 'e', 'eligible',
                 now() - interval '40 days')",
    )
    .bind(team_id)
    .execute(&db)
    .await
    .unwrap();

    let response = owner.query("get_dashboard").await;
    assert_eq!(response.status(), StatusCode::OK);
    let stats: serde_json::Value = response.json().await.unwrap();
    assert_eq!(
        stats["open_by_severity"],
        serde_json::json!([["critical", 1], ["error", 0], ["warning", 1], ["info", 1]]),
        "every open incident, however old"
    );
    assert_eq!(
        stats["severity_mix"],
        serde_json::json!([["critical", 1], ["error", 2], ["warning", 1], ["info", 0]]),
        "incidents opened in the last 30 days"
    );
    let times = stats["response_times"].as_array().unwrap();
    assert_eq!(times[0]["window"], "24 h");
    assert_eq!(times[0]["mtta_secs"], 60.0);
    assert!(times[0]["mttr_secs"].is_null(), "nothing opened today was resolved");
    assert_eq!(times[1]["mtta_secs"], 100.0, "(60 + 120 + 120) / 3");
    assert_eq!(times[1]["mttr_secs"], 600.0);
    assert_eq!(stats["resolved_30d"], 2);
    assert_eq!(stats["resolved_by_agent_30d"], 1);
    assert_eq!(stats["top_services"], serde_json::json!([["api", 2]]));
    let per_day = stats["alerts_per_day"].as_array().unwrap();
    assert_eq!(per_day.len(), 30);
    assert_eq!(per_day[29][1], 3, "today's three alerts");
    assert_eq!(per_day.iter().map(|d| d[1].as_i64().unwrap()).sum::<i64>(), 3);
    let activity = stats["activity"].as_array().unwrap();
    assert_eq!(activity[0]["entry"]["kind"], "status.acknowledged", "latest first");
    assert_eq!(activity[0]["incident_title"], "B");
    app.stop().await;
}

/// The daily rollups the dashboard reads that differ from the incidents and alerts they
/// count (recomputed here from scratch), as text.
async fn rollup_differences(db: &sqlx::PgPool) -> Vec<String> {
    let rows: Vec<(String,)> = sqlx::query_as(
        "with fresh as (
             select team_id, (first_seen_at at time zone 'UTC')::date as day, severity, coalesce(service, '') as service,
                    count(*) as opened, count(acknowledged_at) as acknowledged,
                    coalesce(sum(round(extract(epoch from acknowledged_at - first_seen_at) * 1000)), 0)::int8 as ack_ms,
                    count(resolved_at) as resolved,
                    coalesce(sum(round(extract(epoch from resolved_at - first_seen_at) * 1000)), 0)::int8 as resolve_ms,
                    count(*) filter (where resolved_by = 'DreamOps agent') as resolved_by_agent
             from incidents group by 1, 2, 3, 4),
         kept as (
             select team_id, day, severity, service, opened, acknowledged, ack_ms, resolved, resolve_ms, resolved_by_agent
             from incident_days where opened <> 0),
         alerts_fresh as (select team_id, (received_at at time zone 'UTC')::date as day, count(*) as alerts from alerts group by 1, 2)
         select 'missing ' || f::text from (select * from fresh except select * from kept) f
         union all select 'stray ' || k::text from (select * from kept except select * from fresh) k
         union all select 'alerts missing ' || a::text from (select * from alerts_fresh except select team_id, day, alerts from alert_days) a
         union all select 'alerts stray ' || a::text from (select team_id, day, alerts from alert_days except select * from alerts_fresh) a",
    )
    .fetch_all(db)
    .await
    .unwrap();
    rows.into_iter().map(|(row,)| row).collect()
}

#[tokio::test]
async fn the_dashboards_daily_rollups_always_equal_what_they_count() {
    let app = TestApp::spawn().await;
    let (owner, key) = team(&app, "rollups").await;
    let (_, other_key) = team(&app, "rollups-other").await;
    let db = app.state().db;
    // Ingestion's set-based batches: triggers, repeats, acknowledgements and resolutions
    // of two teams at once.
    join_all((0..200).map(|n| {
        let (key, action) = match n % 5 {
            0 | 1 => (&key, "trigger"),
            2 => (&other_key, "trigger"),
            3 => (&key, "acknowledge"),
            _ => (&key, "resolve"),
        };
        let severity = ["critical", "error", "warning", "info"][n % 4];
        enqueue(
            app.client.clone(),
            app.address.clone(),
            event(key, action, &format!("k{}", n % 23), "rolled up", severity),
        )
    }))
    .await;
    assert_eq!(rollup_differences(&db).await, Vec::<String>::new(), "after ingestion");

    // Responders' changes, the agent's resolution and edits by hand.
    let all: Vec<(Uuid,)> =
        sqlx::query_as("select id from incidents order by first_seen_at, id").fetch_all(&db).await.unwrap();
    let open = list(&owner, "filter[status]=triggered").await;
    for (n, id) in ids(&open).iter().enumerate() {
        let endpoint = if n % 2 == 0 { "acknowledge_incident" } else { "resolve_incident" };
        assert_eq!(owner.call(endpoint, &[("id", id)]).await.status(), StatusCode::OK);
    }
    // Alerts raced, so a resolved incident may have a newer open one with its dedup key,
    // which rightly refuses to be reopened (and so does a second one of a key once the
    // first is open again): reopen one each of keys with nothing open.
    let reopenable: Vec<(Uuid,)> = sqlx::query_as(
        "select id from (select distinct on (dedup_key) id, dedup_key from incidents resolved
                         where status = 'resolved' and team_id = $1
                           and not exists (select 1 from incidents newer
                                           where newer.team_id = resolved.team_id
                                             and newer.dedup_key = resolved.dedup_key
                                             and newer.status <> 'resolved')
                         order by dedup_key, id) one_per_key
         order by id limit 3",
    )
    .bind(owner.team().await)
    .fetch_all(&db)
    .await
    .unwrap();
    assert_eq!(reopenable.len(), 3, "three resolved incidents to reopen");
    for id in reopenable.iter().map(|(id,)| id.to_string()) {
        let id = id.as_str();
        assert_eq!(owner.call("reopen_incident", &[("id", id)]).await.status(), StatusCode::OK);
        assert_eq!(
            owner.call("set_incident_severity", &[("id", id), ("severity", "info")]).await.status(),
            StatusCode::OK
        );
    }
    sqlx::query(
        "update incidents set status = 'resolved', resolved_at = first_seen_at + interval '90.5 seconds',
                resolved_by = 'DreamOps agent', service = 'moved'
         where id in (select id from incidents where status <> 'resolved' limit 2)",
    )
    .execute(&db)
    .await
    .unwrap();
    sqlx::query("update incidents set first_seen_at = first_seen_at - interval '3 days' where id = $1")
        .bind(all[0].0)
        .execute(&db)
        .await
        .unwrap();
    sqlx::query("delete from incidents where id = $1").bind(all[1].0).execute(&db).await.unwrap();
    assert_eq!(rollup_differences(&db).await, Vec::<String>::new(), "after every kind of change");
    app.stop().await;
}

#[tokio::test]
async fn the_activity_feed_folds_the_agents_steps_into_one_line() {
    let app = TestApp::spawn().await;
    let (owner, key) = team(&app, "feed").await;
    send(&app, &key, "trigger", "oom", "memory-hog OOMKilled", "critical").await;
    let id: Uuid = incident_id(&app, "oom").await.parse().unwrap();
    let team = owner.team().await;
    let db = &app.state().db;
    let append = |kind: &'static str, actor: &'static str, message: String| async move {
        app::server::db::timeline::append(db, team, id, kind, actor, &message).await.unwrap();
    };
    let agent = app::domain::incident::AGENT_NAME;
    append("agent.started", agent, "Analysis started".into()).await;
    for step in 1..=9 {
        append("agent.step", agent, format!("Step {step}")).await;
    }
    append("agent.diagnosis", agent, "Diagnosis (high confidence): OOMKilled".into()).await;
    append("note", "owner@feed.example", "Looking into it".into()).await;
    append("agent.step", agent, "Rechecked the pods".into()).await;

    let stats: serde_json::Value = owner.query("get_dashboard").await.json().await.unwrap();
    let lines: Vec<(String, String)> = stats["activity"]
        .as_array()
        .unwrap()
        .iter()
        .map(|item| (item["entry"]["kind"].as_str().unwrap().into(), item["entry"]["message"].as_str().unwrap().into()))
        .collect();
    let kinds: Vec<&str> = lines.iter().map(|(kind, _)| kind.as_str()).collect();
    assert_eq!(kinds[..3], ["agent.step", "note", "agent.analysis"], "{lines:?}");
    assert_eq!(lines[0].1, "Rechecked the pods", "a single step stays as it is");
    assert_eq!(lines[2].1, "Analysed: 11 steps — Diagnosis (high confidence): OOMKilled");
    assert!(lines.len() <= 5, "the alert's own entries follow, not the steps: {lines:?}");
    app.stop().await;
}
