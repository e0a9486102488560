//! Each team's ingestion rate, bounded by its plan, so that one team's flood of alerts
//! cannot slow down every other team's: a token bucket per team on each instance,
//! refilled at the plan's rate and holding a minute of it (bursts pass, a sustained
//! flood is answered 429 with `Retry-After`, which every sender retries on). An alert
//! costs one token; a delivery larger than the bucket costs the whole bucket.
//!
//! The team's plan is read when its bucket is made and again every minute. Limits are
//! per instance: N instances take N times the rate. `INGEST_RATE_SCALE` multiplies every
//! plan's rate (0 turns the limits off, for benchmarks).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use sqlx::PgPool;
use uuid::Uuid;

use crate::error::{AppError, OrInternal};

/// Alerts per second each plan sustains.
const RATES: [(&str, f64); 4] = [("free", 10.0), ("starter", 50.0), ("pro", 200.0), ("enterprise", 1000.0)];
/// How much of its rate a bucket holds: a minute's worth.
const BURST: Duration = Duration::from_secs(60);
/// How often a team's plan is read again.
const PLAN_REFRESH: Duration = Duration::from_secs(60);
/// Buckets kept at most; beyond, they start over (full).
const CAPACITY: usize = 100_000;

/// The buckets of this instance; cheap to clone.
#[derive(Clone, Debug)]
pub struct IngestRates {
    scale: f64,
    buckets: Arc<Mutex<HashMap<Uuid, Bucket>>>,
}

#[derive(Debug)]
struct Bucket {
    /// Alerts per second.
    rate: f64,
    tokens: f64,
    refilled_at: Instant,
    plan_read_at: Instant,
}

impl Bucket {
    fn capacity(&self) -> f64 {
        self.rate * BURST.as_secs_f64()
    }

    /// Takes `cost` tokens if there are that many; else how long until there are.
    fn take(&mut self, cost: f64, now: Instant) -> Result<(), Duration> {
        let elapsed = now.saturating_duration_since(self.refilled_at).as_secs_f64();
        self.tokens = (self.tokens + elapsed * self.rate).min(self.capacity());
        self.refilled_at = now;
        let cost = cost.min(self.capacity());
        if self.tokens >= cost {
            self.tokens -= cost;
            Ok(())
        } else {
            Err(Duration::from_secs_f64((cost - self.tokens) / self.rate))
        }
    }
}

impl IngestRates {
    /// Limits at each plan's rate times `scale` (0: no limits).
    pub fn new(scale: f64) -> Self {
        IngestRates { scale, buckets: Arc::default() }
    }

    /// Admits `alerts` alerts of `team`, or refuses them with
    /// [`AppError::TooManyRequests`] saying when to try again.
    pub async fn admit(&self, db: &PgPool, team: Uuid, alerts: usize) -> Result<(), AppError> {
        if self.scale <= 0.0 {
            return Ok(());
        }
        let now = Instant::now();
        let stale = self
            .buckets
            .lock()
            .expect("not poisoned")
            .get(&team)
            .is_none_or(|bucket| now.duration_since(bucket.plan_read_at) >= PLAN_REFRESH);
        if stale {
            let plan: Option<String> = sqlx::query_scalar("select plan from teams where id = $1")
                .bind(team)
                .fetch_optional(db)
                .await
                .or_internal("reading a team's plan failed")?;
            let rate =
                self.scale * RATES.iter().find(|(id, _)| Some(*id) == plan.as_deref()).map_or(RATES[0].1, |r| r.1);
            let mut buckets = self.buckets.lock().expect("not poisoned");
            if buckets.len() >= CAPACITY {
                buckets.clear();
            }
            let bucket = buckets.entry(team).or_insert_with(|| Bucket {
                rate,
                tokens: rate * BURST.as_secs_f64(),
                refilled_at: now,
                plan_read_at: now,
            });
            bucket.rate = rate;
            bucket.plan_read_at = now;
        }
        let mut buckets = self.buckets.lock().expect("not poisoned");
        let bucket = buckets.get_mut(&team).ok_or(AppError::Internal)?;
        bucket
            .take(alerts.max(1) as f64, now)
            .map_err(|wait| AppError::TooManyRequests { retry_after_secs: wait.as_secs().max(1) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bucket_lets_a_minute_of_its_rate_through_then_its_rate() {
        let start = Instant::now();
        let mut bucket = Bucket { rate: 10.0, tokens: 600.0, refilled_at: start, plan_read_at: start };
        assert_eq!((0..600).filter(|_| bucket.take(1.0, start).is_ok()).count(), 600, "a burst of a minute's worth");
        let wait = bucket.take(1.0, start).unwrap_err();
        assert!(wait <= Duration::from_millis(100), "{wait:?}");
        let later = start + Duration::from_secs(2);
        assert_eq!((0..100).filter(|_| bucket.take(1.0, later).is_ok()).count(), 20, "10 a second after");
        assert!(bucket.take(10_000.0, later + Duration::from_secs(60)).is_ok(), "a delivery larger than the bucket");
    }
}
