//! Patients. The chain holds only a keyed commitment (HMAC-SHA-256 under the ledger's secret)
//! of a patient's reference; the identifying record lives here, beside it, for reports to
//! read and for an admin to erase. Erasing never touches an entry, so verification holds.

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use custody_clinic::Permission;
use custody_clinic::acts::Patient;
use custody_ledger::*;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::auth::Auth;
use crate::ceremony::parse;
use crate::error::{ApiError, ApiResult};
use crate::extract::{Json as Body, Path};
use crate::state::AppState;

#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PatientBody {
    /// The medical record number: what staff type as the patient reference.
    pub mrn: String,
    pub name: String,
    pub address: String,
    /// YYYY-MM-DD.
    pub date_of_birth: String,
    /// The patient's Spravato REMS patient id, once enrolled (with `rems_enrolled_on`). A
    /// Spravato dose for a patient without it is refused (409 `rems_not_enrolled`), unless the
    /// server runs with `--rems-check warn` (inpatient settings).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rems_patient_id: Option<String>,
    /// The REMS enrollment date, YYYY-MM-DD.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rems_enrolled_on: Option<String>,
    /// F, M or U: the sex state PMP reports give (ASAP PAT19).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sex: Option<String>,
}

impl PatientBody {
    fn of(r: custody_store::PatientRecord) -> Self {
        PatientBody {
            mrn: r.mrn,
            name: r.name,
            address: r.address,
            date_of_birth: r.birth_date,
            rems_patient_id: r.rems.as_ref().map(|e| e.patient_id.clone()),
            rems_enrolled_on: r.rems.as_ref().map(|e| e.enrolled_on.to_string()),
            sex: r.sex,
        }
    }

    fn rems(&self) -> ApiResult<Option<(String, Day)>> {
        fn given(s: &Option<String>) -> Option<&str> {
            s.as_deref().map(str::trim).filter(|t| !t.is_empty())
        }
        match (given(&self.rems_patient_id), given(&self.rems_enrolled_on)) {
            (None, None) => Ok(None),
            (Some(id), Some(on)) => Ok(Some((id.to_string(), parse("rems_enrolled_on", on)?))),
            _ => Err(ApiError::invalid(
                "rems_patient_id: a REMS enrollment needs both the REMS patient id and rems_enrolled_on",
            )),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PatientView {
    /// The commitment entries carry for this patient.
    pub patient_ref: String,
    #[serde(flatten)]
    pub record: PatientBody,
}

/// Keeps (or updates) a patient's identifying record; returns the commitment entries use.
#[utoipa::path(
    post,
    path = "/api/v1/ledgers/{ledger}/patients",
    params(("ledger" = String, Path)),
    request_body = PatientBody,
    responses((status = 200, body = PatientView), crate::responses::BodyRefusals),
    tag = "patients"
)]
pub async fn save(
    State(state): State<AppState>,
    Path(ledger): Path<LedgerId>,
    auth: Auth,
    Body(b): Body<PatientBody>,
) -> ApiResult<Json<PatientView>> {
    auth.require(ledger, Permission::KeepPatients)?;
    let p = Patient {
        mrn: b.mrn.clone(),
        name: b.name.clone(),
        address: b.address.clone(),
        birth_date: parse("date_of_birth", &b.date_of_birth)?,
        rems: b.rems()?,
        sex: b.sex.clone(),
    };
    let r = state.clinic.save_patient(&auth, p).await?;
    Ok(Json(PatientView {
        patient_ref: r.patient.to_string(),
        record: PatientBody::of(r),
    }))
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
    responses((status = 200, body = PatientView), crate::responses::ReadRefusals),
    tag = "patients"
)]
pub async fn get_one(
    State(state): State<AppState>,
    Path((ledger, p)): Path<(LedgerId, String)>,
    auth: Auth,
) -> ApiResult<Json<PatientView>> {
    auth.require(ledger, Permission::ReadPatients)?;
    let p = patient_ref(&p)?;
    let r = state.clinic.patient(&auth, &p).await?;
    Ok(Json(PatientView {
        patient_ref: p.to_string(),
        record: PatientBody::of(r),
    }))
}

/// Erases a patient's identifying record. Entries keep the commitment and still verify.
#[utoipa::path(
    delete,
    path = "/api/v1/ledgers/{ledger}/patients/{patient_ref}",
    params(("ledger" = String, Path), ("patient_ref" = String, Path)),
    responses((status = 204), crate::responses::ReadRefusals),
    tag = "patients"
)]
pub async fn erase(
    State(state): State<AppState>,
    Path((ledger, p)): Path<(LedgerId, String)>,
    auth: Auth,
) -> ApiResult<StatusCode> {
    auth.require(ledger, Permission::ErasePatients)?;
    let p = patient_ref(&p)?;
    state.clinic.erase_patient(&auth, &p).await?;
    Ok(StatusCode::NO_CONTENT)
}

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/ledgers/{ledger}/patients", post(save))
        .route(
            "/api/v1/ledgers/{ledger}/patients/{patient_ref}",
            get(get_one).delete(erase),
        )
}
