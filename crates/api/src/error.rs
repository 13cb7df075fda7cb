//! The one error body of every endpoint, and the one place domain errors become HTTP.
//!
//! `{ "code": "insufficient_stock", "message": "…", "details": {…} }`: 400 malformed,
//! 401 not signed in or wrong password, 403 role, 404 unknown, 409 conflict, 422 invalid value,
//! 429 throttled. A user mistake is never a 500.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use custody_store::StoreError;
use serde::Serialize;
use utoipa::ToSchema;

/// The body of every refused request.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    /// Stable, machine-readable cause.
    pub code: String,
    /// A sentence a person understands.
    pub message: String,
    #[schema(value_type = Object)]
    pub details: serde_json::Value,
}

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: String,
    pub message: String,
    pub details: serde_json::Value,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &str, message: impl Into<String>) -> Self {
        Self {
            status,
            code: code.to_string(),
            message: message.into(),
            details: serde_json::json!({}),
        }
    }
    pub fn unauthorized(code: &str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, code, message)
    }
    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "forbidden", message)
    }
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", message)
    }
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "malformed", message)
    }
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_value", message)
    }
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", message)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if self.status.is_server_error() {
            tracing::error!(code = %self.code, message = %self.message, "request failed");
        }
        let body = ErrorBody {
            code: self.code,
            message: self.message,
            details: self.details,
        };
        (self.status, Json(body)).into_response()
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Rejected(v) => {
                let status = if v.is_conflict() {
                    StatusCode::CONFLICT
                } else {
                    StatusCode::UNPROCESSABLE_ENTITY
                };
                ApiError::new(status, v.code(), v.to_string())
            }
            StoreError::UnknownLedger(l) => ApiError::not_found(format!("no ledger {l}")),
            StoreError::DuplicateEntry(id) => ApiError::new(
                StatusCode::CONFLICT,
                "duplicate_entry",
                format!("entry {id} was already recorded"),
            ),
            StoreError::Proof(m) => ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "proof", m),
            other => ApiError::internal(other.to_string()),
        }
    }
}

pub type ApiResult<T> = Result<T, ApiError>;
