//! Spravato REMS monitoring sessions over the API: open a session on a patient's Spravato
//! doses, record observations, close it (`rems_session_closed`, with the record's SHA-256),
//! mark its Patient Monitoring Form submitted (`rems_form_submitted`), and read sessions with
//! whether each record still matches its digest in the chain.

use axum::extract::State;
use axum::response::Response;
use axum::routing::{get, post};
use axum::{Json, Router};
use custody_clinic::Permission;
use custody_clinic::acts::{
    CloseRemsSession, OpenRemsSession, RemsObservations, RemsSessionView, RemsStatus,
    SubmitRemsForm,
};
use custody_ledger::*;
use custody_store::BloodPressure;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::inventories::DeadlineView;
use crate::auth::Auth;
use crate::ceremony::{RequestOrigin, ceremony, parse, respond};
use crate::error::{ApiError, ApiResult};
use crate::extract::{Json as Body, Path, Query};
use crate::state::AppState;

/// A blood pressure, mmHg (integers).
#[derive(Debug, Clone, Copy, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BloodPressureBody {
    pub systolic: u16,
    pub diastolic: u16,
}

impl From<BloodPressureBody> for BloodPressure {
    fn from(b: BloodPressureBody) -> Self {
        BloodPressure {
            systolic: b.systolic,
            diastolic: b.diastolic,
        }
    }
}

impl From<BloodPressure> for BloodPressureBody {
    fn from(b: BloodPressure) -> Self {
        BloodPressureBody {
            systolic: b.systolic,
            diastolic: b.diastolic,
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OpenSessionRequest {
    /// The patient's reference (MRN).
    pub patient: String,
    /// The dose entries (`administered`) of the session; absent or empty: the patient's
    /// Spravato doses of the last 12 hours that no session names yet.
    #[serde(default)]
    pub doses: Vec<u64>,
    /// Whether this is the patient's first Spravato treatment.
    #[serde(default)]
    pub first_treatment: bool,
    /// The monitoring clinician; default: your printed name.
    pub clinician: Option<String>,
    /// The healthcare setting (its name as enrolled in the REMS).
    pub setting: Option<String>,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ObservationsRequest {
    pub first_treatment: Option<bool>,
    /// Before dosing.
    pub bp_before: Option<BloodPressureBody>,
    /// At about 40 minutes after the first device.
    pub bp_40_min: Option<BloodPressureBody>,
    /// Before discharge.
    pub bp_discharge: Option<BloodPressureBody>,
    /// Pulse oximetry was observed.
    pub pulse_oximetry: Option<bool>,
    pub sedation_resolved: Option<bool>,
    pub dissociation_resolved: Option<bool>,
    pub respiratory_depression_resolved: Option<bool>,
    /// Adverse events, as text; empty clears.
    pub adverse_events: Option<String>,
    /// Concomitant medicine classes (replaces the list): benzodiazepines, maois, opioids,
    /// psychostimulants, sedative_hypnotics.
    pub concomitant: Option<Vec<String>>,
    pub clinician: Option<String>,
    pub setting: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CloseSessionRequest {
    /// Your password: it signs this act (ignored in a dry run).
    #[serde(default)]
    pub password: String,
    /// When the patient was discharged (RFC 3339); default now.
    pub discharged_at: Option<String>,
    /// Check everything the ledger's rules can check, sign nothing, record nothing.
    #[serde(default)]
    pub dry_run: bool,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FormSubmittedRequest {
    /// Your password: it signs this act (ignored in a dry run).
    #[serde(default)]
    pub password: String,
    /// When the Patient Monitoring Form was submitted (YYYY-MM-DD).
    pub submitted_on: String,
    /// The REMS confirmation number.
    pub confirmation: String,
    /// Check everything the ledger's rules can check, sign nothing, record nothing.
    #[serde(default)]
    pub dry_run: bool,
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct SessionsQuery {
    /// `open`, `form_due` or `submitted`; absent: every session.
    pub status: Option<String>,
}

/// One device given in the session.
#[derive(Debug, Serialize, ToSchema)]
pub struct SessionDoseView {
    /// The `administered` entry.
    pub seq: u64,
    pub container: String,
    pub product: String,
    pub ndc: String,
    pub lot: String,
    /// The amount given: "28 mg = 1 unit".
    pub amount: String,
    /// RFC 3339, UTC.
    pub given_at: String,
}

/// A REMS monitoring session.
#[derive(Debug, Serialize, ToSchema)]
pub struct SessionView {
    pub id: String,
    /// The patient's MRN (absent once the register's record was erased).
    pub patient: Option<String>,
    /// The commitment entries carry for the patient.
    pub patient_ref: String,
    /// `open`, `form_due` or `submitted`.
    pub status: String,
    pub doses: Vec<SessionDoseView>,
    /// The total dose in mg.
    pub dose_mg: String,
    /// The first device (RFC 3339, UTC).
    pub started_at: String,
    pub discharged_at: Option<String>,
    /// Minutes from the first device to discharge (to now while open).
    pub monitored_minutes: i64,
    pub first_treatment: bool,
    pub bp_before: Option<BloodPressureBody>,
    pub bp_40_min: Option<BloodPressureBody>,
    pub bp_discharge: Option<BloodPressureBody>,
    pub pulse_oximetry: bool,
    pub sedation_resolved: bool,
    pub dissociation_resolved: bool,
    pub respiratory_depression_resolved: bool,
    pub adverse_events: Option<String>,
    pub concomitant: Vec<String>,
    pub clinician: Option<String>,
    pub setting: Option<String>,
    /// The record's SHA-256 now (hex), over its canonical form (docs/rems.md).
    pub record_sha256: String,
    /// The `rems_session_closed` entry.
    pub closed_by: Option<u64>,
    /// The digest that entry holds.
    pub chain_record_sha256: Option<String>,
    /// Whether the record still hashes to the digest in the chain; null while open.
    pub record_matches_chain: Option<bool>,
    /// The Patient Monitoring Form's deadline (7 days from discharge, a day of the clinic's
    /// time zone); null while open.
    pub form_deadline: Option<DeadlineView>,
    /// The `rems_form_submitted` entry.
    pub form_submitted_by: Option<u64>,
    pub form_submitted_on: Option<String>,
    pub form_confirmation: Option<String>,
}

impl From<RemsSessionView> for SessionView {
    fn from(v: RemsSessionView) -> Self {
        let r = &v.record;
        let total: u64 = v.doses.iter().map(|d| d.amount.micrograms().get()).sum();
        SessionView {
            id: r.session.clone(),
            patient: v.mrn.clone(),
            patient_ref: r.patient.to_string(),
            status: v.status.name().into(),
            dose_mg: custody_ledger::types::quantity::thousandths(total),
            doses: v
                .doses
                .iter()
                .map(|d| SessionDoseView {
                    seq: d.seq.get(),
                    container: d.container.to_string(),
                    product: d.product.clone(),
                    ndc: d.ndc.to_string(),
                    lot: d.lot.clone(),
                    amount: custody_clinic::acts::mg_and_base(&d.amount),
                    given_at: d.given_at.to_string(),
                })
                .collect(),
            started_at: r.started_at.to_string(),
            discharged_at: v.closed.as_ref().map(|(_, c)| c.discharged_at.to_string()),
            monitored_minutes: v.monitored_minutes,
            first_treatment: r.first_treatment,
            bp_before: r.bp_before.map(Into::into),
            bp_40_min: r.bp_40.map(Into::into),
            bp_discharge: r.bp_discharge.map(Into::into),
            pulse_oximetry: r.pulse_oximetry,
            sedation_resolved: r.sedation_resolved,
            dissociation_resolved: r.dissociation_resolved,
            respiratory_depression_resolved: r.respiratory_depression_resolved,
            adverse_events: r.adverse_events.clone(),
            concomitant: r.concomitant.clone(),
            clinician: r.clinician.clone(),
            setting: r.setting.clone(),
            record_sha256: v.record_sha256.to_hex(),
            closed_by: v.closed.as_ref().map(|(s, _)| s.get()),
            chain_record_sha256: v.closed.as_ref().map(|(_, c)| c.record_sha256.to_hex()),
            record_matches_chain: v.record_matches_chain,
            form_deadline: v.form_deadline.map(Into::into),
            form_submitted_by: v.form.as_ref().map(|(s, _)| s.get()),
            form_submitted_on: v.form.as_ref().map(|(_, f)| f.submitted_on.to_string()),
            form_confirmation: v.form.as_ref().map(|(_, f)| f.confirmation.to_string()),
        }
    }
}

/// Opens a REMS monitoring session on a patient's Spravato doses. Signs nothing: the record
/// stays outside the chain until the session closes.
#[utoipa::path(
    post,
    path = "/api/v1/ledgers/{ledger}/rems/sessions",
    params(("ledger" = String, Path)),
    request_body = OpenSessionRequest,
    responses((status = 200, body = SessionView), crate::responses::BodyRefusals, crate::responses::Conflict),
    tag = "rems"
)]
pub async fn open(
    State(state): State<AppState>,
    Path(ledger): Path<LedgerId>,
    auth: Auth,
    Body(b): Body<OpenSessionRequest>,
) -> ApiResult<Json<SessionView>> {
    auth.require(ledger, Permission::Author(Kind::RemsSessionClosed))?;
    let doses = b
        .doses
        .iter()
        .map(|d| Seq::new(*d).map_err(|e| ApiError::invalid(format!("doses: {e}"))))
        .collect::<ApiResult<Vec<_>>>()?;
    let cmd = OpenRemsSession {
        patient: b.patient,
        doses,
        first_treatment: b.first_treatment,
        clinician: b.clinician,
        setting: b.setting,
    };
    Ok(Json(
        state.clinic.open_rems_session(&auth, cmd).await?.into(),
    ))
}

/// The REMS sessions, oldest first; `status=form_due` lists those whose Patient Monitoring
/// Form is still to be submitted.
#[utoipa::path(
    get,
    path = "/api/v1/ledgers/{ledger}/rems/sessions",
    params(("ledger" = String, Path), SessionsQuery),
    responses((status = 200, body = Vec<SessionView>), crate::responses::QueryRefusals, crate::responses::Invalid),
    tag = "rems"
)]
pub async fn list(
    State(state): State<AppState>,
    Path(ledger): Path<LedgerId>,
    Query(q): Query<SessionsQuery>,
    auth: Auth,
) -> ApiResult<Json<Vec<SessionView>>> {
    auth.require(ledger, Permission::ReadPatients)?;
    let status: Option<RemsStatus> = q
        .status
        .as_deref()
        .filter(|s| !s.trim().is_empty())
        .map(|s| s.trim().parse())
        .transpose()?;
    Ok(Json(
        state
            .clinic
            .rems_sessions(&auth, status)
            .await?
            .into_iter()
            .map(Into::into)
            .collect(),
    ))
}

/// One REMS session, with whether its record still matches the digest in the chain.
#[utoipa::path(
    get,
    path = "/api/v1/ledgers/{ledger}/rems/sessions/{session}",
    params(("ledger" = String, Path), ("session" = String, Path, description = "the session id, rems-<first dose entry>")),
    responses((status = 200, body = SessionView), crate::responses::ReadRefusals),
    tag = "rems"
)]
pub async fn one(
    State(state): State<AppState>,
    Path((ledger, id)): Path<(LedgerId, String)>,
    auth: Auth,
) -> ApiResult<Json<SessionView>> {
    auth.require(ledger, Permission::ReadPatients)?;
    Ok(Json(state.clinic.rems_session(&auth, &id).await?.into()))
}

/// Records observations on an open session (what is absent stays as it was).
#[utoipa::path(
    post,
    path = "/api/v1/ledgers/{ledger}/rems/sessions/{session}/observations",
    params(("ledger" = String, Path), ("session" = String, Path, description = "the session id, rems-<first dose entry>")),
    request_body = ObservationsRequest,
    responses((status = 200, body = SessionView), crate::responses::BodyRefusals, crate::responses::Conflict),
    tag = "rems"
)]
pub async fn observations(
    State(state): State<AppState>,
    Path((ledger, id)): Path<(LedgerId, String)>,
    auth: Auth,
    Body(b): Body<ObservationsRequest>,
) -> ApiResult<Json<SessionView>> {
    auth.require(ledger, Permission::Author(Kind::RemsSessionClosed))?;
    let o = RemsObservations {
        first_treatment: b.first_treatment,
        bp_before: b.bp_before.map(Into::into),
        bp_40: b.bp_40_min.map(Into::into),
        bp_discharge: b.bp_discharge.map(Into::into),
        pulse_oximetry: b.pulse_oximetry,
        sedation_resolved: b.sedation_resolved,
        dissociation_resolved: b.dissociation_resolved,
        respiratory_depression_resolved: b.respiratory_depression_resolved,
        adverse_events: b.adverse_events,
        concomitant: b.concomitant,
        clinician: b.clinician,
        setting: b.setting,
    };
    Ok(Json(
        state
            .clinic
            .observe_rems_session(&auth, &id, o)
            .await?
            .into(),
    ))
}

/// Closes a session, the patient discharged: `rems_session_closed` with the record's SHA-256.
/// Refused before the monitoring minimum from the first device (409
/// `rems_monitoring_incomplete`, `details.minutes_remaining`) and while the record lacks what
/// the form asks for (409 `rems_record_incomplete`), both before any password.
#[utoipa::path(
    post,
    path = "/api/v1/ledgers/{ledger}/rems/sessions/{session}/close",
    params(("ledger" = String, Path), ("session" = String, Path, description = "the session id, rems-<first dose entry>"), ("Idempotency-Key" = Option<String>, Header, description = "the same key again records nothing and answers as the first time")),
    request_body = CloseSessionRequest,
    responses((status = 200, body = crate::ceremony::ActAnswer, description = "recorded (with dry_run: what would be recorded)"), crate::responses::ActRefusals),
    tag = "rems"
)]
pub async fn close(
    State(state): State<AppState>,
    Path((ledger, id)): Path<(LedgerId, String)>,
    RequestOrigin(origin): RequestOrigin,
    auth: Auth,
    Body(b): Body<CloseSessionRequest>,
) -> ApiResult<Response> {
    auth.require(ledger, Permission::Author(Kind::RemsSessionClosed))?;
    let cmd = CloseRemsSession {
        session: id,
        discharged_at: b
            .discharged_at
            .as_deref()
            .map(|t| parse("discharged_at", t))
            .transpose()?,
    };
    let c = ceremony(b.dry_run, &b.password, &[]);
    let o = state
        .clinic
        .close_rems_session(&auth, cmd, c, &origin)
        .await?;
    respond(&state, o)
}

/// Marks a closed session's Patient Monitoring Form submitted (`rems_form_submitted`), once.
#[utoipa::path(
    post,
    path = "/api/v1/ledgers/{ledger}/rems/sessions/{session}/form",
    params(("ledger" = String, Path), ("session" = String, Path, description = "the session id, rems-<first dose entry>"), ("Idempotency-Key" = Option<String>, Header, description = "the same key again records nothing and answers as the first time")),
    request_body = FormSubmittedRequest,
    responses((status = 200, body = crate::ceremony::ActAnswer, description = "recorded (with dry_run: what would be recorded)"), crate::responses::ActRefusals),
    tag = "rems"
)]
pub async fn form(
    State(state): State<AppState>,
    Path((ledger, id)): Path<(LedgerId, String)>,
    RequestOrigin(origin): RequestOrigin,
    auth: Auth,
    Body(b): Body<FormSubmittedRequest>,
) -> ApiResult<Response> {
    auth.require(ledger, Permission::Author(Kind::RemsFormSubmitted))?;
    let cmd = SubmitRemsForm {
        session: id,
        submitted_on: parse("submitted_on", &b.submitted_on)?,
        confirmation: parse("confirmation", &b.confirmation)?,
    };
    let c = ceremony(b.dry_run, &b.password, &[]);
    let o = state
        .clinic
        .submit_rems_form(&auth, cmd, c, &origin)
        .await?;
    respond(&state, o)
}

/// A printable PDF of one session's Patient Monitoring Form data (patient, treatment, lot,
/// monitoring, blood pressures, observations, the form's status, whether the record matches
/// the chain). Not signed: the chain's digest of the record shows it unaltered.
#[utoipa::path(
    get,
    path = "/api/v1/ledgers/{ledger}/rems/sessions/{session}/form.pdf",
    params(("ledger" = String, Path), ("session" = String, Path, description = "the session id, rems-<first dose entry>")),
    responses((status = 200, content((Vec<u8> = "application/pdf")), description = "the PDF"), crate::responses::ReadRefusals),
    tag = "rems"
)]
pub async fn form_pdf(
    State(state): State<AppState>,
    Path((ledger, id)): Path<(LedgerId, String)>,
    auth: Auth,
) -> ApiResult<Response> {
    use axum::http::header;
    use axum::response::IntoResponse;
    auth.require(ledger, Permission::ReadPatients)?;
    let pdf = state.clinic.rems_form_pdf(&auth, &id).await?;
    Ok((
        [
            (header::CONTENT_TYPE, "application/pdf".to_string()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"rems-form-{id}.pdf\""),
            ),
        ],
        pdf,
    )
        .into_response())
}

pub fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/api/v1/ledgers/{ledger}/rems/sessions",
            post(open).get(list),
        )
        .route("/api/v1/ledgers/{ledger}/rems/sessions/{session}", get(one))
        .route(
            "/api/v1/ledgers/{ledger}/rems/sessions/{session}/observations",
            post(observations),
        )
        .route(
            "/api/v1/ledgers/{ledger}/rems/sessions/{session}/close",
            post(close),
        )
        .route(
            "/api/v1/ledgers/{ledger}/rems/sessions/{session}/form",
            post(form),
        )
        .route(
            "/api/v1/ledgers/{ledger}/rems/sessions/{session}/form.pdf",
            get(form_pdf),
        )
}
