//! What the benchmarks share: a database of their own on the PostgreSQL server of
//! DATABASE_URL (or 127.0.0.1:5432), dropped at the end.

use sqlx::{Connection as _, PgConnection};

#[allow(dead_code, reason = "only the load benchmarks send requests")]
pub mod load;

/// A database created for one benchmark run.
pub struct BenchDatabase {
    /// Its URL.
    pub url: String,
    name: String,
    admin: PgConnection,
}

impl BenchDatabase {
    /// Creates a fresh database.
    pub async fn create() -> Self {
        let admin_url =
            std::env::var("DATABASE_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
        let name = format!("dreamops_bench_{}", uuid::Uuid::new_v4().simple());
        let mut admin = PgConnection::connect(&admin_url).await.expect("a PostgreSQL server (set DATABASE_URL)");
        sqlx::query(&format!("create database {name}")).execute(&mut admin).await.unwrap();
        let mut url = url::Url::parse(&admin_url).unwrap();
        url.set_path(&format!("/{name}"));
        Self { url: url.to_string(), name, admin }
    }

    /// Server settings on this database, with `extra` variables set.
    pub fn settings(&self, extra: &[(&'static str, &'static str)]) -> app::server::config::Settings {
        let (url, extra) = (self.url.clone(), extra.to_vec());
        app::server::config::Settings::from_lookup(move |variable| match variable {
            "DATABASE_URL" => Some(url.clone()),
            "DREAMOPS_SECRET_KEY" => Some("0123456789abcdef".repeat(4)),
            other => extra.iter().find(|(name, _)| *name == other).map(|(_, value)| value.to_string()),
        })
        .expect("valid benchmark settings")
    }

    /// Drops the database (closing whatever is still connected to it).
    pub async fn drop(mut self) {
        sqlx::query(&format!("drop database {} with (force)", self.name)).execute(&mut self.admin).await.unwrap();
    }
}

/// A positive number from the environment, or the default.
pub fn setting(variable: &str, default: usize) -> usize {
    std::env::var(variable).ok().and_then(|n| n.parse().ok()).filter(|n| *n > 0).unwrap_or(default)
}

/// A server on `database` with `extra` settings, serving in the background, and a client
/// signed up as the owner of a team: the server's address and state, the client, the team.
#[allow(dead_code, reason = "the ingest benchmark starts its servers its own way")]
pub async fn start_signed_up(
    database: &BenchDatabase,
    extra: &[(&'static str, &'static str)],
) -> (String, app::server::state::AppState, reqwest::Client, uuid::Uuid) {
    let options = leptos::prelude::LeptosOptions::builder()
        .output_name("dreamops")
        .site_addr(([127, 0, 0, 1], 0))
        .site_root("target/site")
        .build();
    let application = server::startup::Application::build(database.settings(extra), options).await.unwrap();
    let address = format!("http://{}", application.local_addr());
    let state = application.state().clone();
    tokio::spawn(application.run_until_stopped(std::future::pending()));
    let client = reqwest::Client::builder().cookie_store(true).build().unwrap();
    let signed_up = client
        .post(format!("{address}/api/sign_up"))
        .form(&[("email", "bench@example.com"), ("password", "correct horse battery staple"), ("team_name", "Bench")])
        .send()
        .await
        .unwrap();
    assert!(signed_up.status().is_success() || signed_up.status().is_redirection());
    let team: uuid::Uuid = sqlx::query_scalar("select id from teams").fetch_one(&state.db).await.unwrap();
    (address, state, client, team)
}
