//! The `dreamops` binary: reads the settings, starts the server, stops on SIGTERM or Ctrl-C.

use app::server::config::Settings;
use server::startup::{Application, shutdown_signal};
use server::telemetry;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let settings = Settings::from_env()?;
    telemetry::init(&settings.log)?;
    let leptos_options = server::startup::leptos_options_from_env()?;
    let application = Application::build(settings, leptos_options).await.inspect_err(|error| {
        tracing::error!(error = format!("{error:#}"), "DreamOps could not start");
    })?;
    tracing::info!(address = %application.local_addr(), "DreamOps is listening");
    application.run_until_stopped(shutdown_signal()).await
}
