//! People: enrolling users (an admin's act, co-signed by the new user's fresh key).

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, State};
use axum::routing::post;
use axum::{Json, Router};
use custody_ledger::*;
use custody_store::keystore;
use serde::Deserialize;
use utoipa::ToSchema;

use crate::auth::{Auth, open_key};
use crate::ceremony::{Recorded, entry_id, parse, recorded};
use crate::error::{ApiError, ApiResult};
use crate::extract::{Json as Body, Path};
use crate::passwords;
use crate::state::AppState;

#[derive(Debug, Deserialize, ToSchema)]
pub struct EnrollRequest {
    /// The admin's password: it signs this act.
    pub password: String,
    pub username: String,
    pub printed_name: String,
    /// admin, pharmacist, nurse or auditor.
    pub role: String,
    /// The new user's first password (12+ characters, not the user name, not common). Their
    /// private key is made now and sealed under it; the server never holds it in clear.
    pub initial_password: String,
}

/// Enrolls a user with a new key.
#[utoipa::path(
    post,
    path = "/api/v1/ledgers/{ledger}/users",
    params(("ledger" = String, Path)),
    request_body = EnrollRequest,
    responses(
        (status = 200, body = Recorded),
        (status = 403, body = crate::error::ErrorBody),
        (status = 409, body = crate::error::ErrorBody, description = "user exists"),
        (status = 422, body = crate::error::ErrorBody, description = "weak password or invalid field"),
    ),
    tag = "people"
)]
pub async fn enroll(
    State(state): State<AppState>,
    Path(ledger): Path<LedgerId>,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    auth: Auth,
    Body(req): Body<EnrollRequest>,
) -> ApiResult<Json<Recorded>> {
    auth.require(ledger, &[Role::Admin])?;
    let user: UserId = parse("username", &req.username)?;
    let printed_name: Text = parse("printed_name", &req.printed_name)?;
    let role: Role = parse("role", &req.role)?;
    passwords::check(user.as_str(), &req.initial_password)?;
    let admin_key = open_key(
        &state,
        ledger,
        &auth.user,
        &req.password,
        &addr.ip().to_string(),
    )
    .await?;
    let initial = zeroize::Zeroizing::new(req.initial_password.clone());
    let (key, sealed) = tokio::task::spawn_blocking(move || {
        let key = keystore::generate()?;
        let sealed = keystore::seal(&key, &initial, keystore::Cost::default())?;
        Ok::<_, keystore::KeyError>((key, sealed))
    })
    .await
    .map_err(|e| ApiError::internal(e.to_string()))?
    .map_err(|e| ApiError::internal(e.to_string()))?;
    let public = PublicKey::from(&key);
    let d = Draft::new(
        ledger,
        entry_id(),
        UserEnrolled {
            user: user.clone(),
            printed_name,
            role,
            public_key: public,
        },
    )
    .signed(
        Principal::User(auth.user.clone()),
        Meaning::Authored,
        &admin_key,
    )
    .signed(Principal::User(user.clone()), Meaning::KeyPossession, &key);
    let a = state.store.append(d).await?;
    state
        .store
        .save_sealed_key(ledger, &user, public.key_id(), sealed)
        .await?;
    Ok(Json(recorded(&state, ledger, a).await?))
}

pub fn router() -> Router<AppState> {
    Router::new().route("/api/v1/ledgers/{ledger}/users", post(enroll))
}
