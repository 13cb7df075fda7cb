//! The web interface: server-rendered pages (askama templates in `crates/api/templates`)
//! on the same router as the JSON API, calling the same clinic commands (`custody-clinic`),
//! never the JSON routes; one small vendored script, no external requests. Every page
//! carries the security headers; every form carries the session's CSRF token, checked on
//! every POST, and a request id, so a form sent twice records once.
//!
//! The kit (`kit`, `forms`, `words`, `choices`) serves the page families (`pages`, `stock`,
//! `pharmacy`, `movements`, `admin`, `audit`, `patients`, `session`), which never import each other.

mod admin;
mod analytics;
mod audit;
mod choices;
mod forms;
mod inventory;
mod kit;
mod movements;
mod pages;
mod patients;
mod pharmacy;
mod recorded;
mod rems;
mod session;
mod stock;
mod words;

use axum::Router;
use axum::extract::Request;
use axum::http::{HeaderValue, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use crate::state::AppState;

const CSS: &str = include_str!("../../static/app.css");
const JS: &str = include_str!("../../static/app.js");

/// Content-Security-Policy without inline scripts or styles; nothing from elsewhere; no
/// framing.
pub const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

const DOCS_CSP: &str = "default-src 'none'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; font-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'";

/// Adds the security headers to every response.
pub async fn security_headers(req: Request, next: Next) -> Response {
    // The vendored API reference page (Scalar) styles itself inline and evaluates its
    // bundle's own code; it alone gets that.
    let docs = req.uri().path().starts_with("/api/docs");
    let mut resp = next.run(req).await;
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(if docs { DOCS_CSP } else { CSP }),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.entry(header::CACHE_CONTROL)
        .or_insert(HeaderValue::from_static("no-store"));
    resp
}

async fn css() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        CSS,
    )
        .into_response()
}

async fn js() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        JS,
    )
        .into_response()
}

/// A plain mark, so browsers asking for an icon get one.
async fn icon() -> Response {
    (
        [
            (header::CONTENT_TYPE, "image/svg+xml"),
            (header::CACHE_CONTROL, "public, max-age=86400"),
        ],
        "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 16 16\"><rect width=\"16\" height=\"16\" rx=\"3\" fill=\"#0b5cad\"/><path d=\"M4 8h8M8 4v8\" stroke=\"#fff\" stroke-width=\"2\"/></svg>",
    )
        .into_response()
}

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/favicon.ico", get(icon))
        .route("/static/icon.svg", get(icon))
        .route("/static/app.css", get(css))
        .route("/static/app.js", get(js))
        .merge(pages::router())
        .merge(stock::router())
        .merge(admin::router())
        .merge(pharmacy::router())
        .merge(inventory::router())
        .merge(movements::router())
        .merge(audit::router())
        .merge(analytics::router())
        .merge(patients::router())
        .merge(rems::router())
        .merge(recorded::router())
        .merge(session::router())
}
