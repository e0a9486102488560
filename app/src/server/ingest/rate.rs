//! Each team's ingestion rate, bounded by its plan, so that one team's flood of alerts
//! cannot slow down every other team's: a token bucket per team on each instance,
//! refilled at the plan's rate and holding a minute of it (bursts pass, a sustained
//! flood is answered 429 with `Retry-After`, which every sender retries on). An alert
//! costs one token; a delivery larger than the bucket costs the whole bucket.
//!
//! The team's plan is read when its bucket is made and again every minute. Limits are
//! per instance: N instances take N times the rate. `INGEST_RATE_SCALE` multiplies every
//! plan's rate (0 turns the limits off, for benchmarks).

use std::time::{Duration, Instant};

use sqlx::PgPool;
use uuid::Uuid;

use crate::error::{AppError, OrInternal};
use crate::server::rate_limit::{Buckets, TokenBucket};

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
    buckets: Buckets<Uuid>,
    /// When each team's plan was last read.
    plans_read: Buckets<Uuid>,
}

impl IngestRates {
    /// Limits at each plan's rate times `scale` (0: no limits).
    pub fn new(scale: f64) -> Self {
        IngestRates { scale, buckets: Buckets::new(CAPACITY), plans_read: Buckets::new(CAPACITY) }
    }

    /// Admits `alerts` alerts of `team`, or refuses them with
    /// [`AppError::TooManyRequests`] saying when to try again.
    pub async fn admit(&self, db: &PgPool, team: Uuid, alerts: usize) -> Result<(), AppError> {
        if self.scale <= 0.0 {
            return Ok(());
        }
        let now = Instant::now();
        // A bucket of one token refilled once per PLAN_REFRESH says when to read again.
        let refresh = || TokenBucket::full(1.0 / PLAN_REFRESH.as_secs_f64(), 1.0, now);
        if self.plans_read.with(team, refresh, |due| due.take(1.0, now).is_ok()) {
            let plan: Option<String> = sqlx::query_scalar("select plan from teams where id = $1")
                .bind(team)
                .fetch_optional(db)
                .await
                .or_internal("reading a team's plan failed")?;
            let rate =
                self.scale * RATES.iter().find(|(id, _)| Some(*id) == plan.as_deref()).map_or(RATES[0].1, |r| r.1);
            let capacity = rate * BURST.as_secs_f64();
            self.buckets.with(team, || TokenBucket::full(rate, capacity, now), |bucket| bucket.resize(rate, capacity));
        }
        let free_rate = self.scale * RATES[0].1;
        self.buckets
            .with(
                team,
                || TokenBucket::full(free_rate, free_rate * BURST.as_secs_f64(), now),
                |bucket| bucket.take(alerts.max(1) as f64, now),
            )
            .map(|_| ())
            .map_err(|wait| AppError::TooManyRequests { retry_after_secs: wait.as_secs().max(1) })
    }
}
