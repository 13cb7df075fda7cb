//! Waste: what is left in a vial, destroyed before a second person. The witness either signs
//! in the same request, or the waste — already signed by its author — waits in the
//! awaiting-witness queue, listed with who and when, until a different active user with a
//! witnessing role signs it. Until then it is not in the chain.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use custody_clinic::Permission;
use custody_clinic::acts::{Outcome, WasteRest, WitnessQueued};
use custody_ledger::state::MAX_SIGNING_AGE_DAYS;
use custody_ledger::*;
use custody_store::PendingEntry;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::auth::Auth;
use crate::ceremony::{ActAnswer, RequestOrigin, WitnessBody, ceremony, mg, parse, respond};
use crate::error::{ApiError, ApiResult};
use crate::extract::{Json as Body, Path};
use crate::state::AppState;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WasteRequest {
    /// Your password: it signs this act (ignored in a dry run).
    #[serde(default)]
    pub password: String,
    /// The amount wasted in mg, as a decimal; absent means everything the container holds.
    pub amount_mg: Option<String>,
    pub reason: String,
    /// The witness signing now. Leave it out to send the waste to the awaiting-witness queue.
    pub witness: Option<WitnessBody>,
    /// Check everything the ledger's rules can check, sign nothing, record nothing.
    #[serde(default)]
    pub dry_run: bool,
}

/// A waste waiting for its witness.
#[derive(Debug, Serialize, ToSchema)]
pub struct PendingView {
    /// The entry id the waste will carry; witness it by this id.
    pub id: String,
    pub kind: String,
    pub container: String,
    pub author: String,
    pub author_name: String,
    pub queued_at: String,
    /// What will be recorded once witnessed.
    #[schema(value_type = Object)]
    pub body: serde_json::Value,
    /// The last moment it can be witnessed before its author must sign it again.
    pub witness_by: String,
}

pub async fn pending_view(
    state: &AppState,
    ledger: LedgerId,
    p: &PendingEntry,
) -> ApiResult<PendingView> {
    let author_name = state
        .store
        .user(ledger, &p.author)
        .await?
        .map(|u| u.printed_name)
        .unwrap_or_default();
    // The entry id is made just before queueing; the ledger accepts it this long after.
    let by = Timestamp::from_micros(p.queued_at.micros() + MAX_SIGNING_AGE_DAYS * 86_400_000_000)
        .map_or_else(|_| String::new(), |t| t.to_string());
    Ok(PendingView {
        id: p.entry_id().to_string(),
        kind: p.kind().to_string(),
        container: p.container.clone(),
        author: p.author.to_string(),
        author_name,
        queued_at: p.queued_at.to_string(),
        body: serde_json::to_value(&p.draft.body).map_err(|e| ApiError::internal(e.to_string()))?,
        witness_by: by,
    })
}

/// Wastes part or all of an open container. With `witness`, both sign now and it is recorded
/// (200); without, it is signed by you and queued for a witness (202).
#[utoipa::path(
    post,
    path = "/api/v1/ledgers/{ledger}/containers/{container}/waste",
    params(("ledger" = String, Path), ("container" = String, Path), ("Idempotency-Key" = Option<String>, Header, description = "the same key again records nothing and answers as the first time")),
    request_body = WasteRequest,
    responses(
        (status = 200, body = ActAnswer, description = "witnessed and recorded (with dry_run: what would be recorded)"),
        (status = 202, body = PendingView, description = "queued for a witness"),
        crate::responses::ActRefusals,
    ),
    tag = "stock"
)]
pub async fn waste(
    State(state): State<AppState>,
    Path((ledger, container)): Path<(LedgerId, String)>,
    RequestOrigin(origin): RequestOrigin,
    auth: Auth,
    Body(req): Body<WasteRequest>,
) -> ApiResult<Response> {
    auth.require(ledger, Permission::Author(Kind::Waste))?;
    let cmd = WasteRest {
        container: parse("container", &container)?,
        amount: req
            .amount_mg
            .as_deref()
            .map(|m| mg("amount_mg", m))
            .transpose()?,
        reason: parse("reason", &req.reason)?,
        witness: req.witness.as_ref().map(WitnessBody::user).transpose()?,
    };
    let witnesses: Vec<WitnessBody> = req.witness.iter().cloned().collect();
    let c = ceremony(req.dry_run, &req.password, &witnesses);
    let o = state.clinic.waste(&auth, cmd, c, &origin).await?;
    if let Outcome::Queued { pending, .. } = &o {
        let view = pending_view(&state, ledger, pending).await?;
        return Ok((StatusCode::ACCEPTED, Json(view)).into_response());
    }
    respond(&state, o)
}

/// Wastes waiting for a witness, oldest first.
#[utoipa::path(
    get,
    path = "/api/v1/ledgers/{ledger}/wastes/awaiting-witness",
    params(("ledger" = String, Path)),
    responses((status = 200, body = Vec<PendingView>), crate::responses::ReadRefusals),
    tag = "stock"
)]
pub async fn awaiting(
    State(state): State<AppState>,
    Path(ledger): Path<LedgerId>,
    auth: Auth,
) -> ApiResult<Json<Vec<PendingView>>> {
    auth.require(ledger, Permission::Read)?;
    let mut out = Vec::new();
    for p in state.clinic.awaiting_witness(&auth).await? {
        out.push(pending_view(&state, ledger, &p).await?);
    }
    Ok(Json(out))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WitnessRequest {
    /// Your password: you sign as the witness (ignored in a dry run).
    #[serde(default)]
    pub password: String,
    /// Check everything the ledger's rules can check, sign nothing, record nothing.
    #[serde(default)]
    pub dry_run: bool,
}

/// Witnesses a queued waste: the signed-in user signs it and it is recorded.
#[utoipa::path(
    post,
    path = "/api/v1/ledgers/{ledger}/wastes/awaiting-witness/{id}/witness",
    params(("ledger" = String, Path), ("id" = String, Path), ("Idempotency-Key" = Option<String>, Header, description = "the same key again records nothing and answers as the first time")),
    request_body = WitnessRequest,
    responses(
        (status = 200, body = ActAnswer, description = "recorded (with dry_run: what would be recorded)"),
        crate::responses::ActRefusals,
    ),
    tag = "stock"
)]
pub async fn witness(
    State(state): State<AppState>,
    Path((ledger, id)): Path<(LedgerId, String)>,
    RequestOrigin(origin): RequestOrigin,
    auth: Auth,
    Body(req): Body<WitnessRequest>,
) -> ApiResult<Response> {
    auth.require(ledger, Permission::Witness)?;
    let pending: EntryId = id
        .parse()
        .map_err(|_| ApiError::not_found("no waste with that id is waiting for a witness"))?;
    let c = ceremony(req.dry_run, &req.password, &[]);
    let o = state
        .clinic
        .witness(&auth, WitnessQueued { pending }, c, &origin)
        .await?;
    respond(&state, o)
}

pub fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/api/v1/ledgers/{ledger}/containers/{container}/waste",
            post(waste),
        )
        .route(
            "/api/v1/ledgers/{ledger}/wastes/awaiting-witness",
            get(awaiting),
        )
        .route(
            "/api/v1/ledgers/{ledger}/wastes/awaiting-witness/{id}/witness",
            post(witness),
        )
}
