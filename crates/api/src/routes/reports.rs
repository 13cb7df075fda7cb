//! Signed PDF reports for auditors, pharmacists and admins:
//! `GET …/reports/{kind}.pdf?from=&to=` and, for the PDF just downloaded, `…/{kind}.pdf.sig`;
//! each table of a report as CSV, `GET …/reports/{kind}.csv?table=`.
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
    /// For `KIND.csv`: which table of the report (e.g. `balances`, `counts`,
    /// `discrepancies`, `pending`, `activity` of `audit`); default the kind's first.
    pub table: Option<String>,
    /// For `dispensing`: `true` for the patient-identifying record (each patient's name and
    /// address from the register, 21 CFR 1304.22(c)); admins and pharmacists only, with
    /// `reason`.
    pub identify: Option<String>,
    /// Why the patient-identifying record is made (required with `identify=true`); recorded
    /// in the report's manifest and its `report_issued` entry.
    pub reason: Option<String>,
}

/// What a report file name asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Want {
    Pdf,
    Signature,
    Csv,
}

fn bad(what: &str, e: impl std::fmt::Display) -> ApiError {
    ApiError::invalid(format!("{what}: {e}"))
}

/// A signed report (`audit.pdf`, `inventory.pdf`, `waste.pdf`, `loss.pdf`, `trace.pdf`,
/// `dispensing.pdf`), the detached signature of the last one downloaded (`….pdf.sig`), or
/// one table of a report as CSV (`audit.csv?table=counts`), recorded with its SHA-256.
#[utoipa::path(
    get,
    path = "/api/v1/ledgers/{ledger}/reports/{file}",
    params(("ledger" = String, Path), ("file" = String, Path, description = "e.g. audit.pdf or audit.pdf.sig"), ReportQuery),
    responses(
        (status = 200, content(
            (Vec<u8> = "application/pdf"),
            (Vec<u8> = "application/octet-stream"),
            (String = "text/csv"),
        ), description = "the PDF (`KIND.pdf`), its detached Ed25519 signature (`KIND.pdf.sig`), or a table as CSV (`KIND.csv`; `x-custody-sha256` is the file's SHA-256 and `x-custody-entry` the `report_issued` entry recording it)"),
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
    let (name, want) = if let Some(n) = file.strip_suffix(".pdf.sig") {
        (n, Want::Signature)
    } else if let Some(n) = file.strip_suffix(".pdf") {
        (n, Want::Pdf)
    } else if let Some(n) = file.strip_suffix(".csv") {
        (n, Want::Csv)
    } else {
        return Err(ApiError::not_found(format!(
            "no report {file:?}: ask for KIND.pdf, KIND.pdf.sig or KIND.csv"
        )));
    };
    let table = q.table.as_deref().filter(|s| !s.trim().is_empty());
    if table.is_some() && want != Want::Csv {
        return Err(ApiError::invalid(
            "table: only a CSV report (KIND.csv) is one table; a PDF holds them all",
        ));
    }
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
        identified: match q.identify.as_deref().map(str::trim) {
            None | Some("" | "false") => false,
            Some("true") => true,
            Some(other) => {
                return Err(bad("identify", format!("{other:?} is not true or false")));
            }
        },
        reason: q.reason.clone().filter(|r| !r.trim().is_empty()),
    };
    if want == Want::Csv {
        let built = state.clinic.issue_csv(&auth, &req, table).await?;
        return Ok((
            [
                (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_string()),
                (
                    header::CONTENT_DISPOSITION,
                    format!("attachment; filename=\"{kind}-{}.csv\"", built.table),
                ),
                (
                    header::HeaderName::from_static("x-custody-sha256"),
                    hex::encode(built.sha256),
                ),
                (
                    header::HeaderName::from_static("x-custody-entry"),
                    built.recorded_as.to_string(),
                ),
            ],
            built.csv,
        )
            .into_response());
    }
    if want == Want::Signature {
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
    let length = built.pdf.len();
    let file = built
        .pdf
        .into_file()
        .map_err(|e| crate::error::ApiError::internal(e.to_string()))?;
    Ok((
        [
            (header::CONTENT_TYPE, "application/pdf".to_string()),
            // The body is streamed from the report's file; its length is known all the same.
            (header::CONTENT_LENGTH, length.to_string()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{kind}.pdf\""),
            ),
            (
                header::HeaderName::from_static("x-custody-signature"),
                base64::engine::general_purpose::STANDARD.encode(built.signature),
            ),
        ],
        axum::body::Body::from_stream(file_chunks(file)),
    )
        .into_response())
}

/// A report's temporary file as a stream of chunks, each read on tokio's blocking pool (the
/// file is read as it is sent, never held whole).
fn file_chunks(
    file: std::fs::File,
) -> impl futures_util::Stream<Item = std::io::Result<axum::body::Bytes>> {
    futures_util::stream::unfold(Some(file), |file| async move {
        let mut file = file?;
        let read = tokio::task::spawn_blocking(move || {
            use std::io::Read;
            let mut buf = vec![0u8; custody_report::file::CHUNK];
            let n = file.read(&mut buf)?;
            buf.truncate(n);
            Ok::<_, std::io::Error>((buf, file))
        })
        .await
        .map_err(std::io::Error::other)
        .and_then(|r| r);
        match read {
            Ok((buf, _)) if buf.is_empty() => None,
            Ok((buf, file)) => Some((Ok(axum::body::Bytes::from(buf)), Some(file))),
            // An error ends the body (the connection is cut short, the PDF incomplete).
            Err(e) => Some((Err(e), None)),
        }
    })
}

pub fn router() -> Router<AppState> {
    Router::new().route("/api/v1/ledgers/{ledger}/reports/{file}", get(report))
}
