//! The `dreamops` binary: reads the settings, starts the server, stops on SIGTERM or
//! Ctrl-C. `dreamops reseal` instead seals every stored credential with the current
//! secret key (after a key rotation) and exits.

use std::process::ExitCode;

use app::server::config::Settings;
use server::startup::{Application, shutdown_signal};
use server::telemetry;

#[tokio::main]
async fn main() -> ExitCode {
    let settings = match Settings::from_env() {
        Ok(settings) => settings,
        Err(error) => {
            // Before logging is set up: said plainly, on standard error.
            eprintln!("DreamOps could not start: {error}");
            return ExitCode::FAILURE;
        }
    };
    if let Err(error) = telemetry::init(&settings.log) {
        eprintln!("DreamOps could not start: {error:#}");
        return ExitCode::FAILURE;
    }
    match run(settings).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            // Logged as every other line is (one JSON object in production): failing to
            // start (the database, the keys, the address) or to serve.
            tracing::error!(error = format!("{error:#}"), "DreamOps failed");
            ExitCode::FAILURE
        }
    }
}

async fn run(settings: Settings) -> anyhow::Result<()> {
    match std::env::args().nth(1).as_deref() {
        None => {}
        Some("reseal") => {
            let resealed = server::startup::reseal(settings).await?;
            tracing::info!(resealed, "every stored credential is sealed with the current key");
            return Ok(());
        }
        Some(other) => anyhow::bail!("unknown command {other:?}: run `dreamops` to serve, `dreamops reseal` to reseal"),
    }
    let leptos_options = server::startup::leptos_options_from_env()?;
    let application = Application::build(settings, leptos_options).await?;
    tracing::info!(address = %application.local_addr(), "DreamOps is listening");
    application.run_until_stopped(shutdown_signal()).await
}
