//! Stock leaving or moving: take-home dispensing, transfers, losses and thefts, destruction,
//! and corrections of earlier entries. Each is a pharmacist's signed act (a correction may
//! also be an admin's); destruction needs two witnesses signing in the same request.

use axum::Router;
use axum::extract::State;
use axum::response::Response;
use axum::routing::post;
use custody_clinic::Permission;
use custody_clinic::acts::{Destroy, Dispense, Lose};
use custody_ledger::*;
use serde::Deserialize;
use utoipa::ToSchema;

use crate::auth::Auth;
use crate::ceremony::{
    ActAnswer, ItemBody, RequestOrigin, WitnessBody, ceremony, items, parse, respond,
};
use crate::error::{ApiError, ApiResult};
use crate::extract::{Json as Body, Path};
use crate::routes::stock::PrescriberBody;
use crate::state::AppState;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DispenseRequest {
    /// Check everything the ledger's rules can check, sign nothing, record nothing.
    #[serde(default)]
    pub dry_run: bool,
    #[serde(default)]
    pub password: String,
    /// The patient's reference (MRN); only a keyed commitment of it enters the ledger.
    pub patient: String,
    pub prescriber: PrescriberBody,
    /// Sealed containers handed over whole.
    #[serde(default)]
    pub sealed: Vec<String>,
    /// Amounts drawn from open containers.
    #[serde(default)]
    pub from_open: Vec<ItemBody>,
}

/// Dispenses a take-home supply to a patient.
#[utoipa::path(
    post,
    path = "/api/v1/ledgers/{ledger}/dispenses",
    params(("ledger" = String, Path), ("Idempotency-Key" = Option<String>, Header, description = "the same key again records nothing and answers as the first time")),
    request_body = DispenseRequest,
    responses((status = 200, body = ActAnswer, description = "recorded (with dry_run: what would be recorded)"), crate::responses::ActRefusals),
    tag = "stock"
)]
pub async fn dispense(
    State(state): State<AppState>,
    Path(ledger): Path<LedgerId>,
    RequestOrigin(origin): RequestOrigin,
    auth: Auth,
    Body(req): Body<DispenseRequest>,
) -> ApiResult<Response> {
    auth.require(ledger, Permission::Author(Kind::Dispensed))?;
    let cmd = Dispense {
        patient: req.patient.clone(),
        prescriber: req.prescriber.prescriber()?,
        sealed: req
            .sealed
            .iter()
            .map(|c| parse("container", c))
            .collect::<ApiResult<Vec<ContainerId>>>()?,
        from_open: items(&req.from_open)?,
    };
    let c = ceremony(req.dry_run, &req.password, &[]);
    let o = state.clinic.dispense(&auth, cmd, c, &origin).await?;
    respond(&state, o)
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum TransferDestination {
    /// Another storage location of this registrant.
    Location { location: String },
    /// Another DEA registrant.
    Registrant {
        name: String,
        address: String,
        dea: String,
    },
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TransferRequest {
    /// Check everything the ledger's rules can check, sign nothing, record nothing.
    #[serde(default)]
    pub dry_run: bool,
    #[serde(default)]
    pub password: String,
    pub containers: Vec<String>,
    pub to: TransferDestination,
}

/// Moves whole containers to another location, or out to another registrant.
#[utoipa::path(
    post,
    path = "/api/v1/ledgers/{ledger}/transfers",
    params(("ledger" = String, Path), ("Idempotency-Key" = Option<String>, Header, description = "the same key again records nothing and answers as the first time")),
    request_body = TransferRequest,
    responses((status = 200, body = ActAnswer, description = "recorded (with dry_run: what would be recorded)"), crate::responses::ActRefusals),
    tag = "stock"
)]
pub async fn transfer(
    State(state): State<AppState>,
    Path(ledger): Path<LedgerId>,
    RequestOrigin(origin): RequestOrigin,
    auth: Auth,
    Body(req): Body<TransferRequest>,
) -> ApiResult<Response> {
    auth.require(ledger, Permission::Author(Kind::Transfer))?;
    let containers = req
        .containers
        .iter()
        .map(|c| parse("container", c))
        .collect::<ApiResult<Vec<ContainerId>>>()?;
    let to = match &req.to {
        TransferDestination::Location { location } => TransferTo::Location {
            location: parse("location", location)?,
        },
        TransferDestination::Registrant { name, address, dea } => TransferTo::Registrant {
            registrant: Party {
                name: parse("registrant name", name)?,
                address: parse("registrant address", address)?,
                dea: parse("registrant DEA number", dea)?,
            },
        },
    };
    let payload = Transfer { containers, to };
    let c = ceremony(req.dry_run, &req.password, &[]);
    let o = state.clinic.record_one(&auth, payload, c, &origin).await?;
    respond(&state, o)
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LossRequest {
    /// Check everything the ledger's rules can check, sign nothing, record nothing.
    #[serde(default)]
    pub dry_run: bool,
    #[serde(default)]
    pub password: String,
    /// night break-in, armed robbery, employee pilferage, customer theft, lost in transit, other.
    pub loss_type: String,
    /// YYYY-MM-DD.
    pub discovered_on: String,
    pub police_report: Option<String>,
    pub items: Vec<ItemBody>,
    pub description: String,
    /// The count or inventory (its sequence number) whose shortage this loss explains.
    pub explains_count: Option<u64>,
}

/// Reports a loss or theft (the DEA Form 106 facts).
#[utoipa::path(
    post,
    path = "/api/v1/ledgers/{ledger}/losses",
    params(("ledger" = String, Path), ("Idempotency-Key" = Option<String>, Header, description = "the same key again records nothing and answers as the first time")),
    request_body = LossRequest,
    responses((status = 200, body = ActAnswer, description = "recorded (with dry_run: what would be recorded)"), crate::responses::ActRefusals),
    tag = "stock"
)]
pub async fn loss(
    State(state): State<AppState>,
    Path(ledger): Path<LedgerId>,
    RequestOrigin(origin): RequestOrigin,
    auth: Auth,
    Body(req): Body<LossRequest>,
) -> ApiResult<Response> {
    auth.require(ledger, Permission::Author(Kind::LossTheft))?;
    let cmd = Lose {
        loss_type: parse("loss_type", &req.loss_type)?,
        discovered_on: parse("discovered_on", &req.discovered_on)?,
        police_report: req
            .police_report
            .as_deref()
            .map(|p| parse("police_report", p))
            .transpose()?,
        items: items(&req.items)?,
        description: parse("description", &req.description)?,
        explains_count: req
            .explains_count
            .map(|n| Seq::new(n).map_err(|e| ApiError::invalid(format!("explains_count: {e}"))))
            .transpose()?,
    };
    let c = ceremony(req.dry_run, &req.password, &[]);
    let o = state.clinic.lose(&auth, cmd, c, &origin).await?;
    respond(&state, o)
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum DestructionMethodBody {
    /// Destroyed here (DEA Form 41): how and where.
    OnSite { method: String, place: String },
    /// Handed to a reverse distributor.
    ReverseDistributor {
        name: String,
        address: String,
        dea: String,
    },
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DestructionRequest {
    /// Check everything the ledger's rules can check, sign nothing, record nothing.
    #[serde(default)]
    pub dry_run: bool,
    #[serde(default)]
    pub password: String,
    pub method: DestructionMethodBody,
    /// YYYY-MM-DD.
    pub date: String,
    pub items: Vec<ItemBody>,
    /// The two witnesses, each signing in this request.
    pub witnesses: Vec<WitnessBody>,
}

/// Records a destruction or a return to a reverse distributor, before two witnesses.
#[utoipa::path(
    post,
    path = "/api/v1/ledgers/{ledger}/destructions",
    params(("ledger" = String, Path), ("Idempotency-Key" = Option<String>, Header, description = "the same key again records nothing and answers as the first time")),
    request_body = DestructionRequest,
    responses((status = 200, body = ActAnswer, description = "recorded (with dry_run: what would be recorded)"), crate::responses::ActRefusals),
    tag = "stock"
)]
pub async fn destruction(
    State(state): State<AppState>,
    Path(ledger): Path<LedgerId>,
    RequestOrigin(origin): RequestOrigin,
    auth: Auth,
    Body(req): Body<DestructionRequest>,
) -> ApiResult<Response> {
    auth.require(ledger, Permission::Author(Kind::Destruction))?;
    let method = match &req.method {
        DestructionMethodBody::OnSite { method, place } => DestructionMethod::OnSite {
            method: parse("method", method)?,
            place: parse("place", place)?,
        },
        DestructionMethodBody::ReverseDistributor { name, address, dea } => {
            DestructionMethod::ReverseDistributor {
                distributor: Party {
                    name: parse("distributor name", name)?,
                    address: parse("distributor address", address)?,
                    dea: parse("distributor DEA number", dea)?,
                },
            }
        }
    };
    let cmd = Destroy {
        method,
        date: parse("date", &req.date)?,
        items: items(&req.items)?,
        witnesses: req
            .witnesses
            .iter()
            .map(WitnessBody::user)
            .collect::<ApiResult<_>>()?,
    };
    let c = ceremony(req.dry_run, &req.password, &req.witnesses);
    let o = state.clinic.destroy(&auth, cmd, c, &origin).await?;
    respond(&state, o)
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CorrectionRequest {
    /// Check everything the ledger's rules can check, sign nothing, record nothing.
    #[serde(default)]
    pub dry_run: bool,
    #[serde(default)]
    pub password: String,
    /// The sequence number of the entry this corrects; it stays as it was.
    pub corrects: u64,
    pub reason: String,
}

/// Records a correction of an earlier entry (the entry itself never changes).
#[utoipa::path(
    post,
    path = "/api/v1/ledgers/{ledger}/corrections",
    params(("ledger" = String, Path), ("Idempotency-Key" = Option<String>, Header, description = "the same key again records nothing and answers as the first time")),
    request_body = CorrectionRequest,
    responses((status = 200, body = ActAnswer, description = "recorded (with dry_run: what would be recorded)"), crate::responses::ActRefusals),
    tag = "ledger"
)]
pub async fn correction(
    State(state): State<AppState>,
    Path(ledger): Path<LedgerId>,
    RequestOrigin(origin): RequestOrigin,
    auth: Auth,
    Body(req): Body<CorrectionRequest>,
) -> ApiResult<Response> {
    auth.require(ledger, Permission::Author(Kind::Correction))?;
    let payload = Correction {
        corrects: Seq::new(req.corrects)
            .map_err(|e| ApiError::invalid(format!("corrects: {e}")))?,
        reason: parse("reason", &req.reason)?,
    };
    let c = ceremony(req.dry_run, &req.password, &[]);
    let o = state.clinic.record_one(&auth, payload, c, &origin).await?;
    respond(&state, o)
}

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/ledgers/{ledger}/dispenses", post(dispense))
        .route("/api/v1/ledgers/{ledger}/transfers", post(transfer))
        .route(
            "/api/v1/ledgers/{ledger}/losses",
            post(loss).merge(super::inventories::losses_get()),
        )
        .route("/api/v1/ledgers/{ledger}/destructions", post(destruction))
        .route("/api/v1/ledgers/{ledger}/corrections", post(correction))
}
