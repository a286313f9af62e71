//! The `gesang` binary.

use clap::Parser;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = server::config::Cli::parse();
    server::telemetry::init_logging(&cli.global.log, cli.global.log_format);
    server::cli::run(cli).await
}
