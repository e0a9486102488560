//! Logs: readable lines locally, one JSON object per line when `LOG_FORMAT=json`.

use app::server::config::{LogFormat, LogSettings};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::format::FmtSpan;

/// Installs the global log subscriber. Fails if `RUST_LOG` cannot be parsed or a
/// subscriber is already installed.
pub fn init(settings: &LogSettings) -> anyhow::Result<()> {
    let filter = EnvFilter::try_new(&settings.filter)
        .map_err(|error| anyhow::anyhow!("RUST_LOG={:?} is not valid: {error}", settings.filter))?;
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_span_events(FmtSpan::NONE);
    let installed = match settings.format {
        LogFormat::Pretty => builder.compact().try_init(),
        LogFormat::Json => builder.json().with_current_span(true).with_span_list(false).try_init(),
    };
    installed.map_err(|error| anyhow::anyhow!("could not install the log subscriber: {error}"))
}
