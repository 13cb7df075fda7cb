//! The store's errors: a refused entry (with the ledger's typed reason) is kept apart from
//! a database fault, so the API can answer 4xx for the first and 5xx only for the second.

use custody_ledger::{EntryId, LedgerId, Violation};
use thiserror::Error;

use crate::keystore::KeyError;

#[derive(Debug, Error)]
pub enum StoreError {
    /// The entry breaks a ledger rule; nothing was written.
    #[error("{0}")]
    Rejected(Violation),
    #[error("no ledger {0} in this database")]
    UnknownLedger(LedgerId),
    #[error("this database holds no ledger yet: run `custody init` first")]
    NoLedger,
    #[error("this database holds several ledgers: name one with --ledger ({0})")]
    SeveralLedgers(String),
    #[error("ledger {0} already exists")]
    LedgerExists(LedgerId),
    /// The append needs the registrant key in force to seal the entry's place in the chain
    /// (format version 3), and this process was not given it.
    #[error(
        "this process does not hold the registrant key of ledger {0}, which seals every entry's place and time in the chain: it cannot record entries"
    )]
    NoSequencerKey(LedgerId),
    #[error("an entry with id {0} was already recorded")]
    DuplicateEntry(EntryId),
    /// A request id already recorded an act (a concurrent twin won); read its outcome.
    #[error("request {0} was already recorded")]
    RequestRepeated(String),
    #[error("the database is not empty: import needs an empty database")]
    NotEmpty,
    /// Another writer moved the head since this process cached the ledger's state; the
    /// append is retried reading rows from the database. Never seen outside the store.
    #[error("another writer appended to this ledger")]
    StaleCache,
    /// A proof or checkpoint that cannot be made as asked.
    #[error("{0}")]
    Proof(String),
    #[error("stored data cannot be read: {0}")]
    Corrupt(String),
    #[error("import refused at line {line}: {reason}")]
    Import { line: u64, reason: String },
    #[error(transparent)]
    Key(#[from] KeyError),
    #[error("database error: {0}")]
    Database(#[from] sea_orm::DbErr),
    #[error("i/o error: {0}")]
    Io(#[from] std::io::Error),
}

impl StoreError {
    pub(crate) fn corrupt(what: impl std::fmt::Display) -> Self {
        StoreError::Corrupt(what.to_string())
    }
}
