//! Stock coming in and being counted: receipts and counts (blind or not).

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use custody_clinic::Permission;
use custody_clinic::acts::{CountStock, ReceiptLine, ReceiveInvoice, received_containers};
use custody_ledger::*;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::auth::Auth;
use crate::ceremony::{Recorded, RequestOrigin, WouldRecord, ceremony, last, parse};
use crate::error::{ApiError, ApiResult};
use crate::extract::{Json as Body, Path};
use crate::state::AppState;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PartyBody {
    pub name: String,
    pub address: String,
    pub dea: String,
}

impl PartyBody {
    pub fn party(&self, what: &str) -> ApiResult<Party> {
        Ok(Party {
            name: parse(&format!("{what} name"), &self.name)?,
            address: parse(&format!("{what} address"), &self.address)?,
            dea: parse(&format!("{what} DEA number"), &self.dea)?,
        })
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReceiptRequest {
    /// Your password: it signs this act (ignored in a dry run).
    #[serde(default)]
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
    /// Check everything the ledger's rules can check, sign nothing, record nothing.
    #[serde(default)]
    pub dry_run: bool,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ReceiptRecorded {
    #[serde(flatten)]
    pub recorded: Recorded,
    /// The ids of the containers received.
    pub containers: Vec<String>,
}

/// What a receipt answers: the entry and its containers, or, with `dry_run`, what it would
/// record.
#[derive(Debug, Serialize, ToSchema)]
#[serde(untagged)]
pub enum ReceiptAnswer {
    Recorded(ReceiptRecorded),
    DryRun(WouldRecord),
}

/// Receives stock against an invoice; each container gets an id.
#[utoipa::path(
    post,
    path = "/api/v1/ledgers/{ledger}/receipts",
    params(("ledger" = String, Path), ("Idempotency-Key" = Option<String>, Header, description = "the same key again records nothing and answers as the first time")),
    request_body = ReceiptRequest,
    responses(
        (status = 200, body = ReceiptAnswer, description = "recorded (with dry_run: what would be recorded)"),
        crate::responses::ActRefusals,
    ),
    tag = "stock"
)]
pub async fn receive(
    State(state): State<AppState>,
    Path(ledger): Path<LedgerId>,
    RequestOrigin(origin): RequestOrigin,
    auth: Auth,
    Body(req): Body<ReceiptRequest>,
) -> ApiResult<Response> {
    auth.require(ledger, Permission::Author(Kind::Receipt))?;
    let cmd = ReceiveInvoice {
        supplier: req.supplier.party("supplier")?,
        invoice: parse("invoice", &req.invoice)?,
        received_on: parse("received_on", &req.received_on)?,
        lines: vec![ReceiptLine {
            product: parse("product", &req.product)?,
            lot: parse("lot", &req.lot)?,
            expiry: parse("expiry", &req.expiry)?,
            containers: req.containers,
            location: parse("location", &req.location)?,
        }],
    };
    let c = ceremony(req.dry_run, &req.password, &[]);
    let o = state.clinic.receive(&auth, cmd, c, &origin).await?;
    let (recorded, a) = match last(&state, &o)? {
        Ok(x) => x,
        Err(dry_run) => return Ok(dry_run),
    };
    let containers = match a.entry.payload() {
        Payload::Receipt(r) => received_containers(a.entry.seq, r.containers),
        _ => Vec::new(),
    };
    Ok(Json(ReceiptRecorded {
        recorded,
        containers: containers.iter().map(ToString::to_string).collect(),
    })
    .into_response())
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CountRequest {
    /// Your password: it signs this act (ignored in a dry run).
    #[serde(default)]
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
    /// Check everything the ledger's rules can check, sign nothing, record nothing.
    #[serde(default)]
    pub dry_run: bool,
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

/// What a count answers: the entry and what the ledger expected, or, with `dry_run`, what
/// it would record (without `expected`: a count is blind until signed).
#[derive(Debug, Serialize, ToSchema)]
#[serde(untagged)]
pub enum CountAnswer {
    Recorded(CountRecorded),
    DryRun(WouldRecord),
}

/// Records a count; the server states what the ledger expects.
#[utoipa::path(
    post,
    path = "/api/v1/ledgers/{ledger}/counts",
    params(("ledger" = String, Path), ("Idempotency-Key" = Option<String>, Header, description = "the same key again records nothing and answers as the first time")),
    request_body = CountRequest,
    responses(
        (status = 200, body = CountAnswer, description = "recorded (with dry_run: what would be recorded)"),
        crate::responses::ActRefusals,
    ),
    tag = "stock"
)]
pub async fn count(
    State(state): State<AppState>,
    Path(ledger): Path<LedgerId>,
    RequestOrigin(origin): RequestOrigin,
    auth: Auth,
    Body(req): Body<CountRequest>,
) -> ApiResult<Response> {
    auth.require(ledger, Permission::Author(Kind::Count))?;
    let cmd = CountStock {
        location: parse("location", &req.location)?,
        product: parse("product", &req.product)?,
        blind: req.blind,
        counted: Tally {
            sealed: req.counted_sealed,
            open: req.counted_open,
        },
    };
    let c = ceremony(req.dry_run, &req.password, &[]);
    let o = state.clinic.count(&auth, cmd, c, &origin).await?;
    let (recorded, a) = match last(&state, &o)? {
        Ok(x) => x,
        Err(dry_run) => return Ok(dry_run),
    };
    let Payload::Count(c) = a.entry.payload() else {
        return Err(ApiError::internal("the count recorded another kind"));
    };
    Ok(Json(CountRecorded {
        recorded,
        expected_sealed: c.expected.sealed,
        expected_open: c.expected.open,
        discrepancy: c.counted != c.expected,
    })
    .into_response())
}

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/ledgers/{ledger}/receipts", post(receive))
        .route("/api/v1/ledgers/{ledger}/counts", post(count))
}
