//! Load from loopback: requests made ahead, sent on schedule (an open loop), and the
//! figures of what was answered.

use std::time::Duration;

use axum::body::Bytes;

/// What a target answered over a run.
pub struct Measured {
    pub name: &'static str,
    pub accepted: usize,
    pub errors: usize,
    pub latencies: Vec<Duration>,
    pub elapsed: Duration,
}

impl Measured {
    pub fn merge(&mut self, other: Measured) {
        self.accepted += other.accepted;
        self.errors += other.errors;
        self.latencies.extend(other.latencies);
        self.elapsed += other.elapsed;
    }

    pub fn per_second(&self) -> f64 {
        self.accepted as f64 / self.elapsed.as_secs_f64()
    }

    pub fn percentile(&self, p: f64) -> Duration {
        let mut sorted = self.latencies.clone();
        sorted.sort();
        sorted
            .get(((sorted.len() as f64 * p) as usize).min(sorted.len().saturating_sub(1)))
            .copied()
            .unwrap_or_default()
    }
}

/// A request made ahead: its body and headers.
pub struct Prepared {
    pub body: Bytes,
    pub headers: Vec<(&'static str, String)>,
}

/// Sends one prepared request; its status, if it was answered.
pub async fn send(http: &reqwest::Client, url: &str, prepared: &Prepared) -> Option<reqwest::StatusCode> {
    let mut request = http.post(url).body(prepared.body.clone());
    for (name, value) in &prepared.headers {
        request = request.header(*name, value);
    }
    request.send().await.ok().map(|response| response.status())
}

/// Latency at a given load: `requests` sent at `rate` a second, each at its scheduled
/// time whether or not earlier ones were answered (an open loop). Latency counts from
/// the scheduled time, so a server that falls behind shows it in full instead of
/// slowing the generator down.
pub async fn pace(
    http: &reqwest::Client,
    name: &'static str,
    url: &str,
    requests: Vec<Prepared>,
    rate: usize,
) -> Measured {
    let total = requests.len();
    let (answers, mut answered) = tokio::sync::mpsc::unbounded_channel();
    let started = tokio::time::Instant::now();
    for (n, prepared) in requests.into_iter().enumerate() {
        let due = started + Duration::from_secs_f64(n as f64 / rate as f64);
        tokio::time::sleep_until(due).await;
        let (http, url, answers) = (http.clone(), url.to_string(), answers.clone());
        tokio::spawn(async move {
            let accepted = send(&http, &url, &prepared).await.is_some_and(|status| status.is_success());
            let _ = answers.send(accepted.then(|| due.elapsed()));
        });
    }
    drop(answers);
    let (mut accepted, mut errors, mut latencies) = (0, 0, Vec::with_capacity(total));
    while let Some(answer) = answered.recv().await {
        match answer {
            Some(latency) => {
                accepted += 1;
                latencies.push(latency);
            }
            None => errors += 1,
        }
    }
    Measured { name, accepted, errors, latencies, elapsed: started.elapsed() }
}
