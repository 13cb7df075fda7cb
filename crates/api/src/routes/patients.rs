//! Patients. The chain holds only a keyed commitment (HMAC-SHA-256 under the ledger's secret)
//! of a patient's reference; the identifying record lives here, beside it, for reports to
//! read and for an admin to erase. Erasing never touches an entry, so verification holds.

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use custody_ledger::*;
use custody_store::PatientRecord;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::auth::Auth;
use crate::error::{ApiError, ApiResult};
use crate::extract::{Json as Body, Path};
use crate::state::AppState;

/// Who may read identifying records (an auditor reads them as reports do).
const CLINICAL_RECORDS: &[Role] = &[Role::Admin, Role::Pharmacist, Role::Nurse, Role::Auditor];

#[derive(Debug, Deserialize, Serialize, ToSchema)]
pub struct PatientBody {
    /// The medical record number: what staff type as the patient reference.
    pub mrn: String,
    pub name: String,
    pub address: String,
    /// YYYY-MM-DD.
    pub date_of_birth: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PatientView {
    /// The commitment entries carry for this patient.
    pub patient_ref: String,
    #[serde(flatten)]
    pub record: PatientBody,
}

fn checked(b: &PatientBody) -> ApiResult<()> {
    let field = |what: &str, v: &str, max: usize| {
        if v.trim().is_empty() || v.chars().count() > max || v.chars().any(char::is_control) {
            Err(ApiError::invalid(format!(
                "{what}: give 1 to {max} printable characters"
            )))
        } else {
            Ok(())
        }
    };
    field("mrn", &b.mrn, 64)?;
    field("name", &b.name, 200)?;
    field("address", &b.address, 400)?;
    b.date_of_birth
        .parse::<Day>()
        .map_err(|e| ApiError::invalid(format!("date_of_birth: {e}")))?;
    Ok(())
}

/// Keeps (or updates) a patient's identifying record; returns the commitment entries use.
#[utoipa::path(
    post,
    path = "/api/v1/ledgers/{ledger}/patients",
    params(("ledger" = String, Path)),
    request_body = PatientBody,
    responses((status = 200, body = PatientView), (status = 422, body = crate::error::ErrorBody)),
    tag = "patients"
)]
pub async fn save(
    State(state): State<AppState>,
    Path(ledger): Path<LedgerId>,
    auth: Auth,
    Body(b): Body<PatientBody>,
) -> ApiResult<Json<PatientView>> {
    save_patient(&state, ledger, &auth, b).await.map(Json)
}

/// Who keeps the patient register; auditors may read it.
pub const PATIENT_KEEPERS: &[Role] = &[Role::Admin, Role::Pharmacist, Role::Nurse];
pub const PATIENT_READERS: &[Role] = CLINICAL_RECORDS;

/// Keeps (or updates) a patient's record: the service behind the API and the web page.
pub async fn save_patient(
    state: &AppState,
    ledger: LedgerId,
    auth: &Auth,
    b: PatientBody,
) -> ApiResult<PatientView> {
    auth.require(ledger, PATIENT_KEEPERS)?;
    checked(&b)?;
    let secret = state.store.patient_secret(ledger).await?;
    let patient = PatientRef::commit(&secret, &b.mrn);
    state
        .store
        .save_patient(
            ledger,
            &PatientRecord {
                patient,
                mrn: b.mrn.clone(),
                name: b.name.clone(),
                address: b.address.clone(),
                birth_date: b.date_of_birth.clone(),
            },
        )
        .await?;
    Ok(PatientView {
        patient_ref: patient.to_string(),
        record: b,
    })
}

fn patient_ref(s: &str) -> ApiResult<PatientRef> {
    s.parse()
        .map_err(|_| ApiError::not_found(format!("no patient {s:?} in this ledger")))
}

/// The identifying record behind a commitment.
#[utoipa::path(
    get,
    path = "/api/v1/ledgers/{ledger}/patients/{patient_ref}",
    params(("ledger" = String, Path), ("patient_ref" = String, Path)),
    responses((status = 200, body = PatientView), (status = 404, body = crate::error::ErrorBody)),
    tag = "patients"
)]
pub async fn get_one(
    State(state): State<AppState>,
    Path((ledger, p)): Path<(LedgerId, String)>,
    auth: Auth,
) -> ApiResult<Json<PatientView>> {
    auth.require(ledger, CLINICAL_RECORDS)?;
    let p = patient_ref(&p)?;
    let r = state.store.patient(ledger, &p).await?.ok_or_else(|| {
        ApiError::not_found(format!("no record for patient {p} (never kept, or erased)"))
    })?;
    Ok(Json(PatientView {
        patient_ref: p.to_string(),
        record: PatientBody {
            mrn: r.mrn,
            name: r.name,
            address: r.address,
            date_of_birth: r.birth_date,
        },
    }))
}

/// Erases a patient's identifying record. Entries keep the commitment and still verify.
#[utoipa::path(
    delete,
    path = "/api/v1/ledgers/{ledger}/patients/{patient_ref}",
    params(("ledger" = String, Path), ("patient_ref" = String, Path)),
    responses((status = 204), (status = 404, body = crate::error::ErrorBody)),
    tag = "patients"
)]
pub async fn erase(
    State(state): State<AppState>,
    Path((ledger, p)): Path<(LedgerId, String)>,
    auth: Auth,
) -> ApiResult<StatusCode> {
    auth.require(ledger, &[Role::Admin])?;
    let p = patient_ref(&p)?;
    if state.store.erase_patient(ledger, &p).await? {
        tracing::info!(ledger = %ledger, patient = %p, by = %auth.user, "patient record erased");
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::not_found(format!("no record for patient {p}")))
    }
}

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/ledgers/{ledger}/patients", post(save))
        .route(
            "/api/v1/ledgers/{ledger}/patients/{patient_ref}",
            get(get_one).delete(erase),
        )
}
