//! Stock: what is on hand, and the first signed acts — opening a container, giving a dose,
//! wasting the rest before a witness. Every act is a signing ceremony: the signer's password
//! is in the request, opens their key for that one signature, and is dropped.

use crate::extract::{Client, Json as Body, Path};
use axum::extract::State;
use axum::routing::{get, post};
use axum::{Json, Router};
use custody_ledger::inventory::OnHand;
use custody_ledger::state::default_beyond_use;
use custody_ledger::*;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::auth::Auth;
use crate::ceremony::{Recorded, act, amount_of, parse, require_author};
use crate::error::{ApiError, ApiResult};
use crate::routes::ledger::READERS;
use crate::state::AppState;

pub const CLINICAL: &[Role] = &[Role::Pharmacist, Role::Nurse];

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
    responses((status = 200, body = Vec<OnHandRow>)),
    tag = "stock"
)]
pub async fn on_hand(
    State(state): State<AppState>,
    Path(ledger): Path<LedgerId>,
    auth: Auth,
) -> ApiResult<Json<Vec<OnHandRow>>> {
    auth.require(ledger, READERS)?;
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
pub struct OpenRequest {
    /// Your password: it signs this act.
    pub password: String,
    /// Beyond-use date (YYYY-MM-DD); default 28 days from today, never past expiry.
    pub beyond_use: Option<String>,
}

/// Opens (punctures) a sealed container.
#[utoipa::path(
    post,
    path = "/api/v1/ledgers/{ledger}/containers/{container}/open",
    params(("ledger" = String, Path), ("container" = String, Path)),
    request_body = OpenRequest,
    responses(
        (status = 200, body = Recorded),
        (status = 401, body = crate::error::ErrorBody, description = "wrong password"),
        (status = 403, body = crate::error::ErrorBody),
        (status = 409, body = crate::error::ErrorBody, description = "not sealed"),
    ),
    tag = "stock"
)]
pub async fn open(
    State(state): State<AppState>,
    Path((ledger, container)): Path<(LedgerId, String)>,
    Client(client): Client,
    auth: Auth,
    Body(req): Body<OpenRequest>,
) -> ApiResult<Json<Recorded>> {
    require_author(&auth, ledger, Kind::ContainerOpened)?;
    let container: ContainerId = parse("container", &container)?;
    let beyond_use = match &req.beyond_use {
        Some(d) => parse("beyond_use", d)?,
        None => default_beyond_use_of(&state, ledger, &container).await?,
    };
    Ok(Json(
        open_container(
            &state,
            ledger,
            &auth,
            &client,
            container,
            beyond_use,
            &req.password,
        )
        .await?,
    ))
}

/// The beyond-use date a container gets when opened today: 28 days, never past its lot's
/// expiry.
pub async fn default_beyond_use_of(
    state: &AppState,
    ledger: LedgerId,
    container: &ContainerId,
) -> ApiResult<Day> {
    let today = Timestamp::from_datetime(time::OffsetDateTime::now_utc()).date();
    let expiry = state
        .store
        .container_expiry(ledger, container)
        .await?
        .ok_or_else(|| {
            ApiError::not_found(format!("container {container} is not in this ledger"))
        })?;
    Ok(default_beyond_use(today, expiry))
}

/// Opens a container: the one service behind the API and the web page.
pub async fn open_container(
    state: &AppState,
    ledger: LedgerId,
    auth: &Auth,
    client: &str,
    container: ContainerId,
    beyond_use: Day,
    password: &str,
) -> ApiResult<Recorded> {
    require_author(auth, ledger, Kind::ContainerOpened)?;
    let payload = ContainerOpened {
        container,
        beyond_use,
    };
    act(state, ledger, auth, client, password, &[], payload).await
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct PrescriberBody {
    pub name: String,
    pub dea: String,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct AdministerRequest {
    /// Your password: it signs this act.
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
}

/// Records a dose given to a patient from an open container.
#[utoipa::path(
    post,
    path = "/api/v1/ledgers/{ledger}/containers/{container}/administer",
    params(("ledger" = String, Path), ("container" = String, Path)),
    request_body = AdministerRequest,
    responses(
        (status = 200, body = Recorded),
        (status = 401, body = crate::error::ErrorBody),
        (status = 409, body = crate::error::ErrorBody, description = "insufficient stock"),
        (status = 422, body = crate::error::ErrorBody),
    ),
    tag = "stock"
)]
pub async fn administer(
    State(state): State<AppState>,
    Path((ledger, container)): Path<(LedgerId, String)>,
    Client(client): Client,
    auth: Auth,
    Body(req): Body<AdministerRequest>,
) -> ApiResult<Json<Recorded>> {
    Ok(Json(
        give(&state, ledger, &auth, &client, &container, &req).await?,
    ))
}

/// Records a dose: the one service behind the API and the web page.
pub async fn give(
    state: &AppState,
    ledger: LedgerId,
    auth: &Auth,
    client: &str,
    container: &str,
    req: &AdministerRequest,
) -> ApiResult<Recorded> {
    require_author(auth, ledger, Kind::Administered)?;
    let container: ContainerId = parse("container", container)?;
    let prescriber = Prescriber {
        name: parse("prescriber name", &req.prescriber.name)?,
        dea: parse("prescriber DEA number", &req.prescriber.dea)?,
    };
    let route: Route = parse("route", &req.route)?;
    if req.patient.trim().is_empty() {
        return Err(ApiError::invalid("patient: a patient reference is needed"));
    }
    let amount = amount_of(state, ledger, &container, &req.dose_mg).await?;
    let secret = state.store.patient_secret(ledger).await?;
    let payload = Administered {
        container,
        patient: PatientRef::commit(&secret, &req.patient),
        prescriber,
        amount,
        route,
        given_at: match req.given_at.as_deref().map(str::trim) {
            Some(t) if !t.is_empty() => parse("given_at", t)?,
            _ => Timestamp::from_datetime(time::OffsetDateTime::now_utc()),
        },
        given_by: auth.user.clone(),
    };
    act(state, ledger, auth, client, &req.password, &[], payload).await
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
