//! # custody-api
//!
//! The HTTP faces of the clinic: `routes` turn JSON into the clinic's commands, `web` turns
//! forms into the same commands (askama pages); neither imports the other. Handlers are thin:
//! they extract, build a command, call the clinic (`custody-clinic`), and map the result;
//! every refusal is one JSON error body (see `error`), mapped once from `ClinicError`.

pub mod auth;
pub mod ceremony;
pub mod docs;
pub mod error;
pub mod extract;
pub mod metrics;
pub mod responses;
pub mod routes;
pub mod state;
pub mod web;

use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::get;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;
use utoipa::OpenApi;

pub use state::{ApiConfig, AppState};

#[derive(OpenApi)]
#[openapi(
    info(title = "custody", description = "Controlled-substance ledger API"),
    paths(
        routes::health::healthz,
        routes::health::readyz,
        auth::login,
        auth::logout,
        routes::ledger::ledgers,
        routes::ledger::head,
        routes::ledger::entries,
        routes::ledger::entry,
        routes::ledger::verify,
        routes::ledger::issue_checkpoint,
        routes::ledger::list_checkpoints,
        routes::stock::on_hand,
        routes::stock::open,
        routes::stock::administer,
        routes::doses::give,
        routes::waste::waste,
        routes::waste::awaiting,
        routes::waste::witness,
        routes::containers::list,
        routes::containers::discrepancies,
        routes::containers::one,
        routes::containers::history,
        routes::containers::adjust,
        routes::containers::patient_label,
        routes::movements::dispense,
        routes::movements::transfer,
        routes::movements::loss,
        routes::inventories::inventory,
        routes::inventories::losses,
        routes::inventories::reported,
        routes::movements::destruction,
        routes::movements::correction,
        routes::receiving::receive,
        routes::receiving::count,
        routes::catalog::products,
        routes::catalog::define_product,
        routes::catalog::locations,
        routes::catalog::define_location,
        routes::people::list,
        routes::people::enroll,
        routes::people::bootstrap,
        routes::people::change_role,
        routes::people::deactivate,
        routes::people::reset,
        routes::people::change_password,
        routes::people::rotate_key,
        routes::patients::save,
        routes::patients::get_one,
        routes::patients::erase,
        routes::ledger::get_checkpoint,
        routes::ledger::newest_checkpoint,
        routes::ledger::consistency,
        routes::ledger::export,
        routes::reports::report,
        routes::analytics::analytics,
        routes::pmp::file,
        routes::pmp::identifiers,
        routes::pmp::set_identifiers,
        routes::pmp::set_prescriber,
        routes::pmp::set_prescription,
        routes::rems::open,
        routes::rems::list,
        routes::rems::one,
        routes::rems::observations,
        routes::rems::close,
        routes::rems::form,
        routes::rems::form_pdf,
    ),
    tags(
        (name = "session", description = "Sign in and out"),
        (name = "ledger", description = "Entries, verification, checkpoints"),
        (name = "stock", description = "On hand and signed acts"),
        (name = "people", description = "Users, roles, passwords and keys"),
        (name = "catalog", description = "Products and locations"),
        (name = "patients", description = "Identifying records behind patient commitments"),
        (name = "reports", description = "Signed PDF reports"),
        (name = "analytics", description = "Diversion analytics: signals against peers, tiers, the entries behind them"),
        (name = "pmp", description = "State prescription monitoring program (ASAP) files"),
        (name = "rems", description = "Spravato REMS monitoring sessions and their Patient Monitoring Forms"),
        (name = "health", description = "Liveness and readiness"),
    )
)]
pub struct ApiDoc;

/// The whole service, with its layers.
pub fn app(state: AppState) -> Router {
    let api = Router::new()
        .route(
            "/api/v1/ledgers/{ledger}/session",
            axum::routing::post(auth::login).delete(auth::logout),
        )
        .merge(routes::health::router())
        .merge(routes::ledger::router())
        .merge(routes::stock::router())
        .merge(routes::doses::router())
        .merge(routes::receiving::router())
        .merge(routes::people::router())
        .merge(routes::waste::router())
        .merge(routes::containers::router())
        .merge(routes::movements::router())
        .merge(routes::inventories::router())
        .merge(routes::catalog::router())
        .merge(routes::patients::router())
        .merge(routes::tiles::router())
        .merge(routes::reports::router())
        .merge(routes::analytics::router())
        .merge(routes::pmp::router())
        .merge(routes::rems::router())
        .merge(web::router())
        .route(
            "/api/openapi.json",
            get(|| async { axum::Json(ApiDoc::openapi()) }),
        )
        .merge(docs::router())
        .route("/metrics", get(metrics::render))
        .route_layer(axum::middleware::from_fn_with_state(
            state.metrics.clone(),
            metrics::track,
        ))
        .with_state(state);
    api.layer(axum::middleware::from_fn(web::security_headers))
        .layer(DefaultBodyLimit::max(64 * 1024))
        .layer(TimeoutLayer::with_status_code(
            axum::http::StatusCode::REQUEST_TIMEOUT,
            Duration::from_secs(30),
        ))
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(|req: &axum::http::Request<_>| {
                    let id = req
                        .headers()
                        .get("x-request-id")
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or("-");
                    tracing::info_span!(
                        "request",
                        method = %req.method(),
                        path = %req.uri().path(),
                        request_id = %id,
                    )
                })
                .on_response(
                    tower_http::trace::DefaultOnResponse::new()
                        .level(tracing::Level::INFO)
                        .latency_unit(tower_http::LatencyUnit::Micros),
                ),
        )
        .layer(PropagateRequestIdLayer::x_request_id())
        .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
}

/// Serves until `shutdown` resolves; requests in flight finish first.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: AppState,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(
        listener,
        app(state).into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown)
    .await
}
