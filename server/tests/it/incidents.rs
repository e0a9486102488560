//! The incident list: filters, status counts, and keyset pages that stay correct while
//! incidents arrive.

use std::collections::HashSet;

use app::api::incidents::{
    AcknowledgeIncident, AddIncidentNote, GetDashboard, GetIncident, ListIncidents, ReopenIncident, ReportIncident,
    ResolveIncident, SetIncidentSeverity,
};
use app::api::integrations::GetUsage;
use app::domain::incident::{
    IncidentDetail, IncidentFilter, IncidentPage, IncidentStatus, NewIncident, Severity, StatusCounts,
};
use app::error::AppError;
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

/// The first page of incidents `filter` lets through.
async fn list(user: &User, filter: IncidentFilter) -> IncidentPage {
    user.run(ListIncidents { filter, after: None }).await.expect("the incidents are listed")
}

fn ids(page: &IncidentPage) -> Vec<Uuid> {
    page.incidents.iter().map(|incident| incident.id).collect()
}

fn titles(page: &IncidentPage) -> Vec<&str> {
    page.incidents.iter().map(|incident| incident.title.as_str()).collect()
}

fn counts(triggered: i64, acknowledged: i64, resolved: i64) -> StatusCounts {
    StatusCounts { triggered, acknowledged, resolved }
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
    let mut page = list(&owner, IncidentFilter::default()).await;
    let mut arrived = 0;
    loop {
        seen.extend(ids(&page));
        // New incidents arrive between pages; they belong before the first page.
        for _ in 0..7 {
            send(&app, &key, "trigger", &format!("new-{arrived}"), "new", "error").await;
            arrived += 1;
        }
        let Some(next) = page.next.take() else { break };
        page = owner.run(ListIncidents { filter: IncidentFilter::default(), after: Some(next) }).await.unwrap();
    }
    let unique: HashSet<&Uuid> = seen.iter().collect();
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

    let all = list(&owner, IncidentFilter::default()).await;
    assert_eq!(all.incidents.len(), 3);
    assert_eq!(all.counts, counts(1, 1, 1));
    assert_eq!(all.next, None);
    // Most recent activity first: the resolution of "mem" was the last thing to happen.
    assert_eq!(all.incidents[0].title, "Memory high on web-2");

    let warning = || IncidentFilter { severity: Some(Severity::Warning), ..IncidentFilter::default() };
    let warnings = list(&owner, warning()).await;
    assert_eq!(warnings.incidents.len(), 2);
    assert_eq!(warnings.counts, counts(0, 1, 1));

    let open_warnings = list(&owner, IncidentFilter { status: Some(IncidentStatus::Acknowledged), ..warning() }).await;
    assert_eq!(titles(&open_warnings), ["CPU hot on web-1"]);

    // Text matches part of the title, case aside, wildcards taken literally.
    let text = |text: &str| IncidentFilter { text: Some(text.into()), ..IncidentFilter::default() };
    assert_eq!(list(&owner, text("WEB-")).await.incidents.len(), 2);
    assert_eq!(list(&owner, text("%")).await.incidents.len(), 0);
    let source = |source: &str| IncidentFilter { source: Some(source.into()), ..IncidentFilter::default() };
    assert_eq!(list(&owner, source("events_api")).await.incidents.len(), 3);
    assert_eq!(list(&owner, source("pagerduty")).await.incidents.len(), 0);

    // A filter value that is not one of the set is refused with a clear status (typed
    // arguments cannot say it: the raw query does).
    let bad = owner.query("list_incidents?filter[status]=open").await;
    assert!(bad.status().is_client_error(), "{}", bad.status());
    app.stop().await;
}

/// The incident with dedup key `key`.
async fn incident_id(app: &TestApp, key: &str) -> Uuid {
    sqlx::query_scalar("select id from incidents where dedup_key = $1 order by first_seen_at desc limit 1")
        .bind(key)
        .fetch_one(&app.state().db)
        .await
        .unwrap()
}

async fn detail(user: &User, id: Uuid) -> IncidentDetail {
    user.run(GetIncident { id }).await.expect("the incident is shown")
}

fn timeline_kinds(detail: &IncidentDetail) -> Vec<&str> {
    detail.timeline.iter().map(|entry| entry.kind.as_str()).collect()
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

    let page = detail(&owner, id).await;
    assert_eq!(page.summary.title, "Disk almost full on db-1");
    assert_eq!(page.summary.occurrences, 2);
    assert_eq!(page.dedup_key, "db-disk");
    assert_eq!(timeline_kinds(&page), ["alert.received", "alert.repeated"], "oldest first");
    assert_eq!(page.earlier_entries, 0);
    assert_eq!(page.alerts.len(), 2);
    let raw: serde_json::Value = serde_json::from_str(&page.alerts[0].raw).unwrap();
    assert_eq!(raw["payload"]["summary"], "Disk almost full on db-1", "the payload as received");
    let related: Vec<(&str, &str)> =
        page.related.iter().map(|r| (r.incident.title.as_str(), r.reason.as_str())).collect();
    assert_eq!(related, [("Disk almost full on db-2", "similar title")]);

    assert_eq!(owner.run(GetIncident { id: Uuid::new_v4() }).await, Err(AppError::NotFound));
    app.stop().await;
}

#[tokio::test]
async fn responders_acknowledge_resolve_reopen_annotate_and_change_severity_with_an_audit_trail() {
    let app = TestApp::spawn().await;
    let (owner, key) = team(&app, "respond").await;
    send(&app, &key, "trigger", "api-5xx", "API errors above 5%", "error").await;
    let id = incident_id(&app, "api-5xx").await;
    let conflict = |result: Result<(), AppError>| matches!(result, Err(AppError::Conflict(_)));
    let note = |text: &str| AddIncidentNote { id, text: text.into() };
    let resolve = |note: Option<&str>| ResolveIncident { id, note: note.map(String::from) };

    owner.run(AcknowledgeIncident { id }).await.expect("acknowledged");
    assert!(conflict(owner.run(AcknowledgeIncident { id }).await), "already acknowledged");
    owner.run(SetIncidentSeverity { id, severity: Severity::Critical }).await.expect("severity changed");
    let blank = owner.run(note("   ")).await;
    assert!(matches!(&blank, Err(AppError::Validation(fields)) if fields[0].field == "text"), "{blank:?}");
    owner.run(note("Rolled back the deploy")).await.expect("noted");
    assert!(conflict(owner.run(ReopenIncident { id }).await), "still open");
    owner.run(resolve(Some("Error rate back to 0.1%"))).await.expect("resolved");
    assert!(conflict(owner.run(resolve(None)).await), "already resolved");

    let page = detail(&owner, id).await;
    assert_eq!((page.summary.status, page.summary.severity), (IncidentStatus::Resolved, Severity::Critical));
    assert_eq!(page.acknowledged_by.as_deref(), Some("owner@respond.example"));
    assert_eq!(page.resolved_by.as_deref(), Some("owner@respond.example"));
    assert_eq!(
        timeline_kinds(&page),
        ["alert.received", "status.acknowledged", "severity.changed", "note", "status.resolved"]
    );
    let messages: Vec<&str> = page.timeline.iter().map(|entry| entry.message.as_str()).collect();
    assert_eq!(messages[3], "Rolled back the deploy");
    assert_eq!(messages[4], "Resolved by owner@respond.example: Error rate back to 0.1%");

    // The same key fires again: a new incident opens, so the old one cannot reopen.
    send(&app, &key, "trigger", "api-5xx", "API errors above 5%", "error").await;
    assert!(conflict(owner.run(ReopenIncident { id }).await), "a newer incident is open");
    send(&app, &key, "resolve", "api-5xx", "", "error").await;
    owner.run(ReopenIncident { id }).await.expect("reopened");
    let page = detail(&owner, id).await;
    assert_eq!(page.summary.status, IncidentStatus::Triggered);
    assert!(page.resolved_at.is_none() && page.acknowledged_at.is_none());

    let audited: Vec<String> =
        sqlx::query_scalar("select action from audit_log where target = $1 and action like 'incident.%' order by id")
            .bind(id.to_string())
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
        owner.run(ReportIncident {
            incident: NewIncident {
                title: title.into(),
                severity: Some(Severity::Critical),
                service: Some("web".into()),
                description: None,
            },
        })
    };
    let blank = report("  ").await;
    assert!(matches!(&blank, Err(error) if error.to_string().contains("Give the incident a title.")), "{blank:?}");

    let mut held = Vec::new();
    for n in 0..4 {
        held.push(report(&format!("Customers cannot log in ({n})")).await.expect("reported").over_quota);
    }
    assert_eq!(held, [false, false, false, true], "Free allows three alerts a month");
    assert_eq!(owner.run(GetUsage {}).await.unwrap().used, 3);

    let page = list(&owner, IncidentFilter { source: Some("manual".into()), ..IncidentFilter::default() }).await;
    assert_eq!(page.incidents.len(), 4);
    assert!(page.incidents[0].over_quota);
    let incident = detail(&owner, page.incidents[0].id).await;
    assert_eq!(incident.summary.severity, Severity::Critical);
    assert_eq!(incident.summary.service.as_deref(), Some("web"));
    assert_eq!(timeline_kinds(&incident), ["alert.received", "quota.exceeded"]);
    assert_eq!(incident.timeline[0].actor, "owner@manual.example");
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

    let stats = owner.run(GetDashboard {}).await.expect("the dashboard is shown");
    use Severity::*;
    assert_eq!(
        stats.open_by_severity,
        [(Critical, 1), (Error, 0), (Warning, 1), (Info, 1)],
        "every open incident, however old"
    );
    assert_eq!(
        stats.severity_mix,
        [(Critical, 1), (Error, 2), (Warning, 1), (Info, 0)],
        "incidents opened in the last 30 days"
    );
    let times = &stats.response_times;
    assert_eq!(times[0].window, "24 h");
    assert_eq!(times[0].mtta_secs, Some(60.0));
    assert_eq!(times[0].mttr_secs, None, "nothing opened today was resolved");
    assert_eq!(times[1].mtta_secs, Some(100.0), "(60 + 120 + 120) / 3");
    assert_eq!(times[1].mttr_secs, Some(600.0));
    assert_eq!((stats.resolved_30d, stats.resolved_by_agent_30d), (2, 1));
    assert_eq!(stats.top_services, [("api".to_string(), 2)]);
    let per_day = &stats.alerts_per_day;
    assert_eq!(per_day.len(), 30);
    assert_eq!(per_day[29].1, 3, "today's three alerts");
    assert_eq!(per_day.iter().map(|(_, alerts)| alerts).sum::<i64>(), 3);
    assert_eq!(stats.activity[0].entry.kind, "status.acknowledged", "latest first");
    assert_eq!(stats.activity[0].incident_title, "B");
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
    let open =
        list(&owner, IncidentFilter { status: Some(IncidentStatus::Triggered), ..IncidentFilter::default() }).await;
    for (n, id) in ids(&open).into_iter().enumerate() {
        let answered = if n % 2 == 0 {
            owner.run(AcknowledgeIncident { id }).await
        } else {
            owner.run(ResolveIncident { id, note: None }).await
        };
        answered.expect("the responder's change is made");
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
    for (id,) in reopenable {
        owner.run(ReopenIncident { id }).await.expect("reopened");
        owner.run(SetIncidentSeverity { id, severity: Severity::Info }).await.expect("severity changed");
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
    let id = incident_id(&app, "oom").await;
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

    let stats = owner.run(GetDashboard {}).await.expect("the dashboard is shown");
    let lines: Vec<(String, String)> =
        stats.activity.iter().map(|item| (item.entry.kind.clone(), item.entry.message.clone())).collect();
    let kinds: Vec<&str> = lines.iter().map(|(kind, _)| kind.as_str()).collect();
    assert_eq!(kinds[..3], ["agent.step", "note", "agent.analysis"], "{lines:?}");
    assert_eq!(lines[0].1, "Rechecked the pods", "a single step stays as it is");
    assert_eq!(lines[2].1, "Analysed: 11 steps — Diagnosis (high confidence): OOMKilled");
    assert!(lines.len() <= 5, "the alert's own entries follow, not the steps: {lines:?}");
    app.stop().await;
}
