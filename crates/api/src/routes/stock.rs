//! Stock: what is on hand, and the first signed acts — opening a container, giving a dose,
//! wasting the rest before a witness. Every act is a signing ceremony: the signer's password
//! is in the request, opens their key for that one signature, and is dropped.

use crate::extract::{Json as Body, Path};
use axum::extract::State;
use axum::response::Response;
use axum::routing::{get, post};
use axum::{Json, Router};
use custody_clinic::Permission;
use custody_clinic::acts::{Administer, Open};
use custody_ledger::inventory::OnHand;
use custody_ledger::*;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::auth::Auth;
use crate::ceremony::{ActAnswer, RequestOrigin, ceremony, mg, parse, respond};
use crate::error::ApiResult;
use crate::state::AppState;

#[derive(Debug, Serialize, ToSchema)]
pub struct OnHandRow {
    pub product: String,
    pub lot: String,
    pub location: String,
    pub sealed_containers: u64,
    pub open_containers: u64,
    /// What open containers hold, in µL (solutions) or units.
    pub open_remaining: u64,
    /// Everything, as drug, in µg.
    pub total_ug: u64,
}

impl From<OnHand> for OnHandRow {
    fn from(r: OnHand) -> Self {
        Self {
            product: r.product.to_string(),
            lot: r.lot.to_string(),
            location: r.location.to_string(),
            sealed_containers: r.sealed_containers,
            open_containers: r.open_containers,
            open_remaining: r.open_remaining,
            total_ug: r.total.get(),
        }
    }
}

/// On hand per product, lot and location.
#[utoipa::path(
    get,
    path = "/api/v1/ledgers/{ledger}/on-hand",
    params(("ledger" = String, Path)),
    responses((status = 200, body = Vec<OnHandRow>), crate::responses::ReadRefusals),
    tag = "stock"
)]
pub async fn on_hand(
    State(state): State<AppState>,
    Path(ledger): Path<LedgerId>,
    auth: Auth,
) -> ApiResult<Json<Vec<OnHandRow>>> {
    auth.require(ledger, Permission::Read)?;
    Ok(Json(
        state
            .store
            .on_hand(ledger)
            .await?
            .into_iter()
            .map(Into::into)
            .collect(),
    ))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OpenRequest {
    /// Your password: it signs this act (ignored in a dry run).
    #[serde(default)]
    pub password: String,
    /// Beyond-use date (YYYY-MM-DD); default 28 days from today, never past expiry.
    pub beyond_use: Option<String>,
    /// When it was opened (RFC 3339), where that was before now: an opening charted late.
    /// Default now; never in the future.
    pub opened_at: Option<String>,
    /// Check everything the ledger's rules can check, sign nothing, record nothing.
    #[serde(default)]
    pub dry_run: bool,
}

/// Opens (punctures) a sealed container.
#[utoipa::path(
    post,
    path = "/api/v1/ledgers/{ledger}/containers/{container}/open",
    params(("ledger" = String, Path), ("container" = String, Path), ("Idempotency-Key" = Option<String>, Header, description = "the same key again records nothing and answers as the first time")),
    request_body = OpenRequest,
    responses(
        (status = 200, body = ActAnswer, description = "recorded (with dry_run: what would be recorded)"),
        crate::responses::ActRefusals,
    ),
    tag = "stock"
)]
pub async fn open(
    State(state): State<AppState>,
    Path((ledger, container)): Path<(LedgerId, String)>,
    RequestOrigin(origin): RequestOrigin,
    auth: Auth,
    Body(req): Body<OpenRequest>,
) -> ApiResult<Response> {
    auth.require(ledger, Permission::Author(Kind::ContainerOpened))?;
    let cmd = Open {
        container: parse("container", &container)?,
        beyond_use: req
            .beyond_use
            .as_deref()
            .map(|d| parse("beyond_use", d))
            .transpose()?,
        opened_at: match req.opened_at.as_deref().map(str::trim) {
            Some(t) if !t.is_empty() => Some(parse("opened_at", t)?),
            _ => None,
        },
    };
    let c = ceremony(req.dry_run, &req.password, &[]);
    let o = state.clinic.open(&auth, cmd, c, &origin).await?;
    respond(&state, o)
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PrescriberBody {
    pub name: String,
    pub dea: String,
}

impl PrescriberBody {
    pub fn prescriber(&self) -> ApiResult<Prescriber> {
        Ok(Prescriber {
            name: parse("prescriber name", &self.name)?,
            dea: parse("prescriber DEA number", &self.dea)?,
        })
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AdministerRequest {
    /// Your password: it signs this act (ignored in a dry run).
    #[serde(default)]
    pub password: String,
    /// The patient's reference (MRN); only a keyed commitment of it enters the ledger.
    pub patient: String,
    pub prescriber: PrescriberBody,
    /// The dose in mg, as a decimal (e.g. "35" or "35.5").
    pub dose_mg: String,
    /// IV, IM, intranasal, oral or sublingual.
    pub route: String,
    /// When it was given (RFC 3339); default now. A dose charted late keeps its true time.
    #[serde(default)]
    pub given_at: Option<String>,
    /// Why the dose is charted late: needed when `given_at` is more than the clinic's
    /// late-charting threshold (default 24 hours) ago; recorded in the entry.
    #[serde(default)]
    pub late_reason: Option<String>,
    /// Check everything the ledger's rules can check, sign nothing, record nothing.
    #[serde(default)]
    pub dry_run: bool,
}

/// Records a dose given to a patient from an open container.
#[utoipa::path(
    post,
    path = "/api/v1/ledgers/{ledger}/containers/{container}/administer",
    params(("ledger" = String, Path), ("container" = String, Path), ("Idempotency-Key" = Option<String>, Header, description = "the same key again records nothing and answers as the first time")),
    request_body = AdministerRequest,
    responses(
        (status = 200, body = ActAnswer, description = "recorded (with dry_run: what would be recorded)"),
        crate::responses::ActRefusals,
    ),
    tag = "stock"
)]
pub async fn administer(
    State(state): State<AppState>,
    Path((ledger, container)): Path<(LedgerId, String)>,
    RequestOrigin(origin): RequestOrigin,
    auth: Auth,
    Body(req): Body<AdministerRequest>,
) -> ApiResult<Response> {
    auth.require(ledger, Permission::Author(Kind::Administered))?;
    let cmd = Administer {
        container: parse("container", &container)?,
        patient: req.patient.clone(),
        prescriber: req.prescriber.prescriber()?,
        dose: mg("dose_mg", &req.dose_mg)?,
        route: parse("route", &req.route)?,
        given_at: match req.given_at.as_deref().map(str::trim) {
            Some(t) if !t.is_empty() => Some(parse("given_at", t)?),
            _ => None,
        },
        late_reason: match req.late_reason.as_deref().map(str::trim) {
            Some(r) if !r.is_empty() => Some(parse("late_reason", r)?),
            _ => None,
        },
    };
    let c = ceremony(req.dry_run, &req.password, &[]);
    let o = state.clinic.administer(&auth, cmd, c, &origin).await?;
    respond(&state, o)
}

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/ledgers/{ledger}/on-hand", get(on_hand))
        .route(
            "/api/v1/ledgers/{ledger}/containers/{container}/open",
            post(open),
        )
        .route(
            "/api/v1/ledgers/{ledger}/containers/{container}/administer",
            post(administer),
        )
}
