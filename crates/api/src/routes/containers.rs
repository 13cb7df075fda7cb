//! Containers: what is held, one container and its whole history, and adjustments (a change
//! to what a container holds that is not a dose or a waste, witnessed).

use axum::extract::State;
use axum::routing::{get, post};
use axum::{Json, Router};
use custody_ledger::*;
use custody_store::ContainerInfo;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::auth::Auth;
use crate::ceremony::{ActAnswer, RequestOrigin, WitnessBody, ceremony, mg, parse, respond};
use crate::error::{ApiError, ApiResult};
use crate::extract::{Json as Body, Path, Query};
use crate::routes::ledger::{EntryView, view};
use crate::state::AppState;
use axum::response::Response;
use custody_clinic::Permission;
use custody_clinic::acts::Adjust;
use custody_ledger::state::ContainerStatus;

#[derive(Debug, Serialize, ToSchema)]
pub struct ContainerView {
    pub id: String,
    pub product: String,
    pub product_name: String,
    pub lot: String,
    pub expiry: String,
    pub location: String,
    /// sealed, open, empty or gone.
    pub status: String,
    pub beyond_use: Option<String>,
    /// `mL` (solutions) or `units`.
    pub unit: String,
    /// What a full container holds and what is left, in µL or units.
    pub capacity: u64,
    pub remaining: u64,
    /// What is left, as drug, in µg.
    pub remaining_ug: u64,
}

impl From<ContainerInfo> for ContainerView {
    fn from(c: ContainerInfo) -> Self {
        let remaining_ug = c
            .product
            .strength
            .micrograms_in(c.remaining)
            .map_or(0, |u| u.get());
        let unit = match c.product.strength {
            Strength::Solution { .. } => "µL",
            Strength::Units { .. } => "units",
        };
        Self {
            id: c.id.to_string(),
            product: c.product.ndc.to_string(),
            product_name: c.product.name.to_string(),
            lot: c.lot.to_string(),
            expiry: c.expiry.to_string(),
            location: c.location.to_string(),
            status: c.status.name().to_string(),
            beyond_use: match c.status {
                ContainerStatus::Open { beyond_use } => Some(beyond_use.to_string()),
                _ => None,
            },
            unit: unit.into(),
            capacity: c.capacity,
            remaining: c.remaining,
            remaining_ug,
        }
    }
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct ContainersQuery {
    /// Include containers that are empty or gone (default: only sealed and open ones).
    pub all: Option<bool>,
}

/// Containers held (sealed or open), or all with `?all=true`.
#[utoipa::path(
    get,
    path = "/api/v1/ledgers/{ledger}/containers",
    params(("ledger" = String, Path), ContainersQuery),
    responses((status = 200, body = Vec<ContainerView>), crate::responses::QueryRefusals),
    tag = "stock"
)]
pub async fn list(
    State(state): State<AppState>,
    Path(ledger): Path<LedgerId>,
    Query(q): Query<ContainersQuery>,
    auth: Auth,
) -> ApiResult<Json<Vec<ContainerView>>> {
    auth.require(ledger, Permission::Read)?;
    let held_only = !q.all.unwrap_or(false);
    Ok(Json(
        state
            .clinic
            .containers(&auth, held_only)
            .await?
            .into_iter()
            .map(Into::into)
            .collect(),
    ))
}

fn container_id(id: &str) -> ApiResult<ContainerId> {
    id.parse()
        .map_err(|_| ApiError::not_found(format!("no container {id:?} in this ledger")))
}

/// One container as it stands.
#[utoipa::path(
    get,
    path = "/api/v1/ledgers/{ledger}/containers/{container}",
    params(("ledger" = String, Path), ("container" = String, Path)),
    responses((status = 200, body = ContainerView), crate::responses::ReadRefusals),
    tag = "stock"
)]
pub async fn one(
    State(state): State<AppState>,
    Path((ledger, id)): Path<(LedgerId, String)>,
    auth: Auth,
) -> ApiResult<Json<ContainerView>> {
    auth.require(ledger, Permission::Read)?;
    let c = state.clinic.container(&auth, &container_id(&id)?).await?;
    Ok(Json(c.into()))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ContainerHistory {
    pub container: ContainerView,
    /// The receipt, then every entry naming this container, oldest first.
    pub entries: Vec<EntryView>,
}

/// A container's whole history: receipt → opened → every dose and waste → empty.
#[utoipa::path(
    get,
    path = "/api/v1/ledgers/{ledger}/containers/{container}/history",
    params(("ledger" = String, Path), ("container" = String, Path)),
    responses((status = 200, body = ContainerHistory), crate::responses::ReadRefusals),
    tag = "stock"
)]
pub async fn history(
    State(state): State<AppState>,
    Path((ledger, id)): Path<(LedgerId, String)>,
    auth: Auth,
) -> ApiResult<Json<ContainerHistory>> {
    auth.require(ledger, Permission::Read)?;
    let (c, entries) = state
        .clinic
        .container_history(&auth, &container_id(&id)?)
        .await?;
    let entries = entries
        .iter()
        .map(|e| view(e.seq, e.hash.to_string(), &e.bytes))
        .collect::<ApiResult<Vec<_>>>()?;
    Ok(Json(ContainerHistory {
        container: c.into(),
        entries,
    }))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AdjustRequest {
    /// Your password: it signs this act (ignored in a dry run).
    #[serde(default)]
    pub password: String,
    /// overfill, count discrepancy, breakage, spill or other.
    pub reason: String,
    /// increase or decrease.
    pub direction: String,
    /// The amount in mg, as a decimal.
    pub amount_mg: String,
    /// The count (its sequence number) a count-discrepancy adjustment resolves.
    pub resolves: Option<u64>,
    pub note: String,
    /// The second person, signing in the same request.
    pub witness: WitnessBody,
    /// Check everything the ledger's rules can check, sign nothing, record nothing.
    #[serde(default)]
    pub dry_run: bool,
}

/// Adjusts what a container holds, before a witness.
#[utoipa::path(
    post,
    path = "/api/v1/ledgers/{ledger}/containers/{container}/adjust",
    params(("ledger" = String, Path), ("container" = String, Path), ("Idempotency-Key" = Option<String>, Header, description = "the same key again records nothing and answers as the first time")),
    request_body = AdjustRequest,
    responses(
        (status = 200, body = ActAnswer, description = "recorded (with dry_run: what would be recorded)"),
        crate::responses::ActRefusals,
    ),
    tag = "stock"
)]
pub async fn adjust(
    State(state): State<AppState>,
    Path((ledger, id)): Path<(LedgerId, String)>,
    RequestOrigin(origin): RequestOrigin,
    auth: Auth,
    Body(req): Body<AdjustRequest>,
) -> ApiResult<Response> {
    auth.require(ledger, Permission::Author(Kind::Adjustment))?;
    let cmd = Adjust {
        container: parse("container", &id)?,
        resolves: req
            .resolves
            .map(Seq::new)
            .transpose()
            .map_err(|e| ApiError::invalid(format!("resolves: {e}")))?,
        reason: parse("reason", &req.reason)?,
        direction: parse("direction", &req.direction)?,
        amount: mg("amount_mg", &req.amount_mg)?,
        note: parse("note", &req.note)?,
        witness: req.witness.user()?,
    };
    let c = ceremony(
        req.dry_run,
        &req.password,
        std::slice::from_ref(&req.witness),
    );
    let o = state.clinic.adjust(&auth, cmd, c, &origin).await?;
    respond(&state, o)
}

/// A container labelled for one patient (a Spravato device sent for them).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PatientLabelBody {
    /// The patient's MRN, as typed at the dose.
    pub patient: String,
    /// The day it was labelled, YYYY-MM-DD (not after today).
    pub labelled_on: String,
}

/// What was recorded, and until when a dose may come from it.
#[derive(Debug, Serialize, ToSchema)]
pub struct PatientLabelView {
    pub container: String,
    pub labelled_on: String,
    /// The last day a dose is given from it; after it, it must leave stock.
    pub last_day: Option<String>,
    pub labelled_by: String,
}

/// Labels a container for a patient (pharmacists; kept with the patient register, outside the
/// chain). A dose from it for another patient is then refused (409
/// `labelled_for_another_patient`), and from the fifteenth day unused for anyone (409
/// `patient_label_expired`: it must leave stock, destroyed or returned); the dashboard lists it.
#[utoipa::path(
    put,
    path = "/api/v1/ledgers/{ledger}/containers/{container}/patient-label",
    params(("ledger" = String, Path), ("container" = String, Path, description = "e.g. C12-3")),
    request_body = PatientLabelBody,
    responses((status = 200, body = PatientLabelView), crate::responses::BodyRefusals),
    tag = "containers"
)]
pub async fn patient_label(
    State(state): State<AppState>,
    Path((ledger, container)): Path<(LedgerId, String)>,
    auth: Auth,
    Body(b): Body<PatientLabelBody>,
) -> ApiResult<Json<PatientLabelView>> {
    auth.require(ledger, Permission::Pharmacy)?;
    let container = container_id(&container)?;
    let labelled_on: Day = parse("labelled_on", &b.labelled_on)?;
    let l = state
        .clinic
        .label_for_patient(
            &auth,
            custody_clinic::acts::LabelForPatient {
                container,
                patient: b.patient,
                labelled_on,
            },
        )
        .await?;
    Ok(Json(PatientLabelView {
        container: l.container.to_string(),
        labelled_on: l.labelled_on.to_string(),
        last_day: custody_clinic::acts::last_day(&l).map(|d| d.to_string()),
        labelled_by: l.labelled_by,
    }))
}

pub fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/api/v1/ledgers/{ledger}/containers/{container}/patient-label",
            axum::routing::put(patient_label),
        )
        .route("/api/v1/ledgers/{ledger}/containers", get(list))
        .route("/api/v1/ledgers/{ledger}/discrepancies", get(discrepancies))
        .route("/api/v1/ledgers/{ledger}/containers/{container}", get(one))
        .route(
            "/api/v1/ledgers/{ledger}/containers/{container}/history",
            get(history),
        )
        .route(
            "/api/v1/ledgers/{ledger}/containers/{container}/adjust",
            post(adjust),
        )
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct DiscrepanciesQuery {
    /// `open` (default: something of it is still unexplained), `resolved` (closed) or `all`.
    pub status: Option<String>,
}

/// What a count or an inventory found that differs from the ledger, as its rules know it.
#[derive(Debug, Serialize, ToSchema)]
pub struct DiscrepancyView {
    /// The count's (or inventory's) entry.
    pub count_seq: u64,
    /// `count` or `inventory`.
    pub found_by: String,
    pub counted_at: String,
    /// Whole days since the count.
    pub age_days: i64,
    pub location: String,
    pub product: String,
    pub product_name: String,
    /// A count's sealed containers, and what open ones hold (µL or units), as the ledger
    /// expected and as counted (none for an inventory).
    pub expected_sealed: Option<u32>,
    pub expected_open: Option<u64>,
    pub counted_sealed: Option<u32>,
    pub counted_open: Option<u64>,
    /// `decrease` (a shortage: less was found than the ledger held) or `increase` (an overage).
    pub direction: String,
    /// The difference found and what of it remains unexplained, in µL or units (sealed
    /// containers at their label).
    pub difference: u64,
    pub remaining: u64,
    /// The entries that reduced it (adjustments, losses explaining it), in order.
    pub reduced_by: Vec<u64>,
    /// The entry that closed it (the last reduction, or a correction of the count); none
    /// while open.
    pub resolved_by: Option<u64>,
}

/// Discrepancies counts found, oldest first, with their age: the open ones by default.
#[utoipa::path(
    get,
    path = "/api/v1/ledgers/{ledger}/discrepancies",
    params(("ledger" = String, Path), DiscrepanciesQuery),
    responses((status = 200, body = Vec<DiscrepancyView>), crate::responses::QueryRefusals),
    tag = "stock"
)]
pub async fn discrepancies(
    State(state): State<AppState>,
    Path(ledger): Path<LedgerId>,
    Query(q): Query<DiscrepanciesQuery>,
    auth: Auth,
) -> ApiResult<Json<Vec<DiscrepancyView>>> {
    auth.require(ledger, Permission::Read)?;
    let status = match q.status.as_deref().map(str::trim) {
        None | Some("") => custody_clinic::reads::DiscrepancyStatus::Open,
        Some(s) => s
            .parse()
            .map_err(|e: String| ApiError::bad_request(format!("status: {e}")))?,
    };
    let now = custody_store::clock::now_micros();
    let list = state.clinic.discrepancies(&auth, status).await?;
    Ok(Json(
        list.into_iter()
            .map(|d| {
                let c = d.open.count.as_ref();
                DiscrepancyView {
                    count_seq: d.open.seq,
                    found_by: d.open.found_by.to_string(),
                    counted_at: d.open.at.to_string(),
                    age_days: (now - d.open.at.micros()).div_euclid(86_400_000_000).max(0),
                    location: d.open.location.to_string(),
                    product: d.open.ndc.to_string(),
                    product_name: d
                        .open
                        .product
                        .as_ref()
                        .map(|p| p.name.to_string())
                        .unwrap_or_default(),
                    expected_sealed: c.map(|c| c.expected.sealed),
                    expected_open: c.map(|c| c.expected.open),
                    counted_sealed: c.map(|c| c.counted.sealed),
                    counted_open: c.map(|c| c.counted.open),
                    direction: d.open.state.direction.to_string(),
                    difference: d.open.state.difference,
                    remaining: d.open.state.remaining,
                    reduced_by: d.open.state.reduced_by.iter().map(|s| s.get()).collect(),
                    resolved_by: d.resolved_by,
                }
            })
            .collect(),
    ))
}
