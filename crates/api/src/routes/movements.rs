//! Stock leaving or moving: take-home dispensing, transfers, losses and thefts, destruction,
//! and corrections of earlier entries. Each is a pharmacist's signed act (a correction may
//! also be an admin's); destruction needs two witnesses signing in the same request.

use axum::extract::State;
use axum::routing::post;
use axum::{Json, Router};
use custody_ledger::*;
use serde::Deserialize;
use utoipa::ToSchema;

use crate::auth::Auth;
use crate::ceremony::{ItemBody, Recorded, WitnessBody, act, items, parse, require_author};
use crate::error::{ApiError, ApiResult};
use crate::extract::{Client, Json as Body, Path};
use crate::routes::stock::PrescriberBody;
use crate::state::AppState;

#[derive(Debug, Deserialize, ToSchema)]
pub struct DispenseRequest {
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
    params(("ledger" = String, Path)),
    request_body = DispenseRequest,
    responses((status = 200, body = Recorded), (status = 409, body = crate::error::ErrorBody), (status = 422, body = crate::error::ErrorBody)),
    tag = "stock"
)]
pub async fn dispense(
    State(state): State<AppState>,
    Path(ledger): Path<LedgerId>,
    Client(client): Client,
    auth: Auth,
    Body(req): Body<DispenseRequest>,
) -> ApiResult<Json<Recorded>> {
    record_dispense(&state, ledger, &auth, &client, &req)
        .await
        .map(Json)
}

/// Records a take-home dispense.
pub async fn record_dispense(
    state: &AppState,
    ledger: LedgerId,
    auth: &Auth,
    client: &str,
    req: &DispenseRequest,
) -> ApiResult<Recorded> {
    require_author(auth, ledger, Kind::Dispensed)?;
    if req.patient.trim().is_empty() {
        return Err(ApiError::invalid("patient: a patient reference is needed"));
    }
    let prescriber = Prescriber {
        name: parse("prescriber name", &req.prescriber.name)?,
        dea: parse("prescriber DEA number", &req.prescriber.dea)?,
    };
    let sealed = req
        .sealed
        .iter()
        .map(|c| parse("container", c))
        .collect::<ApiResult<Vec<ContainerId>>>()?;
    let from_open = items(state, ledger, &req.from_open).await?;
    let secret = state.store.patient_secret(ledger).await?;
    let payload = Dispensed {
        patient: PatientRef::commit(&secret, &req.patient),
        prescriber,
        sealed,
        from_open,
    };
    act(state, ledger, auth, client, &req.password, &[], payload).await
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
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
pub struct TransferRequest {
    pub password: String,
    pub containers: Vec<String>,
    pub to: TransferDestination,
}

/// Moves whole containers to another location, or out to another registrant.
#[utoipa::path(
    post,
    path = "/api/v1/ledgers/{ledger}/transfers",
    params(("ledger" = String, Path)),
    request_body = TransferRequest,
    responses((status = 200, body = Recorded), (status = 409, body = crate::error::ErrorBody), (status = 422, body = crate::error::ErrorBody)),
    tag = "stock"
)]
pub async fn transfer(
    State(state): State<AppState>,
    Path(ledger): Path<LedgerId>,
    Client(client): Client,
    auth: Auth,
    Body(req): Body<TransferRequest>,
) -> ApiResult<Json<Recorded>> {
    record_transfer(&state, ledger, &auth, &client, &req)
        .await
        .map(Json)
}

/// Records a transfer.
pub async fn record_transfer(
    state: &AppState,
    ledger: LedgerId,
    auth: &Auth,
    client: &str,
    req: &TransferRequest,
) -> ApiResult<Recorded> {
    require_author(auth, ledger, Kind::Transfer)?;
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
    act(state, ledger, auth, client, &req.password, &[], payload).await
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct LossRequest {
    pub password: String,
    /// night break-in, armed robbery, employee pilferage, customer theft, lost in transit, other.
    pub loss_type: String,
    /// YYYY-MM-DD.
    pub discovered_on: String,
    pub police_report: Option<String>,
    pub items: Vec<ItemBody>,
    pub description: String,
}

/// Reports a loss or theft (the DEA Form 106 facts).
#[utoipa::path(
    post,
    path = "/api/v1/ledgers/{ledger}/losses",
    params(("ledger" = String, Path)),
    request_body = LossRequest,
    responses((status = 200, body = Recorded), (status = 409, body = crate::error::ErrorBody), (status = 422, body = crate::error::ErrorBody)),
    tag = "stock"
)]
pub async fn loss(
    State(state): State<AppState>,
    Path(ledger): Path<LedgerId>,
    Client(client): Client,
    auth: Auth,
    Body(req): Body<LossRequest>,
) -> ApiResult<Json<Recorded>> {
    record_loss(&state, ledger, &auth, &client, &req)
        .await
        .map(Json)
}

/// Records a loss or theft.
pub async fn record_loss(
    state: &AppState,
    ledger: LedgerId,
    auth: &Auth,
    client: &str,
    req: &LossRequest,
) -> ApiResult<Recorded> {
    require_author(auth, ledger, Kind::LossTheft)?;
    let payload = LossTheft {
        loss_type: parse("loss_type", &req.loss_type)?,
        discovered_on: parse("discovered_on", &req.discovered_on)?,
        police_report: req
            .police_report
            .as_deref()
            .map(|p| parse("police_report", p))
            .transpose()?,
        items: items(state, ledger, &req.items).await?,
        description: parse("description", &req.description)?,
    };
    act(state, ledger, auth, client, &req.password, &[], payload).await
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
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
pub struct DestructionRequest {
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
    params(("ledger" = String, Path)),
    request_body = DestructionRequest,
    responses((status = 200, body = Recorded), (status = 409, body = crate::error::ErrorBody), (status = 422, body = crate::error::ErrorBody)),
    tag = "stock"
)]
pub async fn destruction(
    State(state): State<AppState>,
    Path(ledger): Path<LedgerId>,
    Client(client): Client,
    auth: Auth,
    Body(req): Body<DestructionRequest>,
) -> ApiResult<Json<Recorded>> {
    record_destruction(&state, ledger, &auth, &client, &req)
        .await
        .map(Json)
}

/// Records a destruction with its two witnesses.
pub async fn record_destruction(
    state: &AppState,
    ledger: LedgerId,
    auth: &Auth,
    client: &str,
    req: &DestructionRequest,
) -> ApiResult<Recorded> {
    require_author(auth, ledger, Kind::Destruction)?;
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
    let payload = Destruction {
        method,
        date: parse("date", &req.date)?,
        items: items(state, ledger, &req.items).await?,
    };
    act(
        state,
        ledger,
        auth,
        client,
        &req.password,
        &req.witnesses,
        payload,
    )
    .await
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct CorrectionRequest {
    pub password: String,
    /// The sequence number of the entry this corrects; it stays as it was.
    pub corrects: u64,
    pub reason: String,
}

/// Records a correction of an earlier entry (the entry itself never changes).
#[utoipa::path(
    post,
    path = "/api/v1/ledgers/{ledger}/corrections",
    params(("ledger" = String, Path)),
    request_body = CorrectionRequest,
    responses((status = 200, body = Recorded), (status = 422, body = crate::error::ErrorBody)),
    tag = "ledger"
)]
pub async fn correction(
    State(state): State<AppState>,
    Path(ledger): Path<LedgerId>,
    Client(client): Client,
    auth: Auth,
    Body(req): Body<CorrectionRequest>,
) -> ApiResult<Json<Recorded>> {
    require_author(&auth, ledger, Kind::Correction)?;
    let payload = Correction {
        corrects: Seq::new(req.corrects)
            .map_err(|e| ApiError::invalid(format!("corrects: {e}")))?,
        reason: parse("reason", &req.reason)?,
    };
    Ok(Json(
        act(&state, ledger, &auth, &client, &req.password, &[], payload).await?,
    ))
}

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/ledgers/{ledger}/dispenses", post(dispense))
        .route("/api/v1/ledgers/{ledger}/transfers", post(transfer))
        .route("/api/v1/ledgers/{ledger}/losses", post(loss))
        .route("/api/v1/ledgers/{ledger}/destructions", post(destruction))
        .route("/api/v1/ledgers/{ledger}/corrections", post(correction))
}
