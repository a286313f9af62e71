//! Logs and metrics: `tracing` to stderr (text or JSON) and a Prometheus recorder.

use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use tracing_subscriber::EnvFilter;

use crate::config::LogFormat;

/// Install the global log subscriber. Logs go to stderr; stdout is kept for command output.
pub fn init_logging(filter: &str, format: LogFormat) {
    // PostgreSQL's notices ("relation … already exists, skipping" from the migration ledger's
    // `CREATE TABLE IF NOT EXISTS`) are not news; a filter that names sqlx decides otherwise.
    let filter = if filter.contains("sqlx") {
        filter.to_owned()
    } else {
        format!("{filter},sqlx::postgres::notice=warn")
    };
    let filter = EnvFilter::try_new(&filter).unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
    };
}

/// Install the Prometheus recorder; its handle renders `/metrics`.
pub fn init_metrics() -> Option<PrometheusHandle> {
    match PrometheusBuilder::new().install_recorder() {
        Ok(h) => Some(h),
        Err(e) => {
            tracing::warn!(error = %e, "metrics recorder already installed");
            None
        }
    }
}
