//! Alert ingestion under load, against a bare axum handler doing one insert, in one run.
//!
//! `cargo bench -p server --bench ingest` (by hand, not in CI). Uses DATABASE_URL, or the
//! PostgreSQL on 127.0.0.1:5432, creating and dropping a database of its own. Each target
//! is measured twice by a load generator on loopback, which prints accepted requests per
//! second, p50/p99 latency and errors:
//!
//! - the most it takes: BENCH_CONNECTIONS (default 32) senders, each sending again as
//!   soon as it is answered (a closed loop, where latency is mostly queueing behind the
//!   other senders);
//! - its latency at a given load: BENCH_RATE (default 3,000) requests per second, sent
//!   on schedule whatever the answers (an open loop, latency from the scheduled time).
//!
//! The targets take turns, ROUNDS times SECONDS each, so that a machine whose speed
//! drifts (a shared host) slows them alike; figures are over all rounds. Request bodies
//! and signatures are made before each round starts, so that the load generator spends
//! the machine's cores on sending, not on building payloads. The last target is the
//! Events API again with the dashboard's rollup triggers switched off during its turns:
//! what keeping the rollups costs ingestion, in the same run.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use sqlx::PgPool;
use tokio::sync::Mutex;

use server::startup::Application;

const SECONDS: u64 = 5;
const ROUNDS: usize = 3;
/// Requests made ahead per round and connection (more than a round can send).
const AHEAD: usize = 100_000;

mod support;

use support::load::{self, Measured as Result, Prepared};
use support::{BenchDatabase, setting};

/// Senders of the closed loop: `BENCH_CONNECTIONS`, default 32.
fn connections() -> usize {
    setting("BENCH_CONNECTIONS", 32)
}

/// Requests per second of the open loop: `BENCH_RATE`, default 3,000 (the target).
fn rate() -> usize {
    setting("BENCH_RATE", 3_000)
}

/// What a target is sent: request n of a run is `make(n)`; with `rollups` false, the
/// dashboard's rollup triggers are off during its turns.
struct Target {
    name: &'static str,
    url: String,
    make: Box<dyn Fn(usize) -> Prepared>,
    rollups: bool,
}

/// Switches the triggers that keep the dashboard's daily rollups (migration 0018) on or
/// off, to weigh what they cost ingestion within one run.
async fn switch_rollups(db: &PgPool, on: bool) {
    let verb = if on { "enable" } else { "disable" };
    for (table, trigger) in [
        ("incidents", "incident_days_on_insert"),
        ("incidents", "incident_days_on_update"),
        ("incidents", "incident_days_on_delete"),
        ("alerts", "alert_days_on_insert"),
    ] {
        sqlx::query(&format!("alter table {table} {verb} trigger {trigger}")).execute(db).await.unwrap();
    }
}

/// The most a target takes: `connections()` senders, each sending its next request as
/// soon as the previous one is answered (a closed loop), for SECONDS. Returns the result
/// and how many of the requests from `first` on were used.
async fn saturate(http: &reqwest::Client, target: &Target, first: usize) -> (Result, usize) {
    let requests: Arc<Vec<Prepared>> = Arc::new((first..first + AHEAD).map(&target.make).collect());
    let counter = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let results = Arc::new(Mutex::new((0_usize, 0_usize, Vec::new())));
    let started = Instant::now();
    let deadline = started + Duration::from_secs(SECONDS);
    let tasks: Vec<_> = (0..connections())
        .map(|_| {
            let (requests, counter, results) = (requests.clone(), counter.clone(), results.clone());
            let (http, url) = (http.clone(), target.url.clone());
            tokio::spawn(async move {
                let (mut accepted, mut errors, mut latencies) = (0, 0, Vec::new());
                while Instant::now() < deadline {
                    let n = counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    let Some(prepared) = requests.get(n) else { break };
                    let sent = Instant::now();
                    if load::send(&http, &url, prepared).await.is_some_and(|status| status.is_success()) {
                        accepted += 1;
                        latencies.push(sent.elapsed());
                    } else {
                        errors += 1;
                    }
                }
                let mut results = results.lock().await;
                results.0 += accepted;
                results.1 += errors;
                results.2.extend(latencies);
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    let elapsed = started.elapsed();
    let used = counter.load(std::sync::atomic::Ordering::Relaxed).min(AHEAD);
    assert!(used < AHEAD, "{}: raise AHEAD, every prepared request was sent", target.name);
    let (accepted, errors, latencies) = std::mem::take(&mut *results.lock().await);
    (Result { name: target.name, accepted, errors, latencies, elapsed }, used)
}

/// Latency at a given load: `rate()` requests per second for SECONDS, sent on schedule
/// (see [`load::pace`]). Returns the result and the requests used.
async fn pace(http: &reqwest::Client, target: &Target, first: usize) -> (Result, usize) {
    let total = rate() * SECONDS as usize;
    let requests: Vec<Prepared> = (first..first + total).map(&target.make).collect();
    (load::pace(http, target.name, &target.url, requests, rate()).await, total)
}

/// The baseline: a bare axum handler doing one insert into the same database.
async fn baseline(pool: PgPool) -> String {
    sqlx::query("create table bench_baseline (id bigint generated always as identity primary key, body bytea not null, at timestamptz not null default now())")
        .execute(&pool)
        .await
        .unwrap();
    async fn insert(State(pool): State<PgPool>, body: Bytes) -> StatusCode {
        match sqlx::query("insert into bench_baseline (body) values ($1)").bind(body.to_vec()).execute(&pool).await {
            Ok(_) => StatusCode::ACCEPTED,
            Err(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
    let router = Router::new().route("/baseline", post(insert)).with_state(pool);
    // Accepting connections as DreamOps does (Nagle's algorithm off), so that only the
    // work behind the answer differs.
    let listener = server::startup::listen_without_delay(([127, 0, 0, 1], 0).into()).unwrap();
    let address = format!("http://{}/baseline", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    address
}

fn print_table(title: &str, results: &[Result]) {
    let baseline_rate = results[0].per_second();
    println!("\n{title}\n");
    println!("{:<30} {:>12} {:>10} {:>10} {:>8} {:>12}", "target", "accepted/s", "p50", "p99", "errors", "vs baseline");
    for result in results {
        println!(
            "{:<30} {:>12.0} {:>8.2}ms {:>8.2}ms {:>8} {:>12.2}",
            result.name,
            result.per_second(),
            result.percentile(0.50).as_secs_f64() * 1000.0,
            result.percentile(0.99).as_secs_f64() * 1000.0,
            result.errors,
            result.per_second() / baseline_rate
        );
    }
}

#[tokio::main]
async fn main() {
    let database = BenchDatabase::create().await;
    // Ingestion alone (queueing each incident for analysis included; analysing it not).
    let settings = database.settings(&[
        ("DATABASE_MAX_CONNECTIONS", "20"),
        ("RUST_LOG", "error"),
        ("AGENT_WORKERS", "0"),
        // The most one instance takes, not a plan's share of it.
        ("INGEST_RATE_SCALE", "0"),
    ]);
    let options =
        leptos::prelude::LeptosOptions::builder().output_name("dreamops").site_addr(([127, 0, 0, 1], 0)).build();
    let application = Application::build(settings, options).await.unwrap();
    let address = format!("http://{}", application.local_addr());
    let state = application.state().clone();
    tokio::spawn(application.run_until_stopped(std::future::pending()));

    // A team on the unlimited plan, with its integrations and a PagerDuty secret.
    let client = reqwest::Client::builder().cookie_store(true).pool_max_idle_per_host(connections()).build().unwrap();
    client
        .post(format!("{address}/api/sign_up"))
        .form(&[("email", "bench@example.com"), ("password", "correct horse battery staple"), ("team_name", "Bench")])
        .send()
        .await
        .unwrap();
    let team: uuid::Uuid = sqlx::query_scalar("select id from teams").fetch_one(&state.db).await.unwrap();
    sqlx::query("update teams set plan = 'enterprise'").execute(&state.db).await.unwrap();
    let integrations = app::server::ingest::integrations::ensure(&state.db, &state.cipher, team).await.unwrap();
    app::server::ingest::integrations::add_signing_secret(&state, team, "bench-secret").await.unwrap();
    let token = |kind: &str| integrations.iter().find(|i| i.kind.as_str() == kind).unwrap().secrets.token.clone();
    let (pagerduty_url, routing_key) =
        (format!("{address}/webhooks/pagerduty/{}", token("pagerduty")), token("events_api"));
    let baseline_url = baseline(state.db.clone()).await;
    let http = reqwest::Client::new();

    // New incidents through the Events API (dedup keys made unique by `prefix`).
    let events_api = |name, prefix: &'static str, rollups| {
        let routing_key = routing_key.clone();
        Target {
            name,
            url: format!("{address}/v2/enqueue"),
            make: Box::new(move |n| Prepared {
                body: serde_json::json!({"routing_key": routing_key, "event_action": "trigger",
                    "dedup_key": format!("{prefix}-{n}"),
                    "payload": {"summary": "bench", "source": "bench", "severity": "warning"}})
                .to_string()
                .into(),
                headers: vec![],
            }),
            rollups,
        }
    };
    let targets = [
        Target {
            name: "bare axum + one insert",
            url: baseline_url,
            make: Box::new(|_| Prepared {
                body: serde_json::json!({"event": {"id": "x", "event_type": "incident.triggered"}}).to_string().into(),
                headers: vec![],
            }),
            rollups: true,
        },
        Target {
            name: "PagerDuty webhook (signed)",
            url: pagerduty_url,
            make: Box::new(|n| {
                let body = serde_json::json!({"event": {"id": format!("bench-{n}"), "event_type": "incident.triggered",
                    "data": {"id": format!("P{n}"), "type": "incident", "title": "bench", "urgency": "high"}}})
                .to_string();
                let mut mac = Hmac::<Sha256>::new_from_slice(b"bench-secret").unwrap();
                mac.update(body.as_bytes());
                let signature = format!("v1={}", hex::encode(mac.finalize().into_bytes()));
                Prepared {
                    body: body.into(),
                    headers: vec![("x-pagerduty-signature", signature), ("x-webhook-id", format!("bench-{n}"))],
                }
            }),
            rollups: true,
        },
        events_api("Events API v2 trigger", "ev", true),
        events_api("Events API, rollups off", "off", false),
    ];
    // Per target: the closed loop's result, then the open loop's.
    let mut results: Vec<[Option<Result>; 2]> = targets.iter().map(|_| [None, None]).collect();
    let mut next = vec![0; targets.len()];
    for _ in 0..ROUNDS {
        for (index, target) in targets.iter().enumerate() {
            if !target.rollups {
                switch_rollups(&state.db, false).await;
            }
            let (saturated, used) = saturate(&http, target, next[index]).await;
            next[index] += used;
            let (paced, used) = pace(&http, target, next[index]).await;
            next[index] += used;
            if !target.rollups {
                switch_rollups(&state.db, true).await;
            }
            for (total, result) in results[index].iter_mut().zip([saturated, paced]) {
                match total {
                    Some(total) => total.merge(result),
                    empty => *empty = Some(result),
                }
            }
        }
    }
    let [saturated, paced]: [Vec<Result>; 2] =
        [0, 1].map(|loop_| results.iter_mut().map(|pair| pair[loop_].take().unwrap()).collect());

    println!("\n{ROUNDS} rounds of {SECONDS} s per target and loop, taking turns, on loopback");
    print_table(&format!("The most taken: {} senders, each waiting for its answer", connections()), &saturated);
    print_table(&format!("At {} requests/s, sent on schedule whatever the answers", rate()), &paced);

    state.db.close().await;
    database.drop().await;
}
