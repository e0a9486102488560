//! The database: connection pool, schema migrations, and the queries of the tables many
//! modules share (users, teams and memberships, the audit trail, incident timelines),
//! one submodule per group. The rule for the rest: a table's SQL lives in the module
//! that owns it (its `store` submodule when it has one: API keys, invitations, sign-in
//! attempts under `auth`), and no other module queries that table. Every query of team
//! data takes the team id.

use std::time::Duration;

use secrecy::ExposeSecret;
use sqlx::PgPool;
use sqlx::migrate::Migrator;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};

use crate::server::config::DatabaseSettings;

pub mod audit;
pub mod teams;
pub mod timeline;
pub mod users;

/// `text` with LIKE's wildcards taken literally, for searches by part of a name.
pub fn escape_like(text: &str) -> String {
    text.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_")
}

/// The migrations in `migrations/`, embedded into the binary at compile time.
pub static MIGRATOR: Migrator = sqlx::migrate!("../migrations");

/// Opens a pool to the database without waiting for a first connection, so that an
/// instance whose database is down still starts and reports itself not ready.
pub fn connect_lazy(settings: &DatabaseSettings, url: &secrecy::SecretString) -> Result<PgPool, sqlx::Error> {
    let options: PgConnectOptions = url.expose_secret().parse()?;
    Ok(PgPoolOptions::new()
        .max_connections(settings.max_connections)
        .acquire_timeout(Duration::from_secs(settings.acquire_timeout_secs))
        .connect_lazy_with(options.application_name("dreamops")))
}

/// Applies every migration the database has not seen yet. Safe to run from several
/// instances at once: sqlx serialises them with an advisory lock.
pub async fn migrate(pool: &PgPool) -> Result<(), sqlx::migrate::MigrateError> {
    MIGRATOR.run(pool).await
}

/// How many migrations this build ships (down-migrations are not counted).
pub fn expected_migrations() -> u32 {
    let count = MIGRATOR.iter().filter(|m| m.migration_type.is_up_migration()).count();
    u32::try_from(count).unwrap_or(u32::MAX)
}

/// How many of this build's migrations the database records as successfully applied.
/// A database that has never been migrated has applied none.
pub async fn applied_migrations(pool: &PgPool) -> Result<u32, sqlx::Error> {
    let table_exists: bool =
        sqlx::query_scalar("select to_regclass('_sqlx_migrations') is not null").fetch_one(pool).await?;
    if !table_exists {
        return Ok(0);
    }
    let applied: Vec<i64> =
        sqlx::query_scalar("select version from _sqlx_migrations where success").fetch_all(pool).await?;
    let count = MIGRATOR.iter().filter(|m| m.migration_type.is_up_migration() && applied.contains(&m.version)).count();
    Ok(u32::try_from(count).unwrap_or(u32::MAX))
}
