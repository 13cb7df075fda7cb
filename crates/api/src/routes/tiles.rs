//! The ledger as a C2SP tlog-tiles log, for auditors who mirror it: the newest checkpoint,
//! the Merkle tree's tiles, entry bundles of leaf data (the 32-byte entry hashes), and bundles
//! of the same shape holding the canonical entry bytes behind them. Admins and auditors only,
//! unless the server was started with `--public-tiles`.

use axum::Router;
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use custody_clinic::Permission;
use custody_ledger::LedgerId;
use custody_ledger::tiles::{TileKind, TilePath};
use custody_store::tiles::BundleOf;

use crate::auth::Auth;
use crate::error::{ApiError, ApiResult};
use crate::extract::Path;
use crate::state::AppState;

/// Anyone with `--public-tiles`; else a signed-in admin or auditor of this ledger.
fn allowed(state: &AppState, auth: Result<Auth, ApiError>, ledger: LedgerId) -> ApiResult<()> {
    if state.config.public_tiles {
        return Ok(());
    }
    auth?.require(ledger, Permission::Tiles)
}

fn octets(bytes: Vec<u8>, public: bool) -> Response {
    // A tile of a given width never changes: cache it for good.
    let cache = if public {
        "public, max-age=31536000, immutable"
    } else {
        "private, max-age=31536000, immutable"
    };
    (
        [
            (header::CONTENT_TYPE, "application/octet-stream"),
            (header::CACHE_CONTROL, cache),
        ],
        bytes,
    )
        .into_response()
}

async fn checkpoint(
    State(state): State<AppState>,
    Path(ledger): Path<LedgerId>,
    auth: Result<Auth, ApiError>,
) -> ApiResult<Response> {
    allowed(&state, auth, ledger)?;
    state.store.head(ledger).await?;
    let note = state
        .newest_checkpoint(ledger)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("ledger {ledger} has no checkpoint yet")))?;
    Ok((
        [
            (header::CONTENT_TYPE, "text/plain; charset=utf-8"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        note,
    )
        .into_response())
}

fn parse(path: &str) -> ApiResult<TilePath> {
    path.parse::<TilePath>()
        .map_err(|e| ApiError::not_found(e.to_string()))
}

async fn serve(
    state: &AppState,
    ledger: LedgerId,
    tile: TilePath,
    of: BundleOf,
) -> ApiResult<Response> {
    let bytes = state.store.tile(ledger, tile, of).await?.ok_or_else(|| {
        ApiError::not_found(format!(
            "ledger {ledger} does not hold all of tile {tile} yet"
        ))
    })?;
    Ok(octets(bytes, state.config.public_tiles))
}

async fn tile(
    State(state): State<AppState>,
    Path((ledger, path)): Path<(LedgerId, String)>,
    auth: Result<Auth, ApiError>,
) -> ApiResult<Response> {
    allowed(&state, auth, ledger)?;
    let tile = parse(&path)?;
    serve(&state, ledger, tile, BundleOf::LeafData).await
}

async fn bundle(
    State(state): State<AppState>,
    Path((ledger, path)): Path<(LedgerId, String)>,
    auth: Result<Auth, ApiError>,
) -> ApiResult<Response> {
    allowed(&state, auth, ledger)?;
    let tile = parse(&format!("entries/{path}"))?;
    debug_assert_eq!(tile.kind, TileKind::Entries);
    serve(&state, ledger, tile, BundleOf::Entries).await
}

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/tlog/{ledger}/checkpoint", get(checkpoint))
        .route("/tlog/{ledger}/tile/{*path}", get(tile))
        .route("/tlog/{ledger}/bundle/{*path}", get(bundle))
}
