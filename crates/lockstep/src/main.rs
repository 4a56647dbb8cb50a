//! The `lockstep` binary: parse the command line, start telemetry, dispatch.

use clap::Parser;

fn main() -> anyhow::Result<()> {
    let cli = lockstep::cli::Cli::parse();
    lockstep::telemetry::init(cli.command.default_log_filter());
    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(lockstep::cli::dispatch(cli))
}
