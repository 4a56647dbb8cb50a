//! `lockstep serve` and `lockstep migrate`.

use std::path::Path;

use anyhow::Context;
use tokio_util::sync::CancellationToken;

use crate::config::Config;
use crate::App;

/// Serves until SIGINT or SIGTERM, then drains in-flight requests.
pub async fn serve(config_file: Option<&Path>) -> anyhow::Result<()> {
    let config = Config::load(config_file)?;
    tracing::info!(?config, "starting");
    let listen = config.listen;
    let app = App::build(config).await?;
    let listener = tokio::net::TcpListener::bind(listen).await.with_context(|| format!("binding {listen}"))?;
    let shutdown = CancellationToken::new();
    tokio::spawn(stop_on_signal(shutdown.clone()));
    app.run(listener, shutdown).await
}

/// Applies migrations (opening the store does) and reports.
pub async fn migrate(config_file: Option<&Path>) -> anyhow::Result<()> {
    let config = Config::load(config_file)?;
    crate::store::open(&config.database_url).await?;
    println!("migrations applied to {}", crate::config::redact_url(&config.database_url));
    Ok(())
}

/// Cancels `shutdown` on Ctrl-C or SIGTERM.
pub async fn stop_on_signal(shutdown: CancellationToken) {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {}
        _ = term => {}
    }
    tracing::info!("shutting down");
    shutdown.cancel();
}
