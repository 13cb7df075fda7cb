//! The ledger itself: head, entries (with inclusion proofs), verification, checkpoints.

use crate::extract::{Path, Query};
use axum::extract::State;
use axum::routing::{get, post};
use axum::{Json, Router};
use custody_ledger::{Canonical, Day, Entry, LedgerId, Seq, Timestamp};
use custody_store::EntryFilter;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::auth::Auth;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;
use custody_clinic::Permission;

#[derive(Debug, Serialize, ToSchema)]
pub struct LedgerSummary {
    pub ledger: String,
    pub registrant: String,
}

/// The ledgers this server holds (one per DEA registration), to choose where to sign in.
#[utoipa::path(
    get,
    path = "/api/v1/ledgers",
    responses((status = 200, body = Vec<LedgerSummary>)),
    tag = "ledger"
)]
pub async fn ledgers(State(state): State<AppState>) -> ApiResult<Json<Vec<LedgerSummary>>> {
    Ok(Json(
        state
            .store
            .ledgers()
            .await?
            .into_iter()
            .map(|l| LedgerSummary {
                ledger: l.ledger.to_string(),
                registrant: l.registrant.name.to_string(),
            })
            .collect(),
    ))
}

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
    responses((status = 200, body = HeadView), crate::responses::ReadRefusals),
    tag = "ledger"
)]
pub async fn head(
    State(state): State<AppState>,
    Path(ledger): Path<LedgerId>,
    auth: Auth,
) -> ApiResult<Json<HeadView>> {
    auth.require(ledger, Permission::Read)?;
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
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<u64>,
    /// Only this kind (e.g. `administered`).
    pub kind: Option<String>,
    /// Only entries about this product (NDC), directly or through its containers.
    pub product: Option<String>,
    /// Only entries naming this container (e.g. `C12-3`).
    pub container: Option<String>,
    /// Only entries this user signed or that concern them.
    pub user: Option<String>,
    /// Recorded at or after this time (RFC 3339, or a date YYYY-MM-DD meaning its start, UTC).
    pub from: Option<String>,
    /// Recorded before this time (RFC 3339, or a date meaning its start, UTC).
    pub to: Option<String>,
}

fn bad_query(what: &str) -> impl Fn(custody_ledger::types::ids::ParseError) -> ApiError + '_ {
    move |e| ApiError::bad_request(format!("{what}: {e}"))
}

/// A time as a query states it: RFC 3339, or a date meaning its start in UTC.
pub fn query_time(what: &str, s: &str) -> ApiResult<Timestamp> {
    if let Ok(d) = s.parse::<Day>() {
        return Ok(d.start());
    }
    s.parse::<Timestamp>().map_err(bad_query(what))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct EntryView {
    /// Sequence number in the ledger.
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

pub fn view(seq: u64, hash: String, bytes: &[u8]) -> ApiResult<EntryView> {
    let e = Entry::from_canonical_bytes(bytes)
        .map_err(|e| ApiError::internal(format!("stored entry {seq} cannot be read: {e}")))?;
    let mut entry = serde_json::to_value(&e).map_err(|e| ApiError::internal(e.to_string()))?;
    if let Some(m) = entry.as_object_mut() {
        m.insert("body".into(), crate::ceremony::body_json(&e.body)?);
    }
    Ok(EntryView { seq, hash, entry })
}

/// Entries, oldest first, with a cursor.
#[utoipa::path(
    get,
    path = "/api/v1/ledgers/{ledger}/entries",
    params(("ledger" = String, Path), EntriesQuery),
    responses((status = 200, body = EntriesPage), crate::responses::QueryRefusals),
    tag = "ledger"
)]
pub async fn entries(
    State(state): State<AppState>,
    Path(ledger): Path<LedgerId>,
    Query(q): Query<EntriesQuery>,
    auth: Auth,
) -> ApiResult<Json<EntriesPage>> {
    auth.require(ledger, Permission::Read)?;
    let limit = q.limit.unwrap_or(100);
    if !(1..=1000).contains(&limit) {
        return Err(ApiError::bad_request(format!(
            "limit: {limit} is not a page size: ask for 1 to 1000 entries"
        )));
    }
    let filter = EntryFilter {
        kind: q
            .kind
            .as_deref()
            .map(str::parse)
            .transpose()
            .map_err(bad_query("kind"))?,
        product: q
            .product
            .as_deref()
            .map(str::parse)
            .transpose()
            .map_err(bad_query("product"))?,
        container: q
            .container
            .as_deref()
            .map(str::parse)
            .transpose()
            .map_err(bad_query("container"))?,
        user: q
            .user
            .as_deref()
            .map(str::parse)
            .transpose()
            .map_err(bad_query("user"))?,
        from: q
            .from
            .as_deref()
            .map(|s| query_time("from", s))
            .transpose()?,
        to: q.to.as_deref().map(|s| query_time("to", s)).transpose()?,
    };
    let after = q
        .after
        .map(Seq::new)
        .transpose()
        .map_err(bad_query("after"))?;
    let page = state
        .store
        .entries_filtered(ledger, after, limit, &filter)
        .await?;
    let next = page.next;
    let entries = page
        .entries
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
    responses((status = 200, body = EntryDetail), crate::responses::ReadRefusals),
    tag = "ledger"
)]
pub async fn entry(
    State(state): State<AppState>,
    Path((ledger, seq)): Path<(LedgerId, u64)>,
    auth: Auth,
) -> ApiResult<Json<EntryDetail>> {
    auth.require(ledger, Permission::Read)?;
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
    responses((status = 200, body = VerifyView), crate::responses::ReadRefusals),
    tag = "ledger"
)]
pub async fn verify(
    State(state): State<AppState>,
    Path(ledger): Path<LedgerId>,
    auth: Auth,
) -> ApiResult<Json<VerifyView>> {
    run_verification(&state, ledger, &auth).await.map(Json)
}

/// Verifies the whole ledger and remembers the outcome for the dashboard.
pub async fn run_verification(
    state: &AppState,
    ledger: LedgerId,
    auth: &Auth,
) -> ApiResult<VerifyView> {
    auth.require(ledger, Permission::Verify)?;
    let r = state.clinic.verify(auth).await?;
    state.metrics.verified(r.is_ok());
    Ok(match r {
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
    })
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CheckpointView {
    pub size: u64,
    pub root: String,
    /// The C2SP signed note.
    pub note: String,
}

impl From<custody_ledger::checkpoint::SignedCheckpoint> for CheckpointView {
    fn from(c: custody_ledger::checkpoint::SignedCheckpoint) -> Self {
        CheckpointView {
            size: c.checkpoint.size,
            root: hex::encode(c.checkpoint.root),
            note: c.to_note(),
        }
    }
}

/// Issues a checkpoint signed by the registrant key.
#[utoipa::path(
    post,
    path = "/api/v1/ledgers/{ledger}/checkpoints",
    params(("ledger" = String, Path)),
    responses((status = 200, body = CheckpointView), crate::responses::ReadRefusals, crate::responses::NoRegistrantKey),
    tag = "ledger"
)]
pub async fn issue_checkpoint(
    State(state): State<AppState>,
    Path(ledger): Path<LedgerId>,
    auth: Auth,
) -> ApiResult<Json<CheckpointView>> {
    auth.require(ledger, Permission::Verify)?;
    let key = state.registrant(ledger, "signs checkpoints")?;
    Ok(Json(
        state.store.issue_checkpoint(ledger, &key).await?.into(),
    ))
}

/// Checkpoints issued, newest first.
#[utoipa::path(
    get,
    path = "/api/v1/ledgers/{ledger}/checkpoints",
    params(("ledger" = String, Path)),
    responses((status = 200, body = Vec<CheckpointView>), crate::responses::ReadRefusals),
    tag = "ledger"
)]
pub async fn list_checkpoints(
    State(state): State<AppState>,
    Path(ledger): Path<LedgerId>,
    auth: Auth,
) -> ApiResult<Json<Vec<CheckpointView>>> {
    auth.require(ledger, Permission::Read)?;
    let list = state.store.checkpoints(ledger, 100).await?;
    Ok(Json(list.into_iter().map(Into::into).collect()))
}

/// One checkpoint, by the tree size it covers (the newest at that size).
#[utoipa::path(
    get,
    path = "/api/v1/ledgers/{ledger}/checkpoints/{size}",
    params(("ledger" = String, Path), ("size" = u64, Path)),
    responses((status = 200, body = CheckpointView), crate::responses::ReadRefusals),
    tag = "ledger"
)]
pub async fn get_checkpoint(
    State(state): State<AppState>,
    Path((ledger, size)): Path<(LedgerId, u64)>,
    auth: Auth,
) -> ApiResult<Json<CheckpointView>> {
    auth.require(ledger, Permission::Read)?;
    let c = state
        .store
        .checkpoint_at(ledger, size)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no checkpoint was issued at size {size}")))?;
    Ok(Json(c.into()))
}

/// The newest checkpoint, with the witnesses' cosignatures it has, as a C2SP signed note
/// (no session needed: it names only the ledger, its size and its root).
#[utoipa::path(
    get,
    path = "/api/v1/ledgers/{ledger}/checkpoint",
    params(("ledger" = String, Path)),
    responses(
        (status = 200, content_type = "text/plain; charset=utf-8", body = String, description = "the signed note: origin, size, root, a blank line, then the registrant's signature and each witness's cosignature"),
        crate::responses::NotFound,
    ),
    tag = "ledger"
)]
pub async fn newest_checkpoint(
    State(state): State<AppState>,
    Path(ledger): Path<LedgerId>,
) -> ApiResult<axum::response::Response> {
    use axum::response::IntoResponse;
    state.store.head(ledger).await?;
    let note = state
        .newest_checkpoint(ledger)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("ledger {ledger} has no checkpoint yet")))?;
    Ok((
        [
            (
                axum::http::header::CONTENT_TYPE,
                "text/plain; charset=utf-8",
            ),
            (axum::http::header::CACHE_CONTROL, "no-cache"),
        ],
        note,
    )
        .into_response())
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct ConsistencyQuery {
    /// The older tree size (say, a checkpoint an auditor holds).
    pub from: u64,
    /// The newer tree size; default the current head.
    pub to: Option<u64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ConsistencyView {
    pub old_size: u64,
    pub old_root: String,
    pub new_size: u64,
    pub new_root: String,
    /// RFC 6962 consistency proof, hex hashes.
    pub proof: Vec<String>,
}

/// A proof that the ledger at `to` entries extends the ledger at `from` entries.
#[utoipa::path(
    get,
    path = "/api/v1/ledgers/{ledger}/consistency",
    params(("ledger" = String, Path), ConsistencyQuery),
    responses((status = 200, body = ConsistencyView), crate::responses::QueryRefusals, (status = 422, body = crate::error::ErrorBody, description = "tree sizes that no proof joins (`from` beyond `to`, `to` beyond the ledger)")),
    tag = "ledger"
)]
pub async fn consistency(
    State(state): State<AppState>,
    Path(ledger): Path<LedgerId>,
    Query(q): Query<ConsistencyQuery>,
    auth: Auth,
) -> ApiResult<Json<ConsistencyView>> {
    auth.require(ledger, Permission::Read)?;
    let to = match q.to {
        Some(t) => t,
        None => state.store.head(ledger).await?.entries,
    };
    let p = state.store.consistency_proof(ledger, q.from, to).await?;
    Ok(Json(ConsistencyView {
        old_size: p.old_size,
        old_root: hex::encode(p.old_root),
        new_size: p.new_size,
        new_root: hex::encode(p.new_root),
        proof: p.path.iter().map(hex::encode).collect(),
    }))
}

/// The whole ledger as JSONL (the `custody export` format, with its cosigned checkpoints),
/// streamed page by page; the header's count and head are fixed when the download starts.
#[utoipa::path(
    get,
    path = "/api/v1/ledgers/{ledger}/export.jsonl",
    params(("ledger" = String, Path)),
    responses((status = 200, content_type = "application/x-ndjson", body = String), crate::responses::ReadRefusals),
    tag = "ledger"
)]
pub async fn export(
    State(state): State<AppState>,
    Path(ledger): Path<LedgerId>,
    auth: Auth,
) -> ApiResult<axum::response::Response> {
    use axum::response::IntoResponse;
    auth.require(ledger, Permission::Verify)?;
    let header = state.store.export_header(ledger).await?;
    let mut first = json_line(&header)?;
    let upto = header.entries;
    // The cosigned checkpoints of the entries the header counts come before them.
    for line in state.store.export_checkpoint_lines(ledger, upto).await? {
        first.extend(json_line(&line)?);
    }
    let store = state.store.clone();
    let pages = futures_util::stream::try_unfold(0u64, move |next| {
        let store = store.clone();
        async move {
            if next >= upto {
                return Ok(None);
            }
            let lines = store.export_lines(ledger, next, upto).await?;
            let Some(last) = lines.last() else {
                return Ok(None);
            };
            let after = last.seq + 1;
            let mut buf = Vec::new();
            for l in &lines {
                buf.extend(
                    json_line(l).map_err(|e| custody_store::StoreError::Corrupt(e.message))?,
                );
            }
            Ok::<_, custody_store::StoreError>(Some((axum::body::Bytes::from(buf), after)))
        }
    });
    let head = futures_util::stream::once(async move { Ok(axum::body::Bytes::from(first)) });
    let body = axum::body::Body::from_stream(futures_util::StreamExt::chain(head, pages));
    Ok((
        [
            (
                axum::http::header::CONTENT_TYPE,
                "application/x-ndjson".to_string(),
            ),
            (
                axum::http::header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"custody-{ledger}.jsonl\""),
            ),
        ],
        body,
    )
        .into_response())
}

fn json_line(v: &impl Serialize) -> ApiResult<Vec<u8>> {
    let mut b = serde_json::to_vec(v).map_err(|e| ApiError::internal(e.to_string()))?;
    b.push(b'\n');
    Ok(b)
}

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/ledgers", get(ledgers))
        .route("/api/v1/ledgers/{ledger}/head", get(head))
        .route("/api/v1/ledgers/{ledger}/entries", get(entries))
        .route("/api/v1/ledgers/{ledger}/entries/{seq}", get(entry))
        .route("/api/v1/ledgers/{ledger}/verify", post(verify))
        .route(
            "/api/v1/ledgers/{ledger}/checkpoints",
            post(issue_checkpoint).get(list_checkpoints),
        )
        .route(
            "/api/v1/ledgers/{ledger}/checkpoints/{size}",
            get(get_checkpoint),
        )
        .route(
            "/api/v1/ledgers/{ledger}/checkpoint",
            get(newest_checkpoint),
        )
        .route("/api/v1/ledgers/{ledger}/consistency", get(consistency))
        .route("/api/v1/ledgers/{ledger}/export.jsonl", get(export))
}
