//! The one error body of every endpoint, and the one place domain errors become HTTP.
//!
//! `{ "code": "insufficient_stock", "message": "…", "details": {…} }`: 400 malformed,
//! 401 not signed in or wrong password, 403 role, 404 unknown, 409 conflict, 422 invalid value,
//! 429 throttled. A user mistake is never a 500.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use custody_clinic::ClinicError;
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
        ClinicError::from(e).into()
    }
}

/// The one mapping of the clinic's refusals to HTTP.
impl From<ClinicError> for ApiError {
    fn from(e: ClinicError) -> Self {
        let status = match &e {
            ClinicError::Refused(v) | ClinicError::Store(StoreError::Rejected(v)) => {
                if v.is_conflict() {
                    StatusCode::CONFLICT
                } else {
                    StatusCode::UNPROCESSABLE_ENTITY
                }
            }
            ClinicError::Forbidden(_) | ClinicError::PasswordChangeRequired => {
                StatusCode::FORBIDDEN
            }
            ClinicError::Unauthenticated { .. } | ClinicError::WrongPassword { .. } => {
                StatusCode::UNAUTHORIZED
            }
            ClinicError::Throttled { .. } => StatusCode::TOO_MANY_REQUESTS,
            ClinicError::NotFound(_) => StatusCode::NOT_FOUND,
            ClinicError::Invalid { .. }
            | ClinicError::IdempotencyKeyReused
            | ClinicError::WeakPassword(_)
            | ClinicError::Store(StoreError::Proof(_)) => StatusCode::UNPROCESSABLE_ENTITY,
            ClinicError::Conflict {
                code: "no_registrant_key",
                ..
            } => StatusCode::SERVICE_UNAVAILABLE,
            ClinicError::Conflict { .. } | ClinicError::MonitoringIncomplete { .. } => {
                StatusCode::CONFLICT
            }
            ClinicError::Store(_) | ClinicError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        };
        let mut details = serde_json::json!({});
        match &e {
            ClinicError::Invalid { field, .. } => details = serde_json::json!({ "field": field }),
            ClinicError::Refused(v) | ClinicError::Store(StoreError::Rejected(v)) => {
                if let Some(field) = field_of(v.code()) {
                    details = serde_json::json!({ "field": field });
                }
            }
            ClinicError::WrongPassword { user, left, .. } => {
                details = serde_json::json!({ "account": user, "attempts_left": left })
            }
            ClinicError::MonitoringIncomplete {
                monitored,
                minimum,
                remaining,
            } => {
                details = serde_json::json!({ "monitored_minutes": monitored,
                    "minimum_minutes": minimum, "minutes_remaining": remaining })
            }
            ClinicError::Throttled { subject, retry_at } => {
                details =
                    serde_json::json!({ "account": subject, "retry_at": retry_at.to_string() })
            }
            _ => {}
        }
        ApiError {
            status,
            code: e.code().to_string(),
            message: e.to_string(),
            details,
        }
    }
}

pub type ApiResult<T> = Result<T, ApiError>;

/// The request field a ledger refusal is about, where one field is: shown as `details.field`
/// so that a client can put the refusal beside it.
pub fn field_of(code: &str) -> Option<&'static str> {
    Some(match code {
        "given_before_opened" => "given_at",
        "key_retired" => "public_key",
        "adjustment_exceeds_discrepancy" => "amount_mg",
        "discrepancy_closed" => "resolves",
        "discrepancy_direction" => "direction",
        "unknown_loss" => "loss",
        "initial_inventory_exists" => "occasion",
        "estimate_not_allowed" => "lines",
        "loss_already_reported" => "loss",
        _ => return None,
    })
}
