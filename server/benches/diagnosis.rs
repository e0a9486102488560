//! Alert to diagnosis through the whole path: an Alertmanager webhook, ingestion, the
//! durable queue, the agent reading the demo cluster through the kube client over HTTP,
//! the analysis stored, and its `analysis.ready` event on the team's live stream.
//!
//! `cargo bench -p server --bench diagnosis` (by hand, not in CI). Uses DATABASE_URL, or
//! the PostgreSQL on 127.0.0.1:5432, creating and dropping a database of its own. Sends
//! BENCH_ALERTS alerts (default 200) one after the other, cycling through four demo
//! failures (OOM kill, crash loop, image pull, service without endpoints), and prints
//! p50/p99 of the time from sending each to its `analysis.ready` event. The baseline,
//! measured in the same run on the same alerts, is the time to the `incident.new` event
//! (ingestion and the live path alone, without the agent).

use std::time::{Duration, Instant};

use serde_json::json;

mod support;

use support::{BenchDatabase, setting, start_signed_up};

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted.get(((sorted.len() as f64 * p) as usize).min(sorted.len().saturating_sub(1))).copied().unwrap_or_default()
}

/// The team's live stream, read event by event.
struct Stream {
    response: reqwest::Response,
    buffer: String,
}

impl Stream {
    /// The next event's name.
    async fn next(&mut self) -> String {
        loop {
            if let Some(end) = self.buffer.find("\n\n") {
                let block: String = self.buffer.drain(..end + 2).collect();
                if let Some(name) = block.lines().find_map(|line| line.strip_prefix("event: ")) {
                    return name.trim().to_string();
                }
                continue;
            }
            let chunk = self.response.chunk().await.unwrap().expect("the stream stays open");
            self.buffer.push_str(&String::from_utf8_lossy(&chunk));
        }
    }

    /// Reads events until one named `name`.
    async fn until(&mut self, name: &str) {
        while self.next().await != name {}
    }
}

#[tokio::main]
async fn main() {
    let alerts = setting("BENCH_ALERTS", 200);
    let database = BenchDatabase::create().await;
    let (address, state, client, team) = start_signed_up(&database, &[("AGENT_WORKERS", "2")]).await;
    sqlx::query("update teams set plan = 'enterprise' where id = $1").bind(team).execute(&state.db).await.unwrap();
    let added = client.post(format!("{address}/api/add_demo_cluster")).send().await.unwrap();
    assert!(added.status().is_success(), "the demo cluster is added");
    let sources = app::server::ingest::integrations::ensure(&state.db, &state.cipher, team).await.unwrap();
    let alertmanager = sources
        .into_iter()
        .find(|source| source.kind == app::domain::integration::IntegrationKind::Alertmanager)
        .unwrap();
    let webhook = format!(
        "{address}{}",
        app::server::ingest::integrations::path(
            app::domain::integration::IntegrationKind::Alertmanager,
            &alertmanager.secrets.token
        )
    );
    let bearer = format!("Bearer {}", alertmanager.secrets.bearer.clone().unwrap());

    let response = client.get(format!("{address}/events")).send().await.unwrap();
    let mut stream = Stream { response, buffer: String::new() };
    stream.until("ready").await;

    let failures = [
        ("KubeContainerOOMKilled", json!({"deployment": "memory-hog"})),
        ("KubePodCrashLooping", json!({"deployment": "payment-service"})),
        ("KubeContainerWaiting", json!({"deployment": "analytics-service", "reason": "ImagePullBackOff"})),
        ("KubeServiceNoEndpoints", json!({"service": "orphan-service"})),
    ];
    let (mut opened, mut diagnosed) = (Vec::with_capacity(alerts), Vec::with_capacity(alerts));
    for index in 0..alerts + 10 {
        let (name, labels) = &failures[index % failures.len()];
        let mut labels = labels.clone();
        labels["alertname"] = json!(name);
        labels["namespace"] = json!("demo");
        let body = json!({"version": "4", "status": "firing", "receiver": "dreamops", "groupKey": format!("{{}}:{name}"),
            "alerts": [{"status": "firing", "labels": labels, "annotations": {"summary": format!("{name} #{index}")},
                        "startsAt": chrono::Utc::now().to_rfc3339(), "endsAt": "0001-01-01T00:00:00Z",
                        "fingerprint": format!("bench{index:08}")}]});
        let started = Instant::now();
        let sent = client.post(&webhook).header("authorization", &bearer).json(&body).send().await.unwrap();
        assert!(sent.status().is_success(), "{}", sent.status());
        stream.until("incident.new").await;
        let new = started.elapsed();
        stream.until("analysis.ready").await;
        let ready = started.elapsed();
        // The first ten warm up connections, caches and prepared statements.
        if index >= 10 {
            opened.push(new);
            diagnosed.push(ready);
        }
    }
    opened.sort();
    diagnosed.sort();
    let analyses: i64 = sqlx::query_scalar("select count(*) from analyses").fetch_one(&state.db).await.unwrap();
    println!("\n{alerts} alerts, one at a time, on loopback ({analyses} analyses stored)\n");
    println!("{:<48} {:>10} {:>10}", "from sending the alert to", "p50", "p99");
    for (label, times) in
        [("baseline: incident.new on the stream", &opened), ("analysis.ready on the stream", &diagnosed)]
    {
        println!(
            "{label:<48} {:>8.1}ms {:>8.1}ms",
            percentile(times, 0.5).as_secs_f64() * 1000.0,
            percentile(times, 0.99).as_secs_f64() * 1000.0
        );
    }
    state.db.close().await;
    database.drop().await;
}
