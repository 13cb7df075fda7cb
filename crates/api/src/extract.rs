//! Extractors whose refusals use the one JSON error body, instead of axum's plain text.

use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

use crate::error::ApiError;

/// A JSON body; malformed JSON is 400 `malformed`, wrong fields or types 422 `invalid_value`.
pub struct Json<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for Json<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        // JSON is `application/json` (with a charset, or none), nothing else that ends in
        // `+json`: a JSON Patch is not a request body of these.
        let json = req
            .headers()
            .get(axum::http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .is_some_and(|m| m.trim().eq_ignore_ascii_case("application/json"));
        if !json {
            return Err(ApiError::bad_request(
                "send the body as JSON, with Content-Type: application/json",
            ));
        }
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(v)) => Ok(Json(v)),
            Err(JsonRejection::JsonDataError(e)) => {
                let text = e.body_text();
                // A misspelt field is refused by name, not silently dropped.
                if let Some(name) = text
                    .split("unknown field `")
                    .nth(1)
                    .and_then(|r| r.split('`').next())
                {
                    return Err(ApiError {
                        status: axum::http::StatusCode::UNPROCESSABLE_ENTITY,
                        code: "unknown_field".into(),
                        message: format!(
                            "there is no field {name:?} in this request: check its spelling"
                        ),
                        details: serde_json::json!({ "field": name }),
                    });
                }
                Err(ApiError::invalid(format!(
                    "the request's fields are not as expected: {text}"
                )))
            }
            Err(JsonRejection::MissingJsonContentType(_)) => Err(ApiError::bad_request(
                "send the body as JSON, with Content-Type: application/json",
            )),
            Err(JsonRejection::BytesRejection(_)) => Err(ApiError::new(
                axum::http::StatusCode::PAYLOAD_TOO_LARGE,
                "too_large",
                "the request body is too large",
            )),
            Err(e) => Err(ApiError::bad_request(format!(
                "the request body is not valid JSON: {}",
                e.body_text()
            ))),
        }
    }
}

/// Path parameters; a malformed one (say, a ledger id that is not a UUID) is 404.
pub struct Path<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + Send> FromRequestParts<S> for Path<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        axum::extract::Path::<T>::from_request_parts(parts, state)
            .await
            .map(|axum::extract::Path(v)| Path(v))
            .map_err(|e: PathRejection| {
                ApiError::not_found(format!("no such resource: {}", e.body_text()))
            })
    }
}

/// Query parameters; malformed ones are 400.
pub struct Query<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for Query<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        axum::extract::Query::<T>::from_request_parts(parts, state)
            .await
            .map(|axum::extract::Query(v)| Query(v))
            .map_err(|e: QueryRejection| ApiError::bad_request(e.body_text()))
    }
}

/// The client's address, for the password throttle: the peer's, or — when the peer is a
/// trusted reverse proxy (`--trusted-proxy`) — the last address in `X-Forwarded-For` that is
/// not itself a trusted proxy.
pub struct Client(pub String);

impl FromRequestParts<crate::state::AppState> for Client {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &crate::state::AppState,
    ) -> Result<Self, Self::Rejection> {
        let Some(peer) = parts
            .extensions
            .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
            .map(|c| c.0.ip())
        else {
            return Ok(Client("unknown".to_string()));
        };
        let trusted =
            |ip: std::net::IpAddr| state.config.trusted_proxies.iter().any(|c| c.contains(ip));
        if !trusted(peer) {
            return Ok(Client(peer.to_string()));
        }
        // Right to left: past the trusted proxies, the first address is the client's. One
        // that cannot be read (a port appended, a name) ends the walk at the peer: what lies
        // left of it is whatever the client chose to send.
        let forwarded: Vec<&str> = parts
            .headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map(str::trim)
            .collect();
        let mut client = peer;
        for a in forwarded.iter().rev() {
            match a.parse::<std::net::IpAddr>() {
                Ok(ip) if trusted(ip) => continue,
                Ok(ip) => {
                    client = ip;
                    break;
                }
                Err(_) => break,
            }
        }
        Ok(Client(client.to_string()))
    }
}
