//! The refusals each operation can answer, as the OpenAPI document lists them. Each status
//! is defined once here (its body is always the one error body, [`ErrorBody`]); operations
//! list the set that fits their shape, then any status of their own:
//!
//! | set | for | statuses |
//! |---|---|---|
//! | [`ReadRefusals`] | a signed-in read | 401, 403, 404 |
//! | [`QueryRefusals`] | a signed-in read with query parameters | 400, 401, 403, 404 |
//! | [`BodyRefusals`] | a signed-in request with a JSON body, not signed | 400, 401, 403, 404, 413, 422 |
//! | [`ActRefusals`] | a signed act (a password in the body) | 400, 401, 403, 404, 409, 413, 422, 429, 503 |
//! | [`SignInRefusals`] | a request with a JSON body and no session (sign-in, bootstrap) | 400, 401, 404, 413, 422, 429 |
//!
//! `tests/e2e/openapi.rs` sends every operation the requests that provoke these and checks
//! that every status answered is listed for it.

use std::collections::BTreeMap;

use utoipa::IntoResponses;
use utoipa::openapi::{RefOr, Response};

use crate::error::ErrorBody;

/// A body that is not JSON, or not sent as `Content-Type: application/json` (a charset may
/// follow); or a bad `Idempotency-Key` header (`malformed`).
#[derive(IntoResponses)]
#[response(status = 400)]
#[allow(dead_code)]
pub struct Malformed(ErrorBody);

/// A query parameter that cannot be read, is missing, or is outside its documented range
/// (`malformed`).
#[derive(IntoResponses)]
#[response(status = 400)]
#[allow(dead_code)]
pub struct BadQuery(ErrorBody);

/// Not signed in, or the session ended or is not valid (`not_signed_in`, `session_expired`,
/// `bad_token`, `user_inactive`).
#[derive(IntoResponses)]
#[response(status = 401)]
#[allow(dead_code)]
pub struct Unauthorized(ErrorBody);

/// Not signed in (`not_signed_in`, `session_expired`, …); or a signer's password is wrong
/// (`wrong_password`, `details`: `account`, `attempts_left`).
#[derive(IntoResponses)]
#[response(status = 401)]
#[allow(dead_code)]
pub struct SignerUnauthorized(ErrorBody);

/// The signed-in person's role may not do this, or the session is for another ledger
/// (`forbidden`); or an admin set their password and they must change it first
/// (`password_change_required`: only changing the password and signing out are answered).
#[derive(IntoResponses)]
#[response(status = 403)]
#[allow(dead_code)]
pub struct Forbidden(ErrorBody);

/// Not there: the ledger, or what the path or the body names (a container, entry, user,
/// patient, checkpoint, report or queued waste) (`not_found`).
#[derive(IntoResponses)]
#[response(status = 404)]
#[allow(dead_code)]
pub struct NotFound(ErrorBody);

/// The ledger's state refuses it (`insufficient_stock`, `container_state`,
/// `witness_is_author`, `user_exists`, …).
#[derive(IntoResponses)]
#[response(status = 409)]
#[allow(dead_code)]
pub struct Conflict(ErrorBody);

/// The body is over 64 KiB (`too_large`).
#[derive(IntoResponses)]
#[response(status = 413)]
#[allow(dead_code)]
pub struct TooLarge(ErrorBody);

/// A field the request does not have (`unknown_field`, `details`: `field`), a field that
/// cannot be what it says (`invalid_value`), or a ledger rule refuses it (`rule_violation`,
/// `weak_password`, `idempotency_key_reused`, …).
#[derive(IntoResponses)]
#[response(status = 422)]
#[allow(dead_code)]
pub struct Invalid(ErrorBody);

/// Too many wrong passwords for this account (`too_many_attempts`, `details`: `account`,
/// `retry_at`).
#[derive(IntoResponses)]
#[response(status = 429)]
#[allow(dead_code)]
pub struct Throttled(ErrorBody);

/// This server was started without the registrant key (`no_registrant_key`), which seals
/// every entry recorded (format version 3), and signs checkpoints, reports and the first
/// enrollment.
#[derive(IntoResponses)]
#[response(status = 503)]
#[allow(dead_code)]
pub struct NoRegistrantKey(ErrorBody);

/// A set of responses: the union of its parts' (a later part's status replaces an earlier's).
macro_rules! response_set {
    ($(#[$doc:meta])* $name:ident = $($part:ty),+ $(,)?) => {
        $(#[$doc])*
        pub struct $name;

        impl IntoResponses for $name {
            fn responses() -> BTreeMap<String, RefOr<Response>> {
                let mut all = BTreeMap::new();
                $(all.extend(<$part as IntoResponses>::responses());)+
                all
            }
        }
    };
}

response_set!(
    /// What every signed-in read can answer.
    ReadRefusals = Unauthorized, Forbidden, NotFound
);

response_set!(
    /// What a signed-in read with query parameters can answer.
    QueryRefusals = BadQuery, Unauthorized, Forbidden, NotFound
);

response_set!(
    /// What a signed-in request with a JSON body, signing nothing, can answer.
    BodyRefusals = Malformed, Unauthorized, Forbidden, NotFound, TooLarge, Invalid
);

response_set!(
    /// What every signed act can answer.
    ActRefusals = Malformed,
    SignerUnauthorized,
    Forbidden,
    NotFound,
    Conflict,
    TooLarge,
    Invalid,
    Throttled,
    NoRegistrantKey,
);

response_set!(
    /// What a request with a JSON body and no session (sign-in, bootstrap) can answer.
    SignInRefusals = Malformed, Unauthorized, NotFound, TooLarge, Invalid, Throttled
);
