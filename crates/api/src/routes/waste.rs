//! Waste: what is left in a vial, destroyed before a second person. The witness either signs
//! in the same request, or the waste — already signed by its author — waits in the
//! awaiting-witness queue, listed with who and when, until a different active user with a
//! witnessing role signs it. Until then it is not in the chain.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use custody_ledger::state::{MAX_SIGNING_AGE_DAYS, WITNESS_ROLES};
use custody_ledger::*;
use custody_store::PendingEntry;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::auth::{Auth, open_key};
use crate::ceremony::{
    Recorded, WitnessBody, act, amount_of, entry_id, everything_in, parse, recorded, require_author,
};
use crate::error::{ApiError, ApiResult};
use crate::extract::{Client, Json as Body, Path};
use crate::routes::ledger::READERS;
use crate::state::AppState;

#[derive(Debug, Deserialize, ToSchema)]
pub struct WasteRequest {
    /// Your password: it signs this act.
    pub password: String,
    /// The amount wasted in mg, as a decimal; absent means everything the container holds.
    pub amount_mg: Option<String>,
    pub reason: String,
    /// The witness signing now. Leave it out to send the waste to the awaiting-witness queue.
    pub witness: Option<WitnessBody>,
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
    params(("ledger" = String, Path), ("container" = String, Path)),
    request_body = WasteRequest,
    responses(
        (status = 200, body = Recorded, description = "witnessed and recorded"),
        (status = 202, body = PendingView, description = "queued for a witness"),
        (status = 401, body = crate::error::ErrorBody),
        (status = 409, body = crate::error::ErrorBody, description = "witness is the author, or not enough left"),
    ),
    tag = "stock"
)]
pub async fn waste(
    State(state): State<AppState>,
    Path((ledger, container)): Path<(LedgerId, String)>,
    Client(client): Client,
    auth: Auth,
    Body(req): Body<WasteRequest>,
) -> ApiResult<Response> {
    Ok(
        match discard(&state, ledger, &auth, &client, &container, &req).await? {
            Wasted::Recorded(r) => Json(r).into_response(),
            Wasted::Queued(p) => (StatusCode::ACCEPTED, Json(p)).into_response(),
        },
    )
}

/// What became of a waste: recorded with its witness, or queued for one.
pub enum Wasted {
    Recorded(Recorded),
    Queued(PendingView),
}

/// Wastes from a container: the one service behind the API and the web page.
pub async fn discard(
    state: &AppState,
    ledger: LedgerId,
    auth: &Auth,
    client: &str,
    container: &str,
    req: &WasteRequest,
) -> ApiResult<Wasted> {
    require_author(auth, ledger, Kind::Waste)?;
    let container: ContainerId = parse("container", container)?;
    let reason: Text = parse("reason", &req.reason)?;
    let amount = match &req.amount_mg {
        Some(mg) => amount_of(state, ledger, &container, mg).await?,
        None => everything_in(state, ledger, &container).await?,
    };
    let payload = Waste {
        container,
        amount,
        reason,
    };
    if let Some(w) = &req.witness {
        let witnesses = std::slice::from_ref(w);
        return act(
            state,
            ledger,
            auth,
            client,
            &req.password,
            witnesses,
            payload,
        )
        .await
        .map(Wasted::Recorded);
    }
    // Refuse now, before the key derivation, what could never be witnessed: the container
    // must be open and hold the amount.
    let info = state
        .store
        .container(ledger, &container)
        .await?
        .ok_or_else(|| {
            ApiError::not_found(format!("container {container} is not in this ledger"))
        })?;
    if info.status != "open" {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "container_state",
            format!(
                "container {container} is {}; it must be open to waste from it",
                info.status
            ),
        ));
    }
    if info.remaining < payload.amount.base() {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "insufficient_stock",
            format!("container {container} does not hold that much"),
        ));
    }
    let key = open_key(state, ledger, &auth.user, &req.password, client).await?;
    let d = Draft::new(ledger, entry_id(), payload).signed(
        Principal::User(auth.user.clone()),
        Meaning::Authored,
        &key,
    );
    let p = state
        .store
        .queue_entry(&d, &auth.user, &container.to_string())
        .await?;
    Ok(Wasted::Queued(pending_view(state, ledger, &p).await?))
}

/// Wastes waiting for a witness, oldest first.
#[utoipa::path(
    get,
    path = "/api/v1/ledgers/{ledger}/wastes/awaiting-witness",
    params(("ledger" = String, Path)),
    responses((status = 200, body = Vec<PendingView>)),
    tag = "stock"
)]
pub async fn awaiting(
    State(state): State<AppState>,
    Path(ledger): Path<LedgerId>,
    auth: Auth,
) -> ApiResult<Json<Vec<PendingView>>> {
    auth.require(ledger, READERS)?;
    let mut out = Vec::new();
    for p in state.store.pending_entries(ledger).await? {
        out.push(pending_view(&state, ledger, &p).await?);
    }
    Ok(Json(out))
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct WitnessRequest {
    /// Your password: you sign as the witness.
    pub password: String,
}

/// Witnesses a queued waste: the signed-in user signs it and it is recorded.
#[utoipa::path(
    post,
    path = "/api/v1/ledgers/{ledger}/wastes/awaiting-witness/{id}/witness",
    params(("ledger" = String, Path), ("id" = String, Path)),
    request_body = WitnessRequest,
    responses(
        (status = 200, body = Recorded),
        (status = 404, body = crate::error::ErrorBody, description = "not waiting (unknown or already witnessed)"),
        (status = 409, body = crate::error::ErrorBody, description = "you are its author, or the container no longer holds it"),
    ),
    tag = "stock"
)]
pub async fn witness(
    State(state): State<AppState>,
    Path((ledger, id)): Path<(LedgerId, String)>,
    Client(client): Client,
    auth: Auth,
    Body(req): Body<WitnessRequest>,
) -> ApiResult<Json<Recorded>> {
    Ok(Json(
        countersign(&state, ledger, &auth, &client, &id, &req.password).await?,
    ))
}

/// Witnesses a queued waste: the one service behind the API and the web page.
pub async fn countersign(
    state: &AppState,
    ledger: LedgerId,
    auth: &Auth,
    client: &str,
    id: &str,
    password: &str,
) -> ApiResult<Recorded> {
    auth.require(ledger, WITNESS_ROLES)?;
    let id: EntryId = id
        .parse()
        .map_err(|_| ApiError::not_found("no waste with that id is waiting for a witness"))?;
    let p = state
        .store
        .pending_entry(ledger, id)
        .await?
        .ok_or_else(|| ApiError::not_found("no waste with that id is waiting for a witness"))?;
    if p.author == auth.user {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "witness_is_author",
            "you recorded this waste: a different person must witness it",
        ));
    }
    let key = open_key(state, ledger, &auth.user, password, client).await?;
    let d = p
        .draft
        .signed(Principal::User(auth.user.clone()), Meaning::Witnessed, &key);
    let a = state.store.append(d).await?;
    state.store.dequeue_entry(ledger, id).await?;
    recorded(state, ledger, a).await
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
