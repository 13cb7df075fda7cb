//! What every page shares: the signed-in person (or a redirect to sign in), the person as
//! every page shows them, role gates asked of the clinic's policy, page errors (`PageError`,
//! an `IntoResponse`: handlers return `Page` and use `?`, with `or_refuse` for the person's
//! navigation), rendering, and the form token check.

use askama::Template;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Redirect, Response};
use custody_clinic::Permission;

use crate::auth::{Auth, Pending};
use crate::error::ApiError;
use crate::state::AppState;

/// The signed-in user of a page; anyone else is sent to sign in, and someone whose password
/// an admin set is sent to change it first.
pub struct SignedIn(pub Auth);

impl axum::extract::FromRequestParts<AppState> for SignedIn {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &AppState,
    ) -> Result<Self, Response> {
        <Auth as axum::extract::FromRequestParts<AppState>>::from_request_parts(parts, state)
            .await
            .map(SignedIn)
            .map_err(|e| {
                // A session that timed out says so on the sign-in page.
                let to = match e.code.as_str() {
                    "session_expired" => "/ui/login?ended=1",
                    "password_change_required" => PASSWORD_PAGE,
                    _ => "/ui/login",
                };
                Redirect::to(to).into_response()
            })
    }
}

/// Where a person changes their own password (and is sent while an admin's reset demands it).
pub const PASSWORD_PAGE: &str = "/ui/password";

/// The signed-in user of the pages that stay open while a password change is pending
/// (changing it, signing out); anyone else is sent to sign in.
pub struct SignedInPending(pub Auth);

impl axum::extract::FromRequestParts<AppState> for SignedInPending {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &AppState,
    ) -> Result<Self, Response> {
        <Pending as axum::extract::FromRequestParts<AppState>>::from_request_parts(parts, state)
            .await
            .map(|Pending(a)| SignedInPending(a))
            .map_err(|e| {
                let to = if e.code == "session_expired" {
                    "/ui/login?ended=1"
                } else {
                    "/ui/login"
                };
                Redirect::to(to).into_response()
            })
    }
}

/// The signed-in person, as every page shows them.
pub struct Me {
    pub printed_name: String,
    pub role: String,
    pub csrf: String,
    /// Pharmacists and nurses: they see the stock pages.
    pub clinical: bool,
    pub pharmacist: bool,
    pub admin: bool,
    /// Admins, pharmacists and auditors: verification and reports.
    pub verifier: bool,
    /// Admins, pharmacists and auditors: diversion analytics.
    pub analyst: bool,
    pub idle_seconds: u64,
    /// An admin set their password: the navigation offers only the password page.
    pub must_change_password: bool,
}

impl From<&Auth> for Me {
    fn from(a: &Auth) -> Self {
        Me {
            printed_name: a.printed_name.clone(),
            role: a.role.to_string(),
            csrf: a.csrf(),
            clinical: a.may(Permission::Clinical),
            pharmacist: a.may(Permission::Pharmacy),
            admin: a.may(Permission::ManageUsers),
            verifier: a.may(Permission::Verify),
            analyst: a.may(Permission::Analytics),
            idle_seconds: a.idle_seconds,
            must_change_password: a.password_change_required(),
        }
    }
}

/// Refuses, with a page saying why, unless the signed-in person may do `what`.
pub fn allow(auth: &Auth, what: Permission) -> Result<(), PageError> {
    auth.require(auth.ledger, what).or_refuse(auth)
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage {
    me: Option<Me>,
    message: String,
}

/// A page's refusal: the error page with the message, and the person's navigation when they
/// are signed in. Handlers return `Result<Response, PageError>` and use `?`.
pub struct PageError(Box<Refusal>);

struct Refusal {
    me: Option<Me>,
    error: ApiError,
}

/// What a page handler returns.
pub type Page = Result<Response, PageError>;

impl PageError {
    /// A refusal for the signed-in person, with their navigation.
    pub fn of(auth: &Auth, e: impl Into<ApiError>) -> Self {
        PageError(Box::new(Refusal {
            me: Some(auth.into()),
            error: e.into(),
        }))
    }
}

/// A refusal for someone not signed in (or before the session is known): no navigation.
impl From<ApiError> for PageError {
    fn from(error: ApiError) -> Self {
        PageError(Box::new(Refusal { me: None, error }))
    }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let Refusal { me, error } = *self.0;
        render(
            &ErrorPage {
                me,
                message: error.message,
            },
            error.status,
        )
    }
}

/// `?` for a signed-in person's page: an error becomes the error page with their navigation.
pub trait OrRefuse<T> {
    fn or_refuse(self, auth: &Auth) -> Result<T, PageError>;
}

impl<T, E: Into<ApiError>> OrRefuse<T> for Result<T, E> {
    fn or_refuse(self, auth: &Auth) -> Result<T, PageError> {
        self.map_err(|e| PageError::of(auth, e))
    }
}

/// A page error for a signed-in person: the message, with their navigation.
pub(crate) fn refuse(auth: &Auth, e: ApiError) -> Response {
    PageError::of(auth, e).into_response()
}

pub(crate) fn render(t: &impl Template, status: StatusCode) -> Response {
    match t.render() {
        Ok(html) => (status, Html(html)).into_response(),
        Err(e) => ApiError::internal(format!("page: {e}")).into_response(),
    }
}

/// Refuses (with a page saying why) a form whose CSRF token is not this session's.
pub fn check_csrf(auth: &Auth, token: &str) -> Result<(), PageError> {
    if auth.csrf_matches(token) {
        Ok(())
    } else {
        Err(ApiError::forbidden(
            "this form is stale or came from another site: reload the page and try again",
        )
        .into())
    }
}
