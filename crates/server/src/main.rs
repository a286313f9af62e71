//! The `gesang` binary.

use clap::Parser;

/// mimalloc instead of glibc's malloc: the request path and the loaders make many small
/// strings, and glibc's bins took about a fifth of a history load's CPU (perf, 200,000 cases).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = server::config::Cli::parse();
    server::telemetry::init_logging(&cli.global.log, cli.global.log_format);
    server::cli::run(cli).await
}
