//! State PMP reporting: `GET …/pmp/{state}?from=&to=` writes the ASAP file of the state's
//! program for the period (and records it, `pmp_reported`); the registers it reads beside
//! the chain are kept with `PUT …/registrant/identifiers` (NPI, NCPDP),
//! `PUT …/prescribers/{dea}` (a prescriber's NPI) and `PUT …/dispenses/{seq}/prescription`.

use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, put};
use axum::{Json, Router};
use custody_clinic::Permission;
use custody_ledger::*;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::auth::Auth;
use crate::ceremony::parse;
use crate::error::{ApiError, ApiResult};
use crate::extract::{Json as Body, Path, Query};
use crate::state::AppState;

#[derive(Debug, Deserialize, IntoParams)]
pub struct PmpQuery {
    /// First day of the period (YYYY-MM-DD, a day of the clinic's time zone). With `to`
    /// absent too: yesterday, the usual daily file.
    pub from: Option<String>,
    /// Last day, inclusive.
    pub to: Option<String>,
}

fn day(what: &str, v: &Option<String>) -> ApiResult<Day> {
    let v = v
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .ok_or_else(|| ApiError::invalid(format!("{what}: give the day, YYYY-MM-DD")))?;
    v.parse()
        .map_err(|e| ApiError::invalid(format!("{what}: {e}")))
}

/// The ASAP file of a state's PMP for a period: the period's take-home dispenses (and doses
/// administered, where the state's profile says so), voids and revisions of records reported
/// before, or a zero report. Recorded as a `pmp_reported` entry signed by the registrant key.
#[utoipa::path(
    get,
    path = "/api/v1/ledgers/{ledger}/pmp/{state}",
    params(("ledger" = String, Path), ("state" = String, Path, description = "two-letter state code with a PMP profile, e.g. FL"), PmpQuery),
    responses(
        (status = 200, content((String = "text/plain")), description = "the ASAP file; `x-custody-pmp-control-number` (TH02), `x-custody-pmp-records` (DSP records), `x-custody-pmp-sha256`, `x-custody-recorded-as` (the pmp_reported entry)"),
        crate::responses::QueryRefusals,
        (status = 422, body = crate::error::ErrorBody, description = "a day that is not one, a period with nothing to report for a state needing no zero reports, or data the state's profile requires missing (`invalid_value`, `details.field` the ASAP field, e.g. PHA01)"),
        crate::responses::NoRegistrantKey,
    ),
    tag = "pmp"
)]
pub async fn file(
    State(state): State<AppState>,
    Path((ledger, st)): Path<(LedgerId, String)>,
    Query(q): Query<PmpQuery>,
    auth: Auth,
) -> ApiResult<Response> {
    auth.require(ledger, Permission::Pmp)?;
    // Neither day given: yesterday in the clinic's time zone, the usual daily file.
    let (from, to) = if q.from.is_none() && q.to.is_none() {
        let today = state.clinic.settings.time_zone.today();
        let yesterday = today.plus_days(-1).unwrap_or(today);
        (yesterday, yesterday)
    } else {
        (day("from", &q.from)?, day("to", &q.to)?)
    };
    let issued = state.clinic.pmp_file(&auth, &st, from, to).await?;
    let f = &issued.file;
    let mut headers = vec![
        (
            header::CONTENT_TYPE,
            "text/plain; charset=utf-8".to_string(),
        ),
        (
            header::CONTENT_DISPOSITION,
            format!(
                "attachment; filename=\"{}-{}-{}.txt\"",
                f.state, f.from, f.to
            ),
        ),
        (
            header::HeaderName::from_static("x-custody-pmp-control-number"),
            f.control_number.clone(),
        ),
        (
            header::HeaderName::from_static("x-custody-pmp-records"),
            f.records.to_string(),
        ),
        (
            header::HeaderName::from_static("x-custody-pmp-sha256"),
            hex::encode(f.sha256),
        ),
    ];
    if let Some(seq) = issued.recorded_as {
        headers.push((
            header::HeaderName::from_static("x-custody-recorded-as"),
            seq.to_string(),
        ));
    }
    let mut r = f.text.clone().into_response();
    for (k, v) in headers {
        if let Ok(v) = header::HeaderValue::from_str(&v) {
            r.headers_mut().insert(k, v);
        }
    }
    Ok(r)
}

/// The registrant's identifiers a PMP file carries (PHA01, PHA02).
#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RegistrantIdsBody {
    /// National Provider Identifier: 10 digits.
    #[serde(default)]
    pub npi: Option<String>,
    /// NCPDP (NABP) provider id: 7 digits.
    #[serde(default)]
    pub ncpdp: Option<String>,
}

/// The registrant's NPI and NCPDP number.
#[utoipa::path(
    get,
    path = "/api/v1/ledgers/{ledger}/registrant/identifiers",
    params(("ledger" = String, Path)),
    responses((status = 200, body = RegistrantIdsBody), crate::responses::ReadRefusals),
    tag = "pmp"
)]
pub async fn identifiers(
    State(state): State<AppState>,
    Path(ledger): Path<LedgerId>,
    auth: Auth,
) -> ApiResult<Json<RegistrantIdsBody>> {
    auth.require(ledger, Permission::Read)?;
    let ids = state.clinic.registrant_ids(&auth).await?;
    Ok(Json(RegistrantIdsBody {
        npi: ids.npi,
        ncpdp: ids.ncpdp,
    }))
}

/// Sets the registrant's NPI and NCPDP number (pharmacists, admins).
#[utoipa::path(
    put,
    path = "/api/v1/ledgers/{ledger}/registrant/identifiers",
    params(("ledger" = String, Path)),
    request_body = RegistrantIdsBody,
    responses((status = 200, body = RegistrantIdsBody), crate::responses::BodyRefusals),
    tag = "pmp"
)]
pub async fn set_identifiers(
    State(state): State<AppState>,
    Path(ledger): Path<LedgerId>,
    auth: Auth,
    Body(b): Body<RegistrantIdsBody>,
) -> ApiResult<Json<RegistrantIdsBody>> {
    auth.require(ledger, Permission::Pmp)?;
    let ids = state
        .clinic
        .save_registrant_ids(&auth, b.npi.as_deref(), b.ncpdp.as_deref())
        .await?;
    Ok(Json(RegistrantIdsBody {
        npi: ids.npi,
        ncpdp: ids.ncpdp,
    }))
}

/// A prescriber's NPI (PRE01).
#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PrescriberBody {
    /// National Provider Identifier: 10 digits.
    pub npi: String,
}

/// Sets the NPI of the prescriber whose DEA number entries name (pharmacists, admins).
#[utoipa::path(
    put,
    path = "/api/v1/ledgers/{ledger}/prescribers/{dea}",
    params(("ledger" = String, Path), ("dea" = String, Path, description = "the prescriber's DEA number")),
    request_body = PrescriberBody,
    responses((status = 200, body = PrescriberBody), crate::responses::BodyRefusals),
    tag = "pmp"
)]
pub async fn set_prescriber(
    State(state): State<AppState>,
    Path((ledger, dea)): Path<(LedgerId, String)>,
    auth: Auth,
    Body(b): Body<PrescriberBody>,
) -> ApiResult<Json<PrescriberBody>> {
    auth.require(ledger, Permission::Pmp)?;
    let dea: DeaNumber = parse("dea", &dea)?;
    let npi = state
        .clinic
        .save_prescriber_npi(&auth, &dea, &b.npi)
        .await?;
    Ok(Json(PrescriberBody { npi }))
}

/// The prescription a take-home dispense filled (DSP02–DSP04, DSP10).
#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PrescriptionBody {
    /// The prescription number (DSP02).
    pub rx_number: String,
    /// The day it was written, YYYY-MM-DD (DSP03).
    pub written_on: String,
    /// Refills authorized (DSP04), 0 to 99.
    pub refills_authorized: u32,
    /// Days' supply (DSP10), 1 to 365.
    pub days_supply: u32,
}

/// Keeps the prescription of the take-home dispense recorded as entry `seq` (pharmacists,
/// admins). Changed after a PMP file reported the dispense, the next file revises it (DSP01 01).
#[utoipa::path(
    put,
    path = "/api/v1/ledgers/{ledger}/dispenses/{seq}/prescription",
    params(("ledger" = String, Path), ("seq" = u64, Path, description = "the dispensed entry")),
    request_body = PrescriptionBody,
    responses((status = 200, body = PrescriptionBody), crate::responses::BodyRefusals),
    tag = "pmp"
)]
pub async fn set_prescription(
    State(state): State<AppState>,
    Path((ledger, seq)): Path<(LedgerId, String)>,
    auth: Auth,
    Body(b): Body<PrescriptionBody>,
) -> ApiResult<Json<PrescriptionBody>> {
    auth.require(ledger, Permission::Pmp)?;
    let seq: Seq = seq
        .parse::<u64>()
        .ok()
        .and_then(|n| Seq::new(n).ok())
        .ok_or_else(|| ApiError::not_found(format!("no entry {seq:?} in this ledger")))?;
    let written_on: Day = parse("written_on", &b.written_on)?;
    let p = state
        .clinic
        .save_prescription(
            &auth,
            seq,
            &b.rx_number,
            written_on,
            b.refills_authorized,
            b.days_supply,
        )
        .await?;
    Ok(Json(PrescriptionBody {
        rx_number: p.rx_number,
        written_on: p.written_on.to_string(),
        refills_authorized: p.refills_authorized,
        days_supply: p.days_supply,
    }))
}

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/ledgers/{ledger}/pmp/{state}", get(file))
        .route(
            "/api/v1/ledgers/{ledger}/registrant/identifiers",
            get(identifiers).put(set_identifiers),
        )
        .route(
            "/api/v1/ledgers/{ledger}/prescribers/{dea}",
            put(set_prescriber),
        )
        .route(
            "/api/v1/ledgers/{ledger}/dispenses/{seq}/prescription",
            put(set_prescription),
        )
}
