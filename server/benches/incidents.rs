//! The incident list, the dashboard figures and the server-rendered dashboard with
//! 100,000 incidents in one team, against baselines in the same run.
//!
//! `cargo bench -p server --bench incidents` (by hand, not in CI). Uses DATABASE_URL, or
//! the PostgreSQL on 127.0.0.1:5432, creating and dropping a database of its own. It
//! seeds BENCH_INCIDENTS (default 100,000) incidents spread over the last 365 days, each
//! with its alert and timeline entry (a few hundred still open), then asks each target
//! BENCH_REQUESTS times (default 300) one after the other as a signed-in member and
//! prints p50/p99 of the time to the whole answer, measured on loopback. The baselines
//! are `/health` (no database) and `current_viewer` (the session and membership lookup
//! every signed-in request pays). BENCH_KEEP=1 keeps the seeded database (for EXPLAIN).

use std::time::{Duration, Instant};

mod support;

use support::{BenchDatabase, setting, start_signed_up};

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted.get(((sorted.len() as f64 * p) as usize).min(sorted.len().saturating_sub(1))).copied().unwrap_or_default()
}

#[tokio::main]
async fn main() {
    let incidents = setting("BENCH_INCIDENTS", 100_000);
    let requests = setting("BENCH_REQUESTS", 300);
    let database = BenchDatabase::create().await;
    // The agent would start on the seeded incidents: this measures the pages alone.
    let (address, state, client, team) = start_signed_up(&database, &[("AGENT_WORKERS", "0")]).await;

    let seeding = Instant::now();
    seed(&state.db, team, incidents).await;
    // As a long-running database would be: vacuumed and analysed, not in the middle of
    // autovacuum's first pass over 100,000 fresh rows (and their analysis jobs).
    sqlx::query("vacuum (analyze)").execute(&state.db).await.unwrap();
    println!("seeded {incidents} incidents (with their alerts and timelines) in {:.1?}", seeding.elapsed());

    // A cursor deep in the list: keyset pages cost the same at any depth.
    let deep: (chrono::DateTime<chrono::Utc>, uuid::Uuid) = sqlx::query_as(
        "select last_seen_at, id from incidents where team_id = $1 order by last_seen_at desc, id desc offset $2 limit 1",
    )
    .bind(team)
    .bind((incidents / 2) as i64)
    .fetch_one(&state.db)
    .await
    .unwrap();
    let encode = |value: &str| url::form_urlencoded::byte_serialize(value.as_bytes()).collect::<String>();
    let deep_label = format!("list_incidents, page at {}", app::domain::incident::thousands((incidents / 2) as i64));
    let targets = [
        ("baseline: /health", "/health".to_string()),
        ("baseline: current_viewer", "/api/current_viewer".to_string()),
        ("list_incidents, first page", "/api/list_incidents".to_string()),
        (
            deep_label.as_str(),
            format!("/api/list_incidents?after[last_seen_at]={}&after[id]={}", encode(&deep.0.to_rfc3339()), deep.1),
        ),
        (
            "list_incidents, resolved + text",
            "/api/list_incidents?filter[status]=resolved&filter[text]=disk".to_string(),
        ),
        (
            "list_incidents, open + severity",
            "/api/list_incidents?filter[status]=triggered&filter[severity]=critical".to_string(),
        ),
        ("get_dashboard", "/api/get_dashboard".to_string()),
        ("SSR /dashboard page", "/dashboard".to_string()),
        ("SSR /incidents page", "/incidents".to_string()),
    ];
    println!("\n{requests} requests per target, one at a time, on loopback\n");
    println!("{:<36} {:>10} {:>10} {:>12}", "target", "p50", "p99", "vs /health");
    let mut health_p50 = None;
    for (label, path) in targets {
        // Warm up: connections, caches, prepared statements.
        for _ in 0..10 {
            fetch(&client, &address, &path).await;
        }
        let mut times = Vec::with_capacity(requests);
        for _ in 0..requests {
            let started = Instant::now();
            fetch(&client, &address, &path).await;
            times.push(started.elapsed());
        }
        times.sort();
        let (p50, p99) = (percentile(&times, 0.5), percentile(&times, 0.99));
        let base = *health_p50.get_or_insert(p50);
        println!(
            "{label:<36} {:>8.2}ms {:>8.2}ms {:>11.1}x",
            p50.as_secs_f64() * 1000.0,
            p99.as_secs_f64() * 1000.0,
            p50.as_secs_f64() / base.as_secs_f64()
        );
    }

    state.db.close().await;
    if std::env::var_os("BENCH_KEEP").is_some() {
        println!("\nkept the database for a closer look: {}", database.url);
    } else {
        database.drop().await;
    }
}

/// Fetches `path` and reads the whole answer; panics unless it is 200.
async fn fetch(client: &reqwest::Client, address: &str, path: &str) {
    let response = client.get(format!("{address}{path}")).send().await.unwrap();
    assert_eq!(response.status(), 200, "{path}");
    response.bytes().await.unwrap();
}

/// `count` incidents over the last 365 days, most resolved (a few hundred open), each
/// with one alert and one timeline entry, in one set-based statement per table, written
/// in the order they arrived (as ingestion writes them: a month's rows lie together).
async fn seed(db: &sqlx::PgPool, team: uuid::Uuid, count: usize) {
    let mut tx = db.begin().await.unwrap();
    sqlx::query(
        "create temporary table seed on commit drop as
         select gen_random_uuid() as id, n,
                now() - (random() * interval '365 days') as opened,
                (array['critical','error','warning','info'])[1 + n % 4] as severity,
                (array['pagerduty','events_api','alertmanager','grafana','rest'])[1 + n % 5] as source,
                'service-' || (n % 20) as service,
                (array['Disk almost full on db-','High latency on api-','Pod crash looping: worker-',
                       'Memory above 90% on node-'])[1 + n % 4] || (n % 50) as title
         from generate_series(1, $1) as n",
    )
    .bind(count as i64)
    .execute(&mut *tx)
    .await
    .unwrap();
    let inserts = [
        "insert into incidents (id, team_id, title, severity, status, service, source, dedup_key, analysis,
                                first_seen_at, last_seen_at, acknowledged_at, acknowledged_by, resolved_at, resolved_by)
         select id, $1, title, severity,
                case when n % 400 = 0 then 'triggered' when n % 400 = 1 then 'acknowledged' else 'resolved' end,
                service, source, 'seed-' || n, 'eligible', opened,
                opened + interval '30 minutes',
                case when n % 400 <> 0 then opened + interval '4 minutes' end,
                case when n % 400 <> 0 then 'oncall@example.com' end,
                case when n % 400 > 1 then opened + interval '30 minutes' end,
                case when n % 400 > 1 then 'oncall@example.com' end
         from seed order by opened",
        "insert into alerts (id, team_id, source, received_at, raw_body, parse_status, event_action, incident_id)
         select gen_random_uuid(), $1, source, opened, convert_to('{\"summary\": \"' || title || '\"}', 'UTF8'),
                'parsed', 'trigger', id
         from seed order by opened",
        "insert into timeline_entries (team_id, incident_id, at, kind, actor, message)
         select $1, id, opened, 'alert.received', 'Bench', 'Alert received: ' || title from seed order by opened",
    ];
    for insert in inserts {
        sqlx::query(insert).bind(team).execute(&mut *tx).await.unwrap();
    }
    tx.commit().await.unwrap();
    // As autovacuum would leave it: statistics and the visibility map up to date.
    sqlx::query("vacuum analyze").execute(db).await.unwrap();
}
