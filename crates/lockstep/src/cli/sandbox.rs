//! `lockstep sandbox`: the SCIM 2.0 sandbox third party (`lockstep-sandbox`)
//! served on its own, until Ctrl-C, with its fault switches set from the
//! command line.

use std::net::SocketAddr;

use anyhow::Context as _;
use lockstep_sandbox::{FaultSettings, RejectRule, Sandbox, SandboxOptions};
use tokio::net::TcpListener;

/// Command-line options of `lockstep sandbox`.
#[derive(Clone, clap::Args)]
pub struct SandboxArgs {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:9100")]
    pub listen: SocketAddr,
    /// The directory's name, shown in its ResourceType description and logs.
    #[arg(long, default_value = "Sandbox")]
    pub name: String,
    /// When set, every request needs `Authorization: Bearer <token>`.
    #[arg(long, env = "LOCKSTEP_SANDBOX_BEARER_TOKEN")]
    pub bearer_token: Option<String>,
    /// Delay every SCIM response by this many milliseconds.
    #[arg(long, default_value_t = 0)]
    pub latency_ms: u64,
    /// Refuse writes that set ATTR to VALUE with 400 invalidValue (repeatable),
    /// e.g. `title=Forbidden` or `emails[type eq "work"].value=x@example.com`.
    #[arg(long = "reject", value_name = "ATTR=VALUE")]
    pub reject: Vec<RejectRule>,
    /// Start with every /Users request answering 503.
    #[arg(long)]
    pub outage: bool,
}

impl std::fmt::Debug for SandboxArgs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SandboxArgs")
            .field("listen", &self.listen)
            .field("name", &self.name)
            .field("bearer_token", &self.bearer_token.as_ref().map(|_| "<redacted>"))
            .field("latency_ms", &self.latency_ms)
            .field("reject", &self.reject)
            .field("outage", &self.outage)
            .finish()
    }
}

impl SandboxArgs {
    /// The options these arguments describe (everything but the address).
    pub fn options(&self) -> SandboxOptions {
        SandboxOptions {
            name: self.name.clone(),
            bearer_token: self.bearer_token.clone(),
            faults: FaultSettings {
                latency_ms: self.latency_ms,
                outage: self.outage,
                reject: self.reject.clone(),
                ..FaultSettings::default()
            },
        }
    }
}

/// Runs the sandbox until interrupted (Ctrl-C).
pub async fn run(args: SandboxArgs) -> anyhow::Result<()> {
    let listener = TcpListener::bind(args.listen).await.with_context(|| format!("cannot listen on {}", args.listen))?;
    let handle = Sandbox::start(listener, args.options()).await;
    println!("{} sandbox serving SCIM 2.0 at {}", args.name, handle.base_url());
    tracing::info!(
        sandbox = %args.name,
        base_url = %handle.base_url(),
        token = args.bearer_token.is_some(),
        faults = ?handle.faults().settings(),
        "sandbox started"
    );
    tokio::signal::ctrl_c().await.context("waiting for Ctrl-C")?;
    handle.shutdown().await;
    Ok(())
}
