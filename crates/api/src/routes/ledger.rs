//! The ledger itself: head, entries (with inclusion proofs), verification, checkpoints.

use crate::extract::{Path, Query};
use axum::extract::State;
use axum::routing::{get, post};
use axum::{Json, Router};
use custody_ledger::{Canonical, Entry, Kind, LedgerId, Role, Seq};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::auth::Auth;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

pub const READERS: &[Role] = &[Role::Admin, Role::Pharmacist, Role::Nurse, Role::Auditor];
pub const VERIFIERS: &[Role] = &[Role::Admin, Role::Pharmacist, Role::Auditor];

#[derive(Debug, Serialize, ToSchema)]
pub struct HeadView {
    pub ledger: String,
    pub registrant: String,
    pub dea: String,
    pub entries: u64,
    pub head: String,
    pub last_at: String,
    pub registrant_key: String,
}

/// The ledger's head.
#[utoipa::path(
    get,
    path = "/api/v1/ledgers/{ledger}/head",
    params(("ledger" = String, Path)),
    responses((status = 200, body = HeadView), (status = 401, body = crate::error::ErrorBody)),
    tag = "ledger"
)]
pub async fn head(
    State(state): State<AppState>,
    Path(ledger): Path<LedgerId>,
    auth: Auth,
) -> ApiResult<Json<HeadView>> {
    auth.require(ledger, READERS)?;
    let h = state.store.head(ledger).await?;
    Ok(Json(HeadView {
        ledger: ledger.to_string(),
        registrant: h.registrant.name.to_string(),
        dea: h.registrant.dea.to_string(),
        entries: h.entries,
        head: h.last_hash.to_string(),
        last_at: h.last_timestamp.to_string(),
        registrant_key: h.registrant_key.to_string(),
    }))
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct EntriesQuery {
    /// Cursor: list entries after this sequence number.
    pub after: Option<u64>,
    /// At most this many (default 100, at most 1000).
    pub limit: Option<u64>,
    /// Only this kind (e.g. `administered`).
    pub kind: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct EntryView {
    pub seq: u64,
    pub hash: String,
    #[schema(value_type = Object)]
    pub entry: serde_json::Value,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct EntriesPage {
    pub entries: Vec<EntryView>,
    /// Pass as `after` for the next page; absent at the end.
    pub next: Option<u64>,
}

fn view(seq: u64, hash: String, bytes: &[u8]) -> ApiResult<EntryView> {
    let e = Entry::from_canonical_bytes(bytes)
        .map_err(|e| ApiError::internal(format!("stored entry {seq} cannot be read: {e}")))?;
    Ok(EntryView {
        seq,
        hash,
        entry: serde_json::to_value(&e).map_err(|e| ApiError::internal(e.to_string()))?,
    })
}

/// Entries, oldest first, with a cursor.
#[utoipa::path(
    get,
    path = "/api/v1/ledgers/{ledger}/entries",
    params(("ledger" = String, Path), EntriesQuery),
    responses((status = 200, body = EntriesPage), (status = 400, body = crate::error::ErrorBody)),
    tag = "ledger"
)]
pub async fn entries(
    State(state): State<AppState>,
    Path(ledger): Path<LedgerId>,
    Query(q): Query<EntriesQuery>,
    auth: Auth,
) -> ApiResult<Json<EntriesPage>> {
    auth.require(ledger, READERS)?;
    let limit = q.limit.unwrap_or(100).clamp(1, 1000);
    let kind = q
        .kind
        .as_deref()
        .map(|k| k.parse::<Kind>())
        .transpose()
        .map_err(|e| ApiError::bad_request(e.to_string()))?;
    let after = q
        .after
        .map(Seq::new)
        .transpose()
        .map_err(|e| ApiError::bad_request(e.to_string()))?;
    let rows = state.store.entries_page(ledger, after, limit, kind).await?;
    let next = (rows.len() as u64 == limit)
        .then(|| rows.last().map(|r| r.seq))
        .flatten();
    let entries = rows
        .iter()
        .map(|r| view(r.seq, r.hash.to_string(), &r.bytes))
        .collect::<ApiResult<Vec<_>>>()?;
    Ok(Json(EntriesPage { entries, next }))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct EntryDetail {
    #[serde(flatten)]
    pub view: EntryView,
    /// Inclusion proof of this entry in the tree of `tree_size` entries.
    pub tree_size: u64,
    pub root: String,
    pub proof: Vec<String>,
}

/// One entry, with its hash, signatures and an inclusion proof at the current head.
#[utoipa::path(
    get,
    path = "/api/v1/ledgers/{ledger}/entries/{seq}",
    params(("ledger" = String, Path), ("seq" = u64, Path)),
    responses((status = 200, body = EntryDetail), (status = 404, body = crate::error::ErrorBody)),
    tag = "ledger"
)]
pub async fn entry(
    State(state): State<AppState>,
    Path((ledger, seq)): Path<(LedgerId, u64)>,
    auth: Auth,
) -> ApiResult<Json<EntryDetail>> {
    auth.require(ledger, READERS)?;
    let size = state.store.head(ledger).await?.entries;
    if seq >= size {
        return Err(ApiError::not_found(format!(
            "no entry {seq}: the ledger holds {size}"
        )));
    }
    let p = state.store.inclusion_proof(ledger, seq, size).await?;
    let bytes = state
        .store
        .entry_bytes(
            ledger,
            Seq::new(seq).map_err(|e| ApiError::bad_request(e.to_string()))?,
        )
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no entry {seq}")))?;
    Ok(Json(EntryDetail {
        view: view(seq, p.entry_hash.to_string(), &bytes)?,
        tree_size: size,
        root: hex::encode(p.root),
        proof: p.path.iter().map(hex::encode).collect(),
    }))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct VerifyView {
    pub ok: bool,
    pub entries: u64,
    pub head: Option<String>,
    /// The first bad entry and why, when not ok.
    pub failed_at: Option<u64>,
    pub reason: Option<String>,
    pub code: Option<String>,
}

/// Verifies the whole ledger as stored.
#[utoipa::path(
    post,
    path = "/api/v1/ledgers/{ledger}/verify",
    params(("ledger" = String, Path)),
    responses((status = 200, body = VerifyView), (status = 403, body = crate::error::ErrorBody)),
    tag = "ledger"
)]
pub async fn verify(
    State(state): State<AppState>,
    Path(ledger): Path<LedgerId>,
    auth: Auth,
) -> ApiResult<Json<VerifyView>> {
    auth.require(ledger, VERIFIERS)?;
    let r = state.store.verify(ledger, None, |_, _| {}).await?;
    Ok(Json(match r {
        Ok(s) => VerifyView {
            ok: true,
            entries: s.entries,
            head: Some(s.head.to_string()),
            failed_at: None,
            reason: None,
            code: None,
        },
        Err(f) => VerifyView {
            ok: false,
            entries: f.seq,
            head: None,
            failed_at: Some(f.seq),
            reason: Some(f.reason.to_string()),
            code: Some(f.reason.code().to_string()),
        },
    }))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CheckpointView {
    pub size: u64,
    pub root: String,
    /// The C2SP signed note.
    pub note: String,
}

/// Issues a checkpoint signed by the registrant key.
#[utoipa::path(
    post,
    path = "/api/v1/ledgers/{ledger}/checkpoints",
    params(("ledger" = String, Path)),
    responses((status = 200, body = CheckpointView), (status = 403, body = crate::error::ErrorBody)),
    tag = "ledger"
)]
pub async fn issue_checkpoint(
    State(state): State<AppState>,
    Path(ledger): Path<LedgerId>,
    auth: Auth,
) -> ApiResult<Json<CheckpointView>> {
    auth.require(ledger, VERIFIERS)?;
    let key = state.registrant.as_ref().ok_or_else(|| {
        ApiError::new(
            axum::http::StatusCode::SERVICE_UNAVAILABLE,
            "no_registrant_key",
            "this server was started without the registrant key",
        )
    })?;
    let c = state.store.issue_checkpoint(ledger, key).await?;
    Ok(Json(CheckpointView {
        size: c.checkpoint.size,
        root: hex::encode(c.checkpoint.root),
        note: c.to_note(),
    }))
}

/// Checkpoints issued, newest first.
#[utoipa::path(
    get,
    path = "/api/v1/ledgers/{ledger}/checkpoints",
    params(("ledger" = String, Path)),
    responses((status = 200, body = Vec<CheckpointView>)),
    tag = "ledger"
)]
pub async fn list_checkpoints(
    State(state): State<AppState>,
    Path(ledger): Path<LedgerId>,
    auth: Auth,
) -> ApiResult<Json<Vec<CheckpointView>>> {
    auth.require(ledger, READERS)?;
    let list = state.store.checkpoints(ledger, 100).await?;
    Ok(Json(
        list.into_iter()
            .map(|c| CheckpointView {
                size: c.checkpoint.size,
                root: hex::encode(c.checkpoint.root),
                note: c.to_note(),
            })
            .collect(),
    ))
}

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/ledgers/{ledger}/head", get(head))
        .route("/api/v1/ledgers/{ledger}/entries", get(entries))
        .route("/api/v1/ledgers/{ledger}/entries/{seq}", get(entry))
        .route("/api/v1/ledgers/{ledger}/verify", post(verify))
        .route(
            "/api/v1/ledgers/{ledger}/checkpoints",
            post(issue_checkpoint).get(list_checkpoints),
        )
}
