//! The health of a DreamOps deployment, as the status widget and `/ready` report it.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// What the server knows about its own health at one moment.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SystemStatus {
    /// The DreamOps version serving this request.
    pub version: String,
    /// Whether the database answered, and the state of its schema.
    pub database: DatabaseStatus,
    /// When the server took this reading: milliseconds since the Unix epoch on the
    /// wire, which the browser reads without a date parser (the status widget sits on
    /// the landing page, in the first visit's bundle).
    #[serde(with = "chrono::serde::ts_milliseconds")]
    pub checked_at: DateTime<Utc>,
}

/// The database as seen from one server instance.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum DatabaseStatus {
    /// The database answered within the time limit.
    Reachable {
        /// Migrations recorded as applied in the database.
        migrations_applied: u32,
        /// Migrations this build of DreamOps ships.
        migrations_expected: u32,
        /// How long the round trip took, in milliseconds.
        latency_ms: u32,
    },
    /// The database did not answer; the reason is in the server's log.
    Unreachable,
}

impl SystemStatus {
    /// Ready to serve traffic: the database answers and every migration is applied.
    pub fn is_ready(&self) -> bool {
        self.database.is_ready()
    }
}

impl DatabaseStatus {
    /// The database answers and its schema is exactly what this build expects.
    pub fn is_ready(&self) -> bool {
        matches!(
            self,
            DatabaseStatus::Reachable { migrations_applied, migrations_expected, .. }
                if migrations_applied >= migrations_expected
        )
    }

    /// One line for people: "Connected", "Migrating (1 of 2 applied)" or "Unreachable".
    pub fn summary(&self) -> String {
        match self {
            DatabaseStatus::Reachable { migrations_applied, migrations_expected, .. } => {
                if migrations_applied >= migrations_expected {
                    "Connected".to_string()
                } else {
                    format!("Migrating ({migrations_applied} of {migrations_expected} applied)")
                }
            }
            DatabaseStatus::Unreachable => "Unreachable".to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reachable(applied: u32, expected: u32) -> DatabaseStatus {
        DatabaseStatus::Reachable { migrations_applied: applied, migrations_expected: expected, latency_ms: 1 }
    }

    #[test]
    fn ready_only_when_reachable_and_fully_migrated() {
        assert!(reachable(2, 2).is_ready());
        assert!(!reachable(1, 2).is_ready());
        assert!(!DatabaseStatus::Unreachable.is_ready());
    }

    #[test]
    fn summary_names_pending_migrations() {
        assert_eq!(reachable(2, 2).summary(), "Connected");
        assert_eq!(reachable(1, 3).summary(), "Migrating (1 of 3 applied)");
        assert_eq!(DatabaseStatus::Unreachable.summary(), "Unreachable");
    }
}
