//! People: the first admin (bootstrap token), enrolling users, roles, deactivation, password
//! changes, key rotation and an admin's reset. A user's private key exists only sealed under
//! their password: a password change re-seals it; a reset makes a new key (a key-rotation
//! entry signed by the admin) and never reads the old one.

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use custody_ledger::*;
use custody_store::keystore;
use ed25519_dalek::SigningKey;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use utoipa::ToSchema;

use crate::auth::{Auth, open_key};
use crate::ceremony::{Recorded, act, entry_id, parse, recorded, require_author};
use crate::error::{ApiError, ApiResult};
use crate::extract::{Client, Json as Body, Path};
use crate::passwords;
use crate::routes::ledger::READERS;
use crate::state::AppState;

/// Makes a new key and seals it under `password`, off the async threads (Argon2id is slow on
/// purpose).
async fn new_sealed_key(state: &AppState, password: &str) -> ApiResult<(SigningKey, Vec<u8>)> {
    let password = zeroize::Zeroizing::new(password.to_string());
    state
        .derive(move || {
            let key = keystore::generate()?;
            let sealed = keystore::seal(&key, &password, keystore::Cost::default())?;
            Ok::<_, keystore::KeyError>((key, sealed))
        })
        .await?
        .map_err(|e| ApiError::internal(e.to_string()))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct UserView {
    pub user: String,
    pub printed_name: String,
    pub role: String,
    pub active: bool,
    pub key_id: String,
}

/// The users of this ledger.
#[utoipa::path(
    get,
    path = "/api/v1/ledgers/{ledger}/users",
    params(("ledger" = String, Path)),
    responses((status = 200, body = Vec<UserView>)),
    tag = "people"
)]
pub async fn list(
    State(state): State<AppState>,
    Path(ledger): Path<LedgerId>,
    auth: Auth,
) -> ApiResult<Json<Vec<UserView>>> {
    auth.require(ledger, READERS)?;
    Ok(Json(
        state
            .store
            .users(ledger)
            .await?
            .into_iter()
            .map(|u| UserView {
                user: u.user.to_string(),
                printed_name: u.printed_name,
                role: u.role.to_string(),
                active: u.active,
                key_id: u.key_id,
            })
            .collect(),
    ))
}

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
    Client(client): Client,
    auth: Auth,
    Body(req): Body<EnrollRequest>,
) -> ApiResult<Json<Recorded>> {
    enroll_user(&state, ledger, &auth, &client, &req)
        .await
        .map(Json)
}

/// Enrolls a user: a new key sealed under their first password.
pub async fn enroll_user(
    state: &AppState,
    ledger: LedgerId,
    auth: &Auth,
    client: &str,
    req: &EnrollRequest,
) -> ApiResult<Recorded> {
    require_author(auth, ledger, Kind::UserEnrolled)?;
    let user: UserId = parse("username", &req.username)?;
    let printed_name: Text = parse("printed_name", &req.printed_name)?;
    let role: Role = parse("role", &req.role)?;
    passwords::check(user.as_str(), &req.initial_password)?;
    let admin_key = open_key(state, ledger, &auth.user, &req.password, client).await?;
    let author = (
        Principal::User(auth.user.clone()),
        Meaning::Authored,
        &admin_key,
    );
    let enrolled = |public_key| UserEnrolled {
        user: user.clone(),
        printed_name,
        role,
        public_key,
    };
    let a = with_new_key(
        state,
        ledger,
        &user,
        &req.initial_password,
        enrolled,
        author,
    )
    .await?;
    recorded(state, ledger, a).await
}

/// Appends the entry `payload` makes of a new key for `user`, made now and sealed under
/// `password`, signed by `signer` and then by the new key (its possession). The sealed key
/// is kept first, under its own key id: if the append is refused it is an unused row, never
/// a user without a key.
async fn with_new_key<P: Into<Payload>>(
    state: &AppState,
    ledger: LedgerId,
    user: &UserId,
    password: &str,
    payload: impl FnOnce(PublicKey) -> P,
    (signer, meaning, signer_key): (Principal, Meaning, &SigningKey),
) -> ApiResult<custody_store::Appended> {
    let (key, sealed) = new_sealed_key(state, password).await?;
    let public = PublicKey::from(&key);
    let d = Draft::new(ledger, entry_id(), payload(public))
        .signed(signer, meaning, signer_key)
        .signed(Principal::User(user.clone()), Meaning::KeyPossession, &key);
    state
        .store
        .save_sealed_key(ledger, user, public.key_id(), sealed)
        .await?;
    Ok(state.store.append(d).await?)
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct BootstrapRequest {
    /// The one-time token `custody serve` printed when it initialized the ledger.
    pub token: String,
    pub username: String,
    pub printed_name: String,
    /// The first admin's password (12+ characters, not the user name, not common).
    pub password: String,
}

/// Enrolls the first admin with the one-time bootstrap token; the registrant key signs.
#[utoipa::path(
    post,
    path = "/api/v1/ledgers/{ledger}/bootstrap",
    params(("ledger" = String, Path)),
    request_body = BootstrapRequest,
    responses(
        (status = 200, body = Recorded),
        (status = 401, body = crate::error::ErrorBody, description = "wrong or used token"),
        (status = 422, body = crate::error::ErrorBody, description = "weak password or invalid field"),
    ),
    tag = "people"
)]
pub async fn bootstrap(
    State(state): State<AppState>,
    Path(ledger): Path<LedgerId>,
    Body(req): Body<BootstrapRequest>,
) -> ApiResult<Json<Recorded>> {
    bootstrap_admin(&state, ledger, &req).await.map(Json)
}

/// Enrolls the first admin with the bootstrap token.
pub async fn bootstrap_admin(
    state: &AppState,
    ledger: LedgerId,
    req: &BootstrapRequest,
) -> ApiResult<Recorded> {
    let hash: [u8; 32] = Sha256::digest(req.token.as_bytes()).into();
    let bad_token = || {
        ApiError::unauthorized(
            "bad_token",
            "that bootstrap token is wrong or was already used",
        )
    };
    if !state.store.bootstrap_token_matches(ledger, hash).await? {
        return Err(bad_token());
    }
    let user: UserId = parse("username", &req.username)?;
    let printed_name: Text = parse("printed_name", &req.printed_name)?;
    passwords::check(user.as_str(), &req.password)?;
    let registrant = state.registrant.clone().ok_or_else(|| {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "no_registrant_key",
            "this server was started without the registrant key, which signs the first enrollment",
        )
    })?;
    let first = |public_key| UserEnrolled {
        user: user.clone(),
        printed_name,
        role: Role::Admin,
        public_key,
    };
    let signer = (Principal::Registrant, Meaning::Registrant, &*registrant);
    // The ledger lets the registrant enroll only the first user: a second bootstrap fails.
    let a = with_new_key(state, ledger, &user, &req.password, first, signer).await?;
    state.store.take_bootstrap_token(ledger, hash).await?;
    recorded(state, ledger, a).await
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct RoleRequest {
    pub password: String,
    pub role: String,
    pub reason: String,
}

/// Changes a user's role.
#[utoipa::path(
    post,
    path = "/api/v1/ledgers/{ledger}/users/{user}/role",
    params(("ledger" = String, Path), ("user" = String, Path)),
    request_body = RoleRequest,
    responses((status = 200, body = Recorded), (status = 422, body = crate::error::ErrorBody)),
    tag = "people"
)]
pub async fn change_role(
    State(state): State<AppState>,
    Path((ledger, user)): Path<(LedgerId, String)>,
    Client(client): Client,
    auth: Auth,
    Body(req): Body<RoleRequest>,
) -> ApiResult<Json<Recorded>> {
    change_user_role(&state, ledger, &user, &auth, &client, &req)
        .await
        .map(Json)
}

/// Changes a user's role.
pub async fn change_user_role(
    state: &AppState,
    ledger: LedgerId,
    user: &str,
    auth: &Auth,
    client: &str,
    req: &RoleRequest,
) -> ApiResult<Recorded> {
    require_author(auth, ledger, Kind::RoleChanged)?;
    let payload = RoleChanged {
        user: known_user(state, ledger, user).await?,
        role: parse("role", &req.role)?,
        reason: parse("reason", &req.reason)?,
    };
    act(state, ledger, auth, client, &req.password, &[], payload).await
}

async fn known_user(state: &AppState, ledger: LedgerId, user: &str) -> ApiResult<UserId> {
    let u: UserId = user
        .parse()
        .map_err(|_| ApiError::not_found(format!("no user {user:?} in this ledger")))?;
    state
        .store
        .user(ledger, &u)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no user {u} in this ledger")))?;
    Ok(u)
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct DeactivateRequest {
    pub password: String,
    pub reason: String,
}

/// Deactivates a user: they can no longer sign in or sign.
#[utoipa::path(
    post,
    path = "/api/v1/ledgers/{ledger}/users/{user}/deactivate",
    params(("ledger" = String, Path), ("user" = String, Path)),
    request_body = DeactivateRequest,
    responses((status = 200, body = Recorded), (status = 422, body = crate::error::ErrorBody)),
    tag = "people"
)]
pub async fn deactivate(
    State(state): State<AppState>,
    Path((ledger, user)): Path<(LedgerId, String)>,
    Client(client): Client,
    auth: Auth,
    Body(req): Body<DeactivateRequest>,
) -> ApiResult<Json<Recorded>> {
    deactivate_user(&state, ledger, &user, &auth, &client, &req)
        .await
        .map(Json)
}

/// Deactivates a user and ends their sessions.
pub async fn deactivate_user(
    state: &AppState,
    ledger: LedgerId,
    user: &str,
    auth: &Auth,
    client: &str,
    req: &DeactivateRequest,
) -> ApiResult<Recorded> {
    require_author(auth, ledger, Kind::UserDeactivated)?;
    let user = known_user(state, ledger, user).await?;
    let payload = UserDeactivated {
        user: user.clone(),
        reason: parse("reason", &req.reason)?,
    };
    let r = act(state, ledger, auth, client, &req.password, &[], payload).await?;
    state.store.delete_sessions_of(ledger, &user).await?;
    Ok(r)
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct ResetRequest {
    /// The admin's password: it signs the key rotation.
    pub password: String,
    /// The user's new password, to hand to them.
    pub new_password: String,
}

/// An admin's reset of a forgotten password: a new key for the user, sealed under the new
/// password, recorded as a key rotation the admin signs. The old key is never opened.
#[utoipa::path(
    post,
    path = "/api/v1/ledgers/{ledger}/users/{user}/reset",
    params(("ledger" = String, Path), ("user" = String, Path)),
    request_body = ResetRequest,
    responses((status = 200, body = Recorded), (status = 422, body = crate::error::ErrorBody)),
    tag = "people"
)]
pub async fn reset(
    State(state): State<AppState>,
    Path((ledger, user)): Path<(LedgerId, String)>,
    Client(client): Client,
    auth: Auth,
    Body(req): Body<ResetRequest>,
) -> ApiResult<Json<Recorded>> {
    reset_user(&state, ledger, &user, &auth, &client, &req)
        .await
        .map(Json)
}

/// Resets a user's password: a new key, signed for by the admin.
pub async fn reset_user(
    state: &AppState,
    ledger: LedgerId,
    user: &str,
    auth: &Auth,
    client: &str,
    req: &ResetRequest,
) -> ApiResult<Recorded> {
    auth.require(ledger, &[Role::Admin])?;
    let user = known_user(state, ledger, user).await?;
    passwords::check(user.as_str(), &req.new_password)?;
    let admin_key = open_key(state, ledger, &auth.user, &req.password, client).await?;
    let r = rotate(
        state,
        ledger,
        &user,
        (&auth.user, &admin_key),
        &req.new_password,
        "password reset by an admin",
    )
    .await?;
    state.store.delete_sessions_of(ledger, &user).await?;
    Ok(r)
}

/// A new key for `user`, sealed under `password`, recorded as signed by `author`.
async fn rotate(
    state: &AppState,
    ledger: LedgerId,
    user: &UserId,
    (author, author_key): (&UserId, &SigningKey),
    password: &str,
    reason: &str,
) -> ApiResult<Recorded> {
    let reason: Text = parse("reason", reason)?;
    let rotated = |new_key| KeyRotated {
        subject: Principal::User(user.clone()),
        new_key,
        reason,
    };
    let signer = (
        Principal::User(author.clone()),
        Meaning::Authored,
        author_key,
    );
    let a = with_new_key(state, ledger, user, password, rotated, signer).await?;
    recorded(state, ledger, a).await
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct PasswordRequest {
    /// Your current password.
    pub password: String,
    pub new_password: String,
}

/// Changes your password: your key is opened with the old one and sealed under the new one.
/// Nothing enters the ledger; your key stays the same.
#[utoipa::path(
    post,
    path = "/api/v1/ledgers/{ledger}/me/password",
    params(("ledger" = String, Path)),
    request_body = PasswordRequest,
    responses((status = 204), (status = 401, body = crate::error::ErrorBody), (status = 422, body = crate::error::ErrorBody)),
    tag = "people"
)]
pub async fn change_password(
    State(state): State<AppState>,
    Path(ledger): Path<LedgerId>,
    Client(client): Client,
    auth: Auth,
    Body(req): Body<PasswordRequest>,
) -> ApiResult<StatusCode> {
    auth.require(ledger, READERS)?;
    passwords::check(auth.user.as_str(), &req.new_password)?;
    let key = open_key(&state, ledger, &auth.user, &req.password, &client).await?;
    let new = zeroize::Zeroizing::new(req.new_password.clone());
    let key_id = PublicKey::from(&key).key_id();
    let sealed = state
        .derive(move || keystore::seal(&key, &new, keystore::Cost::default()))
        .await?
        .map_err(|e| ApiError::internal(e.to_string()))?;
    state
        .store
        .save_sealed_key(ledger, &auth.user, key_id, sealed)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct RotateRequest {
    /// Your password: the old key signs, the new one is sealed under it.
    pub password: String,
    pub reason: String,
}

/// Replaces your signing key (say, after a suspected compromise).
#[utoipa::path(
    post,
    path = "/api/v1/ledgers/{ledger}/me/key",
    params(("ledger" = String, Path)),
    request_body = RotateRequest,
    responses((status = 200, body = Recorded), (status = 401, body = crate::error::ErrorBody)),
    tag = "people"
)]
pub async fn rotate_key(
    State(state): State<AppState>,
    Path(ledger): Path<LedgerId>,
    Client(client): Client,
    auth: Auth,
    Body(req): Body<RotateRequest>,
) -> ApiResult<Json<Recorded>> {
    require_author(&auth, ledger, Kind::KeyRotated)?;
    parse::<Text>("reason", &req.reason)?;
    let old = open_key(&state, ledger, &auth.user, &req.password, &client).await?;
    Ok(Json(
        rotate(
            &state,
            ledger,
            &auth.user,
            (&auth.user, &old),
            &req.password,
            &req.reason,
        )
        .await?,
    ))
}

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/ledgers/{ledger}/users", get(list).post(enroll))
        .route("/api/v1/ledgers/{ledger}/bootstrap", post(bootstrap))
        .route(
            "/api/v1/ledgers/{ledger}/users/{user}/role",
            post(change_role),
        )
        .route(
            "/api/v1/ledgers/{ledger}/users/{user}/deactivate",
            post(deactivate),
        )
        .route("/api/v1/ledgers/{ledger}/users/{user}/reset", post(reset))
        .route(
            "/api/v1/ledgers/{ledger}/me/password",
            post(change_password),
        )
        .route("/api/v1/ledgers/{ledger}/me/key", post(rotate_key))
}
