//! The clinic's one error type: every refusal an act or a read can make, each with a stable
//! code and a sentence a person understands. The API maps it once to HTTP; the web pages put
//! a field's refusal beside that field.

use custody_ledger::{Timestamp, Violation};
use custody_store::StoreError;
use thiserror::Error;

#[derive(Debug, Error)]
pub enum ClinicError {
    /// A ledger rule refuses the act (the ledger's own words and code).
    #[error("{0}")]
    Refused(Violation),
    /// The signed-in person's role may not do this.
    #[error("{0}")]
    Forbidden(String),
    /// Not signed in, or the session ended.
    #[error("{message}")]
    Unauthenticated { code: &'static str, message: String },
    /// A signer's password was wrong (or, signing in, the user name or the password);
    /// `left` more attempts before a wait.
    #[error("{}", wrong_password(user, *left, *signing_in))]
    WrongPassword {
        user: String,
        left: u32,
        signing_in: bool,
    },
    /// Too many wrong passwords for this account (or from this address): the next attempt is
    /// allowed at `retry_at`.
    #[error("{}", throttled(subject, retry_at))]
    Throttled {
        subject: String,
        retry_at: Timestamp,
    },
    /// An admin set this person's password: they must change it (or sign out) before
    /// anything else.
    #[error("an admin set your password: change it before anything else (you may also sign out)")]
    PasswordChangeRequired,
    #[error("{0}")]
    NotFound(String),
    /// A field's value is not acceptable: its name, and why.
    #[error("{field}: {message}")]
    Invalid { field: String, message: String },
    /// The act conflicts with what is there (a stable code of its own).
    #[error("{message}")]
    Conflict { code: &'static str, message: String },
    /// A Spravato REMS session closed before its monitoring minimum: the patient is observed
    /// at least `minimum` minutes from the first device.
    #[error(
        "the patient has been monitored {monitored} minutes since the first device: the REMS asks for at least {minimum}, so {remaining} minute(s) remain before the session can close"
    )]
    MonitoringIncomplete {
        monitored: i64,
        minimum: u32,
        remaining: i64,
    },
    /// A request id already used for a different request.
    #[error(
        "this request id was already used for a different request: make a new one for a new act"
    )]
    IdempotencyKeyReused,
    /// A new password that the rules refuse.
    #[error("choose another password: {0}")]
    WeakPassword(String),
    #[error("{0}")]
    Store(StoreError),
    #[error("{0}")]
    Internal(String),
}

fn wrong_password(user: &str, left: u32, signing_in: bool) -> String {
    let what = if signing_in {
        "the user name or password is wrong".to_string()
    } else {
        format!("the password for {user} is wrong")
    };
    let of = if signing_in {
        format!(" for {user}")
    } else {
        String::new()
    };
    match left {
        0 => format!(
            "{what}: the next attempt{of} must wait (30 seconds, doubling with each wrong password)"
        ),
        1 => format!("{what}: 1 attempt left{of} before a wait"),
        n => format!("{what}: {n} attempts left{of} before a wait"),
    }
}

fn throttled(subject: &str, at: &Timestamp) -> String {
    format!("too many wrong passwords for {subject}: the next attempt is allowed at {at}")
}

impl ClinicError {
    pub fn invalid(field: &str, message: impl Into<String>) -> Self {
        ClinicError::Invalid {
            field: field.into(),
            message: message.into(),
        }
    }
    pub fn internal(e: impl std::fmt::Display) -> Self {
        ClinicError::Internal(e.to_string())
    }
    pub fn not_found(message: impl Into<String>) -> Self {
        ClinicError::NotFound(message.into())
    }
    pub fn conflict(code: &'static str, message: impl Into<String>) -> Self {
        ClinicError::Conflict {
            code,
            message: message.into(),
        }
    }

    /// The stable, machine-readable code.
    pub fn code(&self) -> &str {
        match self {
            ClinicError::Refused(v) => v.code(),
            ClinicError::Forbidden(_) => "forbidden",
            ClinicError::Unauthenticated { code, .. } => code,
            ClinicError::WrongPassword { .. } => "wrong_password",
            ClinicError::Throttled { .. } => "too_many_attempts",
            ClinicError::PasswordChangeRequired => "password_change_required",
            ClinicError::NotFound(_) => "not_found",
            ClinicError::Invalid { .. } => "invalid_value",
            ClinicError::Conflict { code, .. } => code,
            ClinicError::MonitoringIncomplete { .. } => "rems_monitoring_incomplete",
            ClinicError::IdempotencyKeyReused => "idempotency_key_reused",
            ClinicError::WeakPassword(_) => "weak_password",
            ClinicError::Store(StoreError::Rejected(v)) => v.code(),
            ClinicError::Store(StoreError::UnknownLedger(_)) => "not_found",
            ClinicError::Store(StoreError::DuplicateEntry(_)) => "duplicate_entry",
            ClinicError::Store(StoreError::Proof(_)) => "proof",
            ClinicError::Store(_) | ClinicError::Internal(_) => "internal",
        }
    }
}

impl From<StoreError> for ClinicError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Rejected(v) => ClinicError::Refused(v),
            StoreError::UnknownLedger(l) => ClinicError::NotFound(format!("no ledger {l}")),
            StoreError::DuplicateEntry(id) => ClinicError::conflict(
                "duplicate_entry",
                format!("entry {id} was already recorded"),
            ),
            StoreError::NoSequencerKey(l) => ClinicError::conflict(
                "no_registrant_key",
                format!(
                    "this server was started without the registrant key of ledger {l}, which seals every entry's place and time in the chain: nothing can be recorded until it is started with the key"
                ),
            ),
            e => ClinicError::Store(e),
        }
    }
}

pub type ClinicResult<T> = Result<T, ClinicError>;
