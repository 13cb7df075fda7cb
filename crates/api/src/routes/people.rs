//! People: the first admin (bootstrap token), enrolling users, roles, deactivation, password
//! changes, key rotation and an admin's reset. A user's private key exists only sealed under
//! their password: a password change re-seals it; a reset makes a new key (a key-rotation
//! entry signed by the admin) and never reads the old one.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use axum::{Json, Router};
use custody_clinic::Permission;
use custody_clinic::acts::{Bootstrap, Enroll};
use custody_ledger::*;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::auth::{Auth, Pending};
use crate::ceremony::{ActAnswer, RequestOrigin, ceremony, parse, respond};
use crate::error::ApiResult;
use crate::extract::{Json as Body, Path};
use crate::state::AppState;

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
    responses((status = 200, body = Vec<UserView>), crate::responses::ReadRefusals),
    tag = "people"
)]
pub async fn list(
    State(state): State<AppState>,
    Path(ledger): Path<LedgerId>,
    auth: Auth,
) -> ApiResult<Json<Vec<UserView>>> {
    auth.require(ledger, Permission::Read)?;
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
#[serde(deny_unknown_fields)]
pub struct EnrollRequest {
    /// Check everything the ledger's rules can check, sign nothing, record nothing.
    #[serde(default)]
    pub dry_run: bool,
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
        (status = 200, body = ActAnswer, description = "recorded (with dry_run: what would be recorded)"),
        crate::responses::ActRefusals,
        (status = 409, body = crate::error::ErrorBody, description = "user exists"),
        (status = 422, body = crate::error::ErrorBody, description = "weak password or invalid field"),
    ),
    tag = "people"
)]
pub async fn enroll(
    State(state): State<AppState>,
    Path(ledger): Path<LedgerId>,
    RequestOrigin(origin): RequestOrigin,
    auth: Auth,
    Body(req): Body<EnrollRequest>,
) -> ApiResult<Response> {
    auth.require(ledger, Permission::Author(Kind::UserEnrolled))?;
    let cmd = Enroll {
        user: parse("username", &req.username)?,
        printed_name: parse("printed_name", &req.printed_name)?,
        role: parse("role", &req.role)?,
    };
    let c = ceremony(req.dry_run, &req.password, &[]);
    let o = state
        .clinic
        .enroll(&auth, cmd, &req.initial_password, c, &origin)
        .await?;
    respond(&state, o)
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BootstrapRequest {
    /// The one-time token `custody serve` printed when it initialized the ledger.
    pub token: String,
    pub username: String,
    pub printed_name: String,
    /// The first admin's password (12+ characters, not the user name, not common).
    pub password: String,
    /// Check the token, the password rules and the ledger's, enroll no one.
    #[serde(default)]
    pub dry_run: bool,
}

/// Enrolls the first admin with the one-time bootstrap token; the registrant key signs.
#[utoipa::path(
    post,
    path = "/api/v1/ledgers/{ledger}/bootstrap",
    params(("ledger" = String, Path), ("Idempotency-Key" = Option<String>, Header, description = "the same key again records nothing and answers as the first time")),
    request_body = BootstrapRequest,
    responses(
        (status = 200, body = ActAnswer, description = "recorded (with dry_run: what would be recorded)"),
        crate::responses::SignInRefusals,
        (status = 401, body = crate::error::ErrorBody, description = "wrong or used token"),
        (status = 409, body = crate::error::ErrorBody, description = "someone is enrolled already, or the user exists"),
        crate::responses::NoRegistrantKey,
        (status = 422, body = crate::error::ErrorBody, description = "weak password or invalid field"),
    ),
    tag = "people"
)]
pub async fn bootstrap(
    State(state): State<AppState>,
    Path(ledger): Path<LedgerId>,
    RequestOrigin(origin): RequestOrigin,
    Body(req): Body<BootstrapRequest>,
) -> ApiResult<Response> {
    let cmd = Bootstrap {
        token: req.token.clone(),
        user: parse("username", &req.username)?,
        printed_name: parse("printed_name", &req.printed_name)?,
    };
    let o = state
        .clinic
        .bootstrap(ledger, cmd, &req.password, req.dry_run, &origin)
        .await?;
    respond(&state, o)
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RoleRequest {
    /// Check everything the ledger's rules can check, sign nothing, record nothing.
    #[serde(default)]
    pub dry_run: bool,
    pub password: String,
    pub role: String,
    pub reason: String,
}

/// Changes a user's role.
#[utoipa::path(
    post,
    path = "/api/v1/ledgers/{ledger}/users/{user}/role",
    params(("ledger" = String, Path), ("user" = String, Path), ("Idempotency-Key" = Option<String>, Header, description = "the same key again records nothing and answers as the first time")),
    request_body = RoleRequest,
    responses((status = 200, body = ActAnswer, description = "recorded (with dry_run: what would be recorded)"), crate::responses::ActRefusals),
    tag = "people"
)]
pub async fn change_role(
    State(state): State<AppState>,
    Path((ledger, user)): Path<(LedgerId, String)>,
    RequestOrigin(origin): RequestOrigin,
    auth: Auth,
    Body(req): Body<RoleRequest>,
) -> ApiResult<Response> {
    auth.require(ledger, Permission::Author(Kind::RoleChanged))?;
    let payload = RoleChanged {
        user: state.clinic.known_user(&auth, &user).await?,
        role: parse("role", &req.role)?,
        reason: parse("reason", &req.reason)?,
    };
    let c = ceremony(req.dry_run, &req.password, &[]);
    let o = state.clinic.record_one(&auth, payload, c, &origin).await?;
    respond(&state, o)
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DeactivateRequest {
    /// Check everything the ledger's rules can check, sign nothing, record nothing.
    #[serde(default)]
    pub dry_run: bool,
    pub password: String,
    pub reason: String,
}

/// Deactivates a user: they can no longer sign in or sign.
#[utoipa::path(
    post,
    path = "/api/v1/ledgers/{ledger}/users/{user}/deactivate",
    params(("ledger" = String, Path), ("user" = String, Path), ("Idempotency-Key" = Option<String>, Header, description = "the same key again records nothing and answers as the first time")),
    request_body = DeactivateRequest,
    responses((status = 200, body = ActAnswer, description = "recorded (with dry_run: what would be recorded)"), crate::responses::ActRefusals),
    tag = "people"
)]
pub async fn deactivate(
    State(state): State<AppState>,
    Path((ledger, user)): Path<(LedgerId, String)>,
    RequestOrigin(origin): RequestOrigin,
    auth: Auth,
    Body(req): Body<DeactivateRequest>,
) -> ApiResult<Response> {
    auth.require(ledger, Permission::Author(Kind::UserDeactivated))?;
    let payload = UserDeactivated {
        user: state.clinic.known_user(&auth, &user).await?,
        reason: parse("reason", &req.reason)?,
    };
    let c = ceremony(req.dry_run, &req.password, &[]);
    let o = state.clinic.deactivate(&auth, payload, c, &origin).await?;
    respond(&state, o)
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResetRequest {
    /// Check everything the ledger's rules can check, sign nothing, record nothing.
    #[serde(default)]
    pub dry_run: bool,
    /// The admin's password: it signs the key rotation (ignored in a dry run).
    #[serde(default)]
    pub password: String,
    /// The user's new password, to hand to them.
    pub new_password: String,
}

/// An admin's reset of a forgotten password: a new key for the user, sealed under the new
/// password, recorded as a key rotation the admin signs. The old key is never opened.
#[utoipa::path(
    post,
    path = "/api/v1/ledgers/{ledger}/users/{user}/reset",
    params(("ledger" = String, Path), ("user" = String, Path), ("Idempotency-Key" = Option<String>, Header, description = "the same key again records nothing and answers as the first time")),
    request_body = ResetRequest,
    responses((status = 200, body = ActAnswer, description = "recorded (with dry_run: what would be recorded)"), crate::responses::ActRefusals),
    tag = "people"
)]
pub async fn reset(
    State(state): State<AppState>,
    Path((ledger, user)): Path<(LedgerId, String)>,
    RequestOrigin(origin): RequestOrigin,
    auth: Auth,
    Body(req): Body<ResetRequest>,
) -> ApiResult<Response> {
    auth.require(ledger, Permission::ManageUsers)?;
    let user = state.clinic.known_user(&auth, &user).await?;
    let c = ceremony(req.dry_run, &req.password, &[]);
    let o = state
        .clinic
        .reset(&auth, &user, &req.new_password, c, &origin)
        .await?;
    respond(&state, o)
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasswordRequest {
    /// Your current password.
    pub password: String,
    pub new_password: String,
}

/// Changes your password: your key is opened with the old one and sealed under the new one.
/// Nothing enters the ledger; your key stays the same. After an admin's reset this is the one
/// request (with signing out) a session may make, and it lifts `password_change_required`.
#[utoipa::path(
    post,
    path = "/api/v1/ledgers/{ledger}/me/password",
    params(("ledger" = String, Path)),
    request_body = PasswordRequest,
    responses((status = 204), crate::responses::ActRefusals),
    tag = "people"
)]
pub async fn change_password(
    State(state): State<AppState>,
    Path(ledger): Path<LedgerId>,
    RequestOrigin(origin): RequestOrigin,
    Pending(auth): Pending,
    Body(req): Body<PasswordRequest>,
) -> ApiResult<StatusCode> {
    auth.require_pending_change(ledger, Permission::Read)?;
    state
        .clinic
        .change_password(&auth, &req.password, &req.new_password, &origin)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RotateRequest {
    /// Check everything the ledger's rules can check, sign nothing, record nothing.
    #[serde(default)]
    pub dry_run: bool,
    /// Your password: the old key signs, the new one is sealed under it (ignored in a dry
    /// run).
    #[serde(default)]
    pub password: String,
    pub reason: String,
}

/// Replaces your signing key (say, after a suspected compromise).
#[utoipa::path(
    post,
    path = "/api/v1/ledgers/{ledger}/me/key",
    params(("ledger" = String, Path), ("Idempotency-Key" = Option<String>, Header, description = "the same key again records nothing and answers as the first time")),
    request_body = RotateRequest,
    responses((status = 200, body = ActAnswer, description = "recorded (with dry_run: what would be recorded)"), crate::responses::ActRefusals),
    tag = "people"
)]
pub async fn rotate_key(
    State(state): State<AppState>,
    Path(ledger): Path<LedgerId>,
    RequestOrigin(origin): RequestOrigin,
    auth: Auth,
    Body(req): Body<RotateRequest>,
) -> ApiResult<Response> {
    auth.require(ledger, Permission::Author(Kind::KeyRotated))?;
    let reason: Text = parse("reason", &req.reason)?;
    let c = ceremony(req.dry_run, &req.password, &[]);
    let o = state
        .clinic
        .rotate_own_key(&auth, &reason, c, &origin)
        .await?;
    respond(&state, o)
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
