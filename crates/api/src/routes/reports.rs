//! Signed PDF reports for auditors, pharmacists and admins:
//! `GET …/reports/{kind}.pdf?from=&to=` and, for the PDF just downloaded, `…/{kind}.pdf.sig`.
//!
//! Each download builds the report afresh at a checkpoint issued then (so two downloads
//! differ in their checkpoint and time). The `.sig` answers with the signature of the last
//! PDF this user downloaded with the same parameters; the PDF's response also carries it in
//! `x-custody-signature` (base64).

use axum::Router;
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use base64::Engine;
use custody_ledger::*;
use custody_report::{ReportKind, Request};
use serde::Deserialize;
use utoipa::IntoParams;

use crate::auth::Auth;
use crate::error::{ApiError, ApiResult};
use crate::extract::{Path, Query};
use crate::state::AppState;
use custody_clinic::Permission;

#[derive(Debug, Deserialize, IntoParams)]
pub struct ReportQuery {
    /// First day (YYYY-MM-DD, a day of the clinic's time zone, `custody serve --time-zone`);
    /// default 30 days before `to`. An empty parameter is
    /// the same as an absent one (as an HTML form sends it).
    pub from: Option<String>,
    /// Last day, inclusive; default today. An inventory is taken at its close.
    pub to: Option<String>,
    /// Only this product (NDC).
    pub product: Option<String>,
    /// For `trace`: the container.
    pub container: Option<String>,
    /// For `dispensing`: part of the practitioner's name or DEA number.
    pub prescriber: Option<String>,
    /// For `dispensing`: the patient's MRN.
    pub patient: Option<String>,
}

fn bad(what: &str, e: impl std::fmt::Display) -> ApiError {
    ApiError::invalid(format!("{what}: {e}"))
}

/// A signed report (`audit.pdf`, `inventory.pdf`, `waste.pdf`, `loss.pdf`, `trace.pdf`,
/// `dispensing.pdf`) or the detached signature of the last one downloaded (`….pdf.sig`).
#[utoipa::path(
    get,
    path = "/api/v1/ledgers/{ledger}/reports/{file}",
    params(("ledger" = String, Path), ("file" = String, Path, description = "e.g. audit.pdf or audit.pdf.sig"), ReportQuery),
    responses(
        (status = 200, content(
            (Vec<u8> = "application/pdf"),
            (Vec<u8> = "application/octet-stream"),
        ), description = "the PDF (`KIND.pdf`), or its detached Ed25519 signature (`KIND.pdf.sig`)"),
        crate::responses::QueryRefusals,
        (status = 422, body = crate::error::ErrorBody, description = "a day, product or container that cannot be what it says (`invalid_value`)"),
        crate::responses::NoRegistrantKey,
    ),
    tag = "reports"
)]
pub async fn report(
    State(state): State<AppState>,
    Path((ledger, file)): Path<(LedgerId, String)>,
    Query(q): Query<ReportQuery>,
    auth: Auth,
) -> ApiResult<Response> {
    auth.require(ledger, Permission::Reports)?;
    let (name, want_sig) = match file.strip_suffix(".pdf.sig") {
        Some(n) => (n, true),
        None => (
            file.strip_suffix(".pdf").ok_or_else(|| {
                ApiError::not_found(format!(
                    "no report {file:?}: ask for KIND.pdf or KIND.pdf.sig"
                ))
            })?,
            false,
        ),
    };
    let kind: ReportKind = name.parse().map_err(ApiError::not_found)?;
    let day = |what: &str, v: &Option<String>| -> ApiResult<Option<Day>> {
        v.as_deref()
            .filter(|s| !s.trim().is_empty())
            .map(str::parse::<Day>)
            .transpose()
            .map_err(|e| bad(what, e))
    };
    // Report periods are the clinic's days.
    let zone = &state.clinic.settings.time_zone;
    let (from, to) = Request::period(day("from", &q.from)?, day("to", &q.to)?, zone.today());
    let patient = match q.patient.as_deref().filter(|s| !s.trim().is_empty()) {
        Some(m) => Some(state.clinic.patient_ref(&auth, m).await?),
        None => None,
    };
    let req = Request {
        kind,
        from,
        to,
        product: q
            .product
            .as_deref()
            .filter(|s| !s.trim().is_empty())
            .map(str::parse)
            .transpose()
            .map_err(|e| bad("product", e))?,
        container: q
            .container
            .as_deref()
            .filter(|s| !s.trim().is_empty())
            .map(str::parse)
            .transpose()
            .map_err(|e| bad("container", e))?,
        prescriber: q.prescriber.clone().filter(|p| !p.trim().is_empty()),
        patient,
        time_zone: Request::zone_name(zone),
        hours: (kind == ReportKind::Diversion).then(|| state.clinic.settings.hours.to_string()),
    };
    if want_sig {
        let sig = state.clinic.report_signature(&auth, &req)?;
        return Ok((
            [
                (header::CONTENT_TYPE, "application/octet-stream".to_string()),
                (
                    header::CONTENT_DISPOSITION,
                    format!("attachment; filename=\"{kind}.pdf.sig\""),
                ),
            ],
            sig.to_vec(),
        )
            .into_response());
    }
    let built = state.clinic.issue_report(&auth, &req).await?;
    Ok((
        [
            (header::CONTENT_TYPE, "application/pdf".to_string()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{kind}.pdf\""),
            ),
            (
                header::HeaderName::from_static("x-custody-signature"),
                base64::engine::general_purpose::STANDARD.encode(built.signature),
            ),
        ],
        built.pdf,
    )
        .into_response())
}

pub fn router() -> Router<AppState> {
    Router::new().route("/api/v1/ledgers/{ledger}/reports/{file}", get(report))
}
