//! Stock coming in and being counted: receipts and counts (blind or not).

use axum::extract::State;
use axum::routing::post;
use axum::{Json, Router};
use custody_ledger::*;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::auth::Auth;
use crate::ceremony::{Recorded, act, parse, require_author};
use crate::error::{ApiError, ApiResult};
use crate::extract::{Client, Json as Body, Path};
use crate::state::AppState;

#[derive(Debug, Deserialize, ToSchema)]
pub struct PartyBody {
    pub name: String,
    pub address: String,
    pub dea: String,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct ReceiptRequest {
    /// Your password: it signs this act.
    pub password: String,
    pub supplier: PartyBody,
    pub invoice: String,
    /// YYYY-MM-DD
    pub received_on: String,
    /// NDC in any FDA layout.
    pub product: String,
    pub lot: String,
    /// YYYY-MM-DD
    pub expiry: String,
    /// How many containers (vials, devices, bottles).
    pub containers: u32,
    pub location: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ReceiptRecorded {
    #[serde(flatten)]
    pub recorded: Recorded,
    /// The ids of the containers received.
    pub containers: Vec<String>,
}

/// Receives stock against an invoice; each container gets an id.
#[utoipa::path(
    post,
    path = "/api/v1/ledgers/{ledger}/receipts",
    params(("ledger" = String, Path)),
    request_body = ReceiptRequest,
    responses((status = 200, body = ReceiptRecorded), (status = 403, body = crate::error::ErrorBody), (status = 422, body = crate::error::ErrorBody)),
    tag = "stock"
)]
pub async fn receive(
    State(state): State<AppState>,
    Path(ledger): Path<LedgerId>,
    Client(client): Client,
    auth: Auth,
    Body(req): Body<ReceiptRequest>,
) -> ApiResult<Json<ReceiptRecorded>> {
    record_receipt(&state, ledger, &auth, &client, &req)
        .await
        .map(Json)
}

/// Records one receipt line signed by `auth`.
pub async fn record_receipt(
    state: &AppState,
    ledger: LedgerId,
    auth: &Auth,
    client: &str,
    req: &ReceiptRequest,
) -> ApiResult<ReceiptRecorded> {
    require_author(auth, ledger, Kind::Receipt)?;
    let receipt = Receipt {
        supplier: Party {
            name: parse("supplier name", &req.supplier.name)?,
            address: parse("supplier address", &req.supplier.address)?,
            dea: parse("supplier DEA number", &req.supplier.dea)?,
        },
        invoice: parse("invoice", &req.invoice)?,
        received_on: parse("received_on", &req.received_on)?,
        product: parse("product", &req.product)?,
        lot: parse("lot", &req.lot)?,
        expiry: parse("expiry", &req.expiry)?,
        containers: req.containers,
        location: parse("location", &req.location)?,
    };
    let containers_received = receipt.containers;
    let recorded = act(state, ledger, auth, client, &req.password, &[], receipt).await?;
    let seq = Seq::new(recorded.seq).map_err(|e| ApiError::internal(e.to_string()))?;
    let containers = (1..=containers_received)
        .filter_map(|i| ContainerId::new(seq, i).ok())
        .map(|c| c.to_string())
        .collect();
    Ok(ReceiptRecorded {
        recorded,
        containers,
    })
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct CountRequest {
    /// Your password: it signs this act.
    pub password: String,
    pub location: String,
    pub product: String,
    /// A blind count: the counter was not shown what the ledger expects.
    #[serde(default)]
    pub blind: bool,
    /// Sealed containers found.
    pub counted_sealed: u32,
    /// What open containers hold, in µL (solutions) or units.
    #[serde(default)]
    pub counted_open: u64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CountRecorded {
    #[serde(flatten)]
    pub recorded: Recorded,
    pub expected_sealed: u32,
    pub expected_open: u64,
    /// The count differs from the ledger: an adjustment must resolve it.
    pub discrepancy: bool,
}

/// Records a count; the server states what the ledger expects.
#[utoipa::path(
    post,
    path = "/api/v1/ledgers/{ledger}/counts",
    params(("ledger" = String, Path)),
    request_body = CountRequest,
    responses((status = 200, body = CountRecorded), (status = 403, body = crate::error::ErrorBody), (status = 409, body = crate::error::ErrorBody)),
    tag = "stock"
)]
pub async fn count(
    State(state): State<AppState>,
    Path(ledger): Path<LedgerId>,
    Client(client): Client,
    auth: Auth,
    Body(req): Body<CountRequest>,
) -> ApiResult<Json<CountRecorded>> {
    record_count(&state, ledger, &auth, &client, &req)
        .await
        .map(Json)
}

/// Records a count; states what the ledger expected.
pub async fn record_count(
    state: &AppState,
    ledger: LedgerId,
    auth: &Auth,
    client: &str,
    req: &CountRequest,
) -> ApiResult<CountRecorded> {
    require_author(auth, ledger, Kind::Count)?;
    let location: LocationId = parse("location", &req.location)?;
    let product: Ndc = parse("product", &req.product)?;
    let expected = state.store.tally(ledger, &location, &product).await?;
    let counted = Tally {
        sealed: req.counted_sealed,
        open: req.counted_open,
    };
    let payload = Count {
        location,
        product,
        blind: req.blind,
        expected,
        counted,
    };
    Ok(CountRecorded {
        recorded: act(state, ledger, auth, client, &req.password, &[], payload).await?,
        expected_sealed: expected.sealed,
        expected_open: expected.open,
        discrepancy: counted != expected,
    })
}

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/ledgers/{ledger}/receipts", post(receive))
        .route("/api/v1/ledgers/{ledger}/counts", post(count))
}
