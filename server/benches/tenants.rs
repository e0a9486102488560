//! One team's flood against another team's ingestion, in one run.
//!
//! `cargo bench -p server --bench tenants` (by hand, not in CI). Uses DATABASE_URL, or
//! the PostgreSQL on 127.0.0.1:5432, creating and dropping a database of its own. The
//! server runs with the plans' ingestion rates (as in production). Team B (Pro) sends
//! BENCH_RATE (default 100) new alerts a second through the Events API, on schedule (an
//! open loop, latency from the scheduled time), for SECONDS: alone, then while team A
//! (Free) floods the same server with BENCH_FLOOD (default 16) senders, each sending
//! again as soon as it is answered. The two conditions take turns for ROUNDS, so that a
//! drifting machine slows them alike. Prints team B's p50 and p99 in each, the ratio of
//! the p99s (the target: at most 1.20), and what team A got: accepted and refused (429)
//! a second.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

mod support;

use support::load::{self, Measured, Prepared};
use support::{BenchDatabase, setting, start_signed_up};

const SECONDS: u64 = 10;
const ROUNDS: usize = 3;

/// An Events API trigger for a new incident (`key` unique).
fn trigger(routing_key: &str, key: String) -> Prepared {
    Prepared {
        body: serde_json::json!({"routing_key": routing_key, "event_action": "trigger", "dedup_key": key,
            "payload": {"summary": "bench", "source": "bench", "severity": "warning"}})
        .to_string()
        .into(),
        headers: vec![],
    }
}

/// Team A's flood: `senders` closed loops until `stop`; (accepted, refused with 429).
async fn flood(
    http: reqwest::Client,
    url: String,
    routing_key: String,
    senders: usize,
    stop: Arc<AtomicBool>,
) -> (usize, usize) {
    let (accepted, refused) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let tasks: Vec<_> = (0..senders)
        .map(|sender| {
            let (http, url, routing_key, stop) = (http.clone(), url.clone(), routing_key.clone(), stop.clone());
            let (accepted, refused) = (accepted.clone(), refused.clone());
            tokio::spawn(async move {
                let mut n = 0;
                while !stop.load(Ordering::Relaxed) {
                    n += 1;
                    let request = trigger(&routing_key, format!("flood-{sender}-{n}-{}", uuid::Uuid::new_v4()));
                    match load::send(&http, &url, &request).await {
                        Some(status) if status.is_success() => accepted.fetch_add(1, Ordering::Relaxed),
                        Some(reqwest::StatusCode::TOO_MANY_REQUESTS) => refused.fetch_add(1, Ordering::Relaxed),
                        _ => 0,
                    };
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    (accepted.load(Ordering::Relaxed), refused.load(Ordering::Relaxed))
}

#[tokio::main]
async fn main() {
    let (rate, senders) = (setting("BENCH_RATE", 100), setting("BENCH_FLOOD", 16));
    let database = BenchDatabase::create().await;
    let extra = [("DATABASE_MAX_CONNECTIONS", "20"), ("RUST_LOG", "error"), ("AGENT_WORKERS", "0")];
    let (address, state, _, bravo) = start_signed_up(&database, &extra).await;
    sqlx::query("update teams set plan = 'pro' where id = $1").bind(bravo).execute(&state.db).await.unwrap();
    let alpha_owner = reqwest::Client::builder().cookie_store(true).build().unwrap();
    alpha_owner
        .post(format!("{address}/api/sign_up"))
        .form(&[("email", "flood@example.com"), ("password", "correct horse battery staple"), ("team_name", "Flood")])
        .send()
        .await
        .unwrap();
    let alpha: uuid::Uuid =
        sqlx::query_scalar("select id from teams where id <> $1").bind(bravo).fetch_one(&state.db).await.unwrap();
    let routing_key = |team| {
        let state = state.clone();
        async move {
            let integrations = app::server::ingest::integrations::ensure(&state.db, &state.cipher, team).await.unwrap();
            integrations.into_iter().find(|i| i.kind.as_str() == "events_api").unwrap().secrets.token
        }
    };
    let (alpha_key, bravo_key) = (routing_key(alpha).await, routing_key(bravo).await);
    let url = format!("{address}/v2/enqueue");
    let http = reqwest::Client::new();

    let (mut alone, mut flooded): (Option<Measured>, Option<Measured>) = (None, None);
    let (mut flood_accepted, mut flood_refused, mut flood_time) = (0, 0, Duration::ZERO);
    let mut next = 0;
    let mut bravo_requests = |count: usize| {
        let requests: Vec<Prepared> = (next..next + count).map(|n| trigger(&bravo_key, format!("bravo-{n}"))).collect();
        next += count;
        requests
    };
    for _ in 0..ROUNDS {
        let quiet = load::pace(&http, "team B alone", &url, bravo_requests(rate * SECONDS as usize), rate).await;
        let stop = Arc::new(AtomicBool::new(false));
        let started = Instant::now();
        let flooding = tokio::spawn(flood(http.clone(), url.clone(), alpha_key.clone(), senders, stop.clone()));
        let busy =
            load::pace(&http, "team B, team A flooding", &url, bravo_requests(rate * SECONDS as usize), rate).await;
        stop.store(true, Ordering::Relaxed);
        let (accepted, refused) = flooding.await.unwrap();
        flood_time += started.elapsed();
        (flood_accepted, flood_refused) = (flood_accepted + accepted, flood_refused + refused);
        for (total, result) in [(&mut alone, quiet), (&mut flooded, busy)] {
            match total {
                Some(total) => total.merge(result),
                empty => *empty = Some(result),
            }
        }
    }
    let (alone, flooded) = (alone.unwrap(), flooded.unwrap());
    println!("\n{ROUNDS} rounds of {SECONDS} s per condition, taking turns, on loopback");
    println!("\nTeam B (Pro) at {rate} alerts/s; team A (Free) flooding with {senders} senders\n");
    println!("{:<28} {:>12} {:>10} {:>10} {:>8}", "condition", "accepted/s", "p50", "p99", "errors");
    for result in [&alone, &flooded] {
        println!(
            "{:<28} {:>12.0} {:>8.2}ms {:>8.2}ms {:>8}",
            result.name,
            result.per_second(),
            result.percentile(0.50).as_secs_f64() * 1000.0,
            result.percentile(0.99).as_secs_f64() * 1000.0,
            result.errors
        );
    }
    let ratio = flooded.percentile(0.99).as_secs_f64() / alone.percentile(0.99).as_secs_f64();
    println!("\nteam B's p99 flooded / alone: {ratio:.2} (target: at most 1.20)");
    let seconds = flood_time.as_secs_f64();
    println!(
        "team A: {:.0} accepted/s, {:.0} refused (429)/s",
        flood_accepted as f64 / seconds,
        flood_refused as f64 / seconds
    );
    state.db.close().await;
    database.drop().await;
}
