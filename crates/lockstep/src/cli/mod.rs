//! The command line: `serve`, `demo`, `migrate`, `sandbox`, `config`,
//! `secret-key`; and the demo's SMTP sink.

mod demo;
mod sandbox;
mod serve;
mod smtp_sink;

use std::path::PathBuf;

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
    /// Serve the API and run the workers (configuration: file < LOCKSTEP_* environment).
    Serve {
        /// A TOML configuration file (see `lockstep config` for every key).
        #[arg(long, short)]
        config: Option<PathBuf>,
    },
    /// Apply the store's migrations and exit.
    Migrate {
        #[arg(long, short)]
        config: Option<PathBuf>,
    },
    /// Run everything on this machine: embedded SQLite, two sandbox third
    /// parties, a sample tenant with employees.
    Demo(demo::DemoArgs),
    /// Serve a SCIM 2.0 sandbox directory (a third party to sync to).
    Sandbox(sandbox::SandboxArgs),
    /// Print the default configuration, with a comment on every key.
    Config,
    /// Print a new random secret key for `secret_keys` (LOCKSTEP_SECRET_KEYS),
    /// the keys connector credentials are encrypted with.
    SecretKey,
}

impl Command {
    /// The log filter when `RUST_LOG` is unset. The demo prints a tour to the
    /// terminal, so its in-process sandboxes do not log every request there
    /// (named explicitly: the `lockstep` directive covers every target that
    /// starts with it, `lockstep_sandbox` too).
    pub fn default_log_filter(&self) -> &'static str {
        match self {
            Command::Demo(_) => "warn,lockstep=info,lockstep_sandbox=warn",
            _ => "info",
        }
    }
}

/// Runs the chosen command to completion.
pub async fn dispatch(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Serve { config } => serve::serve(config.as_deref()).await,
        Command::Migrate { config } => serve::migrate(config.as_deref()).await,
        Command::Demo(args) => demo::run(args).await,
        Command::Sandbox(args) => sandbox::run(args).await,
        Command::Config => {
            print!("{}", crate::config::DEFAULT_CONFIG);
            Ok(())
        }
        Command::SecretKey => {
            // The key alone on stdout, so `LOCKSTEP_SECRET_KEYS=$(lockstep secret-key)` works.
            let key = crate::secrets::SecretKey::generate();
            println!("{}", key.to_base64().as_str());
            eprintln!(
                "secret key id {}: keep the key in your secret store, and out of the database's backups",
                key.id()
            );
            Ok(())
        }
    }
}
