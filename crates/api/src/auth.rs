//! Sessions over HTTP: the session extractor, sign-in and sign-out, the session cookie and
//! the form token (CSRF). Sessions themselves, passwords and the throttle are the clinic's
//! (`custody_clinic::session`); browsers get the token as an HttpOnly, SameSite=Strict
//! cookie, API clients as `Authorization: Bearer`.

use crate::extract::{Client, Json as ApiJson, Path};
use axum::Json;
use axum::extract::{FromRequestParts, State};
use axum::http::{HeaderMap, StatusCode, header, request::Parts};
use axum::response::{IntoResponse, Response};
use custody_clinic::{ClinicError, Permission, Session};
use custody_ledger::LedgerId;
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use utoipa::ToSchema;

use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

pub const COOKIE: &str = "custody_session";

/// The signed-in person of a request.
#[derive(Debug, Clone)]
pub struct Auth(pub Session);

impl std::ops::Deref for Auth {
    type Target = Session;
    fn deref(&self) -> &Session {
        &self.0
    }
}

impl Auth {
    /// The form token of this session (CSRF): an HMAC of the session, so a page from another
    /// site cannot know it. Every web form carries it; every web POST checks it.
    pub fn csrf(&self) -> String {
        use hmac::Mac;
        hex::encode(self.csrf_mac().finalize().into_bytes())
    }

    /// Whether `token` is this session's form token (compared in constant time).
    pub fn csrf_matches(&self, token: &str) -> bool {
        use hmac::Mac;
        hex::decode(token).is_ok_and(|t| self.csrf_mac().verify_slice(&t).is_ok())
    }

    fn csrf_mac(&self) -> hmac::Hmac<Sha256> {
        use hmac::{KeyInit, Mac};
        let mut m = <hmac::Hmac<Sha256> as KeyInit>::new_from_slice(self.token_hash())
            .expect("HMAC takes any key length");
        m.update(b"custody/v1/csrf");
        m
    }

    /// Refuses unless the session is for `ledger` and the person may do `what`.
    pub fn require(&self, ledger: LedgerId, what: Permission) -> ApiResult<()> {
        Ok(self.0.require(ledger, what)?)
    }
}

fn bearer(headers: &HeaderMap) -> Option<String> {
    if let Some(v) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        && let Some(t) = v.strip_prefix("Bearer ")
    {
        return Some(t.trim().to_string());
    }
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .find_map(|c| {
            c.trim()
                .strip_prefix(&format!("{COOKIE}="))
                .map(String::from)
        })
}

/// The signed-in person even while an admin's reset demands a password change: only the
/// requests that change the password or sign out take this; every other takes [`Auth`],
/// which refuses such a session (403 `password_change_required`).
#[derive(Debug, Clone)]
pub struct Pending(pub Auth);

impl FromRequestParts<AppState> for Pending {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let token = bearer(&parts.headers).ok_or_else(|| {
            ApiError::unauthorized("not_signed_in", "sign in first: no session was sent")
        })?;
        Ok(Pending(Auth(state.clinic.session(&token).await?)))
    }
}

impl FromRequestParts<AppState> for Auth {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let Pending(auth) = Pending::from_request_parts(parts, state).await?;
        if auth.password_change_required() {
            return Err(ClinicError::PasswordChangeRequired.into());
        }
        Ok(auth)
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    pub username: String,
    pub password: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct LoginResponse {
    /// Send as `Authorization: Bearer <token>` (browsers get it as a cookie too).
    pub token: String,
    pub user: String,
    pub printed_name: String,
    pub role: String,
    /// An admin set this password: change it (`POST /api/v1/ledgers/{ledger}/me/password`)
    /// before anything else; until then every other request but signing out answers 403
    /// `password_change_required`.
    pub password_change_required: bool,
    /// When the session ends at the latest (RFC 3339); it ends earlier after 15 idle minutes.
    pub expires_at: String,
}

/// Sign in.
#[utoipa::path(
    post,
    path = "/api/v1/ledgers/{ledger}/session",
    params(("ledger" = String, Path, description = "ledger id")),
    request_body = LoginRequest,
    responses(
        (status = 200, body = LoginResponse),
        crate::responses::SignInRefusals,
        (status = 401, body = crate::error::ErrorBody, description = "wrong user name or password (details: account, attempts_left)"),
        (status = 429, body = crate::error::ErrorBody, description = "too many wrong passwords for this account (details: retry_at)"),
    ),
    tag = "session"
)]
pub async fn login(
    State(state): State<AppState>,
    Path(ledger): Path<LedgerId>,
    Client(client): Client,
    ApiJson(req): ApiJson<LoginRequest>,
) -> ApiResult<Response> {
    let body = sign_in(&state, ledger, &req.username, &req.password, &client).await?;
    let cookie = session_cookie(&state, &body.token);
    Ok(([(header::SET_COOKIE, cookie)], Json(body)).into_response())
}

/// The one sign-in of the API and the web pages.
pub async fn sign_in(
    state: &AppState,
    ledger: LedgerId,
    username: &str,
    password: &str,
    client: &str,
) -> Result<LoginResponse, ClinicError> {
    let s = state
        .clinic
        .sign_in(ledger, username, password, client)
        .await?;
    let password_change_required = s.session.password_change_required();
    Ok(LoginResponse {
        password_change_required,
        token: s.token,
        user: s.session.user.to_string(),
        printed_name: s.session.printed_name,
        role: s.session.role.to_string(),
        expires_at: s.expires_at.to_string(),
    })
}

/// The session cookie: HttpOnly, SameSite=Strict, Secure behind TLS.
pub fn session_cookie(state: &AppState, token: &str) -> String {
    let mut cookie = format!(
        "{COOKIE}={token}; Path=/; HttpOnly; SameSite=Strict; Max-Age={}",
        state.settings.absolute_timeout.as_secs()
    );
    if state.config.secure_cookies {
        cookie.push_str("; Secure");
    }
    cookie
}

/// The cookie that ends the browser's session.
pub fn cleared_cookie() -> String {
    format!("{COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0")
}

/// Sign out.
#[utoipa::path(
    delete,
    path = "/api/v1/ledgers/{ledger}/session",
    params(("ledger" = String, Path, description = "ledger id")),
    responses((status = 204), crate::responses::Unauthorized),
    tag = "session"
)]
pub async fn logout(State(state): State<AppState>, Pending(auth): Pending) -> ApiResult<Response> {
    state.clinic.sign_out(&auth).await?;
    Ok((
        StatusCode::NO_CONTENT,
        [(header::SET_COOKIE, cleared_cookie())],
    )
        .into_response())
}
