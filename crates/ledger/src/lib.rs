//! # custody-ledger
//!
//! The domain of custody, pure: entries and their typed payloads, exact quantities, the rules
//! each entry must follow, the canonical byte encoding, hashing, signing, streaming
//! verification and inventory folding. No I/O, no async, no database types — an auditor can
//! use this crate alone to check a ledger.
//!
//! The byte format is specified in `docs/ledger-format.md`; [`vectors`] rebuilds the test
//! vectors printed there.

pub mod checkpoint;
mod comb;
mod curve;
pub mod encoding;
pub mod entry;
pub mod inventory;
pub mod merkle;
pub mod note;
pub mod payload;
pub mod proof;
pub mod state;
pub mod strict;
pub mod tiles;
pub mod types;
pub mod vectors;
pub mod verify;
pub mod violation;

pub use encoding::{Canonical, DecodeError};
pub use entry::{Body, Draft, Entry, FormatVersion, Signature};
pub use payload::*;
pub use state::{ContainerState, ContainerStatus, State};
pub use types::dea::DeaNumber;
pub use types::enums::*;
pub use types::ids::*;
pub use types::ndc::Ndc;
pub use types::quantity::{Grams, Micrograms, Microliters, Units};
pub use types::text::Text;
pub use types::time::{Day, Timestamp};
pub use verify::{Failure, Reason, RowDifference, RowMismatch, Summary, Verifier};
pub use violation::Violation;
