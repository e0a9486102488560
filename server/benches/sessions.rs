//! What a signed-in user's session costs a request that does not need it: light
//! requests with and without a session cookie, in the same run.
//!
//! `cargo bench -p server --bench sessions` (by hand, not in CI). Uses DATABASE_URL, or
//! the PostgreSQL on 127.0.0.1:5432, creating and dropping a database of its own. For
//! each target it sends BENCH_REQUESTS (default 20,000) requests over BENCH_CONNECTIONS
//! (default 8) keep-alive connections, once without a cookie and once as a signed-in
//! member, and prints requests per second and their ratio (signed-in / anonymous), and
//! how often the session was written meanwhile (a session is written at most once a
//! minute while in use: the ratio should stay near 1).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

mod support;

use support::{BenchDatabase, setting, start_signed_up};

/// Requests per second of `requests` GETs of `url` over `connections` concurrent loops.
async fn throughput(client: &reqwest::Client, url: &str, requests: usize, connections: usize) -> f64 {
    let remaining = Arc::new(AtomicUsize::new(requests));
    let started = Instant::now();
    let loops: Vec<_> = (0..connections)
        .map(|_| {
            let (client, url, remaining) = (client.clone(), url.to_string(), remaining.clone());
            tokio::spawn(async move {
                while remaining.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1)).is_ok() {
                    let response = client.get(&url).send().await.expect("the server answers");
                    assert!(response.status().is_success(), "{url}: {}", response.status());
                    response.bytes().await.expect("the whole answer");
                }
            })
        })
        .collect();
    for one in loops {
        one.await.unwrap();
    }
    requests as f64 / started.elapsed().as_secs_f64()
}

#[tokio::main]
async fn main() {
    let requests = setting("BENCH_REQUESTS", 20_000);
    let connections = setting("BENCH_CONNECTIONS", 8);
    let database = BenchDatabase::create().await;
    let (address, state, signed_in, _) = start_signed_up(&database, &[("AGENT_WORKERS", "0")]).await;
    let anonymous = reqwest::Client::new();
    let writes = || async {
        sqlx::query_scalar::<_, chrono::DateTime<chrono::Utc>>("select expiry_date from tower_sessions.session")
            .fetch_one(&state.db)
            .await
            .unwrap()
    };

    println!("{requests} requests per target over {connections} connections\n");
    println!("| target | anonymous | signed in | ratio | session written |");
    println!("|---|---|---|---|---|");
    for (label, path) in [("/health", "/health"), ("server function system_status", "/api/system_status")] {
        let url = format!("{address}{path}");
        // Warm both paths (connections, statement cache) before measuring.
        throughput(&anonymous, &url, requests / 20, connections).await;
        throughput(&signed_in, &url, requests / 20, connections).await;
        let anonymous_rate = throughput(&anonymous, &url, requests, connections).await;
        let before = writes().await;
        let signed_in_rate = throughput(&signed_in, &url, requests, connections).await;
        let written = if writes().await == before { "no" } else { "yes (renewal)" };
        println!(
            "| {label} | {anonymous_rate:.0}/s | {signed_in_rate:.0}/s | {:.2} | {written} |",
            signed_in_rate / anonymous_rate
        );
    }
    database.drop().await;
}
