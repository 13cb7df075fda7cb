//! The DEA inventories (21 CFR 1304.11) and a loss's reports to the DEA: `POST …/inventories`
//! (taken by you, witnessed by a second person in the same request), `GET …/losses` (each
//! loss with its two deadlines and where they stand) and `POST …/losses/{seq}/reported` (the
//! written notice and Form 106, recorded once).

use axum::extract::State;
use axum::response::Response;
use axum::routing::{get, post};
use axum::{Json, Router};
use custody_clinic::Permission;
use custody_clinic::acts::{InventoryCount, OpenCount, ReportLoss, TakeInventory};
use custody_clinic::deadlines::DeadlineStatus;
use custody_ledger::*;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::auth::Auth;
use crate::ceremony::{ActAnswer, RequestOrigin, WitnessBody, ceremony, parse, respond};
use crate::error::ApiResult;
use crate::extract::{Json as Body, Path};
use crate::state::AppState;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OpenCountBody {
    /// The open container counted (`C12-1`); leave it out in an initial inventory, which
    /// brings its open containers in.
    pub container: Option<String>,
    /// What remains, in µL (solutions) or units.
    pub remaining: u64,
    /// An estimate rather than a measurement (Schedule III–V, not a container over 1,000
    /// units).
    #[serde(default)]
    pub estimated: bool,
    /// An initial inventory's opened container: its beyond-use date (YYYY-MM-DD).
    pub beyond_use: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct InventoryLineBody {
    /// The product's NDC.
    pub product: String,
    pub lot: String,
    /// YYYY-MM-DD.
    pub expiry: String,
    pub location: String,
    /// Sealed containers, counted exactly.
    pub sealed: u32,
    #[serde(default)]
    pub open: Vec<OpenCountBody>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct InventoryRequest {
    /// Your password: it signs this act as the person who took the inventory (ignored in a
    /// dry run).
    #[serde(default)]
    pub password: String,
    /// `initial`, `biennial` or `other`.
    pub occasion: String,
    /// `opening` or `close` (of business).
    pub taken_at: String,
    /// YYYY-MM-DD.
    pub date: String,
    /// Per product, lot, expiry and location; may be empty (zero stock is a valid initial
    /// inventory).
    pub lines: Vec<InventoryLineBody>,
    /// The second person, who witnesses the inventory and signs in the same request.
    pub witness: WitnessBody,
    /// Check everything the ledger's rules can check, sign nothing, record nothing.
    #[serde(default)]
    pub dry_run: bool,
}

fn line(i: usize, l: &InventoryLineBody) -> ApiResult<InventoryCount> {
    let at = |f: &str| format!("lines[{i}].{f}");
    let mut open = Vec::with_capacity(l.open.len());
    for (j, o) in l.open.iter().enumerate() {
        let at = |f: &str| format!("lines[{i}].open[{j}].{f}");
        open.push(OpenCount {
            container: o
                .container
                .as_deref()
                .map(|c| parse(&at("container"), c))
                .transpose()?,
            remaining: o.remaining,
            estimated: o.estimated,
            beyond_use: o
                .beyond_use
                .as_deref()
                .map(|d| parse(&at("beyond_use"), d))
                .transpose()?,
        });
    }
    Ok(InventoryCount {
        product: parse(&at("product"), &l.product)?,
        lot: parse(&at("lot"), &l.lot)?,
        expiry: parse(&at("expiry"), &l.expiry)?,
        location: parse(&at("location"), &l.location)?,
        sealed: l.sealed,
        open,
    })
}

/// Records an inventory (21 CFR 1304.11): the initial one brings the stock it lists into the
/// ledger; a later one is compared with the ledger like a count and opens a discrepancy
/// where they differ. Signed by you and the witness.
#[utoipa::path(
    post,
    path = "/api/v1/ledgers/{ledger}/inventories",
    params(("ledger" = String, Path), ("Idempotency-Key" = Option<String>, Header, description = "the same key again records nothing and answers as the first time")),
    request_body = InventoryRequest,
    responses((status = 200, body = ActAnswer, description = "recorded (with dry_run: what would be recorded)"), crate::responses::ActRefusals),
    tag = "stock"
)]
pub async fn inventory(
    State(state): State<AppState>,
    Path(ledger): Path<LedgerId>,
    RequestOrigin(origin): RequestOrigin,
    auth: Auth,
    Body(req): Body<InventoryRequest>,
) -> ApiResult<Response> {
    auth.require(ledger, Permission::Author(Kind::Inventory))?;
    let cmd = TakeInventory {
        occasion: parse("occasion", &req.occasion)?,
        taken_at: parse("taken_at", &req.taken_at)?,
        date: parse("date", &req.date)?,
        lines: req
            .lines
            .iter()
            .enumerate()
            .map(|(i, l)| line(i, l))
            .collect::<ApiResult<_>>()?,
        witness: req.witness.user()?,
    };
    let c = ceremony(
        req.dry_run,
        &req.password,
        std::slice::from_ref(&req.witness),
    );
    let o = state.clinic.take_inventory(&auth, cmd, c, &origin).await?;
    respond(&state, o)
}

/// One deadline of a loss, as the API shows it.
#[derive(Debug, Serialize, ToSchema)]
pub struct DeadlineView {
    /// YYYY-MM-DD, a day of the clinic's time zone.
    pub due: String,
    /// `due`, `overdue`, `met` or `late`.
    pub status: String,
    /// When it was done (`met` or `late`).
    pub done_on: Option<String>,
    /// As a person reads it.
    pub says: String,
}

impl From<DeadlineStatus> for DeadlineView {
    fn from(d: DeadlineStatus) -> Self {
        let (status, done_on) = match d {
            DeadlineStatus::Due { .. } => ("due", None),
            DeadlineStatus::Overdue { .. } => ("overdue", None),
            DeadlineStatus::Met { on, .. } => ("met", Some(on.to_string())),
            DeadlineStatus::Late { on, .. } => ("late", Some(on.to_string())),
        };
        Self {
            due: d.due().to_string(),
            status: status.into(),
            done_on,
            says: d.describe(),
        }
    }
}

/// A loss or theft and its reports to the DEA.
#[derive(Debug, Serialize, ToSchema)]
pub struct LossView {
    /// The `loss_theft` entry.
    pub seq: u64,
    pub loss_type: String,
    pub discovered_on: String,
    /// Written notice to the DEA Field Division: one business day after discovery.
    pub notice: DeadlineView,
    /// DEA Form 106: 45 days after discovery.
    pub form_106: DeadlineView,
    /// The Form 106 submission number, once recorded.
    pub form_106_number: Option<String>,
    /// The `loss_reported` entry, once there is one.
    pub reported_by: Option<u64>,
}

/// Each loss or theft, oldest first, with its two deadlines and where they stand (as of
/// today in the clinic's time zone).
#[utoipa::path(
    get,
    path = "/api/v1/ledgers/{ledger}/losses",
    params(("ledger" = String, Path)),
    responses((status = 200, body = Vec<LossView>), crate::responses::ReadRefusals),
    tag = "stock"
)]
pub async fn losses(
    State(state): State<AppState>,
    Path(ledger): Path<LedgerId>,
    auth: Auth,
) -> ApiResult<Json<Vec<LossView>>> {
    auth.require(ledger, Permission::Read)?;
    Ok(Json(
        state
            .clinic
            .losses(&auth)
            .await?
            .into_iter()
            .map(|l| LossView {
                seq: l.seq,
                loss_type: l.loss.loss_type.to_string(),
                discovered_on: l.loss.discovered_on.to_string(),
                notice: l.notice.into(),
                form_106: l.form_106.into(),
                form_106_number: l.reported.as_ref().map(|(_, r)| r.form_106.to_string()),
                reported_by: l.reported.as_ref().map(|(s, _)| *s),
            })
            .collect(),
    ))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LossReportedRequest {
    /// Your password: it signs this act (ignored in a dry run).
    #[serde(default)]
    pub password: String,
    /// When the written notice went to the DEA Field Division (YYYY-MM-DD).
    pub notice_on: String,
    /// The DEA Form 106 submission number.
    pub form_106: String,
    /// When Form 106 was submitted (YYYY-MM-DD).
    pub form_106_on: String,
    /// Check everything the ledger's rules can check, sign nothing, record nothing.
    #[serde(default)]
    pub dry_run: bool,
}

/// Records a loss's written notice to the DEA and its Form 106 submission, once.
#[utoipa::path(
    post,
    path = "/api/v1/ledgers/{ledger}/losses/{seq}/reported",
    params(("ledger" = String, Path), ("seq" = u64, Path, description = "the loss_theft entry"), ("Idempotency-Key" = Option<String>, Header, description = "the same key again records nothing and answers as the first time")),
    request_body = LossReportedRequest,
    responses((status = 200, body = ActAnswer, description = "recorded (with dry_run: what would be recorded)"), crate::responses::ActRefusals),
    tag = "stock"
)]
pub async fn reported(
    State(state): State<AppState>,
    Path((ledger, seq)): Path<(LedgerId, String)>,
    RequestOrigin(origin): RequestOrigin,
    auth: Auth,
    Body(req): Body<LossReportedRequest>,
) -> ApiResult<Response> {
    auth.require(ledger, Permission::Author(Kind::LossReported))?;
    let cmd = ReportLoss {
        loss: parse("seq", &seq)?,
        notice_on: parse("notice_on", &req.notice_on)?,
        form_106: parse("form_106", &req.form_106)?,
        form_106_on: parse("form_106_on", &req.form_106_on)?,
    };
    let c = ceremony(req.dry_run, &req.password, &[]);
    let o = state.clinic.report_loss(&auth, cmd, c, &origin).await?;
    respond(&state, o)
}

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/ledgers/{ledger}/inventories", post(inventory))
        .route(
            "/api/v1/ledgers/{ledger}/losses/{seq}/reported",
            post(reported),
        )
}

/// `GET …/losses`, merged by the movements router's `POST …/losses` (one path, one route).
pub fn losses_get() -> axum::routing::MethodRouter<AppState> {
    get(losses)
}
