//! Liveness and readiness.

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;

use crate::state::AppState;

/// The process is up.
#[utoipa::path(get, path = "/healthz", responses((status = 200, body = String)), tag = "health")]
pub async fn healthz() -> &'static str {
    "ok"
}

/// The database answers and its schema is current.
#[utoipa::path(
    get,
    path = "/readyz",
    responses((status = 200, body = String), (status = 503, body = String)),
    tag = "health"
)]
pub async fn readyz(State(state): State<AppState>) -> (StatusCode, &'static str) {
    match state.store.migrations_current().await {
        Ok(true) => (StatusCode::OK, "ready"),
        Ok(false) => (StatusCode::SERVICE_UNAVAILABLE, "migrations pending"),
        Err(_) => (StatusCode::SERVICE_UNAVAILABLE, "database unreachable"),
    }
}

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
}
