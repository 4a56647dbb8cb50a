//! The sandbox third party (being written): a SCIM 2.0 `/Users` directory
//! served by `lockstep sandbox`, with switches to inject faults.

/// Command-line options of `lockstep sandbox`.
#[derive(Debug, Clone, clap::Args)]
pub struct SandboxArgs {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:9100")]
    pub listen: std::net::SocketAddr,
}

/// Runs the sandbox until interrupted.
pub async fn run(args: SandboxArgs) -> anyhow::Result<()> {
    let _ = args;
    anyhow::bail!("the sandbox is being written")
}
