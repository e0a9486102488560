//! Reads the deployment's health: what `/ready` and the status widget report.

use std::time::{Duration, Instant};

use sqlx::PgPool;

use crate::domain::status::{DatabaseStatus, SystemStatus};
use crate::server::db;

/// How long a health check waits for the database before calling it unreachable.
const DATABASE_TIMEOUT: Duration = Duration::from_secs(2);

/// Takes a reading of this instance's health. Never fails: a database that does not
/// answer in time is reported as unreachable (and the cause logged).
pub async fn system_status(pool: &PgPool) -> SystemStatus {
    let started = Instant::now();
    let database = match tokio::time::timeout(DATABASE_TIMEOUT, db::applied_migrations(pool)).await {
        Ok(Ok(applied)) => DatabaseStatus::Reachable {
            migrations_applied: applied,
            migrations_expected: db::expected_migrations(),
            latency_ms: u32::try_from(started.elapsed().as_millis()).unwrap_or(u32::MAX),
        },
        Ok(Err(error)) => {
            tracing::warn!(error = %error, "health check: database query failed");
            DatabaseStatus::Unreachable
        }
        Err(_) => {
            tracing::warn!(timeout = ?DATABASE_TIMEOUT, "health check: database did not answer in time");
            DatabaseStatus::Unreachable
        }
    };
    SystemStatus { version: crate::server::config::VERSION.to_string(), database, checked_at: chrono::Utc::now() }
}
