//! Operations endpoints: `/healthz` for load balancers and orchestrators,
//! `/metrics` for Prometheus. Neither needs a token: they reveal counts,
//! never tenant data.
//!
//! `/healthz` makes one cheap store call, so a process that has lost its
//! database reports itself unhealthy (503) and is taken out of rotation.
//! `/metrics` refreshes the sync-state gauges from the store at scrape time;
//! if the store fails, the other metrics are still served.

use axum::extract::State;
use axum::http::header::CONTENT_TYPE;
use axum::response::IntoResponse;
use serde::Serialize;
use utoipa::ToSchema;

use super::problem::{ApiError, Problem};
use crate::http::AppState;

/// The Prometheus text exposition format.
const PROMETHEUS_TEXT: &str = "text/plain; version=0.0.4; charset=utf-8";

/// A healthy process.
#[derive(Debug, Serialize, ToSchema)]
pub struct Health {
    /// Always `ok`.
    pub status: &'static str,
}

/// Whether this process can serve: answers 200 once its store answers.
#[utoipa::path(get, path = "/healthz", tag = "operations",
    responses(
        (status = 200, description = "Healthy", body = Health),
        (status = 503, description = "The store does not answer", body = Problem),
    ))]
pub async fn healthz(State(state): State<AppState>) -> Result<axum::Json<Health>, ApiError> {
    // A primary-key lookup of a tenant that cannot exist: a round trip, no work.
    match state.engine.store().get_tenant(0).await {
        Ok(_) => Ok(axum::Json(Health { status: "ok" })),
        Err(error) => {
            tracing::warn!(%error, "health check: the store does not answer");
            Err(ApiError::Unavailable("the store does not answer".into()))
        }
    }
}

/// Prometheus metrics.
#[utoipa::path(get, path = "/metrics", tag = "operations",
    responses((status = 200, description = "The text exposition format", body = String, content_type = "text/plain")))]
pub async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    match state.engine.store().sync_status_counts().await {
        Ok(counts) => state.engine.metrics().set_sync_states(&counts),
        Err(error) => tracing::warn!(%error, "metrics: could not count sync states"),
    }
    ([(CONTENT_TYPE, PROMETHEUS_TEXT)], state.engine.metrics().render())
}
