//! A burst of sign-ups against the server's memory and its other requests, in one run.
//!
//! `cargo bench -p server --bench signups` (by hand, not in CI). Uses DATABASE_URL, or
//! the PostgreSQL on 127.0.0.1:5432, creating and dropping a database of its own. The
//! sign-up limits are raised so that every sign-up reaches its password hash (Argon2id,
//! 19 MiB each): BENCH_SIGN_UPS (default 200) arrive at once. Throughout, `/health` is
//! asked 50 times a second on schedule, and the process's resident memory (`VmRSS`, the
//! server runs in this process) is sampled every 20 ms. Prints the burst's duration, the
//! resident memory before and at its peak, and `/health`'s p50 and p99 before and during
//! the burst. Hashing runs one per core, so the peak should stay within a few hashes'
//! memory of the start, and `/health` keep answering in milliseconds. Run it as the
//! image runs the server, with `GLIBC_TUNABLES=glibc.malloc.mmap_threshold=1048576`
//! (see the Dockerfile), and without it to see what the setting is for.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

mod support;

use support::{BenchDatabase, setting, start_signed_up};

/// This process's resident memory, in MiB.
fn resident_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|value| value.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(0.0, |kib| kib / 1024.0)
}

/// `/health` 50 times a second until `stop`: each answer's latency from its scheduled time.
async fn probe(http: reqwest::Client, url: String, stop: Arc<AtomicBool>) -> Vec<Duration> {
    let (answers, mut answered) = tokio::sync::mpsc::unbounded_channel();
    let started = tokio::time::Instant::now();
    let mut n = 0;
    while !stop.load(Ordering::Relaxed) {
        let due = started + Duration::from_millis(20 * n);
        n += 1;
        tokio::time::sleep_until(due).await;
        let (http, url, answers) = (http.clone(), url.clone(), answers.clone());
        tokio::spawn(async move {
            if http.get(&url).send().await.is_ok_and(|response| response.status().is_success()) {
                let _ = answers.send(due.elapsed());
            }
        });
    }
    drop(answers);
    let mut latencies = Vec::new();
    while let Some(latency) = answered.recv().await {
        latencies.push(latency);
    }
    latencies.sort();
    latencies
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    sorted
        .get(((sorted.len() as f64 * p) as usize).min(sorted.len().saturating_sub(1)))
        .map_or(0.0, |d| d.as_secs_f64() * 1000.0)
}

#[tokio::main]
async fn main() {
    let burst = setting("BENCH_SIGN_UPS", 200);
    let database = BenchDatabase::create().await;
    let extra = [
        ("RUST_LOG", "error"),
        ("AGENT_WORKERS", "0"),
        ("SIGN_UPS_PER_ADDRESS", "100000"),
        ("SIGN_UPS_IN_ALL", "100000"),
    ];
    let (address, state, _, _) = start_signed_up(&database, &extra).await;
    let http = reqwest::Client::new();
    let health = format!("{address}/health");

    // Before: two seconds of probes, the resident memory settled.
    let stop = Arc::new(AtomicBool::new(false));
    let quiet = tokio::spawn(probe(http.clone(), health.clone(), stop.clone()));
    tokio::time::sleep(Duration::from_secs(2)).await;
    stop.store(true, Ordering::Relaxed);
    let quiet = quiet.await.unwrap();
    let before = resident_mib();

    // The burst, probed and sampled.
    let stop = Arc::new(AtomicBool::new(false));
    let busy = tokio::spawn(probe(http.clone(), health.clone(), stop.clone()));
    let sampling = {
        let stop = stop.clone();
        tokio::spawn(async move {
            let mut peak = 0.0_f64;
            while !stop.load(Ordering::Relaxed) {
                peak = peak.max(resident_mib());
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            peak
        })
    };
    let started = Instant::now();
    let sign_ups: Vec<_> = (0..burst)
        .map(|n| {
            let (http, address) = (http.clone(), address.clone());
            tokio::spawn(async move {
                let form = [
                    ("email", format!("burst{n}@example.com")),
                    ("password", "correct horse battery staple".to_string()),
                    ("team_name", format!("Burst {n}")),
                ];
                http.post(format!("{address}/api/sign_up"))
                    .form(&form)
                    .send()
                    .await
                    .is_ok_and(|answer| answer.status().is_success() || answer.status().is_redirection())
            })
        })
        .collect();
    let mut accepted = 0;
    for sign_up in sign_ups {
        accepted += usize::from(sign_up.await.unwrap());
    }
    let took = started.elapsed();
    stop.store(true, Ordering::Relaxed);
    let (busy, peak) = (busy.await.unwrap(), sampling.await.unwrap());

    println!("\n{burst} sign-ups at once (Argon2id, 19 MiB each, one per core); /health 50 times a second\n");
    println!(
        "sign-ups accepted: {accepted} of {burst} in {:.1} s ({:.0} a second)",
        took.as_secs_f64(),
        accepted as f64 / took.as_secs_f64()
    );
    println!("resident memory: {before:.0} MiB before, {peak:.0} MiB at the peak (+{:.0} MiB)", peak - before);
    println!(
        "/health p50 / p99: {:.2} / {:.2} ms before, {:.2} / {:.2} ms during the burst ({} and {} answers)",
        percentile(&quiet, 0.50),
        percentile(&quiet, 0.99),
        percentile(&busy, 0.50),
        percentile(&busy, 0.99),
        quiet.len(),
        busy.len()
    );
    state.db.close().await;
    database.drop().await;
}
