//! Sessions and signing ceremonies.
//!
//! Sign-in checks the password by opening the user's sealed private key (Argon2id +
//! XChaCha20-Poly1305): there is no separate password hash to drift from the key. A session is
//! an opaque random token, handed to the client once and stored only as its SHA-256, with an
//! idle and an absolute timeout; browsers get it as an HttpOnly, SameSite=Strict cookie, API
//! clients as `Authorization: Bearer`. Failed sign-ins are throttled per account and per
//! client address. Every signature needs the signer's password in that request.

use crate::extract::{Client, Json as ApiJson, Path};
use axum::Json;
use axum::extract::{FromRequestParts, State};
use axum::http::{HeaderMap, StatusCode, header, request::Parts};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64URL;
use custody_ledger::{LedgerId, Role, UserId};
use custody_store::keystore::{self, KeyError};
use ed25519_dalek::SigningKey;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use utoipa::ToSchema;

use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

pub const COOKIE: &str = "custody_session";

fn now_micros() -> i64 {
    (time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1000) as i64
}

fn token_hash(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

/// The signed-in user of a request.
#[derive(Debug, Clone)]
pub struct Auth {
    pub ledger: LedgerId,
    pub user: UserId,
    pub printed_name: String,
    pub role: Role,
    /// How long the session lasts without a request (pages warn before it ends).
    pub idle_seconds: u64,
    token_hash: [u8; 32],
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
        let mut m = <hmac::Hmac<Sha256> as KeyInit>::new_from_slice(&self.token_hash)
            .expect("HMAC takes any key length");
        m.update(b"custody/v1/csrf");
        m
    }

    /// Ends this session.
    pub async fn sign_out(&self, state: &AppState) -> ApiResult<()> {
        state.store.delete_session(self.token_hash).await?;
        Ok(())
    }

    /// Refuses unless the session is for `ledger` and the user holds one of `roles`.
    pub fn require(&self, ledger: LedgerId, roles: &[Role]) -> ApiResult<()> {
        if self.ledger != ledger {
            return Err(ApiError::forbidden(
                "your session is for another ledger: sign in to this one",
            ));
        }
        if !roles.contains(&self.role) {
            let article = if self.role == Role::Admin || self.role == Role::Auditor {
                "an"
            } else {
                "a"
            };
            return Err(ApiError::forbidden(format!(
                "{article} {} may not do this",
                self.role
            )));
        }
        Ok(())
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

impl FromRequestParts<AppState> for Auth {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let token = bearer(&parts.headers).ok_or_else(|| {
            ApiError::unauthorized("not_signed_in", "sign in first: no session was sent")
        })?;
        let hash = token_hash(&token);
        let idle = state.config.idle_timeout.as_micros() as i64;
        let session = state
            .store
            .touch_session(hash, now_micros(), idle)
            .await?
            .ok_or_else(|| {
                ApiError::unauthorized(
                    "session_expired",
                    "your session has ended (signed out or timed out): sign in again",
                )
            })?;
        let user = state
            .store
            .user(session.ledger, &session.user)
            .await?
            .filter(|u| u.active)
            .ok_or_else(|| {
                ApiError::unauthorized("user_inactive", "this account is no longer active")
            })?;
        Ok(Auth {
            ledger: session.ledger,
            user: session.user,
            printed_name: user.printed_name,
            role: user.role,
            idle_seconds: state.config.idle_timeout.as_secs(),
            token_hash: hash,
        })
    }
}

#[derive(Debug, Deserialize, ToSchema)]
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
    /// When the session ends at the latest (RFC 3339); it ends earlier after 15 idle minutes.
    pub expires_at: String,
}

fn throttled() -> ApiError {
    ApiError::new(
        StatusCode::TOO_MANY_REQUESTS,
        "too_many_attempts",
        "too many failed sign-ins: wait 15 minutes and try again",
    )
}

/// Opens `user`'s private key with `password` — the signing ceremony and the sign-in check.
/// Wrong passwords count towards the throttle of the account and of `client`.
pub async fn open_key(
    state: &AppState,
    ledger: LedgerId,
    user: &UserId,
    password: &str,
    client: &str,
) -> ApiResult<SigningKey> {
    let account = format!("account:{ledger}:{user}");
    let address = format!("address:{client}");
    let (max, window) = (state.config.max_failed_logins, state.config.throttle_window);
    if state.throttle.blocked(&account, max, window)
        || state.throttle.blocked(&address, max, window)
    {
        return Err(throttled());
    }
    let wrong = || ApiError::unauthorized("wrong_password", "the user name or password is wrong");
    let Some((key_id, sealed)) = state.store.current_sealed_key(ledger, user).await? else {
        state.throttle.fail(&address, window);
        return Err(wrong());
    };
    let password = zeroize::Zeroizing::new(password.to_string());
    let opened = state
        .derive(move || keystore::unseal(&sealed, &password, &key_id))
        .await?;
    match opened {
        Ok(k) => {
            state.throttle.clear(&account);
            Ok(k)
        }
        Err(KeyError::WrongPassword) => {
            state.throttle.fail(&account, window);
            state.throttle.fail(&address, window);
            Err(wrong())
        }
        Err(e) => Err(ApiError::internal(e.to_string())),
    }
}

fn parse_user(s: &str) -> ApiResult<UserId> {
    s.parse()
        .map_err(|_| ApiError::unauthorized("wrong_password", "the user name or password is wrong"))
}

/// Sign in.
#[utoipa::path(
    post,
    path = "/api/v1/ledgers/{ledger}/session",
    params(("ledger" = String, Path, description = "ledger id")),
    request_body = LoginRequest,
    responses(
        (status = 200, body = LoginResponse),
        (status = 401, body = crate::error::ErrorBody, description = "wrong user name or password"),
        (status = 429, body = crate::error::ErrorBody, description = "too many failed sign-ins"),
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

/// Checks the password (by opening the user's key) and opens a session: the one sign-in of
/// the API and the web pages.
pub async fn sign_in(
    state: &AppState,
    ledger: LedgerId,
    username: &str,
    password: &str,
    client: &str,
) -> ApiResult<LoginResponse> {
    let user = parse_user(username)?;
    let info = state.store.user(ledger, &user).await?;
    open_key(state, ledger, &user, password, client).await?;
    let info = info.filter(|u| u.active).ok_or_else(|| {
        ApiError::unauthorized("user_inactive", "this account is no longer active")
    })?;
    let token =
        B64URL.encode(keystore::random::<32>().map_err(|e| ApiError::internal(e.to_string()))?);
    let now = now_micros();
    let expires = now + state.config.absolute_timeout.as_micros() as i64;
    state
        .store
        .create_session(token_hash(&token), ledger, &user, now, expires)
        .await?;
    let expires_at = custody_ledger::Timestamp::from_micros(expires)
        .map(|t| t.to_string())
        .unwrap_or_default();
    Ok(LoginResponse {
        token,
        user: user.to_string(),
        printed_name: info.printed_name,
        role: info.role.to_string(),
        expires_at,
    })
}

/// The session cookie: HttpOnly, SameSite=Strict, Secure behind TLS.
pub fn session_cookie(state: &AppState, token: &str) -> String {
    let mut cookie = format!(
        "{COOKIE}={token}; Path=/; HttpOnly; SameSite=Strict; Max-Age={}",
        state.config.absolute_timeout.as_secs()
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
    responses((status = 204), (status = 401, body = crate::error::ErrorBody)),
    tag = "session"
)]
pub async fn logout(State(state): State<AppState>, auth: Auth) -> ApiResult<Response> {
    auth.sign_out(&state).await?;
    Ok((
        StatusCode::NO_CONTENT,
        [(header::SET_COOKIE, cleared_cookie())],
    )
        .into_response())
}
