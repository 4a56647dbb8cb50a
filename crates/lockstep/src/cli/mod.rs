//! The command line: `serve`, `demo`, `migrate`, `sandbox`.

use clap::{Parser, Subcommand};

/// Lockstep keeps the records a platform owns in step with every third party
/// its customers connect.
#[derive(Debug, Parser)]
#[command(name = "lockstep", version, about)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

/// What to run.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve a SCIM 2.0 sandbox directory (a third party to sync to).
    Sandbox(crate::sandbox::SandboxArgs),
}

/// Runs the chosen command to completion.
pub async fn dispatch(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Sandbox(args) => crate::sandbox::run(args).await,
    }
}
